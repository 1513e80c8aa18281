"""Figure builders: arrays in, trace dicts out.

References are computed here independently of the builders: log10 with numpy (and
``math.log10`` for single values) from the floor's documented definition, distances
with ``math.hypot``, the ball radius ε‖z*‖ from the numbers of the paper-fig4 preset.
"""
import math

import numpy as np
import pytest

from _png import contour_colours, reference_rgba
from dashboard import figures, logic, state
from dashboard.figures import OVERLAY_INDEX, OVERLAYS, Marks


@pytest.fixture
def grid():
    """A small landscape-like grid: J = (u − 0.8)² + 4 (v + 0.5)², zero at (0.8, −0.5)."""
    u = np.linspace(-2.2, 3.8, 31)
    v = np.linspace(-3.5, 2.5, 21)
    J = (u[None, :] - 0.8) ** 2 + 4 * (v[:, None] + 0.5) ** 2
    return u, v, J


def _xy(trace):
    return np.asarray(trace.x, dtype=float), np.asarray(trace.y, dtype=float)


def _pts(trace):
    return list(trace.x), list(trace.y)


def test_contour_z_is_J_in_linear_scale(grid):
    u, v, J = grid
    fig = figures.contour_figure(u, v, J, "linear", figures.log_floor(J))
    bar = fig.data[0]                       # the colour bar: no points
    assert bar.type == "scatter" and list(bar.x) == [None] and bar.marker.showscale
    assert (bar.marker.cmin, bar.marker.cmax) == (J.min(), J.max())
    # The colours: one pixel per grid point, as plotly colours the values (reference: plotly.colors).
    img = contour_colours(fig)
    assert img.shape == J.shape + (4,)
    np.testing.assert_allclose(img, reference_rgba(J, J.min(), J.max(), figures.VIRIDIS), atol=1)
    # Pixel centres on the grid points: the image spans half a cell beyond the first and last.
    im = fig.layout.images[0]
    du, dv = u[1] - u[0], v[1] - v[0]
    assert (im.xref, im.yref, im.layer, im.sizing) == ("x", "y", "below", "stretch")
    assert (im.x, im.sizex) == pytest.approx((u[0] - du / 2, u[-1] - u[0] + du))
    assert (im.y, im.sizey) == pytest.approx((v[-1] + dv / 2, v[-1] - v[0] + dv))
    # The contour lines: the last trace, the same levels (zmin, zmax, 30), from the same grid; they
    # give the hover (the colour value) and the clicks.
    lines = fig.data[-1]
    assert lines.type == "contour" and lines.contours.coloring == "none" and "%{z" in lines.hovertemplate
    assert (lines.contours.start, lines.contours.end, lines.contours.size) == figures.contour_levels(J.min(), J.max())
    np.testing.assert_array_equal(np.asarray(lines.z), J.astype(np.float32))   # a small grid: all of it
    np.testing.assert_array_equal(np.asarray(lines.x), u)
    np.testing.assert_array_equal(np.asarray(lines.y), v)
    assert [t.name for t in fig.data[1:-1]] == list(figures.OVERLAYS)          # overlays keep their indices


def test_colour_image_is_transparent_where_J_is_not_finite(grid):
    u, v, J = grid
    J = J.copy()
    J[3, 4] = np.nan
    img = contour_colours(figures.contour_figure(u, v, J, "linear", 1e-15))
    assert img[3, 4, 3] == 0 and np.all(np.delete(img[..., 3].ravel(), 3 * J.shape[1] + 4) == 255)


def test_colour_scale_is_the_bundled_plotly_viridis():
    """The image's stops against plotly.js's own "Viridis", read from the bundle the page loads."""
    import json
    import re
    from pathlib import Path

    text = (Path(figures.__file__).parents[1] / "assets" / "plotly-dashboard.min.js").read_text(encoding="utf-8")
    js = json.loads(re.search(r"Viridis:(\[\[.*?\]\])", text).group(1).replace("[.", "[0."))
    assert [(float(p), c) for p, c in js] == [(float(p), c) for p, c in figures.VIRIDIS]


@pytest.mark.parametrize("lo,hi,expect", [(0.9461, 4.2141, (1.0, 4.2, 0.2)),      # paper-fig4, log scale
                                           (0.0, 3.0, (0.0, 3.0, 0.1)), (-2.0, 23.0, (-2.0, 23.0, 1.0)),
                                           (0.0, 0.07, (0.0, 0.07, 0.0025))])
def test_contour_levels_are_about_30_round_steps_in_the_colour_range(lo, hi, expect):
    """Against values worked by hand (the first is what plotly's ncontours=30 chose for paper-fig4)."""
    start, end, size = figures.contour_levels(lo, hi)
    assert (start, end, size) == pytest.approx(expect, abs=1e-12)
    assert 12 <= (end - start) / size + 1 <= 31 and lo <= start and end <= hi
    assert figures.contour_levels(1.0, 1.0) == (1.0, 1.0, 1.0)                   # a flat landscape


def test_contour_lines_are_traced_from_every_other_point_of_a_large_grid():
    """The lines come from the grid's every k-th point (the last kept), by index, against numpy slicing."""
    u, v = np.linspace(-2, 3, 201), np.linspace(-1, 4, 201)
    J = np.add.outer(v ** 2, u ** 2)
    fig = figures.contour_figure(u, v, J, "linear", 1e-15)
    lines = fig.data[-1]
    np.testing.assert_array_equal(np.asarray(lines.x), u[::2])
    np.testing.assert_array_equal(np.asarray(lines.y), v[::2])
    np.testing.assert_array_equal(np.asarray(lines.z), J[::2, ::2].astype(np.float32))
    assert contour_colours(fig).shape == (201, 201, 4)                          # the colours keep the full grid


def test_log_scale_is_log10_of_J_plus_floor(grid):
    """floor = 1e-15 · max J, as documented; log10 by numpy and, for two entries, by math.log10."""
    u, v, J = grid
    floor = 1e-15 * J.max()
    assert figures.log_floor(J) == pytest.approx(floor, rel=1e-12)
    fig = figures.contour_figure(u, v, J, "log", floor)
    z = np.asarray(fig.data[-1].z)                                     # the lines' values (all of a small grid)
    np.testing.assert_allclose(z, np.log10(J + floor), rtol=1e-6)     # float32 on the wire
    bar = fig.data[0].marker
    np.testing.assert_allclose(contour_colours(fig), reference_rgba(np.log10(J + floor), bar.cmin, bar.cmax,
                                                                    figures.VIRIDIS), atol=1)
    i, j = np.argwhere(J == J.min())[0]
    assert z[i, j] == pytest.approx(math.log10(J[i, j] + floor), rel=1e-6)
    assert z[0, 0] == pytest.approx(math.log10(J[0, 0] + floor), rel=1e-6)


def test_log_of_exact_zeros_is_finite():
    """A flat minimum (mode collapse) has J = 0 exactly: its log is log10(floor), not −inf."""
    J = np.zeros((5, 5))
    J[0, 0] = 1e5
    c = figures.colour_values(J, "log", figures.log_floor(J))
    assert np.all(np.isfinite(c))
    assert c[1, 1] == pytest.approx(math.log10(1e5 * 1e-15))


def test_surface_and_contour_share_the_colour_scale(grid):
    u, v, J = grid
    for scale in ("linear", "log"):
        floor = figures.log_floor(J)
        s = figures.surface_figure(u, v, J, scale, floor).data[0]
        c = figures.contour_figure(u, v, J, scale, floor).data[0].marker
        assert s.colorscale == c.colorscale
        assert (s.cmin, s.cmax) == (c.cmin, c.cmax)


def test_log_colour_bar_starts_at_the_percentile(grid):
    u, v, J = grid
    floor = figures.log_floor(J)
    c = np.log10(J + floor)
    fig = figures.contour_figure(u, v, J, "log", floor)
    assert fig.data[0].marker.cmin == pytest.approx(np.percentile(c, figures.LOG_CLIP_PERCENT))
    assert fig.data[0].marker.cmax == pytest.approx(c.max())


def test_overlays_have_a_fixed_order_even_when_empty(grid):
    u, v, J = grid
    for builder in (figures.contour_figure, figures.surface_figure):
        fig = builder(u, v, J, "log", figures.log_floor(J))
        over = fig.data[1:1 + len(OVERLAYS)]
        assert [t.name for t in over] == list(OVERLAYS)
        assert all(len(t.x) == 0 for t in over)
        rest = [t.name for t in fig.data[1 + len(OVERLAYS):]]
        assert rest == (["contour lines"] if builder is figures.contour_figure else [])


def test_markers_at_z_star_and_critical_points(grid):
    u, v, J = grid
    marks = Marks(points={"z*": (0.8, -0.5, 0.0), "origin": (0.0, 0.0, 1.25)},
                  critical=[{"kind": "minimum", "u": 0.8, "v": -0.5, "J": 0.0},
                            {"kind": "saddle", "u": 1.0, "v": 2.0, "J": 3.0}])
    fig = figures.contour_figure(u, v, J, "linear", 1e-15, marks=marks)
    assert _pts(fig.data[OVERLAY_INDEX["z*"]]) == ([0.8], [-0.5])
    assert _pts(fig.data[OVERLAY_INDEX["origin"]]) == ([0.0], [0.0])
    assert _pts(fig.data[OVERLAY_INDEX["minimum"]]) == ([0.8], [-0.5])
    assert _pts(fig.data[OVERLAY_INDEX["saddle"]]) == ([1.0], [2.0])
    assert len(fig.data[OVERLAY_INDEX["maximum"]].x) == 0
    surf = figures.surface_figure(u, v, J, "linear", 1e-15, marks=marks)
    assert list(surf.data[OVERLAY_INDEX["origin"]].z) == [1.25]


def test_theory_circles_have_radius_eps_norm_z_star():
    """paper-fig4: z* = (0.8, −0.5), ε = 0.15; n0 = 2 so plane coordinates are latent ones."""
    cfg = state.BASE.replace(grid=41)
    marks = logic.marks_for(cfg)
    fig = figures.contour_figure(np.linspace(-2.2, 3.8, 41), np.linspace(-3.5, 2.5, 41), np.ones((41, 41)),
                                 "linear", 1e-15, marks=marks)
    radius = 0.15 * math.hypot(0.8, -0.5)
    rho2 = 1 / math.pi  # NOTES.md: ρ_2 = 1/π
    for name, centre in (("B(z*, ε‖z*‖)", (0.8, -0.5)), ("B(−ρ_d z*, ε‖z*‖)", (-rho2 * 0.8, rho2 * 0.5))):
        x, y = _xy(fig.data[OVERLAY_INDEX[name]])
        assert x.size > 10
        d = [math.hypot(a - centre[0], b - centre[1]) for a, b in zip(x, y)]
        np.testing.assert_allclose(d, radius, rtol=1e-6)   # z* is stored in float32 (dtype of the config)
    assert _xy(fig.data[OVERLAY_INDEX["−ρ_d z*"]])[0][0] == pytest.approx(-rho2 * 0.8, rel=1e-6)


def test_paths_cut_at_the_frame_and_lifted_onto_the_surface(grid):
    u, v, J = grid
    p1 = (np.array([0.0, 0.5, 0.8]), np.array([1.0, 0.0, -0.5]), np.array([9.0, 2.0, 0.0]), "recovered")
    p2 = (np.array([-1.0, -0.5, -0.3]), np.array([0.0, 0.1, 0.2]), np.array([5.0, 4.0, 3.5]), "other_fit")
    full = figures.surface_figure(u, v, J, "linear", 1e-15, marks=Marks(paths=[p1, p2]))
    t = full.data[OVERLAY_INDEX["path: recovered"]]
    np.testing.assert_array_equal(np.asarray(t.z, dtype=float), p1[2])   # z = J along the path
    ends = full.data[OVERLAY_INDEX["current"]]
    assert list(ends.x) == [0.8, -0.3]
    assert list(ends.marker.color) == [figures.OUTCOME_COLORS["recovered"], figures.OUTCOME_COLORS["other_fit"]]
    cut = figures.contour_figure(u, v, J, "linear", 1e-15, marks=Marks(paths=[p1, p2, p1], frame=1))
    rec = cut.data[OVERLAY_INDEX["path: recovered"]]
    x = np.asarray(rec.x, dtype=float)
    assert x.size == 5 and np.isnan(x[2])                  # two pieces of two points, one gap
    assert list(cut.data[OVERLAY_INDEX["current"]].x) == [0.5, -0.5, 0.5]
    assert list(cut.data[OVERLAY_INDEX["start"]].x) == [0.0, -1.0, 0.0]


def test_paths_keep_inside_the_window():
    """Reference: the crossing points worked out by hand on the box [−1, 1]²."""
    box = (-1.0, 1.0, -1.0, 1.0)
    u = np.array([0.0, 0.5, 3.0, 1e30, np.nan, 0.5, 0.2])
    v = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.1])
    J = np.arange(7.0)
    cu, cv, cJ, exits = figures.clip_to_window(u, v, J, box)
    assert exits == [2]                                  # one excursion, frames 2–4
    assert (cu[2], cv[2], cJ[2]) == (1.0, 0.0, 1.0)      # 0.5 → 3 crosses u = 1 at v = 0, J of the frame before
    assert np.isnan(cu[3:5]).all() and np.isnan(cJ[3:5]).all()
    np.testing.assert_array_equal(cu[5:], [0.5, 0.2])    # drawn again once back inside
    diag = figures.clip_to_window([0.0, 2.0], [0.0, 4.0], [1.0, 2.0], box)
    assert (diag[0][1], diag[1][1]) == (0.5, 1.0)        # the segment to (2, 4) leaves through v = 1 at s = 1/4
    start_out = figures.clip_to_window([5.0, 0.0], [0.0, 0.0], [1.0, 2.0], box)
    assert np.isnan(start_out[0][0]) and start_out[0][1] == 0.0 and start_out[3] == []


def test_left_window_marks_and_fixed_surface_axes(grid):
    u, v, J = grid
    path = figures.clip_to_window([0.0, 1.0, 50.0, 1e6], [0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3e9, 4e20],
                                  (u[0], u[-1], v[0], v[-1]))
    marks = Marks(paths=[(*path[:3], "diverged", path[3])])
    fig = figures.surface_figure(u, v, J, "linear", 1e-15, marks=marks)
    gone = fig.data[OVERLAY_INDEX["left the window"]]
    assert list(gone.x) == [u[-1]] and list(gone.y) == [0.0]
    scene = fig.layout.scene
    assert tuple(scene.xaxis.range) == (u[0], u[-1]) and tuple(scene.yaxis.range) == (v[0], v[-1])
    assert scene.zaxis.range[1] < 1.1 * J.max()            # the runaway's J = 4e20 does not stretch z
    z = np.asarray(fig.data[OVERLAY_INDEX["path: diverged"]].z, dtype=float)
    assert np.nanmax(z) <= J.max()
    cut = figures.contour_figure(u, v, J, "linear", 1e-15, marks=Marks(paths=marks.paths, frame=1))
    assert len(cut.data[OVERLAY_INDEX["left the window"]].x) == 0   # not yet left at frame 1


def test_a_large_grid_has_a_coarser_surface():
    """Reference: every k-th grid point, k = ceil((N − 1) / (SURFACE_MAX − 1)), and the last one."""
    u = np.linspace(-1, 1, 401)
    J = np.add.outer(u ** 2, u)
    fig = figures.surface_figure(u, u, J, "linear", 1e-15)
    k = math.ceil(400 / (figures.SURFACE_MAX - 1))
    idx = list(range(0, 401, k)) + ([400] if 400 % k else [])
    np.testing.assert_array_equal(np.asarray(fig.data[0].x), u[idx])
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), J[np.ix_(idx, idx)].astype(np.float32))
    assert contour_colours(figures.contour_figure(u, u, J, "linear", 1e-15)).shape == (401, 401, 4)


def test_budget_figure_carries_the_curves():
    curves = {"methods": np.array(["lbfgs", "adam"]), "iterations": np.arange(4),
              "recovered": np.array([[0, 0.5, 1, 1], [0, 0, 0.25, 0.5]]),
              "seconds": np.array([[0, 0.1, 0.2, 0.2], [0, 0.05, 0.1, 0.15]]),
              "counts": np.array([[4, 0, 0, 0, 0], [2, 0, 0, 2, 0]])}
    d = figures.budget_figure(curves).data
    assert len(d) == 4
    np.testing.assert_array_equal(np.asarray(d[2].y), curves["recovered"][1])
    np.testing.assert_array_equal(np.asarray(d[1].x), [0.1, 0.2, 0.2])      # t = 0 is left off the log axis
    assert "unconverged 2" in d[2].name and "100%" in d[0].name


def test_pair_figure_shows_both_images_and_their_difference():
    x1 = np.arange(12.0).reshape(1, 3, 4)
    x2 = x1 + 0.5
    mask = x1 > 5
    d = {t.name: np.asarray(t.z, dtype=float) for t in figures.pair_figure(x1, x2, mask).data}
    np.testing.assert_array_equal(d["G(z*)"], x1[0])
    np.testing.assert_array_equal(d["G(ẑ)"], x2[0])
    np.testing.assert_array_equal(d["G(ẑ) − G(z*)"], np.full((3, 4), 0.5))
    np.testing.assert_array_equal(d["mask"], mask[0].astype(float))


def test_log_surface_heights_are_clamped_at_the_colour_bar(grid):
    u, v, J = grid
    floor = figures.log_floor(J)
    fig = figures.surface_figure(u, v, J, "log", floor, marks=Marks(points={"z*": (0.8, -0.5, 0.0)}))
    s = fig.data[0]
    z = np.asarray(s.z)
    np.testing.assert_allclose(z, np.maximum(np.log10(J + floor), s.cmin), rtol=1e-6)
    assert fig.data[OVERLAY_INDEX["z*"]].z[0] == pytest.approx(s.cmin)


def test_compare_figure_has_four_scenes_with_one_camera(grid):
    u, v, J = grid
    fig = figures.compare_figure({a: (u, v, J * (k + 1)) for k, a in enumerate("abcd")}, "linear",
                                 z_star_uv=(0.8, -0.5))
    surfaces = [t for t in fig.data if t.type == "surface"]
    assert [t.scene for t in surfaces] == ["scene", "scene2", "scene3", "scene4"]
    cams = [fig.layout[s].camera.to_plotly_json() for s in figures.SCENES]
    assert all(c == cams[0] for c in cams)
    np.testing.assert_array_equal(np.asarray(surfaces[2].z), J * 3)


def test_basin_figure_leaves_pending_rows_blank():
    u, v = np.linspace(0, 1, 4), np.linspace(0, 1, 3)
    fig = figures.basin_figure(u, v, [[0, 1, 2, 0]], {"z*": (0.5, 0.5)})
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (3, 4)
    np.testing.assert_array_equal(z[0], [0, 1, 2, 0])
    assert np.isnan(z[1:]).all()


def test_images_figure_shows_channel_one_of_each_image():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 5))
    mask = rng.random((2, 5, 5)) > 0.5
    imgs = {"x": x, "x_star": x + 1, "Ax": x * mask, "y": (x + 1) * mask, "residual": -1.0 * mask, "mask": mask,
            "J": 1.0}
    fig = figures.images_figure(imgs)
    heat = {t.name: np.asarray(t.z, dtype=float) for t in fig.data}
    np.testing.assert_array_equal(heat["G(z)"], x[0])
    np.testing.assert_array_equal(heat["mask"], mask[0].astype(float))
    np.testing.assert_array_equal(heat["residual"], -1.0 * mask[0])
    one_d = figures.images_figure({k: (v[:, 0, :] if isinstance(v, np.ndarray) else v) for k, v in imgs.items()})
    assert {t.type for t in one_d.data} == {"scatter"}


def test_mask_figure_is_the_mask():
    mask = np.zeros((1, 4, 6), dtype=bool)
    mask[0, :, :3] = True
    fig = figures.mask_figure(mask)
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), mask[0].astype(float))
    assert len(figures.mask_figure(None).data) == 0
    # framed at the image's own edges (pixel centres 0 … 5 and 0 … 3): an edge strip stays visible
    (frame,) = fig.layout.shapes
    assert (frame.x0, frame.x1, frame.y0, frame.y1) == (-0.5, 5.5, -0.5, 3.5) and frame.type == "rect"


def test_fast_figures_pass_plotly_validation(grid):
    """The hot builders skip validation for speed; plotly's own validators must accept their output."""
    import plotly.graph_objects as go

    u, v, J = grid
    marks = Marks(points={"z*": (0.8, -0.5, 0.0)}, circles={"B(z*, ε‖z*‖)": (u[:5], v[:5], J[0, :5])},
                  critical=[{"kind": "saddle", "u": 1.0, "v": 2.0, "J": 3.0}],
                  paths=[(u[:3], v[:3], J[0, :3], "critical", [2])])
    for fig in (figures.contour_figure(u, v, J, "log", figures.log_floor(J), marks=marks),
                figures.surface_figure(u, v, J, "log", figures.log_floor(J), marks=marks),
                figures.budget_figure({"methods": np.array(["gd"]), "iterations": np.arange(3),
                                       "recovered": np.array([[0, 0.5, 1.0]]), "seconds": np.array([[0, 0.1, 0.2]])}),
                figures.pair_figure(J[None], J[None], J[None] > 1),
                figures.mask_figure(np.ones((1, 3, 3), bool)), figures.mask_figure(None)):
        go.Figure(fig.to_dict())   # raises ValueError on any invalid property


def test_collapse_figure_highlights_the_set(grid):
    u, v, J = grid
    in_set = J < 1.0
    fig = figures.collapse_figure([dict(title="t", u=u, v=v, J=J, in_set=in_set, witness=((0.5, -0.5), (1.0, -0.5)),
                                        z_star_uv=(0.8, -0.5))], "log")
    hl = next(t for t in fig.data if t.name == "collapse set")
    np.testing.assert_array_equal(np.asarray(hl.z), in_set.astype(float))
    assert hl.contours.start == hl.contours.end == 0.5
    wit = next(t for t in fig.data if t.name == "witness z₁, z₂")
    assert list(wit.x) == [0.5, 1.0]


@pytest.mark.parametrize("three_d", [False, True])
def test_the_callbacks_plain_figure_dict_sends_what_a_go_figure_sends(three_d):
    """Reference: Dash's JSON of the go.Figure the same builder returns (typed arrays, template and all)."""
    import json

    from dash._utils import to_json

    cfg = state.BASE.replace(grid=41)
    marks = logic.marks_for(cfg, heights=three_d)
    want = json.loads(to_json(logic.landscape_figure(cfg, "log", marks, three_d)))
    got = logic.landscape_figure(cfg, "log", marks, three_d, as_dict=True)
    assert isinstance(got, dict) and json.loads(to_json(got)) == want


def _as_plotly_converts(obj):
    """plotly's own ``convert_to_base64`` of a deep copy of obj (the reference for typed_arrays)."""
    import copy

    from _plotly_utils.utils import convert_to_base64
    out = copy.deepcopy(obj)
    convert_to_base64(out)
    return out


def _same_json(a, b) -> bool:
    """The same JSON as Dash sends it (key order aside)."""
    import json

    from dash._utils import to_json
    return json.loads(to_json(a)) == json.loads(to_json(b))


def test_typed_arrays_write_what_plotly_writes(grid):
    """The lean base64 pass of the hot figures gives the JSON plotly's convert_to_base64 gives, for
    every dtype rule (64-bit integers narrowed or kept, unsupported dtypes and empty arrays kept,
    2-D shapes, non-contiguous views, the keys plotly skips) and for the real contour and surface."""
    big = np.array([0, 2 ** 40], dtype=np.int64)
    obj = {"data": [{"x": np.arange(5), "y": np.linspace(0, 1, 7), "z": np.arange(12.0).reshape(3, 4)[:, ::2],
                     "c": np.array([1, 300], dtype=np.uint64), "w": np.array([-1, 70_000], dtype=np.int64),
                     "b": np.array([True, False]), "e": np.empty(0), "f": np.float32([1.5, -2]), "big": big,
                     "u": np.array([2 ** 33], dtype=np.uint64), "s": np.array(["a", "b"]),
                     "marker": {"size": np.int16([3, 4]), "range": np.arange(2.0)}, "n": np.float64(2.0)}],
           "layout": {"range": np.arange(3.0), "list": [{"x": np.uint8([1, 2])}, np.arange(2)]}}
    import copy
    mine = copy.deepcopy(obj)
    figures.typed_arrays(mine)
    assert _same_json(mine, _as_plotly_converts(obj))
    assert mine["data"][0]["x"] == {"dtype": "i1", "bdata": "AAECAwQ="}    # 0..4 narrowed to int8
    assert isinstance(mine["data"][0]["big"], np.ndarray)                   # too wide: left as it is
    u, v, J = grid
    marks = Marks(points={"z*": (0.8, -0.5, 0.0)}, circles={"B(z*, ε‖z*‖)": (u[:5], v[:5], J[0, :5])},
                  paths=[(u[:3], v[:3], J[0, :3], "critical", [2])])
    for build in (figures.contour_figure, figures.surface_figure):
        mine = build(u, v, J, "log", figures.log_floor(J), marks=marks, as_dict=True)
        raw = build(u, v, J, "log", figures.log_floor(J), marks=marks).to_dict()
        raw.setdefault("layout", {}).setdefault("template", mine["layout"]["template"])
        assert _same_json(mine, _as_plotly_converts(raw))
