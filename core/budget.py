"""Budget curves: is a failure the landscape's or the optimiser's budget?

For one problem and one set of starts, every solver of :mod:`core.solvers` is run with its
latent error recorded at every iteration, and the fraction of starts *recovered by then* is
returned against the iteration count and against wall time. A curve that is still rising when
the budget ends says "more iterations"; one that is flat below 1 with its failures labelled
``critical`` or ``other_fit`` says "the landscape".

:func:`suggested_step` gives the step that a diverged fixed-step method should have used.

Glossary: ``z*`` the truth; ``tol`` the recovery threshold, ``‖z_t − z*‖ ≤ tol‖z*‖``; ``S`` starts;
``T`` the budget (``steps``); ``K`` methods; ``G`` points of the common time axis.
"""
from __future__ import annotations

import numpy as np
import torch

from .descent import radius_of
from .diagnosis import LABELS, diagnose
from .problem import Problem
from .solvers import METHODS, solve

TIME_POINTS = 64       # points of the common (log-spaced) time axis


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    """Repeat the last row of ``a`` (T', …) up to n rows: a finished solve stays where it ended."""
    if a.shape[0] >= n:
        return a[:n]
    return np.concatenate([a, np.repeat(a[-1:], n - a.shape[0], axis=0)])


def recovered_by_time(seconds: np.ndarray, recovered: np.ndarray, time: np.ndarray) -> np.ndarray:
    """The fraction recovered at each time τ of ``time``: ``recovered[t]`` at the last t with
    ``seconds[t] ≤ τ`` (0 before the first iteration ended).

    Parameters
    ----------
    seconds : ndarray (T + 1,)
        Non-decreasing wall time at the end of each iteration (the start first).
    recovered : ndarray (T + 1,)
    time : ndarray (G,)

    Returns
    -------
    ndarray (G,)
    """
    idx = np.searchsorted(seconds, time, side="right") - 1
    return np.where(idx >= 0, recovered[np.clip(idx, 0, None)], 0.0)


def budget_curves(problem: Problem, starts, methods=METHODS, steps: int | None = None, tol: float | None = None,
                  lr: float | None = None, damping: float | None = None, time_points: int = TIME_POINTS,
                  diagnose_ends: bool = True) -> dict:
    """Fraction of starts recovered against iterations and wall time, for each solver.

    Parameters
    ----------
    problem : Problem
        Its z* is the truth the latent error is measured against.
    starts : array-like (S, n0)
        The same starts for every method.
    methods : sequence of str
        From :data:`core.solvers.METHODS`.
    steps : int, optional
        The budget T of every method (default ``cfg.steps``).
    tol : float, optional
        Recovered at t when ``‖z_t − z*‖ ≤ tol ‖z*‖`` (default ``cfg.tol``).
    lr, damping : float, optional
        Adam's rate / GD's first step, and Gauss–Newton's λ₀ (default the config's).
    time_points : int
        Points G of the common time axis.
    diagnose_ends : bool
        Label every end point (:func:`core.diagnosis.diagnose`), so a curve that stays below 1
        says why.

    Returns
    -------
    dict of ndarray
        ``methods`` (K,) str; ``iterations`` (T + 1,); ``recovered`` (K, T + 1): the fraction of
        starts with ‖z_t − z*‖ ≤ tol‖z*‖ after t iterations (a stopped start keeps its end point);
        ``seconds`` (K, T + 1): wall time of the batched solve at the end of iteration t;
        ``time`` (G,): a log-spaced axis over every method's times; ``recovered_time`` (K, G):
        the fraction recovered by each time (:func:`recovered_by_time`); ``final`` (K,);
        ``evaluations`` (K,): points evaluated (J, ∇J or the Jacobian) over all starts;
        ``iterations_used`` (K,): iterations until every start had stopped; ``tol`` ();
        with ``diagnose_ends`` also ``diagnosis`` (K, S) str and ``counts`` (K, len(LABELS)) in
        the order of :data:`core.diagnosis.LABELS`; ``config`` (): the config's JSON.

    Notes
    -----
    The −ẑ restart (``negate``) is not applied: the curves follow one solve per start. Wall time
    depends on the machine and its load; a tiny solve runs first so that no method pays for
    torch's first-call set-up.
    """
    cfg = problem.cfg
    steps = int(cfg.steps if steps is None else steps)
    tol = float(cfg.tol if tol is None else tol)
    lr = float(cfg.lr if lr is None else lr)
    damping = float(cfg.damping if damping is None else damping)
    methods = tuple(methods)
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"methods: each must be one of {', '.join(METHODS)}; got {m!r}")
    if not methods:
        raise ValueError("methods: give at least one")
    if not isinstance(time_points, int) or not 2 <= time_points <= 10_000:
        raise ValueError(f"time_points: must be an integer in [2, 10000], got {time_points!r}")
    z0 = torch.as_tensor(np.asarray(starts, dtype=float), dtype=problem.dtype, device=problem.device)
    if z0.ndim != 2 or z0.shape[1] != problem.n0 or z0.shape[0] < 1:
        raise ValueError(f"starts: must have shape (S, {problem.n0}), got {tuple(z0.shape)}")
    obj = problem.objective()
    radius = radius_of(problem)
    for m in methods:   # warm-up: one iteration from one start
        solve(obj, z0[:1], method=m, steps=1, lr=lr, damping=damping, radius=radius, record=False)
    K, S, T1 = len(methods), z0.shape[0], steps + 1
    recovered = np.zeros((K, T1))
    seconds = np.zeros((K, T1))
    evaluations = np.zeros(K, dtype=np.int64)
    used = np.zeros(K, dtype=np.int64)
    labels = np.full((K, S), "", dtype=object)
    for k, m in enumerate(methods):
        res = solve(obj, z0, method=m, steps=steps, lr=lr, damping=damping, ftol=cfg.ftol, radius=radius,
                    record=True, keep_path=False)
        E = _pad(res.error_path, T1)                                # (T + 1, S)
        recovered[k] = (E <= tol).mean(1)                           # NaN (diverged) counts as not recovered
        seconds[k] = _pad(res.seconds, T1)
        evaluations[k] = int(res.evaluations.sum())
        used[k] = res.error_path.shape[0] - 1
        if diagnose_ends:
            labels[k] = diagnose(obj, res, tol=tol, eps=cfg.eps, radius=radius).label
    positive = seconds[seconds > 0]
    t_lo = float(positive.min()) if positive.size else 1e-6
    t_hi = max(float(seconds.max()), t_lo * 10)
    time = np.geomspace(t_lo, t_hi, time_points)
    out = dict(methods=np.array(methods), iterations=np.arange(T1), recovered=recovered, seconds=seconds,
               time=time, recovered_time=np.stack([recovered_by_time(seconds[k], recovered[k], time)
                                                   for k in range(K)]),
               final=recovered[:, -1].copy(), evaluations=evaluations, iterations_used=used,
               tol=np.float64(tol), config=np.array(cfg.to_json()))
    if diagnose_ends:
        out["diagnosis"] = labels.astype(str)
        out["counts"] = np.array([[int((labels[k] == name).sum()) for name in LABELS] for k in range(K)])
    return out


def suggested_step(problem: Problem, points) -> float:
    """A fixed gradient step that cannot blow up near ``points``: ``1 / max λ_max(JᵀJ)``.

    J = ½‖r‖² has Hessian ``JᵀJ + Σ_i r_i ∇²r_i`` (here J is the Jacobian of the residual r);
    near a fit the first term dominates, and fixed-step gradient descent on a quadratic with
    curvature L converges for steps below 2/L and diverges above. So the reciprocal of the
    largest Gauss–Newton curvature over the given points (the starts, and z*) is a step that
    is stable there with a factor 2 to spare.

    Parameters
    ----------
    problem : Problem
    points : array-like (P, n0)
        Where to measure the curvature (z* is always added).

    Returns
    -------
    float
        The step (inf if J is flat at every point).
    """
    z = np.asarray(points, dtype=float).reshape(-1, problem.n0)
    z = np.concatenate([z, problem.z_star.double().cpu().numpy()[None]])
    z = z[np.isfinite(z).all(1)]
    zt = torch.as_tensor(z, dtype=problem.dtype, device=problem.device)
    _, _, H = problem.objective().normal_equations(zt, torch.zeros(zt.shape[0], dtype=torch.int64,
                                                                       device=problem.device))
    lam = torch.linalg.eigvalsh(H.double()).amax(1)
    lam = lam[torch.isfinite(lam)]
    L = float(lam.max()) if lam.numel() else 0.0
    return 1.0 / L if L > 0 else float("inf")
