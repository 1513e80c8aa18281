"""Sampling operators ``A``: the partial observation ``y = A x`` of a generator output ``x = G(z)``.

The paper (Ma, Ayaz & Karaman 2018, eq. 3 and Theorem 4) observes ``y* = A G(z*)`` where ``A`` is a
subset of the rows of the identity, i.e. a pixel mask, at sampling rate ``r = m / n``. The authors'
released code also uses a dense Gaussian ``A``. Both are a :class:`SamplingOperator`, built by
:func:`make_operator`; the design follows deepinv's ``Inpainting`` (mask as a buffer, methods named
``A`` / ``A_adjoint``, randomness only through an explicit ``seed``).

Glossary
--------
========  ===============  ==========================  =====================================
paper     code             shape                       meaning
========  ===============  ==========================  =====================================
x         ``x``            (B, C, H, W) or (B, C, L)   generator output ``G(z)``
A         ``op.A``         (m, n) as ``op.to_dense()`` sampling operator
y         ``y``            (B, m)                      measurements ``A x``
n_d       ``op.n``         int                         ``prod(shape)``
m         ``op.m``         int                         number of measurements
r         ``op.rate``      float                       true sampling rate ``m / n``
========  ===============  ==========================  =====================================
"""

from __future__ import annotations

import math
import numbers

import torch

__all__ = ["PATTERNS", "SamplingOperator", "make_operator"]

PATTERNS = ("identity", "random", "top", "bottom", "left", "right", "border", "center", "strip", "gaussian")

_PATTERNS_1D = tuple(p for p in PATTERNS if p not in ("top", "bottom"))
MAX_DENSE_ENTRIES = 1 << 24   # entries of a dense Gaussian A (128 MiB in float64)


class SamplingOperator(torch.nn.Module):
    """A linear measurement operator ``A: R^n -> R^m`` acting on a batch of generator outputs.

    Either a pixel mask (``A`` is a subset of the rows of the identity) or a dense matrix.
    Build one with :func:`make_operator`; the constructor takes the finished mask or matrix.

    Parameters
    ----------
    pattern : str
        Name of the pattern that produced the operator, one of :data:`PATTERNS` (a label only).
    shape : tuple of int
        Generator output shape without the batch dimension: ``(C, H, W)`` or ``(C, L)``.
    mask : torch.Tensor of bool, shape ``shape``, optional
        Observed entries. Exactly one of ``mask`` and ``matrix`` must be given.
    matrix : torch.Tensor, shape (m, n), optional
        Dense operator acting on ``x.flatten(1)`` (C-order over ``shape``).
    dtype : torch.dtype, default torch.float32
        Floating dtype of the operator (of ``matrix``, and of ``to_dense()`` for masks).
    device : str or torch.device, default "cpu"

    Attributes
    ----------
    pattern : str
    shape : tuple of int
    n : int
        ``prod(shape)``.
    m : int
        Number of measurements.
    rate : float
        True sampling rate ``m / n``.
    mask : torch.Tensor of bool, shape ``shape``, or None
        Buffer; None for a dense operator.
    indices : torch.Tensor of int64, shape (m,), or None
        Buffer; flat C-order indices of the observed entries, ascending. None for a dense operator.
    matrix : torch.Tensor, shape (m, n), or None
        Buffer; None for a mask.

    Notes
    -----
    All tensors are buffers, so ``.to(device)`` and ``.to(dtype)`` move or cast the operator.
    """

    def __init__(
        self,
        pattern: str,
        shape: tuple[int, ...],
        *,
        mask: torch.Tensor | None = None,
        matrix: torch.Tensor | None = None,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        _check_pattern(pattern)
        self.pattern = pattern
        self.shape = _check_shape(shape)
        _check_dtype(dtype)
        self.n = math.prod(self.shape)
        if (mask is None) == (matrix is None):
            raise ValueError("exactly one of mask and matrix must be given")
        if mask is not None:
            if mask.dtype != torch.bool or tuple(mask.shape) != self.shape:
                raise ValueError(f"mask must be a bool tensor of shape {self.shape}, got {mask.dtype} {tuple(mask.shape)}")
            mask = mask.to(device)
            indices = torch.flatten(mask).nonzero().squeeze(1)
            if indices.numel() == 0:
                raise ValueError("mask must observe at least one entry")
            self.register_buffer("mask", mask)
            self.register_buffer("indices", indices)
            self.register_buffer("matrix", None)
            self.m = int(indices.numel())
        else:
            if matrix.ndim != 2 or matrix.shape[1] != self.n or matrix.shape[0] < 1:
                raise ValueError(f"matrix must have shape (m, {self.n}) with m >= 1, got {tuple(matrix.shape)}")
            self.register_buffer("mask", None)
            self.register_buffer("indices", None)
            self.register_buffer("matrix", matrix.to(device=device, dtype=dtype))
            self.m = int(matrix.shape[0])
        # A mask has no floating buffer, so without this `.to(dtype)` would leave no trace for
        # `to_dense()` and `dtype` to follow. Empty and non-persistent: costs nothing, not saved.
        self.register_buffer("_float_anchor", torch.empty(0, dtype=dtype, device=device), persistent=False)
        self.rate = self.m / self.n

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype the operator is on (follows ``.to()``)."""
        return self._float_anchor.dtype

    @property
    def device(self) -> torch.device:
        """Device the operator's buffers are on (follows ``.to()``)."""
        return self._float_anchor.device

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """Measure: ``y = A x``.

        Parameters
        ----------
        x : torch.Tensor, shape (B, *shape)

        Returns
        -------
        y : torch.Tensor, shape (B, m)

        Raises
        ------
        ValueError
            If ``x`` does not have shape ``(B, *shape)``.
        """
        if x.ndim != len(self.shape) + 1 or tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"x must have shape (B, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}")
        flat = x.flatten(1)
        if self.matrix is None:
            return flat.index_select(1, self.indices)
        return flat @ self.matrix.T

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Adjoint: ``x = A^T y``; for a mask, ``y`` placed at the observed entries, zeros elsewhere.

        Parameters
        ----------
        y : torch.Tensor, shape (B, m)

        Returns
        -------
        x : torch.Tensor, shape (B, *shape)

        Raises
        ------
        ValueError
            If ``y`` does not have shape ``(B, m)``.
        """
        if y.ndim != 2 or y.shape[1] != self.m:
            raise ValueError(f"y must have shape (B, {self.m}), got {tuple(y.shape)}")
        if self.matrix is None:
            flat = y.new_zeros(y.shape[0], self.n).index_copy(1, self.indices, y)
        else:
            flat = y @ self.matrix
        return flat.reshape(y.shape[0], *self.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`A`."""
        return self.A(x)

    def to_dense(self) -> torch.Tensor:
        """The matrix of ``A``.

        Returns
        -------
        torch.Tensor, shape (m, n), dtype ``self.dtype``
            Rows of the identity at ``indices`` for a mask; a copy of ``matrix`` otherwise.
        """
        if self.matrix is not None:
            return self.matrix.clone()
        dense = torch.zeros(self.m, self.n, dtype=self.dtype, device=self.indices.device)
        dense[torch.arange(self.m, device=self.indices.device), self.indices] = 1
        return dense

    def extra_repr(self) -> str:
        return f"pattern={self.pattern!r}, shape={self.shape}, m={self.m}, n={self.n}, rate={self.rate:.4f}"


def make_operator(
    pattern: str,
    shape: tuple[int, ...],
    rate: float = 0.5,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> SamplingOperator:
    """Build the sampling operator for a named pattern.

    Parameters
    ----------
    pattern : str
        One of :data:`PATTERNS`:

        - ``identity``: everything observed (``rate`` ignored).
        - ``random``: ``round(rate * n)`` entries drawn uniformly over the whole ``shape`` (so
          channels differ), by ``torch.randperm`` with a generator seeded with ``seed``.
        - ``top`` / ``bottom``: the first / last ``ceil(rate * H)`` rows (2-D only).
        - ``left`` / ``right``: the first / last ``ceil(rate * W)`` columns (1-D: samples).
        - ``border``: a ring of width ``w`` on the boundary, ``w`` the smallest for which the
          ring covers at least ``rate`` of the image (1-D: ``w`` samples at both ends).
        - ``center``: all but a central square hole (1-D: interval) whose side is chosen so the
          observed fraction is as close as possible to ``rate`` (ties: the smaller hole).
        - ``strip``: the first ``round(rate * H * W)`` pixels in column-major order (a left strip),
          as in the authors' MATLAB code (1-D: the first ``round(rate * L)`` samples).
        - ``gaussian``: a dense ``A`` with ``m = round(rate * n)`` rows, entries i.i.d.
          ``N(0, 1/m)``, seeded with ``seed``.

        Apart from ``random`` and ``gaussian``, the mask is drawn on the spatial grid and repeated
        over channels.
    shape : tuple of int
        ``(C, H, W)`` or ``(C, L)``, all sizes positive.
    rate : float, default 0.5
        Requested sampling rate in ``(0, 1]``. The operator's ``rate`` is the true ``m / n``.
    seed : int, default 0
        Seed for ``random`` and ``gaussian``, in ``[0, 2**64 - 1]``.
    dtype : torch.dtype, default torch.float32
        A floating dtype.
    device : str or torch.device, default "cpu"

    Returns
    -------
    SamplingOperator

    Raises
    ------
    ValueError
        On an unknown ``pattern``, a ``rate`` outside ``(0, 1]`` or not finite, a ``shape`` that is
        not 1-D/2-D with positive sizes, ``top``/``bottom`` on a 1-D ``shape``, a ``seed`` that is
        not a non-negative integer, or a non-floating ``dtype``. The message starts with the field.

    Notes
    -----
    Counts are rounded with ``rate * size`` read as the decimal the user typed: a product within
    float noise of an integer or half-integer is snapped to it first (so ``0.7 * 10`` rows is 7,
    not 8). ``round`` is half up, as MATLAB's ``round`` is for positive numbers. Every pattern
    observes at least one entry.

    Examples
    --------
    >>> op = make_operator("top", (1, 32, 32), rate=0.5)
    >>> op.m, op.rate
    (512, 0.5)
    """
    _check_pattern(pattern)
    shape = _check_shape(shape)
    rate = _check_rate(rate)
    seed = _check_seed(seed)
    _check_dtype(dtype)
    if len(shape) == 2 and pattern not in _PATTERNS_1D:
        raise ValueError(f"shape must be (C, H, W) for pattern {pattern!r}, got 1-D shape {shape}; "
                         f"1-D patterns are {_PATTERNS_1D}")
    n = math.prod(shape)
    if pattern == "gaussian":
        m = _round_count(rate, n)
        if m * n > MAX_DENSE_ENTRIES:
            raise ValueError(f"rate: a Gaussian A of {m} × {n} entries exceeds {MAX_DENSE_ENTRIES:,}; "
                             f"lower the rate to at most {MAX_DENSE_ENTRIES / n / n:.3g} or use a pixel mask")
        gen = torch.Generator().manual_seed(seed)
        # Drawn in float64 on the CPU so the same seed gives the same A on every dtype and device.
        matrix = torch.randn(m, n, generator=gen, dtype=torch.float64) / math.sqrt(m)
        return SamplingOperator(pattern, shape, matrix=matrix, dtype=dtype, device=device)
    if pattern == "random":
        gen = torch.Generator().manual_seed(seed)
        flat = torch.zeros(n, dtype=torch.bool)
        flat[torch.randperm(n, generator=gen)[: _round_count(rate, n)]] = True
        mask = flat.reshape(shape)
    else:
        spatial = _spatial_mask(pattern, shape[1:], rate)
        mask = spatial.expand(shape).clone()
    return SamplingOperator(pattern, shape, mask=mask, dtype=dtype, device=device)


def _spatial_mask(pattern: str, spatial: tuple[int, ...], rate: float) -> torch.Tensor:
    """Bool mask of shape ``spatial`` ((H, W) or (L,)) for a deterministic pattern."""
    size = math.prod(spatial)
    mask = torch.zeros(spatial, dtype=torch.bool)
    if pattern == "identity":
        mask[...] = True
    elif pattern in ("top", "bottom"):
        rows = _ceil_count(rate, spatial[0])
        mask[:rows] = True
        if pattern == "bottom":
            mask = mask.flip(0)
    elif pattern in ("left", "right"):
        cols = _ceil_count(rate, spatial[-1])
        mask[..., :cols] = True
        if pattern == "right":
            mask = mask.flip(-1)
    elif pattern == "strip":
        # Column-major order of (H, W) is C-order of the transpose (W, H).
        k = _round_count(rate, size)
        mask = torch.zeros(tuple(reversed(spatial)), dtype=torch.bool)
        mask.view(-1)[:k] = True
        mask = mask.permute(*reversed(range(mask.ndim))).contiguous()
    elif pattern == "border":
        dist = _distance_to_edge(spatial)
        target = _ceil_count(rate, size)
        w = 1
        while int((dist < w).sum()) < target:
            w += 1
        mask = dist < w
    elif pattern == "center":
        side = _hole_side(spatial, rate)
        mask[...] = True
        hole = tuple(slice((s - side) // 2, (s - side) // 2 + side) for s in spatial)
        mask[hole] = False
    else:  # pragma: no cover - guarded by _check_pattern
        raise AssertionError(pattern)
    return mask


def _distance_to_edge(spatial: tuple[int, ...]) -> torch.Tensor:
    """Integer distance of each pixel to the nearest edge of the grid, shape ``spatial``."""
    dists = []
    for axis, s in enumerate(spatial):
        i = torch.arange(s)
        d = torch.minimum(i, s - 1 - i)
        dists.append(d.reshape([-1 if a == axis else 1 for a in range(len(spatial))]))
    out = dists[0]
    for d in dists[1:]:
        out = torch.minimum(out, d)
    return out.expand(spatial)


def _hole_side(spatial: tuple[int, ...], rate: float) -> int:
    """Side of the central hole (square in 2-D, interval in 1-D) whose observed count is nearest
    ``rate * size``; at least one entry stays observed; ties go to the smaller hole."""
    size = math.prod(spatial)
    target = _snap(rate * size)
    best, best_err = 0, float("inf")
    for side in range(min(spatial) + 1):
        observed = size - side ** len(spatial)
        if observed < 1:
            break
        err = abs(observed - target)
        if err < best_err:
            best, best_err = side, err
    return best


def _snap(x: float) -> float:
    """``x`` snapped to the nearest half-integer when within float noise of it."""
    h = round(2 * x) / 2
    return h if abs(x - h) <= 1e-9 * max(1.0, abs(x)) else x


def _ceil_count(rate: float, size: int) -> int:
    return max(1, math.ceil(_snap(rate * size)))


def _round_count(rate: float, size: int) -> int:
    return max(1, math.floor(_snap(rate * size) + 0.5))


def _check_pattern(pattern: object) -> None:
    if not isinstance(pattern, str) or pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")


def _check_shape(shape: object) -> tuple[int, ...]:
    msg = f"shape must be (C, H, W) or (C, L) with positive integer sizes, got {shape!r}"
    try:
        dims = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(msg) from None
    if len(dims) not in (2, 3) or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) for d in dims):
        raise ValueError(msg)
    dims = tuple(int(d) for d in dims)
    if any(d <= 0 for d in dims):
        raise ValueError(msg)
    return dims


def _check_rate(rate: object) -> float:
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise ValueError(f"rate must be a float in (0, 1], got {rate!r}")
    r = float(rate)
    if not (math.isfinite(r) and 0.0 < r <= 1.0):
        raise ValueError(f"rate must be in (0, 1], got {rate!r}")
    return r


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64 - 1], got {seed!r}")
    return int(seed)


def _check_dtype(dtype: object) -> None:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype such as torch.float32, got {dtype!r}")


# ---------------------------------------------------------------------------
# measurement noise
# ---------------------------------------------------------------------------
NOISE_KINDS = ("none", "gaussian", "quantize")
MAX_SIGMA = 1e3
MAX_BITS = 24


def parse_noise(spec: object) -> tuple[str, float]:
    """``none``, ``gaussian:SIGMA`` or ``quantize:BITS`` → (kind, parameter).

    Raises
    ------
    ConfigError
        Naming ``noise``, with the allowed forms and ranges.
    """
    from .config import ConfigError

    allowed = f"none, gaussian:SIGMA (0 < SIGMA <= {MAX_SIGMA:g}) or quantize:BITS (1 <= BITS <= {MAX_BITS})"
    if not isinstance(spec, str):
        raise ConfigError("noise", f"must be {allowed}; got {spec!r}")
    text = spec.strip()
    if text in ("", "none"):
        return "none", 0.0
    kind, _, arg = text.partition(":")
    try:
        if kind == "gaussian":
            sigma = float(arg)
            if math.isfinite(sigma) and 0 < sigma <= MAX_SIGMA:
                return "gaussian", sigma
        elif kind == "quantize":
            bits = int(arg)
            if 1 <= bits <= MAX_BITS:
                return "quantize", float(bits)
    except ValueError:
        pass
    raise ConfigError("noise", f"must be {allowed}; got {spec!r}")


def measure(op: "SamplingOperator", x: torch.Tensor, spec: str, seeds, output_range=None) -> torch.Tensor:
    """The measured ``y`` of a batch of outputs ``x`` (B, *shape), one noise seed per row.

    For a pixel mask the noise of ``spec`` is drawn over the whole output and the mask keeps the
    observed entries, so an output and a seed give the same measured pixels at every mask and rate
    (:mod:`core.phase` compares masks on the same noisy outputs). For a dense operator it is
    measurement noise, drawn on ``A x``. See :func:`add_noise` for the models.
    """
    seeds = list(seeds)
    if len(seeds) != x.shape[0]:
        raise ValueError(f"seeds: one per row of x ({x.shape[0]}), got {len(seeds)}")
    with torch.no_grad():
        if parse_noise(spec)[0] == "none":
            return op.A(x)
        if op.matrix is None:
            return op.A(torch.stack([add_noise(x[b], spec, seeds[b], output_range) for b in range(len(seeds))]))
        y = op.A(x)
        return torch.stack([add_noise(y[b], spec, seeds[b], output_range) for b in range(len(seeds))])


def add_noise(y: torch.Tensor, spec: str, seed: int = 0, output_range: tuple[float, float] | None = None) -> torch.Tensor:
    """The measured ``y`` from the noiseless ``A G(z*)``, for the noise model ``spec``.

    Parameters
    ----------
    y : Tensor (..., m)
        Noiseless measurements.
    spec : str
        See :func:`parse_noise`. ``gaussian:σ`` adds i.i.d. N(0, σ²) drawn on the CPU in float64
        from ``seed`` (so the same seed gives the same y on every device and dtype).
        ``quantize:B`` rounds each entry to the nearest of the ``2^B`` levels spread evenly over
        ``output_range`` (both ends included), clipping outside it: the analogue-to-digital
        converter of a B-bit sensor.
    output_range : (lo, hi), optional
        The generator's output range (``tanh``: (−1, 1)); defaults to the range of ``y`` itself.

    Returns
    -------
    Tensor, same shape, dtype and device as ``y``
    """
    kind, p = parse_noise(spec)
    if kind == "none":
        return y.clone()
    if kind == "gaussian":
        gen = torch.Generator().manual_seed(int(seed))
        e = torch.randn(y.shape, generator=gen, dtype=torch.float64) * p
        return (y.double().cpu() + e).to(dtype=y.dtype, device=y.device)
    lo, hi = output_range if output_range is not None else (float(y.min()), float(y.max()))
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return y.clone()      # a constant observation: every level is the same
    levels = 2 ** int(p) - 1
    q = torch.round((y.double().clamp(lo, hi) - lo) / (hi - lo) * levels) / levels * (hi - lo) + lo
    return q.to(dtype=y.dtype)
