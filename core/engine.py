"""Fast batched evaluation of ``A G(z)`` and ``J(z) = ½‖y − A G(z)‖²`` for many z at once.

Why not just call ``conv_transpose2d`` on a batch? For the small channel counts
of these networks, PyTorch's CPU transposed convolution spends most of its time
on bookkeeping (about 0.1 M points/s on ``paper-fig4``). The engine instead
compiles each layer, once, into one of two exact formulations on a
channels-last layout ``(B, *spatial, C)``:

* **dense**: the layer's unrolled matrix ``T`` (``n_in × n_out``), restricted
  for the last layer to the observed outputs only. One large GEMM, which runs
  near the machine's matmul peak; chosen while ``T`` wastes at most
  :data:`DENSE_WASTE` times the useful multiply-adds on structural zeros.
* **col2im**: a GEMM ``(B·S_in, C_in) @ (C_in, k^dim·C_out)`` that does only
  useful multiply-adds, followed by ``k^dim`` strided adds that scatter each
  kernel tap to its output phase (the polyphase split of the strided
  transposed convolution, with no zeros inserted).

The first layer acts on a 1×1 input, so it is always one small GEMM.
Points are processed in chunks sized to stay in cache (see :func:`chunk_size`),
which also bounds memory for any grid. See ``benchmarks/NOTES.md`` for the
measurements behind these choices.
"""
from __future__ import annotations

import math

import torch

from .generator import Generator, activation_fn
from .masks import SamplingOperator

DENSE_WASTE = 16          # max ratio of dense MACs to useful MACs for the dense formulation
DENSE_MAX_ENTRIES = 1 << 22  # never build a dense layer matrix above this many entries
CACHE_FLOATS = 1 << 19    # working-set target per chunk (2 MiB of float32)


def _channels_last(x: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, C, *S) → (B, *S, C)."""
    return x.permute(0, *range(2, 2 + dim), 1)


def _channels_first(x: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, *S, C) → (B, C, *S)."""
    return x.permute(0, dim + 1, *range(1, dim + 1))


class _Layer:
    """One compiled transposed-convolution layer on channels-last tensors."""

    def __init__(self, W, stride, padding, size_in, dim, keep=None, strategy="auto"):
        C_in, C_out = W.shape[:2]
        k = W.shape[2]
        self.dim, self.C_in, self.C_out, self.k, self.s, self.p = dim, C_in, C_out, k, stride, padding
        self.size_in = size_in
        self.size_full = (size_in - 1) * stride + k
        self.size_out = self.size_full - 2 * padding
        n_in = C_in * size_in ** dim
        n_out = C_out * self.size_out ** dim
        n_cols = n_out if keep is None else keep.numel()
        useful = size_in ** dim * C_in * k ** dim * C_out
        dense_ok = n_in * n_cols <= DENSE_MAX_ENTRIES
        if strategy == "auto":
            strategy = "dense" if dense_ok and n_in * n_cols <= DENSE_WASTE * useful else "col2im"
        if strategy == "dense" and not dense_ok:
            strategy = "col2im"
        self.strategy = strategy
        self.keep = keep  # channels-last flat indices of the outputs that are needed (last layer)
        self.macs = n_in * n_cols if strategy == "dense" else useful
        self.useful_macs = useful
        self.floats_per_point = n_cols if strategy == "dense" else size_in ** dim * k ** dim * C_out + C_out * self.size_full ** dim
        if strategy == "dense":
            self.T = self._unrolled(W, keep)
        else:
            # (C_in, C_out, *k) → (C_in, *k, C_out): each input pixel emits a k^dim·C_out patch.
            self.Wc = W.permute(0, *range(2, 2 + dim), 1).reshape(C_in, -1).contiguous()

    def _unrolled(self, W, keep):
        """Dense ``T`` with ``out_cl = in_cl @ T``, built by pushing the identity through the layer."""
        dim, S = self.dim, self.size_in
        n_in = self.C_in * S ** dim
        eye = torch.eye(n_in, dtype=W.dtype, device=W.device).reshape(n_in, *([S] * dim), self.C_in)
        conv = torch.nn.functional.conv_transpose1d if dim == 1 else torch.nn.functional.conv_transpose2d
        out = conv(_channels_first(eye, dim), W, stride=self.s, padding=self.p)
        T = _channels_last(out, dim).reshape(n_in, -1)
        return (T if keep is None else T[:, keep]).contiguous()

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        """h (B, *S_in, C_in) → (B, *S_out, C_out), or (B, len(keep)) for a dense last layer."""
        B = h.shape[0]
        if self.strategy == "dense":
            out = h.reshape(B, -1) @ self.T
            return out if self.keep is not None else out.reshape(B, *([self.size_out] * self.dim), self.C_out)
        dim, S, k, s = self.dim, self.size_in, self.k, self.s
        cols = (h.reshape(-1, self.C_in) @ self.Wc).reshape(B, *([S] * dim), *([k] * dim), self.C_out)
        full = h.new_zeros(B, *([self.size_full] * dim), self.C_out)
        span = s * (S - 1) + 1
        if dim == 1:
            for a in range(k):
                full[:, a:a + span:s] += cols[:, :, a]
        else:
            for a in range(k):
                for b in range(k):
                    full[:, a:a + span:s, b:b + span:s] += cols[:, :, :, a, b]
        p = self.p
        if p:
            full = full[:, p:-p] if dim == 1 else full[:, p:-p, p:-p]
        if self.keep is not None:
            return full.reshape(B, -1)[:, self.keep]
        return full


    def backward(self, g: torch.Tensor) -> torch.Tensor:
        """Adjoint of ``__call__``: gradient w.r.t. the output → gradient w.r.t. the input h."""
        B = g.shape[0]
        dim, S, k, s = self.dim, self.size_in, self.k, self.s
        if self.strategy == "dense":
            return (g.reshape(B, -1) @ self.T.T).reshape(B, *([S] * dim), self.C_in)
        if self.keep is not None:
            gk = g
            g = g.new_zeros(B, self.C_out * self.size_out ** dim)
            g[:, self.keep] = gk
        g = g.reshape(B, *([self.size_out] * dim), self.C_out)
        p = self.p
        if p:
            pad = (0, 0) + (p, p) * dim
            g = torch.nn.functional.pad(g, pad)
        span = s * (S - 1) + 1
        # im2col: the adjoint of the strided scatter gathers each kernel tap's phase.
        if dim == 1:
            cols = torch.stack([g[:, a:a + span:s] for a in range(k)], dim=2)
        else:
            cols = torch.stack([torch.stack([g[:, a:a + span:s, b:b + span:s] for b in range(k)], dim=3)
                                for a in range(k)], dim=3)
        return (cols.reshape(B * S ** dim, -1) @ self.Wc.T).reshape(B, *([S] * dim), self.C_in)


def _derivative(name: str, negative_slope: float, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
    """σ'(pre), using the activation's output ``post`` where that is cheaper."""
    if name == "relu":
        return (pre > 0).to(pre.dtype)
    if name == "leaky_relu":
        return (pre > 0).to(pre.dtype) * (1 - negative_slope) + negative_slope
    if name == "sigmoid":
        return post * (1 - post)
    if name == "tanh":
        return 1 - post * post
    return torch.ones_like(pre)


class Engine(torch.nn.Module):
    """Batched ``A G(z)`` and ``J(z)`` for one generator, operator and observation y.

    Parameters
    ----------
    G : Generator
    op : SamplingOperator
        Must be on the same dtype / device as ``G``.
    y : Tensor (m,)
        The observation, in the operator's order (``op.A(G(z*))[0]``).
    strategy : {"auto", "dense", "col2im"}
        Force one formulation for every layer after the first (used by the tests).
    """

    def __init__(self, G: Generator, op: SamplingOperator, y: torch.Tensor, strategy: str = "auto"):
        super().__init__()
        cfg = G.cfg
        if strategy not in ("auto", "dense", "col2im"):
            raise ValueError(f"strategy: must be auto, dense or col2im; got {strategy!r}")
        self.cfg, self.dim = cfg, cfg.dim
        self.sigma = activation_fn(cfg.activation, cfg.negative_slope)
        self.sigma_last = activation_fn(cfg.last, cfg.negative_slope)
        Ws = G.weights
        dim = cfg.dim
        W1 = Ws[0]
        k1, p1 = W1.shape[2], cfg.per_layer("padding")[0]
        M1 = W1.permute(0, *range(2, 2 + dim), 1)  # (n0, *k, C1)
        if p1:
            M1 = M1[:, p1:k1 - p1] if dim == 1 else M1[:, p1:k1 - p1, p1:k1 - p1]
        self.size1 = k1 - 2 * p1
        self.M1 = M1.reshape(cfg.n0, -1).contiguous()

        # Map the operator's C-order output indices to channels-last positions.
        C, S = cfg.channels[-1], cfg.layer_sizes()[-1]
        cl_pos = torch.arange(C * S ** dim, device=W1.device).reshape(C, *([S] * dim))
        cl_pos = _channels_last(cl_pos.unsqueeze(0), dim).reshape(-1)
        # cl_pos[q] = C-order index of channels-last position q; invert it.
        c_to_cl = torch.empty_like(cl_pos)
        c_to_cl[cl_pos] = torch.arange(cl_pos.numel(), device=cl_pos.device)
        self.A_matrix = None
        keep = None
        if op.matrix is not None:
            self.A_matrix = op.matrix[:, cl_pos].T.contiguous()  # (n, m) acting on channels-last x
        else:
            keep = c_to_cl[op.indices]
        self.keep_last = keep
        self.layers = []
        size = self.size1
        for i, (W, s, p) in enumerate(zip(Ws[1:], cfg.per_layer("stride")[1:], cfg.per_layer("padding")[1:]), start=2):
            last = i == cfg.depth
            layer = _Layer(W, s, p, size, dim, keep=keep if last else None, strategy=strategy)
            self.layers.append(layer)
            size = layer.size_out
        self.register_buffer("y", y.reshape(-1))

    # -- accounting, for the benchmark --------------------------------------
    @property
    def macs_per_point(self) -> int:
        """Multiply-adds the engine performs per z."""
        return self.M1.numel() + sum(L.macs for L in self.layers)

    @property
    def useful_macs_per_point(self) -> int:
        """Multiply-adds of the transposed convolutions themselves (no structural zeros)."""
        return self.M1.numel() + sum(L.useful_macs for L in self.layers)

    def floats_per_point(self) -> int:
        return self.M1.shape[1] + sum(L.floats_per_point for L in self.layers)

    def chunk_size(self) -> int:
        return chunk_size(self.floats_per_point())

    # -- evaluation ------------------------------------------------------------
    def observe(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, n0) → A G(z) (B, m)."""
        B = z.shape[0]
        d = self.cfg.depth
        h = z @ self.M1
        h = (self.sigma_last if d == 1 else self.sigma)(h)
        h = h.reshape(B, *([self.size1] * self.dim), -1)
        for i, layer in enumerate(self.layers, start=2):
            h = layer(h)
            h = self.sigma_last(h) if i == d else self.sigma(h)
        if d == 1 and self.keep_last is not None:
            return h.reshape(B, -1)[:, self.keep_last]
        x = h.reshape(B, -1)
        if self.A_matrix is not None:
            return x @ self.A_matrix
        if self.layers and self.layers[-1].keep is not None:
            return x
        return x[:, self.keep_last]

    def J(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, n0) → J(z) = ½‖y − A G(z)‖² (B,). Differentiable."""
        r = self.observe(z) - self.y
        return 0.5 * (r * r).sum(-1)

    @torch.no_grad()
    def J_and_grad(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, n0) → (J (B,), ∇J (B, n0)) by a hand-written backward pass (no autograd).

        The descent calls this hundreds of times on thousands of starts, where
        autograd's bookkeeping would cost more than the arithmetic.
        """
        cfg = self.cfg
        d, B, dim = cfg.depth, z.shape[0], self.dim
        acts = [self.sigma if i < d else self.sigma_last for i in range(1, d + 1)]
        names = [cfg.activation if i < d else cfg.last for i in range(1, d + 1)]
        pre = [z @ self.M1]
        post = [acts[0](pre[0])]
        h = post[0].reshape(B, *([self.size1] * dim), -1)
        for i, layer in enumerate(self.layers, start=1):
            a = layer(h)
            pre.append(a)
            post.append(acts[i](a))
            h = post[-1]
        x = h.reshape(B, -1)
        if self.A_matrix is not None:
            r = x @ self.A_matrix - self.y
            g = r @ self.A_matrix.T
        elif d == 1 or self.layers[-1].keep is None:
            r = x[:, self.keep_last] - self.y
            g = torch.zeros_like(x)
            g[:, self.keep_last] = r
        else:
            r = x - self.y
            g = r
        J = 0.5 * (r * r).sum(-1)
        for i in range(d - 1, 0, -1):
            g = g.reshape(pre[i].shape) * _derivative(names[i], cfg.negative_slope, pre[i], post[i])
            g = self.layers[i - 1].backward(g)
        g = g.reshape(B, -1) * _derivative(names[0], cfg.negative_slope, pre[0], post[0])
        return J, g @ self.M1.T

    @torch.no_grad()
    def J_many(self, z: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """J for any number of points, in cache-sized chunks (no autograd)."""
        chunk = chunk or self.chunk_size()
        out = torch.empty(z.shape[0], dtype=z.dtype, device=z.device)
        for a in range(0, z.shape[0], chunk):
            out[a:a + chunk] = self.J(z[a:a + chunk])
        return out


def chunk_size(floats_per_point: int) -> int:
    """Points per chunk so that one chunk's intermediates fit in :data:`CACHE_FLOATS`."""
    return int(min(8192, max(32, CACHE_FLOATS // max(1, floats_per_point))))
