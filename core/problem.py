"""One inversion problem, whatever the generator: G, the operator A, z*, y = A G(z*) + noise, and J.

:func:`build_problem` turns a :class:`~core.config.Config` into a :class:`Problem`: it builds the
generator of ``cfg.generator_spec`` (:func:`core.generators.build_generator`), the operator ``A``
and the measured ``y`` of ``cfg.observation``, and the evaluator of J, ∇J, the residual and its
Jacobian (the fast engine for the random family, autograd for every other generator).

:class:`Objective` is what the solvers see: J and its derivatives for many rows at once, each
row (a start) belonging to one of K problems that may differ in y, in the observed pixels and in
the class label (the trials of the phase transition and of the inversion tables).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import Config, ConfigError
from .generators import LatentGenerator, build_generator
from .generators.engine import one_thread
from .masks import SamplingOperator, make_operator, measure

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when present, else the CPU; a CUDA request without CUDA raises ConfigError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "'cuda' requested but no CUDA device is available; use cpu or auto")
    return torch.device(device)


def draw_z_star(cfg: Config, n0: int | None = None) -> torch.Tensor:
    """z* (n0,), float64: ``cfg.z_star`` when given, else N(0, I) from ``cfg.z_seed``."""
    if cfg.z_star:
        return torch.tensor(cfg.z_star, dtype=torch.float64)
    return _z_of_seed(cfg.z_seed, n0 or cfg.n0)


def draw_label(cfg: Config) -> int:
    """The class of a conditional generator: ``cfg.label``, or uniform on 0..9 from ``cfg.z_seed``."""
    if cfg.label >= 0:
        return cfg.label
    return _label_of_seed(cfg.z_seed)


def _z_of_seed(seed: int, n0: int) -> torch.Tensor:
    return torch.randn(n0, generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64)


def _label_of_seed(seed: int) -> int:
    return int(torch.randint(0, 10, (1,), generator=torch.Generator().manual_seed(int(seed) + 1)))


STARTS_STREAM = 0x5747_5254  # names the starts' stream among the draws of one seed (core.descent.starts_generator)
Z_STREAM = 0x5A53_5452       # names the trials' z* among the seeds derived from one base seed (draw_trials)
NOISE_STREAM = 0x4E53_5452   # ... and the trials' noise (trial_noise_seeds)


def trial_seeds(entropy, T: int) -> list[int]:
    """Seeds of trials 0 … T − 1 in [0, 2³¹ − 1], derived from ``entropy`` (an int, or a list of
    ints) by numpy's SeedSequence.

    Trial t's seed does not depend on T: a run of T trials holds the first T trials of any longer
    run, so two runs with the same seed and different trial counts compare the same draws.
    """
    if not isinstance(T, int) or isinstance(T, bool) or T < 0:
        raise ValueError(f"trials: must be a non-negative integer, got {T!r}")
    state = np.random.SeedSequence(entropy).generate_state(T) if T else np.zeros(0, np.uint32)
    return [int(s) & 0x7FFFFFFF for s in state]


def draw_trials(cfg: Config, T: int, n0: int, conditional: bool):
    """The truths of T trials: z* (T, n0) float64, classes (T,) int64 (−1 for an unconditional
    generator) and the trials' seeds.

    Trial t is the landscape of ``z_seed = seeds[t]`` (:func:`draw_z_star`, :func:`draw_label`),
    with ``seeds = trial_z_seeds(cfg.z_seed, T)``: its z* and class do not depend on T, and its
    landscape can be opened with that seed. The stream tag keeps the seeds apart from the trials'
    mask seeds (:func:`trial_mask_seeds`) and noise seeds when the base seeds are equal (all
    default to 0): torch draws z* and a random mask from the same bits for equal seeds. A fixed
    ``cfg.label`` is every trial's class.
    """
    seeds = trial_z_seeds(cfg.z_seed, T)
    z = torch.stack([_z_of_seed(s, n0) for s in seeds]) if T else torch.zeros(0, n0, dtype=torch.float64)
    if not conditional:
        c = [-1] * T
    else:
        c = [cfg.label if cfg.label >= 0 else _label_of_seed(s) for s in seeds]
    return z, torch.tensor(c, dtype=torch.int64), seeds


def trial_z_seeds(z_seed: int, T: int) -> list[int]:
    """The z seeds of T trials (trial t is the landscape at ``z_seed`` = this seed), from ``[z_seed, Z_STREAM]``."""
    return trial_seeds([int(z_seed), Z_STREAM], T)


def trial_mask_seeds(mask_seed: int, T: int) -> list[int]:
    """The random masks' seeds of T trials (the phase experiment draws one mask per trial)."""
    return trial_seeds(int(mask_seed), T)


def trial_noise_seeds(noise_seed: int, T: int) -> list[int]:
    """The noise seeds of T trials (each trial's own draw of the noise), from ``[noise_seed, NOISE_STREAM]``."""
    return trial_seeds([int(noise_seed), NOISE_STREAM], T)


def trial_starts(start_seed: int, T: int, S: int, n0: int, scale: float = 1.0) -> torch.Tensor:
    """The random starts (T, S, n0) float64 of T trials, S each, N(0, scale² I).

    Trial t's starts come from a generator of its own (numpy's PCG64, seeded from
    ``[start_seed, STARTS_STREAM]``, so never from z*'s stream), which fills them one start after
    the other: a trial's first S starts depend neither on T nor on how many more are drawn.
    """
    out = np.empty((T, S, n0))
    for t, s in enumerate(trial_seeds([int(start_seed), STARTS_STREAM], T)):
        out[t] = np.random.Generator(np.random.PCG64(s)).standard_normal((S, n0))
    return torch.from_numpy(out) * scale


class FixedLabel(LatentGenerator):
    """A conditional generator with its class fixed: an unconditional generator of z alone."""

    def __init__(self, G: LatentGenerator, label: int):
        super().__init__()
        self.G, self.label = G, int(label)
        self.latent_dim, self.output_shape, self.output_range = G.latent_dim, G.output_shape, G.output_range
        self.name = f"{G.name} (class {label})"

    def forward(self, z, labels=None):
        return self.G(z, torch.full((z.shape[0],), self.label, dtype=torch.int64, device=z.device))


@dataclass(frozen=True)
class Problem:
    """Everything needed to evaluate J(z) = ½‖y − A G(z)‖² for one config.

    Attributes
    ----------
    cfg : Config
    G : LatentGenerator
        Unconditional (a conditional generator comes with its class fixed, see ``label``).
    op : SamplingOperator
        ``A``, acting on outputs of shape ``G.output_shape``.
    z_star : Tensor (n0,)
    x_star : Tensor (*output_shape)
        ``G(z*)``.
    y : Tensor (m,)
        The measurements: ``A x*`` plus the noise of ``cfg.noise``.
    y_clean : Tensor (m,)
        ``A x*``.
    evaluator
        Batched J, ∇J, residual and Jacobian (``Engine`` or ``GenericEvaluator``).
    label : int or None
        The class of a conditional generator.
    floor : float
        ``J(z*)``: 0 for noiseless y, the noise floor otherwise.
    scale : float
        The yardstick of relative tolerances: ½‖y‖², or, where y = 0 (a code in a dead region
        of the generator), ½ mean ‖A G(z)‖² over 16 seeded codes of the norm of z*.
    """

    cfg: Config
    G: LatentGenerator
    op: SamplingOperator
    z_star: torch.Tensor
    x_star: torch.Tensor
    y: torch.Tensor
    y_clean: torch.Tensor
    evaluator: object
    label: int | None = None
    floor: float = 0.0
    scale: float = 1.0

    @property
    def device(self) -> torch.device:
        return self.z_star.device

    @property
    def dtype(self) -> torch.dtype:
        return self.z_star.dtype

    @property
    def n0(self) -> int:
        return int(self.z_star.numel())

    def J(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, n0) → J(z) (B,), differentiable."""
        return self.evaluator.J(z)

    def objective(self) -> "Objective":
        """The single-problem :class:`Objective` the solvers take."""
        zs = self.z_star[None]
        return Objective(self.evaluator, self.n0, scale=torch.tensor([self.scale], dtype=torch.float64),
                         floor=torch.tensor([self.floor], dtype=torch.float64), z_star=zs)


def build_problem(cfg: Config, device: str | None = None, dtype: str | None = None,
                  strategy: str = "auto") -> Problem:
    """Build the generator, A, z* and y of ``cfg`` and the evaluator of J.

    ``device`` and ``dtype`` override ``cfg.device`` / ``cfg.dtype``. Random draws are made on
    the CPU in float64 and then moved, so the numbers do not depend on the device.

    Raises
    ------
    ConfigError
        Naming the field, for a generator that cannot be loaded, a z* of the wrong size, a mask
        that does not fit the output, or a z* whose J is not finite in this dtype.

    The build runs with one intra-op torch thread: its hundreds of small kernels (the weights, the
    unrolled layers, G(z*)) each wait at a barrier for a second thread that a busy process may have
    descheduled (a ``paper-fig4`` build beside one busy process: 229 ms with two threads, 6.4 ms with one).
    """
    with one_thread():
        return _build(cfg, device, dtype, strategy)


def _build(cfg: Config, device: str | None, dtype: str | None, strategy: str) -> Problem:
    dev = resolve_device(device or cfg.device)
    dt = DTYPES[dtype or cfg.dtype]
    G = build_generator(cfg, dtype=dt, device=dev)
    n0 = G.latent_dim
    if cfg.z_star and len(cfg.z_star) != n0:
        raise ConfigError("z_star", f"needs n0 = {n0} entries for this generator, got {len(cfg.z_star)}")
    label = None
    if G.conditional:
        label = draw_label(cfg)
        G = FixedLabel(G, label)
    shape = tuple(G.output_shape)
    try:
        op = make_operator(cfg.mask, shape, rate=cfg.rate, seed=cfg.mask_seed, dtype=torch.float64)
    except ValueError as e:
        raise ConfigError("mask", str(e)) from None
    op = op.to(dtype=dt, device=dev)
    z_star = draw_z_star(cfg, n0).to(dtype=dt, device=dev)
    with torch.no_grad():
        x_star = G(z_star[None])[0]
        y_clean = op.A(x_star[None])[0]
    if not bool(torch.isfinite(y_clean).all()):
        raise ConfigError("weight_std" if cfg.generator == "conv" else "generator",
                          f"G(z*) is not finite in {cfg.dtype}; lower the weight scale or the depth, or use float64")
    y = measure(op, x_star[None], cfg.noise, [cfg.noise_seed], G.output_range)[0]
    if strategy != "auto" and hasattr(G, "cfg"):
        evaluator = G.evaluator(op, y, strategy=strategy)
    else:
        evaluator = G.evaluator(op, y)
    floor = float(evaluator.J_many(z_star[None])[0]) if cfg.noise not in ("", "none") else 0.0
    if not np.isfinite(floor):
        raise ConfigError("noise", f"J(z*) is not finite in {cfg.dtype}")
    return Problem(cfg, G, op, z_star, x_star, y, y_clean, evaluator, label=label, floor=floor,
                   scale=yardstick(evaluator, y, float(z_star.double().norm())))


def yardstick(evaluator, y: torch.Tensor, z_norm: float) -> float:
    """½‖y‖², or where y = 0, ½ mean ‖A G(z)‖² over 16 seeded codes of norm ``z_norm`` (else 1)."""
    s = 0.5 * float((y.double() ** 2).sum())
    if s > 0:
        return s
    z = torch.randn(16, evaluator.n0, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    z = z / z.norm(dim=1, keepdim=True) * max(z_norm, 1e-6)
    with torch.no_grad():
        x = evaluator.observe(z.to(dtype=y.dtype, device=y.device)).double()
    s = 0.5 * float((x ** 2).sum(1).mean())
    return s if s > 0 and np.isfinite(s) else 1.0


class Objective:
    """J, ∇J and the normal equations for S rows, each belonging to one of K problems.

    Parameters
    ----------
    evaluator
        An ``Engine`` or ``GenericEvaluator``.
    n0 : int
    group : LongTensor (S,), optional
        The problem of each row (default: every row is problem 0).
    target, weight : Tensor (K, m), optional
        Per problem: its y and its 0/1 mask over the evaluator's outputs (default: the
        evaluator's own y, every output observed).
    labels : LongTensor (K,), optional
        Per problem: the class of a conditional generator.
    scale, floor : Tensor (K,) float64
        ½‖y‖² and J(z*) per problem (the yardsticks of the stopping rules and the diagnosis).
    z_star : Tensor (K, n0), optional
        The truth per problem, when known (for the budget curves).

    Every method takes ``rows`` (B,), the indices of the rows whose points ``z`` (B, n0) are
    given, so that a solver can drop finished rows and keep calling with the rest.
    """

    def __init__(self, evaluator, n0: int, group=None, target=None, weight=None, labels=None,
                 scale=None, floor=None, z_star=None):
        self.evaluator, self.n0 = evaluator, int(n0)
        self.group, self.target, self.weight, self.labels = group, target, weight, labels
        self.scale = scale if scale is not None else torch.ones(1, dtype=torch.float64)
        self.floor = floor if floor is not None else torch.zeros(1, dtype=torch.float64)
        self.z_star = z_star

    def groups(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(rows) if self.group is None else self.group[rows]

    def _kw(self, rows) -> dict:
        kw = {}
        if self.target is None and self.weight is None and self.labels is None:
            return kw
        g = self.groups(rows)
        if self.target is not None:
            kw["target"] = self.target[g]
        if self.weight is not None:
            kw["weight"] = self.weight[g]
        if self.labels is not None:
            kw["labels"] = self.labels[g]
        return kw

    def J(self, z, rows) -> torch.Tensor:
        return self.evaluator.J_many(z, **self._kw(rows))

    def J_and_grad(self, z, rows):
        return self.evaluator.J_and_grad(z, **self._kw(rows))

    def residual_and_jacobian(self, z, rows):
        return self.evaluator.residual_and_jacobian(z, **self._kw(rows))

    def normal_equations(self, z, rows, chunk: int = 2048):
        """(J (B,), ∇J = Jᵀr (B, n0), JᵀJ (B, n0, n0)), the Jacobian built chunk by chunk."""
        Js, gs, Hs = [], [], []
        for a in range(0, z.shape[0], chunk):
            r, Jac = self.residual_and_jacobian(z[a:a + chunk], rows[a:a + chunk])
            Js.append(0.5 * (r * r).sum(-1))
            gs.append(torch.einsum("bmk,bm->bk", Jac, r))
            Hs.append(torch.einsum("bmk,bml->bkl", Jac, Jac))
        return torch.cat(Js), torch.cat(gs), torch.cat(Hs)

    def scale_of(self, rows) -> torch.Tensor:
        return self.scale.to(rows.device)[self.groups(rows)]

    def floor_of(self, rows) -> torch.Tensor:
        return self.floor.to(rows.device)[self.groups(rows)]

    def z_star_of(self, rows):
        return None if self.z_star is None else self.z_star[self.groups(rows)]


def images(problem: Problem, z) -> dict:
    """The pictures behind one latent point, as float64 numpy arrays of the output shape.

    Returns
    -------
    dict
        ``x`` = G(z); ``x_star`` = G(z*); ``mask`` (bool, or None for a
        Gaussian A); ``Ax`` and ``y``: A G(z) and y put back in place with
        ``A_adjoint`` (zeros where unobserved, or the back-projection for a
        Gaussian A); ``residual`` = A_adjoint(A G(z) − y); ``J``.
    """
    zt = torch.as_tensor(np.asarray(z, dtype=float).reshape(1, -1), dtype=problem.dtype, device=problem.device)
    if zt.shape[1] != problem.n0:
        raise ValueError(f"z: needs {problem.n0} entries, got {zt.shape[1]}")
    with torch.no_grad():
        x = problem.G(zt)
        Ax = problem.op.A(x)
        out = {
            "x": x[0],
            "x_star": problem.x_star,
            "Ax": problem.op.A_adjoint(Ax)[0],
            "y": problem.op.A_adjoint(problem.y[None])[0],
            "residual": problem.op.A_adjoint(Ax - problem.y)[0],
        }
        J = 0.5 * float(((Ax - problem.y) ** 2).sum())
    res = {k: v.double().cpu().numpy() for k, v in out.items()}
    res["mask"] = None if problem.op.mask is None else problem.op.mask.cpu().numpy()
    res["J"] = J
    return res
