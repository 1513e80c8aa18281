"""Exact J and ∇J for a two-dimensional latent through piecewise-linear hidden layers: sectors.

Where the latent has ``n0 = 2``, the generator has no bias (the conv family) and every hidden
activation is ReLU or leaky ReLU, each hidden unit's pre-activation is positively homogeneous in z:
its sign depends only on the direction θ of z. Rays from the origin therefore cut the plane into
sectors, and inside one sector every hidden activation pattern is fixed, so the last layer's
pre-activation at the observed pixels is exactly linear there,

    pre(z) = K_s z,   K_s ∈ R^{m×2}

(the products ``W_{d,obs} Π_i (diag(σ') W_i)`` of the paper's proofs, one per sector). Then
``A G(z) = σ_d(K_s z)`` for any last activation σ_d, and J and ``∇J = K_sᵀ (σ_d'(K_s z) ⊙ r)``
cost a few operations per observed pixel instead of the network's multiply-adds (on
``paper-fig4``, 145 observed pixels against some 20 k multiply-adds per point); where the last
activation has a kink too, its zeros cut the sectors further and J is a quadratic per sector
(:class:`Sectors`).

The sectors are found layer by layer, through the engine's own untiled chain (its dtype and
device; the angles in float64). Start from the two half-planes ``[−π, 0)`` and ``[0, π)``; for
layer l, inside each current sector (at most π wide) the layer's pre-activations are linear,
``a_i cos θ + b_i sin θ``, with ``(a_i, b_i)`` read off as forward-mode tangents at the sector's
middle direction, and each unit that changes sign inside the sector adds the one zero it can have
there. The second layer's tangents (a net's K where it has one hidden layer) are swept instead
(:meth:`_Chain.sweep`): from one sector to the next they change by one rank-one term per
first-layer unit that switches. The number of sectors grows with the number of units, not with
their product (a unit of a random ReLU network crosses zero a few times around the circle). The
table is built where it is cheap: past :data:`MAX_SECTORS` sectors, :data:`MAX_FLOATS` floats of
table, or a build that costs more than :data:`BUILD_ROWS` points through the layers
(``authors-code`` under a random half mask has thousands of sectors), the engine keeps its
layer-by-layer formulations.

For n0 > 2 the same holds on a plane ``u·d1 + v·d2`` through the origin, in its coordinates
(u, v): the first layer seen from the plane is ``[d1; d2] M1`` (``Engine.plane_sectors``, used by
``core.landscape.evaluate_plane``).

A point gets its sector from ``atan2`` and a binary search. Near a boundary, rounding may put it on
either side; the map is continuous there (the unit that switches is zero on the ray), so the value
differs only at the rounding level.
"""
from __future__ import annotations

import math

import numpy as np
import torch

HOMOGENEOUS = ("relu", "leaky_relu")   # hidden activations that keep each pre-activation homogeneous
MAX_SECTORS = 1 << 15                  # past this many sectors the engine keeps its other formulations
MAX_FLOATS = 1 << 24                   # the sector table K (S·2·m), at most
BUILD_ROWS = 4096                      # the build may cost what this many points cost through the layers
_BUILD_FLOATS = 1 << 22                # floats of one chunk of directions pushed through the network


def applies(cfg, pixel_operator: bool) -> bool:
    """Whether the sector formulation is exact for ``cfg`` on a plane through the origin (for
    n0 = 2, the latent space itself): a pixel mask, hidden activations in :data:`HOMOGENEOUS` (the
    conv family has no bias)."""
    return pixel_operator and (cfg.depth == 1 or cfg.activation in HOMOGENEOUS)


def _slopes(on: torch.Tensor, dtype, relu: bool, slope: float) -> torch.Tensor:
    """σ' of ReLU (1 where ``on``, i.e. the pre-activation is > 0, else 0) or of leaky ReLU (1, else
    ``slope``), in ``dtype``."""
    d = on.to(dtype)
    return d if relu else d.mul_(1.0 - slope).add_(slope)


class _Chain:
    """The network as the engine runs it, untiled: ``M1`` (2, n1) and the layers after the first
    (callables on flat rows, each with ``macs`` per row; the last gives the observed pixels)."""

    def __init__(self, M1, layers, activation: str, slope: float):
        self.M1, self.layers, self.slope, self.relu = M1, layers, slope, activation == "relu"

    def macs(self, upto: int) -> float:
        """Multiply-adds per row (a direction has two) up to layer ``upto``'s pre-activation."""
        return self.M1.numel() + sum(L.macs for L in self.layers[:upto - 1])

    def tangents(self, dirs: torch.Tensor, upto: int) -> torch.Tensor:
        """∂pre/∂z (S, 2, n) of layer ``upto``'s pre-activations (1-based) at the directions ``dirs``
        (S, 2), every earlier layer activated (forward mode). Inside a sector the pre-activation is
        linear, so these tangents are its matrix there."""
        S = dirs.shape[0]
        T = self.M1.expand(S, *self.M1.shape)
        for layer in self.layers[:upto - 1]:
            # Euler's relation of a homogeneous map: pre(d) = T d, so only the two tangents travel
            pre = torch.addcmul(T[:, 0] * dirs[:, :1], T[:, 1], dirs[:, 1:])
            d = _slopes(pre > 0, pre.dtype, self.relu, self.slope)
            T = layer((T * d[:, None]).reshape(2 * S, -1)).reshape(S, 2, -1)
        return T

    def sweeps(self, upto: int) -> bool:
        """Whether :meth:`sweep` gives layer ``upto``'s tangents: the second layer's, through a
        dense matrix (one hidden layer before it)."""
        return upto == 2 and len(self.layers) >= 1 and getattr(self.layers[0], "strategy", None) == "dense"

    def sweep(self, dirs: torch.Tensor) -> torch.Tensor:
        """:meth:`tangents` ``(dirs, 2)`` by differences: K(d) = (M1 ⊙ σ'(pre₁(d))) T, so between two
        directions K changes only by the units of the hidden layer whose pattern differs,

            K_{s+1} = K_s + Σ_u (σ'_{s+1,u} − σ'_{s,u}) M1[:, u] ⊗ T[u, :],

        a rank-one term per unit that switches. Along the sectors in angular order that is about
        one unit per step: 2·m multiply-adds per sector instead of 2·n1·m (paper-fig4: 400×). The
        first direction's K is computed directly; the running sum is kept in float64 (its
        rounding grows like the number of steps times 1e-16, below the engine's float32)."""
        M1, T = self.M1, self.layers[0].T
        S = dirs.shape[0]
        on = torch.addcmul(M1[0] * dirs[:, :1], M1[1], dirs[:, 1:]) > 0      # exactly as tangents
        M1d, Td = M1.to(torch.float64), T.to(torch.float64)
        K0 = (M1d * _slopes(on[0], torch.float64, self.relu, self.slope)) @ Td   # (2, m)
        flips = (on[1:] ^ on[:-1]).reshape(-1)                                 # steps s → s + 1, row-major
        if flips.device.type == "cpu":   # numpy finds the few set entries of a flat mask ~15× faster
            f = torch.from_numpy(np.flatnonzero(flips.numpy()))
        else:
            f = torch.nonzero(flips).reshape(-1)
        s, u = f // on.shape[1], f % on.shape[1]                               # s ascending
        if s.numel() == 0:
            return K0.to(M1.dtype).expand(S, *K0.shape).clone()
        step = on[s + 1, u].to(torch.float64).mul_(2.0).sub_(1.0) * (1.0 if self.relu else 1.0 - self.slope)
        terms = (step[:, None] * M1d[:, u].T)[:, :, None] * Td[u][:, None, :]   # (steps, 2, m)
        total = terms.cumsum_(0)
        # direction k has every step s < k behind it: the running total up to the last such step
        last = torch.searchsorted(s + 1, torch.arange(S, device=s.device), right=True) - 1
        K = total[last.clamp_min(0)].masked_fill_((last < 0)[:, None, None], 0.0).add_(K0)
        return K.to(M1.dtype)


def _least_squares(a: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A least-squares solution ẑ (S, 2) of ``ẑ₀ a[s] + ẑ₁ b[s] ≈ y`` for every sector (the two
    columns a, b (S, m)), by a column-pivoted Gram–Schmidt QR, orthogonalised twice (as accurate as
    LAPACK's QR for two columns, and batched). A second column within 1e-12 of the first's span
    counts as dependent: ẑ then lies along the first (any least-squares solution serves
    :class:`Sectors`). Every pass over the (S, m) arrays is one fused kernel (``addcmul``, ``vecdot``,
    a row-scaled product): an expression like ``b - r[:, None] * q`` cost ten times as much."""
    tiny = torch.finfo(torch.float64).tiny
    na, nb = torch.linalg.vector_norm(a, dim=1), torch.linalg.vector_norm(b, dim=1)
    swap = nb > na
    a, b = torch.where(swap[:, None], b, a), torch.where(swap[:, None], a, b)
    r00 = torch.where(swap, nb, na)
    q0 = a * (1.0 / r00.clamp_min(tiny))[:, None]
    r01 = torch.linalg.vecdot(q0, b)
    b = torch.addcmul(b, r01[:, None], q0, value=-1.0)
    e = torch.linalg.vecdot(q0, b)
    b, r01 = b.addcmul_(e[:, None], q0, value=-1.0), r01 + e
    r11 = torch.linalg.vector_norm(b, dim=1)
    x1 = torch.where(r11 > 1e-12 * r00, (b @ y) / (r11 * r11).clamp_min(tiny), 0.0)
    x0 = torch.where(r00 > 0, ((q0 @ y) - r01 * x1) / r00.clamp_min(tiny), 0.0)
    return torch.stack([torch.where(swap, x1, x0), torch.where(swap, x0, x1)], 1)


def _quadratics(K: torch.Tensor, dirs: torch.Tensor, last: str, slope: float, y: torch.Tensor) -> torch.Tensor:
    """Per sector ``[J_s, ẑ_s, Q_s]`` (S, 6) float64 on the CPU (see :class:`Sectors`): the last
    layer's pattern read at each sector's middle direction ``dirs`` (S, 2)."""
    K = K.to("cpu", torch.float64)
    y = y.to("cpu", torch.float64).reshape(-1)
    a, b = K[:, 0], K[:, 1]                                  # A G(z) = z₀ a + z₁ b on the sector
    if last in HOMOGENEOUS:
        on = _slopes(torch.addcmul(a * dirs[:, :1], b, dirs[:, 1:]) > 0, torch.float64, last == "relu", slope)
        a, b = a * on, b * on
    else:
        a, b = a.contiguous(), b.contiguous()
    zhat = _least_squares(a, b, y)
    r = torch.addcmul(torch.addcmul(-y, a, zhat[:, :1]), b, zhat[:, 1:])
    vd = torch.linalg.vecdot
    return torch.stack([0.5 * vd(r, r), zhat[:, 0], zhat[:, 1], vd(a, a), vd(a, b), vd(b, b)], 1)


def _tangents(chain: _Chain, dirs: np.ndarray, layer: int, widest: int):
    """(a, b, tangents of layer ``layer`` at ``dirs[a:b]``) over chunks of the directions (S, 2):
    by :meth:`_Chain.sweep` where it applies, else pushed through the layers a chunk at a time."""
    M1 = chain.M1
    if chain.sweeps(layer) and len(dirs) * 2 * chain.layers[0].T.shape[1] <= _BUILD_FLOATS:
        T = chain.sweep(torch.as_tensor(dirs, dtype=M1.dtype, device=M1.device))
        yield from ((a, b, T[a:b]) for a, b in _chunks(len(dirs), 2 * widest))
        return
    for a, b in _chunks(len(dirs), 2 * widest):
        yield a, b, chain.tangents(torch.as_tensor(dirs[a:b], dtype=M1.dtype, device=M1.device), layer)


def _chunks(S: int, floats_per_direction: int):
    step = max(1, _BUILD_FLOATS // max(1, floats_per_direction))
    return ((a, min(S, a + step)) for a in range(0, S, step))


def _middles(breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo = breaks
    hi = np.append(breaks[1:], math.pi)
    mid = 0.5 * (lo + hi)
    return lo, hi, np.stack([np.cos(mid), np.sin(mid)], 1)


def _zeros(T: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The zeros inside (lo, hi) of the units ``a cos θ + b sin θ`` with (a, b) = T[:, :, i] of each
    sector (T (c, 2, n); each sector at most π wide, so a unit has at most one zero in it: where its
    signs at the two ends differ)."""
    ca, cb = T[:, 0], T[:, 1]
    at_lo = ca * np.cos(lo)[:, None] + cb * np.sin(lo)[:, None]
    at_hi = ca * np.cos(hi)[:, None] + cb * np.sin(hi)[:, None]
    k, i = np.nonzero((at_lo > 0) != (at_hi > 0))
    zero = lo[k] + np.remainder(np.arctan2(-ca[k, i], cb[k, i]) - lo[k], math.pi)
    return zero[(zero > lo[k]) & (zero < hi[k])]


def _refine(chain: _Chain, breaks: np.ndarray, layer: int, widest: int, keep: bool = False):
    """``breaks`` with the zeros of layer ``layer``'s pre-activations added (None past
    :data:`MAX_SECTORS`), and with ``keep`` the tangents of that layer on the old sectors (S, 2, n)."""
    lo, hi, dirs = _middles(breaks)
    new, kept = [], []
    for a, b, T in _tangents(chain, dirs, layer, widest):
        if keep:
            kept.append(T)
        new.append(_zeros(T.to("cpu", torch.float64).numpy(), lo[a:b], hi[a:b]))
        if sum(n.size for n in new) + breaks.size > MAX_SECTORS:
            return None, None
    return np.unique(np.concatenate([breaks, *new])), (torch.cat(kept) if keep else None)


def sector_breaks(chain: _Chain, depth: int, widest: int, layers: int) -> np.ndarray | None:
    """The sorted start angles (S,) in [−π, π) of the sectors of the first ``layers`` layers'
    activation patterns, or None past :data:`MAX_SECTORS` sectors or :data:`BUILD_ROWS` points'
    worth of multiply-adds."""
    breaks = np.array([-math.pi, 0.0])
    spent, allowed = 0.0, BUILD_ROWS * chain.macs(depth)
    for layer in range(1, layers + 1):
        spent += 2 * breaks.size * chain.macs(layer)
        if spent + 2 * breaks.size * chain.macs(depth) > allowed:   # this stage, and at least the table
            return None
        breaks, _ = _refine(chain, breaks, layer, widest)
        if breaks is None:
            return None
    return breaks


class Sectors:
    """The sector table of one generator and mask: ``J``, ``∇J`` and the Jacobian of ``A G`` by
    one gather and a few elementwise passes per point.

    Where the last activation is piecewise linear too (ReLU, leaky ReLU or none), the sectors
    also fix the last layer's pattern: ``A G(z) = L_s z`` on sector s, and J is a quadratic there,

        J(z) = J_s + ½ (z − ẑ_s)ᵀ Q_s (z − ẑ_s),   Q_s = L_sᵀ L_s,  ẑ_s = L_s⁺ y,

    with ``J_s = ½‖L_s ẑ_s − y‖²`` (Pythagoras: the least-squares residual is orthogonal to the
    range of L_s). Both terms are non-negative, so J keeps its relative precision down to the
    minimum (expanding ``½‖y‖² − yᵀL_s z + …`` instead would cancel). Six float64 numbers per
    sector; J and ∇J = Q_s (z − ẑ_s) cost a few operations per point (:meth:`J_quadratic`), for
    the observation y the table was built with.

    Build with :meth:`build` (None where the formulation does not apply or is too large).

    Attributes
    ----------
    breaks : Tensor (S,)
        Start angles of the sectors, ascending from −π, in the engine's dtype.
    K : Tensor (S, 2, m)
        ``pre(z) = K[s] z`` at the observed pixels, in the operator's order.
    quadratic : Tensor (S, 6) float64, or None
        ``[J_s, ẑ_s (2), Q_s (00, 01, 11)]`` per sector, where the last activation is piecewise linear.
    """

    def __init__(self, breaks: np.ndarray, K: torch.Tensor, K_origin: torch.Tensor,
                 quadratic: torch.Tensor | None = None, origin: tuple | None = None):
        S, _, m = K.shape
        self.S, self.m = S, m
        self.breaks = torch.as_tensor(breaks, dtype=K.dtype, device=K.device)
        self.K = K.contiguous()
        # row S: the origin, where every pre-activation is 0 and σ'(0) is taken as the layers do
        # (ReLU's 0, leaky ReLU's slope): the kink's convention of the layer-by-layer engine
        self._table = torch.cat([self.K.reshape(S, 2 * m), K_origin.reshape(1, 2 * m)])
        self.quadratic = quadratic
        self._origin = origin                     # (J(0), ∇J(0)) in float64 beside the quadratics
        self._breaks64 = torch.as_tensor(breaks, dtype=torch.float64, device=K.device)

    @classmethod
    def build(cls, chain: _Chain, depth: int, widest: int, last: str, y: torch.Tensor) -> "Sectors | None":
        """From the engine's untiled chain (its dtype and device; ``widest`` the most entries of one
        layer) and the observation ``y`` (m,); None past the bounds."""
        breaks = sector_breaks(chain, depth, widest, depth - 1)
        if breaks is None:
            return None
        m = chain.layers[-1].n_out_needed if chain.layers else chain.M1.shape[1]
        if breaks.size * 2 * m > MAX_FLOATS or 2 * breaks.size > BUILD_ROWS:
            return None
        if last in HOMOGENEOUS:
            # the last layer's kinks cut the sectors further; its linear map K is the parent's
            finer, K = _refine(chain, breaks, depth, widest, keep=True)
            if finer is None or finer.size * 2 * m > MAX_FLOATS:
                return None
            K = K[torch.as_tensor(np.searchsorted(breaks, finer, side="right") - 1, device=K.device)]
            breaks = finer
        else:
            K = torch.cat([T for _, _, T in _tangents(chain, _middles(breaks)[2], depth, widest)])
        K_origin = chain.tangents(torch.zeros(1, 2, dtype=chain.M1.dtype, device=chain.M1.device), depth)[0]
        quadratic = origin = None
        if last in HOMOGENEOUS + ("identity",):
            dirs = torch.as_tensor(_middles(breaks)[2])
            quadratic = _quadratics(K, dirs, last, chain.slope, y).to(chain.M1.device)
            y64 = y.to(torch.float64).reshape(-1)
            slope0 = {"relu": 0.0, "leaky_relu": chain.slope}.get(last, 1.0)   # σ'(0), as the layers take it
            origin = (0.5 * (y64 * y64).sum(), -(K_origin.to(torch.float64) @ (slope0 * y64)))
        return cls(breaks, K.contiguous(), K_origin, quadratic, origin)

    def floats_per_point(self) -> int:
        return 5 * self.m

    def J_quadratic(self, z: torch.Tensor, grad: bool = False):
        """J (B,) at z (B, 2) from :attr:`quadratic` (float64 inside, z's dtype out), with ∇J (B, 2)
        when ``grad``."""
        z64 = z.to(torch.float64)
        theta = torch.atan2(z64[:, 1], z64[:, 0])
        s = torch.searchsorted(self._breaks64, theta, right=True).sub_(1).clamp_(0, self.S - 1)
        q = self.quadratic.index_select(0, s)
        d0, d1 = z64[:, 0] - q[:, 1], z64[:, 1] - q[:, 2]
        g0 = q[:, 3] * d0 + q[:, 4] * d1
        g1 = q[:, 4] * d0 + q[:, 5] * d1
        J = (0.5 * (d0 * g0 + d1 * g1)).clamp_(min=0.0).add_(q[:, 0])
        g = torch.stack([g0, g1], 1)
        at0 = (z64 == 0).all(1)
        if bool(at0.any()):                      # the origin belongs to no sector (see __init__)
            J = torch.where(at0, self._origin[0], J)
            g = torch.where(at0[:, None], self._origin[1], g)
        return (J.to(z.dtype), g.to(z.dtype)) if grad else J.to(z.dtype)

    def sector_of(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, 2) → the sector of each point (B,) int64; S for the origin."""
        theta = torch.atan2(z[:, 1].contiguous(), z[:, 0].contiguous())
        s = torch.searchsorted(self.breaks, theta, right=True).sub_(1).clamp_(0, self.S - 1)
        return s.masked_fill_((z == 0).all(1), self.S)      # the origin's own row

    def pre(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, 2) → (the last layer's pre-activation at the observed pixels (B, m), K of each
        point's sector (B, 2, m))."""
        Kz = self._table.index_select(0, self.sector_of(z)).view(-1, 2, self.m)
        return torch.addcmul(Kz[:, 0] * z[:, :1], Kz[:, 1], z[:, 1:]), Kz
