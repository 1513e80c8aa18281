"""Fast batched evaluation of ``A G(z)``, ``J(z) = ½‖y − A G(z)‖²`` and ∇J for many z at once.

Why not just call ``conv_transpose2d`` on a batch? For the small channel counts
of these networks, PyTorch's CPU transposed convolution spends most of its time
on bookkeeping (about 0.1 M points/s on ``paper-fig4``). The engine instead
compiles the network, once, into exact formulations on a channels-last layout:

* **receptive cone**: starting from the observed pixels, each layer keeps only
  the entries that can reach them (the adjoint convolution of the indicator
  with a kernel of ones). A strip or half-image mask prunes most of a deep
  network; a spread-out mask prunes nothing, and costs nothing.
* **dense**: the layer's unrolled matrix ``T`` restricted to the needed inputs
  and outputs. One GEMM, which runs near the machine's matmul peak; chosen while
  ``T`` wastes at most :data:`DENSE_WASTE` times the useful multiply-adds on
  structural zeros.
* **col2im**: a GEMM ``(B·S_in, C_in) @ (C_in, k^dim·C_out)`` that does only
  useful multiply-adds, followed by ``k^dim`` strided adds that scatter each
  kernel tap to its output phase (the polyphase split of the strided
  transposed convolution, with no zeros inserted).

The first layer acts on a 1×1 input, so it is always one small GEMM. Between
layers the activations travel as flat ``(B, n_needed)`` tensors. Points are
processed in chunks sized to stay in cache (:func:`chunk_size`), which also
bounds memory for any grid. ``benchmarks/NOTES.md`` has the measurements.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .conv_family import ConvGenerator, activation_fn
from ..masks import SamplingOperator

DENSE_WASTE = 16             # max ratio of dense MACs to useful MACs for the dense formulation
DENSE_MAX_ENTRIES = 1 << 22  # never build a dense layer matrix above this many entries
CACHE_FLOATS = 1 << 19       # working-set target per chunk (2 MiB of float32)

_CONV = {1: F.conv1d, 2: F.conv2d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d}


def _channels_last(x: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, C, *S) → (B, *S, C)."""
    return x.permute(0, *range(2, 2 + dim), 1)


def _channels_first(x: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, *S, C) → (B, C, *S)."""
    return x.permute(0, dim + 1, *range(1, dim + 1))


def _cone(W: torch.Tensor, stride: int, padding: int, size_in: int, dim: int, out_idx) -> torch.Tensor:
    """Channels-last flat indices of the layer inputs that reach any output in ``out_idx``."""
    C_in, C_out, k = W.shape[0], W.shape[1], W.shape[2]
    size_out = (size_in - 1) * stride - 2 * padding + k
    ind = torch.zeros(C_out * size_out ** dim, dtype=torch.float64)
    ind[out_idx.cpu()] = 1
    ind = _channels_first(ind.reshape(1, *([size_out] * dim), C_out), dim)
    ones = torch.ones(C_in, C_out, *([k] * dim), dtype=torch.float64)
    reach = _CONV[dim](ind, ones, stride=stride, padding=padding)  # adjoint of the transposed conv
    return torch.nonzero(_channels_last(reach, dim).reshape(-1) > 0).reshape(-1).to(W.device)


class _Layer:
    """One transposed-convolution layer (not the first) on flat channels-last activations.

    Input: ``(B, len(in_idx))`` (``in_idx`` None: all ``C_in·S_in^dim`` entries).
    Output: ``(B, len(out_idx))`` (``out_idx`` None: all entries).
    """

    def __init__(self, W, stride, padding, size_in, dim, in_idx=None, out_idx=None, strategy="dense"):
        C_in, C_out, k = W.shape[0], W.shape[1], W.shape[2]
        self.dim, self.C_in, self.C_out, self.k, self.s, self.p = dim, C_in, C_out, k, stride, padding
        self.size_in = size_in
        self.size_full = (size_in - 1) * stride + k
        self.size_out = self.size_full - 2 * padding
        self.n_in, self.n_out = C_in * size_in ** dim, C_out * self.size_out ** dim
        self.in_idx, self.out_idx = in_idx, out_idx
        self.strategy = strategy
        self.useful_macs = size_in ** dim * C_in * k ** dim * C_out
        n_in = self.n_in if in_idx is None else in_idx.numel()
        n_out = self.n_out if out_idx is None else out_idx.numel()
        if strategy == "dense":
            self.macs = n_in * n_out
            self.floats_per_point = n_out
            T = self._unrolled(W, in_idx, out_idx)
            self.T = T.contiguous()
            self.Tt = self.T.T.contiguous()
        else:
            if in_idx is not None:
                raise ValueError("col2im needs the full input")
            self.macs = self.useful_macs
            self.floats_per_point = size_in ** dim * k ** dim * C_out + C_out * self.size_full ** dim
            # (C_in, C_out, *k) → (C_in, *k, C_out): each input pixel emits a k^dim·C_out patch.
            self.Wc = W.permute(0, *range(2, 2 + dim), 1).reshape(C_in, -1).contiguous()
            self.Wct = self.Wc.T.contiguous()

    def _unrolled(self, W, in_idx=None, out_idx=None, block_entries: int = 1 << 22):
        """Dense ``T`` with ``out = in @ T`` (channels-last), rows ``in_idx`` and columns ``out_idx``.

        Built by pushing rows of the identity through the layer, a block at a time, so that the
        memory is that of the result plus one block (never the n_in × n_in identity at once).
        """
        dim, S = self.dim, self.size_in
        rows = torch.arange(self.n_in, device=W.device) if in_idx is None else in_idx
        n_full_out = self.C_out * self.size_out ** dim
        b = max(1, block_entries // max(self.n_in, n_full_out))
        parts = []
        for a in range(0, rows.numel(), b):
            r = rows[a:a + b]
            eye = torch.zeros(r.numel(), self.n_in, dtype=W.dtype, device=W.device)
            eye[torch.arange(r.numel(), device=W.device), r] = 1
            eye = eye.reshape(r.numel(), *([S] * dim), self.C_in)
            out = _CONV_T[dim](_channels_first(eye, dim), W, stride=self.s, padding=self.p)
            out = _channels_last(out, dim).reshape(r.numel(), -1)
            parts.append(out if out_idx is None else out[:, out_idx])
        return torch.cat(parts)

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        B = h.shape[0]
        if self.strategy == "dense":
            return h @ self.T
        dim, S, k, s, p = self.dim, self.size_in, self.k, self.s, self.p
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
        if p:
            full = full[:, p:-p] if dim == 1 else full[:, p:-p, p:-p]
        full = full.reshape(B, -1)
        return full if self.out_idx is None else full[:, self.out_idx]

    def backward(self, g: torch.Tensor) -> torch.Tensor:
        """Adjoint of ``__call__``: gradient w.r.t. the output → gradient w.r.t. the input."""
        if self.strategy == "dense":
            return g @ self.Tt
        B = g.shape[0]
        dim, S, k, s, p = self.dim, self.size_in, self.k, self.s, self.p
        if self.out_idx is not None:
            gk, g = g, g.new_zeros(B, self.n_out)
            g[:, self.out_idx] = gk
        g = g.reshape(B, *([self.size_out] * dim), self.C_out)
        if p:
            g = F.pad(g, (0, 0) + (p, p) * dim)
        span = s * (S - 1) + 1
        # im2col: the adjoint of the strided scatter gathers each kernel tap's phase.
        if dim == 1:
            cols = torch.stack([g[:, a:a + span:s] for a in range(k)], dim=2)
        else:
            cols = torch.stack([torch.stack([g[:, a:a + span:s, b:b + span:s] for b in range(k)], dim=3)
                                for a in range(k)], dim=3)
        return (cols.reshape(B * S ** dim, -1) @ self.Wct).reshape(B, -1)


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
    """Batched ``A G(z)``, ``J(z)`` and ∇J for one generator, operator and observation y.

    Parameters
    ----------
    G : ConvGenerator
    op : SamplingOperator
        Must be on the same dtype / device as ``G``.
    y : Tensor (m,)
        The observation, in the operator's order (``op.A(G(z*))[0]``).
    strategy : {"auto", "dense", "col2im"}
        Force one formulation for every layer after the first (the tests use
        this to check both); ``auto`` picks per layer.
    prune : bool
        Restrict hidden layers to the receptive cone of the observed pixels.
    """

    def __init__(self, G: ConvGenerator, op: SamplingOperator, y: torch.Tensor, strategy: str = "auto",
                 prune: bool = True):
        super().__init__()
        cfg = G.cfg
        if strategy not in ("auto", "dense", "col2im"):
            raise ValueError(f"strategy: must be auto, dense or col2im; got {strategy!r}")
        self.cfg, self.dim = cfg, cfg.dim
        dim, d = cfg.dim, cfg.depth
        Ws = G.weights
        dev = Ws[0].device
        sizes = cfg.layer_sizes()
        strides, pads = cfg.per_layer("stride"), cfg.per_layer("padding")

        # Map the operator's C-order output indices to channels-last positions.
        C, S = cfg.channels[-1], sizes[-1]
        cl_pos = _channels_last(torch.arange(C * S ** dim, device=dev).reshape(1, C, *([S] * dim)), dim).reshape(-1)
        self.A_matrix = None
        if op.matrix is not None:
            self.A_matrix = op.matrix[:, cl_pos].T.contiguous()  # (n, m), acting on channels-last x
            needed = None
        else:
            c_to_cl = torch.empty_like(cl_pos)
            c_to_cl[cl_pos] = torch.arange(cl_pos.numel(), device=dev)
            needed = c_to_cl[op.indices]  # in the operator's order, so the output lines up with y
            if needed.numel() == cl_pos.numel() and bool((needed == torch.arange(needed.numel(), device=dev)).all()):
                needed = None

        # Plan from the last layer back: which entries each layer must produce.
        plan = []
        for i in range(d, 1, -1):
            W, s, p = Ws[i - 1], strides[i - 1], pads[i - 1]
            C_in, C_out, k = W.shape[0], W.shape[1], W.shape[2]
            n_in = C_in * sizes[i - 1] ** dim
            in_idx = None if needed is None or not prune else _cone(W, s, p, sizes[i - 1], dim, needed)
            if in_idx is not None and in_idx.numel() == n_in:
                in_idx = None
            n_in_needed = n_in if in_idx is None else in_idx.numel()
            n_out_needed = C_out * sizes[i] ** dim if needed is None else needed.numel()
            useful = sizes[i - 1] ** dim * C_in * k ** dim * C_out
            dense_size = n_in_needed * n_out_needed
            choice = strategy
            if choice == "auto":
                choice = "dense" if dense_size <= DENSE_WASTE * useful else "col2im"
            if n_in * (C_out * sizes[i] ** dim) > DENSE_MAX_ENTRIES:
                choice = "col2im"
            if choice == "col2im":
                in_idx = None
            plan.append(_Layer(W, s, p, sizes[i - 1], dim, in_idx=in_idx, out_idx=needed, strategy=choice))
            needed = in_idx
        self.layers = plan[::-1]

        W1 = Ws[0]
        k1, p1 = W1.shape[2], pads[0]
        M1 = _channels_last(W1, dim)  # (n0, *k, C1)
        if p1:
            M1 = M1[:, p1:k1 - p1] if dim == 1 else M1[:, p1:k1 - p1, p1:k1 - p1]
        M1 = M1.reshape(cfg.n0, -1)
        self.M1 = (M1 if needed is None else M1[:, needed]).contiguous()
        self.M1t = self.M1.T.contiguous()
        self.register_buffer("y", y.reshape(-1))
        self.n0, self.m = cfg.n0, op.m
        sig = activation_fn(cfg.activation, cfg.negative_slope)
        sig_last = activation_fn(cfg.last, cfg.negative_slope)
        self._acts = [sig] * (d - 1) + [sig_last]
        self._names = [cfg.activation] * (d - 1) + [cfg.last]
        self._acts_ = [activation_fn(n, cfg.negative_slope, inplace=True) for n in self._names]

    # -- accounting, for the benchmark --------------------------------------
    @property
    def macs_per_point(self) -> int:
        """Multiply-adds the engine performs per z."""
        extra = 0 if self.A_matrix is None else self.A_matrix.numel()
        return self.M1.numel() + sum(L.macs for L in self.layers) + extra

    @property
    def useful_macs_per_point(self) -> int:
        """Multiply-adds of the full transposed convolutions (no structural zeros, no pruning)."""
        W1 = self.cfg.channels[0] * self.cfg.channels[1] * self.cfg.per_layer("kernel")[0] ** self.dim
        extra = 0 if self.A_matrix is None else self.A_matrix.numel()
        return W1 + sum(L.useful_macs for L in self.layers) + extra

    def floats_per_point(self) -> int:
        return self.M1.shape[1] + sum(L.floats_per_point for L in self.layers)

    def chunk_size(self) -> int:
        return chunk_size(self.floats_per_point())

    # -- evaluation ------------------------------------------------------------
    def observe(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, n0) → A G(z) (B, m)."""
        h = self._acts[0](z @ self.M1)
        for layer, act in zip(self.layers, self._acts[1:]):
            h = act(layer(h))
        return h if self.A_matrix is None else h @ self.A_matrix

    def J(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, n0) → J(z) = ½‖y − A G(z)‖² (B,). Differentiable by autograd."""
        r = self.observe(z) - self.y
        return 0.5 * (r * r).sum(-1)

    @torch.no_grad()
    def J_and_grad(self, z: torch.Tensor, target: torch.Tensor | None = None,
                   weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, n0) → (J (B,), ∇J (B, n0)) by a hand-written backward pass.

        The descent calls this hundreds of times on thousands of starts, where
        autograd's bookkeeping would cost more than the arithmetic.

        ``target`` (B, m) replaces y per point, and ``weight`` (B, m) multiplies the
        residual, so that ``J = ½ Σ_j (w_j (x_j − t_j))²``; with 0/1 weights this is
        one pixel mask per point (the phase-transition trials). Both need a pixel
        operator (no Gaussian A).
        """
        slope = self.cfg.negative_slope
        pre = [z @ self.M1]
        post = [self._acts[0](pre[0])]
        for layer, act in zip(self.layers, self._acts[1:]):
            pre.append(layer(post[-1]))
            post.append(act(pre[-1]))
        x = post[-1]
        if self.A_matrix is not None:
            if target is not None or weight is not None:
                raise ValueError("target/weight: need a pixel operator, not a Gaussian A")
            r = x @ self.A_matrix - self.y
            g = r @ self.A_matrix.T
        else:
            r = x - (self.y if target is None else target)
            g = r
            if weight is not None:
                r = r * weight
                g = r * weight
        J = 0.5 * (r * r).sum(-1)
        for i in range(len(self.layers), 0, -1):
            g = g * _derivative(self._names[i], slope, pre[i], post[i])
            g = self.layers[i - 1].backward(g)
        g = g * _derivative(self._names[0], slope, pre[0], post[0])
        return J, g @ self.M1t

    @torch.no_grad()
    def residual_and_jacobian(self, z: torch.Tensor, target: torch.Tensor | None = None,
                              weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, n0) → (r (B, m), ∂r/∂z (B, m, n0)) with ``r = w ⊙ (A G(z) − y)``.

        Forward-mode by hand: the n0 tangents ``∂h/∂z_k`` travel through the same layers as
        the activations (one batched call on B·n0 rows per layer), each multiplied by σ'(pre).
        ``target`` and ``weight`` as in :meth:`J_and_grad`.
        """
        slope = self.cfg.negative_slope
        B, n0 = z.shape
        pre = z @ self.M1
        h = self._acts[0](pre)
        T = self.M1[None] * _derivative(self._names[0], slope, pre, h)[:, None, :]   # (B, n0, n1)
        for i, layer in enumerate(self.layers, start=1):
            pre = layer(h)
            h = self._acts[i](pre)
            T = layer(T.reshape(B * n0, -1)).reshape(B, n0, -1) * _derivative(self._names[i], slope, pre, h)[:, None, :]
        if self.A_matrix is not None:
            if target is not None or weight is not None:
                raise ValueError("target/weight: need a pixel operator, not a Gaussian A")
            h, T = h @ self.A_matrix, T @ self.A_matrix
        r = h - (self.y if target is None else target)
        if weight is not None:
            r = r * weight
            T = T * weight[:, None, :]
        return r, T.transpose(1, 2)

    @torch.no_grad()
    def J_many(self, z: torch.Tensor, chunk: int | None = None, target: torch.Tensor | None = None,
               weight: torch.Tensor | None = None) -> torch.Tensor:
        """J for any number of points, in cache-sized chunks (no autograd, activations in place).

        ``target`` and ``weight`` (B, m), as in :meth:`J_and_grad`.
        """
        chunk = chunk or self.chunk_size()
        if self.A_matrix is not None and (target is not None or weight is not None):
            raise ValueError("target/weight: need a pixel operator, not a Gaussian A")
        out = torch.empty(z.shape[0], dtype=z.dtype, device=z.device)
        for a in range(0, z.shape[0], chunk):
            b = a + chunk
            h = self._acts_[0](z[a:b] @ self.M1)
            for layer, act in zip(self.layers, self._acts_[1:]):
                h = act(layer(h))
            r = (h if self.A_matrix is None else h @ self.A_matrix).sub_(self.y if target is None else target[a:b])
            if weight is not None:
                r.mul_(weight[a:b])
            out[a:b] = torch.linalg.vecdot(r, r).mul_(0.5)
        return out


def chunk_size(floats_per_point: int) -> int:
    """Points per chunk so that one chunk's intermediates fit in :data:`CACHE_FLOATS`."""
    return int(min(8192, max(32, CACHE_FLOATS // max(1, floats_per_point))))
