"""Inversion of a trained conditional generator from partial measurements (the paper's Fig. 5).

Given ``y = A x`` and the class ``c``, find ``ẑ = argmin_z J(z)``, ``J(z) = ½‖y − A G(z, c)‖²``
(eq. 3), by Adam (learning rate 0.1, at most 500 iterations) from a few random starts, keeping the
start with the lowest final J. All trials × restarts descend at once as one batch: with ``G`` in
eval mode each sample's output depends on its own ``z`` only, and Adam's update is entrywise, so
the batch is exactly that many independent descents.

Two targets:

* **in range** (``target="latent"``): ``x = G(z*, c)`` for ``z* ~ N(0, I)``; success is
  ``‖ẑ − z*‖ ≤ tol·‖z*‖`` (tol = 1e-3);
* **out of range** (``target="real"``): ``x`` a real test image, which no code reproduces
  exactly; we report the PSNR of ``G(ẑ, c)`` on the hidden pixels against filling them with the
  mean training image (and with the mean image of the class).

Glossary: ``z_star`` (T, 10), ``labels`` c (T,), ``op`` A (a :class:`core.masks.SamplingOperator`
on shape (1, 32, 32)), ``y`` (T, m), ``z_hat`` (T, 10), ``J`` (T,).
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import numbers
import time
from dataclasses import dataclass, fields

import numpy as np
import torch

from ..landscape import Plane
from ..masks import PATTERNS, SamplingOperator, make_operator
from .dcgan import GENERATORS, N_CLASSES, N_LATENT, Generator, dataset_of, shipped_generator

__all__ = ["InvertConfig", "Inversion", "J", "invert", "draw_truth", "psnr", "run_trials", "operator",
           "latent_plane", "J_on_plane", "TrialsResult", "generator_in"]

SHAPE = (1, 32, 32)
TARGETS = ("latent", "real")
PSNR_CAP = 100.0   # dB, for identical images (MSE floored at 1e-10 on the [0, 1] pixel scale)


@dataclass(frozen=True)
class InvertConfig:
    """One batch of inversion trials; round-trips through JSON, unknown keys are rejected."""

    generator: str = "mnist"      # shipped generator: assets/<generator>_generator.pt
    target: str = "latent"        # "latent": x = G(z*, c) (in range); "real": test images (out of range)
    mask: str = "random"          # a pattern of core.masks.PATTERNS
    rate: float = 0.5             # requested sampling rate m / n
    mask_seed: int = 0            # one operator A for all trials
    trials: int = 100             # T
    restarts: int = 4             # random starts per trial; the lowest final J wins
    steps: int = 500              # Adam iterations
    lr: float = 0.1
    tol: float = 1e-3             # success: |z_hat - z*| <= tol |z*|
    seed: int = 0                 # z*, classes (or test images) and starts
    stop_J: float = 1e-10         # a draw stops once a restart has J <= stop_J (0: always run all steps)
    dtype: str = "float32"        # of the descent; float64 gives the same table, 3-5x slower on CPU

    def __post_init__(self):
        types = {f.name: type(f.default) for f in fields(self)}
        for f in fields(self):
            v, t = getattr(self, f.name), types[f.name]
            ok = isinstance(v, numbers.Real) and not isinstance(v, bool) if t is float else \
                isinstance(v, t) and not isinstance(v, bool)
            if not ok:
                raise ValueError(f"{f.name}: expected {'a number' if t is float else 'an ' + t.__name__ if t is int else 'a string'}, got {v!r}")
            if t is float:
                object.__setattr__(self, f.name, float(v))
        _choice("generator", self.generator, GENERATORS)
        _choice("target", self.target, TARGETS)
        _choice("mask", self.mask, PATTERNS)
        _choice("dtype", self.dtype, ("float32", "float64"))
        if not (math.isfinite(self.rate) and 0 < self.rate <= 1):
            raise ValueError(f"rate: must be in (0, 1], got {self.rate}")
        for name, lo, hi in (("trials", 1, 10000), ("restarts", 1, 64), ("steps", 1, 5000),
                             ("mask_seed", 0, 2**31 - 1), ("seed", 0, 2**31 - 1)):
            if not lo <= getattr(self, name) <= hi:
                raise ValueError(f"{name}: must be in [{lo}, {hi}], got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 10):
            raise ValueError(f"lr: must be in (0, 10], got {self.lr}")
        if not 0 < self.tol < 1:
            raise ValueError(f"tol: must be in (0, 1), got {self.tol}")
        if not (math.isfinite(self.stop_J) and self.stop_J >= 0):
            raise ValueError(f"stop_J: must be a number >= 0, got {self.stop_J}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "InvertConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown key; allowed keys are {', '.join(sorted(known))}")
        return cls(**d)

    @classmethod
    def from_json(cls, s: str) -> "InvertConfig":
        return cls.from_dict(json.loads(s))


def _choice(name, v, allowed):
    if v not in allowed:
        raise ValueError(f"{name}: must be one of {', '.join(allowed)}; got {v!r}")


@functools.lru_cache(maxsize=8)
def generator_in(name: str, dtype: str = "float64") -> Generator:
    """The shipped generator ``name`` cast to ``dtype`` (a cached copy; eval mode, no grad)."""
    G = shipped_generator(name)
    return G if dtype == "float32" else copy.deepcopy(G).to(getattr(torch, dtype)).eval()


def operator(mask: str, rate: float = 0.5, seed: int = 0, dtype=torch.float64) -> SamplingOperator:
    """The sampling operator ``A`` on the generator's 1×32×32 output (see :func:`core.masks.make_operator`)."""
    return make_operator(mask, SHAPE, rate=rate, seed=seed, dtype=dtype)


def J(G: Generator, op: SamplingOperator, y: torch.Tensor, labels: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``J(z) = ½‖y − A G(z, c)‖²`` per row: z (B, 10), y (B, m), labels (B,) → (B,)."""
    r = op.A(G(z, labels)) - y
    return 0.5 * (r * r).sum(1)


@dataclass(frozen=True)
class Inversion:
    """Result of :func:`invert` for T targets with R restarts each.

    Attributes
    ----------
    z_hat : ndarray (T, n0)
        The end point of the restart with the lowest final J.
    J_hat : ndarray (T,)
        Its J.
    best : ndarray (T,) int
        Index of that restart.
    starts : ndarray (T, R, n0)
    z_end : ndarray (T, R, n0)
    J_end : ndarray (T, R)
    J_path : ndarray (steps + 1, T, R)
        J at every iterate, the starts first.
    paths : ndarray (steps + 1, T, R, n0) or None
        Every iterate, when ``keep_path``.
    iterations : ndarray (T,) int
        Adam updates each target received (fewer than ``steps`` when it stopped early).
    seconds : float
    """

    z_hat: np.ndarray
    J_hat: np.ndarray
    best: np.ndarray
    starts: np.ndarray
    z_end: np.ndarray
    J_end: np.ndarray
    J_path: np.ndarray
    paths: np.ndarray | None
    iterations: np.ndarray
    seconds: float


def invert(G: Generator, op: SamplingOperator, y, labels, restarts: int = 4, steps: int = 500, lr: float = 0.1,
           seed: int | torch.Generator = 0, keep_path: bool = False, starts=None, stop_J: float = 0.0) -> Inversion:
    """Minimise ``J`` for every row of ``y`` from ``restarts`` random starts ``N(0, I)``, by Adam.

    Parameters
    ----------
    G : Generator
        In eval mode; its dtype is the descent's dtype.
    op : SamplingOperator
        ``A`` on shape (1, 32, 32).
    y : array-like (T, m)
    labels : array-like (T,) int
    restarts, steps : int
    lr : float
        Adam's learning rate; β = (0.9, 0.999), ε = 1e-8 as in ``torch.optim.Adam``.
    seed : int or torch.Generator
        Source of the starts.
    keep_path : bool
        Keep every iterate (memory ``(steps + 1)·T·R·n0``).
    starts : array-like (T, R, n0), optional
        Explicit starts instead of random ones.
    stop_J : float, default 0
        A target stops (all its restarts) once one of its restarts has ``J ≤ stop_J``; 0 never
        stops early. Stopped entries keep their last value in ``J_path`` and ``paths``.

    Returns
    -------
    Inversion

    Notes
    -----
    Adam is written out (the update of ``torch.optim.Adam``) so that only the targets still
    running are pushed through ``G``.
    """
    if G.training:
        raise ValueError("G must be in eval mode (batch norm with running statistics)")
    dtype = next(G.parameters()).dtype
    y = torch.as_tensor(np.asarray(y), dtype=dtype)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    T = y.shape[0]
    if y.ndim != 2 or y.shape[1] != op.m or labels.shape != (T,):
        raise ValueError(f"y must be (T, {op.m}) and labels (T,), got {tuple(y.shape)} and {tuple(labels.shape)}")
    op = op.to(dtype)
    gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
    if starts is None:
        z0 = torch.randn(T, restarts, N_LATENT, generator=gen, dtype=torch.float64).to(dtype)
    else:
        z0 = torch.as_tensor(np.asarray(starts), dtype=dtype)
        restarts = z0.shape[1]
    R = restarts
    yy = y.repeat_interleave(R, 0)
    cc = labels.repeat_interleave(R, 0)
    z = z0.reshape(T * R, N_LATENT).clone()
    m, v = torch.zeros_like(z), torch.zeros_like(z)
    b1, b2, eps = 0.9, 0.999, 1e-8
    J_path = np.empty((steps + 1, T * R))
    paths = np.empty((steps + 1, T * R, N_LATENT)) if keep_path else None
    running = torch.ones(T, dtype=torch.bool)
    iterations = np.full(T, steps)
    t0 = time.perf_counter()
    for t in range(steps + 1):
        rows = running.repeat_interleave(R).nonzero().squeeze(1)
        if t > 0:   # stopped rows keep their last values
            J_path[t] = J_path[t - 1]
            if keep_path:
                paths[t] = paths[t - 1]
        zi = z[rows].requires_grad_(t < steps)
        Jz = J(G, op, yy[rows], cc[rows], zi)
        J_path[t, rows.numpy()] = Jz.detach().double().numpy()
        if keep_path:
            paths[t, rows.numpy()] = zi.detach().double().numpy()
        if t == steps:
            break
        if stop_J > 0:   # a target whose best restart fits stops here, before its next update
            done = running & torch.as_tensor(J_path[t].reshape(T, R).min(1) <= stop_J)
            iterations[done.numpy()] = t
            running &= ~done
            if not running.any():
                J_path[t + 1:] = J_path[t]
                if keep_path:
                    paths[t + 1:] = paths[t]
                break
        (g,) = torch.autograd.grad(Jz.sum(), zi)
        keep = running[rows // R]
        rows, g, zi = rows[keep], g[keep], zi.detach()[keep]
        mi = m[rows].mul_(b1).add_(g, alpha=1 - b1)
        vi = v[rows].mul_(b2).addcmul_(g, g, value=1 - b2)
        m[rows], v[rows] = mi, vi
        denom = (vi.sqrt() / math.sqrt(1 - b2 ** (t + 1))).add_(eps)
        z[rows] = zi.addcdiv(mi, denom, value=-lr / (1 - b1 ** (t + 1)))
    z_end = z.double().reshape(T, R, N_LATENT).numpy()
    J_end = J_path[-1].reshape(T, R)
    best = J_end.argmin(1)
    idx = np.arange(T)
    return Inversion(z_hat=z_end[idx, best], J_hat=J_end[idx, best], best=best,
                     starts=z0.double().numpy(), z_end=z_end, J_end=J_end, J_path=J_path.reshape(-1, T, R),
                     paths=None if paths is None else paths.reshape(-1, T, R, N_LATENT),
                     iterations=iterations, seconds=time.perf_counter() - t0)


def draw_truth(trials: int, seed: int | torch.Generator = 0) -> tuple[np.ndarray, np.ndarray]:
    """``z* ~ N(0, I_10)`` (T, 10) float64 and classes uniform on 0..9 (T,), from ``seed``."""
    gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
    z = torch.randn(trials, N_LATENT, generator=gen, dtype=torch.float64)
    c = torch.randint(0, N_CLASSES, (trials,), generator=gen)
    return z.numpy(), c.numpy()


def psnr(a, b, where=None) -> np.ndarray:
    """PSNR in dB between image batches in [−1, 1], on the [0, 1] pixel scale (peak 1).

    Parameters
    ----------
    a, b : array-like (T, ...)
    where : array-like of bool, broadcastable to ``a[0]``, optional
        Pixels to compare (default all).

    Returns
    -------
    ndarray (T,)
        ``10 log10(1 / MSE)``, MSE floored at 1e-10 (so at most :data:`PSNR_CAP`).
    """
    a = (np.asarray(a, float) + 1) / 2
    b = (np.asarray(b, float) + 1) / 2
    d2 = ((a - b) ** 2).reshape(a.shape[0], -1)
    if where is not None:
        w = np.broadcast_to(np.asarray(where, bool), a.shape[1:]).reshape(-1)
        d2 = d2[:, w]
    mse = np.maximum(d2.mean(1), 1e-10)
    return 10 * np.log10(1.0 / mse)


@dataclass(frozen=True)
class TrialsResult:
    """What ``python -m core invert`` writes; see :func:`run_trials`."""

    config: InvertConfig
    z_star: np.ndarray          # (T, 10); NaN for real images
    labels: np.ndarray          # (T,)
    z_hat: np.ndarray           # (T, 10)
    J_hat: np.ndarray           # (T,)
    success: np.ndarray         # (T,) bool; False for real images (no z* exists)
    latent_error: np.ndarray    # (T,) |z_hat - z*| / |z*|; NaN for real images
    psnr: np.ndarray            # (T,) whole image, G(z_hat) against x
    psnr_hidden: np.ndarray     # (T,) unobserved pixels only (NaN for dense A or no hidden pixel)
    baseline_psnr_hidden: np.ndarray        # (T,) hidden pixels filled with the mean training image
    class_baseline_psnr_hidden: np.ndarray  # (T,) ... with the mean training image of the class
    test_index: np.ndarray      # (T,) index into the test set; -1 for latent targets
    iterations: np.ndarray      # (T,) Adam updates used (< steps when the draw stopped at stop_J)
    seconds: float

    @property
    def success_rate(self) -> float:
        return float(self.success.mean())

    def arrays(self) -> dict:
        """The .npz payload."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("config", "seconds")}
        d.update(success_rate=np.float64(self.success_rate), config=np.array(self.config.to_json()),
                 seconds=np.float64(self.seconds))
        return d


@functools.lru_cache(maxsize=2)
def _mean_images(dataset: str, root: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean training image (32, 32) and per-class means (10, 32, 32), in [−1, 1].

    The resize is linear, so the mean of the resized images is the resized 28×28 mean (no need
    to hold 60000 resized images).
    """
    from .idx import load_split, resize_32
    im, lab = load_split(root, dataset, "train")
    means = np.stack([im.mean(0)] + [im[lab == c].mean(0) for c in range(N_CLASSES)]) / 255.0
    x = (2 * resize_32(torch.from_numpy(means)[:, None]) - 1)[:, 0].numpy()
    return x[0], x[1:]


def run_trials(cfg: InvertConfig, data=None, log=None) -> TrialsResult:
    """Run ``cfg.trials`` inversions with the shipped generator ``cfg.generator``.

    ``data`` is the data folder for ``target="real"`` (default ``../shared/data``); test images are
    drawn without replacement by ``cfg.seed``, their true class conditions ``G``.
    """
    from .idx import DEFAULT_DATA, load_split, to_32
    G = generator_in(cfg.generator, cfg.dtype)
    dtype = getattr(torch, cfg.dtype)
    op = operator(cfg.mask, cfg.rate, cfg.mask_seed, dtype)
    gen = torch.Generator().manual_seed(cfg.seed)
    T = cfg.trials
    nan = np.full(T, np.nan)
    if cfg.target == "latent":
        z_star, labels = draw_truth(T, gen)
        with torch.no_grad():
            x = G(torch.as_tensor(z_star, dtype=dtype), torch.as_tensor(labels)).double()
        idx_test = np.full(T, -1)
    else:
        root = str(data or DEFAULT_DATA)
        im, lab = load_split(root, dataset_of(cfg.generator), "test")
        idx_test = torch.randperm(im.shape[0], generator=gen)[:T].numpy()
        x = to_32(im[idx_test]).double()   # the truth in float64; y is measured in the descent's dtype
        labels = lab[idx_test].astype(np.int64)
        z_star = np.full((T, N_LATENT), np.nan)
    with torch.no_grad():
        y = op.A(x.to(dtype))
    inv = invert(G, op, y, labels, cfg.restarts, cfg.steps, cfg.lr, seed=gen, stop_J=cfg.stop_J)
    with torch.no_grad():
        x_hat = G(torch.as_tensor(inv.z_hat, dtype=dtype), torch.as_tensor(labels)).double().numpy()
    x = x.numpy()
    hidden = None if op.mask is None else ~op.mask.numpy()
    has_hidden = hidden is not None and hidden.any()
    if cfg.target == "latent":
        err = np.linalg.norm(inv.z_hat - z_star, axis=1) / np.linalg.norm(z_star, axis=1)
        success = err <= cfg.tol
        base = cbase = nan
    else:
        err, success = nan, np.zeros(T, bool)
        if has_hidden:
            mean, cmeans = _mean_images(dataset_of(cfg.generator), str(data or DEFAULT_DATA))
            base = psnr(np.broadcast_to(mean, x.shape[:1] + mean.shape)[:, None], x, hidden)
            cbase = psnr(cmeans[labels][:, None], x, hidden)
        else:
            base = cbase = nan
    res = TrialsResult(config=cfg, z_star=z_star, labels=np.asarray(labels), z_hat=inv.z_hat, J_hat=inv.J_hat,
                       success=success, latent_error=err, psnr=psnr(x_hat, x),
                       psnr_hidden=psnr(x_hat, x, hidden) if has_hidden else nan,
                       baseline_psnr_hidden=base, class_baseline_psnr_hidden=cbase,
                       test_index=np.asarray(idx_test), iterations=inv.iterations, seconds=inv.seconds)
    if log:
        log(f"{cfg.generator} {cfg.target} {cfg.mask}: success {res.success_rate:.2f}, {inv.seconds:.0f} s")
    return res


# ---- landscape slices of the 10-D latent --------------------------------------------------------

def latent_plane(z_star, kind: str = "star", seed: int = 0) -> Plane:
    """A plane of the latent space for a slice of J.

    ``kind="star"``: through 0, z* and −z*: origin 0, ``d1 = z*/‖z*‖``, ``d2`` a seeded random unit
    vector orthogonal to ``d1`` (so u is the coordinate along z*). ``kind="random"``: through z*
    (the origin), spanned by two seeded random orthonormal directions.
    """
    zs = np.asarray(z_star, float)
    rng = np.random.default_rng(seed)
    if kind == "star":
        d1 = zs / np.linalg.norm(zs)
        r = rng.standard_normal(zs.size)
        r -= (r @ d1) * d1
        return Plane(np.zeros_like(zs), d1, r / np.linalg.norm(r))
    if kind == "random":
        q, _ = np.linalg.qr(rng.standard_normal((zs.size, 2)))
        return Plane(zs.copy(), q[:, 0], q[:, 1])
    raise ValueError(f"kind: must be 'star' or 'random', got {kind!r}")


@torch.no_grad()
def J_on_plane(G: Generator, op: SamplingOperator, y, label: int, plane: Plane, u, v, chunk: int = 4096) -> np.ndarray:
    """``J(plane.lift(u[j], v[i]))`` for one target: y (m,) → (len(v), len(u))."""
    dtype = next(G.parameters()).dtype
    op = op.to(dtype)
    uu, vv = np.meshgrid(np.asarray(u, float), np.asarray(v, float))
    z = torch.as_tensor(plane.lift(uu, vv).reshape(-1, plane.d1.size), dtype=dtype)
    y = torch.as_tensor(np.asarray(y), dtype=dtype)[None]
    out = []
    for a in range(0, z.shape[0], chunk):
        zc = z[a:a + chunk]
        out.append(J(G, op, y.expand(zc.shape[0], -1), torch.full((zc.shape[0],), int(label)), zc).double())
    return torch.cat(out).numpy().reshape(uu.shape)
