"""Fast batched evaluation of ``A G(z)``, ``J(z) = ½‖y − A G(z)‖²`` and ∇J for many z at once.

Why not just call ``conv_transpose2d`` on a batch? For the small channel counts
of these networks, PyTorch's CPU transposed convolution spends most of its time
on bookkeeping (about 0.1 M points/s on ``paper-fig4``). The engine instead
compiles the network, once, into exact formulations on a channels-last layout:

* **receptive cone**: starting from the observed pixels, each layer keeps only
  the entries that can reach them (the adjoint convolution of the indicator
  with a kernel of ones). A strip or half-image mask prunes most of a deep
  network; a spread-out mask prunes nothing, and costs nothing.
* **tiles**: the observed pixels are split into k × k spatial tiles, and each
  tile gets its own pruned chain (its own cone in every layer). A tile's cone is
  a fraction of the layer, so the dense matrices below lose most of their
  structural zeros (on ``paper-fig4``, 2 × 2 tiles do 22 k instead of 59 k
  multiply-adds per point). The first layer is recomputed per tile, which costs
  n0 multiply-adds per entry. ``k`` is chosen by a cost model
  (:func:`_cost`, calibrated in ``benchmarks/NOTES.md``), never by timing, so
  that the same config always gives the same numbers.
* **dense**: the layer's unrolled matrix ``T`` restricted to the needed inputs
  and outputs. One GEMM, which runs near the machine's matmul peak; chosen while
  ``T`` wastes at most :data:`DENSE_WASTE` times the useful multiply-adds on
  structural zeros.
* **col2im**: a GEMM ``(B·S_in, C_in) @ (C_in, k^dim·C_out)`` that does only
  useful multiply-adds, followed by ``k^dim`` strided adds that scatter each
  kernel tap to its output phase (the polyphase split of the strided
  transposed convolution, with no zeros inserted).

* **sectors** (:mod:`~core.generators.sectors`): for a two-dimensional latent through
  ReLU or leaky-ReLU hidden layers, the plane is cut by rays into sectors on which the
  network up to the last pre-activation is one exact linear map ``K_s`` (m × 2); J and ∇J
  are then one gather and a few elementwise passes per point, and where the last activation
  is piecewise linear too, J is a quadratic per sector (six numbers; about 10× the layers'
  rate for J and 30× for J and ∇J on ``paper-fig4``). Built on first use, and only where the
  build costs less than a few thousand points through the layers. For n0 > 2, a landscape plane
  through the origin gets its own table (:meth:`Engine.plane_sectors`).

The first layer acts on a 1×1 input, so it is always one small GEMM (for all
tiles at once). Between layers the activations travel as flat ``(B, n_needed)``
tensors. Points are processed in chunks sized to stay in cache
(:func:`chunk_size`), which also bounds memory for any batch.

Threads. Every kernel of the engine runs with one intra-op torch thread: these
kernels are small (a few hundred microseconds), and with two intra-op threads
each of them waits at a barrier for a thread that a competing process may have
descheduled (a 961 × 400 × 145 GEMM drops from 75 to 7 GFLOP/s with one busy
core). Parallelism comes from whole chunks instead (:func:`map_chunks`): the
calling thread and up to ``workers() − 1`` helper threads of one process-wide
pool take chunks from a shared counter until none is left, so a descheduled
helper delays at most the chunk it holds, and concurrent callers (the
dashboard's request threads) share the same helpers instead of adding threads.
``benchmarks/NOTES.md`` has the measurements.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F

from . import sectors as _sectors
from .conv_family import ConvGenerator, activation_fn
from ..masks import SamplingOperator
from ..stop import check_stop

DENSE_WASTE = 16             # max ratio of dense MACs to useful MACs for the dense formulation
DENSE_MAX_ENTRIES = 1 << 22  # never build a dense layer matrix above this many entries
CACHE_FLOATS = 1 << 19       # working-set target per chunk of J_many (2 MiB of float32)
GRAD_FLOATS = 1 << 22        # and of the backward pass and the tangents (pre- and post-activations kept)
MAX_TILES = 6                # tiles per spatial axis tried by the cost model
QUADRATIC_CHUNK = 8192       # points per chunk of the sectors' quadratics (a few floats per point)

# Cost model of the tilings (see _cost), in multiply-adds at the GEMM rate; fitted to 42 measured
# (net, mask, tiles) cases, one thread (benchmarks/NOTES.md, "Tiles").
GEMM_MIN_N = 16                      # a GEMM narrower than 16 columns costs as much as a 16-wide one
PASS = 27                            # per float written by a layer
CALL = 106_000                       # per torch call per chunk (3.5 µs at the fitted 30 G multiply-adds/s)
COL2IM_SLOWDOWN = 8                  # col2im's useful multiply-adds run ~8× slower than a dense GEMM's
NARROW = 15                          # GEMMs with at most this many output columns run transposed


# ---------------------------------------------------------------------------
# threads
# ---------------------------------------------------------------------------
def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:       # not Linux
        return os.cpu_count() or 1


_WORKERS = [_usable_cores()]
_POOL: list = [None]
_POOL_LOCK = threading.Lock()
_LOCAL = threading.local()


def workers() -> int:
    """Threads that :func:`map_chunks` spreads one call over (the caller included)."""
    return _WORKERS[0]


def set_workers(n: int) -> None:
    """Set :func:`workers` (default: the cores this process may run on)."""
    if not isinstance(n, int) or not 1 <= n <= 256:
        raise ValueError(f"workers: must be an integer in [1, 256], got {n!r}")
    with _POOL_LOCK:
        _WORKERS[0] = n
        old, _POOL[0] = _POOL[0], None
    if old is not None:
        old.shutdown(wait=False)


@contextlib.contextmanager
def one_thread():
    """Run a block with one intra-op torch thread in the calling thread, then restore its count.

    With OpenMP the count is per thread, so concurrent callers do not disturb each other.
    """
    old = torch.get_num_threads()
    if old != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if old != 1:
            torch.set_num_threads(old)


def _pool(n: int) -> ThreadPoolExecutor:
    with _POOL_LOCK:
        if _POOL[0] is None:
            _POOL[0] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="engine")
        return _POOL[0]


def map_chunks(fn, n: int) -> None:
    """Call ``fn(i)`` for i in range(n), spread over :func:`workers` threads, one torch thread each.

    The caller works too, so a call always progresses even when every helper is busy with
    another caller's chunks; chunks are handed out one at a time from a shared counter. ``fn``
    must write disjoint outputs. Inside a chunk (nested calls) everything runs in the caller.
    """
    w = min(workers(), n)
    if w <= 1 or getattr(_LOCAL, "inside", False):
        with one_thread():
            for i in range(n):
                check_stop()
                fn(i)
        return
    counter = itertools.count()
    failed = []

    def loop():
        _LOCAL.inside = True
        try:
            with one_thread():
                for i in counter:
                    if i >= n or failed:
                        break
                    check_stop()        # the caller's withdrawn request (core.stop); a no-op in the helpers
                    fn(i)
        except BaseException as e:     # stop the other threads, re-raise in the caller
            failed.append(e)
        finally:
            _LOCAL.inside = False

    helpers = [_pool(workers() - 1).submit(loop) for _ in range(w - 1)]
    loop()
    for h in helpers:
        h.result()
    if failed:
        raise failed[0]


# ---------------------------------------------------------------------------
# layers
# ---------------------------------------------------------------------------
def _mm(h: torch.Tensor, T: torch.Tensor, Tt: torch.Tensor) -> torch.Tensor:
    """``h @ T`` (``Tt`` = Tᵀ, contiguous). A narrow product is computed as (Tᵀ hᵀ)ᵀ: MKL runs
    (1000, 144) @ (144, 2) 3–5× faster that way (measured, one thread); the
    result is then a column-major view, which the elementwise kernels handle at full speed."""
    return (Tt @ h.T).T if T.shape[1] <= NARROW else h @ T


def _channels_last(x: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, C, *S) → (B, *S, C)."""
    return x.permute(0, *range(2, 2 + dim), 1)


def _cone(W: torch.Tensor, stride: int, padding: int, size_in: int, dim: int, out_idx) -> torch.Tensor:
    """Channels-last flat indices of the layer inputs that reach any output in ``out_idx``.

    Input position i reaches the (uncropped) outputs s·i + a for the taps a < k, whatever the
    channels, so the reached positions are the OR over the k^dim taps of the strided slices of
    the outputs' spatial indicator. The cone depends on the layer's shape and ``out_idx`` only,
    not on the weights: it is cached, so a new weight draw with the same architecture and mask
    (the dashboard's weight seed) plans its tiles without recomputing the cones.
    """
    idx = out_idx.detach().to("cpu", torch.int64).contiguous()
    cone = _cone_of(tuple(W.shape[:3]), stride, padding, size_in, dim, idx.numpy().tobytes())
    return cone.clone().to(W.device)


@functools.lru_cache(maxsize=512)
def _cone_of(shape: tuple, stride: int, padding: int, size_in: int, dim: int, out_bytes: bytes) -> torch.Tensor:
    C_in, C_out, k = shape
    out_idx = torch.frombuffer(bytearray(out_bytes), dtype=torch.int64) if out_bytes else torch.zeros(0, dtype=torch.int64)
    size_full = (size_in - 1) * stride + k
    size_out = size_full - 2 * padding
    ind = torch.zeros(C_out * size_out ** dim, dtype=torch.bool)
    ind[out_idx] = True
    full = torch.zeros([size_full] * dim, dtype=torch.bool)
    full[(slice(padding, padding + size_out),) * dim] = ind.reshape(size_out ** dim, C_out).any(1).reshape([size_out] * dim)
    span = stride * (size_in - 1) + 1
    reach = torch.zeros([size_in] * dim, dtype=torch.bool)
    for taps in itertools.product(range(k), repeat=dim):
        reach |= full[tuple(slice(a, a + span, stride) for a in taps)]
    sp = torch.nonzero(reach.reshape(-1)).reshape(-1)
    return (sp[:, None] * C_in + torch.arange(C_in)).reshape(-1)


PLAN_ENTRIES = 1 << 18   # a layer's unrolled entries kept as a cached plan (int32 positions), at most


def _unroll_entries(geometry: tuple, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The nonzero entries of the unrolled layer's rows ``r`` (channels-last input indices):
    ``(i, col, w)`` with ``T[i, col] = W.flatten()[w]``, ``i`` indexing r and ``col`` the full
    output (channels-last). ``geometry`` = (C_in, C_out, k, stride, padding, size_in, dim)."""
    C_in, C_out, k, s, p, S, dim = geometry
    So = (S - 1) * s + k - 2 * p
    dev = r.device
    offsets = torch.tensor(list(itertools.product(range(k), repeat=dim)), device=dev).reshape(-1, dim)
    pos, ci = torch.div(r, C_in, rounding_mode="floor"), r % C_in
    coords = torch.stack([torch.div(pos, S ** (dim - 1 - j), rounding_mode="floor") % S
                          for j in range(dim)], 1)                  # (n, dim), C order
    out = coords[:, None, :] * s + offsets[None] - p                # (n, k^dim, dim)
    ok = ((out >= 0) & (out < So)).all(2)                          # (n, k^dim)
    flat = torch.zeros_like(ok, dtype=torch.long)
    for j in range(dim):
        flat = flat * So + out[:, :, j]
    r_i, o_i = torch.nonzero(ok, as_tuple=True)
    co = torch.arange(C_out, device=dev)
    col = flat[r_i, o_i, None] * C_out + co                         # (nnz, C_out)
    w = (ci[r_i, None] * C_out + co) * k ** dim + o_i[:, None]      # W (C_in, C_out, k^dim) flattened
    return r_i[:, None].expand_as(col).reshape(-1), col.reshape(-1), w.reshape(-1)


@functools.lru_cache(maxsize=32)
def _unroll_plan(geometry: tuple, in_bytes: bytes | None, out_bytes: bytes | None) -> tuple:
    """:func:`_unroll_entries` of rows ``in_bytes`` (None: all), the columns mapped to their
    position in ``out_bytes`` (None: all; entries of other columns dropped), as int32 on the CPU.
    Depends on the shapes and index sets only, not on the weights (cached like :func:`_cone_of`)."""
    C_in, C_out, k, s, p, S, dim = geometry
    n_full_out = C_out * ((S - 1) * s + k - 2 * p) ** dim

    def ints(b: bytes) -> torch.Tensor:
        return torch.frombuffer(bytearray(b), dtype=torch.int64) if b else torch.zeros(0, dtype=torch.int64)

    rows = torch.arange(C_in * S ** dim) if in_bytes is None else ints(in_bytes)
    i, c, w = _unroll_entries(geometry, rows)
    if out_bytes is not None:
        out_idx = ints(out_bytes)
        where = torch.full((n_full_out,), -1, dtype=torch.int64)
        where[out_idx] = torch.arange(out_idx.numel())
        c = where[c]
        keep = c >= 0
        i, c, w = i[keep], c[keep], w[keep]
    return i.to(torch.int32), c.to(torch.int32), w.to(torch.int32)


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
        self.n_in_needed, self.n_out_needed = n_in, n_out
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

        Written entry by entry: input pixel ``q`` of channel ``ci`` reaches output pixel
        ``q·s + a − p`` of channel ``co`` with weight ``W[ci, co, a]`` (``a`` the kernel offset, per
        axis). Where the layer has few entries their positions are a plan cached by shape and
        index sets (:func:`_unroll_plan`: a new weight draw only scatters its weights); otherwise
        a block of rows at a time, so that the memory is that of the result plus one block.
        (Pushing rows of the identity through ``conv_transpose`` gives the same matrix, and is the
        tests' reference; it took most of a problem's build.)
        """
        dim, S, k = self.dim, self.size_in, self.k
        dev = W.device
        rows = torch.arange(self.n_in, device=dev) if in_idx is None else in_idx
        n_full_out = self.C_out * self.size_out ** dim
        n_cols = n_full_out if out_idx is None else out_idx.numel()
        geometry = (self.C_in, self.C_out, k, self.s, self.p, S, dim)
        if rows.numel() * k ** dim * self.C_out <= PLAN_ENTRIES:
            key = [None if x is None else x.detach().to("cpu", torch.int64).contiguous().numpy().tobytes()
                   for x in (in_idx, out_idx)]
            i, c, w = (t.to(dev) for t in _unroll_plan(geometry, *key))
            T = torch.zeros(rows.numel(), n_cols, dtype=W.dtype, device=dev)
            T[i, c] = W.reshape(-1)[w]
            return T
        b = max(1, block_entries // max(self.n_in, n_full_out))
        flatW = W.reshape(-1)
        parts = []
        for a0 in range(0, rows.numel(), b):
            r = rows[a0:a0 + b]
            i, c, w = _unroll_entries(geometry, r)
            T = torch.zeros(r.numel(), n_full_out, dtype=W.dtype, device=dev)
            T[i, c] = flatW[w]
            parts.append(T if out_idx is None else T[:, out_idx])
        return torch.cat(parts)

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        B = h.shape[0]
        if self.strategy == "dense":
            return _mm(h, self.T, self.Tt)
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
            return _mm(g, self.Tt, self.T)
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


def _times_derivative(name: str, negative_slope: float, g: torch.Tensor, pre: torch.Tensor,
                      post: torch.Tensor) -> torch.Tensor:
    """g ⊙ σ'(pre) in one fused kernel where torch has one (the backward kernels of the activations)."""
    if name == "relu":
        return torch.ops.aten.threshold_backward(g, pre, 0)
    if name == "leaky_relu":
        return torch.ops.aten.leaky_relu_backward(g, pre, negative_slope, False)
    if name == "sigmoid":
        return torch.ops.aten.sigmoid_backward(g, post)
    if name == "tanh":
        return torch.ops.aten.tanh_backward(g, post)
    return g


# ---------------------------------------------------------------------------
# the plan: which entries each layer of each tile computes, and how
# ---------------------------------------------------------------------------
def _plan_chain(Ws, sizes, strides, pads, dim, needed, strategy, prune):
    """Specs of layers 2..d (first to last) producing ``needed`` (None: all outputs), and the
    first layer's needed entries. A spec is (W, stride, padding, size_in, in_idx, out_idx, choice)."""
    specs = []
    for i in range(len(Ws), 1, -1):
        W, s, p = Ws[i - 1], strides[i - 1], pads[i - 1]
        C_in, C_out, k = W.shape[0], W.shape[1], W.shape[2]
        n_in = C_in * sizes[i - 1] ** dim
        in_idx = None if needed is None or not prune else _cone(W, s, p, sizes[i - 1], dim, needed)
        if in_idx is not None and in_idx.numel() == n_in:
            in_idx = None
        n_in_needed = n_in if in_idx is None else in_idx.numel()
        n_out_needed = C_out * sizes[i] ** dim if needed is None else needed.numel()
        useful = sizes[i - 1] ** dim * C_in * k ** dim * C_out
        choice = strategy
        if choice == "auto":
            choice = "dense" if n_in_needed * n_out_needed <= DENSE_WASTE * useful else "col2im"
        if n_in * (C_out * sizes[i] ** dim) > DENSE_MAX_ENTRIES:
            choice = "col2im"
        if choice == "col2im":
            in_idx = None
        specs.append((W, s, p, sizes[i - 1], in_idx, needed, choice))
        needed = in_idx
    return specs[::-1], needed


def _spec_sizes(spec, dim):
    W, s, p, size_in, in_idx, out_idx, choice = spec
    C_in, C_out, k = W.shape[0], W.shape[1], W.shape[2]
    size_out = (size_in - 1) * s - 2 * p + k
    n_in = C_in * size_in ** dim if in_idx is None else in_idx.numel()
    n_out = C_out * size_out ** dim if out_idx is None else out_idx.numel()
    return n_in, n_out


def _cost(chains, n0: int, dim: int) -> float:
    """Modelled time per point of J on a set of tiles, in multiply-adds at the GEMM rate.

    ``chains`` holds (layer specs, first-layer entries) per tile. Three terms, fitted to
    measured points/s of 42 (net, mask, tiles) cases (``benchmarks/NOTES.md``, "Tiles"): the
    GEMMs' multiply-adds (a GEMM narrower than :data:`GEMM_MIN_N` columns costs as much as one
    that wide; col2im counts :data:`COL2IM_SLOWDOWN` × its useful ones), every
    float a layer writes (:data:`PASS`: activation, residual, memory traffic), and every torch
    call per chunk (:data:`CALL`), where the chunk is what :func:`chunk_size` gives the largest
    tile.
    """
    gemm = floats = calls = widest = 0
    for specs, n1 in chains:
        gemm += n0 * n1
        f = n1
        calls += 5                                   # z @ M1, σ, − y, ‖·‖², the sum over tiles
        for spec in specs:
            W, s, p, size_in, in_idx, out_idx, choice = spec
            n_in, n_out = _spec_sizes(spec, dim)
            if choice == "dense":
                gemm += n_in * max(n_out, GEMM_MIN_N)
                f += n_out
                calls += 2
            else:
                C_in, C_out, k = W.shape[0], W.shape[1], W.shape[2]
                gemm += COL2IM_SLOWDOWN * size_in ** dim * C_in * k ** dim * C_out
                f += size_in ** dim * k ** dim * C_out + C_out * ((size_in - 1) * s + k) ** dim
                calls += 3 + k ** dim
        floats += f
        widest = max(widest, f)
    return gemm + PASS * floats + CALL * calls / chunk_size(widest)


def _tile_of(pos: torch.Tensor, C: int, S: int, dim: int, k: int) -> torch.Tensor:
    """Tile number (0 … k^dim − 1) of channels-last output positions on a k^dim grid of tiles."""
    sp = pos // C
    if dim == 1:
        return sp * k // S
    return (sp // S) * k // S * k + (sp % S) * k // S


class _Branch:
    """One tile: its first-layer matrix, its layers, and its outputs.

    ``M1`` (n0, n1_b) gives the first layer's entries the tile needs; ``sel`` (m_b,) are the
    tile's outputs as positions in the operator's order (None: all of them, in order).
    """

    def __init__(self, M1, layers, sel):
        self.M1, self.M1t, self.layers, self.sel = M1.contiguous(), M1.T.contiguous(), layers, sel

    def floats_per_point(self) -> int:
        return self.M1.shape[1] + sum(L.floats_per_point for L in self.layers)


class _Shape:
    """A weight's shape and device: all that planning reads of it."""

    def __init__(self, shape, device):
        self.shape, self.device = shape, device


PLAN_CACHE = 64              # tilings kept (per architecture, mask and device)
_PLANS: dict = {}
_PLANS_LOCK = threading.Lock()


def _plan_tiles(shapes, sizes, strides, pads, dim, n0, needed, strategy, prune, ks, C, dev):
    """The cheapest tiling by the cost model → (k, chains); a chain is (layer specs, first-layer
    entries n1, first-layer indices, the tile's outputs), a spec's weight given by its layer number.

    Only the weights' shapes are read: the same plan serves every weight draw of an architecture.
    """
    Ws = [_Shape(torch.Size(s), torch.device(dev)) for s in shapes]
    S, n_out_all = sizes[-1], C * sizes[-1] ** dim
    pos = torch.arange(n_out_all, device=dev) if needed is None else needed
    index = {id(W): j for j, W in enumerate(Ws)}

    def plan(k):
        sels = [None]
        if k > 1:
            tile = _tile_of(pos, C, S, dim, k)
            sels = [s for s in (torch.nonzero(tile == t).reshape(-1) for t in range(k ** dim)) if s.numel()]
        chains = []
        for sel in sels:
            specs, first = _plan_chain(Ws, sizes, strides, pads, dim, needed if sel is None else pos[sel],
                                       strategy, prune)
            n1 = shapes[0][1] * sizes[1] ** dim if first is None else first.numel()
            chains.append((specs, n1, first, sel))
        return chains

    best = None
    for k in ks:
        chains = plan(k)
        if k > 1 and not _fits(chains, Ws, sizes, dim):
            continue
        cost = _cost([c[:2] for c in chains], n0, dim)
        if best is None or cost < best[0]:
            best = (cost, k, chains)
    if best is None:
        best = (None, 1, plan(1))
    return best[1], [([(index[id(W)], *rest) for W, *rest in specs], n1, first, sel)
                     for specs, n1, first, sel in best[2]]


def _fits(chains, Ws, sizes, dim) -> bool:
    """Tiles may not hold more dense entries per layer than the untiled layer (nor the cap)."""
    for j in range(len(Ws) - 1):
        total = sum(_spec_sizes(c[0][j], dim)[0] * _spec_sizes(c[0][j], dim)[1]
                    for c in chains if c[0][j][6] == "dense")
        W = Ws[j + 1]
        full = W.shape[0] * sizes[j + 1] ** dim * W.shape[1] * sizes[j + 2] ** dim
        if total > min(full, DENSE_MAX_ENTRIES):
            return False
    return True


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
    tiles : "auto" or int
        Tiles per spatial axis of the output (see the module docstring); ``auto`` picks
        1 … :data:`MAX_TILES` by the cost model. A Gaussian A, ``col2im`` or ``prune=False``
        use one tile.
    sectors : bool
        Where the latent is two-dimensional, the hidden activations piecewise linear and A a pixel
        mask, compute J, ∇J and the Jacobian from the exact per-sector linear maps of
        :mod:`~core.generators.sectors` (built on first use). Only with the automatic strategy
        and tiling; False keeps the layer-by-layer formulations (the tests compare the two).
    """

    def __init__(self, G: ConvGenerator, op: SamplingOperator, y: torch.Tensor, strategy: str = "auto",
                 prune: bool = True, tiles="auto", sectors: bool = True):
        super().__init__()
        with one_thread():     # hundreds of small kernels: a second intra-op thread only waits at barriers
            self._build(G, op, y, strategy, prune, tiles, sectors)

    def _build(self, G, op, y, strategy, prune, tiles, sectors):
        cfg = G.cfg
        if strategy not in ("auto", "dense", "col2im"):
            raise ValueError(f"strategy: must be auto, dense or col2im; got {strategy!r}")
        if tiles != "auto" and not (isinstance(tiles, int) and 1 <= tiles <= 64):
            raise ValueError(f"tiles: must be 'auto' or an integer in [1, 64], got {tiles!r}")
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

        # The tiling depends on the layer shapes and the mask only, not on the weights: planned once
        # per architecture and mask (a new weight draw, the dashboard's weight seed, reuses it).
        ks = [1] if self.A_matrix is not None or strategy == "col2im" or not prune or d == 1 else (
            list(range(1, MAX_TILES + 1)) if tiles == "auto" else [tiles])
        shapes = tuple(tuple(W.shape) for W in Ws)
        plan_key = (shapes, tuple(sizes), tuple(strides), tuple(pads), dim, cfg.n0, strategy, prune, tuple(ks),
                    str(dev), None if needed is None else needed.to("cpu", torch.int64).numpy().tobytes())
        with _PLANS_LOCK:
            planned = _PLANS.get(plan_key)
        if planned is None:
            planned = _plan_tiles(shapes, sizes, strides, pads, dim, cfg.n0, needed, strategy, prune, ks,
                                  cfg.channels[-1], dev)
            with _PLANS_LOCK:
                _PLANS[plan_key] = planned
                while len(_PLANS) > PLAN_CACHE:
                    _PLANS.pop(next(iter(_PLANS)))
        self.tiles = planned[0]
        chains = [([(Ws[j], *rest) for j, *rest in specs], n1, first, sel) for specs, n1, first, sel in planned[1]]

        W1 = Ws[0]
        k1, p1 = W1.shape[2], pads[0]
        M1 = _channels_last(W1, dim)  # (n0, *k, C1)
        if p1:
            M1 = M1[:, p1:k1 - p1] if dim == 1 else M1[:, p1:k1 - p1, p1:k1 - p1]
        M1 = M1.reshape(cfg.n0, -1)
        self.branches = []
        for specs, n1, first, sel in chains:
            layers = [_Layer(W, s, p, size_in, dim, in_idx=i, out_idx=o, strategy=c)
                      for W, s, p, size_in, i, o, c in specs]
            self.branches.append(_Branch(M1 if first is None else M1[:, first], layers, sel))
        self.M1 = torch.cat([b.M1 for b in self.branches], 1)   # every tile's first layer, for the accounting
        self.register_buffer("y", y.reshape(-1))
        self._y = [self.y if b.sel is None else self.y[b.sel].contiguous() for b in self.branches]
        if len(self.branches) > 1:   # tile order → operator order
            self._inverse = torch.argsort(torch.cat([b.sel for b in self.branches]))
        self.n0, self.m = cfg.n0, op.m
        sig = activation_fn(cfg.activation, cfg.negative_slope)
        sig_last = activation_fn(cfg.last, cfg.negative_slope)
        self._acts = [sig] * (d - 1) + [sig_last]
        self._names = [cfg.activation] * (d - 1) + [cfg.last]
        self._acts_ = [activation_fn(n, cfg.negative_slope, inplace=True) for n in self._names]
        self._chain_source = None
        if sectors is True and strategy == "auto" and tiles == "auto" and prune and \
                _sectors.applies(cfg, op.matrix is None):
            self._chain_source = (Ws, sizes, strides, pads, needed, M1)
        self._sector_source = self._chain_source if cfg.n0 == 2 else None
        self._sectors = None
        self._sectors_lock = threading.Lock()
        self._chain_parts = None
        self._plane_sectors: dict = {}

    @property
    def sectors(self) -> "_sectors.Sectors | None":
        """The sector table (:mod:`~core.generators.sectors`), built on first use; None where it does
        not apply or would be too large (the layer-by-layer formulations are used then)."""
        with self._sectors_lock:
            if self._sector_source is not None:
                self._sector_source = None
                self._sectors = self._build_sectors(None)
            return self._sectors

    def plane_sectors(self, d1, d2) -> "_sectors.Sectors | None":
        """The sector table of J on the plane ``u·d1 + v·d2`` through the origin (any n0; its points
        given as (u, v)), built on first use for that plane (the last 4 kept); None where the sectors
        do not apply or would be too large."""
        if self._chain_source is None:
            return None
        D = torch.stack([torch.as_tensor(d, dtype=self.y.dtype, device=self.y.device).reshape(-1) for d in (d1, d2)])
        key = D.cpu().numpy().tobytes()
        with self._sectors_lock:
            if key not in self._plane_sectors:
                self._plane_sectors[key] = self._build_sectors(D)
                while len(self._plane_sectors) > 4:
                    self._plane_sectors.pop(next(iter(self._plane_sectors)))
            return self._plane_sectors[key]

    def _quadratics(self, target=None, weight=None) -> "_sectors.Sectors | None":
        """The sector table when J goes through its quadratics (no per-point targets or weights),
        else None."""
        sec = self.sectors
        return sec if sec is not None and sec.quadratic is not None and target is None and weight is None else None

    def _build_sectors(self, D):
        """Sectors of the untiled chain, pruned to the observed pixels' cone (fewer hidden units, fewer
        sectors), on the latent plane spanned by D's rows (None: the latent space itself, n0 = 2)."""
        with one_thread():     # small kernels: a second intra-op thread only waits at barriers
            if self._chain_parts is None:
                Ws, sizes, strides, pads, needed, M1 = self._chain_source
                specs, first = _plan_chain(Ws, sizes, strides, pads, self.dim, needed, "auto", True)
                layers = [_Layer(W, s, p, size_in, self.dim, in_idx=i, out_idx=o, strategy=c)
                          for W, s, p, size_in, i, o, c in specs]
                self._chain_parts = ((M1 if first is None else M1[:, first]).contiguous(), layers)
            M1, layers = self._chain_parts
            if D is not None:
                M1 = (D @ M1).contiguous()     # the first layer seen from the plane's coordinates
            chain = _sectors._Chain(M1, layers, self.cfg.activation, self.cfg.negative_slope)
            widest = max([M1.shape[1]] + [L.floats_per_point for L in layers])
            return _sectors.Sectors.build(chain, self.cfg.depth, widest, self.cfg.last, self.y)

    # -- accounting, for the benchmark --------------------------------------
    @property
    def layers(self) -> list:
        """Every layer after the first, tile by tile."""
        return [L for b in self.branches for L in b.layers]

    @property
    def macs_per_point(self) -> int:
        """Multiply-adds the engine performs per z of :meth:`J_many` (with per-point targets or
        weights the sectors do K_s z instead: 2·m)."""
        if self.sectors is not None:   # the quadratics' 6 (J without per-point targets), else K_s z
            return 6 if self.sectors.quadratic is not None else 2 * self.m
        extra = 0 if self.A_matrix is None else self.A_matrix.numel()
        return self.M1.numel() + sum(L.macs for L in self.layers) + extra

    @property
    def useful_macs_per_point(self) -> int:
        """Multiply-adds of the full transposed convolutions (no structural zeros, no pruning)."""
        W1 = self.cfg.channels[0] * self.cfg.channels[1] * self.cfg.per_layer("kernel")[0] ** self.dim
        sizes, ks = self.cfg.layer_sizes(), self.cfg.per_layer("kernel")
        rest = sum(sizes[i] ** self.dim * self.cfg.channels[i] * ks[i] ** self.dim * self.cfg.channels[i + 1]
                   for i in range(1, self.cfg.depth))
        extra = 0 if self.A_matrix is None else self.A_matrix.numel()
        return W1 + rest + extra

    def floats_per_point(self) -> int:
        """Floats one point holds at once (the tiles run one after the other)."""
        if self.sectors is not None:
            return self.sectors.floats_per_point()
        return max(b.floats_per_point() for b in self.branches)

    def chunk_size(self) -> int:
        """Points per chunk of :meth:`J_many` (without per-point targets)."""
        if self._quadratics() is not None:
            return QUADRATIC_CHUNK
        return chunk_size(self.floats_per_point())

    def grad_chunk_size(self) -> int:
        """Rows per chunk of :meth:`J_and_grad` (and, divided by n0, of the tangents)."""
        return int(min(8192, max(32, GRAD_FLOATS // (3 * self.floats_per_point()))))

    # -- evaluation ------------------------------------------------------------
    def _targets(self, target, weight):
        """Per tile: (target columns, weight columns), from the operator-order (B, m) arrays."""
        if self.A_matrix is not None and (target is not None or weight is not None):
            raise ValueError("target/weight: need a pixel operator, not a Gaussian A")
        out = []
        for b, yb in zip(self.branches, self._y):
            t = yb if target is None else (target if b.sel is None else target[:, b.sel])
            w = None if weight is None else (weight if b.sel is None else weight[:, b.sel])
            out.append((t, w))
        return out

    def _rows(self, fn, B: int, chunk: int) -> None:
        """``fn(a, b)`` for every chunk of rows, spread over threads (:func:`map_chunks`)."""
        n = -(-B // chunk)
        map_chunks(lambda i: fn(i * chunk, min(B, (i + 1) * chunk)), n)

    def observe(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, n0) → A G(z) (B, m). Differentiable by autograd (one pass, no chunking)."""
        parts = []
        for br in self.branches:
            h = self._acts[0](z @ br.M1)
            for layer, act in zip(br.layers, self._acts[1:]):
                h = act(layer(h))
            parts.append(h)
        if self.A_matrix is not None:
            return parts[0] @ self.A_matrix
        if len(parts) == 1:
            return parts[0]
        return torch.cat(parts, 1)[:, self._inverse]

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
        operator (no Gaussian A). Rows are processed in chunks of :meth:`chunk_size`.
        """
        B = z.shape[0]
        J = z.new_empty(B)
        grad = z.new_empty(B, self.n0)
        tw = self._targets(target, weight)
        sec, quad = self.sectors, self._quadratics(target, weight)

        def run(a, b):
            if quad is not None:
                J[a:b], grad[a:b] = quad.J_quadratic(z[a:b], grad=True)
                return
            if sec is not None:
                J[a:b], grad[a:b] = self._sector_J_and_grad(sec, z[a:b], *self._sector_tw(target, weight, a, b))
                return
            J[a:b], grad[a:b] = self._J_and_grad(z[a:b], [(t if target is None else t[a:b],
                                                           None if w is None else w[a:b]) for t, w in tw])

        self._rows(run, B, QUADRATIC_CHUNK if quad is not None else self.grad_chunk_size())
        return J, grad

    def _J_and_grad(self, z, tw):
        slope, names, acts = self.cfg.negative_slope, self._names, self._acts
        J = grad = None
        for br, (t, w) in zip(self.branches, tw):
            pre1 = z @ br.M1
            h = post1 = acts[0](pre1)
            pre, post = [], []
            for i, layer in enumerate(br.layers, start=1):
                p = layer(h)
                # ReLU's derivative is read off its output, so it can overwrite its input.
                h = torch.relu_(p) if names[i] == "relu" else acts[i](p)
                pre.append(h if names[i] == "relu" else p)
                post.append(h)
            if self.A_matrix is not None:
                r = h @ self.A_matrix - t
                g = r @ self.A_matrix.T
            else:
                r = h - t
                g = r
                if w is not None:
                    r = r * w
                    g = r * w
            Jb = torch.linalg.vecdot(r, r)
            J = Jb if J is None else J.add_(Jb)
            for i in range(len(br.layers), 0, -1):
                g = _times_derivative(names[i], slope, g, pre[i - 1], post[i - 1])
                g = br.layers[i - 1].backward(g)
            gb = _mm(_times_derivative(names[0], slope, g, pre1, post1), br.M1t, br.M1)
            grad = gb if grad is None else grad.add_(gb)
        return J.mul_(0.5), grad

    @torch.no_grad()
    def residual_and_jacobian(self, z: torch.Tensor, target: torch.Tensor | None = None,
                              weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, n0) → (r (B, m), ∂r/∂z (B, m, n0)) with ``r = w ⊙ (A G(z) − y)``.

        Forward-mode by hand: the n0 tangents ``∂h/∂z_k`` travel through the same layers as
        the activations (one batched call on B·n0 rows per layer), each multiplied by σ'(pre).
        ``target`` and ``weight`` as in :meth:`J_and_grad`. Rows are processed in chunks of
        :meth:`chunk_size` / n0, so the tangents stay bounded too.
        """
        B, n0 = z.shape
        r_out = z.new_empty(B, self.m)
        jac = z.new_empty(B, self.m, n0)
        tw = self._targets(target, weight)
        sec = self.sectors

        def run(a, b):
            if sec is not None:
                r_out[a:b], jac[a:b] = self._sector_residual_and_jacobian(
                    sec, z[a:b], *self._sector_tw(target, weight, a, b))
                return
            self._residual_and_jacobian(z[a:b], [(t if target is None else t[a:b], None if w is None else w[a:b])
                                                 for t, w in tw], r_out[a:b], jac[a:b])

        self._rows(run, B, max(1, self.grad_chunk_size() // n0))
        return r_out, jac

    def _residual_and_jacobian(self, z, tw, r_out, jac):
        slope = self.cfg.negative_slope
        B, n0 = z.shape
        for br, (t, w) in zip(self.branches, tw):
            pre = z @ br.M1
            h = self._acts[0](pre)
            T = br.M1[None] * _derivative(self._names[0], slope, pre, h)[:, None, :]     # (B, n0, n1)
            for i, layer in enumerate(br.layers, start=1):
                pre = layer(h)
                h = self._acts[i](pre)
                T = layer(T.reshape(B * n0, -1)).reshape(B, n0, -1) * _derivative(self._names[i], slope, pre, h)[:, None, :]
            if self.A_matrix is not None:
                h, T = h @ self.A_matrix, T @ self.A_matrix
            r = h - t
            if w is not None:
                r = r * w
                T = T * w[:, None, :]
            if br.sel is None:
                r_out.copy_(r)
                jac.copy_(T.transpose(1, 2))
            else:
                r_out[:, br.sel] = r
                jac[:, br.sel] = T.transpose(1, 2)

    @torch.no_grad()
    def J_many(self, z: torch.Tensor, chunk: int | None = None, target: torch.Tensor | None = None,
               weight: torch.Tensor | None = None) -> torch.Tensor:
        """J for any number of points, in cache-sized chunks spread over threads (no autograd,
        activations in place).

        ``target`` and ``weight`` (B, m), as in :meth:`J_and_grad`.
        """
        tw = self._targets(target, weight)
        out = torch.empty(z.shape[0], dtype=z.dtype, device=z.device)
        sec, quad = self.sectors, self._quadratics(target, weight)
        chunk = chunk or (QUADRATIC_CHUNK if quad is not None else chunk_size(self.floats_per_point()))

        def run(a, b):
            if quad is not None:
                out[a:b] = quad.J_quadratic(z[a:b])
                return
            if sec is not None:
                out[a:b] = self._sector_J(sec, z[a:b], *self._sector_tw(target, weight, a, b))
                return
            out[a:b] = self._J_chunk(z[a:b], [(t if target is None else t[a:b], None if w is None else w[a:b])
                                              for t, w in tw])

        self._rows(run, z.shape[0], chunk)
        return out

    def _J_chunk(self, z, tw):
        J = None
        for br, (t, w) in zip(self.branches, tw):
            h = self._acts_[0](z @ br.M1)
            for layer, act in zip(br.layers, self._acts_[1:]):
                h = act(layer(h))
            if self.A_matrix is not None:
                h = h @ self.A_matrix
            r = h.sub_(t)
            if w is not None:
                r.mul_(w)
            Jb = torch.linalg.vecdot(r, r)
            J = Jb if J is None else J.add_(Jb)
        return J.mul_(0.5)

    # -- the sector formulation (core.generators.sectors) ----------------------
    def _sector_tw(self, target, weight, a, b):
        return (self.y if target is None else target[a:b]), (None if weight is None else weight[a:b])

    def _sector_J(self, sec, z, t, w):
        pre, _ = sec.pre(z)
        r = self._acts_[-1](pre).sub_(t)
        if w is not None:
            r.mul_(w)
        return torch.linalg.vecdot(r, r).mul_(0.5)

    def _sector_J_and_grad(self, sec, z, t, w):
        pre, Kz = sec.pre(z)
        post = self._acts[-1](pre)
        r = post - t
        g = r
        if w is not None:
            r = r * w
            g = r * w
        g = _times_derivative(self._names[-1], self.cfg.negative_slope, g, pre, post)
        return torch.linalg.vecdot(r, r).mul_(0.5), torch.linalg.vecdot(Kz, g[:, None, :])

    def _sector_residual_and_jacobian(self, sec, z, t, w):
        pre, Kz = sec.pre(z)
        post = self._acts[-1](pre)
        r = post - t
        T = Kz * _derivative(self._names[-1], self.cfg.negative_slope, pre, post)[:, None, :]
        if w is not None:
            r = r * w
            T = T * w[:, None, :]
        return r, T.transpose(1, 2)


def chunk_size(floats_per_point: int) -> int:
    """Points per chunk so that one chunk's intermediates fit in :data:`CACHE_FLOATS`."""
    return int(min(8192, max(32, CACHE_FLOATS // max(1, floats_per_point))))
