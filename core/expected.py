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
position the Gram is a position-dependent scalar times that same 2×2 matrix. Hence the closed
form of any such conv net (any kernel, stride, padding, mask) is a constant times the
Hand–Voroninski loss, and its critical point on the −z* ray is exactly −ρ_d z*.

The "near, not at" of the notes has two finite-width parts. The true expectation over nets of a
finite width is not the closed form: its ray minimum is t = 0.305 ± 0.001 on ``paper-fig4``
(K = 20,000, :func:`ray_monte_carlo`), not ρ_2 = 0.318, because the closed form overstates the
cross term ``E⟨A G(z), A G(z*)⟩`` by up to 4 % at ∠(z, z*) = π; the gap shrinks about like
1 / C_1 when the net widens. And one net scatters around that: its ray minimum ρ̂_ray has median
0.279 and 5–95 % range 0.12–0.50 over nets. ρ̂_ray is a minimum of J along the ray, not a
critical point of J (:func:`core.critical.near_negative_critical`). ``docs/expected.md`` has
the measurements.

Monte Carlo with a control variate
----------------------------------
``J = D − ⟨A G(z), A G(z*)⟩`` with ``D = ½(‖A G(z)‖² + ‖A G(z*)‖²)``, whose expectation the
closed form gives exactly (:func:`expected_diagonal`). Regressing J on D over the draws
(:meth:`MonteCarlo.controlled`) removes the spread that comes from each net's overall scale: on
``paper-fig4`` the per-net spread of the grid total falls from 33 % to 5.5 % of its mean, so a 1 %
bias is seen with ~560 nets instead of ~20,000 (:func:`draws_to_detect`, :func:`expected_report`).

Along the −z* ray, for ReLU / leaky ReLU / identity (no biases), ``G(−t z*) = t G(−z*)``, so each
net's J(−t z*) is a quadratic in t known from two forward passes (:func:`ray_monte_carlo`).

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

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from .config import FIELDS, LIMITS, Config, ConfigError
from .generators.conv_family import _CONV_T, draw_weights, weight_std
from .generators.engine import one_thread
from .problem import draw_z_star, trial_seeds
from .masks import make_operator

# The closed form and the float64 landscape of expected_report cost about this many multiply-adds' worth
# of time per latent point and output entry (24.7 s for 201² points of paper-fig4, 289 outputs, at the
# CLI's measured ~1.2e9 multiply-adds/s on one thread), whatever the width.
CLOSED_FORM_MACS_PER_OUTPUT = 2_500
# Below this many nets the control-variate regression's spread (two parameters fitted per point, so
# K − 2 degrees of freedom) is no estimate, and no verdict on the bias is given.
MIN_SPREAD_DRAWS = 10

EXPECTED_LIMITS = {
    "draws": 100_000,         # K (run in blocks of BLOCK_DRAWS nets)
    "points": 1_000_000,      # Q
    "width_factor": 64,
    "work": 2e11,             # K · Q · multiply-adds per point, for one Monte Carlo call
}
BLOCK_DRAWS = 2048            # nets stacked in one batched forward pass
CLOSED_FORM_ACTIVATIONS = ("relu", "leaky_relu", "identity")
CHUNK_FLOATS = 1 << 23        # floats of intermediates per Monte Carlo chunk


# ---------------------------------------------------------------------------
# configs of the draws, widening
# ---------------------------------------------------------------------------
def draw_seeds(seed: int, K: int, start: int = 0) -> list[int]:
    """Seeds ``start … start + K − 1`` in [0, 2³¹ − 1] derived from ``seed`` (numpy's SeedSequence).

    The stream does not depend on how it is cut: draws [0, K) are the first K of any longer run,
    so a pilot's draws are reused when the run is extended.
    """
    _check_int("draws", K, 1, EXPECTED_LIMITS["draws"])
    _check_int("start", start, 0, EXPECTED_LIMITS["draws"])
    return trial_seeds(seed, start + K)[start:]


def draw_configs(cfg: Config, K: int, redraw_mask: bool = True, start: int = 0) -> list[Config]:
    """The configs of Monte Carlo draws ``start … start + K − 1``: fresh ``weight_seed`` (and
    ``mask_seed``) each.

    ``z_star`` is fixed to ``cfg``'s z* so that every draw inverts the same code.
    """
    ws = draw_seeds(cfg.weight_seed, K, start)
    ms = draw_seeds(cfg.mask_seed + 1_000_003, K, start) if redraw_mask else [cfg.mask_seed] * K
    zs = tuple(float(x) for x in draw_z_star(cfg))
    # Config(**flat) is what cfg.replace does, less its round trip through JSON-ish values.
    base = {k: getattr(cfg, k) for k in FIELDS}
    return [Config(**{**base, "weight_seed": w, "mask_seed": m, "z_star": zs}) for w, m in zip(ws, ms)]


class _Draw:
    """One draw of :func:`draw_configs` without building its Config: ``cfg`` with other seeds.

    Reads like the Config (``draw_weights`` and ``make_operator`` need only a few fields), for the
    batched path, where building 20,000 validated configs would cost more than the nets.
    """

    __slots__ = ("_cfg", "weight_seed", "mask_seed")

    def __init__(self, cfg: Config, weight_seed: int, mask_seed: int):
        self._cfg, self.weight_seed, self.mask_seed = cfg, weight_seed, mask_seed

    def __getattr__(self, name):
        return getattr(self._cfg, name)

    def per_layer(self, name):
        return self._cfg.per_layer(name)


def _draws(cfg: Config, K: int, redraw_mask: bool = True, start: int = 0) -> list:
    """The draws of :func:`draw_configs` (same seeds), as light :class:`_Draw` views."""
    ws = draw_seeds(cfg.weight_seed, K, start)
    ms = draw_seeds(cfg.mask_seed + 1_000_003, K, start) if redraw_mask else [cfg.mask_seed] * K
    return [_Draw(cfg, w, m) for w, m in zip(ws, ms)]


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
def _architecture(cfg: Config) -> tuple:
    """Everything of the generator section but its weight seed, and the mask law."""
    g = cfg.generator_spec
    return tuple(getattr(g, f.name) for f in dataclasses.fields(g) if f.name != "weight_seed") + (cfg.mask, cfg.rate)


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
        arch = _architecture(cfg)
        for c in cfgs[1:]:
            if _architecture(c) != arch:
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
    J_sum : ndarray (K,)
        Every draw's ``Σ_q J_k(z_q)``: the per-net total whose spread gives the standard error of
        any statistic pooled over the points (the points are strongly correlated across nets).
    D_mean, D_var, JD_cov : ndarray (Q,)
        Mean and variance of ``D = ½(‖A G(z)‖² + ‖A G(z*)‖²)`` and its covariance with J.
    D_sum : ndarray (K,)
        Every draw's ``Σ_q D_k(z_q)``.
    """

    mean: np.ndarray
    std: np.ndarray
    sem: np.ndarray
    K: int
    J: np.ndarray | None = None
    J_sum: np.ndarray | None = None
    D_mean: np.ndarray | None = None
    D_var: np.ndarray | None = None
    JD_cov: np.ndarray | None = None
    D_sum: np.ndarray | None = None

    def controlled(self, ED) -> tuple[np.ndarray, np.ndarray]:
        """(mean, sem) of J with D as control variate, given its exact expectation ``ED`` (Q,).

        ``J̄ − β (D̄ − E D)`` with β = cov(J, D) / var(D) per point: unbiased up to O(1/K) for β
        fitted on the same draws, with variance ``var(J)(1 − corr(J, D)²) / K``.
        """
        ED = np.asarray(ED, dtype=float)
        safe = self.D_var > 0
        beta = np.where(safe, self.JD_cov / np.where(safe, self.D_var, 1.0), 0.0)
        var = np.clip(self.std ** 2 - beta * self.JD_cov, 0.0, None)
        return self.mean - beta * (self.D_mean - ED), np.sqrt(var / self.K)


def _blocks(K: int, start: int = 0, block: int = BLOCK_DRAWS):
    """(start, size) of consecutive blocks of at most ``block`` draws covering [start, start + K)."""
    for a in range(start, start + K, block):
        yield a, min(block, start + K - a)


def _stack(cfg: Config, cfgs: list[Config], dtype):
    """A block of draws: the stacked nets and their 0/1 masks (Kb, n) over the flat output."""
    nets = StackedNets(cfgs, dtype=dtype)
    shape = cfg.output_shape()
    if cfg.mask == "random" and len({c.mask_seed for c in cfgs}) > 1:
        masks = torch.stack([make_operator(c.mask, shape, rate=c.rate, seed=c.mask_seed).mask.reshape(-1)
                             for c in cfgs])                                # (Kb, n)
    else:   # one mask for every draw
        masks = make_operator(cfgs[0].mask, shape, rate=cfgs[0].rate, seed=cfgs[0].mask_seed).mask.reshape(1, -1)
    return nets, masks.to(dtype)


@one_thread()     # beside a busy process a second intra-op thread stalls its many kernels (benchmarks/NOTES.md)
def monte_carlo_J(cfg: Config, z, K: int, redraw_mask: bool = True, keep: bool = False,
                  dtype=torch.float64, start: int = 0) -> MonteCarlo:
    """Mean of ``J(z) = ½‖y − A G(z)‖²`` over K independent draws of the weights (and mask).

    Parameters
    ----------
    cfg : Config
        Architecture, weight law, z*, mask law and the base seeds.
    z : array_like (Q, n0)
    K : int
        Draws, in [2, 100000], run in blocks of :data:`BLOCK_DRAWS` stacked nets.
    redraw_mask : bool
        Redraw a ``random`` mask with each draw (the mask law), or keep ``cfg``'s mask.
    keep : bool
        Keep the (K, Q) array of every draw's J.
    dtype : torch.dtype
        Of the forward passes (statistics are accumulated in float64).
    start : int
        Index of the first draw (draws ``start … start + K − 1`` of the seed stream).

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
    Q = zt.shape[0]
    z_star = draw_z_star(cfg)
    zero = lambda: torch.zeros(Q, dtype=torch.float64)   # noqa: E731
    n, mean, M2, Dm, DM2, JD = 0, zero(), zero(), zero(), zero(), zero()
    kept, sums, dsums = [], [], []
    for a, Kb in _blocks(K, start):
        nets, masks = _stack(cfg, _draws(cfg, Kb, redraw_mask, start=a), dtype)
        work = K * Q * nets.macs_per_point
        if work > EXPECTED_LIMITS["work"]:
            raise ConfigError("draws", f"K × points × multiply-adds = {work:.3g} exceeds {EXPECTED_LIMITS['work']:.3g}; "
                                       "use fewer draws or points")
        with torch.no_grad():
            x_star = nets(z_star[None])                                     # (Kb, 1, n)
            chunk = int(max(1, min(Q, CHUNK_FLOATS // max(1, Kb * nets.floats_per_point))))
            P_star = ((x_star * masks[:, None, :]) ** 2).sum(-1)             # (Kb, 1)
            Js, Ds = [], []
            for c in range(0, Q, chunk):
                x = nets(zt[c:c + chunk])
                r = (x - x_star) * masks[:, None, :]
                Js.append(0.5 * (r * r).sum(-1))
                Ds.append(0.5 * (((x * masks[:, None, :]) ** 2).sum(-1) + P_star))
            J = torch.cat(Js, dim=1).double()                               # (Kb, Q)
            D = torch.cat(Ds, dim=1).double()
        # Chan et al.'s pairwise update of the means, the sums of squared deviations and the co-moment.
        mb, dmb = J.mean(0), D.mean(0)
        M2b, DM2b, JDb = ((J - mb) ** 2).sum(0), ((D - dmb) ** 2).sum(0), ((J - mb) * (D - dmb)).sum(0)
        delta, ddelta = mb - mean, dmb - Dm
        w = n * Kb / (n + Kb)
        mean, Dm = mean + delta * Kb / (n + Kb), Dm + ddelta * Kb / (n + Kb)
        M2, DM2, JD = M2 + M2b + delta ** 2 * w, DM2 + DM2b + ddelta ** 2 * w, JD + JDb + delta * ddelta * w
        n += Kb
        sums.append(J.sum(1))
        dsums.append(D.sum(1))
        if keep:
            kept.append(J)
    std = torch.sqrt(M2 / (n - 1))
    return MonteCarlo(mean=mean.numpy(), std=std.numpy(), sem=(std / math.sqrt(n)).numpy(), K=n,
                      J=torch.cat(kept).numpy() if keep else None, J_sum=torch.cat(sums).numpy(),
                      D_mean=Dm.numpy(), D_var=(DM2 / (n - 1)).numpy(), JD_cov=(JD / (n - 1)).numpy(),
                      D_sum=torch.cat(dsums).numpy())


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


@one_thread()     # beside a busy process a second intra-op thread stalls its many kernels (benchmarks/NOTES.md)
def expected_grams(cfg: Config, z, z_star=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The output Gram maps ``(E[G_j(z)²], E[G_j(z*)²], E[G_j(z) G_j(z*)])``, each (Q, *spatial).

    The first two (the diagonal) are exact at any width: ``E[σ(u)²]`` is linear in ``var(u)``, so
    the recursion over layers is an exact induction. Only the third carries the infinite-width
    approximation (see the module docstring).

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
    return a[:, 0].numpy(), b[:, 0].numpy(), c[:, 0].numpy()


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
    a, b, c = expected_grams(cfg, z, z_star)
    return a + b - 2 * c


def expected_diagonal(cfg: Config, z, redraw_mask: bool = True) -> np.ndarray:
    """``E[D(z)]`` with ``D(z) = ½(‖A G(z)‖² + ‖A G(z*)‖²)``, shape (Q,): exact at any width.

    ``J = D − ⟨A G(z), A G(z*)⟩``, so D is a control variate for a Monte Carlo of J whose
    expectation is known without approximation (see :meth:`MonteCarlo.controlled`).
    """
    a, b, _ = expected_grams(cfg, z)
    pi = inclusion(cfg, redraw_mask).sum(axis=0)
    return 0.5 * ((a + b) * pi).reshape(a.shape[0], -1).sum(1)


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
# the −z* ray: E_W[J(−t z*)], its minimum, and every net's ray minimum ρ̂_ray
# ---------------------------------------------------------------------------
HOMOGENEOUS = ("relu", "leaky_relu", "identity")   # σ(λx) = λσ(x) for λ ≥ 0
Z_DETECT = 3.0               # a bias counts as seen beyond this many standard errors
Z_POWER = 1.2816             # one-sided 90 % power: K is sized so a real bias is seen 9 times in 10


def _homogeneous(cfg: Config) -> bool:
    """G(λz) = λG(z) for λ ≥ 0: positively homogeneous σ and no biases (the conv family has none)."""
    return cfg.activation in HOMOGENEOUS and cfg.last in HOMOGENEOUS


@dataclass(frozen=True)
class RayMonteCarlo:
    """E_W[J(−t z*)] over K nets of one shape, its minimum, and the distribution of ρ̂_ray.

    Attributes
    ----------
    t : ndarray (T,)
    mean, sem : ndarray (T,)
        Monte Carlo mean of J(−t z*) over the nets, and its standard error.
    t_min : float
        The t at which the Monte Carlo mean is smallest (the finite-width expectation's ray
        minimum; NaN if none in (0, t_max)).
    t_min_se : float
        Its standard error by the delta method (homogeneous nets; NaN otherwise).
    t_min_se_boot : float
        Its standard error by a bootstrap over nets.
    rho_hat : ndarray (K,)
        Every net's ray minimum ρ̂_ray (NaN where J(−t z*) has no interior minimum below J(0)):
        the array behind the histogram.
    t_closed : float
        The closed form's ray minimum (ρ_d exactly, see the module docstring; NaN where the
        closed form does not apply).
    rho : float
        ρ_d.
    K : int
    exact : bool
        True when each net's J(−t z*) was computed as the exact quadratic in t (homogeneous σ),
        False when it was sampled on ``t``.
    """

    t: np.ndarray
    mean: np.ndarray
    sem: np.ndarray
    t_min: float
    t_min_se: float
    t_min_se_boot: float
    rho_hat: np.ndarray
    t_closed: float
    rho: float
    K: int
    exact: bool

    def quantiles(self, q=(0.05, 0.5, 0.95)) -> np.ndarray:
        """Quantiles of ρ̂_ray over the nets that have one."""
        r = self.rho_hat[np.isfinite(self.rho_hat)]
        return np.quantile(r, q) if r.size else np.full(len(q), np.nan)

    def histogram(self, bins: int = 50, t_max: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(counts (bins,), edges (bins + 1,)) of ρ̂_ray on [0, t_max]."""
        r = self.rho_hat[np.isfinite(self.rho_hat)]
        return np.histogram(r, bins=bins, range=(0.0, float(self.t[-1] if t_max is None else t_max)))


def _ray_quadratic(cfg: Config, K: int, redraw_mask: bool, dtype) -> np.ndarray:
    """Per net (a, c, b) = (‖A G(−z*)‖², ⟨A G(−z*), A G(z*)⟩, ‖A G(z*)‖²), shape (K, 3).

    For a homogeneous net J(−t z*) = ½ ‖A (t G(−z*) − G(z*))‖² = ½ (a t² − 2 c t + b) exactly.
    """
    zs = draw_z_star(cfg)
    pts = torch.stack([-zs, zs])
    out = []
    for a, Kb in _blocks(K):
        nets, masks = _stack(cfg, _draws(cfg, Kb, redraw_mask, start=a), dtype)
        with torch.no_grad():
            x = nets(pts).double() * masks.double()[:, None, :]             # (Kb, 2, n); mask² = mask
        out.append(torch.stack([(x[:, 0] ** 2).sum(1), (x[:, 0] * x[:, 1]).sum(1), (x[:, 1] ** 2).sum(1)], 1))
    return torch.cat(out).numpy()


def _bootstrap_rows(K: int, n_boot: int, seed: int, chunk: int = 50):
    """Bootstrap resamples over K nets as count matrices (b, K), ``chunk`` at a time (seeded)."""
    rng = np.random.default_rng(seed)
    for a in range(0, n_boot, chunk):
        yield rng.multinomial(K, np.full(K, 1.0 / K), size=min(chunk, n_boot - a)).astype(float)


@one_thread()     # beside a busy process a second intra-op thread stalls its many kernels (benchmarks/NOTES.md)
def ray_monte_carlo(cfg: Config, K: int, t_max: float = 1.5, n_ray: int = 301, redraw_mask: bool = True,
                    n_boot: int = 400, seed: int = 0, dtype=torch.float64) -> RayMonteCarlo:
    """The finite-width expectation along the −z* ray, over K nets of ``cfg``'s shape.

    Parameters
    ----------
    cfg : Config
        Architecture, weight law, z*, mask law and base seeds (z* is kept; the draws are those of
        :func:`draw_configs`, the same nets as :func:`monte_carlo_J`).
    K : int
        Nets, in [2, 100000].
    t_max, n_ray : float, int
        The ray ``−t z*`` for t on ``linspace(0, t_max, n_ray)``.
    redraw_mask : bool
    n_boot : int
        Bootstrap resamples over nets for ``t_min_se_boot`` (0: skip).
    seed : int
        Of the bootstrap.

    Returns
    -------
    RayMonteCarlo

    Notes
    -----
    With positively homogeneous σ (ReLU, leaky ReLU, identity) and no biases, G(−t z*) =
    t G(−z*) for t ≥ 0, so each net's J along the ray is the quadratic ½(a t² − 2ct + b) with
    the per-net numbers of :func:`_ray_quadratic`: its minimum is ρ̂_ray = c/a (when 0 < c/a <
    t_max), the Monte Carlo mean is ½(ā t² − 2c̄ t + b̄) with minimum t̂ = c̄/ā, and the delta
    method gives ``se(t̂)² = var(c − t̂ a) / (K ā²)``. Two forward passes per net, at any K.
    Otherwise J is sampled on the ``t`` grid (:func:`monte_carlo_J` with every draw kept) and
    every minimum is :func:`core.critical.interior_minimum`'s.
    """
    from .critical import interior_minimum
    from .landscape import rho_for

    _check_int("draws", K, 2, EXPECTED_LIMITS["draws"])
    _check_int("n_ray", n_ray, 3, 100_001)
    _check_int("n_boot", n_boot, 0, 10_000)
    if not (math.isfinite(t_max) and 0 < t_max <= 100):
        raise ConfigError("t_max", f"must be a number in (0, 100], got {t_max!r}")
    _check_mask_law(cfg)
    t = np.linspace(0.0, t_max, n_ray)
    zs = draw_z_star(cfg).numpy()
    try:
        t_closed = interior_minimum(t, expected_J(cfg, -t[:, None] * zs[None]))
    except ConfigError:
        t_closed = float("nan")
    se_delta, se_boot = float("nan"), float("nan")
    if _homogeneous(cfg):
        acb = _ray_quadratic(cfg, K, redraw_mask, dtype)
        a, c = acb[:, 0], acb[:, 1]
        ok = (a > 0) & (c > 0) & (c < t_max * a)
        rho_hat = np.where(ok, c / np.where(a > 0, a, 1.0), np.nan)
        m, cov = acb.mean(0), np.cov(acb.T)
        vt = np.stack([t ** 2, -2 * t, np.ones_like(t)], 1) / 2                # (T, 3): J = vt · (a, c, b)
        mean, sem = vt @ m, np.sqrt(np.einsum("ti,ij,tj->t", vt, cov, vt) / K)
        t_hat = m[1] / m[0] if m[0] > 0 else float("nan")
        if not (0 < t_hat < t_max):
            t_hat = float("nan")
        else:
            se_delta = float(np.std(c - t_hat * a, ddof=1) / (math.sqrt(K) * m[0]))
            if n_boot:
                boots = np.concatenate([(w @ c) / (w @ a) for w in _bootstrap_rows(K, n_boot, seed)])
                se_boot = float(np.std(boots, ddof=1))
    else:
        mc = monte_carlo_J(cfg, -t[:, None] * zs[None], K, redraw_mask=redraw_mask, keep=True, dtype=dtype)
        rho_hat = np.array([interior_minimum(t, j) for j in mc.J])
        mean, sem = mc.mean, mc.sem
        t_hat = interior_minimum(t, mean)
        if n_boot and np.isfinite(t_hat):
            boots = np.concatenate([[interior_minimum(t, row) for row in (w @ mc.J) / K]
                                    for w in _bootstrap_rows(K, n_boot, seed)])
            se_boot = float(np.nanstd(boots, ddof=1))
    return RayMonteCarlo(t=t, mean=mean, sem=sem, t_min=float(t_hat), t_min_se=se_delta, t_min_se_boot=se_boot,
                         rho_hat=rho_hat, t_closed=float(t_closed), rho=rho_for(cfg), K=int(K),
                         exact=_homogeneous(cfg))


# ---------------------------------------------------------------------------
# the side-by-side landscape
# ---------------------------------------------------------------------------
def interior_minimum(t: np.ndarray, J: np.ndarray) -> float:
    """:func:`core.critical.interior_minimum` (the ray-minimum rule on given arrays)."""
    from .critical import interior_minimum as rule

    return rule(t, J)


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
    rho_hat_ray : float
        The drawn net's ray minimum ρ̂_ray (NaN if none): a minimum along the ray, not a critical
        point of J (see :func:`core.critical.near_negative_critical`).
    t_closed : float
        The closed form's ray minimum; E_W[J] is a function of ‖z‖ and ∠(z, z*) alone, so this
        one *is* a critical point of the (closed-form) expected landscape, at −ρ_d z*.
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
    rho_hat_ray: float
    t_closed: float
    rho: float
    z_star: np.ndarray
    config: Config

    # Old names, kept until the dashboard's expected page switches (t_emp was never a critical point).
    @property
    def t_emp(self) -> float:
        return self.rho_hat_ray

    @property
    def t_exp(self) -> float:
        return self.t_closed


@one_thread()     # beside a busy process a second intra-op thread stalls its many kernels (benchmarks/NOTES.md)
def expected_landscape(cfg: Config, grid: int | None = None, extent: float | None = None,
                       t_max: float = 1.5, n_ray: int = 1501) -> ExpectedLandscape:
    """Empirical and expected landscapes of ``cfg`` on its default plane, and on the −z* ray.

    ``cfg``'s z* is used as it is (a preset's z* stays).
    """
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
    z_star = draw_z_star(cfg).numpy()            # the config's, not its rounding to the problem's dtype
    ray_exp = expected_J(cfg, -t[:, None] * z_star[None])
    return ExpectedLandscape(u=L.u, v=L.v, plane=L.plane, J_emp=L.J, J_exp=J_exp, t=t, ray_emp=ray_emp,
                             ray_exp=ray_exp, rho_hat_ray=interior_minimum(t, ray_emp),
                             t_closed=interior_minimum(t, ray_exp), rho=float(rho(cfg.depth)), z_star=z_star,
                             config=cfg)


# ---------------------------------------------------------------------------
# the closed form's finite-width bias, and the report the CLI prints
# ---------------------------------------------------------------------------
def draws_to_detect(cv: float, bias: float = 0.01, z_detect: float = Z_DETECT, z_power: float = Z_POWER) -> int:
    """Nets K for which a relative bias ``bias`` lies ``z_detect`` standard errors out with
    one-sided power Φ(z_power): ``K = ((z_detect + z_power) · cv / bias)²``.

    ``cv`` is the per-net coefficient of variation (std / mean over nets) of the statistic whose
    mean is compared, since its standard error is ``cv · mean / √K``.
    """
    if not (np.isfinite(cv) and cv >= 0):
        return EXPECTED_LIMITS["draws"] + 1
    if not 0 < bias < 1:
        raise ConfigError("bias", f"must be in (0, 1), got {bias!r}")
    return max(2, int(math.ceil(((z_detect + z_power) * cv / bias) ** 2)))


def _merge(m1: MonteCarlo, m2: MonteCarlo) -> MonteCarlo:
    """Two Monte Carlo runs over disjoint draws as one (Chan et al.'s pairwise update)."""
    n1, n2 = m1.K, m2.K
    n, w = n1 + n2, n1 * n2 / (n1 + n2)
    dJ, dD = m2.mean - m1.mean, m2.D_mean - m1.D_mean
    M2 = m1.std ** 2 * (n1 - 1) + m2.std ** 2 * (n2 - 1) + dJ ** 2 * w
    DM2 = m1.D_var * (n1 - 1) + m2.D_var * (n2 - 1) + dD ** 2 * w
    JD = m1.JD_cov * (n1 - 1) + m2.JD_cov * (n2 - 1) + dJ * dD * w
    std = np.sqrt(M2 / (n - 1))
    return MonteCarlo(mean=m1.mean + dJ * n2 / n, std=std, sem=std / math.sqrt(n), K=n,
                      J=None if m1.J is None or m2.J is None else np.concatenate([m1.J, m2.J]),
                      J_sum=np.concatenate([m1.J_sum, m2.J_sum]), D_mean=m1.D_mean + dD * n2 / n,
                      D_var=DM2 / (n - 1), JD_cov=JD / (n - 1), D_sum=np.concatenate([m1.D_sum, m2.D_sum]))


def pooled_bias(J_exp, S: np.ndarray, T: np.ndarray | None = None, ET: float | None = None) -> tuple:
    """Relative bias of ``Σ_q J_exp`` against the per-net totals ``S`` (K,), with its standard error.

    With a control ``T`` (K,) of known mean ``ET``, S is replaced by ``S − β(T − ET)``,
    β = cov(S, T) / var(T).

    Returns
    -------
    bias, se, cv : float
        ``Σ J_exp / mean − 1``, its delta-method standard error, and the per-net coefficient of
        variation of the (controlled) total.
    """
    S = np.asarray(S, dtype=float)
    if T is not None:
        T = np.asarray(T, dtype=float)
        vt = float(np.var(T, ddof=1))
        beta = float(np.cov(S, T)[0, 1] / vt) if vt > 0 else 0.0
        S = S - beta * (T - ET)
    m, K, total = float(S.mean()), S.size, float(np.sum(J_exp))
    cv = float(np.std(S, ddof=1) / m)
    return total / m - 1, total / m * cv / math.sqrt(K), cv


@dataclass(frozen=True)
class ExpectedReport:
    """The closed form against a Monte Carlo over K nets, on a grid and along the −z* ray.

    Two Monte Carlo estimates of E_W[J] are reported. ``plain``: the sample mean over nets,
    independent of the closed form. ``controlled``: the same draws with
    ``D = ½(‖A G(z)‖² + ‖A G(z*)‖²)`` as control variate, whose expectation the closed form gives
    exactly (:func:`expected_diagonal`); it removes the spread that comes from the nets' overall
    scale, and with it most of the variance, so a 1 % bias is seen with far fewer nets.

    Attributes
    ----------
    u : ndarray (N,), v : ndarray (M,)
    plane : core.landscape.Plane
    J_emp, J_exp : ndarray (M, N)
        The drawn net's J and the closed form.
    J_mc, J_mc_sem : ndarray (M, N)
        Plain Monte Carlo mean over K nets and its standard error.
    J_cv, J_cv_sem : ndarray (M, N)
        Controlled Monte Carlo mean and its standard error.
    rel_bias, rel_bias_cv : ndarray (M, N)
        (closed form − Monte Carlo) / Monte Carlo per point (NaN where E J ≈ 0, at z*).
    pooled_bias, pooled_bias_se, cv : float
        Plain: (Σ closed form − Σ Monte Carlo) / Σ Monte Carlo over the grid, its standard error
        from the spread of the per-net totals, and their coefficient of variation.
    pooled_bias_cv, pooled_bias_cv_se, cv_cv : float
        The same for the controlled totals.
    K : int
        Nets of the grid's Monte Carlo.
    K_needed, K_needed_plain : int
        Nets needed to detect a relative bias ``bias`` over the grid (:func:`draws_to_detect`),
        controlled and plain.
    K_needed_point : ndarray (M, N)
        Controlled, each point on its own (−1 at z*, where E J = 0).
    bias : float
        The relative bias the check is sized for.
    detectable, detected : bool
        ``K ≥ K_needed``; ``|pooled_bias_cv| > Z_DETECT · pooled_bias_cv_se``.
    ray : RayMonteCarlo
        E_W[J(−t z*)] over ``ray.K`` nets, its minimum, and ρ̂_ray over the nets.
    rho_hat_ray : float
        The drawn net's ray minimum.
    rho : float
    z_star : ndarray (n0,)
        The config's z*, unchanged.
    config : Config
    verdict : str
        One line.
    """

    u: np.ndarray
    v: np.ndarray
    plane: object
    J_emp: np.ndarray
    J_exp: np.ndarray
    J_mc: np.ndarray
    J_mc_sem: np.ndarray
    J_cv: np.ndarray
    J_cv_sem: np.ndarray
    rel_bias: np.ndarray
    rel_bias_cv: np.ndarray
    pooled_bias: float
    pooled_bias_se: float
    cv: float
    pooled_bias_cv: float
    pooled_bias_cv_se: float
    cv_cv: float
    K: int
    K_needed: int
    K_needed_plain: int
    K_needed_point: np.ndarray
    bias: float
    detectable: bool
    detected: bool
    ray: RayMonteCarlo
    rho_hat_ray: float
    rho: float
    z_star: np.ndarray
    config: Config
    verdict: str

    def arrays(self) -> dict:
        """The .npz payload (with ``config``)."""
        r = self.ray
        counts, edges = r.histogram()
        return dict(u=self.u, v=self.v, origin=self.plane.origin, d1=self.plane.d1, d2=self.plane.d2,
                    J_emp=self.J_emp, J_exp=self.J_exp, J_mc=self.J_mc, J_mc_sem=self.J_mc_sem, J_cv=self.J_cv,
                    J_cv_sem=self.J_cv_sem, rel_bias=self.rel_bias, rel_bias_cv=self.rel_bias_cv,
                    pooled_bias=np.float64(self.pooled_bias), pooled_bias_se=np.float64(self.pooled_bias_se),
                    pooled_bias_cv=np.float64(self.pooled_bias_cv),
                    pooled_bias_cv_se=np.float64(self.pooled_bias_cv_se), draws=np.int64(self.K),
                    draws_needed=np.int64(self.K_needed), draws_needed_plain=np.int64(self.K_needed_plain),
                    draws_needed_point=self.K_needed_point, bias=np.float64(self.bias), t=r.t, ray_mc=r.mean,
                    ray_mc_sem=r.sem, t_mc=np.float64(r.t_min), t_mc_se=np.float64(r.t_min_se),
                    t_mc_se_boot=np.float64(r.t_min_se_boot), t_closed=np.float64(r.t_closed),
                    ray_draws=np.int64(r.K), rho_hat_nets=r.rho_hat, rho_hat_hist=counts, rho_hat_edges=edges,
                    rho_hat_ray=np.float64(self.rho_hat_ray), rho=np.float64(self.rho), z_star=self.z_star,
                    config=np.array(self.config.to_json()), verdict=np.array(self.verdict))


@one_thread()     # beside a busy process a second intra-op thread stalls its many kernels (benchmarks/NOTES.md)
def expected_report(cfg: Config, K: int | None = None, grid: int = 21, bias: float = 0.01, K_ray: int = 20_000,
                    K_pilot: int = 200, max_draws: int | None = None, redraw_mask: bool = True,
                    dtype=torch.float64) -> ExpectedReport:
    """The closed form E_W[J] against a Monte Carlo over K nets, sized to see a ``bias`` error.

    Parameters
    ----------
    cfg : Config
        Gaussian weights, ReLU / leaky ReLU / identity; its z* is used as it is.
    K : int, optional
        Nets of the grid's Monte Carlo. None: a pilot of ``K_pilot`` nets estimates the per-net
        spread of the controlled grid total, and the run is extended (the pilot's draws are
        kept) to :func:`draws_to_detect`'s K, at most ``max_draws`` (default: the most the work
        limit allows).
    grid : int
        Points per side of the grid on the default window (``cfg.extent`` around z* for n0 = 2).
    bias : float
        The relative bias the check must be able to see (0.01: 1 %).
    K_ray : int
        Nets of the ray's Monte Carlo (two forward passes per net for a homogeneous σ).
    K_pilot : int
    max_draws : int, optional
    redraw_mask : bool
    dtype : torch.dtype
        Of the Monte Carlo's forward passes.

    Returns
    -------
    ExpectedReport

    Raises
    ------
    ConfigError
        Naming ``weights``, ``activation``, ``mask``, ``draws``, ``grid`` or ``bias``.
    """
    from .critical import ray_minimum
    from .landscape import landscape
    from .problem import build_problem

    _check_closed_form(cfg)
    _check_int("grid", grid, 2, min(LIMITS["grid"], math.isqrt(EXPECTED_LIMITS["points"])))
    if not (isinstance(bias, float) and 0 < bias < 1):
        raise ConfigError("bias", f"must be a number in (0, 1), got {bias!r}")
    # The Monte Carlo's work bound first: the landscape and the closed form on grid² points cost
    # as much as a few nets, and a grid the bound refuses should not pay for them.
    macs = StackedNets(_draws(cfg, 1)).macs_per_point
    cap = int(min(EXPECTED_LIMITS["draws"], EXPECTED_LIMITS["work"] // max(1, grid * grid * macs)))
    cap = cap if max_draws is None else min(cap, int(max_draws))
    if cap < 2:
        raise ConfigError("grid", f"{grid * grid} points of this net exceed the Monte Carlo's work limit; lower grid")
    n_out = math.prod(cfg.output_shape())
    if grid * grid * n_out * CLOSED_FORM_MACS_PER_OUTPUT > EXPECTED_LIMITS["work"]:
        g_max = math.isqrt(int(EXPECTED_LIMITS["work"] // (n_out * CLOSED_FORM_MACS_PER_OUTPUT)))
        raise ConfigError("grid", f"the closed form on {grid}² points of this net exceeds the work limit; "
                                  f"must be at most {g_max}")
    if K is not None:
        _check_int("draws", K, 2, cap)
    problem = build_problem(cfg, dtype="float64")
    L = landscape(problem, grid=grid)
    uu, vv = np.meshgrid(L.u, L.v)
    pts = L.plane.lift(uu, vv).reshape(-1, cfg.n0)
    J_exp, ED = expected_J(cfg, pts, redraw_mask), expected_diagonal(cfg, pts, redraw_mask)
    if K is None:
        _check_int("K_pilot", K_pilot, 2, EXPECTED_LIMITS["draws"])
        mc = monte_carlo_J(cfg, pts, min(K_pilot, cap), redraw_mask=redraw_mask, dtype=dtype)
        want = min(cap, draws_to_detect(pooled_bias(J_exp, mc.J_sum, mc.D_sum, ED.sum())[2], bias))
        if want > mc.K:
            mc = _merge(mc, monte_carlo_J(cfg, pts, want - mc.K, redraw_mask=redraw_mask, dtype=dtype, start=mc.K))
    else:
        _check_int("draws", K, 2, cap)
        mc = monte_carlo_J(cfg, pts, K, redraw_mask=redraw_mask, dtype=dtype)
    b_plain, se_plain, cv_plain = pooled_bias(J_exp, mc.J_sum)
    b_cv, se_cv, cv_cv = pooled_bias(J_exp, mc.J_sum, mc.D_sum, ED.sum())
    K_needed, K_plain = draws_to_detect(cv_cv, bias), draws_to_detect(cv_plain, bias)
    J_cv, sem_cv = mc.controlled(ED)
    zero = mc.mean <= 1e-12 * mc.mean.max()                                  # z* itself: 0 / 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(zero, np.nan, (J_exp - mc.mean) / mc.mean)
        rel_cv = np.where(zero, np.nan, (J_exp - J_cv) / J_cv)
        cv_point = np.where(zero, np.nan, sem_cv * math.sqrt(mc.K) / J_cv)
        K_point = np.array([draws_to_detect(c, bias) if np.isfinite(c) else -1 for c in cv_point])
    ray = ray_monte_carlo(cfg, K_ray, redraw_mask=redraw_mask, dtype=dtype)
    rho_hat = ray_minimum(problem)
    q05, q50, q95 = ray.quantiles()
    spread = mc.K >= MIN_SPREAD_DRAWS
    detectable, detected = spread and mc.K >= K_needed, spread and abs(b_cv) > Z_DETECT * se_cv
    fin = rel_cv[np.isfinite(rel_cv)]
    power = (f"K = {mc.K} nets are too few to estimate the spread (at least {MIN_SPREAD_DRAWS}): no verdict"
             if not spread else
             f"K = {mc.K} can detect a {bias:.0%} bias (needs {K_needed}; plain mean needs {K_plain})" if detectable
             else f"K = {mc.K} cannot detect a {bias:.0%} bias (needs K ≥ {K_needed}; smallest detectable ≈ "
                  f"{(Z_DETECT + Z_POWER) * cv_cv / math.sqrt(mc.K):.1%})")
    judged = ("detected" if detected else "not detected") if spread else "not judged"
    verdict = (f"closed form − Monte Carlo = {b_cv:+.2%} ± {se_cv:.2%} over {pts.shape[0]} points, "
               f"{judged} (plain mean {b_plain:+.2%} ± {se_plain:.2%}; per point "
               f"median {np.median(fin):+.2%}, largest {fin[np.argmax(np.abs(fin))]:+.2%}); {power}; "
               f"min of E_W[J(−t z*)] at t = {ray.t_min:.3f} ± {ray.t_min_se_boot:.3f} (K = {ray.K}), closed form "
               f"{ray.t_closed:.3f}, ρ_d = {ray.rho:.3f}; ρ̂_ray: this net {rho_hat:.3f}, over nets median {q50:.3f} "
               f"(5–95 %: {q05:.2f}–{q95:.2f})")
    shape = uu.shape
    return ExpectedReport(u=L.u, v=L.v, plane=L.plane, J_emp=L.J, J_exp=J_exp.reshape(shape),
                          J_mc=mc.mean.reshape(shape), J_mc_sem=mc.sem.reshape(shape), J_cv=J_cv.reshape(shape),
                          J_cv_sem=sem_cv.reshape(shape), rel_bias=rel.reshape(shape),
                          rel_bias_cv=rel_cv.reshape(shape), pooled_bias=float(b_plain),
                          pooled_bias_se=float(se_plain), cv=cv_plain, pooled_bias_cv=float(b_cv),
                          pooled_bias_cv_se=float(se_cv), cv_cv=cv_cv, K=mc.K, K_needed=K_needed,
                          K_needed_plain=K_plain, K_needed_point=K_point.reshape(shape), bias=float(bias),
                          detectable=bool(detectable), detected=bool(detected), ray=ray,
                          rho_hat_ray=float(rho_hat), rho=float(ray.rho), z_star=L.z_star, config=cfg,
                          verdict=verdict)
