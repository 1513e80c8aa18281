"""Critical points of J inside a window of a plane, and the spurious point on the −z* ray.

Candidates are the grid points where the in-plane gradient norm is a local
minimum (3×3) and small; each is refined by damped Newton steps on the in-plane
gradient (autograd gradient and Hessian) and classified by the signs of the
in-plane Hessian's eigenvalues.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .problem import Problem, build_problem

KINDS = ("minimum", "saddle", "maximum")


@dataclass(frozen=True)
class CriticalPoint:
    """A refined critical point of J restricted to a plane.

    Attributes
    ----------
    z : ndarray (n0,)
    u, v : float
        Plane coordinates.
    J : float
    kind : {"minimum", "saddle", "maximum"}
    grad_norm : float
        In-plane ‖∇J‖ at ``z``.
    eigenvalues : ndarray (2,)
        Of the in-plane Hessian.
    """

    z: np.ndarray
    u: float
    v: float
    J: float
    kind: str
    grad_norm: float
    eigenvalues: np.ndarray


def _grad_hess(problem: Problem, o, a, b, w: torch.Tensor):
    """J, in-plane gradient (K, 2) and Hessian (K, 2, 2) at plane points w (K, 2), by autograd."""
    w = w.detach().clone().requires_grad_(True)
    J = problem.evaluator.J(o + w[:, :1] * a + w[:, 1:] * b)
    g = torch.autograd.grad(J.sum(), w, create_graph=True)[0]
    H0 = torch.autograd.grad(g[:, 0].sum(), w, retain_graph=True)[0]
    H1 = torch.autograd.grad(g[:, 1].sum(), w)[0]
    return J.detach(), g.detach(), torch.stack([H0, H1], 1).detach()


def plane_gradient(problem: Problem, plane, u: np.ndarray, v: np.ndarray, chunk: int = 4096) -> tuple:
    """In-plane gradient (gu, gv), each (M, N), of J on the grid, by autograd."""
    dev, dt = problem.device, problem.dtype
    o, a, b = (torch.as_tensor(x, dtype=dt, device=dev) for x in (plane.origin, plane.d1, plane.d2))
    uu, vv = np.meshgrid(np.asarray(u, float), np.asarray(v, float))
    uv = torch.as_tensor(np.stack([uu.ravel(), vv.ravel()], 1), dtype=dt, device=dev)
    g = torch.empty_like(uv)
    for s in range(0, uv.shape[0], chunk):
        w = uv[s:s + chunk].clone().requires_grad_(True)
        z = o + w[:, :1] * a + w[:, 1:] * b
        problem.evaluator.J(z).sum().backward()
        g[s:s + chunk] = w.grad
    g = g.double().cpu().numpy()
    return g[:, 0].reshape(uu.shape), g[:, 1].reshape(uu.shape)


def _local_minima(a: np.ndarray) -> np.ndarray:
    """Boolean (M, N): strict-or-equal local minima over the 3×3 neighbourhood (edges excluded)."""
    M, N = a.shape
    out = np.zeros_like(a, dtype=bool)
    c = a[1:-1, 1:-1]
    ok = np.ones_like(c, dtype=bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                ok &= c <= a[1 + di:M - 1 + di, 1 + dj:N - 1 + dj]
    out[1:-1, 1:-1] = ok
    return out


def critical_points(problem: Problem, plane, u: np.ndarray, v: np.ndarray, max_candidates: int = 40,
                    newton_steps: int = 30) -> list[CriticalPoint]:
    """Critical points of J in the window ``u × v`` of ``plane``.

    Parameters
    ----------
    problem : Problem
    plane : Plane
    u : ndarray (N,), v : ndarray (M,)
        The search grid; refined points must stay inside its window.
    max_candidates : int
        The candidates with the smallest gradient norm are refined first.
    newton_steps : int

    Returns
    -------
    list of CriticalPoint
        Deduplicated (points closer than two grid cells merge), sorted by J.
    """
    u, v = np.asarray(u, float), np.asarray(v, float)
    gu, gv = plane_gradient(problem, plane, u, v)
    gn = np.hypot(gu, gv)
    # Typical curvature of the window, to tell a flat plateau from a genuine critical point.
    curvature = max(float(np.nanmax(gn)) / max(u[-1] - u[0], v[-1] - v[0]), 1e-300)
    cand = _local_minima(gn)
    idx = np.argwhere(cand)
    idx = idx[np.argsort(gn[cand])][:max_candidates]
    du, dv = (u[-1] - u[0]) / max(1, u.size - 1), (v[-1] - v[0]) / max(1, v.size - 1)
    if len(idx) == 0:
        return []
    # Refine in float64 whatever the problem's dtype: the draws are the same, only rounding differs.
    p64 = problem if problem.dtype == torch.float64 else build_problem(
        problem.cfg, device=str(problem.device), dtype="float64")
    dev = p64.device
    o, a, b = (torch.as_tensor(x, dtype=torch.float64, device=dev) for x in (plane.origin, plane.d1, plane.d2))
    w = torch.as_tensor(np.stack([u[idx[:, 1]], v[idx[:, 0]]], 1), dtype=torch.float64, device=dev)
    lim = 2 * max(du, dv)  # never jump more than two grid cells in one Newton step
    gtol = 1e-7 * max(1.0, float(np.nanmax(gn)))
    for _ in range(newton_steps):
        _, g, H = _grad_hess(p64, o, a, b, w)
        if bool((g.norm(dim=1) <= gtol).all()):
            break
        # Tiny Levenberg shift keeps singular Hessians (flat regions, kinks) solvable.
        shift = 1e-12 * (1 + H.abs().amax(dim=(1, 2)))[:, None, None] * torch.eye(2, dtype=H.dtype, device=dev)
        step = torch.linalg.solve(H + shift, g.unsqueeze(-1)).squeeze(-1)
        n = step.norm(dim=1, keepdim=True)
        step = torch.where(n > lim, step * (lim / n), step)
        step = torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0)
        w = w - step
    J, g, H = _grad_hess(p64, o, a, b, w)
    found: list[CriticalPoint] = []
    for k in range(w.shape[0]):
        wu, wv = float(w[k, 0]), float(w[k, 1])
        gk = float(g[k].norm())
        if not (u[0] <= wu <= u[-1] and v[0] <= wv <= v[-1]) or gk > gtol:
            continue
        ev = torch.linalg.eigvalsh(0.5 * (H[k] + H[k].T)).cpu().numpy()
        tiny = 1e-6 * curvature
        if np.abs(ev).max() <= tiny:
            continue  # degenerate (flat) point: part of a plateau, reported by the collapse set instead
        kind = "minimum" if ev.min() >= -tiny else "maximum" if ev.max() <= tiny else "saddle"
        if any(abs(p.u - wu) < 2 * du and abs(p.v - wv) < 2 * dv for p in found):
            continue
        found.append(CriticalPoint(z=plane.lift(wu, wv), u=wu, v=wv, J=float(J[k]), kind=kind,
                                   grad_norm=gk, eigenvalues=ev))
    return sorted(found, key=lambda p: p.J)


def negative_ray_critical(problem: Problem, t_max: float = 1.5, n: int = 1501) -> float:
    """The empirical ρ̂: J(−t z*) has its smallest local minimum over t ∈ (0, t_max] at t = ρ̂.

    Returns NaN when J along the −z* ray has no interior local minimum.
    """
    from .landscape import ray_slice

    t = np.linspace(0, t_max, n)
    J = ray_slice(problem, -t)
    inner = (J[1:-1] <= J[:-2]) & (J[1:-1] <= J[2:]) & (J[1:-1] < J[0])
    k = np.flatnonzero(inner)
    if k.size == 0:
        return float("nan")
    best = k[np.argmin(J[1:-1][k])] + 1
    return float(t[best])
