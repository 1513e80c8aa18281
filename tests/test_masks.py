"""Tests for core/masks.py: every sampling pattern against an explicit per-pixel loop, plus the
operator identities (adjointness, dense matrix, boolean indexing) that deepinv's test_physics
checks for its inpainting operator.

Counts in the references are computed in exact decimal arithmetic (``Fraction(str(rate))``), so
they are independent of the float snapping the implementation does.
"""

from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from core.masks import PATTERNS, SamplingOperator, make_operator

SHAPES_2D = [(1, 17, 17), (1, 31, 31), (2, 8, 12)]
SHAPES_1D = [(1, 64), (2, 33)]
RATES = [0.1, 0.25, 0.3, 0.5, 0.7, 1.0]
MASK_PATTERNS = tuple(p for p in PATTERNS if p != "gaussian")
PATTERNS_1D = tuple(p for p in PATTERNS if p not in ("top", "bottom"))

CASES = [(p, s) for s in SHAPES_2D for p in PATTERNS] + [(p, s) for s in SHAPES_1D for p in PATTERNS_1D]

# `device` (cpu, plus cuda when present) is the fixture in tests/conftest.py.


# ---------------------------------------------------------------- references (plain Python loops)

def ceil_count(rate: float, size: int) -> int:
    return max(1, math.ceil(Fraction(str(rate)) * size))


def round_half_up(rate: float, size: int) -> int:
    return max(1, math.floor(Fraction(str(rate)) * size + Fraction(1, 2)))


def pixels(spatial):
    """All pixel coordinates of a (H, W) or (L,) grid, as tuples."""
    if len(spatial) == 1:
        return [(i,) for i in range(spatial[0])]
    return [(i, j) for i in range(spatial[0]) for j in range(spatial[1])]


def edge_distance(p, spatial):
    return min(min(i, s - 1 - i) for i, s in zip(p, spatial))


def border_width(spatial, rate):
    """Smallest w whose ring (pixels with distance-to-edge < w) covers at least `rate`, by counting."""
    size, r = math.prod(spatial), Fraction(str(rate))
    w = 1
    while Fraction(sum(edge_distance(p, spatial) < w for p in pixels(spatial)), size) < r:
        w += 1
    return w


def hole_box(spatial, side):
    return [((s - side) // 2, (s - side) // 2 + side) for s in spatial]


def in_box(p, box):
    return all(lo <= i < hi for i, (lo, hi) in zip(p, box))


def center_side(spatial, rate):
    """Hole side with observed fraction nearest `rate` (ties: smaller hole, at least one pixel
    observed), by counting the observed pixels of every candidate hole."""
    size, r = math.prod(spatial), Fraction(str(rate))
    best, best_err = None, None
    for side in range(min(spatial) + 1):
        box = hole_box(spatial, side)
        observed = sum(not in_box(p, box) for p in pixels(spatial))
        if observed < 1:
            break
        err = abs(Fraction(observed, size) - r)
        if best_err is None or err < best_err:
            best, best_err = side, err
    return best


def reference_spatial(pattern, spatial, rate):
    """The spec of each deterministic pattern, written as a per-pixel predicate."""
    H = spatial[0] if len(spatial) == 2 else None
    W = spatial[-1]
    if pattern == "identity":
        pred = lambda p: True  # noqa: E731
    elif pattern == "top":
        pred = lambda p: p[0] < ceil_count(rate, H)  # noqa: E731
    elif pattern == "bottom":
        pred = lambda p: p[0] >= H - ceil_count(rate, H)  # noqa: E731
    elif pattern == "left":
        pred = lambda p: p[-1] < ceil_count(rate, W)  # noqa: E731
    elif pattern == "right":
        pred = lambda p: p[-1] >= W - ceil_count(rate, W)  # noqa: E731
    elif pattern == "strip":
        k = round_half_up(rate, math.prod(spatial))
        # column-major position of (i, j) in an H x W image is j * H + i; in 1-D it is i.
        pred = (lambda p: p[1] * H + p[0] < k) if H else (lambda p: p[0] < k)  # noqa: E731
    elif pattern == "border":
        w = border_width(spatial, rate)
        pred = lambda p: edge_distance(p, spatial) < w  # noqa: E731
    elif pattern == "center":
        box = hole_box(spatial, center_side(spatial, rate))
        pred = lambda p: not in_box(p, box)  # noqa: E731
    else:
        raise AssertionError(pattern)
    ref = np.zeros(spatial, dtype=bool)
    for p in pixels(spatial):
        ref[p] = pred(p)
    return ref


def rate_tolerance(pattern, shape, rate):
    """Largest |true rate - requested rate| the pattern's granularity allows, with the reason."""
    n, spatial = math.prod(shape), shape[1:]
    size = math.prod(spatial)
    if pattern == "identity":
        return 1 - rate  # rate is ignored: true rate is exactly 1
    if pattern in ("random", "gaussian"):
        return max(0.5 / n, 1 / n - rate)  # one entry of n, rounded half up (at least one entry)
    if pattern == "strip":
        return max(0.5 / size, 1 / size - rate)  # one pixel of the image, rounded
    if pattern in ("top", "bottom"):
        return 1 / spatial[0]  # ceil: one row
    if pattern in ("left", "right"):
        return 1 / spatial[-1]  # ceil: one column (one sample in 1-D)
    if pattern == "border":
        return 2 * sum(size // s for s in spatial) / size  # ceil: one more ring, at most 2(H + W) pixels
    if pattern == "center":
        # achievable observed counts are size - side**d; consecutive ones differ by <= 2*min+1,
        # and below the smallest achievable rate the operator stops at it.
        d, smin = len(spatial), min(spatial)
        sides = [s for s in range(smin + 1) if size - s**d >= 1]
        lowest = (size - sides[-1] ** d) / size
        gap = max((size - s**d) - (size - (s + 1) ** d) for s in sides[:-1]) / size if len(sides) > 1 else 0
        return max(gap / 2, lowest - rate)
    raise AssertionError(pattern)


# ---------------------------------------------------------------- the pattern is what the spec says

@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("pattern,shape", CASES)
def test_true_rate_close_to_requested(pattern, shape, rate):
    """Reference: the granularity of each pattern (one row, column, ring, pixel or entry), see
    rate_tolerance; patterns built with ceil never fall below the request."""
    op = make_operator(pattern, shape, rate=rate)
    assert op.n == math.prod(shape)
    assert op.rate == op.m / op.n
    assert abs(op.rate - rate) <= rate_tolerance(pattern, shape, rate) + 1e-12
    if pattern in ("top", "bottom", "left", "right", "border"):
        assert op.rate >= rate - 1e-12


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("pattern,shape", [c for c in CASES if c[0] not in ("random", "gaussian")])
def test_mask_matches_per_pixel_loop(pattern, shape, rate):
    """Reference: reference_spatial, a per-pixel predicate written from the spec with exact
    decimal counts; the same mask on every channel."""
    op = make_operator(pattern, shape, rate=rate)
    ref = reference_spatial(pattern, shape[1:], rate)
    for c in range(shape[0]):
        np.testing.assert_array_equal(op.mask[c].numpy(), ref, err_msg=f"channel {c}")
    assert op.m == shape[0] * int(ref.sum())


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("shape", SHAPES_2D + SHAPES_1D)
def test_random_draws_exact_count_over_whole_shape(shape, rate):
    """Reference: the spec's count round(r*n) in exact decimals; the mask is drawn over all of
    `shape`, so with several channels the channels differ."""
    op = make_operator("random", shape, rate=rate, seed=3)
    assert int(op.mask.sum()) == op.m == round_half_up(rate, math.prod(shape))
    if shape[0] > 1 and 0 < op.m < op.n:
        assert not torch.equal(op.mask[0], op.mask[1])


def test_counts_are_read_as_decimals():
    """Reference: hand arithmetic. In floats 0.28 * 25 = 7.000000000000001 (a naive ceil gives 8
    rows) and 0.29 * 50 = 14.499999999999998 (a naive round gives 14, not 15); 0.5 * 17 * 17 =
    144.5 rounds half up to 145, as MATLAB's round does."""
    assert make_operator("top", (1, 25, 25), rate=0.28).m == 7 * 25
    assert make_operator("left", (1, 50, 50), rate=0.14).m == 7 * 50
    assert make_operator("right", (1, 100), rate=0.07).m == 7
    assert make_operator("strip", (1, 5, 10), rate=0.29).m == 15
    assert make_operator("random", (2, 5, 5), rate=0.29).m == 15
    assert make_operator("gaussian", (1, 50), rate=0.29).m == 15
    assert make_operator("strip", (1, 17, 17), rate=0.5).m == 145
    assert make_operator("identity", (3, 4, 5), rate=0.2).m == 60


@pytest.mark.parametrize("pattern,shape", CASES)
def test_tiny_rate_still_observes_something(pattern, shape):
    """Reference: the spec's "at least 1" rule; 1e-12 * n rounds to 0 without it."""
    op = make_operator(pattern, shape, rate=1e-12)
    assert op.m >= 1
    if op.mask is not None:
        assert int(op.mask.sum()) == op.m


def test_half_masks_are_halves():
    """Reference: the paper's Fig. 5 masks; rate 0.5 on a 32x32 image is exactly half."""
    for pattern in ("top", "bottom", "left", "right", "strip"):
        op = make_operator(pattern, (1, 32, 32), rate=0.5)
        assert op.m == 512 and op.rate == 0.5, pattern
    top = make_operator("top", (1, 32, 32)).mask
    assert torch.equal(make_operator("bottom", (1, 32, 32)).mask, ~top)


def test_gaussian_entries_are_n_0_1_over_m():
    """Reference: the closed-form moments of N(0, 1/m); 461k samples give the variance to ~0.2%,
    checked to 5%."""
    op = make_operator("gaussian", (1, 31, 31), rate=0.5, dtype=torch.float64)
    assert op.mask is None and op.indices is None
    assert op.matrix.shape == (op.m, op.n) == (481, 961)
    assert abs(op.matrix.mean().item()) < 5 / math.sqrt(op.matrix.numel() * op.m)
    assert op.matrix.var().item() * op.m == pytest.approx(1.0, rel=0.05)


# ---------------------------------------------------------------- operator identities

@pytest.mark.parametrize("pattern,shape", CASES)
def test_adjointness(pattern, shape):
    """Reference: the definition of the adjoint, <A x, y> = <x, A^T y>, in float64."""
    op = make_operator(pattern, shape, rate=0.3, seed=1, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, *shape, generator=gen, dtype=torch.float64)
    y = torch.randn(3, op.m, generator=gen, dtype=torch.float64)
    lhs = (op.A(x) * y).sum()
    rhs = (x * op.A_adjoint(y)).sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pattern,shape", CASES)
def test_to_dense_matches_A(pattern, shape):
    """Reference: the dense (m, n) matrix times x.flatten(); for masks, also the rows of an
    identity matrix picked by boolean indexing."""
    op = make_operator(pattern, shape, rate=0.3, seed=2, dtype=torch.float64)
    dense = op.to_dense()
    assert dense.shape == (op.m, op.n) and dense.dtype == torch.float64
    x = torch.randn(4, *shape, dtype=torch.float64)
    torch.testing.assert_close(op.A(x), x.flatten(1) @ dense.T, rtol=1e-12, atol=1e-12)
    if op.mask is not None:
        torch.testing.assert_close(dense, torch.eye(op.n, dtype=torch.float64)[op.mask.flatten()])


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("pattern,shape", [c for c in CASES if c[0] != "gaussian"])
def test_mask_A_is_boolean_indexing(pattern, shape, batch):
    """Reference: x.flatten(1)[:, mask.flatten()], torch's boolean indexing (never uses `indices`);
    A_adjoint writes y back at the mask and zeros elsewhere."""
    op = make_operator(pattern, shape, rate=0.5)
    x = torch.randn(batch, *shape)
    y = op.A(x)
    assert y.shape == (batch, op.m)
    assert torch.equal(y, x.flatten(1)[:, op.mask.flatten()])
    back = op.A_adjoint(y)
    assert torch.equal(back, x * op.mask)
    assert torch.equal(op(x), y)


@pytest.mark.parametrize("pattern,shape", [c for c in CASES if c[0] != "gaussian"])
def test_indices_are_sorted_flat_positions_of_mask(pattern, shape):
    """Reference: a loop over the C-order flattened mask collecting the observed positions."""
    op = make_operator(pattern, shape, rate=0.3)
    flat = op.mask.flatten().tolist()
    expected = [k for k in range(op.n) if flat[k]]
    assert op.indices.dtype == torch.long
    assert op.indices.tolist() == expected


@pytest.mark.parametrize("pattern", ["random", "top", "gaussian"])
def test_gradient_through_A_is_adjoint(pattern):
    """Reference: the closed form grad_x 1/2 ||A x - y||^2 = A^T (A x - y), against autograd."""
    op = make_operator(pattern, (2, 8, 12), rate=0.4, dtype=torch.float64)
    x = torch.randn(2, 2, 8, 12, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, op.m, dtype=torch.float64)
    (0.5 * (op.A(x) - y).pow(2).sum()).backward()
    torch.testing.assert_close(x.grad, op.A_adjoint(op.A(x.detach()) - y))


# ---------------------------------------------------------------- seeds, dtype, device

@pytest.mark.parametrize("pattern", ["random", "gaussian"])
def test_same_seed_same_operator_different_seed_different(pattern):
    """Reference: two independent constructions compared entry by entry."""
    a, b = (make_operator(pattern, (1, 17, 17), rate=0.3, seed=7).to_dense() for _ in range(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, make_operator(pattern, (1, 17, 17), rate=0.3, seed=8).to_dense())


def test_seed_is_independent_of_dtype():
    """Reference: the float64 draw cast to float32 (the matrix is drawn once, in float64)."""
    a = make_operator("gaussian", (1, 8, 12), seed=4, dtype=torch.float64).matrix
    b = make_operator("gaussian", (1, 8, 12), seed=4, dtype=torch.float32).matrix
    assert torch.equal(a.float(), b)


@pytest.mark.parametrize("pattern", ["top", "random", "gaussian"])
def test_to_moves_buffers_and_dtype(pattern, device):
    """Reference: the buffers' own .dtype/.device after Module.to, and A on the moved operator
    agreeing with A before the move."""
    op = make_operator(pattern, (2, 8, 12), rate=0.5, dtype=torch.float32)
    x = torch.randn(3, 2, 8, 12, dtype=torch.float64)
    y32 = op.A(x.float())
    op = op.to(device=device, dtype=torch.float64)
    assert op.dtype == torch.float64 and op.device.type == device
    for buf in (op.mask, op.indices, op.matrix):
        if buf is not None:
            assert buf.device.type == device
    assert op.to_dense().dtype == torch.float64 and op.to_dense().device.type == device
    y64 = op.A(x.to(device))
    assert y64.dtype == torch.float64
    torch.testing.assert_close(y64.cpu().float(), y32, rtol=1e-5, atol=1e-5)
    assert op.A_adjoint(y64).shape == (3, 2, 8, 12)


def test_built_on_device(device):
    """Reference: the same operator built on the CPU."""
    op = make_operator("gaussian", (1, 8, 12), seed=5, device=device)
    assert op.matrix.device.type == device
    assert torch.equal(op.matrix.cpu(), make_operator("gaussian", (1, 8, 12), seed=5).matrix)


# ---------------------------------------------------------------- validation

BAD = [
    ("pattern", dict(pattern="diagonal")),
    ("pattern", dict(pattern=None)),
    ("rate", dict(rate=0.0)),
    ("rate", dict(rate=-0.1)),
    ("rate", dict(rate=1.5)),
    ("rate", dict(rate=float("nan"))),
    ("rate", dict(rate=float("inf"))),
    ("rate", dict(rate="0.5")),
    ("rate", dict(rate=True)),
    ("shape", dict(shape=(1, 0, 5))),
    ("shape", dict(shape=(0, 4))),
    ("shape", dict(shape=(1, -2, 3))),
    ("shape", dict(shape=(5,))),
    ("shape", dict(shape=(1, 2, 3, 4))),
    ("shape", dict(shape=(1, 2.5, 3))),
    ("shape", dict(shape=None)),
    ("shape", dict(pattern="top", shape=(1, 64))),
    ("shape", dict(pattern="bottom", shape=(1, 64))),
    ("seed", dict(seed=-1)),
    ("seed", dict(seed=1.5)),
    ("seed", dict(seed="0")),
    ("dtype", dict(dtype=torch.int64)),
]


@pytest.mark.parametrize("field,kwargs", BAD, ids=[f"{f}-{k}" for f, k in BAD])
def test_bad_inputs_raise_naming_the_field(field, kwargs):
    """Reference: the spec's list of invalid inputs; the message starts with the field's name."""
    args = dict(pattern="random", shape=(1, 8, 8), rate=0.5, seed=0) | kwargs
    with pytest.raises(ValueError, match=rf"^{field} must"):
        make_operator(**args)


def test_error_messages_list_allowed_values():
    """Reference: the spec's example message, and the PATTERNS tuple."""
    with pytest.raises(ValueError) as err:
        make_operator("diagonal", (1, 8, 8))
    assert all(p in str(err.value) for p in PATTERNS)
    with pytest.raises(ValueError, match=r"^rate must be in \(0, 1\], got 1\.5$"):
        make_operator("random", (1, 8, 8), rate=1.5)


def test_wrong_input_shapes_raise():
    """Reference: the documented shapes (B, *shape) for x and (B, m) for y."""
    op = make_operator("top", (1, 8, 8))
    with pytest.raises(ValueError, match="^x must"):
        op.A(torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="^y must"):
        op.A_adjoint(torch.zeros(2, op.m + 1))
    with pytest.raises(ValueError, match="exactly one"):
        SamplingOperator("top", (1, 8, 8))


def test_core_masks_imports_no_dashboard_libraries():
    """Reference: sys.modules of a fresh interpreter after importing core.masks (STYLE rule 1)."""
    code = "import sys, core.masks; bad = [m for m in sys.modules if m.split('.')[0] in ('dash', 'plotly')]; print(bad)"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------
# noise models on y (core.masks.add_noise)
# ---------------------------------------------------------------------------
def test_quantize_rounds_to_the_nearest_of_2_to_the_B_levels_over_the_output_range():
    """Reference: the 2^B levels lo + k (hi − lo)/(2^B − 1), k = 0 … 2^B − 1, listed one by one, and the
    nearest of them picked for each entry by a Python loop (values outside the range clip to its ends)."""
    from core.masks import add_noise

    lo, hi, bits = -1.0, 1.0, 3
    levels = [lo + k * (hi - lo) / (2 ** bits - 1) for k in range(2 ** bits)]
    y = torch.tensor([-1.7, -1.0, -0.93, -0.2, 0.0, 0.14, 0.5, 0.71, 0.999, 1.0, 2.5], dtype=torch.float64)
    q = add_noise(y, f"quantize:{bits}", output_range=(lo, hi))
    expected = [min(levels, key=lambda L: abs(L - min(max(v, lo), hi))) for v in y.tolist()]
    assert q.tolist() == pytest.approx(expected, abs=1e-12)
    assert len(set(add_noise(torch.linspace(-1, 1, 1001, dtype=torch.float64), "quantize:3",
                             output_range=(lo, hi)).tolist())) == 2 ** bits
    # 8 bits on tanh's range: the error of an in-range value is at most half a level
    y8 = torch.rand(10_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    err = (add_noise(y8, "quantize:8", output_range=(lo, hi)) - y8).abs().max().item()
    assert err <= 0.5 * (hi - lo) / 255 + 1e-15
    assert q.dtype == y.dtype


def test_gaussian_noise_is_seeded_and_has_the_requested_sigma():
    """Reference: the definition y + N(0, σ²), drawn by torch.randn from the same seed in float64 on the CPU,
    and the sample standard deviation of 200,000 draws (σ within 1 %) for a different seed."""
    from core.masks import add_noise

    y = torch.linspace(-1, 1, 200_000, dtype=torch.float32)
    a = add_noise(y, "gaussian:0.05", seed=7)
    b = add_noise(y, "gaussian:0.05", seed=7)
    c = add_noise(y, "gaussian:0.05", seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c) and a.dtype == torch.float32
    e = torch.randn(y.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 0.05
    assert torch.allclose(a.double(), (y.double() + e).float().double(), atol=0, rtol=0)
    d = (c.double() - y.double())
    assert abs(d.mean().item()) < 5 * 0.05 / math.sqrt(y.numel())
    assert d.std().item() == pytest.approx(0.05, rel=0.01)
    assert torch.equal(add_noise(y, "none"), y)


def test_measure_draws_a_masks_noise_over_the_whole_output_and_a_matrixs_on_y():
    """Reference: the noise written out by hand. For a pixel mask, randn over all n entries of each row
    (its own seed) and the observed entries picked by index, so two masks share their common pixels' noise;
    for a dense operator, randn over the m measurements added to A x."""
    from core.masks import make_operator, measure

    shape = (2, 4, 5)
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    seeds = [11, 12, 13]
    by_hand = x.flatten(1) + torch.stack([torch.randn(40, generator=torch.Generator().manual_seed(s),
                                                      dtype=torch.float64) * 0.1 for s in seeds])
    top = make_operator("top", shape, rate=0.5)
    rnd = make_operator("random", shape, rate=0.3, seed=4)
    for op in (top, rnd):
        assert torch.equal(measure(op, x, "gaussian:0.1", seeds), by_hand[:, op.indices])
    dense = make_operator("gaussian", shape, rate=0.25, seed=2, dtype=torch.float64)
    want = x.flatten(1) @ dense.matrix.T + torch.stack([torch.randn(dense.m, generator=torch.Generator().manual_seed(s),
                                                                    dtype=torch.float64) * 0.1 for s in seeds])
    assert torch.allclose(measure(dense, x, "gaussian:0.1", seeds), want, rtol=0, atol=1e-14)
    assert torch.equal(measure(top, x, "none", seeds), x.flatten(1)[:, top.indices])
    # quantizing with no output range: the levels span each whole output, not its observed part
    q = measure(top, x, "quantize:2", seeds)
    lo, hi = x.flatten(1).min(1).values, x.flatten(1).max(1).values
    levels = lo[:, None] + (hi - lo)[:, None] * torch.arange(4, dtype=torch.float64) / 3
    near = levels.gather(1, (x.flatten(1)[:, top.indices, None] - levels[:, None, :]).abs().argmin(2))
    assert torch.allclose(q, near, rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="seeds"):
        measure(top, x, "gaussian:0.1", seeds[:2])


@pytest.mark.parametrize("spec", ["gaussian:0", "gaussian:-1", "gaussian:nan", "quantize:0", "quantize:2.5",
                                  "quantize:99", "loud", "gaussian", 3])
def test_bad_noise_specs_name_the_noise_field(spec):
    """Reference: the allowed forms, as parse_noise's message states them."""
    from core.config import ConfigError
    from core.masks import parse_noise

    with pytest.raises(ConfigError) as e:
        parse_noise(spec)
    assert e.value.field == "noise" and "gaussian:SIGMA" in str(e.value)
