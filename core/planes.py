"""The planes through the latent space on which a user reads the landscape, for a latent of any size.

A landscape shows J on a plane ``z = origin + u·d1 + v·d2``. With n0 = 2 the latent space is the
plane; for n0 > 2 the plane has to be chosen, and each choice answers one question:

============  ===================================================================================
``latent``    the first two latent coordinates through z* (for n0 = 2: the latent space itself)
``star``      through 0, z* and −z*: d1 = z*/‖z*‖, d2 a seeded random unit vector ⟂ d1 — where
              Theorem 1 puts the only spurious critical point (near −ρ z*)
``endpoint``  through z* and a descent's end point ẑ (and 0): where a failed descent went
``pca``       through z* along the two leading principal components of the descent paths: the
              directions the solver actually travelled
``hessian``   through z* along the most- and least-curved eigen-directions of the Hessian of J at
              z*: the steepest and the flattest way out of the minimum (a flat direction is a
              near-failure of injectivity, see :mod:`core.injectivity`)
``auto``      ``latent`` for n0 = 2, ``star`` otherwise
============  ===================================================================================

Every function returns a :class:`NamedPlane`: a :class:`core.landscape.Plane` (orthonormal
directions, float64 numpy) that also carries its kind, a one-paragraph explanation, the window it
suggests for a given half-width, and the plane coordinates of the points it was built through.
:func:`plane_for` picks the plane of ``cfg.plane``; ``endpoint`` and ``pca`` run a short
descent with the config's solver when none is given.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .landscape import Plane

SHORT_STARTS = 32      # starts of the descent behind an endpoint / pca plane when none is given
SHORT_STEPS = 200      # and its iterations (at most the config's)
WINDOW_MARGIN = 1.25   # the window's half-width over the half-size of what it must show


@dataclass(frozen=True, eq=False)
class NamedPlane(Plane):
    """A :class:`~core.landscape.Plane` with what it is and why.

    Attributes
    ----------
    origin, d1, d2 : ndarray (n0,)
        ``z = origin + u·d1 + v·d2``; ``d1``, ``d2`` orthonormal.
    kind : str
        One of ``latent``, ``star``, ``endpoint``, ``pca``, ``hessian`` (or ``custom``).
    explanation : str
        What the plane shows, with its numbers (eigenvalues, explained variance, ‖ẑ − z*‖).
    center : (float, float)
        Plane coordinates of the window's centre.
    need : float
        The smallest half-width that shows every point the plane was built from.
    marks : dict
        Name → (u, v) of the points that lie in the plane (``z*``, ``0``, ``-z*``, ``z_hat``).
    values : dict
        The numbers behind the choice, as arrays (eigenvalues, explained variance, ẑ).
    """

    kind: str = "custom"
    explanation: str = ""
    center: tuple = (0.0, 0.0)
    need: float = 0.0
    marks: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)

    def window(self, extent: float) -> tuple:
        """((u_lo, u_hi), (v_lo, v_hi)): a square of half-width max(extent, need) around ``center``."""
        h = max(float(extent), float(self.need))
        cu, cv = self.center
        return (cu - h, cu + h), (cv - h, cv + h)


# ---------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------
def _unit(x: np.ndarray, what: str) -> np.ndarray:
    n = float(np.linalg.norm(x))
    if not np.isfinite(n) or n == 0:
        raise ValueError(f"{what}: must be a finite nonzero vector")
    return x / n


def _orthogonal(d1: np.ndarray, candidate: np.ndarray | None, seed: int) -> tuple[np.ndarray, bool]:
    """A unit vector ⟂ d1: ``candidate`` projected, or a seeded random one when it is (nearly) parallel."""
    if candidate is not None:
        c = candidate - (candidate @ d1) * d1
        if np.linalg.norm(c) > 1e-8 * max(1.0, np.linalg.norm(candidate)):
            return c / np.linalg.norm(c), False
    r = np.random.default_rng(seed).standard_normal(d1.size)
    r -= (r @ d1) * d1
    return r / np.linalg.norm(r), True


def _marks(origin, d1, d2, points: dict) -> dict:
    """Plane coordinates of the named points that lie in the plane (distance ≤ 1e-8 (1 + ‖z‖))."""
    out = {}
    for name, z in points.items():
        r = np.asarray(z, float) - origin
        u, v = float(r @ d1), float(r @ d2)
        if np.linalg.norm(r - u * d1 - v * d2) <= 1e-8 * (1 + np.linalg.norm(z)):
            out[name] = (u, v)
    return out


def _box(uv: np.ndarray) -> tuple[tuple, float]:
    """Centre and WINDOW_MARGIN × half of the larger side of the bounding box of points (K, 2)."""
    lo, hi = uv.min(0), uv.max(0)
    return (float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2)), float(WINDOW_MARGIN * (hi - lo).max() / 2)


def _z_star(problem) -> np.ndarray:
    return problem.z_star.double().cpu().numpy()


def _check_n0(n0: int) -> None:
    if n0 < 2:
        raise ValueError(f"plane: needs a latent of size n0 >= 2, got {n0}; use core.landscape.slice_1d")


# ---------------------------------------------------------------------------------------------
# the planes
# ---------------------------------------------------------------------------------------------
def latent_plane(z_star: np.ndarray) -> NamedPlane:
    """The first two latent coordinates through z*: u = z_1, v = z_2, the others fixed at z*'s."""
    z_star = np.asarray(z_star, float)
    n0 = z_star.size
    _check_n0(n0)
    origin = z_star.copy()
    origin[:2] = 0
    d1, d2 = np.eye(n0)[0], np.eye(n0)[1]
    pts = {"z*": z_star, "0": np.zeros(n0), "-z*": -z_star}
    what = "the latent space itself" if n0 == 2 else f"latent coordinates z_1, z_2 (the other {n0 - 2} fixed at z*)"
    return NamedPlane(origin, d1, d2, kind="latent", center=(float(z_star[0]), float(z_star[1])),
                      marks=_marks(origin, d1, d2, pts),
                      explanation=f"{what}; the window is centred on z*.")


def star_plane(z_star: np.ndarray, seed: int = 0) -> NamedPlane:
    """Through 0, z* and −z*: d1 = z*/‖z*‖, d2 a random unit vector ⟂ d1 from ``seed``.

    Centred on 0, with z* and −z* at u = ±‖z*‖: its window is at least WINDOW_MARGIN · ‖z*‖ wide on
    each side (``need``), so that it shows them whatever the extent (a generator's own z* ~ N(0, I)
    has ‖z*‖ ≈ √n0: 3.49 for the shipped DCGANs' n0 = 10 at z seed 0, beyond the default ±3).

    The same directions as :func:`core.landscape.default_plane` for n0 > 2 (same seed, same draw).
    """
    z_star = np.asarray(z_star, float)
    n0 = z_star.size
    _check_n0(n0)
    d1 = _unit(z_star, "z_star")
    d2, _ = _orthogonal(d1, None, seed)
    origin = np.zeros(n0)
    pts = {"z*": z_star, "0": origin, "-z*": -z_star}
    marks = _marks(origin, d1, d2, pts)
    _, need = _box(np.array([marks["z*"], marks["-z*"]]))
    return NamedPlane(origin, d1, d2, kind="star", center=(0.0, 0.0), need=need, marks=marks,
                      explanation=(f"through 0, z* and -z* (u along z*/|z*|, v a random direction from seed "
                                   f"{seed}): Theorem 1 allows a spurious critical point only near -rho z* on "
                                   f"the u axis."))


def endpoint_plane(z_star: np.ndarray, z_hat: np.ndarray, seed: int = 0, what: str = "") -> NamedPlane:
    """Through z*, a descent's end point ẑ and 0: origin z*, d1 = (ẑ − z*)/‖ẑ − z*‖, d2 = z* ⟂ d1.

    Where ẑ lies on the line through 0 and z* (or ẑ = z*), d2 is a seeded random direction.

    Parameters
    ----------
    z_star, z_hat : ndarray (n0,)
    seed : int
    what : str
        How ẑ was chosen, for the explanation.
    """
    z_star, z_hat = np.asarray(z_star, float), np.asarray(z_hat, float)
    n0 = z_star.size
    _check_n0(n0)
    if z_hat.shape != z_star.shape or not np.all(np.isfinite(z_hat)):
        raise ValueError(f"z_hat: must be {n0} finite numbers")
    gap = float(np.linalg.norm(z_hat - z_star))
    if gap <= 1e-9 * (1 + np.linalg.norm(z_star)):
        plane = star_plane(z_star, seed)
        return NamedPlane(plane.origin, plane.d1, plane.d2, kind="endpoint", center=plane.center, need=plane.need,
                          marks={**plane.marks, "z_hat": plane.marks["z*"]}, values={"z_hat": z_hat, "gap": gap},
                          explanation=f"{what}ẑ = z*: nothing to show apart from z*; " + plane.explanation)
    d1 = (z_hat - z_star) / gap
    d2, random = _orthogonal(d1, z_star, seed)
    pts = {"z*": z_star, "z_hat": z_hat, "0": np.zeros(n0), "-z*": -z_star}
    marks = _marks(z_star, d1, d2, pts)
    center, need = _box(np.array([marks["z*"], marks["z_hat"]] + ([marks["0"]] if "0" in marks else [])))
    rel = gap / max(np.linalg.norm(z_star), 1e-300)
    second = (f"v a random direction from seed {seed} (ẑ is on the line through 0 and z*)" if random
              else "v towards 0, so 0 and -z* are in the plane")
    return NamedPlane(z_star.copy(), d1, d2, kind="endpoint", center=center, need=need, marks=marks,
                      values={"z_hat": z_hat, "gap": gap},
                      explanation=(f"{what}through z* and the end point ẑ, |ẑ - z*| = {rel:.3g} |z*| "
                                   f"(u from z* to ẑ, {second})."))


def pca_plane(z_star: np.ndarray, paths: np.ndarray, seed: int = 0) -> NamedPlane:
    """Through z* along the two leading principal components of the iterates of descent paths.

    Parameters
    ----------
    z_star : ndarray (n0,)
    paths : ndarray (T + 1, S, n0)
        Iterates of S descents (a stopped path repeats its end point; repeats are dropped, as
        are non-finite rows).
    seed : int
        For a random second direction when the iterates span a single line.
    """
    z_star = np.asarray(z_star, float)
    n0 = z_star.size
    _check_n0(n0)
    paths = np.asarray(paths, float)
    if paths.ndim != 3 or paths.shape[2] != n0:
        raise ValueError(f"paths: must have shape (T + 1, S, {n0}), got {paths.shape}")
    keep = np.isfinite(paths).all(axis=(0, 2))
    P = paths[:, keep]
    if P.shape[1] == 0:
        raise ValueError("paths: no finite path to take principal components of")
    moved = np.ones(P.shape[:2], bool)
    moved[1:] = np.abs(np.diff(P, axis=0)).max(-1) > 0
    X = P[moved]                                              # distinct iterates (K, n0)
    Xc = X - X.mean(0)
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    var = s ** 2
    frac = var / var.sum() if var.sum() > 0 else np.zeros_like(var)
    if frac.size == 0 or var.sum() == 0:
        raise ValueError("paths: the iterates do not move; no principal direction")
    d1 = Vt[0]
    d2, random = _orthogonal(d1, Vt[1] if Vt.shape[0] > 1 and s[1] > 1e-12 * s[0] else None, seed)
    uv = np.stack([(X - z_star) @ d1, (X - z_star) @ d2], 1)
    center, need = _box(np.vstack([uv, [[0.0, 0.0]]]))
    pts = {"z*": z_star, "0": np.zeros(n0), "-z*": -z_star}
    f2 = frac[1] if frac.size > 1 and not random else 0.0
    return NamedPlane(z_star.copy(), d1, d2, kind="pca", center=center, need=need,
                      marks=_marks(z_star, d1, d2, pts), values={"explained": frac[:2].copy(), "iterates": len(X)},
                      explanation=(f"through z* along the two leading principal components of {len(X)} iterates "
                                   f"of {P.shape[1]} descents, which explain {frac[0]:.1%} and {f2:.1%} of their "
                                   f"spread" + (f" (v random from seed {seed}: the paths span one line)" if random
                                                else "") + "."))


def hessian_at(problem, z=None, method: str = "autograd") -> np.ndarray:
    """The Hessian of J at z (default z*), (n0, n0) float64 numpy, symmetric.

    ``autograd``: exact second derivatives of ``evaluator.J`` (n0 reverse passes through the
    gradient); ``fd``: central differences of ∇J (``evaluator.J_and_grad``) with the step
    h = 1e-5 (1 + ‖z‖) in float64, 1e-3 (1 + ‖z‖) in float32. For a ReLU network autograd gives
    the Hessian of the linear piece that z lies on (σ'' = 0), where differences straddling a
    kink would mix two pieces.
    """
    zt = problem.z_star if z is None else torch.as_tensor(np.asarray(z, float), dtype=problem.dtype,
                                                          device=problem.device)
    zt = zt.reshape(-1).detach()
    ev = problem.evaluator
    if method == "autograd":
        with torch.enable_grad():
            H = torch.autograd.functional.hessian(lambda x: ev.J(x[None])[0], zt)
    elif method == "fd":
        n0 = zt.numel()
        h = (1e-5 if zt.dtype == torch.float64 else 1e-3) * (1 + float(zt.double().norm()))
        E = h * torch.eye(n0, dtype=zt.dtype, device=zt.device)
        _, gp = ev.J_and_grad(zt[None] + E)
        _, gm = ev.J_and_grad(zt[None] - E)
        H = (gp.double() - gm.double()) / (2 * h)
    else:
        raise ValueError(f"method: must be autograd or fd, got {method!r}")
    H = H.double().cpu().numpy()
    return 0.5 * (H + H.T)


def hessian_plane(problem, method: str = "autograd") -> NamedPlane:
    """Through z* along the eigenvectors of the largest and smallest eigenvalue of the Hessian of J at z*."""
    z_star = _z_star(problem)
    _check_n0(z_star.size)
    H = hessian_at(problem, method=method)
    if not np.all(np.isfinite(H)):
        raise ValueError("plane: the Hessian of J at z* is not finite; use float64 or another plane")
    lam, V = np.linalg.eigh(H)
    d1, d2 = V[:, -1], V[:, 0]
    pts = {"z*": z_star, "0": np.zeros(z_star.size), "-z*": -z_star}
    ratio = lam[-1] / lam[0] if lam[0] > 0 else np.inf
    return NamedPlane(z_star.copy(), d1, d2, kind="hessian", center=(0.0, 0.0),
                      marks=_marks(z_star, d1, d2, pts), values={"eigenvalues": lam},
                      explanation=(f"through z* along the most curved (u, eigenvalue {lam[-1]:.3g}) and the least "
                                   f"curved (v, eigenvalue {lam[0]:.3g}) directions of the Hessian of J at z*"
                                   f" (ratio {ratio:.3g}); a near-zero eigenvalue is a direction in which the "
                                   f"observed pixels barely change."))


# ---------------------------------------------------------------------------------------------
# choosing
# ---------------------------------------------------------------------------------------------
ENDPOINT_ORDER = ("other_fit", "critical", "unconverged")   # the failure a user wants to see first


def pick_endpoint(descent) -> tuple[int, str]:
    """The end point worth a plane: the lowest-J ``other_fit``, else ``critical``, else ``unconverged``
    end (a diverged one is off the map); where every start recovered z*, the end farthest from z*.

    Returns
    -------
    (int, str)
        The start's index and a phrase saying which end it is.
    """
    label = np.asarray(descent.label)
    end = descent.paths[-1]
    J = np.asarray(descent.J_path[-1], float)
    for kind in ENDPOINT_ORDER:
        idx = np.flatnonzero((label == kind) & np.isfinite(J))
        if idx.size:
            k = int(idx[np.argmin(J[idx])])
            return k, f"ẑ = the lowest {kind} end of {label.size} descents (start {k}); "
    ok = np.flatnonzero(np.isfinite(end).all(1) & (label != "diverged"))
    if ok.size == 0:
        raise ValueError("plane: every descent diverged; there is no end point to show")
    k = int(ok[np.argmax(np.linalg.norm(end[ok] - descent.z_star, axis=1))])
    return k, f"every one of {label.size} descents recovered z* or diverged; ẑ = the end farthest from z* (start {k}); "


def short_descent(problem):
    """The descent behind an endpoint / pca plane: min(cfg.starts, 32) seeded N(0, I) starts, the
    config's solver, at most 200 iterations."""
    from .descent import descend, random_starts

    cfg = problem.cfg
    starts = random_starts(problem.n0, min(cfg.starts, SHORT_STARTS), cfg.start_seed)
    return descend(problem, starts, steps=min(cfg.steps, SHORT_STEPS))


def plane_for(problem, descent=None, kind: str | None = None) -> NamedPlane:
    """The plane of ``kind`` (default ``cfg.plane``) for ``problem``; see the module docstring.

    Parameters
    ----------
    problem : Problem
    descent : Descent, optional
        For ``endpoint`` and ``pca``: its end points / paths; a :func:`short_descent` otherwise.
    kind : str, optional

    Raises
    ------
    ValueError
        ``plane: ...`` for an unknown kind or a latent of size 1.
    """
    from .config import PLANES

    kind = problem.cfg.plane if kind is None else kind
    if kind not in PLANES:
        raise ValueError(f"plane: must be one of {', '.join(PLANES)}; got {kind!r}")
    z_star = _z_star(problem)
    _check_n0(z_star.size)
    seed = problem.cfg.plane_seed
    if kind == "auto":
        kind = "latent" if z_star.size == 2 else "star"
    if kind == "latent":
        return latent_plane(z_star)
    if kind == "star":
        return star_plane(z_star, seed)
    if kind == "hessian":
        return hessian_plane(problem)
    descent = short_descent(problem) if descent is None else descent
    if kind == "endpoint":
        k, what = pick_endpoint(descent)
        return endpoint_plane(z_star, descent.paths[-1][k], seed, what)
    keep = np.asarray(descent.label) != "diverged"
    return pca_plane(z_star, descent.paths[:, keep] if keep.any() else descent.paths, seed)
