"""Why each start ended where it did: one label per end point, computed from the end point.

A verdict about the landscape ("this mask fails") must not be a verdict about the optimiser's
budget. So every end point ẑ of a solve gets exactly one label, from tests on ẑ itself:

===============  ==========================================================================
``diverged``     a non-finite value, or ‖ẑ‖ beyond the radius (orders of magnitude outside
                 the window)
``recovered``    ‖ẑ − z*‖ ≤ tol ‖z*‖
``other_fit``    J(ẑ) is at the noise floor (J(z*), 0 for noiseless y) but ẑ is far from z*: a
                 witness that G is not injective on the observed pixels (mode collapse)
``critical``     J(ẑ) well above the floor and no descent from ẑ: either ∇J(ẑ) ≈ 0 (a smooth
                 critical point, classed by the eigenvalues of its Hessian as ``minimum``,
                 ``saddle`` or ``maximum``), or J rises in every probed direction although
                 ∇J ≠ 0 (a ``kink`` minimum, where the ReLU pieces of J meet)
``unconverged``  anything else: the budget ran out while J was still falling (recent slope of
                 log10 J below −1e-4 per iteration), or a descent direction exists from ẑ
``fit``          only when z* is unknown (real images): J(ẑ) at the floor
===============  ==========================================================================

Each critical point also says whether it lies near the ray {−t z* : t > 0}, where Theorem 1
allows a spurious critical point (within ε‖z*‖ of the ray).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from .generators.engine import one_thread

LABELS = ("recovered", "other_fit", "critical", "unconverged", "diverged")
HESSIAN_CLASSES = ("minimum", "saddle", "maximum", "kink")

# What counts as "at the floor" (relative to ½‖y‖²) and as ∇J ≈ 0, per dtype.
_LEVELS = {
    torch.float64: dict(fit=1e-14, grad=1e-9, probe=(1e-4, 1e-3), drop=1e-16, drop_J=1e-9, fd=1e-5),
    torch.float32: dict(fit=1e-9, grad=1e-5, probe=(3e-4, 3e-3), drop=1e-12, drop_J=1e-4, fd=1e-3),
}
N_RANDOM_PROBES = 32
FALLING = -1e-4     # log10 J per iteration: a budget-stopped start whose J still falls faster is unconverged


@dataclass(frozen=True)
class Diagnosis:
    """One label per end point, and the numbers behind it.

    Attributes
    ----------
    label : ndarray (S,) str
        One of :data:`LABELS` (``fit`` where z* is unknown).
    rel_error : ndarray (S,)
        ‖ẑ − z*‖ / ‖z*‖ (NaN where z* is unknown).
    J, grad_norm : ndarray (S,)
        J(ẑ) and ‖∇J(ẑ)‖.
    log_slope : ndarray (S,)
        Recent slope of log10 J per iteration (see :class:`core.solvers.Solve`).
    hessian : ndarray (S,) str
        For ``critical``: one of :data:`HESSIAN_CLASSES`; "" otherwise.
    eig_min, eig_max : ndarray (S,)
        Extreme eigenvalues of the (finite-difference) Hessian at a smooth critical point; NaN
        otherwise.
    near_negative : ndarray (S,) bool
        ẑ lies within ε‖z*‖ of the ray {−t z* : t > 0}.
    ray_t : ndarray (S,)
        t of the projection of ẑ on that ray (ẑ ≈ −t z*).
    end_cond : ndarray (S,)
        σ_max / σ_min of A ∂G/∂z at ẑ (its observed rows; inf where fewer pixels than unknowns are
        observed) for the ``unconverged`` rows of an experiment that gives verdicts
        (:func:`continue_unconverged` with ``escalate``); NaN elsewhere.
    flat : ndarray (S,) bool
        Of those rows, the ones in a valley of J flat to the precision: a move of tol ‖z*‖ (the
        success tolerance; tol ‖ẑ‖ where z* is unknown) along A ∂G/∂z's weakest direction changes J
        (to second order, ½ σ_min² tol² ‖z*‖²) by no more than the floor test resolves (``fit`` ·
        ½‖y‖², per dtype). The observed pixels do not fix z along that direction to the tolerance of
        success, and descent creeps there.
    """

    label: np.ndarray
    rel_error: np.ndarray
    J: np.ndarray
    grad_norm: np.ndarray
    log_slope: np.ndarray
    hessian: np.ndarray
    eig_min: np.ndarray
    eig_max: np.ndarray
    near_negative: np.ndarray
    ray_t: np.ndarray
    end_cond: np.ndarray | None = None
    flat: np.ndarray | None = None

    def __post_init__(self):
        shape = np.asarray(self.label).shape
        if self.end_cond is None:
            object.__setattr__(self, "end_cond", np.full(shape, np.nan))
        if self.flat is None:
            object.__setattr__(self, "flat", np.zeros(shape, dtype=bool))

    @property
    def n_flat(self) -> int:
        """How many ``unconverged`` rows are in a flat valley (:attr:`flat`)."""
        return int(((self.label == "unconverged") & self.flat).sum())

    @property
    def counts(self) -> dict:
        out = {k: int((self.label == k).sum()) for k in LABELS}
        if (self.label == "fit").any():
            out["fit"] = int((self.label == "fit").sum())
        return out

    def arrays(self, prefix: str = "") -> dict:
        """The .npz payload: ``diagnosis`` and its numbers (``prefix`` for a second solve in one file)."""
        p = prefix
        return {f"{p}diagnosis": self.label.astype(str), f"{p}rel_error": self.rel_error, f"{p}J_end": self.J,
                f"{p}grad_norm": self.grad_norm, f"{p}log_slope": self.log_slope,
                f"{p}hessian": self.hessian.astype(str), f"{p}eig_min": self.eig_min, f"{p}eig_max": self.eig_max,
                f"{p}near_negative": self.near_negative, f"{p}ray_t": self.ray_t, f"{p}end_cond": self.end_cond,
                f"{p}flat": self.flat}


def near_negative_ray(z_end: np.ndarray, z_star: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Whether each ẑ (S, n0) lies within ε‖z*‖ of {−t z*: t > 0}, and its t; z* (S, n0) or (n0,)."""
    z_end = np.asarray(z_end, dtype=float)
    zs = np.broadcast_to(np.asarray(z_star, dtype=float), z_end.shape)
    nz = np.linalg.norm(zs, axis=1)
    e = -zs / nz[:, None]
    t = (z_end * e).sum(1)
    dist = np.linalg.norm(z_end - np.clip(t, 0, None)[:, None] * e, axis=1)
    return (t > 0) & (dist <= eps * nz), t / nz


@one_thread()     # small kernels (Hessians, probes): one intra-op thread, as core.solvers.solve
def diagnose(objective, result, tol: float = 1e-3, eps: float = 0.15, radius: float = np.inf,
             seed: int = 0) -> Diagnosis:
    """Label every end point of ``result`` (a :class:`core.solvers.Solve` on ``objective``).

    Parameters
    ----------
    objective : Objective
        The objective that was solved (its z*, floor and scale per row).
    result : Solve
    tol : float
        Recovered if ‖ẑ − z*‖ ≤ tol ‖z*‖.
    eps : float
        Radius factor of the neighbourhood of the −z* ray.
    radius : float
        ‖ẑ‖ beyond this is ``diverged``.
    seed : int
        Seed of the random probe directions.

    Returns
    -------
    Diagnosis

    Notes
    -----
    The floor test is ``J ≤ J(z*)(1 + 1e-6) + fit · ½‖y‖²`` and ∇J ≈ 0 is
    ``‖∇J‖(1 + ‖ẑ‖) ≤ grad · ½‖y‖²`` (``fit``, ``grad`` per dtype in ``_LEVELS``: what
    float32 and float64 can resolve). The probe evaluates J at ẑ + h u for the 2 n0 axis
    directions, −∇J/‖∇J‖, ±ẑ/‖ẑ‖ and 32 seeded random unit vectors u, at two radii h (relative to
    1 + ‖ẑ‖); "no descent" means no probe lowers J by more than ``max(drop_J · J, drop · ½‖y‖²)`` (what
    the dtype resolves) at either radius. A start stopped by its budget with log10 J still falling by
    more than 1e-4 per iteration is unconverged without probing.
    The Hessian is the central difference of ∇J with step ``fd`` (1 + ‖ẑ‖), symmetrised.
    """
    ev_dtype = _dtype_of(objective)
    lv = _LEVELS.get(ev_dtype, _LEVELS[torch.float32])
    S = result.z.shape[0]
    dev = _device_of(objective)
    rows = torch.arange(S, device=dev)
    z = torch.as_tensor(result.z, dtype=ev_dtype, device=dev)
    J = np.asarray(result.J, dtype=float)
    gn = np.asarray(result.grad_norm, dtype=float)
    scale = objective.scale_of(rows).double().cpu().numpy()
    floor = objective.floor_of(rows).double().cpu().numpy()
    zs_t = objective.z_star_of(rows)
    known = zs_t is not None and bool(torch.isfinite(zs_t).all())
    zs = zs_t.double().cpu().numpy() if known else None
    zn = np.linalg.norm(result.z, axis=1)

    label = np.full(S, "unconverged", dtype=object)
    hess = np.full(S, "", dtype=object)
    eig_min = np.full(S, np.nan)
    eig_max = np.full(S, np.nan)
    if known:
        rel = np.linalg.norm(result.z - zs, axis=1) / np.linalg.norm(zs, axis=1)
        near, ray_t = near_negative_ray(result.z, zs, eps)
    else:
        rel = np.full(S, np.nan)
        near, ray_t = np.zeros(S, bool), np.full(S, np.nan)

    finite = np.isfinite(J) & np.isfinite(result.z).all(1) & np.isfinite(gn)
    diverged = ~finite | (zn > radius) | (np.asarray(result.stop) == "diverged")
    at_floor = finite & (J <= floor * (1 + 1e-6) + lv["fit"] * scale)
    recovered = ~diverged & known & (rel <= tol)
    label[diverged] = "diverged"
    label[recovered] = "recovered"
    fits = ~diverged & ~recovered & at_floor
    label[fits] = "other_fit" if known else "fit"

    rest = ~diverged & ~recovered & ~fits
    smooth = rest & (gn * (1 + zn) <= lv["grad"] * scale)
    idx = np.nonzero(smooth)[0]
    if idx.size:
        H = _hessian(objective, z[idx], rows[idx], lv["fd"])
        ev = torch.linalg.eigvalsh(H).cpu().numpy()
        lo, hi = ev[:, 0], ev[:, -1]
        big = np.maximum(np.abs(ev).max(1), 1e-300)
        cls = np.where(lo > -1e-6 * big, "minimum", np.where(hi < 1e-6 * big, "maximum", "saddle"))
        label[idx] = "critical"
        hess[idx] = cls
        eig_min[idx], eig_max[idx] = lo, hi
    slope = np.asarray(result.log_slope, dtype=float)
    falling = rest & ~smooth & (np.asarray(result.stop) == "budget") & (slope < FALLING)
    idx = np.nonzero(rest & ~smooth & ~falling)[0]
    if idx.size:
        no_descent = _no_descent(objective, z[idx], rows[idx], torch.as_tensor(J[idx], dtype=torch.float64),
                                 lv, scale[idx], seed)
        k = idx[no_descent]
        label[k] = "critical"
        hess[k] = "kink"
    return Diagnosis(label=label.astype(str), rel_error=rel, J=J, grad_norm=gn,
                     log_slope=np.asarray(result.log_slope, dtype=float), hessian=hess.astype(str),
                     eig_min=eig_min, eig_max=eig_max, near_negative=near & (label == "critical"), ray_t=ray_t)


def _dtype_of(objective) -> torch.dtype:
    y = getattr(objective.evaluator, "y", None)
    return y.dtype if isinstance(y, torch.Tensor) else torch.float64


def _device_of(objective) -> torch.device:
    y = getattr(objective.evaluator, "y", None)
    return y.device if isinstance(y, torch.Tensor) else torch.device("cpu")


def _hessian(objective, z, rows, rel_step) -> torch.Tensor:
    """Central-difference Hessian of J from ∇J: (B, n0) → (B, n0, n0) float64, symmetrised."""
    B, n0 = z.shape
    h = rel_step * (1 + z.double().norm(dim=1))
    eye = torch.eye(n0, dtype=z.dtype, device=z.device)
    zp = (z[:, None, :] + h.to(z.dtype)[:, None, None] * eye).reshape(-1, n0)
    zm = (z[:, None, :] - h.to(z.dtype)[:, None, None] * eye).reshape(-1, n0)
    r = rows.repeat_interleave(n0)
    _, gp = objective.J_and_grad(zp, r)
    _, gm = objective.J_and_grad(zm, r)
    H = (gp.double() - gm.double()).reshape(B, n0, n0) / (2 * h[:, None, None])
    return 0.5 * (H + H.transpose(1, 2))


def _no_descent(objective, z, rows, J0, lv, scale, seed) -> np.ndarray:
    """True where no probe direction lowers J at either probe radius (see :func:`diagnose`)."""
    return _probe(objective, z, rows, J0, lv, scale, seed)[0]


def _probe(objective, z, rows, J0, lv, scale, seed):
    """The probe of :func:`diagnose` → (no descent (B,) bool, the lowest probe point (B, n0), its J (B,)).

    Where a probe lowers J, the lowest probe point is where a stalled solver can go on from: in a
    valley a few degrees wide along a kink of J, L-BFGS stops with no step it can take, and the
    probe's direction is down the valley."""
    B, n0 = z.shape
    dev = z.device
    _, g = objective.J_and_grad(z, rows)
    gd = -g.double() / g.double().norm(dim=1, keepdim=True).clamp_min(1e-300)
    eye = torch.eye(n0, dtype=torch.float64, device=dev)
    gen = torch.Generator().manual_seed(seed)
    R = torch.randn(N_RANDOM_PROBES, n0, generator=gen, dtype=torch.float64).to(dev)
    R = R / R.norm(dim=1, keepdim=True)
    U = torch.cat([eye, -eye, R])                                    # (K, n0), the same for every row
    # Per row: downhill, and along ±ẑ (for a generator without biases J is quadratic along rays
    # from 0, so the floor of a kink valley is a ray).
    radial = z.double() / z.double().norm(dim=1, keepdim=True).clamp_min(1e-300)
    U = torch.cat([U.expand(B, -1, -1), gd[:, None], radial[:, None], -radial[:, None]], 1)
    K = U.shape[1]
    ok = torch.ones(B, dtype=torch.bool, device=dev)
    J0 = J0.to(dev).double()
    best_z, best_J = z.double().clone(), J0.clone()
    for rel_h in lv["probe"]:
        h = rel_h * (1 + z.double().norm(dim=1))
        zp = (z.double()[:, None, :] + h[:, None, None] * U).reshape(-1, n0).to(z.dtype)
        Jp = objective.J(zp, rows.repeat_interleave(K)).double().reshape(B, K)
        drop = J0[:, None] - Jp
        # A drop counts when it beats the rounding of J: relative to J, with an absolute floor.
        level = torch.maximum(lv["drop_J"] * J0, lv["drop"] * torch.as_tensor(scale, dtype=torch.float64, device=dev))
        ok &= ~(drop > level[:, None]).any(1)
        Jm, km = Jp.nan_to_num(nan=float("inf")).min(1)
        lower = Jm < best_J
        best_z = torch.where(lower[:, None], zp.double().reshape(B, K, n0)[torch.arange(B, device=dev), km], best_z)
        best_J = torch.where(lower, Jm, best_J)
    return ok.cpu().numpy(), best_z, best_J


def refine_in_float64(objective, evaluator64, result, diag: Diagnosis, radius: float, settings: dict,
                      tol: float = 1e-3, eps: float = 0.15, rounds: int | None = 0, escalate: bool = False):
    """Continue the float32 misses in float64 from their end points, and judge them there.

    float32 resolves J only to about 1e-9 of ½‖y‖², so in a flat direction a float32 end point can
    look like another fit (or a stall) while float64 still descends to z*. Every row not
    ``recovered`` and not ``diverged`` is solved again with ``settings`` on ``objective``'s float64
    twin (same targets, masks, classes, z*; ``evaluator64`` computes in float64) and re-diagnosed.
    Rows that stopped because the budget ran out keep their end point (more iterations would change
    the budget, not the precision) and are only judged again there, in float64. Rows then labelled
    ``unconverged`` in float64 get up to ``rounds`` more budgets there (:func:`continue_unconverged`;
    None: :data:`CONTINUE_ROUNDS`; 0, the default: none).

    Returns
    -------
    (Solve, Diagnosis, refined (S,) bool)
    """
    from .problem import Objective
    from .solvers import Solve, solve

    S = result.z.shape[0]
    stop = np.asarray(result.stop)
    miss = (diag.label != "recovered") & (diag.label != "diverged")
    rows = np.nonzero(miss)[0]
    refined = np.zeros(S, dtype=bool)
    if rows.size == 0:
        return result, diag, refined
    dev = evaluator64.y.device
    idx = torch.as_tensor(rows, device=dev)
    o = objective
    g = o.groups(idx)
    cast = lambda t: None if t is None else t[g].double() if t.is_floating_point() else t[g]   # noqa: E731
    twin = Objective(evaluator64, o.n0, group=torch.arange(rows.size, device=dev), target=cast(o.target),
                     weight=cast(o.weight), labels=cast(o.labels), scale=o.scale.to(dev)[g], floor=o.floor.to(dev)[g],
                     z_star=cast(o.z_star))
    z0 = torch.as_tensor(result.z[rows], dtype=torch.float64, device=dev)
    # Budget-stopped rows keep their end point (only judged again, in float64, where they are); the
    # others are solved on from it.
    go = np.nonzero(stop[rows] != "budget")[0]
    all_rows = torch.arange(rows.size, device=dev)
    J0, g0 = twin.J_and_grad(z0, all_rows)
    fields_ = dict(z=z0.cpu().numpy(), J=J0.cpu().numpy(), grad_norm=g0.norm(dim=1).cpu().numpy(),
                   stop=stop[rows].astype(object), log_slope=np.asarray(result.log_slope)[rows].copy(),
                   iterations=np.zeros(rows.size, np.int64), evaluations=np.zeros(rows.size, np.int64))
    if go.size:
        from .solvers import _Subset
        gi = torch.as_tensor(go, device=dev)
        r = solve(_Subset(twin, gi), z0[gi], radius=radius, **{**settings, "keep_path": False, "record": False})
        for k in fields_:
            fields_[k][go] = getattr(r, k)
    res = Solve(J_path=None, paths=None, error_path=None, seconds=np.zeros(1), negated=np.zeros(rows.size, bool),
                method=result.method, **{**fields_, "stop": fields_["stop"].astype(str)})
    d2 = diagnose(twin, res, tol=tol, eps=eps, radius=radius)
    # (with rounds = 0 this only judges, with escalate, how flat the valley of each row still unconverged is)
    res, d2, _ = continue_unconverged(twin, res, d2, radius, settings, rounds=rounds, tol=tol, eps=eps, escalate=escalate)
    refined[rows] = True
    result, diag = _merge_rows(result, diag, rows, res, d2)
    return result, diag, refined


def _merge_rows(result, diag: Diagnosis, rows, res, d2: Diagnosis):
    """``result`` and ``diag`` with ``rows`` replaced by a solve ``res`` from those rows' end points and
    its diagnosis ``d2``: the end point, J, stop and slope are the new ones, the iterations and
    evaluations add up, and no path is kept."""
    from dataclasses import fields

    from .solvers import Solve

    def put(a, b):   # strings as objects while assigning, so no label is cut to the old width
        a = np.array(a, dtype=object if a.dtype.kind == "U" else a.dtype, copy=True)
        a[rows] = b
        return a.astype(str) if a.dtype == object else a

    out = {f.name: getattr(result, f.name) for f in fields(result)}
    for k in ("z", "J", "grad_norm", "stop", "log_slope"):
        out[k] = put(np.asarray(out[k]), np.asarray(getattr(res, k)))
    for k in ("iterations", "evaluations"):
        out[k] = put(np.asarray(out[k]), np.asarray(out[k])[rows] + getattr(res, k))
    for k in ("J_path", "paths", "error_path"):
        out[k] = None
    dd = {f.name: put(np.asarray(getattr(diag, f.name)), np.asarray(getattr(d2, f.name))) for f in fields(diag)}
    return Solve(**out), Diagnosis(**dd)


CONTINUE_ROUNDS = 3    # extra budgets a start still converging gets (the verdict is then the landscape's)


ESCALATE = {"lbfgs": "gauss_newton"}   # the solver a default solver's rows still converging are handed to


def continue_unconverged(objective, result, diag: Diagnosis, radius: float, settings: dict,
                         rounds: int | None = None, tol: float = 1e-3, eps: float = 0.15,
                         escalate: bool = False, flat: bool | None = None):
    """Solve the ``unconverged`` rows on from their end points, up to ``rounds`` more budgets.

    A start labelled ``unconverged`` stopped because its budget ran out while J was still falling
    (or a descent direction exists from its end point): counting it as a failure would be a verdict
    about the budget, not the landscape. Each round runs ``settings`` (the same solver and
    number of steps) on the rows still ``unconverged``, from where they stopped, and labels them
    again; rows that reach any other label leave. A row its solver stopped before the budget (no step
    it could take) but whose probe found a lower J starts from the probe's lowest point instead: from
    its own end point the solver would stop again at once (L-BFGS in a narrow valley along a kink).

    With ``escalate``, rows still ``unconverged`` after those rounds are handed to the solver
    :data:`ESCALATE` names for the method (L-BFGS → Gauss–Newton), for up to ``rounds`` budgets more
    (each of ``steps // (n0 + 1)`` iterations, the work of one budget of the first solver):
    with as many observed pixels as unknowns L-BFGS can creep along a flat valley (J falling by
    0.1–0.5 % an iteration), where Gauss–Newton's damped normal equations may settle. The
    experiments that give verdicts (phase, inversion) ask for it; the paper's recipe
    (Adam) and the per-solver tables do not. Rows still ``unconverged`` after all that (default
    :data:`CONTINUE_ROUNDS`) keep that label, and the caller reports them as budget-limited (a
    fixed-step method that circles a minimum without settling stays there: Adam at a fixed lr).
    Those rows then get :attr:`Diagnosis.end_cond` and :attr:`Diagnosis.flat` where ``flat`` (default:
    ``escalate``) asks for them; a caller that judges its misses again in float64 next
    (:func:`refine_in_float64`) leaves it to that step.

    Returns
    -------
    (Solve, Diagnosis, rounds_run (S,) int)
        The merged solve (iterations and evaluations summed over the rounds), its diagnosis, and
        how many extra budgets each row used.
    """
    from .solvers import _Subset, solve

    rounds = CONTINUE_ROUNDS if rounds is None else rounds
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or not 0 <= rounds <= 100:
        raise ValueError(f"rounds: must be an integer in [0, 100], got {rounds!r}")
    S = np.asarray(result.z).shape[0]
    ran = np.zeros(S, dtype=np.int64)
    dt, dev = _dtype_of(objective), _device_of(objective)
    lv = _LEVELS.get(dt, _LEVELS[torch.float32])
    settings = {**settings, "keep_path": False, "record": False}
    plan = [settings] * int(rounds)
    if escalate and settings.get("method") in ESCALATE:
        # Gauss–Newton's iteration costs n0 + 1 of the first solver's evaluations (its tangents): as
        # many iterations as make one of its budgets the work of one budget of the first solver
        # (core.cost counts them so).
        steps = max(1, int(settings.get("steps", 1)) // (int(objective.n0) + 1))
        plan += [{**settings, "method": ESCALATE[settings["method"]], "negate": False, "steps": steps}] * int(rounds)
    for round_settings in plan:
        rows = np.nonzero(np.asarray(diag.label) == "unconverged")[0]
        if rows.size == 0:
            break
        sub = _Subset(objective, torch.as_tensor(rows, device=dev))
        z0 = torch.as_tensor(np.asarray(result.z)[rows], dtype=dt, device=dev)
        # A row that stopped before its budget (its solver found no step) but that the probe saw J fall
        # from goes on from the probe's lowest point: the same solver would stop at once where it was.
        stalled = np.asarray(result.stop)[rows] != "budget"
        if stalled.any():
            k = torch.as_tensor(np.flatnonzero(stalled), device=dev)
            J0 = torch.as_tensor(np.asarray(result.J, dtype=float)[rows][stalled], dtype=torch.float64)
            scale = sub.scale_of(k).double().cpu().numpy()
            _, best, _ = _probe(sub, z0[k], k, J0, lv, scale, 0)
            z0[k] = best.to(dt)
        res = solve(sub, z0, radius=radius, **round_settings)
        result, diag = _merge_rows(result, diag, rows, res, diagnose(sub, res, tol=tol, eps=eps, radius=radius))
        ran[rows] += 1
    rows = np.nonzero(np.asarray(diag.label) == "unconverged")[0]
    if (escalate if flat is None else flat) and rows.size:   # why they still creep: how flat J's valley is there
        from .injectivity import _rows, _summary, chunk_for

        zr = np.asarray(result.z)[rows]
        idx, zt = torch.as_tensor(rows, device=dev), torch.as_tensor(zr, dtype=dt, device=dev)
        ev, n0 = objective.evaluator, int(objective.n0)
        with one_thread():
            s = _rows(lambda a, b: objective.residual_and_jacobian(zt[a:b], idx[a:b])[1], rows.size, int(ev.m), n0,
                      chunk_for(ev, n0))
        lo, _, c = _summary(s)
        cond, flat = np.array(diag.end_cond, dtype=float, copy=True), np.array(diag.flat, dtype=bool, copy=True)
        cond[rows] = c
        scale = objective.scale_of(idx).double().cpu().numpy()
        zs = objective.z_star_of(idx)      # success is judged against ‖z*‖; ‖ẑ‖ where z* is unknown
        size = (zs.double().norm(dim=1).cpu().numpy() if zs is not None and bool(torch.isfinite(zs).all())
                else np.linalg.norm(zr, axis=1))
        flat[rows] = 0.5 * (lo * tol * size) ** 2 <= lv["fit"] * scale
        diag = dataclasses.replace(diag, end_cond=cond, flat=flat)
    return result, diag, ran


BUDGET_NOTE = ("{n} unconverged: J was still falling when the budget ran out, {k}, so the budget, not "
               "the landscape, stopped them; raise the steps (or use Gauss-Newton) before reading them "
               "as failures")


def failure_counts(diagnosis) -> dict:
    """{label: count} of the trials that did not recover (any labels but ``recovered`` and ``""``),
    in the order of :data:`core.diagnosis.LABELS`, other labels sorted after them."""
    if diagnosis is None:
        return {}
    names, counts = np.unique(np.asarray(diagnosis, dtype=str).ravel(), return_counts=True)
    return order_failures(dict(zip(names.tolist(), counts.tolist())))


def order_failures(counts: dict) -> dict:
    """``counts`` ({label: n}) without ``recovered``, ``""`` and zero counts, in the order of
    :data:`core.diagnosis.LABELS`, other labels sorted after them."""
    names = [n for n in LABELS if n != "recovered"] + sorted(set(counts) - set(LABELS) - {""})
    return {n: int(counts[n]) for n in names if counts.get(n, 0)}


FLAT_NOTE = ("{f} unconverged in a valley of J flat to the precision ({k}): a move of tol·|z*| along "
             "A∂G/∂z's weakest direction changes J by less than the fit test resolves, so the observed pixels "
             "do not fix z there to the tolerance and descent creeps along it; more budget moves them little")


def budget_note(failures: dict, extra_budgets: int | None = None, flat: int = 0) -> str:
    """The warning a result (phase, inversion, basin map, descents) carries when some of its starts ran
    out of budget, or "" when none did; ``extra_budgets`` is what they were given (None:
    :data:`CONTINUE_ROUNDS`); ``flat`` of them lie in a valley flat to the precision
    (:attr:`Diagnosis.n_flat`), where the landscape, not the budget, holds them."""
    n = failures.get("unconverged", 0)
    if not n:
        return ""
    k = CONTINUE_ROUNDS if extra_budgets is None else int(extra_budgets)
    given = f"{k} more budgets included" if k else "no extra budgets given"
    flat = min(max(int(flat), 0), n)
    parts = [BUDGET_NOTE.format(n=n - flat, k=given)] if n > flat else []
    return "; ".join(parts + ([FLAT_NOTE.format(f=flat, k=given)] if flat else []))
