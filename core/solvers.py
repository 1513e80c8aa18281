"""Batched minimisation of J from many starts at once: GD, Adam, L-BFGS and Gauss–Newton.

Every command and view that descends calls :func:`solve`. It advances S independent starts
(rows) together, drops a row as soon as one of the stopping rules fires, and records why each
row stopped. It takes J, ∇J and (for Gauss–Newton) the normal equations from an
:class:`~core.problem.Objective`, so the random family keeps its hand-written backward pass and
every other generator uses autograd.

Methods
-------
``gd``
    Steepest descent with Armijo backtracking: the step starts from ``lr``, doubles after each
    accepted step and halves until ``J(z − α∇J) ≤ J(z) − c₁ α ‖∇J‖²``; J never increases. With
    ``safeguard=False`` it is plain fixed-step GD, and a row that blows up is stopped and
    labelled ``diverged``.
``adam``
    The paper's recipe (torch.optim.Adam's update, lr 0.1, β = (0.9, 0.999), ε = 1e-8), kept as
    it is so that the paper's setting can be reproduced.
``lbfgs``
    Limited-memory BFGS (10 pairs) with a strong-Wolfe line search (c₁ = 1e-4, c₂ = 0.9; the
    bracketing and zoom phases of Nocedal & Wright, Alg. 3.5–3.6, as in torch.optim.LBFGS), every
    row with its own line search inside one batched evaluation per trial step.
``gauss_newton``
    Gauss–Newton on the least-squares form J = ½‖r‖², with Levenberg–Marquardt damping
    (Marquardt's diagonal scaling, Nielsen's update of λ, starting from ``damping``). J has few
    unknowns (n0 = 2 to ~100), so the n0 × n0 normal equations are cheap, and near z* λ shrinks
    and convergence is quadratic. With ``damping=0`` the first step is pure Gauss–Newton: on a
    linear generator it lands on the least-squares solution at once. The default λ₀ = 1 was
    measured: on ``paper-fig4`` undamped first steps jumped into the small basin of a kink
    minimum from 2.1 % of 1,000 starts, λ₀ = 1 from 0.2 %.

Stopping rules (``Solve.stop``), checked after every iteration, for each row:

==============  ==========================================================================
``fit``         J ≤ ftol · ½‖y‖²
``gradient``    ‖∇J‖ (1 + ‖z‖) ≤ gtol · ½‖y‖²
``step``        the last step moved z by less than xtol (1 + ‖z‖) (Adam: over 10 steps)
``stalled``     no step lowers J (line search or damping exhausted)
``diverged``    a non-finite value, or ‖z‖ beyond ``radius``
``budget``      ``steps`` iterations done
==============  ==========================================================================

A caller that may withdraw the request wraps the work in :func:`core.stop.stop_when` (also importable
from here): every iteration of every solve inside it first asks the flag, and raises
:class:`~core.stop.Cancelled` once it is set.

References
----------
.. [1] J. Nocedal, S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006: Alg. 3.5,
       3.6 (strong Wolfe), 7.4–7.5 (L-BFGS), 10.3 (Levenberg–Marquardt).
.. [2] H. B. Nielsen, "Damping parameter in Marquardt's method", IMM-REP-1999-05, DTU.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .generators.engine import one_thread
from .stop import Cancelled, check_stop, stop_when  # noqa: F401 — stop_when and Cancelled: this module's API

METHODS = ("lbfgs", "gauss_newton", "adam", "gd")
STOPS = ("fit", "gradient", "step", "stalled", "diverged", "budget")
HISTORY = 10           # L-BFGS pairs
MAX_LS = 25            # trial steps of one line search
SLOPE_WINDOW = 20      # iterations of the recent log J slope

# Relative tolerances by dtype: what each precision can resolve.
TOLERANCES = {
    torch.float64: dict(ftol=1e-20, gtol=1e-13, xtol=1e-13),
    torch.float32: dict(ftol=1e-11, gtol=1e-7, xtol=1e-7),
}


@dataclass(frozen=True)
class Solve:
    """The end of every row of a batched solve, and why it stopped.

    Attributes
    ----------
    z : ndarray (S, n0)
        End points ẑ.
    J : ndarray (S,)
        J(ẑ).
    grad_norm : ndarray (S,)
        ‖∇J(ẑ)‖.
    iterations : ndarray (S,) int
        Iterations each row took.
    evaluations : ndarray (S,) int
        Points at which J (and ∇J, or the Jacobian) was evaluated for the row.
    stop : ndarray (S,) str
        The rule that stopped the row, one of :data:`STOPS`.
    log_slope : ndarray (S,)
        Slope of log10 J per iteration over the last :data:`SLOPE_WINDOW` iterations (negative:
        J still falling; NaN with fewer than 3 iterations).
    J_path : ndarray (T + 1, S) or None
        J at every iterate, the start first; a stopped row keeps its last value.
    paths : ndarray (T + 1, S, n0) or None
        Every iterate, when asked for.
    error_path : ndarray (T + 1, S) or None
        ‖z_t − z*‖ / ‖z*‖ when the objective knows z*.
    seconds : ndarray (T + 1,)
        Wall time since the start at the end of each iteration.
    negated : ndarray (S,) bool
        The result came from the restart at −ẑ.
    method : str
    """

    z: np.ndarray
    J: np.ndarray
    grad_norm: np.ndarray
    iterations: np.ndarray
    evaluations: np.ndarray
    stop: np.ndarray
    log_slope: np.ndarray
    J_path: np.ndarray | None
    paths: np.ndarray | None
    error_path: np.ndarray | None
    seconds: np.ndarray
    negated: np.ndarray
    method: str


class _State:
    """Per-row tensors of the rows still running, compacted together when rows finish."""

    def __init__(self, **tensors):
        self.__dict__.update(tensors)

    def keep(self, mask: torch.Tensor) -> None:
        for k, v in list(self.__dict__.items()):
            if isinstance(v, torch.Tensor) and v.shape[:1] == mask.shape:
                self.__dict__[k] = v[mask]


@one_thread()     # many small kernels per step: a second intra-op thread waits at each one's barrier
def solve(objective, z0, method: str = "lbfgs", steps: int = 500, lr: float = 0.1, damping: float = 1.0,
          ftol: float = 0.0, gtol: float | None = None, xtol: float | None = None, radius: float = math.inf,
          safeguard: bool = True, negate: bool = False, keep_path: bool = False, record: bool = True,
          check_every: int = 10, progress=None) -> Solve:
    """Minimise J from every start in ``z0`` at once.

    Parameters
    ----------
    objective : Objective
    z0 : Tensor (S, n0)
        Starts, on the evaluator's dtype and device.
    method : {"lbfgs", "gauss_newton", "adam", "gd"}
    steps : int
        Iterations per row (the budget).
    lr : float
        Adam's learning rate; GD's first trial step (or its fixed step without ``safeguard``).
    damping : float
        Levenberg–Marquardt λ₀, relative to diag(JᵀJ); 0: the first step is pure Gauss–Newton.
    ftol, gtol, xtol : float, optional
        Relative tolerances of the stopping rules; 0 / None: the dtype's defaults
        (:data:`TOLERANCES`).
    radius : float
        A row with ‖z‖ > radius is stopped as ``diverged``.
    safeguard : bool
        GD's backtracking (off: plain fixed-step GD, for showing divergence).
    negate : bool
        The authors' restart: every row that did not fit is solved again from −ẑ with the same
        budget, and the better end (lower J) is kept. Paths show the first solve.
    keep_path : bool
        Keep every iterate (``paths``).
    record : bool
        Keep J (and the latent error) at every iterate.
    check_every : int
        Adam's step rule compares z over this many iterations.
    progress : callable, optional
        ``progress(t, steps)`` after each iteration; returning True stops every row (``budget``).

    Returns
    -------
    Solve
    """
    if method not in METHODS:
        raise ValueError(f"method: must be one of {', '.join(METHODS)}; got {method!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: must be a positive integer, got {steps!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr: must be a positive number, got {lr}")
    z0 = torch.as_tensor(z0)
    if z0.ndim != 2 or z0.shape[1] != objective.n0:
        raise ValueError(f"starts: must have shape (S, {objective.n0}), got {tuple(z0.shape)}")
    if not bool(torch.isfinite(z0).all()):
        raise ValueError("starts: must be finite")
    tol = TOLERANCES.get(z0.dtype, TOLERANCES[torch.float32])
    tols = dict(ftol=ftol or tol["ftol"], gtol=tol["gtol"] if gtol is None else gtol,
                xtol=tol["xtol"] if xtol is None else xtol)
    first = _solve(objective, z0, method, steps, lr, damping, tols, radius, safeguard, keep_path, record,
                   check_every, progress)
    if not negate:
        return first
    again = np.nonzero(first.stop != "fit")[0]
    if again.size == 0:
        return first
    rows = torch.as_tensor(again, device=z0.device)
    z1 = -torch.as_tensor(first.z[again], dtype=z0.dtype, device=z0.device)
    sub = _Subset(objective, rows)
    second = _solve(sub, z1, method, steps, lr, damping, tols, radius, safeguard, False, False, check_every, None)
    better = np.isfinite(second.J) & ((second.J < first.J[again]) | ~np.isfinite(first.J[again]))
    out = {k: getattr(first, k).copy() for k in ("z", "J", "grad_norm", "stop", "log_slope", "negated")}
    take = again[better]
    for k in ("z", "J", "grad_norm", "stop", "log_slope"):
        out[k][take] = getattr(second, k)[better]
    out["negated"][take] = True
    return Solve(iterations=first.iterations + _scatter(again, second.iterations, first.z.shape[0]),
                 evaluations=first.evaluations + _scatter(again, second.evaluations, first.z.shape[0]),
                 J_path=first.J_path, paths=first.paths, error_path=first.error_path,
                 seconds=np.concatenate([first.seconds[:-1], [first.seconds[-1] + second.seconds[-1]]]),
                 method=method, **out)


def _scatter(idx, values, n):
    out = np.zeros(n, dtype=np.int64)
    out[idx] = values
    return out


class _Subset:
    """An objective restricted to some of its rows (for the −ẑ restart)."""

    def __init__(self, objective, rows):
        self.o, self.rows, self.n0 = objective, rows, objective.n0

    def __getattr__(self, name):
        f = getattr(self.o, name)
        if name in ("J", "J_and_grad", "normal_equations", "residual_and_jacobian"):
            return lambda z, rows, **kw: f(z, self.rows[rows], **kw)
        if name in ("scale_of", "floor_of", "z_star_of"):
            return lambda rows: f(self.rows[rows])
        return f


class _Record:
    """J, the latent error and z of the running rows at every iterate, kept as they come and
    filled out at the end (a stopped row keeps its last value), so that an iteration costs a
    copy of the running rows and not a copy of the whole (S,) history row."""

    def __init__(self, S: int, J: bool, E: bool, P: bool):
        self.S, self.rows, self.J, self.E, self.P = S, [], [] if J else None, [] if E else None, [] if P else None

    def write(self, st) -> None:
        self.rows.append(st.rows)
        if self.J is not None:
            self.J.append(st.J.to(torch.float64, copy=True))
        if self.E is not None:
            self.E.append((st.z.double() - st.zr).norm(dim=1) / st.zr_norm)
        if self.P is not None:
            self.P.append(st.z.clone())

    def path(self, values, T: int) -> np.ndarray | None:
        """(T + 1, S, …) float64 from the per-iterate values of the running rows."""
        if values is None:
            return None
        counts = [r.numel() for r in self.rows[:T + 1]]
        rows = torch.cat(self.rows[:T + 1]).cpu().numpy()
        vals = torch.cat(values[:T + 1]).double().cpu().numpy()
        out = np.empty((T + 1, self.S) + vals.shape[1:])
        a = 0
        for t, c in enumerate(counts):
            if t:
                out[t] = out[t - 1]
            out[t, rows[a:a + c]] = vals[a:a + c]
            a += c
        return out


def _solve(obj, z0, method, steps, lr, damping, tols, radius, safeguard, keep_path, record, check_every, progress):
    S, n0 = z0.shape
    dev, dt = z0.device, z0.dtype
    t_start = time.perf_counter()
    rows = torch.arange(S, device=dev)
    z = z0.clone()
    scale = obj.scale_of(rows).to(device=dev, dtype=torch.float64)
    # Outputs, full size (rows that stop write here).
    z_end = z0.clone()
    J_end = torch.full((S,), float("nan"), dtype=torch.float64, device=dev)
    g_end = torch.full((S,), float("nan"), dtype=torch.float64, device=dev)
    iters = torch.zeros(S, dtype=torch.int64, device=dev)
    evals = torch.zeros(S, dtype=torch.int64, device=dev)
    stop = np.full(S, "budget", dtype=object)
    slope = torch.full((S,), float("nan"), dtype=torch.float64, device=dev)
    # log10 J of the last SLOPE_WINDOW iterations, a ring: iteration t writes column (t − 1) % W.
    hist = torch.full((S, SLOPE_WINDOW), float("nan"), dtype=torch.float64, device=dev)

    if method == "gauss_newton":
        J, g, H = obj.normal_equations(z, rows)
    else:
        J, g = obj.J_and_grad(z, rows)
        H = None
    evals += 1
    st = _State(rows=rows, z=z, J=J, g=g, scale=scale, hist=hist, evals=evals.clone(), z_ref=z.clone())
    _init_method(st, method, H, lr, damping, S, n0, dev, dt)
    zs = obj.z_star_of(rows) if record else None
    if zs is not None:          # per row, so that the rows leaving the batch take theirs along
        st.zr = zs.to(torch.float64)
        st.zr_norm = st.zr.norm(dim=1).clamp_min(1e-300)
    rec = _Record(S, J=record, E=zs is not None, P=keep_path)
    seconds = np.zeros(steps + 1)
    t_now = [0]

    def finish(mask, reason, t):
        r = st.rows[mask]
        z_end[r] = st.z[mask]
        J_end[r] = st.J[mask].double()
        g_end[r] = st.g[mask].double().norm(dim=1)
        iters[r] = t
        evals[r] = st.evals[mask]
        h = st.hist[mask]
        slope[r] = _log_slope(h.roll(-(t % SLOPE_WINDOW), 1) if t % SLOPE_WINDOW else h)
        stop[r.cpu().numpy()] = reason

    # A start that is already a fit (z0 = z*) or not finite needs no iteration.
    rec.write(st)
    _check(st, tols, radius, finish, 0)
    seconds[0] = time.perf_counter() - t_start
    t_done = 0
    adam = method == "adam"
    for t in range(1, steps + 1):
        if st.rows.numel() == 0:
            break
        check_stop()
        st.moved = _STEP[method](obj, st, t, lr, damping, safeguard, tols, radius)
        st.hist[:, (t - 1) % SLOPE_WINDOW] = st.J.double().clamp_min(1e-300).log10()
        rec.write(st)
        _check(st, tols, radius, finish, t, check_every=check_every if adam else 0)
        seconds[t] = time.perf_counter() - t_start
        t_done = t
        if progress is not None and progress(t, steps):
            break
    if st.rows.numel():
        finish(torch.ones(st.rows.numel(), dtype=torch.bool, device=dev), "budget", t_done)
    T = t_done
    return Solve(z=z_end.double().cpu().numpy(), J=J_end.cpu().numpy(), grad_norm=g_end.cpu().numpy(),
                 iterations=iters.cpu().numpy(), evaluations=evals.cpu().numpy(), stop=stop.astype(str),
                 log_slope=slope.cpu().numpy(), J_path=rec.path(rec.J, T), paths=rec.path(rec.P, T),
                 error_path=rec.path(rec.E, T), seconds=seconds[:T + 1], negated=np.zeros(S, dtype=bool),
                 method=method)


def _log_slope(h: torch.Tensor) -> torch.Tensor:
    """Least-squares slope of each row of ``h`` (B, W) over its finite entries (NaN with < 3)."""
    ok = torch.isfinite(h)
    x = torch.arange(h.shape[1], dtype=h.dtype, device=h.device).expand_as(h)
    n = ok.sum(1).to(h.dtype)
    xm = torch.where(ok, x, 0).sum(1) / n.clamp_min(1)
    ym = torch.where(ok, h, 0).sum(1) / n.clamp_min(1)
    dx = torch.where(ok, x - xm[:, None], 0)
    dy = torch.where(ok, h - ym[:, None], 0)
    s = (dx * dy).sum(1) / (dx * dx).sum(1).clamp_min(1e-300)
    return torch.where(n >= 3, s, torch.nan)


def _check(st, tols, radius, finish, t, check_every: int = 0):
    """Apply the stopping rules to the running rows, in order of precedence.

    Each rule is evaluated on every running row and a row stops on the first rule that holds
    (the same as applying them one after the other, each to the rows the earlier ones left);
    ``finish`` records the stopped rows rule by rule, then one compaction removes them all
    from ``st`` (every per-row tensor of it, ``moved`` and ``stalled`` included).
    """
    if st.rows.numel() == 0:
        return
    zn = st.z.double().norm(dim=1)
    rules = [("diverged", ~torch.isfinite(st.J) | ~torch.isfinite(st.z).all(1) | ~torch.isfinite(st.g).all(1)
              | (zn > radius)),
             ("fit", st.J.double() <= tols["ftol"] * st.scale),
             ("gradient", st.g.double().norm(dim=1) * (1 + zn) <= tols["gtol"] * st.scale.clamp_min(1e-300))]
    if t > 0:
        if st.stalled is not None:
            rules.append(("stalled", st.stalled))
        if not check_every:
            rules.append(("step", st.moved <= tols["xtol"] * (1 + zn)))
        elif t % check_every == 0:
            moved = (st.z - st.z_ref).double().norm(dim=1)
            rules.append(("step", moved <= 10 * tols["xtol"] * (1 + zn)))
    hit = torch.stack([m for _, m in rules])
    done = hit.any(0)
    if bool(done.any()):
        first = torch.where(done, hit.to(torch.int8).argmax(0), -1)
        for k, (reason, _) in enumerate(rules):
            mask = first == k
            if bool(mask.any()):
                finish(mask, reason, t)
        st.keep(~done)
    if check_every and t > 0 and t % check_every == 0:
        st.z_ref = st.z.clone()


# ---------------------------------------------------------------------------
# the methods: each advances every running row by one iteration and returns ‖Δz‖ (B,)
# ---------------------------------------------------------------------------
def _init_method(st, method, H, lr, damping, S, n0, dev, dt):
    st.stalled = None
    st.moved = None
    if method == "adam":
        st.m = torch.zeros(S, n0, dtype=dt, device=dev)
        st.v = torch.zeros(S, n0, dtype=dt, device=dev)
    elif method == "gd":
        st.alpha = torch.full((S,), float(lr), dtype=dt, device=dev)
    elif method == "lbfgs":
        st.S = torch.zeros(S, HISTORY, n0, dtype=dt, device=dev)
        st.Y = torch.zeros(S, HISTORY, n0, dtype=dt, device=dev)
        st.rho = torch.zeros(S, HISTORY, dtype=dt, device=dev)
        st.count = torch.zeros(S, dtype=torch.int64, device=dev)
    elif method == "gauss_newton":
        st.H = H
        st.lam = torch.full((S,), float(damping), dtype=dt, device=dev)
        st.nu = torch.full((S,), 2.0, dtype=dt, device=dev)


def _step_adam(obj, st, t, lr, damping, safeguard, tols, radius):
    b1, b2 = 0.9, 0.999
    st.m.mul_(b1).add_(st.g, alpha=1 - b1)
    st.v.mul_(b2).addcmul_(st.g, st.g, value=1 - b2)
    denom = (st.v / (1 - b2 ** t)).sqrt_().add_(1e-8)
    dz = st.m / denom * (-lr / (1 - b1 ** t))
    st.z = st.z + dz
    st.J, st.g = obj.J_and_grad(st.z, st.rows)
    st.evals += 1
    return dz.double().norm(dim=1)


def _step_gd(obj, st, t, lr, damping, safeguard, tols, radius, c1: float = 1e-4, max_halvings: int = 60):
    if not safeguard:
        dz = -lr * st.g
        st.z = st.z + dz
        st.J, st.g = obj.J_and_grad(st.z, st.rows)
        st.evals += 1
        return dz.double().norm(dim=1)
    B = st.rows.numel()
    g2 = (st.g * st.g).sum(1)
    # Grow the step after a success, but never beyond a move of 1 + ‖z‖: a longer jump may land
    # far outside the window (with y = 0 any point of a dead region has J = 0 and passes Armijo).
    cap = (1 + st.z.norm(dim=1)) / g2.sqrt().clamp_min(1e-300)
    alpha = torch.minimum(st.alpha * 2, cap)
    accepted = torch.zeros(B, dtype=torch.bool, device=st.z.device)
    z_new = st.z.clone()
    J_new = st.J.clone()
    todo = torch.arange(B, device=st.z.device)
    for _ in range(max_halvings):
        zt = st.z[todo] - alpha[todo, None] * st.g[todo]
        Jt = obj.J(zt, st.rows[todo])
        st.evals[todo] += 1
        ok = torch.isfinite(Jt) & (Jt <= st.J[todo] - c1 * alpha[todo] * g2[todo])
        acc = todo[ok]
        z_new[acc], J_new[acc] = zt[ok], Jt[ok]
        accepted[acc] = True
        todo = todo[~ok]
        if todo.numel() == 0:
            break
        alpha[todo] = alpha[todo] / 2
    st.alpha = torch.where(accepted, alpha, st.alpha)
    dz = torch.where(accepted[:, None], z_new - st.z, torch.zeros_like(st.z))
    idx = accepted.nonzero().reshape(-1)
    if idx.numel():
        st.z = st.z.clone()
        st.z[idx] = z_new[idx]
        J, g = obj.J_and_grad(st.z[idx], st.rows[idx])
        st.J, st.g = st.J.clone(), st.g.clone()
        st.J[idx], st.g[idx] = J, g
        st.evals[idx] += 1
    dn = dz.double().norm(dim=1)
    st.stalled = _escape(obj, st, ~accepted | _tiny(st, dn, tols), dn) & ~accepted
    return dn


def _step_lbfgs(obj, st, t, lr, damping, safeguard, tols, radius):
    g = st.g
    d = _two_loop(g, st.S, st.Y, st.rho, st.count)
    gtd = (g * d).sum(1)
    bad = ~(gtd < 0) | ~torch.isfinite(gtd)
    if bool(bad.any()):           # not a descent direction: forget the memory, go downhill
        d = torch.where(bad[:, None], -g, d)
        st.count = torch.where(bad, 0, st.count)
        gtd = (g * d).sum(1)
    # First step (or after a reset): torch.optim.LBFGS's min(1, 1/‖g‖₁); then the unit step.
    t0 = torch.where(st.count == 0, torch.clamp(1.0 / g.abs().sum(1).clamp_min(1e-300), max=1.0), torch.ones_like(gtd))
    step, J_new, g_new, n_ev = _strong_wolfe(obj, st.rows, st.z, d, st.J, g, gtd, t0)
    st.evals += n_ev
    ok = torch.isfinite(J_new) & (J_new < st.J)
    s = step[:, None] * d
    s = torch.where(ok[:, None], s, torch.zeros_like(s))
    y = torch.where(ok[:, None], g_new - g, torch.zeros_like(g))
    ys = (y * s).sum(1)
    upd = ok & (ys > 1e-10 * (y * y).sum(1).sqrt() * (s * s).sum(1).sqrt())
    if bool(upd.any()):
        st.S = torch.where(upd[:, None, None], torch.cat([st.S[:, 1:], s[:, None]], 1), st.S)
        st.Y = torch.where(upd[:, None, None], torch.cat([st.Y[:, 1:], y[:, None]], 1), st.Y)
        st.rho = torch.where(upd[:, None], torch.cat([st.rho[:, 1:], (1 / ys.clamp_min(1e-300))[:, None]], 1), st.rho)
        st.count = torch.where(upd, (st.count + 1).clamp(max=HISTORY), st.count)
    st.z = torch.where(ok[:, None], st.z + s, st.z)
    st.J = torch.where(ok, J_new, st.J)
    st.g = torch.where(ok[:, None], g_new, st.g)
    # A failed line search from a fresh memory calls for a probe; with memory, retry from −∇J first.
    stalled = ~ok & (st.count == 0)
    st.count = torch.where(~ok, 0, st.count)
    dn = torch.where(ok, s.double().norm(dim=1), torch.full_like(ys.double(), math.inf))
    st.stalled = _escape(obj, st, stalled | _tiny(st, dn, tols), dn) & stalled
    return dn


def _two_loop(g, S, Y, rho, count):
    """−H g for each row with its own (S, Y) memory (newest last; the first HISTORY − count unused)."""
    B, m, _ = S.shape
    q = g.clone()
    alphas = []
    valid = [(i >= m - count) for i in range(m)]
    for i in range(m - 1, -1, -1):
        a = rho[:, i] * (S[:, i] * q).sum(1) * valid[i]
        q = q - a[:, None] * Y[:, i]
        alphas.append(a)
    alphas = alphas[::-1]
    yy = (Y[:, -1] * Y[:, -1]).sum(1)
    gamma = torch.where(count > 0, (S[:, -1] * Y[:, -1]).sum(1) / yy.clamp_min(1e-300), torch.ones_like(yy))
    r = gamma[:, None] * q
    for i in range(m):
        b = rho[:, i] * (Y[:, i] * r).sum(1)
        r = r + (S[:, i] * (alphas[i] - b)[:, None]) * valid[i][:, None]
    return -r


def _cubic_min(x1, f1, g1, x2, f2, g2, lo=None, hi=None):
    """Minimiser of the cubic through (x1, f1, g1), (x2, f2, g2), clamped to [lo, hi] (default the
    interval between x1 and x2); the midpoint where the cubic has no real minimiser."""
    if lo is None:
        lo, hi = torch.minimum(x1, x2), torch.maximum(x1, x2)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2sq = d1 * d1 - g1 * g2
    d2 = d2sq.clamp_min(0).sqrt()
    a = torch.where(x1 <= x2, x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
                    x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)))
    a = torch.minimum(torch.maximum(a, lo), hi)
    mid = (lo + hi) / 2
    return torch.where((d2sq >= 0) & torch.isfinite(a), a, mid)


def _strong_wolfe(obj, rows, z, d, f0, g0, gtd0, t, c1=1e-4, c2=0.9, max_ls=MAX_LS):
    """Batched strong-Wolfe line search along d from z: per row, the step, J, ∇J there, evaluations.

    Every row follows torch.optim.LBFGS's ``_strong_wolfe`` (bracketing, then zoom with cubic
    interpolation and a guard against insufficient progress); one batched evaluation serves all
    rows that need a trial point in the same round.
    """
    B, n0 = z.shape
    dev, dt = z.device, z.dtype
    d_norm = d.abs().amax(1)
    phase = torch.zeros(B, dtype=torch.int64, device=dev)         # 0 bracket, 1 zoom, 2 done
    n_ev = torch.zeros(B, dtype=torch.int64, device=dev)
    t = t.clone()
    t_prev = torch.zeros_like(t)
    f_prev, g_prev, gtd_prev = f0.clone(), g0.clone(), gtd0.clone()
    f_new, g_new, gtd_new = f0.clone(), g0.clone(), gtd0.clone()
    bt = torch.zeros(B, 2, dtype=dt, device=dev)
    bf = torch.zeros(B, 2, dtype=f0.dtype, device=dev)
    bg = torch.zeros(B, 2, n0, dtype=dt, device=dev)
    bgtd = torch.zeros(B, 2, dtype=dt, device=dev)
    low = torch.zeros(B, dtype=torch.int64, device=dev)
    insuf = torch.zeros(B, dtype=torch.bool, device=dev)
    ar = torch.arange(B, device=dev)

    def set_bracket(mask, t_a, f_a, g_a, gtd_a, t_b, f_b, g_b, gtd_b):
        bt[mask] = torch.stack([t_a, t_b], 1)[mask]
        bf[mask] = torch.stack([f_a, f_b], 1)[mask]
        bg[mask] = torch.stack([g_a, g_b], 1)[mask]
        bgtd[mask] = torch.stack([gtd_a, gtd_b], 1)[mask]
        low[mask] = torch.where(bf[mask, 0] <= bf[mask, 1], 0, 1)

    for _ in range(max_ls + 1):
        live = (phase < 2).nonzero().reshape(-1)
        if live.numel() == 0:
            break
        # Rows in zoom whose bracket is too small, or out of evaluations: done at the low end.
        zoom = live[phase[live] == 1]
        if zoom.numel():
            width = (bt[zoom, 1] - bt[zoom, 0]).abs() * d_norm[zoom]
            end = (width < 1e-9 * (1 + t[zoom].abs())) | (n_ev[zoom] >= max_ls)
            phase[zoom[end]] = 2
            zoom = zoom[~end]
            if zoom.numel():   # next trial: cubic inside the bracket, kept away from its ends
                b0, b1 = bt[zoom, 0], bt[zoom, 1]
                tz = _cubic_min(b0, bf[zoom, 0], bgtd[zoom, 0], b1, bf[zoom, 1], bgtd[zoom, 1])
                hi_, lo_ = torch.maximum(b0, b1), torch.minimum(b0, b1)
                eps = 0.1 * (hi_ - lo_)
                near = torch.minimum(hi_ - tz, tz - lo_) < eps
                push = near & (insuf[zoom] | (tz >= hi_) | (tz <= lo_))
                tz = torch.where(push, torch.where((tz - hi_).abs() < (tz - lo_).abs(), hi_ - eps, lo_ + eps), tz)
                insuf[zoom] = near & ~push
                t[zoom] = tz
        live = (phase < 2).nonzero().reshape(-1)
        if live.numel() == 0:
            break
        zt = z[live] + t[live, None] * d[live]
        fl, gl = obj.J_and_grad(zt, rows[live])
        n_ev[live] += 1
        f_new[live], g_new[live] = fl, gl
        gtd_new[live] = (gl * d[live]).sum(1)
        # --- bracketing rows
        br = live[phase[live] == 0]
        if br.numel():
            fn, gn, tn = f_new[br], gtd_new[br], t[br]
            armijo_fail = ~torch.isfinite(fn) | (fn > f0[br] + c1 * tn * gtd0[br]) | ((n_ev[br] > 1) & (fn >= f_prev[br]))
            wolfe = ~armijo_fail & (gn.abs() <= -c2 * gtd0[br])
            up = ~armijo_fail & ~wolfe & (gn >= 0)
            to_zoom = armijo_fail | up
            m = torch.zeros(B, dtype=torch.bool, device=dev)
            m[br[to_zoom]] = True
            set_bracket(m, t_prev, f_prev, g_prev, gtd_prev, t, f_new, g_new, gtd_new)
            phase[br[to_zoom]] = 1
            w = br[wolfe]
            mw = torch.zeros(B, dtype=torch.bool, device=dev)
            mw[w] = True
            set_bracket(mw, t, f_new, g_new, gtd_new, t, f_new, g_new, gtd_new)
            low[w] = 0
            phase[w] = 2
            ext = br[~to_zoom & ~wolfe]
            if ext.numel():
                tn = t[ext]
                nt = _cubic_min(t_prev[ext], f_prev[ext], gtd_prev[ext], tn, f_new[ext], gtd_new[ext],
                                lo=tn + 0.01 * (tn - t_prev[ext]), hi=tn * 10)
                t_prev[ext], f_prev[ext], g_prev[ext], gtd_prev[ext] = tn, f_new[ext], g_new[ext], gtd_new[ext]
                t[ext] = nt
                out = ext[n_ev[ext] >= max_ls]   # no bracket found in the budget: [0, t]
                if out.numel():
                    mo = torch.zeros(B, dtype=torch.bool, device=dev)
                    mo[out] = True
                    zeros = torch.zeros_like(t)
                    set_bracket(mo, zeros, f0, g0, gtd0, t_prev, f_prev, g_prev, gtd_prev)
                    phase[out] = 2
        # --- zoom rows that were evaluated this round (entered zoom before it)
        zr = zoom
        if zr.numel():
            fn, gn, tn = f_new[zr], gtd_new[zr], t[zr]
            lo_i, hi_i = low[zr], 1 - low[zr]
            f_lo = bf[zr, lo_i]
            worse = ~torch.isfinite(fn) | (fn > f0[zr] + c1 * tn * gtd0[zr]) | (fn >= f_lo)
            # worse: the trial becomes the high end
            wz = zr[worse]
            if wz.numel():
                hi_w = 1 - low[wz]
                bt[wz, hi_w], bf[wz, hi_w], bg[wz, hi_w], bgtd[wz, hi_w] = t[wz], f_new[wz], g_new[wz], gtd_new[wz]
                low[wz] = torch.where(bf[wz, 0] <= bf[wz, 1], 0, 1)
            bz = zr[~worse]
            if bz.numel():
                gnb = gtd_new[bz]
                done = gnb.abs() <= -c2 * gtd0[bz]
                lo_b, hi_b = low[bz], 1 - low[bz]
                flip = ~done & (gnb * (bt[bz, hi_b] - bt[bz, lo_b]) >= 0)
                fz = bz[flip]
                if fz.numel():
                    lf, hf = low[fz], 1 - low[fz]
                    bt[fz, hf], bf[fz, hf], bg[fz, hf], bgtd[fz, hf] = bt[fz, lf], bf[fz, lf], bg[fz, lf], bgtd[fz, lf]
                lo_b = low[bz]
                bt[bz, lo_b], bf[bz, lo_b], bg[bz, lo_b], bgtd[bz, lo_b] = t[bz], f_new[bz], g_new[bz], gtd_new[bz]
                phase[bz[done]] = 2
    lo_i = low
    step = bt[ar, lo_i]
    return step, bf[ar, lo_i], bg[ar, lo_i], n_ev


def _step_gauss_newton(obj, st, t, lr, damping, safeguard, tols, radius, max_tries: int = 30):
    """One accepted Levenberg–Marquardt step per row (or give up after max_tries rejections)."""
    B, n0 = st.z.shape
    dev, dt = st.z.device, st.z.dtype
    eye = torch.eye(n0, dtype=dt, device=dev)
    accepted = torch.zeros(B, dtype=torch.bool, device=dev)
    dz = torch.zeros_like(st.z)
    z_new = st.z.clone()
    todo = torch.arange(B, device=dev)
    for _ in range(max_tries):
        H, g, lam = st.H[todo], st.g[todo], st.lam[todo]
        diag = torch.diagonal(H, dim1=1, dim2=2)
        D = torch.maximum(diag, 1e-12 * diag.amax(1, keepdim=True).clamp_min(1e-300))
        A = H + (lam[:, None] * D)[:, :, None] * eye + (1e-14 * D.amax(1))[:, None, None] * eye
        p, info = torch.linalg.solve_ex(A, -g[:, :, None])
        p = p[:, :, 0]
        ok_solve = (info == 0) & torch.isfinite(p).all(1)
        p = torch.where(ok_solve[:, None], p, -g / D.clamp_min(1e-300) / (1 + lam[:, None]))
        zt = st.z[todo] + p
        Jt = obj.J(zt, st.rows[todo])
        st.evals[todo] += 1
        pred = -(g * p).sum(1) - 0.5 * (p[:, None, :] @ H @ p[:, :, None])[:, 0, 0]
        actual = st.J[todo] - Jt
        rho = actual / pred.clamp_min(1e-300)
        ok = torch.isfinite(Jt) & (actual > 0)
        acc = todo[ok]
        z_new[acc], dz[acc] = zt[ok], p[ok]
        accepted[acc] = True
        r_ok = rho[ok]
        st.lam[acc] = st.lam[acc] * torch.clamp(1 - (2 * r_ok - 1) ** 3, min=1 / 3)
        st.nu[acc] = 2.0
        rej = todo[~ok]
        if rej.numel() == 0:
            break
        st.lam[rej] = torch.where(st.lam[rej] == 0, torch.full_like(st.lam[rej], 1e-3), st.lam[rej] * st.nu[rej])
        st.nu[rej] = st.nu[rej] * 2
        todo = rej[st.lam[rej] < 1e16]
        if todo.numel() == 0:
            break
    idx = accepted.nonzero().reshape(-1)
    if idx.numel():
        J, g, H = obj.normal_equations(z_new[idx], st.rows[idx])
        st.evals[idx] += 1
        st.z = st.z.clone()
        st.z[idx] = z_new[idx]
        st.J, st.g, st.H = st.J.clone(), st.g.clone(), st.H.clone()
        st.J[idx], st.g[idx], st.H[idx] = J, g, H
    dn = torch.where(accepted, dz.double().norm(dim=1), torch.full((B,), math.inf, dtype=torch.float64, device=dev))
    stuck = ~accepted | _tiny(st, dn, tols)
    still = _escape(obj, st, stuck, dn)
    st.stalled = still & ~accepted
    if bool((stuck & ~still).any()):     # escaped rows: fresh normal equations, fresh damping
        e = (stuck & ~still).nonzero().reshape(-1)
        J, g, H = obj.normal_equations(st.z[e], st.rows[e])
        st.evals[e] += 1
        st.J[e], st.g[e], st.H[e] = J, g, H
        st.lam[e] = damping
    return dn


PROBE_RADII = (1e-1, 1e-2, 1e-3, 1e-4)


def _tiny(st, moved, tols) -> torch.Tensor:
    """Rows whose last step is below the step rule's threshold (they would stop as ``step``)."""
    return moved <= tols["xtol"] * (1 + st.z.double().norm(dim=1))
N_PROBES = 16


def _escape(obj, st, stuck: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
    """Move the rows that found no downhill step by the best of a few probes; return the still stuck.

    J of a ReLU or leaky-ReLU generator is piecewise smooth, and on a kink the one-sided ∇J can
    point uphill while J still falls along the kink. So where the line search (or damping) fails,
    J is probed at z + h u for the axis directions, ±z/‖z‖, −∇J/‖∇J‖ and seeded random unit u,
    at radii h = 1e-1 … 1e-4 (1 + ‖z‖); the lowest probe below J is taken (and the method's
    memory restarts there). A row stays stuck only when no probe descends: that is what the
    diagnosis calls a kink minimum.
    """
    idx = stuck.nonzero().reshape(-1)
    if idx.numel() == 0:
        return stuck
    z, J, g = st.z[idx], st.J[idx], st.g[idx]
    B, n0 = z.shape
    dt, dev = z.dtype, z.device
    eye = torch.eye(n0, dtype=dt, device=dev)
    R = torch.randn(N_PROBES, n0, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(dtype=dt, device=dev)
    R = R / R.norm(dim=1, keepdim=True)
    U = torch.cat([eye, -eye, R]).expand(B, -1, -1)
    radial = z / z.norm(dim=1, keepdim=True).clamp_min(1e-300)
    down = -g / g.norm(dim=1, keepdim=True).clamp_min(1e-300)
    U = torch.cat([U, radial[:, None], -radial[:, None], down[:, None]], 1)                 # (B, K, n0)
    h = torch.tensor(PROBE_RADII, dtype=dt, device=dev)
    steps = (1 + z.norm(dim=1))[:, None, None, None] * h[None, :, None, None] * U[:, None]  # (B, H, K, n0)
    K = steps.shape[1] * steps.shape[2]
    zp = (z[:, None, None, :] + steps).reshape(-1, n0)
    Jp = obj.J(zp, st.rows[idx].repeat_interleave(K)).reshape(B, K)
    st.evals[idx] += K
    Jp = torch.where(torch.isfinite(Jp), Jp, torch.full_like(Jp, math.inf))
    best, k = Jp.min(1)
    ok = best < J - 1e-15 * J.abs().clamp_min(1e-300)
    go = idx[ok]
    if go.numel():
        z_new = zp.reshape(B, K, n0)[ok, k[ok]]
        Jn, gn = obj.J_and_grad(z_new, st.rows[go])
        st.evals[go] += 1
        moved[go] = (z_new - st.z[go]).double().norm(dim=1)
        st.z = st.z.clone()
        st.z[go], st.J[go], st.g[go] = z_new, Jn, gn
        if hasattr(st, "count"):
            st.count[go] = 0
    out = stuck.clone()
    out[go] = False
    return out


_STEP = {"adam": _step_adam, "gd": _step_gd, "lbfgs": _step_lbfgs, "gauss_newton": _step_gauss_newton}


@dataclass(frozen=True)
class Restarts:
    """The best of R restarts for each of T trials (see :func:`solve_restarts`).

    ``best`` is a :class:`Solve` over the T trials (its ``iterations`` and ``evaluations`` are summed
    over the restarts a trial used); ``restart`` (T,) is the index of the winning restart and
    ``used`` (T,) how many restarts ran; ``seconds`` the wall time of the whole run.
    """

    best: Solve
    restart: np.ndarray
    used: np.ndarray
    seconds: float


def solve_restarts(objective, starts, **settings) -> Restarts:
    """T trials × R restarts: restart k runs only for the trials that no earlier restart fitted.

    Parameters
    ----------
    objective : Objective
        Row t is trial t (``group`` = arange(T), or one problem per row).
    starts : Tensor (T, R, n0)
    **settings
        Passed to :func:`solve` (no paths are kept).

    Notes
    -----
    A trial stops at the first restart that stops on ``fit`` (J ≤ ftol · ½‖y‖²): with noiseless
    measurements nothing can beat it. Otherwise every restart runs and the lowest J wins.
    """
    settings = {**settings, "keep_path": False, "record": False}
    T, R, n0 = starts.shape
    t0 = time.perf_counter()
    out = None
    restart = np.zeros(T, dtype=np.int64)
    used = np.zeros(T, dtype=np.int64)
    todo = np.arange(T)
    for k in range(R):
        rows = torch.as_tensor(todo, device=starts.device)
        res = solve(_Subset(objective, rows), starts[rows, k], **settings)
        if out is None:
            out = {f: getattr(res, f).copy() for f in ("z", "J", "grad_norm", "stop", "log_slope", "negated",
                                                        "iterations", "evaluations")}
        else:
            prev = out["J"][todo]
            better = np.isfinite(res.J) & (~np.isfinite(prev) | (res.J < prev))
            for f in ("z", "J", "grad_norm", "stop", "log_slope", "negated"):
                out[f][todo[better]] = getattr(res, f)[better]
            restart[todo[better]] = k
            out["iterations"][todo] += res.iterations
            out["evaluations"][todo] += res.evaluations
        used[todo] += 1
        todo = todo[res.stop != "fit"]
        if todo.size == 0:
            break
    best = Solve(J_path=None, paths=None, error_path=None, seconds=np.array([time.perf_counter() - t0]),
                 method=settings.get("method", "lbfgs"), **out)
    return Restarts(best=best, restart=restart, used=used, seconds=time.perf_counter() - t0)
