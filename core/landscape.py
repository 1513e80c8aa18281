"""J(z) on 2-D planes and 1-D slices of the latent space.

A plane is ``z = origin + u·d1 + v·d2``. For ``n0 = 2`` the default plane is
the latent space itself (``origin = 0``, ``d1 = e1``, ``d2 = e2``) over a
window of half-width ``extent`` centred on z*, so ``u`` and ``v`` are the
latent coordinates. For ``n0 > 2`` it is the plane through 0, z* and −z*:
``d1 = z*/‖z*‖`` and ``d2`` a seeded random unit vector orthogonal to it,
over ``[−extent, extent]²`` centred on 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import ZERO_MEAN_LAWS, Config
from .generators.engine import QUADRATIC_CHUNK, map_chunks
from .problem import Problem, build_problem
from .theory import rho


@dataclass(frozen=True)
class Plane:
    """``z = origin + u·d1 + v·d2`` with orthonormal ``d1``, ``d2`` (each (n0,), float64 numpy)."""

    origin: np.ndarray
    d1: np.ndarray
    d2: np.ndarray

    def lift(self, u, v) -> np.ndarray:
        """Plane coordinates (…) → latent points (…, n0)."""
        u, v = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
        return self.origin + u[..., None] * self.d1 + v[..., None] * self.d2

    def project(self, z) -> tuple[np.ndarray, np.ndarray]:
        """Latent points (…, n0) → their plane coordinates (u, v), each (…)."""
        r = np.asarray(z, dtype=float) - self.origin
        return r @ self.d1, r @ self.d2


@dataclass(frozen=True)
class Landscape:
    """J on a grid of a plane, with its axes.

    Attributes
    ----------
    u : ndarray (N,)
    v : ndarray (M,)
    J : ndarray (M, N)
        ``J[i, j] = J(origin + u[j]·d1 + v[i]·d2)``.
    plane : Plane
    z_star : ndarray (n0,)
    rho : float
        ρ_d of the Hand–Voroninski recurrence (NaN where it does not apply).
    config : Config
    """

    u: np.ndarray
    v: np.ndarray
    J: np.ndarray
    plane: Plane
    z_star: np.ndarray
    rho: float
    config: Config


def rho_for(cfg: Config) -> float:
    """ρ_d where the theory speaks (ReLU or leaky ReLU with zero-mean weights), else NaN."""
    if cfg.generator == "conv" and cfg.activation == "relu" and cfg.last == "relu" and \
            cfg.weights in ZERO_MEAN_LAWS:
        return float(rho(cfg.depth))
    return float("nan")


def default_plane(cfg: Config, z_star: np.ndarray) -> Plane:
    """The plane of the module docstring for ``cfg`` and its z*."""
    n0 = int(np.asarray(z_star).size)
    if n0 == 1:
        raise ValueError("channels: a plane needs n0 ≥ 2; use slice_1d for a 1-D latent")
    if n0 == 2:
        return Plane(np.zeros(2), np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    d1 = z_star / np.linalg.norm(z_star)
    rng = np.random.default_rng(cfg.plane_seed)
    r = rng.standard_normal(n0)
    r -= (r @ d1) * d1
    return Plane(np.zeros(n0), d1, r / np.linalg.norm(r))


def make_plane(origin, d1, d2) -> Plane:
    """A plane from any two independent directions (Gram–Schmidt orthonormalised)."""
    origin, d1, d2 = (np.asarray(a, dtype=float).reshape(-1) for a in (origin, d1, d2))
    if not (origin.shape == d1.shape == d2.shape):
        raise ValueError("plane: origin, d1 and d2 must have the same length n0")
    n1 = np.linalg.norm(d1)
    if not np.isfinite(n1) or n1 == 0:
        raise ValueError("d1: must be a finite nonzero vector")
    d1 = d1 / n1
    d2 = d2 - (d2 @ d1) * d1
    n2 = np.linalg.norm(d2)
    if not np.isfinite(n2) or n2 < 1e-12:
        raise ValueError("d2: must be finite and not parallel to d1")
    return Plane(origin, d1, d2 / n2)


def evaluate_plane(problem: Problem, plane: Plane, u: np.ndarray, v: np.ndarray,
                   chunk: int | None = None) -> np.ndarray:
    """J on the grid ``origin + u[j] d1 + v[i] d2`` → (M, N) numpy, in bounded memory.

    The grid is cut into the evaluator's chunks, which :func:`~core.generators.engine.map_chunks`
    spreads over threads (one torch thread each); only J (M·N) grows with the grid.
    """
    eng = problem.evaluator
    dev, dt = problem.device, problem.dtype
    o, a, b = (torch.as_tensor(x, dtype=dt, device=dev) for x in (plane.origin, plane.d1, plane.d2))
    ut = torch.as_tensor(np.asarray(u, dtype=float), dtype=dt, device=dev)
    vt = torch.as_tensor(np.asarray(v, dtype=float), dtype=dt, device=dev)
    M, N = vt.numel(), ut.numel()
    # n0 > 2 on a plane through the origin: J is a quadratic per sector of the plane too (the n0 = 2
    # latent space goes through the engine's own sectors)
    sec = None
    if problem.n0 > 2 and not np.any(plane.origin) and hasattr(eng, "plane_sectors"):
        sec = eng.plane_sectors(plane.d1, plane.d2)
        sec = sec if sec is not None and sec.quadratic is not None else None
    chunk = chunk or (QUADRATIC_CHUNK if sec is not None else eng.chunk_size())
    out = torch.empty(M * N, dtype=dt, device=dev)
    basis = torch.stack([o, a, b])  # (3, n0)

    def run(i):
        s = i * chunk
        idx = torch.arange(s, min(s + chunk, M * N), device=dev)
        if sec is not None:
            out[s:s + idx.numel()] = sec.J_quadratic(torch.stack([ut[idx % N], vt[idx // N]], dim=1))
            return
        coef = torch.stack([torch.ones_like(ut[idx % N]), ut[idx % N], vt[idx // N]], dim=1)
        out[s:s + idx.numel()] = eng.J_many(coef @ basis, chunk=chunk)

    with torch.no_grad():
        map_chunks(run, -(-M * N // chunk))
    return out.reshape(M, N).cpu().numpy()


def landscape(cfg_or_problem, grid: int | tuple | None = None, extent: float | None = None,
              plane: Plane | None = None, u_range=None, v_range=None, chunk: int | None = None) -> Landscape:
    """J over a grid of a latent plane.

    Parameters
    ----------
    cfg_or_problem : Config or Problem
    grid : int or (M, N), optional
        Points per side; defaults to ``cfg.grid``.
    extent : float, optional
        Half-width of the default window; defaults to ``cfg.extent``. A plane of :mod:`core.planes`
        widens it where needed to show the points it goes through (``NamedPlane.window``: the star
        plane holds z* and −z*, the end-point and PCA planes z*, ẑ or the paths).
    plane : Plane, optional
        Defaults to :func:`core.planes.plane_for` (the plane of ``cfg.plane``).
    u_range, v_range : (lo, hi), optional
        Override the window.
    chunk : int, optional
        Points per batch; defaults to the engine's cache-sized chunk.

    Returns
    -------
    Landscape
    """
    problem = cfg_or_problem if isinstance(cfg_or_problem, Problem) else build_problem(cfg_or_problem)
    cfg = problem.cfg
    z_star = problem.z_star.double().cpu().numpy()
    if plane is None:
        from .planes import plane_for   # cfg.plane: auto, latent, star, endpoint, pca, hessian

        plane = plane_for(problem)
    g = cfg.grid if grid is None else grid
    M, N = (g, g) if isinstance(g, int) else g
    for n, name in ((M, "grid"), (N, "grid")):
        if not 2 <= n <= 1001:
            raise ValueError(f"{name}: must be in [2, 1001], got {n}")
    e = cfg.extent if extent is None else extent
    window = getattr(plane, "window", None)   # a core.planes.NamedPlane knows where its points are
    du, dv = window(e) if window is not None else ((-e, e), (-e, e))
    ur = u_range or du
    vr = v_range or dv
    u = np.linspace(ur[0], ur[1], N)
    v = np.linspace(vr[0], vr[1], M)
    J = evaluate_plane(problem, plane, u, v, chunk=chunk)
    return Landscape(u=u, v=v, J=J, plane=plane, z_star=z_star, rho=rho_for(cfg), config=cfg)


def slice_1d(problem: Problem, direction, t: np.ndarray, origin=None) -> np.ndarray:
    """J(origin + t·direction) for each t (T,) → (T,); ``origin`` defaults to 0."""
    n0 = problem.n0
    direction = np.asarray(direction, dtype=float).reshape(-1)
    if direction.shape != (n0,) or not np.all(np.isfinite(direction)):
        raise ValueError(f"direction: must be {n0} finite numbers")
    origin = np.zeros(n0) if origin is None else np.asarray(origin, dtype=float).reshape(-1)
    z = origin + np.asarray(t, dtype=float)[:, None] * direction
    zt = torch.as_tensor(z, dtype=problem.dtype, device=problem.device)
    return problem.evaluator.J_many(zt).double().cpu().numpy()


def J_at(problem: Problem, z) -> np.ndarray:
    """J at latent points z (K, n0), numpy in and out (float64)."""
    z = np.asarray(z, dtype=float)
    if z.ndim != 2 or z.shape[1] != problem.n0:
        raise ValueError(f"z: must have shape (K, {problem.n0}), got {z.shape}")
    zt = torch.as_tensor(z, dtype=problem.dtype, device=problem.device)
    return problem.evaluator.J_many(zt).double().cpu().numpy()


def ray_slice(problem: Problem, t: np.ndarray) -> np.ndarray:
    """J along the line through −z*, 0 and z*: J(t·z*) for each t (T,)."""
    return slice_1d(problem, problem.z_star.double().cpu().numpy(), t)
