"""Mode collapse: the set of latent codes that G maps onto G(z*).

Injectivity of G (Corollary 2) means this set is the single point z*; for
weights that are not zero-mean (``uniform01``) a whole region of positive area
can map to one output, which shows up in the landscape as a flat minimum.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .generators.engine import Engine
from .masks import make_operator
from .problem import Problem


@dataclass(frozen=True)
class Collapse:
    """The collapse set on a grid.

    Attributes
    ----------
    u : ndarray (N,), v : ndarray (M,)
    in_set : ndarray (M, N) bool
        ``‖G(z) − G(z*)‖ ≤ tol·‖G(z*)‖`` at ``plane.lift(u[j], v[i])``.
    distance : ndarray (M, N)
        ``‖G(z) − G(z*)‖``.
    area_fraction : float
        Fraction of grid points in the set.
    witness : tuple of ndarray (n0,) or None
        Two points of the set, as far apart as the grid allows, with
        ``G(z1) = G(z2)`` up to ``tol``; None when the set has fewer than two points.
    witness_gap : float
        ``‖G(z1) − G(z2)‖`` (NaN without a witness).
    tol : float
    """

    u: np.ndarray
    v: np.ndarray
    in_set: np.ndarray
    distance: np.ndarray
    area_fraction: float
    witness: tuple | None
    witness_gap: float
    tol: float


def output_distance(problem: Problem, z: torch.Tensor) -> torch.Tensor:
    """‖G(z) − G(z*)‖ for z (B, n0), with the full output observed."""
    G = problem.G
    full = make_operator("identity", problem.cfg.output_shape(), dtype=torch.float64).to(
        dtype=problem.dtype, device=problem.device)
    eng = Engine(G, full, problem.x_star.reshape(-1))
    return torch.sqrt(2 * eng.J_many(z))


def collapse_set(problem: Problem, plane, u: np.ndarray, v: np.ndarray, tol: float = 1e-3) -> Collapse:
    """The collapse set of ``problem`` on the grid ``plane.lift(u[j], v[i])``; see :class:`Collapse`."""
    if not 0 < tol < 1:
        raise ValueError(f"tol: must be in (0, 1), got {tol}")
    u, v = np.asarray(u, float), np.asarray(v, float)
    uu, vv = np.meshgrid(u, v)
    z = torch.as_tensor(plane.lift(uu, vv).reshape(-1, problem.n0), dtype=problem.dtype, device=problem.device)
    dist = output_distance(problem, z).double().cpu().numpy().reshape(uu.shape)
    ref = float(problem.x_star.double().norm())
    in_set = dist <= tol * ref
    witness, gap = None, float("nan")
    pts = np.argwhere(in_set)
    if len(pts) >= 2:
        # The two set points farthest apart along the set's principal direction.
        coords = np.stack([uu[in_set], vv[in_set]], 1)
        c = coords - coords.mean(0)
        axis = np.linalg.svd(c, full_matrices=False)[2][0] if len(c) > 1 else np.array([1.0, 0.0])
        s = c @ axis
        a, b = int(np.argmin(s)), int(np.argmax(s))
        if a != b:
            z1, z2 = plane.lift(*coords[a]), plane.lift(*coords[b])
            with torch.no_grad():
                zz = torch.as_tensor(np.stack([z1, z2]), dtype=problem.dtype, device=problem.device)
                x = problem.G(zz).double()
            witness, gap = (z1, z2), float((x[0] - x[1]).norm())
    return Collapse(u=u, v=v, in_set=in_set, distance=dist, area_fraction=float(in_set.mean()),
                    witness=witness, witness_gap=gap, tol=tol)
