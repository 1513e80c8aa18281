"""Batched descent on J from many starts at once, and the basin map.

Each start's J depends only on its own z, so one optimiser over the stacked
starts ``(S, n0)`` runs S independent descents (Adam's update is entrywise).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import LIMITS, Config
from .problem import Problem

RECOVERED, NEGATIVE, OTHER = 0, 1, 2
OUTCOMES = {RECOVERED: "recovered", NEGATIVE: "negative", OTHER: "other"}
MAX_PATH_ENTRIES = 50_000_000  # (T + 1) · S · n0 floats kept for the paths


@dataclass(frozen=True)
class Descent:
    """The whole run of a batched descent.

    Attributes
    ----------
    paths : ndarray (T + 1, S, n0)
        Iterates, the starts first.
    J_path : ndarray (T + 1, S)
        J along each path.
    outcome : ndarray (S,) int8
        0 ``recovered`` (‖z_T − z*‖ ≤ tol‖z*‖), 1 ``negative`` (z_T within
        ε‖z*‖ of the ray {−t z*: t > 0}, where the theory allows a spurious
        critical point), 2 ``other``.
    z_star : ndarray (n0,)
    """

    paths: np.ndarray
    J_path: np.ndarray
    outcome: np.ndarray
    z_star: np.ndarray

    @property
    def counts(self) -> dict:
        return {name: int((self.outcome == code).sum()) for code, name in OUTCOMES.items()}

    @property
    def success_rate(self) -> float:
        return float((self.outcome == RECOVERED).mean())


def classify(z_end: np.ndarray, z_star: np.ndarray, tol: float, eps: float) -> np.ndarray:
    """Outcome code of each end point (S, n0) → (S,) int8, see :class:`Descent`."""
    z_end = np.asarray(z_end, dtype=float)
    zs = np.asarray(z_star, dtype=float)
    nz = np.linalg.norm(zs)
    out = np.full(z_end.shape[0], OTHER, dtype=np.int8)
    # Distance to the open ray {−t z*, t > 0}: project on −z*/‖z*‖.
    e = -zs / nz
    t = z_end @ e
    dist_ray = np.linalg.norm(z_end - np.clip(t, 0, None)[:, None] * e, axis=1)
    out[(t > 0) & (dist_ray <= eps * nz)] = NEGATIVE
    out[np.linalg.norm(z_end - zs, axis=1) <= tol * nz] = RECOVERED
    return out


def random_starts(n0: int, S: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    """S starts (S, n0), float64, i.i.d. N(0, scale² I) from ``seed``."""
    if not 1 <= S <= LIMITS["starts"]:
        raise ValueError(f"starts: must be in [1, {LIMITS['starts']}], got {S}")
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(S, n0, generator=gen, dtype=torch.float64) * scale


def step(z: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, t: int, method: str,
         lr: float) -> None:
    """One in-place update of the stacked starts z with gradient g at iteration t (1-based).

    ``adam`` is torch.optim.Adam's update with its defaults (β = 0.9, 0.999, ε = 1e-8), written
    out so it runs on the whole batch with no autograd; ``m`` and ``v`` are its moment buffers.
    ``gd`` is z ← z − lr·g.
    """
    if method == "adam":
        b1, b2 = 0.9, 0.999
        m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (v / (1 - b2 ** t)).sqrt_().add_(1e-8)
        z.addcdiv_(m, denom, value=-lr / (1 - b1 ** t))
    else:
        z.add_(g, alpha=-lr)


def descend(problem: Problem, starts, method: str | None = None, lr: float | None = None,
            steps: int | None = None, tol: float | None = None, eps: float | None = None,
            keep_path: bool = True) -> Descent:
    """Run gradient descent or Adam on J from every start at once.

    Parameters
    ----------
    problem : Problem
    starts : array-like (S, n0)
    method : {"adam", "gd"}, optional
        Defaults to ``cfg.method``; ``lr`` is Adam's learning rate or the GD step.
    steps : int, optional
        Iterations T.
    tol, eps : float, optional
        Outcome thresholds, see :class:`Descent`.
    keep_path : bool
        When False only the start and the end are returned (T + 1 = 2).

    Returns
    -------
    Descent
    """
    cfg: Config = problem.cfg
    method = method or cfg.method
    lr = cfg.lr if lr is None else lr
    steps = cfg.steps if steps is None else steps
    tol = cfg.tol if tol is None else tol
    eps = cfg.eps if eps is None else eps
    if method not in ("adam", "gd"):
        raise ValueError(f"method: must be adam or gd, got {method!r}")
    if not 1 <= steps <= LIMITS["steps"]:
        raise ValueError(f"steps: must be in [1, {LIMITS['steps']}], got {steps}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr: must be a positive number, got {lr}")
    z0 = torch.as_tensor(np.asarray(starts, dtype=float), dtype=problem.dtype, device=problem.device)
    if z0.ndim != 2 or z0.shape[1] != cfg.n0:
        raise ValueError(f"starts: must have shape (S, {cfg.n0}), got {tuple(z0.shape)}")
    S = z0.shape[0]
    if not 1 <= S <= LIMITS["starts"]:
        raise ValueError(f"starts: must be in [1, {LIMITS['starts']}], got {S}")
    if keep_path and (steps + 1) * S * cfg.n0 > MAX_PATH_ENTRIES:
        raise ValueError(f"steps × starts: keeping every path needs {(steps + 1) * S * cfg.n0} floats; "
                         f"the limit is {MAX_PATH_ENTRIES}")
    if not torch.isfinite(z0).all():
        raise ValueError("starts: must be finite")

    T = steps if keep_path else 1
    paths = torch.empty(T + 1, S, cfg.n0, dtype=problem.dtype, device=problem.device)
    J_path = torch.empty(T + 1, S, dtype=problem.dtype, device=problem.device)
    paths[0] = z0
    z = z0.clone()
    m = torch.zeros_like(z)
    v = torch.zeros_like(z)
    for t in range(1, steps + 1):
        J, g = problem.engine.J_and_grad(z)
        if keep_path:
            J_path[t - 1] = J
        step(z, g, m, v, t, method, lr)
        if keep_path:
            paths[t] = z
    with torch.no_grad():
        J_end = problem.engine.J(z)
    if not keep_path:
        J_path[0] = problem.engine.J(z0)
        paths[1] = z
    J_path[-1] = J_end
    zs = problem.z_star.double().cpu().numpy()
    paths_np = paths.double().cpu().numpy()
    return Descent(paths=paths_np, J_path=J_path.double().cpu().numpy(),
                   outcome=classify(paths_np[-1], zs, tol, eps), z_star=zs)


@dataclass(frozen=True)
class Basins:
    """Where the descent from each grid point ends.

    Attributes
    ----------
    u : ndarray (N,)
    v : ndarray (M,)
    end : ndarray (M, N, n0)
        End point of the descent started at ``plane.lift(u[j], v[i])``.
    outcome : ndarray (M, N) int8
        Outcome codes, see :class:`Descent`.
    J_end : ndarray (M, N)
    success_rate : float
        Fraction of starts that recovered z*.
    """

    u: np.ndarray
    v: np.ndarray
    end: np.ndarray
    outcome: np.ndarray
    J_end: np.ndarray
    success_rate: float


def basins(problem: Problem, plane, u: np.ndarray, v: np.ndarray, method=None, lr=None, steps=None,
           tol=None, eps=None, chunk: int = 2048, progress=None) -> Basins:
    """Descend from every point of the grid ``plane.lift(u[j], v[i])``.

    ``progress(done, total)`` is called after each chunk of starts; if it
    returns True the computation stops and raises :class:`Cancelled`.
    """
    u, v = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
    M, N = v.size, u.size
    if M * N > LIMITS["starts"] * 10:
        raise ValueError(f"grid: a basin map is limited to {LIMITS['starts'] * 10} starts, got {M * N}")
    uu, vv = np.meshgrid(u, v)
    z0 = plane.lift(uu, vv).reshape(M * N, -1)
    ends, Js, outs = [], [], []
    for a in range(0, M * N, chunk):
        d = descend(problem, z0[a:a + chunk], method=method, lr=lr, steps=steps, tol=tol, eps=eps, keep_path=False)
        ends.append(d.paths[-1])
        Js.append(d.J_path[-1])
        outs.append(d.outcome)
        if progress is not None and progress(min(a + chunk, M * N), M * N):
            raise Cancelled()
    outcome = np.concatenate(outs)
    return Basins(u=u, v=v, end=np.concatenate(ends).reshape(M, N, -1), outcome=outcome.reshape(M, N),
                  J_end=np.concatenate(Js).reshape(M, N), success_rate=float((outcome == RECOVERED).mean()))


class Cancelled(Exception):
    """A long computation was cancelled through its progress callback."""
