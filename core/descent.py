"""Descents from many starts on one problem, and the basin map, each end point with its diagnosis.

Both call the one batched solver (:func:`core.solvers.solve`) with the config's method and
budget, then :func:`core.diagnosis.diagnose` on the end points.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import LIMITS
from .diagnosis import LABELS, Diagnosis, continue_unconverged, diagnose
from .problem import STARTS_STREAM, Problem
from .solvers import Solve, solve

MAX_PATH_ENTRIES = 50_000_000  # (T + 1) · S · n0 floats kept for the paths
RADIUS_FACTOR = 1e3            # beyond RADIUS_FACTOR · (extent + ‖z*‖) a start has run away: diverged


@dataclass(frozen=True)
class Descent:
    """The whole run of a batched descent.

    Attributes
    ----------
    paths : ndarray (T + 1, S, n0)
        Iterates, the starts first (a stopped start repeats its end point).
    J_path : ndarray (T + 1, S)
        J along each path.
    diagnosis : Diagnosis
        One label per start (``diagnosis.label``), see :mod:`core.diagnosis`.
    solve : Solve
        The solver's account: why each start stopped, iterations, evaluations, wall time.
    z_star : ndarray (n0,)
    """

    paths: np.ndarray
    J_path: np.ndarray
    diagnosis: Diagnosis
    solve: Solve
    z_star: np.ndarray

    @property
    def label(self) -> np.ndarray:
        return self.diagnosis.label

    @property
    def counts(self) -> dict:
        return self.diagnosis.counts

    @property
    def success_rate(self) -> float:
        return float((self.label == "recovered").mean())


def starts_generator(seed: int) -> torch.Generator:
    """The torch generator of the random starts of ``start_seed = seed``.

    Its stream is derived from ``seed`` (``SeedSequence([seed, STARTS_STREAM])``), so that it is not
    the stream of z* (``torch.Generator().manual_seed(z_seed)``): with equal seeds (both default to
    0) a start would otherwise be z* itself, and a trial that starts at the answer is no trial.
    """
    derived = int(np.random.SeedSequence([int(seed), STARTS_STREAM]).generate_state(1, dtype=np.uint64)[0])
    return torch.Generator().manual_seed(derived & 0x7FFF_FFFF_FFFF_FFFF)


def random_starts(n0: int, S: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    """S starts (S, n0), float64, i.i.d. N(0, scale² I) from the starts' stream of ``seed`` (:func:`starts_generator`)."""
    if not 1 <= S <= LIMITS["starts"]:
        raise ValueError(f"starts: must be in [1, {LIMITS['starts']}], got {S}")
    return torch.randn(S, n0, generator=starts_generator(seed), dtype=torch.float64) * scale


def radius_of(problem: Problem) -> float:
    """The distance beyond which a start counts as run away from the window."""
    return RADIUS_FACTOR * (problem.cfg.extent + float(problem.z_star.double().norm()))


def solver_settings(cfg) -> dict:
    """The solver's keyword arguments from the config's solver section."""
    return dict(method=cfg.method, steps=cfg.steps, lr=cfg.lr, damping=cfg.damping, ftol=cfg.ftol,
                negate=cfg.negate)


def descend(problem: Problem, starts, method: str | None = None, lr: float | None = None,
            steps: int | None = None, tol: float | None = None, eps: float | None = None,
            keep_path: bool = True, safeguard: bool = True, progress=None, extra_budgets: int | None = 0,
            **overrides) -> Descent:
    """Minimise J from every start at once and diagnose every end point.

    Parameters
    ----------
    problem : Problem
    starts : array-like (S, n0)
    method, lr, steps : optional
        Override ``cfg.method`` / ``cfg.lr`` / ``cfg.steps`` (see :func:`core.solvers.solve`).
    tol, eps : float, optional
        Diagnosis thresholds (``cfg.tol``, ``cfg.eps``).
    keep_path : bool
        When False only the start and the end are returned (T + 1 = 2).
    safeguard : bool
        GD's backtracking (see :func:`core.solvers.solve`).
    extra_budgets : int or None
        Starts still converging when the budget ran out are solved on from their end point, up to
        this many more budgets (:func:`core.diagnosis.continue_unconverged`; None:
        :data:`core.diagnosis.CONTINUE_ROUNDS`). Only without kept paths: a path shows exactly its
        budget. 0 (the default) adds none.
    **overrides
        Other solver keywords (``damping``, ``ftol``, ``negate``).

    Returns
    -------
    Descent
    """
    cfg = problem.cfg
    kw = solver_settings(cfg)
    kw.update({k: v for k, v in dict(method=method, lr=lr, steps=steps).items() if v is not None})
    kw.update(overrides)
    tol = cfg.tol if tol is None else tol
    eps = cfg.eps if eps is None else eps
    if not 1 <= kw["steps"] <= LIMITS["steps"]:
        raise ValueError(f"steps: must be in [1, {LIMITS['steps']}], got {kw['steps']}")
    z0 = torch.as_tensor(np.asarray(starts, dtype=float), dtype=problem.dtype, device=problem.device)
    if z0.ndim != 2 or z0.shape[1] != problem.n0:
        raise ValueError(f"starts: must have shape (S, {problem.n0}), got {tuple(z0.shape)}")
    S = z0.shape[0]
    if not 1 <= S <= LIMITS["starts"]:
        raise ValueError(f"starts: must be in [1, {LIMITS['starts']}], got {S}")
    if keep_path and (kw["steps"] + 1) * S * problem.n0 > MAX_PATH_ENTRIES:
        raise ValueError(f"steps: keeping every path of {S} starts × {kw['steps']} steps needs "
                         f"{(kw['steps'] + 1) * S * problem.n0} floats; the limit is {MAX_PATH_ENTRIES}: "
                         f"lower --steps or --starts")
    if keep_path and extra_budgets != 0:
        raise ValueError("extra_budgets: only without kept paths (keep_path=False); a path shows its budget")
    obj = problem.objective()
    radius = radius_of(problem)
    res = solve(obj, z0, radius=radius, keep_path=keep_path, record=keep_path, safeguard=safeguard,
                progress=progress, **kw)
    diag = diagnose(obj, res, tol=tol, eps=eps, radius=radius)
    if extra_budgets != 0:
        res, diag, _ = continue_unconverged(obj, res, diag, radius, {**kw, "safeguard": safeguard},
                                            rounds=extra_budgets, tol=tol, eps=eps)
    zs = problem.z_star.double().cpu().numpy()
    if keep_path:
        paths, J_path = res.paths, res.J_path
    else:
        J0 = problem.evaluator.J_many(z0).double().cpu().numpy()
        paths, J_path = np.stack([z0.double().cpu().numpy(), res.z]), np.stack([J0, res.J])
    return Descent(paths=paths, J_path=J_path, diagnosis=diag, solve=res, z_star=zs)


@dataclass(frozen=True)
class Basins:
    """Where the descent from each grid point ends.

    Attributes
    ----------
    u : ndarray (N,)
    v : ndarray (M,)
    end : ndarray (M, N, n0)
        End point of the descent started at ``plane.lift(u[j], v[i])``.
    label : ndarray (M, N) str
        Diagnosis of each end point (see :mod:`core.diagnosis`).
    J_end : ndarray (M, N)
    success_rate : float
        Fraction of starts that recovered z*.
    """

    u: np.ndarray
    v: np.ndarray
    end: np.ndarray
    label: np.ndarray
    J_end: np.ndarray
    success_rate: float

    @property
    def code(self) -> np.ndarray:
        """Labels as indices into :data:`core.diagnosis.LABELS` (M, N) int8."""
        return label_codes(self.label)

    @property
    def counts(self) -> dict:
        return {k: int((self.label == k).sum()) for k in LABELS}


def label_codes(label: np.ndarray) -> np.ndarray:
    """Diagnosis labels → their index in :data:`core.diagnosis.LABELS` (int8)."""
    lut = {k: i for i, k in enumerate(LABELS)}
    label = np.asarray(label)
    return np.array([lut[s] for s in label.ravel()], dtype=np.int8).reshape(label.shape)


def basins(problem: Problem, plane, u: np.ndarray, v: np.ndarray, chunk: int = 2048, progress=None,
           **settings) -> Basins:
    """Descend from every point of the grid ``plane.lift(u[j], v[i])``.

    ``settings`` go to :func:`descend` (method, lr, steps, tol, eps, …). A start still converging
    when its budget ran out gets up to :data:`core.diagnosis.CONTINUE_ROUNDS` more budgets
    (``extra_budgets`` in ``settings`` to change it), so that the map and its success rate show
    where starts end, not where the budget stopped them. ``progress(done, total)`` is called after
    each chunk of starts; if it returns True the computation stops and raises :class:`Cancelled`.
    """
    u, v = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
    M, N = v.size, u.size
    if M * N > LIMITS["starts"] * 10:
        raise ValueError(f"grid: a basin map is limited to {LIMITS['starts'] * 10} starts, got {M * N}")
    uu, vv = np.meshgrid(u, v)
    z0 = plane.lift(uu, vv).reshape(M * N, -1)
    ends, Js, labels = [], [], []
    for a in range(0, M * N, chunk):
        d = descend(problem, z0[a:a + chunk], keep_path=False, **{"extra_budgets": None, **settings})
        ends.append(d.paths[-1])
        Js.append(d.J_path[-1])
        labels.append(d.label)
        if progress is not None and progress(min(a + chunk, M * N), M * N):
            raise Cancelled()
    label = np.concatenate(labels)
    return Basins(u=u, v=v, end=np.concatenate(ends).reshape(M, N, -1), label=label.reshape(M, N),
                  J_end=np.concatenate(Js).reshape(M, N), success_rate=float((label == "recovered").mean()))


class Cancelled(Exception):
    """A long computation was cancelled through its progress callback."""
