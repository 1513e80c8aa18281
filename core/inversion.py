"""Inversion from partial measurements over many trials (the paper's Fig. 5), for any generator.

Each of T trials draws z* ~ N(0, I) (and a class for a conditional generator), measures
``y = A G(z*)`` plus the config's noise, and minimises ``J(z) = ½‖y − A G(z)‖²`` with the config's
solver from up to R random starts (restart k only for the trials no earlier restart fitted,
:func:`core.solvers.solve_restarts`). Every ẑ gets its diagnosis (:mod:`core.diagnosis`), so a
miss says whether the landscape (a spurious critical point, another code with the same
measurements) or the budget (still falling) was to blame. A trial whose best start was still
converging when the budget ran out is solved on from its end point, up to
:data:`core.diagnosis.CONTINUE_ROUNDS` more budgets (:func:`core.diagnosis.continue_unconverged`),
as the phase runner does, before it counts: a success rate is a verdict on the landscape, not on
the number of steps. Trials still ``unconverged`` after that keep the label, and the CLI warns.

Two targets:

* **in range** (``target="latent"``): ``x = G(z*, c)``; success is ``‖ẑ − z*‖ ≤ tol ‖z*‖``;
* **out of range** (``target="real"``, shipped generators only): ``x`` a real test image, which
  no code reproduces exactly; the PSNR of ``G(ẑ, c)`` on the hidden pixels is compared with
  filling them with the mean training image (and with the mean image of the class).

With noise, J(z*) > 0 and the estimate cannot be exact: the output carries, beside the latent
error, the linearised Cramér–Rao reference ``sqrt(σ² tr((JᵀJ)⁻¹)) / ‖z*‖`` at z* (J the masked
Jacobian A ∂G/∂z, σ² the noise variance; Δ²/12 for B-bit quantisation with step Δ), and the
masked Jacobian's smallest singular value and condition number at z* (local injectivity).
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import time
from dataclasses import dataclass, field, fields

import numpy as np
import torch

from .config import SHIPPED, Config, ConfigError
from .masks import make_operator, measure, parse_noise

TARGETS = ("latent", "real")
PSNR_CAP = 100.0            # dB, for identical images (MSE floored at 1e-10 on the [0, 1] scale)
INVERT_LIMITS = {"trials": 10000, "restarts": 64}
EXTRA_BUDGETS_MAX = 10      # InvertSpec.extra_budgets (default core.diagnosis.CONTINUE_ROUNDS); core.cost counts them


@dataclass(frozen=True)
class InvertSpec:
    """One batch of inversion trials.

    Attributes
    ----------
    config : Config
        The generator, the mask ``A`` (``mask``, ``rate``, ``mask_seed``: one operator for all
        trials), the noise, the solver and its budget, ``tol``, ``dtype``; ``z_seed`` draws the
        trials' z* and classes (or the test images), ``start_seed`` the starts, ``noise_seed``
        the noise.
    trials : int
    restarts : int
        Random starts N(0, start_scale² I) per trial, tried one after the other until one fits.
    target : {"latent", "real"}
    start_scale : float
    extra_budgets : int or None
        More budgets, up to this many, for a trial still converging when its budget ran out
        (None: :data:`core.diagnosis.CONTINUE_ROUNDS`), and for L-BFGS's still converging after those
        as many Gauss–Newton ones (:func:`core.diagnosis.continue_unconverged`). 0 runs a recipe at
        exactly its budget (the paper's Adam-500 column); its misses are then verdicts about that budget.
    """

    config: Config = field(default_factory=lambda: Config(generator="mnist"))
    trials: int = 100
    restarts: int = 4
    target: str = "latent"
    start_scale: float = 1.0
    extra_budgets: int | None = None

    def __post_init__(self):
        if not isinstance(self.config, Config):
            raise ConfigError("config", f"expected a Config, got {type(self.config).__name__}")
        for name, hi in INVERT_LIMITS.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= hi:
                raise ConfigError(name, f"must be an integer in [1, {hi}], got {v!r}")
        if self.target not in TARGETS:
            raise ConfigError("target", f"must be one of {', '.join(TARGETS)}; got {self.target!r}")
        if self.target == "real" and self.config.generator not in SHIPPED:
            raise ConfigError("target", "real test images exist only for the shipped generators "
                                        f"({', '.join(SHIPPED)})")
        s = self.start_scale
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not (math.isfinite(s) and 0 < s <= 1e4):
            raise ConfigError("start_scale", f"must be a number in (0, 10000], got {s!r}")
        e = self.extra_budgets
        if e is not None and (isinstance(e, bool) or not isinstance(e, int) or not 0 <= e <= EXTRA_BUDGETS_MAX):
            raise ConfigError("extra_budgets", f"must be an integer in [0, {EXTRA_BUDGETS_MAX}] or None, got {e!r}")

    def to_json(self) -> str:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["config"] = self.config.to_dict()
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> "InvertSpec":
        d = json.loads(s)
        d["config"] = Config.from_dict(d["config"])
        return cls(**d)


@dataclass(frozen=True)
class InversionResult:
    """What ``python -m core invert`` writes (:meth:`arrays`)."""

    spec: InvertSpec
    z_star: np.ndarray            # (T, n0); NaN for real images
    labels: np.ndarray            # (T,) class of a conditional generator (-1 otherwise)
    z_hat: np.ndarray             # (T, n0)
    J_hat: np.ndarray             # (T,)
    success: np.ndarray           # (T,) ‖ẑ − z*‖ ≤ tol ‖z*‖ (False for real images)
    latent_error: np.ndarray      # (T,) ‖ẑ − z*‖ / ‖z*‖ (NaN for real images)
    diagnosis: object             # core.diagnosis.Diagnosis of the T estimates
    stop: np.ndarray              # (T,) the solver's stopping rule for the winning restart
    iterations: np.ndarray        # (T,) solver iterations, summed over the restarts used
    evaluations: np.ndarray       # (T,)
    restarts_used: np.ndarray     # (T,)
    continued: np.ndarray         # (T,) extra budgets given to a trial still converging (0..CONTINUE_ROUNDS)
    refined: np.ndarray           # (T,) a float32 miss continued (and judged) in float64
    psnr: np.ndarray              # (T,) whole image, G(ẑ) against x
    psnr_hidden: np.ndarray       # (T,) unobserved pixels only (NaN when nothing is hidden)
    baseline_psnr_hidden: np.ndarray        # (T,) hidden pixels filled with the mean training image
    class_baseline_psnr_hidden: np.ndarray  # (T,) ... with the class's mean training image
    test_index: np.ndarray        # (T,) index into the test set; -1 for latent targets
    trial_seed: np.ndarray        # (T,) the z_seed whose landscape is trial t's (its z* and class); -1 for real images
    trial_noise_seed: np.ndarray  # (T,) the noise_seed of trial t's noise: with trial_seed, its landscape is its J
    noise_floor: np.ndarray       # (T,) J(z*)
    crb_rel: np.ndarray           # (T,) linearised Cramér–Rao reference, relative to ‖z*‖ (0 noiseless)
    sigma_min: np.ndarray         # (T,) smallest singular value of A ∂G/∂z at z*
    cond: np.ndarray              # (T,) its condition number
    rate: float                   # the true m / n of A
    seconds: float

    @property
    def success_rate(self) -> float:
        return float(self.success.mean())

    def arrays(self) -> dict:
        """The .npz payload."""
        skip = {"spec", "diagnosis", "seconds", "rate"}
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        d.update(self.diagnosis.arrays())
        d.update(success_rate=np.float64(self.success_rate), config=np.array(self.spec.config.to_json()),
                 spec=np.array(self.spec.to_json()), seconds=np.float64(self.seconds), rate=np.float64(self.rate))
        return d


def psnr(a, b, where=None, value_range=(-1.0, 1.0)) -> np.ndarray:
    """PSNR in dB between image batches, on the [0, 1] scale of ``value_range`` (peak 1).

    Parameters
    ----------
    a, b : array-like (T, ...)
    where : array-like of bool, broadcastable to ``a[0]``, optional
        Pixels to compare (default all).
    value_range : (lo, hi)
        The generator's output range, mapped to [0, 1].

    Returns
    -------
    ndarray (T,)
        ``10 log10(1 / MSE)``, MSE floored at 1e-10 (so at most :data:`PSNR_CAP`).
    """
    lo, hi = value_range
    a = (np.asarray(a, float) - lo) / (hi - lo)
    b = (np.asarray(b, float) - lo) / (hi - lo)
    d2 = ((a - b) ** 2).reshape(a.shape[0], -1)
    if where is not None:
        w = np.broadcast_to(np.asarray(where, bool), a.shape[1:]).reshape(-1)
        d2 = d2[:, w]
    mse = np.maximum(d2.mean(1), 1e-10)
    return 10 * np.log10(1.0 / mse)


def noise_variance(spec: str, output_range) -> float:
    """Per-entry variance of the noise model: σ², Δ²/12 for B-bit quantisation over ``output_range``
    (the levels :func:`core.masks.add_noise` uses), 0 for none."""
    kind, p = parse_noise(spec)
    if kind == "gaussian":
        return p * p
    if kind == "quantize" and output_range is not None and output_range[1] > output_range[0]:
        step = (output_range[1] - output_range[0]) / (2 ** int(p) - 1)
        return step * step / 12
    return 0.0


@functools.lru_cache(maxsize=2)
def mean_images(dataset: str, root: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean training image (32, 32) and per-class means (10, 32, 32), in [−1, 1].

    The resize is linear, so the mean of the resized images is the resized 28×28 mean.
    """
    from .trained.idx import load_split, resize_32
    im, lab = load_split(root, dataset, "train")
    means = np.stack([im.mean(0)] + [im[lab == c].mean(0) for c in range(10)]) / 255.0
    x = (2 * resize_32(torch.from_numpy(means)[:, None]) - 1)[:, 0].numpy()
    return x[0], x[1:]


def draw_truth(spec: InvertSpec, n0: int, conditional: bool):
    """z* (T, n0) float64, classes (T,) (−1 for an unconditional generator) and the trials' seeds.

    Trial t is the landscape of ``z_seed = seeds[t]`` (:func:`core.problem.draw_trials`): its z*
    and class do not depend on T, so a run of 50 trials holds the first 50 of a run of 100."""
    from .problem import draw_trials
    return draw_trials(spec.config, spec.trials, n0, conditional)


def run_inversion(spec: InvertSpec, data=None, log=None) -> InversionResult:
    """Run ``spec.trials`` inversions (see the module docstring).

    ``data`` is the data folder for ``target="real"`` (default ``../shared/data``).

    Raises
    ------
    ConfigError
        Naming the field, for what the cost model refuses or the generator cannot do.
    """
    from .cost import check
    from .descent import RADIUS_FACTOR, solver_settings
    from .diagnosis import continue_unconverged, diagnose, refine_in_float64
    from .generators import build_generator
    from .problem import DTYPES, Objective, resolve_device, trial_noise_seeds, trial_starts
    from .solvers import solve_restarts

    cfg = spec.config
    check(cfg, "invert", trials=spec.trials, restarts=spec.restarts, extra_budgets=spec.extra_budgets)
    dev = resolve_device(cfg.device)
    dt = DTYPES[cfg.dtype]
    G = build_generator(cfg, dtype=dt, device=dev)
    n0, shape = G.latent_dim, tuple(G.output_shape)
    try:
        op = make_operator(cfg.mask, shape, rate=cfg.rate, seed=cfg.mask_seed, dtype=torch.float64)
    except ValueError as e:
        raise ConfigError("mask", str(e)) from None
    op = op.to(dtype=dt, device=dev)
    T = spec.trials
    z_star, labels, seeds = draw_truth(spec, n0, G.conditional)
    lab = labels.to(dev) if G.conditional else None
    kw = {} if lab is None else {"labels": lab}
    test_index = np.full(T, -1)
    with torch.no_grad():
        if spec.target == "latent":
            x = torch.cat([G(z_star[a:a + 1024].to(dt).to(dev), *(() if lab is None else (lab[a:a + 1024],)))
                           for a in range(0, T, 1024)])
        else:
            from .trained.dcgan import dataset_of
            from .trained.idx import DEFAULT_DATA, load_split, to_32
            im, lab_np = load_split(str(data or DEFAULT_DATA), dataset_of(cfg.generator), "test")
            gen = torch.Generator().manual_seed(cfg.z_seed)
            test_index = torch.randperm(im.shape[0], generator=gen)[:T].numpy()
            x = to_32(im[test_index]).to(dt).to(dev)
            labels = torch.as_tensor(lab_np[test_index].astype(np.int64))
            lab = labels.to(dev)
            kw = {"labels": lab}
            z_star = torch.full((T, n0), float("nan"), dtype=torch.float64)
        y_clean = op.A(x)
    noise_seeds = trial_noise_seeds(cfg.noise_seed, T)
    y = measure(op, x, cfg.noise, noise_seeds, G.output_range)
    evaluator = G.evaluator(op, torch.zeros(op.m, dtype=dt, device=dev))
    scale = 0.5 * (y.double() ** 2).sum(1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    floor = 0.5 * ((y - y_clean).double() ** 2).sum(1) if spec.target == "latent" else torch.zeros(T, dtype=torch.float64)
    obj = Objective(evaluator, n0, group=torch.arange(T, device=dev), target=y, labels=lab, scale=scale,
                    floor=floor, z_star=z_star.to(dt).to(dev) if spec.target == "latent" else None)
    starts = trial_starts(cfg.start_seed, T, spec.restarts, n0, spec.start_scale).to(dt).to(dev)
    zn = float(z_star.norm(dim=1).max()) if spec.target == "latent" else 3.0 * math.sqrt(n0)
    radius = RADIUS_FACTOR * (cfg.extent + zn)
    t0 = time.perf_counter()
    settings = solver_settings(cfg)
    run = solve_restarts(obj, starts, radius=radius, **settings)
    best = run.best
    diag = diagnose(obj, best, tol=cfg.tol, eps=cfg.eps, radius=radius)
    # A trial still converging when the budget ran out gets more of it: its verdict must be the landscape's.
    refine = dt == torch.float32 and spec.target == "latent"
    best, diag, continued = continue_unconverged(obj, best, diag, radius, settings, rounds=spec.extra_budgets,
                                                 tol=cfg.tol, eps=cfg.eps, escalate=True, flat=not refine)
    refined = np.zeros(T, dtype=bool)
    if refine:
        # float32 resolves J only to ~1e-9 of ½‖y‖²: a miss could be a fit to that resolution in a
        # flat direction. Continue those rows in float64 from their end point and judge them there
        # (where those still converging get more budgets, as above).
        G64 = build_generator(cfg, dtype=torch.float64, device=dev)
        op64 = copy.deepcopy(op).to(torch.float64)    # Module.to is in place: the float32 op stays float32
        ev64 = G64.evaluator(op64, torch.zeros(op64.m, dtype=torch.float64, device=dev))
        best, diag, refined = refine_in_float64(obj, ev64, best, diag, radius, settings, tol=cfg.tol, eps=cfg.eps,
                                                rounds=spec.extra_budgets, escalate=True)
    seconds = time.perf_counter() - t0
    z_hat = best.z
    with torch.no_grad():
        x_hat = torch.cat([G(torch.as_tensor(z_hat[a:a + 1024], dtype=dt, device=dev),
                             *(() if lab is None else (lab[a:a + 1024],))) for a in range(0, T, 1024)]).double().cpu().numpy()
    xs = x.double().cpu().numpy()
    hidden = None if op.mask is None else ~op.mask.cpu().numpy()
    has_hidden = hidden is not None and bool(hidden.any())
    vr = G.output_range or (float(xs.min()), float(max(xs.max(), xs.min() + 1e-12)))
    nan = np.full(T, np.nan)
    base = cbase = nan
    if spec.target == "latent":
        zs = z_star.numpy()
        err = np.linalg.norm(z_hat - zs, axis=1) / np.linalg.norm(zs, axis=1)
        success = diag.label == "recovered"
        # The quantiser's range: the generator's, or (unbounded outputs) each trial's own y range.
        var = torch.tensor([noise_variance(cfg.noise, G.output_range or (float(y_clean[t].min()), float(y_clean[t].max())))
                            for t in range(T)], dtype=torch.float64, device=dev)
        sig, cond, crb = _local_reference(evaluator, z_star.to(dt).to(dev), lab, var)
        crb = crb / np.linalg.norm(zs, axis=1)
    else:
        err, success = nan, np.zeros(T, bool)
        sig = cond = crb = nan
        if has_hidden:
            from .trained.dcgan import dataset_of
            from .trained.idx import DEFAULT_DATA
            mean, cmeans = mean_images(dataset_of(cfg.generator), str(data or DEFAULT_DATA))
            base = psnr(np.broadcast_to(mean, (T,) + mean.shape)[:, None], xs, hidden, vr)
            cbase = psnr(cmeans[labels.numpy()][:, None], xs, hidden, vr)
    res = InversionResult(spec=spec, z_star=z_star.numpy(), labels=labels.numpy(), z_hat=z_hat, J_hat=best.J,
                          success=success, latent_error=err, diagnosis=diag, stop=best.stop,
                          iterations=best.iterations, evaluations=best.evaluations, restarts_used=run.used,
                          continued=continued, refined=refined,
                          psnr=psnr(x_hat, xs, None, vr), psnr_hidden=psnr(x_hat, xs, hidden, vr) if has_hidden else nan,
                          baseline_psnr_hidden=base, class_baseline_psnr_hidden=cbase, test_index=np.asarray(test_index),
                          trial_seed=np.asarray(seeds if spec.target == "latent" else [-1] * T, dtype=np.int64),
                          trial_noise_seed=np.asarray(noise_seeds, dtype=np.int64),
                          noise_floor=floor.cpu().numpy(), crb_rel=crb, sigma_min=sig, cond=cond,
                          rate=float(op.rate), seconds=seconds)
    if log:
        log(f"{cfg.generator} {spec.target} {cfg.mask}: success {res.success_rate:.2f}, {seconds:.1f} s")
    return res


def _local_reference(evaluator, z_star, labels, variance: torch.Tensor, chunk: int = 256):
    """σ_min and condition number of A ∂G/∂z at each z*, and sqrt(variance · tr((JᵀJ)⁻¹)) per row."""
    sig, cond, crb = [], [], []
    for a in range(0, z_star.shape[0], chunk):
        kw = {} if labels is None else {"labels": labels[a:a + chunk]}
        _, Jac = evaluator.residual_and_jacobian(z_star[a:a + chunk], **kw)
        s = torch.linalg.svdvals(Jac.double())
        sig.append(s[:, -1])
        cond.append(s[:, 0] / s[:, -1].clamp_min(1e-300))
        crb.append((variance[a:a + chunk] * (1 / s.clamp_min(1e-300) ** 2).sum(1)).sqrt())
    return (torch.cat(sig).cpu().numpy(), torch.cat(cond).cpu().numpy(), torch.cat(crb).cpu().numpy())
