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

from .problem import Problem

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


def _plane_fns(problem: Problem, plane):
    dt, dev = torch.float64, problem.device
    o, a, b = (torch.as_tensor(x, dtype=dt, device=dev) for x in (plane.origin, plane.d1, plane.d2))
    eng = problem.engine

    def J_uv(w):  # w (2,) float64 → scalar, evaluated in the problem's dtype
        z = o + w[0] * a + w[1] * b
        return eng.J(z[None].to(problem.dtype))[0].to(dt)

    return J_uv


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
        problem.engine.J(z).sum().backward()
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
    cand = _local_minima(gn)
    idx = np.argwhere(cand)
    idx = idx[np.argsort(gn[cand])][:max_candidates]
    du, dv = (u[-1] - u[0]) / max(1, u.size - 1), (v[-1] - v[0]) / max(1, v.size - 1)
    J_uv = _plane_fns(problem, plane)
    scale = max(1.0, float(np.nanmax(gn)))
    # float32 evaluation limits how small the gradient can get.
    gtol = scale * (1e-9 if problem.dtype == torch.float64 else 1e-4)
    found: list[CriticalPoint] = []
    for i, j in idx:
        w = torch.tensor([u[j], v[i]], dtype=torch.float64, device=problem.device)
        for _ in range(newton_steps):
            g = torch.func.grad(J_uv)(w)
            if float(g.norm()) <= gtol:
                break
            H = torch.func.hessian(J_uv)(w)
            try:
                step = torch.linalg.solve(H, g)
            except RuntimeError:
                break
            # Keep Newton local: never jump more than two grid cells at once.
            lim = 2 * max(du, dv)
            n = float(step.norm())
            if n > lim:
                step = step * (lim / n)
            w = w - step
        g = torch.func.grad(J_uv)(w)
        wu, wv = float(w[0]), float(w[1])
        if not (u[0] <= wu <= u[-1] and v[0] <= wv <= v[-1]):
            continue
        if float(g.norm()) > gtol * 100:
            continue
        H = torch.func.hessian(J_uv)(w)
        ev = torch.linalg.eigvalsh(0.5 * (H + H.T)).double().cpu().numpy()
        tiny = 1e-9 * max(1.0, float(np.abs(ev).max()))
        if ev.min() > tiny:
            kind = "minimum"
        elif ev.max() < -tiny:
            kind = "maximum"
        else:
            kind = "saddle"
        if any(abs(p.u - wu) < 2 * du and abs(p.v - wv) < 2 * dv for p in found):
            continue
        found.append(CriticalPoint(z=plane.lift(wu, wv), u=wu, v=wv, J=float(J_uv(w)), kind=kind,
                                   grad_norm=float(g.norm()), eigenvalues=ev))
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
