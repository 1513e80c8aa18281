"""J, ∇J, the residual and its Jacobian for any generator, by automatic differentiation.

The random family has a hand-written evaluator (:class:`~core.generators.engine.Engine`); every
other generator — the shipped DCGANs, a user's TorchScript file or module — gets this one, with
the same methods, so the solvers, landscapes and experiments never know which they hold:

* ``observe(z)``: A G(z) (B, m);
* ``J(z)``: ½‖w ⊙ (A G(z) − y)‖² (B,), differentiable;
* ``J_many(z)``: the same without autograd, in chunks;
* ``J_and_grad(z)``: J and ∇J by reverse mode;
* ``residual_and_jacobian(z)``: r and ∂r/∂z (B, m, n0) by forward mode (n0 is small and m
  large, so forward mode costs n0 tangent passes where reverse mode would cost m): the tangents
  batched by ``torch.func.vmap`` over one primal pass, or dual numbers on B·n0 rows for a module
  that ``torch.func`` cannot transform.

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
MIN_SPLIT = 8              # rows below which a batch is not split across workers


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
        self._use_func = True   # torch.func for the Jacobian until a module refuses it

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

    def J_many(self, z: torch.Tensor, chunk: int | None = None, target=None, weight=None, labels=None) -> torch.Tensor:
        """J for any number of points without autograd, in pieces of at most ``chunk`` rows spread
        over the engine's workers as :meth:`J_and_grad`'s (a 1,501-point scan through a DCGAN used one
        core for all of its 0.76 s)."""
        from .engine import map_chunks

        bounds = self._pieces(z.shape[0], chunk or self.chunk)
        out = torch.empty(z.shape[0], dtype=z.dtype, device=z.device)

        def piece(i):
            a, b = bounds[i]
            with torch.no_grad():               # grad mode is per thread: the helpers' too
                r = self._r(self._AG(z[a:b], self._rows(labels, a, b)), self._rows(target, a, b),
                            self._rows(weight, a, b))
                out[a:b] = 0.5 * (r * r).sum(-1)

        map_chunks(piece, len(bounds))          # asks a withdrawn request's flag before each piece (core.stop)
        return out

    @staticmethod
    def _pieces(B: int, chunk: int) -> list:
        """Row ranges of at most ``chunk`` rows, at least one per worker (of :data:`MIN_SPLIT` rows or more)."""
        from .engine import workers

        if B == 0:
            return []
        pieces = max(-(-B // chunk), min(workers(), B // MIN_SPLIT))
        step = -(-B // max(pieces, 1))
        return [(a, min(a + step, B)) for a in range(0, B, step)]

    def J_and_grad(self, z: torch.Tensor, target=None, weight=None, labels=None):
        """z (B, n0) → (J (B,), ∇J (B, n0)) by reverse mode, in chunks spread over the engine's workers.

        The rows are cut into pieces of at most ``self.chunk`` rows, at least one per worker (with
        :data:`MIN_SPLIT` rows or more each), and :func:`~core.generators.engine.map_chunks` runs the
        pieces in parallel with one torch thread each: the same design as the engine, so a solve's
        batch of ~100 rows uses both cores of an idle machine and degrades gracefully on a busy one.
        """
        from .engine import map_chunks

        B = z.shape[0]
        if B == 0:
            return z.new_zeros(0), z.new_zeros(0, self.n0)
        bounds = self._pieces(B, self.chunk)
        J = z.new_empty(B)
        g = z.new_empty(B, self.n0)

        def piece(i):
            a, b = bounds[i]
            zc = z[a:b].detach().requires_grad_(True)
            with torch.enable_grad():
                Jc = self.J(zc, self._rows(target, a, b), self._rows(weight, a, b), self._rows(labels, a, b))
                (gc,) = torch.autograd.grad(Jc.sum(), zc)
            J[a:b] = Jc.detach()
            g[a:b] = gc

        map_chunks(piece, len(bounds))
        return J, g

    @torch.no_grad()
    def residual_and_jacobian(self, z: torch.Tensor, target=None, weight=None, labels=None):
        """z (B, n0) → (r (B, m), ∂r/∂z (B, m, n0)) by forward mode; see the module docstring."""
        n0 = self.n0
        c = max(1, self.chunk // n0)
        rs, Js = [], []
        for a in range(0, z.shape[0], c):
            b = a + c
            x, dx = self._forward_jacobian(z[a:b], self._rows(labels, a, b))
            w = self._rows(weight, a, b)
            rs.append(self._r(x, self._rows(target, a, b), w))
            Js.append(dx if w is None else dx * w[:, :, None])
        if not rs:
            return z.new_zeros(0, self.m), z.new_zeros(0, self.m, n0)
        return torch.cat(rs), torch.cat(Js)

    def _forward_jacobian(self, z, labels):
        """(A G(z) (B, m), A ∂G/∂z (B, m, n0)) for one chunk.

        With ``torch.func``: one primal pass and the n0 tangent passes batched by ``vmap`` (the
        primal is not repeated per tangent: about twice as fast as plain dual numbers on the
        example module). A module that ``torch.func`` cannot transform (data-dependent Python
        control flow, ``.item()``, some TorchScript) falls back, once and for good, to dual
        numbers on B·n0 rows (``torch.autograd.forward_ad``), which any module with forward-mode
        derivatives supports.
        """
        n0, B = self.n0, z.shape[0]
        if self._use_func:
            tangents = torch.eye(n0, dtype=z.dtype, device=z.device)[:, None, :].expand(n0, B, n0)
            f = lambda x: self._AG(x, labels)   # noqa: E731
            try:
                x, dx = torch.func.vmap(lambda t: torch.func.jvp(f, (z,), (t,)), out_dims=(None, 0))(tangents)
                return x, dx.permute(1, 2, 0)
            except Exception:   # the user's module, not ours: any failure means "use the other path"
                self._use_func = False
        lab = None if labels is None else labels.repeat_interleave(n0)
        eye = torch.eye(n0, dtype=z.dtype, device=z.device)
        with fwAD.dual_level():
            dual = fwAD.make_dual(z.repeat_interleave(n0, 0), eye.repeat(B, 1))
            x, dx = fwAD.unpack_dual(self._AG(dual, lab))
        return x.reshape(B, n0, -1)[:, 0], dx.reshape(B, n0, -1).transpose(1, 2)
