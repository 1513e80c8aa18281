"""J, ∇J, the residual and its Jacobian for any generator, by automatic differentiation.

The random family has a hand-written evaluator (:class:`~core.generators.engine.Engine`); every
other generator — the shipped DCGANs, a user's TorchScript file or module — gets this one, with
the same methods, so the solvers, landscapes and experiments never know which they hold:

* ``observe(z)``: A G(z) (B, m);
* ``J(z)``: ½‖w ⊙ (A G(z) − y)‖² (B,), differentiable;
* ``J_many(z)``: the same without autograd, in chunks;
* ``J_and_grad(z)``: J and ∇J by reverse mode;
* ``residual_and_jacobian(z)``: r and ∂r/∂z (B, m, n0) by forward mode (one dual pass of B·n0
  rows; n0 is small and m large, so forward mode costs n0 passes where reverse mode would
  cost m).

Every method takes ``target`` (B, m) and ``weight`` (B, m) to give each row its own y and its
own 0/1 mask over the operator's outputs, and ``labels`` (B,) for a conditional generator.
Rows are processed in chunks sized from the output (:func:`chunk_rows`), so memory stays bounded
for any batch.
"""
from __future__ import annotations

import torch
import torch.autograd.forward_ad as fwAD

from ..masks import SamplingOperator

CHUNK_FLOATS = 1 << 22     # output floats of one chunk (the activations are a small multiple)


def chunk_rows(n_out: int, per_row: int = 1) -> int:
    """Rows per chunk so that one chunk's outputs (``per_row`` copies each) stay near CHUNK_FLOATS."""
    return int(max(1, min(8192, CHUNK_FLOATS // max(1, n_out * per_row))))


class GenericEvaluator:
    """The evaluator of :mod:`core.generators.generic` for ``G``, ``A`` and ``y``.

    Parameters
    ----------
    G : LatentGenerator
    op : SamplingOperator
        On G's dtype and device.
    y : Tensor (m,)
    """

    def __init__(self, G, op: SamplingOperator, y: torch.Tensor):
        self.G, self.op = G, op
        self.y = y.reshape(-1)
        self.n0 = int(G.latent_dim)
        self.m = op.m
        n_out = 1
        for s in G.output_shape:
            n_out *= int(s)
        self.n_out = n_out
        self.chunk = chunk_rows(n_out)

    def chunk_size(self) -> int:
        return self.chunk

    def _AG(self, z, labels):
        return self.op.A(self.G(z, labels) if self.G.conditional else self.G(z))

    def _r(self, x, target, weight):
        r = x - (self.y if target is None else target)
        return r if weight is None else r * weight

    @staticmethod
    def _rows(t, a, b):
        return None if t is None else t[a:b]

    @torch.no_grad()
    def observe(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        """z (B, n0) → A G(z) (B, m)."""
        return torch.cat([self._AG(z[a:a + self.chunk], self._rows(labels, a, a + self.chunk))
                          for a in range(0, z.shape[0], self.chunk)]) if z.shape[0] else z.new_zeros(0, self.m)

    def J(self, z: torch.Tensor, target=None, weight=None, labels=None) -> torch.Tensor:
        """z (B, n0) → J (B,), differentiable by autograd (one pass, no chunking)."""
        r = self._r(self._AG(z, labels), target, weight)
        return 0.5 * (r * r).sum(-1)

    @torch.no_grad()
    def J_many(self, z: torch.Tensor, chunk: int | None = None, target=None, weight=None, labels=None) -> torch.Tensor:
        """J for any number of points, in chunks, without autograd."""
        c = chunk or self.chunk
        out = torch.empty(z.shape[0], dtype=z.dtype, device=z.device)
        for a in range(0, z.shape[0], c):
            b = a + c
            r = self._r(self._AG(z[a:b], self._rows(labels, a, b)), self._rows(target, a, b), self._rows(weight, a, b))
            out[a:b] = 0.5 * (r * r).sum(-1)
        return out

    def J_and_grad(self, z: torch.Tensor, target=None, weight=None, labels=None):
        """z (B, n0) → (J (B,), ∇J (B, n0)) by reverse mode, chunk by chunk."""
        Js, gs = [], []
        for a in range(0, z.shape[0], self.chunk):
            b = a + self.chunk
            zc = z[a:b].detach().requires_grad_(True)
            with torch.enable_grad():
                Jc = self.J(zc, self._rows(target, a, b), self._rows(weight, a, b), self._rows(labels, a, b))
                (g,) = torch.autograd.grad(Jc.sum(), zc)
            Js.append(Jc.detach())
            gs.append(g)
        if not Js:
            return z.new_zeros(0), z.new_zeros(0, self.n0)
        return torch.cat(Js), torch.cat(gs)

    @torch.no_grad()
    def residual_and_jacobian(self, z: torch.Tensor, target=None, weight=None, labels=None):
        """z (B, n0) → (r (B, m), ∂r/∂z (B, m, n0)) by forward mode; see the module docstring."""
        n0 = self.n0
        c = max(1, self.chunk // n0)
        rs, Js = [], []
        eye = torch.eye(n0, dtype=z.dtype, device=z.device)
        for a in range(0, z.shape[0], c):
            b = a + c
            zc = z[a:b]
            B = zc.shape[0]
            lab = self._rows(labels, a, b)
            lab = None if lab is None else lab.repeat_interleave(n0)
            with fwAD.dual_level():
                dual = fwAD.make_dual(zc.repeat_interleave(n0, 0), eye.repeat(B, 1))
                x, dx = fwAD.unpack_dual(self._AG(dual, lab))
            x = x.reshape(B, n0, -1)[:, 0]
            dx = dx.reshape(B, n0, -1).transpose(1, 2)
            w = self._rows(weight, a, b)
            rs.append(self._r(x, self._rows(target, a, b), w))
            Js.append(dx if w is None else dx * w[:, :, None])
        if not rs:
            return z.new_zeros(0, self.m), z.new_zeros(0, self.m, n0)
        return torch.cat(rs), torch.cat(Js)
