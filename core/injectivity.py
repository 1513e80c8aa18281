"""Local injectivity of z ↦ A G(z): the singular values of the masked Jacobian A ∂G/∂z.

Corollary 2 and Theorem 4 of the paper say that G, seen through the observed pixels, is one-to-one.
Locally that is the statement that the m × n0 Jacobian ``A ∂G/∂z`` has full column rank: its smallest
singular value σ_min is positive. Where σ_min = 0 a direction of the latent space leaves every
observed pixel unchanged to first order, so the observations cannot tell the codes apart (the flat
minimum of ``mode-collapse`` is such a region; with fewer measurements than unknowns, m < n0,
σ_min = 0 everywhere). The condition number σ_max / σ_min says how much a small error in y can
move the recovered code.

:func:`injectivity_map` computes both on the grid of any plane (beside the landscape's J, the
same axes); :func:`singular_values` at any points (the ``invert`` output reports them at each z*).
The Jacobian comes from the evaluator's ``residual_and_jacobian`` (the Engine's forward mode for
the random family, torch forward-mode AD for any other module), in chunks of bounded size, and its
singular values are taken in float64.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .generators.engine import one_thread

JAC_FLOATS = 1 << 22   # Jacobian entries (B · m · n0) held at once


@dataclass(frozen=True)
class InjectivityMap:
    """σ_min and the condition number of A ∂G/∂z on a grid of a plane.

    Attributes
    ----------
    u : ndarray (N,), v : ndarray (M,)
        The grid axes (the landscape's, when made from one).
    sigma_min, sigma_max : ndarray (M, N)
        Smallest and largest singular value at ``plane.lift(u[j], v[i])`` (σ_min = 0 where m < n0).
    cond : ndarray (M, N)
        σ_max / σ_min (inf where σ_min = 0).
    plane : Plane
    m, n0 : int
        The Jacobian's shape.
    """

    u: np.ndarray
    v: np.ndarray
    sigma_min: np.ndarray
    sigma_max: np.ndarray
    cond: np.ndarray
    plane: object
    m: int
    n0: int

    def collapsed(self, rtol: float = 1e-6) -> np.ndarray:
        """(M, N) bool: σ_min ≤ rtol · max σ_max of the map, where G is not locally injective."""
        return self.sigma_min <= rtol * float(np.nanmax(self.sigma_max))

    def arrays(self, prefix: str = "injectivity_") -> dict:
        """The .npz entries (the grid axes are the landscape's ``u``, ``v``)."""
        return {f"{prefix}sigma_min": self.sigma_min, f"{prefix}sigma_max": self.sigma_max,
                f"{prefix}cond": self.cond}


def chunk_for(evaluator, n0: int) -> int:
    """Points per Jacobian: its B · m · n0 entries within :data:`JAC_FLOATS`, and the n0 tangents of
    the evaluator's own cache-sized chunk (the hidden layers carry n0 tangents per point)."""
    m = int(evaluator.m)
    return max(1, min(JAC_FLOATS // max(1, m * n0), evaluator.chunk_size() // max(1, n0)))


def _rows(jacobian_of, B: int, m: int, n0: int, chunk: int):
    """Singular values (B, n0) float64, descending, from ``jacobian_of(a, b)`` → (b − a, m, n0)."""
    c = chunk
    out = torch.zeros(B, n0, dtype=torch.float64)
    k = min(m, n0)          # m < n0: the other n0 − m singular values are 0
    for a in range(0, B, c):
        b = min(B, a + c)
        jac = jacobian_of(a, b).double()
        out[a:b, :k] = torch.linalg.svdvals(jac).cpu()
    return out


def _summary(s: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = s.numpy()
    smin, smax = s[:, -1], s[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = np.where(smin > 0, smax / np.where(smin > 0, smin, 1.0), np.inf)
    return smin, smax, cond


@one_thread()     # batched Jacobians and small SVDs: one intra-op thread, as core.solvers.solve
def singular_values(evaluator, z, target=None, weight=None, labels=None, chunk: int | None = None) -> np.ndarray:
    """The n0 singular values of A ∂G/∂z (rows masked by ``weight``) at each of z (B, n0).

    Parameters
    ----------
    evaluator
        An ``Engine`` or ``GenericEvaluator`` (anything with ``residual_and_jacobian``).
    z : array-like (B, n0)
    target, weight : Tensor (B, m), optional
        Per-row y and 0/1 mask over the operator's outputs (a row with weight 0 is not observed).
    labels : LongTensor (B,), optional
        The class of each row, for a conditional generator.
    chunk : int, optional
        Points per Jacobian (default: :func:`chunk_for`).

    Returns
    -------
    ndarray (B, n0) float64
        Descending; the last column is σ_min (0 where fewer than n0 rows are observed).
    """
    y = getattr(evaluator, "y", None)
    dt = y.dtype if isinstance(y, torch.Tensor) else torch.float64
    dev = y.device if isinstance(y, torch.Tensor) else torch.device("cpu")
    z = torch.as_tensor(np.asarray(z, dtype=float) if not isinstance(z, torch.Tensor) else z).to(dtype=dt, device=dev)
    if z.ndim != 2:
        raise ValueError(f"z: must have shape (B, n0), got {tuple(z.shape)}")
    B, n0 = z.shape
    m = int(evaluator.m)

    def jac(a, b):
        kw = {k: v[a:b] for k, v in (("target", target), ("weight", weight), ("labels", labels)) if v is not None}
        return evaluator.residual_and_jacobian(z[a:b], **kw)[1]

    s = _rows(jac, B, m, n0, chunk or chunk_for(evaluator, n0))
    return s.numpy()


def injectivity_at(problem, z=None) -> dict:
    """σ_min, σ_max and cond of A ∂G/∂z at latent points z (K, n0) (default: z*), numpy (K,) each."""
    zt = problem.z_star[None] if z is None else torch.as_tensor(np.asarray(z, float), dtype=problem.dtype,
                                                                device=problem.device).reshape(-1, problem.n0)
    s = torch.as_tensor(singular_values(problem.evaluator, zt))
    smin, smax, cond = _summary(s)
    return {"sigma_min": smin, "sigma_max": smax, "cond": cond}


@one_thread()     # batched Jacobians and small SVDs: one intra-op thread, as core.solvers.solve
def injectivity_map(problem, plane, u, v, chunk: int | None = None, progress=None) -> InjectivityMap:
    """σ_min and cond of A ∂G/∂z on the grid ``plane.lift(u[j], v[i])`` (the landscape's axes).

    Parameters
    ----------
    problem : Problem
    plane : Plane
    u : ndarray (N,), v : ndarray (M,)
    chunk : int, optional
        Points per Jacobian.
    progress : callable, optional
        ``progress(done, total)`` after each block of rows of the grid; returning True stops with
        :class:`core.descent.Cancelled`.

    Returns
    -------
    InjectivityMap
    """
    u, v = np.asarray(u, float).reshape(-1), np.asarray(v, float).reshape(-1)
    M, N = v.size, u.size
    n0, m = problem.n0, int(problem.evaluator.m)
    dev, dt = problem.device, problem.dtype
    o, a, b = (torch.as_tensor(np.asarray(x, float), dtype=dt, device=dev) for x in (plane.origin, plane.d1, plane.d2))
    ut, vt = torch.as_tensor(u, dtype=dt, device=dev), torch.as_tensor(v, dtype=dt, device=dev)
    c = chunk or chunk_for(problem.evaluator, n0)
    out = torch.zeros(M * N, n0, dtype=torch.float64)
    for s in range(0, M * N, c):
        idx = torch.arange(s, min(s + c, M * N), device=dev)
        z = o + ut[idx % N, None] * a + vt[idx // N, None] * b      # only this block's points exist at once
        out[s:s + idx.numel()] = _rows(lambda p, q: problem.evaluator.residual_and_jacobian(z[p:q])[1],
                                       z.shape[0], m, n0, c)
        if progress is not None and progress(min(s + c, M * N), M * N):
            from .descent import Cancelled

            raise Cancelled()
    smin, smax, cond = _summary(out)
    return InjectivityMap(u=u, v=v, sigma_min=smin.reshape(M, N), sigma_max=smax.reshape(M, N),
                          cond=cond.reshape(M, N), plane=plane, m=m, n0=n0)


def injectivity_of(problem, landscape, **kw) -> InjectivityMap:
    """The map on a landscape's own plane and grid (for drawing beside its J)."""
    return injectivity_map(problem, landscape.plane, landscape.u, landscape.v, **kw)
