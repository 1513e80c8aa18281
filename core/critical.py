"""Critical points of J inside a window of a plane, the minimum of J along the −z* ray, and the
honest report of what lies near −ρ_d z*.

Smooth critical points (:func:`critical_points`): candidates are the grid points where the
in-plane gradient norm is a local minimum (3×3) and small; each is refined by damped Newton
steps on the in-plane gradient (autograd gradient and Hessian) and classified by the signs of the
in-plane Hessian's eigenvalues.

The ray minimum ρ̂_ray (:func:`ray_minimum`) is the t > 0 at which J(−t z*) is smallest along
the ray. It is *not* a critical point of J: the ray's own derivative vanishes there, but the
gradient across the ray need not (on ``paper-fig4`` ∇J(−ρ̂_ray z*) = (48.4, 77.6), all of it
perpendicular to the ray). Theorem 1's spurious point is a critical point of the *expected*
landscape; whether one net has a critical point near −ρ_d z* is a separate question, answered by
:func:`near_negative_critical`: the smooth critical points of J in a window around −ρ_d z* (with
‖∇J‖ and the Hessian) and the kink minima that core.diagnosis's probe finds, or none.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .generators.engine import one_thread
from .problem import Problem, build_problem
from .stop import check_stop

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
        In-plane ‖∇J‖ at ``z`` (for a kink minimum, autograd's one-sided gradient: not small).
    eigenvalues : ndarray (2,)
        Of the in-plane Hessian (NaN at a kink minimum).
    hessian : ndarray (2, 2) or None
        The in-plane Hessian (autograd, symmetrised); None at a kink minimum.
    label : str
        What the point is in the whole latent space, by :func:`core.diagnosis.diagnose`:
        ``recovered`` (z*), ``other_fit``, ``critical`` (∇J ≈ 0 or a kink minimum: a critical point of
        J), or ``unconverged``: J still falls off the plane, so the point is a critical point of J's
        restriction to the plane only. For n0 = 2 the plane is the latent space.
    full_grad_norm : float
        ‖∇J‖ over all n0 coordinates at ``z`` (equal to ``grad_norm`` when n0 = 2).
    smooth : bool
        False for a kink minimum: a minimum of J where ∇J jumps (the ReLU pieces of J meet), found
        by the kink search of :func:`critical_points` and confirmed by the diagnosis's probe.
    """

    z: np.ndarray
    u: float
    v: float
    J: float
    kind: str
    grad_norm: float
    eigenvalues: np.ndarray
    hessian: np.ndarray | None = None
    label: str = ""
    full_grad_norm: float = float("nan")
    smooth: bool = True


def _grad_hess_fd(problem: Problem, o, a, b, w: torch.Tensor, h: float):
    """In-plane gradient (K, 2) and Hessian (K, 2, 2) at plane points w (K, 2): the gradient from the
    evaluator's own backward pass, the Hessian its central difference with step h (symmetrised), all
    5 K points in one batch: a fifth of an autograd Hessian's time, for Newton's iterations."""
    e = torch.tensor([[0.0, 0.0], [h, 0.0], [-h, 0.0], [0.0, h], [0.0, -h]], dtype=w.dtype, device=w.device)
    ww = (w[:, None, :] + e).reshape(-1, 2)
    _, gz = problem.evaluator.J_and_grad(o + ww[:, :1] * a + ww[:, 1:] * b)
    gp = torch.stack([gz @ a, gz @ b], 1).reshape(-1, 5, 2)
    H = torch.stack([gp[:, 1] - gp[:, 2], gp[:, 3] - gp[:, 4]], 1) / (2 * h)
    return gp[:, 0], 0.5 * (H + H.transpose(1, 2))


def _grad_hess(problem: Problem, o, a, b, w: torch.Tensor):
    """J, in-plane gradient (K, 2) and Hessian (K, 2, 2) at plane points w (K, 2), by autograd."""
    w = w.detach().clone().requires_grad_(True)
    J = problem.evaluator.J(o + w[:, :1] * a + w[:, 1:] * b)
    g = torch.autograd.grad(J.sum(), w, create_graph=True)[0]
    H0 = torch.autograd.grad(g[:, 0].sum(), w, retain_graph=True)[0]
    H1 = torch.autograd.grad(g[:, 1].sum(), w)[0]
    return J.detach(), g.detach(), torch.stack([H0, H1], 1).detach()


@one_thread()     # autograd Hessians and small kernels: a second intra-op thread stalls beside a busy process
def plane_gradient(problem: Problem, plane, u: np.ndarray, v: np.ndarray, chunk: int = 4096) -> tuple:
    """In-plane gradient (gu, gv) and J, each (M, N), on the grid (the evaluator's backward pass)."""
    dev, dt = problem.device, problem.dtype
    o, a, b = (torch.as_tensor(x, dtype=dt, device=dev) for x in (plane.origin, plane.d1, plane.d2))
    uu, vv = np.meshgrid(np.asarray(u, float), np.asarray(v, float))
    uv = torch.as_tensor(np.stack([uu.ravel(), vv.ravel()], 1), dtype=dt, device=dev)
    g = torch.empty_like(uv)
    J = torch.empty(uv.shape[0], dtype=dt, device=dev)
    for s in range(0, uv.shape[0], chunk):
        w = uv[s:s + chunk]
        Jc, gz = problem.evaluator.J_and_grad(o + w[:, :1] * a + w[:, 1:] * b)
        g[s:s + chunk, 0], g[s:s + chunk, 1], J[s:s + chunk] = gz @ a, gz @ b, Jc
    g = g.double().cpu().numpy()
    return g[:, 0].reshape(uu.shape), g[:, 1].reshape(uu.shape), J.double().cpu().numpy().reshape(uu.shape)


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


@one_thread()     # autograd Hessians and small kernels: a second intra-op thread stalls beside a busy process
def critical_points(problem: Problem, plane, u: np.ndarray, v: np.ndarray, max_candidates: int = 40,
                    newton_steps: int = 30, judge: bool = True, kinks: bool = True,
                    grid: tuple | None = None) -> list[CriticalPoint]:
    """Critical points of J in the window ``u × v`` of ``plane``.

    Parameters
    ----------
    problem : Problem
    plane : Plane
    u : ndarray (N,), v : ndarray (M,)
        The search grid; refined points must stay inside its window.
    max_candidates : int
        The candidates with the smallest gradient norm are refined first (and as many grid minima
        of J for the kink search).
    newton_steps : int
    judge : bool
        Judge each point in the whole latent space (``label``, ``full_grad_norm``); a caller that
        judges its candidates itself (:func:`near_negative_critical`) leaves them unset.
    kinks : bool
        Also search the minima where ∇J jumps (ReLU nets have them; Newton on the gradient cannot
        converge there): L-BFGS from every grid minimum of J that no smooth minimum explains (in
        the plane's two coordinates, J restricted to the plane), and the ends that
        :func:`core.diagnosis.diagnose` finds to be kink minima there (no probe direction lowers J,
        ∇J not small), as in :func:`near_negative_critical`. These come as ``kind="minimum"``,
        ``smooth=False``, and are judged in the whole latent space like the others.
    grid : (gu, gv, J), optional
        :func:`plane_gradient` on ``u × v``, where the caller has it already.

    Returns
    -------
    list of CriticalPoint
        Deduplicated (points closer than two grid cells merge), sorted by J, each judged in the whole
        latent space (``label``, ``full_grad_norm``): for n0 > 2 a critical point of J on the plane
        need not be one of J.
    """
    u, v = np.asarray(u, float), np.asarray(v, float)
    gu, gv, J_grid = plane_gradient(problem, plane, u, v) if grid is None else grid
    gn = np.hypot(gu, gv)
    # Typical curvature of the window, to tell a flat plateau from a genuine critical point.
    curvature = max(float(np.nanmax(gn)) / max(u[-1] - u[0], v[-1] - v[0]), 1e-300)
    cand = _local_minima(gn)
    idx = np.argwhere(cand)
    idx = idx[np.argsort(gn[cand])][:max_candidates]
    du, dv = (u[-1] - u[0]) / max(1, u.size - 1), (v[-1] - v[0]) / max(1, v.size - 1)
    if len(idx) == 0 and not kinks:
        return []
    # Refine in float64 whatever the problem's dtype: the draws are the same, only rounding differs.
    p64 = problem if problem.dtype == torch.float64 else build_problem(
        problem.cfg, device=str(problem.device), dtype="float64")
    dev = p64.device
    o, a, b = (torch.as_tensor(x, dtype=torch.float64, device=dev) for x in (plane.origin, plane.d1, plane.d2))
    gtol = 1e-7 * max(1.0, float(np.nanmax(gn)))
    found: list[CriticalPoint] = []

    def merges(wu, wv, kinds=KINDS):
        """Within two grid cells of a point already found (of one of ``kinds``): the same point."""
        return any(p.kind in kinds and abs(p.u - wu) < 2 * du and abs(p.v - wv) < 2 * dv for p in found)

    if len(idx):
        w = torch.as_tensor(np.stack([u[idx[:, 1]], v[idx[:, 0]]], 1), dtype=torch.float64, device=dev)
        lim = 2 * max(du, dv)  # never jump more than two grid cells in one Newton step
        # A row stops once converged (∇J within gtol and its Newton step under 1e-8 of a cell: polished to
        # what float64 resolves, for the judge in the whole latent space), or once it is more than one
        # step outside the window (dropped below; rows that far out were not seen to come back).
        lo = torch.tensor([u[0] - lim, v[0] - lim], dtype=torch.float64, device=dev)
        hi = torch.tensor([u[-1] + lim, v[-1] + lim], dtype=torch.float64, device=dev)
        active = torch.arange(w.shape[0], device=dev)
        for _ in range(newton_steps):
            check_stop()                           # a request withdrawn meanwhile (core.stop)
            g, H = _grad_hess_fd(p64, o, a, b, w[active], 1e-4 * lim)
            # Tiny Levenberg shift keeps singular Hessians (flat regions, kinks) solvable.
            shift = 1e-12 * (1 + H.abs().amax(dim=(1, 2)))[:, None, None] * torch.eye(2, dtype=H.dtype, device=dev)
            step = torch.linalg.solve(H + shift, g.unsqueeze(-1)).squeeze(-1)
            n = step.norm(dim=1, keepdim=True)
            step = torch.where(n > lim, step * (lim / n), step)
            step = torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0)
            w[active] = w[active] - step
            done = (g.norm(dim=1) <= gtol) & (step.norm(dim=1) <= 5e-9 * lim)
            active = active[~done & ((w[active] >= lo) & (w[active] <= hi)).all(1)]
            if not active.numel():
                break
        J, g, H = _grad_hess(p64, o, a, b, w)
        for k in range(w.shape[0]):
            wu, wv = float(w[k, 0]), float(w[k, 1])
            gk = float(g[k].norm())
            if not (u[0] <= wu <= u[-1] and v[0] <= wv <= v[-1]) or gk > gtol:
                continue
            Hk = 0.5 * (H[k] + H[k].T)
            ev = torch.linalg.eigvalsh(Hk).cpu().numpy()
            tiny = 1e-6 * curvature
            if np.abs(ev).max() <= tiny:
                continue  # degenerate (flat) point: part of a plateau, reported by the collapse set instead
            kind = "minimum" if ev.min() >= -tiny else "maximum" if ev.max() <= tiny else "saddle"
            if merges(wu, wv):
                continue
            found.append(CriticalPoint(z=plane.lift(wu, wv), u=wu, v=wv, J=float(J[k]), kind=kind,
                                       grad_norm=gk, eigenvalues=ev, hessian=Hk.cpu().numpy()))
    if kinks:
        lm = np.argwhere(_local_minima(J_grid))
        lm = [(i, j) for i, j in lm[np.argsort(J_grid[tuple(lm.T)])] if not merges(u[j], v[i], ("minimum",))]
        for wu, wv, Jk, gk in _kink_search(p64, plane, o, a, b, [(u[j], v[i]) for i, j in lm[:max_candidates]],
                                           (u[0], u[-1], v[0], v[-1]), (du, dv)):
            if merges(wu, wv):
                continue
            found.append(CriticalPoint(z=plane.lift(wu, wv), u=wu, v=wv, J=Jk, kind="minimum", grad_norm=gk,
                                       eigenvalues=np.full(2, np.nan), hessian=None, smooth=False))
    return sorted(_in_latent_space(p64, found) if judge else found, key=lambda p: p.J)


KINK_STEPS = 300      # L-BFGS iterations of the kink search from each grid minimum of J


class _OnPlane(torch.nn.Module):
    """G restricted to a plane: w (B, 2) → G(o + w₁ d1 + w₂ d2)."""

    def __init__(self, G, o, a, b):
        super().__init__()
        self.G = G
        self.register_buffer("o", o)
        self.register_buffer("basis", torch.stack([a, b]))

    def forward(self, w):
        return self.G(self.o + w @ self.basis)


def _plane_problem(p64: Problem, o, a, b) -> Problem:
    """The problem of J restricted to the plane, in its coordinates (u, v): a 2-latent generator."""
    import dataclasses

    from .generators.protocol import ModuleGenerator

    G = p64.G
    Gp = ModuleGenerator(_OnPlane(G, o, a, b), 2, tuple(G.output_shape), G.output_range, name=f"{G.name} on a plane")
    zs = p64.z_star.double()
    w_star = torch.stack([(zs - o) @ a, (zs - o) @ b])     # z*'s projection (the diagnosis's yardstick only)
    return dataclasses.replace(p64, G=Gp, evaluator=Gp.evaluator(p64.op, p64.y), z_star=w_star)


def _kink_search(p64: Problem, plane, o, a, b, starts, box, cell, steps: int = KINK_STEPS) -> list:
    """Kink minima of J on the plane from ``starts`` [(u, v)]: L-BFGS from each (in the latent space
    where n0 = 2, on the plane's own coordinates otherwise), its end kept where
    :func:`core.diagnosis.diagnose` finds no probe direction that lowers J there and ∇J is not small
    (``critical``, Hessian class ``kink``), inside the window and off its edge → [(u, v, J, ‖∇J‖)]."""
    if not starts:
        return []
    from .descent import descend

    if p64.n0 == 2:
        d = descend(p64, np.array([plane.lift(su, sv) for su, sv in starts]), method="lbfgs", steps=steps,
                    keep_path=False)
        ends = [tuple(float(x) for x in plane.project(z)) for z in d.solve.z]
    else:
        d = descend(_plane_problem(p64, o, a, b), np.array(starts, dtype=float), method="lbfgs", steps=steps,
                    keep_path=False)
        ends = [(float(z[0]), float(z[1])) for z in d.solve.z]
    u0, u1, v0, v1 = box
    out = []
    for k in np.flatnonzero((d.diagnosis.label == "critical") & (d.diagnosis.hessian == "kink")):
        wu, wv = ends[k]
        if u0 + cell[0] <= wu <= u1 - cell[0] and v0 + cell[1] <= wv <= v1 - cell[1]:
            out.append((wu, wv, float(d.solve.J[k]), float(d.diagnosis.grad_norm[k])))
    return out


def _in_latent_space(problem: Problem, points: list) -> list:
    """The points with their label and full ‖∇J‖ in the whole latent space (core.diagnosis.diagnose)."""
    import dataclasses

    from .diagnosis import diagnose

    if not points:
        return points
    at, g = _at_points(problem, np.array([p.z for p in points]))
    d = diagnose(problem.objective(), at, tol=problem.cfg.tol, eps=problem.cfg.eps)
    return [dataclasses.replace(p, label=str(d.label[k]), full_grad_norm=float(np.linalg.norm(g[k])))
            for k, p in enumerate(points)]


# ---------------------------------------------------------------------------
# the −z* ray: its minimum, and what lies near −ρ_d z*
# ---------------------------------------------------------------------------
def interior_minimum(t: np.ndarray, J: np.ndarray) -> float:
    """t of the lowest interior local minimum of the samples J(t) lying below J(t[0]); NaN if none.

    Parameters
    ----------
    t : ndarray (T,)
        Increasing, T ≥ 3.
    J : ndarray (T,)

    Returns
    -------
    float
        The grid minimum refined by the parabola through it and its two neighbours (exact when J
        is quadratic in t, as it is along a ray from 0 for a ReLU net without biases).
    """
    t, J = np.asarray(t, float), np.asarray(J, float)
    inner = (J[1:-1] <= J[:-2]) & (J[1:-1] <= J[2:]) & (J[1:-1] < J[0])
    k = np.flatnonzero(inner)
    if k.size == 0:
        return float("nan")
    i = k[np.argmin(J[1:-1][k])] + 1
    j0, j1, j2 = J[i - 1], J[i], J[i + 1]
    den = j0 - 2 * j1 + j2
    shift = 0.5 * (j0 - j2) / den if den > 0 else 0.0
    return float(t[i] + np.clip(shift, -1, 1) * (t[i + 1] - t[i]))


@one_thread()     # autograd Hessians and small kernels: a second intra-op thread stalls beside a busy process
def ray_minimum(problem: Problem, t_max: float = 1.5, n: int = 1501) -> float:
    """ρ̂_ray: the t in (0, t_max) at which J(−t z*) has its lowest interior local minimum.

    This is the minimum of J *along the ray*, where the derivative of t ↦ J(−t z*) vanishes. It
    is not a critical point of J unless ∇J happens to vanish across the ray as well (see
    :func:`near_negative_critical`).

    Parameters
    ----------
    problem : Problem
    t_max : float
    n : int
        Samples of t on [0, t_max]; the grid minimum is refined by a parabola.

    Returns
    -------
    float
        NaN when J along the ray has no interior local minimum below J(0).
    """
    if not (np.isfinite(t_max) and t_max > 0):
        raise ValueError(f"t_max: must be a positive number, got {t_max!r}")
    if not 3 <= int(n) <= 1_000_001:
        raise ValueError(f"n: must be in [3, 1000001], got {n!r}")
    t = np.linspace(0, t_max, int(n))
    zs = problem.z_star.double().cpu()
    z = (-torch.as_tensor(t)[:, None] * zs[None]).to(dtype=problem.dtype, device=problem.device)
    with torch.no_grad():
        J = problem.evaluator.J_many(z).double().cpu().numpy()
    return interior_minimum(t, J)


@one_thread()     # autograd Hessians and small kernels: a second intra-op thread stalls beside a busy process
def negative_ray_critical(problem: Problem, t_max: float = 1.5, n: int = 1501) -> float:
    """Deprecated name of :func:`ray_minimum` (it was never a critical point of J); kept until the
    dashboard switches."""
    return ray_minimum(problem, t_max, n)


@dataclass(frozen=True)
class NearCritical:
    """A critical point of J near −ρ_d z*, judged by :func:`core.diagnosis.diagnose`.

    Attributes
    ----------
    z : ndarray (n0,)
    u, v : float
        Plane coordinates.
    t : float
        z ≈ −t z* (projection on the ray).
    off_ray : float
        Distance from the line through z*, relative to ‖z*‖.
    J, grad_norm : float
        J and the full ‖∇J‖ at ``z``.
    kind : {"minimum", "saddle", "maximum", "kink"}
        Smooth classes from the Hessian's eigenvalues; ``kink``: ∇J ≠ 0 but no probed direction
        lowers J (a minimum where ReLU pieces meet).
    hessian : ndarray (n0, n0) or None
        Autograd Hessian of J (of the piece z lies on); None at a kink.
    eigenvalues : ndarray (n0,) or None
    """

    z: np.ndarray
    u: float
    v: float
    t: float
    off_ray: float
    J: float
    grad_norm: float
    kind: str
    hessian: np.ndarray | None
    eigenvalues: np.ndarray | None


@dataclass(frozen=True)
class NegativeRayReport:
    """What lies near −ρ_d z* for one net: the ray minimum, and the true critical points, if any.

    Attributes
    ----------
    rho : float
        ρ_d (NaN where Theorem 1 does not speak: see :func:`core.landscape.rho_for`).
    t_center : float
        The window's centre −t_center z* (ρ_d, else ρ̂_ray).
    rho_hat_ray : float
        The ray minimum (:func:`ray_minimum`), NaN if none.
    z_ray : ndarray (n0,)
        −ρ̂_ray z* (NaN if none).
    J_ray, grad_ray : float, ndarray (n0,)
        J and ∇J at ``z_ray``.
    grad_along, grad_across : float
        ∇J·e with e = −z*/‖z*‖ (≈ 0 at a ray minimum), and the norm of the rest.
    ray_label : str
        core.diagnosis's label of ``z_ray`` itself: ``unconverged`` means a descent direction
        exists there, ``critical`` that it is a critical point (smooth or kink).
    plane : Plane
    u, v : ndarray (N,)
        The window searched: ``center ± half_width`` on each plane axis.
    critical : list of NearCritical
        Every critical point of J found in the window, sorted by J (empty: none).
    in_plane : list of CriticalPoint
        Critical points of J restricted to the plane (the same as ``critical``'s smooth ones when
        n0 = 2; for n0 > 2 they need not be critical points of J), unjudged: ``critical`` holds
        those the judge found critical.
    summary : str
        One line.
    """

    rho: float
    t_center: float
    rho_hat_ray: float
    z_ray: np.ndarray
    J_ray: float
    grad_ray: np.ndarray
    grad_along: float
    grad_across: float
    ray_label: str
    plane: object
    u: np.ndarray
    v: np.ndarray
    critical: list
    in_plane: list
    summary: str

    def arrays(self) -> dict:
        """The .npz payload (prefix ``ray_``/``near_``)."""
        c = self.critical
        return {"rho_hat_ray": np.float64(self.rho_hat_ray), "ray_z": self.z_ray, "ray_J": np.float64(self.J_ray),
                "ray_grad": self.grad_ray, "ray_grad_along": np.float64(self.grad_along),
                "ray_grad_across": np.float64(self.grad_across), "ray_label": np.array(self.ray_label),
                "near_u": self.u, "near_v": self.v,
                "near_z": np.array([p.z for p in c]).reshape(len(c), -1),
                "near_J": np.array([p.J for p in c], float), "near_grad_norm": np.array([p.grad_norm for p in c], float),
                "near_kind": np.array([p.kind for p in c], dtype=str), "near_summary": np.array(self.summary)}


def _at_points(problem: Problem, z: np.ndarray):
    """A zero-iteration solve at the points z (S, n0): what core.diagnosis.diagnose reads."""
    from types import SimpleNamespace

    zt = torch.as_tensor(z, dtype=problem.dtype, device=problem.device)
    J, g = problem.evaluator.J_and_grad(zt)
    S = z.shape[0]
    return SimpleNamespace(z=np.asarray(z, float), J=J.double().cpu().numpy(),
                           grad_norm=g.double().norm(dim=1).cpu().numpy(), stop=np.full(S, "budget"),
                           log_slope=np.full(S, np.nan)), g.double().cpu().numpy()


@one_thread()     # autograd Hessians and small kernels: a second intra-op thread stalls beside a busy process
def near_negative_critical(problem: Problem, t: float | None = None, half_width: float | None = None,
                           plane=None, grid: int = 41, steps: int = 300,
                           rho_hat: float | None = None) -> NegativeRayReport:
    """The true critical points of J in a window of a plane around −t z* (default t = ρ_d), or none.

    Parameters
    ----------
    problem : Problem
    t : float, optional
        Centre of the window, −t z*; defaults to ρ_d where it applies, else the ray minimum.
    half_width : float, optional
        Half-width of the window on each plane axis; default 0.5 ‖z*‖ (it holds the per-net ray
        minima of ``paper-fig4``'s family, 5–95 %: 0.12–0.50).
    plane : Plane, optional
        Defaults to the latent plane for n0 = 2, else :func:`core.planes.star_plane` (z* and a
        direction seeded by ``cfg.plane_seed``): it holds the −z* ray.
    grid : int
        Points per side of the search grid.
    steps : int
        L-BFGS iterations from each grid local minimum of J (the kink search).
    rho_hat : float, optional
        ρ̂_ray (:func:`ray_minimum`) of this problem when the caller has it already (NaN: none);
        computed otherwise. Through a trained generator its 1,501-point scan is most of the search.

    Returns
    -------
    NegativeRayReport

    Notes
    -----
    Two searches feed one judge. Smooth points: :func:`critical_points` (Newton on the in-plane
    gradient). Kinks: L-BFGS from every grid local minimum of J in the window and from −ρ̂_ray z*.
    Every candidate, and −ρ̂_ray z* itself, is then labelled by :func:`core.diagnosis.diagnose`
    (∇J ≈ 0 with its Hessian class, or the probe of 2 n0 + 35 directions for a kink); those
    labelled ``critical`` that lie in the window are reported, with the autograd Hessian
    (:func:`core.planes.hessian_at`) at the smooth ones.
    """
    from .diagnosis import diagnose
    from .descent import descend
    from .landscape import rho_for
    from .planes import hessian_at, latent_plane, star_plane

    p = problem if problem.dtype == torch.float64 else build_problem(problem.cfg, device=str(problem.device),
                                                                     dtype="float64")
    cfg = p.cfg
    if p.n0 < 2:
        raise ValueError("channels: a plane needs a latent of size n0 ≥ 2")
    if not 3 <= int(grid) <= 401:
        raise ValueError(f"grid: must be in [3, 401], got {grid!r}")
    zs = p.z_star.double().cpu().numpy()
    nz = float(np.linalg.norm(zs))
    e = -zs / nz
    rho_d = rho_for(cfg) if cfg.generator == "conv" else float("nan")
    t_hat = ray_minimum(p) if rho_hat is None else float(rho_hat)
    t_c = t if t is not None else (rho_d if np.isfinite(rho_d) else t_hat)
    if not np.isfinite(t_c):
        raise ValueError("t: give the window's centre; neither ρ_d nor a ray minimum is defined here")
    h = 0.5 * nz if half_width is None else float(half_width)
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"half_width: must be a positive number, got {half_width!r}")
    plane = plane or (latent_plane(zs) if p.n0 == 2 else star_plane(zs, cfg.plane_seed))
    uc, vc = (float(x) for x in plane.project(-t_c * zs))
    u, v = np.linspace(uc - h, uc + h, grid), np.linspace(vc - h, vc + h, grid)
    inside = lambda z: bool(np.all(np.abs(np.array(plane.project(z)) - (uc, vc)) <= h * (1 + 1e-9)))  # noqa: E731

    # The ray minimum itself: the ray's derivative vanishes there; does ∇J?
    if np.isfinite(t_hat):
        z_ray = -t_hat * zs
        at_ray, g_ray = _at_points(p, z_ray[None])
        ray_label = str(diagnose(p.objective(), at_ray, tol=cfg.tol, eps=cfg.eps).label[0])
        g_ray = g_ray[0]
        J_ray = float(at_ray.J[0])
    else:
        z_ray, g_ray, J_ray, ray_label = np.full(p.n0, np.nan), np.full(p.n0, np.nan), float("nan"), "none"
    along = float(g_ray @ e)
    across = float(np.linalg.norm(g_ray - along * e))

    grid_ = plane_gradient(p, plane, u, v)
    smooth = critical_points(p, plane, u, v, max_candidates=12, judge=False, kinks=False, grid=grid_)   # judged below
    J_grid = grid_[2]
    idx = np.argwhere(_local_minima(J_grid))
    starts = [plane.lift(u[j], v[i]) for i, j in idx]
    if np.isfinite(t_hat):
        starts.append(z_ray)
    ends = np.empty((0, p.n0))
    if starts:
        ends = descend(p, np.array(starts), method="lbfgs", steps=steps, keep_path=False).solve.z
    cand = np.concatenate([np.array([c.z for c in smooth]).reshape(-1, p.n0), ends])
    cand = np.array([z for z in cand if np.all(np.isfinite(z)) and inside(z)]).reshape(-1, p.n0)
    found: list[NearCritical] = []
    if len(cand):
        at, g = _at_points(p, cand)
        d = diagnose(p.objective(), at, tol=cfg.tol, eps=cfg.eps)
        du = 2 * (u[1] - u[0])
        for k in np.flatnonzero(d.label == "critical"):
            z = cand[k]
            if any(np.linalg.norm(z - q.z) < du for q in found):
                continue
            kind = str(d.hessian[k])
            H = hessian_at(p, z) if kind != "kink" else None
            cu, cv = plane.project(z)
            tz = float(z @ e / nz)
            found.append(NearCritical(z=z, u=float(cu), v=float(cv), t=tz,
                                      off_ray=float(np.linalg.norm(z + tz * zs) / nz), J=float(d.J[k]),
                                      grad_norm=float(d.grad_norm[k]), kind=kind, hessian=H,
                                      eigenvalues=None if H is None else np.linalg.eigvalsh(H)))
    found.sort(key=lambda q: q.J)
    where = f"|u − {uc:.3f}|, |v − {vc:.3f}| ≤ {h:.3f}"
    if found:
        pts = "; ".join(f"{q.kind} at t = {q.t:.3f}, {q.off_ray:.2f} ‖z*‖ off the ray (J = {q.J:.4g}, ‖∇J‖ = {q.grad_norm:.2g}"
                        + (f", Hessian eigenvalues {', '.join(f'{x:.3g}' for x in q.eigenvalues)})" if q.eigenvalues is not None else ")")
                        for q in found)
        head = f"critical points of J near −{t_c:.3f} z* ({where}): {pts}"
    else:
        head = f"no critical point of J near −{t_c:.3f} z* ({where})"
    if np.isfinite(t_hat):
        head += (f"; the ray minimum ρ̂_ray = {t_hat:.3f} has ‖∇J‖ = {np.linalg.norm(g_ray):.3g} "
                 f"({across:.3g} across the ray, {along:.2g} along it): {ray_label}")
    else:
        head += "; J has no interior minimum along the −z* ray"
    return NegativeRayReport(rho=rho_d, t_center=float(t_c), rho_hat_ray=t_hat, z_ray=z_ray, J_ray=J_ray,
                             grad_ray=g_ray, grad_along=along, grad_across=across, ray_label=ray_label, plane=plane,
                             u=u, v=v, critical=found, in_plane=smooth, summary=head)
