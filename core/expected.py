"""The expected landscape E_W[J(z)] of a random net: by Monte Carlo over weight draws, and in closed form.

Theorem 1 holds because the landscape of one random net concentrates around its expectation over
the weights, and the expected landscape has only the two critical points z* and (near) −ρ_d z*.
This module computes that expectation two independent ways.

Monte Carlo (:func:`monte_carlo_J`)
    The mean of J over K independent draws of the weights (same architecture, weight law, z* and
    mask law: a ``random`` mask is redrawn with the weights unless ``redraw_mask=False``), with its
    per-point standard deviation and standard error. The K nets run as one batched forward pass:
    every layer's weights are stacked over the draws and applied by batched GEMMs (the col2im
    formulation of :mod:`core.generators.engine`, with a leading draw axis).

Closed form (:func:`expected_J`), for Gaussian weights and ReLU / leaky ReLU / identity
    For a unit ``σ(w·a)`` with ``w ~ N(0, s² I)``, the pair ``(w·a, w·b)`` is a centred Gaussian
    vector with covariance ``s² [[‖a‖², a·b], [a·b, ‖b‖²]]``, and (the arc-cosine kernel of Cho &
    Saul)

        E[σ(w·a) σ(w·b)] = (s²/2π) ‖a‖ ‖b‖ (sin θ + (π − θ) cos θ),   θ = ∠(a, b),

    with ``E[σ(w·a)²] = s²‖a‖²/2``. The kernel is applied per unit over its receptive field, layer
    by layer, to the 2×2 Gram matrix of the pair (z, z*): ``[[k(z,z), k(z,z*)], [k(z*,z), k(z*,z*)]]``.
    All channels of a layer are exchangeable, so one Gram map per spatial position suffices, and
    the pre-activation Gram of layer i at output position q is
    ``s_i² C_{i−1} Σ_{p → q} K_{i−1}(p)`` — a transposed convolution of the previous map with a
    kernel of ones. At the output, ``E[(G_j(z) − G_j(z*))²] = k(z,z) + k(z*,z*) − 2 k(z,z*)`` and
    ``E[J] = ½ Σ_j π_j E[(G_j(z) − G_j(z*))²]``, ``π_j`` the probability that entry j is observed.

Approximation
-------------
Layer 1 acts on a 1×1 input, so its units see ``z`` itself and its kernel is exact. Layer i ≥ 2 is
exact *given* layer i − 1: conditionally on the earlier weights, its pre-activations at (z, z*)
are exactly Gaussian with the empirical Gram ``s_i² Σ_{(c,p) → q} a_{c,p}(z) a_{c,p}(z*)``. The
closed form replaces that empirical Gram by its expectation (the infinite-width, NNGP
approximation). The diagonal terms ``E[σ(u)²] = var(u)/2`` are linear in the Gram, so
``E[‖G(z)‖²]`` is exact at any width; only the cross term ``E[G(z)·G(z*)]`` carries an error,
of relative order 1 / (number of units in a receptive field, C_{i−1}·(k/s)^dim). For a 2-layer net
it is exact for the last layer given the first, and the whole error comes from layer 1's finite
width. For fully connected nets (kernel = stride = 1, 1-D) it reduces to the Hand–Voroninski
expected loss ``2^{−d−1}(‖z‖² + ‖z*‖²) − 2^{−d} ‖z‖ ‖z*‖ cos θ̄_d`` (with 'paper' weight std).

Consequence for convolutional nets: layer 1 sees a 1×1 input, so all its units share one Gram
matrix; the kernels above are positively homogeneous of degree 1 in the Gram, so at every later
position the Gram is a position-dependent scalar times that same 2×2 matrix. Hence E[J] of any
such conv net (any kernel, stride, padding, mask) is a constant times the Hand–Voroninski loss,
and its critical point on the −z* ray is exactly −ρ_d z*. The "near, not at" of the notes is a
finite-width effect of one draw, which the dashboard's width slider shows shrinking.

Glossary: ``K`` draws; ``Q`` latent points ``z`` (Q, n0); ``π`` ``inclusion`` (C, *spatial);
``k(·,·)`` the Gram maps ``(a, b, c) = (k(z,z), k(z*,z*), k(z,z*))``.

References
----------
.. [1] Y. Cho, L. Saul, "Kernel Methods for Deep Learning", NeurIPS 2009 (arc-cosine kernel).
.. [2] P. Hand, V. Voroninski, "Global Guarantees for Enforcing Deep Generative Priors by
       Empirical Risk", arXiv:1705.07576, 2017.
.. [3] F. Ma, U. Ayaz, S. Karaman, NeurIPS 2018, Theorem 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .config import LIMITS, Config, ConfigError
from .generators.conv_family import draw_weights, weight_std
from .problem import draw_z_star
from .masks import make_operator

EXPECTED_LIMITS = {
    "draws": 4096,            # K
    "points": 1_000_000,      # Q
    "width_factor": 64,
    "work": 2e11,             # K · Q · multiply-adds per point, for one Monte Carlo call
}
CLOSED_FORM_ACTIVATIONS = ("relu", "leaky_relu", "identity")
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d}
CHUNK_FLOATS = 1 << 23        # floats of intermediates per Monte Carlo chunk


# ---------------------------------------------------------------------------
# configs of the draws, widening
# ---------------------------------------------------------------------------
def draw_seeds(seed: int, K: int) -> list[int]:
    """K seeds in [0, 2³¹ − 1] derived from ``seed`` (numpy's SeedSequence), reproducible."""
    _check_int("draws", K, 1, EXPECTED_LIMITS["draws"])
    return [int(s) & 0x7FFFFFFF for s in np.random.SeedSequence(seed).generate_state(K)]


def draw_configs(cfg: Config, K: int, redraw_mask: bool = True) -> list[Config]:
    """The K configs of the Monte Carlo draws: fresh ``weight_seed`` (and ``mask_seed``) each.

    ``z_star`` is fixed to ``cfg``'s z* so that every draw inverts the same code.
    """
    ws = draw_seeds(cfg.weight_seed, K)
    ms = draw_seeds(cfg.mask_seed + 1_000_003, K) if redraw_mask else [cfg.mask_seed] * K
    zs = tuple(float(x) for x in draw_z_star(cfg))
    return [cfg.replace(weight_seed=w, mask_seed=m, z_star=zs) for w, m in zip(ws, ms)]


def widen(cfg: Config, factor: int) -> Config:
    """The same net with every channel count after n0 multiplied by ``factor`` (the output too).

    The output channels are widened as well: the last layer's expectation is taken over its
    output units, and a 1-channel output has a fixed number of them, so its fluctuation would
    not shrink with the hidden width alone.

    Raises
    ------
    ConfigError
        Naming ``width_factor`` when it is not an integer in [1, 64], or ``channels`` when the
        widened net exceeds :data:`core.config.LIMITS`.
    """
    _check_int("width_factor", factor, 1, EXPECTED_LIMITS["width_factor"])
    ch = (cfg.channels[0],) + tuple(c * factor for c in cfg.channels[1:])
    return cfg.replace(channels=ch)


def _check_int(name, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise ConfigError(name, f"must be an integer in [{lo}, {hi}], got {v!r}")


def _as_points(z, n0: int) -> torch.Tensor:
    zt = torch.as_tensor(np.asarray(z, dtype=float), dtype=torch.float64)
    if zt.ndim == 1:
        zt = zt[None]
    if zt.ndim != 2 or zt.shape[1] != n0:
        raise ValueError(f"z: must have shape (Q, {n0}), got {tuple(zt.shape)}")
    if not 1 <= zt.shape[0] <= EXPECTED_LIMITS["points"]:
        raise ConfigError("points", f"must be between 1 and {EXPECTED_LIMITS['points']} points, got {zt.shape[0]}")
    if not torch.isfinite(zt).all():
        raise ValueError("z: must be finite")
    return zt


def _check_mask_law(cfg: Config):
    if cfg.mask == "gaussian":
        raise ConfigError("mask", "the expected landscape is implemented for pixel masks, not a Gaussian A")


def inclusion(cfg: Config, redraw_mask: bool = True) -> np.ndarray:
    """π: probability that each output entry is observed, shape ``cfg.output_shape()``.

    A ``random`` mask redrawn per draw observes every entry with probability m/n; a fixed or
    deterministic mask gives its 0/1 indicator.
    """
    _check_mask_law(cfg)
    shape = cfg.output_shape()
    op = make_operator(cfg.mask, shape, rate=cfg.rate, seed=cfg.mask_seed, dtype=torch.float64)
    if cfg.mask == "random" and redraw_mask:
        return np.full(shape, op.m / op.n)
    return op.mask.numpy().astype(float)


# ---------------------------------------------------------------------------
# Monte Carlo over weight draws
# ---------------------------------------------------------------------------
class StackedNets:
    """K draws of one architecture, evaluated together: ``z`` (Q, n0) → ``G_k(z)`` (K, Q, n).

    Parameters
    ----------
    cfgs : list of Config
        Same architecture and activations, differing only in seeds (see :func:`draw_configs`).
    dtype : torch.dtype

    Notes
    -----
    Layer 1 (1×1 input) is one batched GEMM ``z @ M1_k``. Every later layer is the col2im
    formulation of :mod:`core.generators.engine` with a leading draw axis: a batched GEMM
    ``(K, Q·S^dim, C_in) @ (K, C_in, k^dim·C_out)`` followed by ``k^dim`` strided adds. Outputs
    are returned in C-order over ``(C, *spatial)``.
    """

    def __init__(self, cfgs: list[Config], dtype=torch.float64):
        cfg = cfgs[0]
        self.cfg, self.K, self.dtype = cfg, len(cfgs), dtype
        arch = cfg.replace(weight_seed=0, mask_seed=0, z_star=(), z_seed=0)
        for c in cfgs[1:]:
            if c.replace(weight_seed=0, mask_seed=0, z_star=(), z_seed=0) != arch:
                raise ValueError("cfgs: the draws must share architecture, activations and weight law")
        dim = cfg.dim
        Ws = [draw_weights(c) for c in cfgs]
        self.sizes = cfg.layer_sizes()
        self.strides, self.pads, self.kernels = cfg.per_layer("stride"), cfg.per_layer("padding"), cfg.per_layer("kernel")
        W1 = torch.stack([w[0] for w in Ws])                               # (K, n0, C1, *k)
        M1 = W1.permute(0, 1, *range(3, 3 + dim), 2)                       # (K, n0, *k, C1)
        k1, p1 = self.kernels[0], self.pads[0]
        if p1:
            M1 = M1[:, :, p1:k1 - p1] if dim == 1 else M1[:, :, p1:k1 - p1, p1:k1 - p1]
        self.M1 = M1.reshape(self.K, cfg.n0, -1).to(dtype).contiguous()
        self.Wc = []
        for i in range(1, cfg.depth):
            W = torch.stack([w[i] for w in Ws])                           # (K, C_in, C_out, *k)
            self.Wc.append(W.permute(0, 1, *range(3, 3 + dim), 2).reshape(self.K, W.shape[1], -1).to(dtype).contiguous())
        from .generators.conv_family import activation_fn

        self.acts = [activation_fn(cfg.activation, cfg.negative_slope)] * (cfg.depth - 1) + \
                    [activation_fn(cfg.last, cfg.negative_slope)]
        self.macs_per_point = self.M1[0].numel() + sum(
            self.sizes[i] ** dim * w.shape[1] * w.shape[2] for i, w in enumerate(self.Wc, start=1))
        self.floats_per_point = sum(cfg.channels[i] * ((self.sizes[i - 1] - 1) * self.strides[i - 1] + self.kernels[i - 1]) ** dim
                                    * (1 + self.kernels[i - 1] ** dim) for i in range(1, cfg.depth + 1))

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        cfg, K, dim = self.cfg, self.K, self.cfg.dim
        Q = z.shape[0]
        h = self.acts[0](torch.matmul(z.to(self.dtype), self.M1))         # (K, Q, S1^dim·C1)
        for i, Wc in enumerate(self.Wc, start=1):
            S, k, s, p = self.sizes[i], self.kernels[i], self.strides[i], self.pads[i]
            C_in, C_out = cfg.channels[i], cfg.channels[i + 1]
            cols = torch.matmul(h.reshape(K, Q * S ** dim, C_in), Wc)
            cols = cols.reshape(K, Q, *([S] * dim), *([k] * dim), C_out)
            full_size = (S - 1) * s + k
            full = h.new_zeros(K, Q, *([full_size] * dim), C_out)
            span = s * (S - 1) + 1
            if dim == 1:
                for a in range(k):
                    full[:, :, a:a + span:s] += cols[:, :, :, a]
            else:
                for a in range(k):
                    for b in range(k):
                        full[:, :, a:a + span:s, b:b + span:s] += cols[:, :, :, :, a, b]
            if p:
                full = full[:, :, p:-p] if dim == 1 else full[:, :, p:-p, p:-p]
            h = self.acts[i](full.reshape(K, Q, -1))
        C, S = cfg.channels[-1], self.sizes[-1]
        out = h.reshape(K, Q, *([S] * dim), C).movedim(-1, 2)              # (K, Q, C, *S)
        return out.reshape(K, Q, -1)


@dataclass(frozen=True)
class MonteCarlo:
    """Monte Carlo estimate of E_W[J(z)] at Q points.

    Attributes
    ----------
    mean, std, sem : ndarray (Q,)
        Sample mean, sample standard deviation (ddof = 1) and standard error ``std/√K``.
    K : int
    J : ndarray (K, Q) or None
        Every draw's J (kept when asked).
    """

    mean: np.ndarray
    std: np.ndarray
    sem: np.ndarray
    K: int
    J: np.ndarray | None = None


def monte_carlo_J(cfg: Config, z, K: int, redraw_mask: bool = True, keep: bool = False,
                  dtype=torch.float64) -> MonteCarlo:
    """Mean of ``J(z) = ½‖y − A G(z)‖²`` over K independent draws of the weights (and mask).

    Parameters
    ----------
    cfg : Config
        Architecture, weight law, z*, mask law and the base seeds.
    z : array_like (Q, n0)
    K : int
        Draws, in [2, 4096].
    redraw_mask : bool
        Redraw a ``random`` mask with each draw (the mask law), or keep ``cfg``'s mask.
    keep : bool
        Keep the (K, Q) array of every draw's J.

    Returns
    -------
    MonteCarlo

    Raises
    ------
    ConfigError
        ``draws`` out of range, too many points, too much work, or a Gaussian ``mask``.
    """
    _check_int("draws", K, 2, EXPECTED_LIMITS["draws"])
    _check_mask_law(cfg)
    zt = _as_points(z, cfg.n0)
    cfgs = draw_configs(cfg, K, redraw_mask)
    nets = StackedNets(cfgs, dtype=dtype)
    work = K * zt.shape[0] * nets.macs_per_point
    if work > EXPECTED_LIMITS["work"]:
        raise ConfigError("draws", f"K × points × multiply-adds = {work:.3g} exceeds {EXPECTED_LIMITS['work']:.3g}; "
                                   "use fewer draws or points")
    shape = cfg.output_shape()
    masks = torch.stack([make_operator(c.mask, shape, rate=c.rate, seed=c.mask_seed).mask.reshape(-1)
                         for c in cfgs]).to(dtype)                          # (K, n)
    z_star = draw_z_star(cfg)
    with torch.no_grad():
        x_star = nets(z_star[None])                                         # (K, 1, n)
        chunk = int(max(1, min(zt.shape[0], CHUNK_FLOATS // max(1, K * nets.floats_per_point))))
        Js = []
        for a in range(0, zt.shape[0], chunk):
            r = (nets(zt[a:a + chunk]) - x_star) * masks[:, None, :]
            Js.append(0.5 * (r * r).sum(-1))
        J = torch.cat(Js, dim=1).double()                                   # (K, Q)
    std = J.std(dim=0)
    return MonteCarlo(mean=J.mean(0).numpy(), std=std.numpy(), sem=(std / math.sqrt(K)).numpy(), K=K,
                      J=J.numpy() if keep else None)


# ---------------------------------------------------------------------------
# closed form
# ---------------------------------------------------------------------------
def arccos_kernel(a, b, c, activation: str = "relu", negative_slope: float = 0.2):
    """The 2×2 Gram of ``(σ(u), σ(v))`` from that of a centred Gaussian pair ``(u, v)``.

    Parameters
    ----------
    a, b, c : Tensor or ndarray (broadcastable)
        ``E[u²]``, ``E[v²]``, ``E[uv]``.
    activation : {"relu", "leaky_relu", "identity"}
    negative_slope : float
        α of the leaky ReLU.

    Returns
    -------
    a2, b2, c2
        ``E[σ(u)²]``, ``E[σ(v)²]``, ``E[σ(u)σ(v)]``.

    Notes
    -----
    With ``θ = arccos(c/√(ab))`` and ``J(θ) = sin θ + (π − θ) cos θ`` (Cho & Saul, degree 1):
    ReLU ``c2 = √(ab) J(θ) / 2π``, ``a2 = a/2``. Leaky ReLU ``σ(x) = relu(x) − α relu(−x)``:
    ``c2 = √(ab) [(1 + α²) J(θ) − 2α (sin θ − θ cos θ)] / 2π``, ``a2 = (1 + α²) a/2`` (the cross
    terms use ``E[relu(u) relu(−v)] = √(ab)(sin θ − θ cos θ)/2π``). Identity: unchanged.
    """
    if activation == "identity":
        return a, b, c
    lib = torch if isinstance(a, torch.Tensor) else np
    ab = lib.sqrt(a * b)
    safe = ab > 0
    cos = lib.clip(c / lib.where(safe, ab, 1.0), -1.0, 1.0) if lib is np else \
        torch.clamp(c / torch.where(safe, ab, torch.ones_like(ab)), -1.0, 1.0)
    theta = lib.arccos(cos)
    sin = lib.sqrt(lib.clip(1 - cos * cos, 0.0, None)) if lib is np else torch.sqrt(torch.clamp(1 - cos * cos, min=0.0))
    J1 = sin + (math.pi - theta) * cos
    if activation == "relu":
        return a / 2, b / 2, lib.where(safe, ab * J1 / (2 * math.pi), 0.0 * ab)
    if activation == "leaky_relu":
        al = negative_slope
        cross = sin - theta * cos
        c2 = ab * ((1 + al * al) * J1 - 2 * al * cross) / (2 * math.pi)
        return (1 + al * al) * a / 2, (1 + al * al) * b / 2, lib.where(safe, c2, 0.0 * ab)
    raise ConfigError("activation", f"the closed form needs one of {', '.join(CLOSED_FORM_ACTIVATIONS)}; got {activation!r}")


def _check_closed_form(cfg: Config):
    if cfg.weights != "gaussian":
        raise ConfigError("weights", f"the closed form needs Gaussian weights, got {cfg.weights!r}")
    for name, act in (("activation", cfg.activation), ("last_activation", cfg.last)):
        if act not in CLOSED_FORM_ACTIVATIONS:
            raise ConfigError(name, f"the closed form needs one of {', '.join(CLOSED_FORM_ACTIVATIONS)}; got {act!r}")
    _check_mask_law(cfg)


def expected_output_gap(cfg: Config, z, z_star=None) -> np.ndarray:
    """``E[(G_j(z) − G_j(z*))²]`` at every output position, shape (Q, *spatial) (same for every channel).

    Parameters
    ----------
    cfg : Config
        Gaussian weights; ReLU, leaky ReLU or identity activations.
    z : array_like (Q, n0)
    z_star : array_like (n0,), optional
        Defaults to ``cfg``'s z*.
    """
    _check_closed_form(cfg)
    zt = _as_points(z, cfg.n0)
    zs = draw_z_star(cfg) if z_star is None else torch.as_tensor(np.asarray(z_star, dtype=float)).reshape(-1)
    dim, d = cfg.dim, cfg.depth
    Q = zt.shape[0]
    ks, ss, ps = cfg.per_layer("kernel"), cfg.per_layer("stride"), cfg.per_layer("padding")
    spatial = [1] * dim
    # Gram maps (Q, 1, *S): a = k(z,z), b = k(z*,z*), c = k(z,z*); layer 0 is the 1×1 input z.
    a = (zt * zt).sum(1).reshape(Q, 1, *spatial)
    b = (zs @ zs).reshape(1, 1, *spatial).expand(Q, 1, *spatial)
    c = (zt @ zs).reshape(Q, 1, *spatial)
    for i in range(1, d + 1):
        ones = torch.ones(1, 1, *([ks[i - 1]] * dim), dtype=torch.float64)
        # Σ over the C_{i−1} input channels (layer 1: the inner product already sums over n0).
        scale = weight_std(cfg, i) ** 2 * (1 if i == 1 else cfg.channels[i - 1])
        a, b, c = (scale * _CONV_T[dim](m, ones, stride=ss[i - 1], padding=ps[i - 1]) for m in (a, b, c))
        act = cfg.last if i == d else cfg.activation
        a, b, c = arccos_kernel(a, b, c, act, cfg.negative_slope)
    return (a + b - 2 * c)[:, 0].numpy()


def expected_J(cfg: Config, z, redraw_mask: bool = True, z_star=None) -> np.ndarray:
    """Closed-form ``E_W[J(z)]`` (see the module docstring), shape (Q,).

    Parameters
    ----------
    cfg : Config
    z : array_like (Q, n0)
    redraw_mask : bool
        As in :func:`monte_carlo_J`: average a ``random`` mask over its law, or use ``cfg``'s.
    z_star : array_like (n0,), optional

    Raises
    ------
    ConfigError
        For weights that are not Gaussian, other activations, or a Gaussian A.
    """
    gap = expected_output_gap(cfg, z, z_star)                               # (Q, *S)
    pi = inclusion(cfg, redraw_mask).sum(axis=0)                             # (*S): Σ over channels
    return 0.5 * (gap * pi).reshape(gap.shape[0], -1).sum(1)


# ---------------------------------------------------------------------------
# the −z* ray and the side-by-side landscape
# ---------------------------------------------------------------------------
def interior_minimum(t: np.ndarray, J: np.ndarray) -> float:
    """t of the smallest interior local minimum of J(t) lying below J(t[0]); NaN if none.

    The same rule as :func:`core.critical.negative_ray_critical`, on given arrays, refined by
    the parabola through the grid minimum and its two neighbours.
    """
    t, J = np.asarray(t, float), np.asarray(J, float)
    inner = (J[1:-1] <= J[:-2]) & (J[1:-1] <= J[2:]) & (J[1:-1] < J[0])
    k = np.flatnonzero(inner)
    if k.size == 0:
        return float("nan")
    i = k[np.argmin(J[1:-1][k])] + 1
    j0, j1, j2 = J[i - 1], J[i], J[i + 1]
    den = j0 - 2 * j1 + j2
    shift = 0.5 * (j0 - j2) / den if den > 0 else 0.0
    return float(t[i] + np.clip(shift, -1, 1) * (t[i + 1] - t[i]))


@dataclass(frozen=True)
class ExpectedLandscape:
    """One random net's landscape beside the expected one, and both along the −z* ray.

    Attributes
    ----------
    u : ndarray (N,), v : ndarray (M,)
    plane : core.landscape.Plane
    J_emp : ndarray (M, N)
        J of the net drawn from ``config``.
    J_exp : ndarray (M, N)
        Closed-form E_W[J] (mask law: ``random`` averaged over its draws).
    t : ndarray (T,)
        Ray parameter: points ``−t z*``.
    ray_emp, ray_exp : ndarray (T,)
    t_emp, t_exp : float
        Interior minimum along the ray of the empirical and the expected landscape (NaN if none).
    rho : float
        ρ_d of Hand & Voroninski.
    z_star : ndarray (n0,)
    config : Config
    """

    u: np.ndarray
    v: np.ndarray
    plane: object
    J_emp: np.ndarray
    J_exp: np.ndarray
    t: np.ndarray
    ray_emp: np.ndarray
    ray_exp: np.ndarray
    t_emp: float
    t_exp: float
    rho: float
    z_star: np.ndarray
    config: Config


def expected_landscape(cfg: Config, grid: int | None = None, extent: float | None = None,
                       t_max: float = 1.5, n_ray: int = 1501) -> ExpectedLandscape:
    """Empirical and expected landscapes of ``cfg`` on its default plane, and on the −z* ray."""
    from .landscape import landscape, ray_slice
    from .problem import build_problem
    from .theory import rho

    _check_closed_form(cfg)
    g = cfg.grid if grid is None else grid
    _check_int("grid", g, 2, LIMITS["grid"])
    _check_int("n_ray", n_ray, 3, 100_001)
    problem = build_problem(cfg)
    L = landscape(problem, grid=g, extent=extent)
    uu, vv = np.meshgrid(L.u, L.v)
    J_exp = expected_J(cfg, L.plane.lift(uu, vv).reshape(-1, cfg.n0)).reshape(uu.shape)
    t = np.linspace(0.0, t_max, n_ray)
    ray_emp = ray_slice(problem, -t)
    ray_exp = expected_J(cfg, -t[:, None] * L.z_star[None])
    return ExpectedLandscape(u=L.u, v=L.v, plane=L.plane, J_emp=L.J, J_exp=J_exp, t=t, ray_emp=ray_emp,
                             ray_exp=ray_exp, t_emp=interior_minimum(t, ray_emp), t_exp=interior_minimum(t, ray_exp),
                             rho=float(rho(cfg.depth)), z_star=L.z_star, config=cfg)
