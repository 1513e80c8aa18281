"""Landscape figures: contour, surface, the four-activation compare, images, collapse, basins.

No Dash, no core calls, no state: the tests compare the trace dicts these return.
Landscape figures always carry the same overlay traces, in the order of
:data:`OVERLAYS` (empty when there is nothing to draw), so a callback can update
one overlay with ``Patch()["data"][i]`` without re-sending the 201² grid, and the
browser's playback (``dashboard/assets/playback.js``) can restyle them by index.
"""
from __future__ import annotations

import base64
import functools
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# plotly.js's own "Viridis" stops (the bundle's, checked by a test): the contour's colours are drawn
# here as an image and must be the colours plotly.js gives the colour bar and the 3-D surface.
VIRIDIS = ((0.0, "#440154"), (0.06274509803921569, "#48186a"), (0.12549019607843137, "#472d7b"),
           (0.18823529411764706, "#424086"), (0.25098039215686274, "#3b528b"), (0.3137254901960784, "#33638d"),
           (0.3764705882352941, "#2c728e"), (0.4392156862745098, "#26828e"), (0.5019607843137255, "#21918c"),
           (0.5647058823529412, "#1fa088"), (0.6274509803921569, "#28ae80"), (0.6901960784313725, "#3fbc73"),
           (0.7529411764705882, "#5ec962"), (0.8156862745098039, "#84d44b"), (0.8784313725490196, "#addc30"),
           (0.9411764705882353, "#d8e219"), (1.0, "#fde725"))
COLORSCALE = [list(s) for s in VIRIDIS]
LOG_FLOOR_REL = 1e-15   # log10(J + floor) with floor = 1e-15 · max J: ~15 decades, J = 0 stays finite
LOG_CLIP_PERCENT = 0.1  # the log colour bar starts at this percentile of the values
# One colour per diagnosis label (core.diagnosis.LABELS, in that order).
OUTCOME_COLORS = {"recovered": "#1a9850", "other_fit": "#7b3294", "critical": "#d73027",
                  "unconverged": "#f39c12", "diverged": "#555555"}
OUTCOME_NAMES = tuple(OUTCOME_COLORS)

# Overlay traces after the landscape trace (data[0]), always in this order (a contour figure's
# lines trace comes after them, so these indices are the same on the contour and the surface).
# Plotly draws later traces on top: the markers of the theory come last.
OVERLAYS = ("B(z*, ε‖z*‖)", "B(−ρ_d z*, ε‖z*‖)", "start", *(f"path: {k}" for k in OUTCOME_NAMES),
            "left the window", "current", "minimum", "saddle", "maximum", "z*", "−ρ_d z*", "origin", "plane points")
OVERLAY_INDEX = {name: i + 1 for i, name in enumerate(OVERLAYS)}

_POINT_STYLE = {  # name: (colour, 2-D symbol, 3-D symbol)
    "z*": ("#e41a1c", "star", "diamond"),
    "−ρ_d z*": ("#ff7f00", "square", "square"),
    "origin": ("#ffffff", "x", "cross"),
    "minimum": ("#00e5ff", "circle-open", "circle-open"),
    "saddle": ("#ff4dff", "x", "x"),
    "maximum": ("#ffff33", "triangle-up-open", "diamond-open"),
}
KINK_SYMBOL = ("hexagon-open", "square-open")   # a minimum at a kink of J: 2-D, 3-D (plane points are diamonds)
OFF_PLANE_COLOUR = "#9e9e9e"   # a critical point of J on the plane that is not one of J
_CIRCLE_COLOUR = {"B(z*, ε‖z*‖)": "#e41a1c", "B(−ρ_d z*, ε‖z*‖)": "#ff7f00"}
_TITLE_TOP = 58   # px above the plot: the mode bar (top ~28 px), then the title's line below it
_MARGIN = dict(l=50, r=20, t=_TITLE_TOP, b=40)


def _title(text: str) -> dict:
    """A figure title on its own line below the mode bar, so that a long title never runs under the
    bar's buttons. The margin is fixed (not ``automargin``: plotly does not move a layout image
    when an automatic margin changes the plot area, and the contour's colours are one)."""
    return dict(text=text, x=0.02, font=dict(size=14), y=1, yref="container", yanchor="top", pad=dict(t=30))
SURFACE_MAX = 101   # points per side of a 3-D surface (the contour keeps the full grid)
LINES_MAX = 101     # points per side the contour lines are traced from (the colours keep the full grid)


# ---------------------------------------------------------------------------
# colour scale
# ---------------------------------------------------------------------------
def log_floor(J) -> float:
    """The floor added before log10: ``LOG_FLOOR_REL · max J`` (a tiny positive number if J ≡ 0)."""
    top = float(np.nanmax(J)) if np.size(J) else 0.0
    return max(top, 1e-300) * LOG_FLOOR_REL


def colour_values(J, scale: str, floor: float) -> np.ndarray:
    """What is coloured (and plotted as height): J, or log10(J + floor)."""
    J = np.asarray(J, dtype=float)
    if scale == "linear":
        return J
    if scale == "log":
        return np.log10(np.maximum(J, 0.0) + floor)
    raise ValueError(f"scale: must be linear or log, got {scale!r}")


def colour_range(c, scale: str) -> tuple[float, float]:
    """(lo, hi) of the colour bar for colour values c.

    Linear: the full range. Log: from the 0.1th percentile up, so that the single deepest
    point (log10 of a float32 zero: ~15 decades down) does not take the whole bar; a flat
    region of exact zeros (mode collapse) covers far more than 0.1% and keeps the floor.
    """
    c = np.asarray(c, dtype=float)
    hi = float(np.nanmax(c))
    lo = float(np.nanmin(c)) if scale == "linear" else float(np.nanpercentile(c, LOG_CLIP_PERCENT))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def colour_label(scale: str) -> str:
    return "J" if scale == "linear" else "log10(J + floor)"


PLANE_AXES = {  # core.planes: what u and v run along on each plane
    "latent": ("z₁", "z₂"),
    "star": ("u (along z*/‖z*‖)", "v (random direction ⟂ z*)"),
    "endpoint": ("u (from z* towards ẑ)", "v (towards 0, ⟂ u)"),
    "pca": ("u (1st principal direction of the paths)", "v (2nd principal direction)"),
    "hessian": ("u (most curved direction at z*)", "v (least curved direction at z*)"),
}


def axis_labels(n0: int, plane: str = "auto") -> tuple[str, str]:
    """Axis titles of a plane (``auto``: latent coordinates for n0 = 2, the star plane otherwise)."""
    if plane == "auto" or plane not in PLANE_AXES:
        plane = "latent" if n0 == 2 else "star"
    return PLANE_AXES[plane]


# ---------------------------------------------------------------------------
# overlays
# ---------------------------------------------------------------------------
@dataclass
class Marks:
    """What is drawn over a landscape, in plane coordinates, with J at each point.

    points : {name: (u, v, J)} for names among z*, −ρ_d z*, origin
    circles : {name: (cu (K,), cv (K,), cJ (K,))}
    critical : list of {"kind", "u", "v", "J", "said", "off_plane"} ("said": what the point is in the
        whole latent space, in words, shown on hover; "off_plane": not a critical point of J, drawn grey)
    paths : list of (u (F,), v (F,), J (F,), outcome) or (…, outcome, exits): the path as cut by
        :func:`clip_to_window` (NaN where it is not drawn) and the frames at which it left the
        window (each drawn at the edge)
    frame : draw paths up to this frame index (None: all of them)
    plane_points : {name: (u, v, J)} for the other points the plane was built through (−z*, ẑ)
    """

    points: dict = field(default_factory=dict)
    circles: dict = field(default_factory=dict)
    critical: list = field(default_factory=list)
    paths: list = field(default_factory=list)
    frame: int | None = None
    plane_points: dict = field(default_factory=dict)


def clip_to_window(u, v, J, box) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Keep a path (F,) inside the window, so no axis ever rescales to a runaway iterate.

    Parameters
    ----------
    u, v, J : array (F,)
        Plane coordinates of the iterates and J there (non-finite values allowed).
    box : (u_lo, u_hi, v_lo, v_hi)

    Returns
    -------
    (u, v, J, exits)
        Frames outside the window (or non-finite) become NaN, so they are not drawn (a path
        that comes back is drawn again from its first frame inside). The first frame of each
        excursion is moved to where the segment from the frame before crosses the window's edge
        (with that frame's J), and is listed in ``exits``: the path is drawn up to the edge and
        the crossing can be marked.
    """
    u, v, J = (np.array(a, dtype=float) for a in (u, v, J))
    u0, u1, v0, v1 = box
    inside = np.isfinite(u) & np.isfinite(v) & (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
    exits = [int(f) for f in np.nonzero(inside[:-1] & ~inside[1:])[0] + 1]
    cross = {}
    for f in exits:
        a, b = np.array([u[f - 1], v[f - 1]]), np.array([u[f], v[f]])
        s = 0.0
        if np.all(np.isfinite(b)):
            d = b - a
            s = 1.0       # the largest fraction of the segment a → b that stays in the box
            for k, (lo, hi) in enumerate(((u0, u1), (v0, v1))):
                if d[k] > 0:
                    s = min(s, (hi - a[k]) / d[k])
                elif d[k] < 0:
                    s = min(s, (lo - a[k]) / d[k])
        cross[f] = (a + max(0.0, s) * (b - a), J[f - 1])
    u[~inside] = v[~inside] = J[~inside] = np.nan
    for f, (c, j) in cross.items():
        u[f], v[f], J[f] = c[0], c[1], j
    return u, v, J, exits


def colour_rgba(c, lo: float, hi: float, stops=VIRIDIS) -> np.ndarray:
    """RGBA bytes (M, N, 4) of the values ``c`` as plotly.js colours a heatmap: clamped to [lo, hi],
    then linear in RGB between the colour scale's stops, rounded; NaN is transparent."""
    c = np.asarray(c, dtype=float)
    t = (np.clip(c, lo, hi) - lo) / (hi - lo) if hi > lo else np.zeros_like(c)
    pos = np.array([p for p, _ in stops])
    rgb = np.array([[int(h[k:k + 2], 16) for k in (1, 3, 5)] for _, h in stops], dtype=float)
    out = np.zeros(c.shape + (4,), dtype=np.uint8)
    flat = np.nan_to_num(t, nan=0.0)
    for k in range(3):
        out[..., k] = np.rint(np.interp(flat, pos, rgb[:, k]))
    out[..., 3] = np.where(np.isfinite(c), 255, 0)
    return out


def png_data_uri(rgba: np.ndarray) -> str:
    """A ``data:image/png`` URI of RGBA bytes (M, N, 4), row 0 at the top (no filter, zlib level 6)."""
    h, w, _ = rgba.shape
    raw = np.zeros((h, 1 + 4 * w), dtype=np.uint8)     # each row: filter byte 0, then the pixels
    raw[:, 1:] = np.ascontiguousarray(rgba).reshape(h, 4 * w)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _with_gaps(arrays) -> np.ndarray:
    """Concatenate 1-D arrays with NaN between them (one line trace, several pieces)."""
    out = []
    for a in arrays:
        out.extend(np.asarray(a, dtype=float).tolist())
        out.append(None)
    return np.array(out[:-1], dtype=float) if out else np.empty(0)


@functools.cache
def _default_template() -> dict:
    """plotly's default template as the JSON a go.Figure carries (computed once; never mutated)."""
    return go.Figure().to_dict()["layout"]["template"]


# plotly.js's short names of the dtypes it reads from base64 ("typed array specs").
_TYPED = {np.dtype(k): v for k, v in (("int8", "i1"), ("uint8", "u1"), ("int16", "i2"), ("uint16", "u2"),
                                      ("int32", "i4"), ("uint32", "u4"), ("float32", "f4"), ("float64", "f8"))}
_UNTYPED_KEYS = frozenset(("geojson", "layer", "layers", "range"))   # plotly leaves these as they are
_NARROW = {np.dtype("int64"): (np.int8, np.int16, np.int32), np.dtype("uint64"): (np.uint8, np.uint16, np.uint32)}


def _typed(v: np.ndarray):
    """One numpy array as plotly.js's ``{"dtype", "bdata"[, "shape"]}``, as plotly.py writes it
    (64-bit integers narrowed to the smallest type that holds them; other dtypes and empty arrays
    left as they are)."""
    if v.size == 0:
        return v
    if v.dtype in _NARROW:
        lo, hi = v.min(), v.max()
        small = next((t for t in _NARROW[v.dtype] if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max), None)
        if small is None:
            return v
        v = v.astype(small)
    short = _TYPED.get(v.dtype)
    if short is None:
        return v
    out = {"dtype": short, "bdata": base64.b64encode(np.ascontiguousarray(v).data).decode("ascii")}
    if v.ndim > 1:
        out["shape"] = str(v.shape)[1:-1]
    return out


def typed_arrays(obj) -> None:
    """Replace, in place, every numpy array that is a dict value in ``obj`` (nested dicts and lists) by
    its base64 typed-array spec: what plotly's ``convert_to_base64`` does, without its per-array
    dataframe checks (13 of the contour figure's 19 ms; the tests compare the two)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in _UNTYPED_KEYS:
                continue
            if isinstance(value, np.ndarray):
                obj[key] = _typed(value)
            elif isinstance(value, (dict, list, tuple)):
                typed_arrays(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            typed_arrays(value)


def fast_figure(data: list, layout: dict, as_dict: bool = False):
    """A Figure from trace and layout dicts without plotly's per-property validation, or (``as_dict``)
    the plain ``{"data", "layout"}`` dict itself.

    Validation costs ~50 ms per landscape figure, on the path of every control change; the
    tests validate what these builders produce (``go.Figure(fig.to_dict())``). The callbacks take
    the dict: a ``go.Figure`` deep-copies its traces when built and again when Dash serializes it
    (about 4 ms per contour).
    """
    if as_dict:     # numeric arrays as base64 typed arrays and the default template, as a go.Figure sends them
        fig = {"data": data, "layout": layout}
        typed_arrays(fig)
        layout.setdefault("template", _default_template())
        return fig
    return go.Figure(data=data, layout=layout, _validate=False)


def _trace(three_d: bool, name: str, x, y, J, scale, floor, z_min=None, z_max=None, **kw) -> dict:
    """A scatter (2-D) or scatter3d trace dict; on a surface, z is J's colour value clamped to
    [z_min, z_max] (the surface's own range, so a path never stretches the z axis)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    kw.setdefault("hovertemplate", f"{name}<br>(%{{x:.3f}}, %{{y:.3f}})<extra></extra>")
    if three_d:
        z = colour_values(J, scale, floor) if np.size(J) else np.empty(0)
        if z_min is not None and z.size:
            z = np.fmax(z, z_min)   # NaN gaps between paths stay gaps
        if z_max is not None and z.size:
            z = np.fmin(z, z_max)
        return dict(type="scatter3d", x=x, y=y, z=z, name=name, showlegend=False, **kw)
    return dict(type="scatter", x=x, y=y, name=name, **kw)


def overlay_traces(marks: Marks, scale: str, floor: float, three_d: bool, z_min: float | None = None,
                   z_max: float | None = None) -> list:
    """One trace dict per entry of :data:`OVERLAYS` (empty ones included), for a contour or a surface.

    On a surface, heights are colour values clamped to [z_min, z_max] (as the surface is).
    """
    def tr(name, x, y, J, **kw):
        return _trace(three_d, name, x, y, J, scale, floor, z_min=z_min, z_max=z_max, **kw)

    def point_marker(name, size2, size3):
        colour, s2, s3 = _POINT_STYLE[name]
        return dict(color=colour, symbol=s3 if three_d else s2, size=size3 if three_d else size2,
                    line=dict(color="black", width=1))

    traces = {}
    for name in ("B(z*, ε‖z*‖)", "B(−ρ_d z*, ε‖z*‖)"):
        cu, cv, cJ = marks.circles.get(name, (np.empty(0),) * 3)
        traces[name] = tr(name, cu, cv, cJ, mode="lines",
                          line=dict(color=_CIRCLE_COLOUR[name], width=4 if three_d else 2))
    f = None if marks.frame is None else marks.frame + 1
    cut = []
    for p in marks.paths:
        u, v, J, o = p[:4]
        ex = list(p[4]) if len(p) > 4 and p[4] else []
        u, v, J = (np.asarray(a, dtype=float)[:f] for a in (u, v, J))
        cut.append((u, v, J, o, [e for e in ex if e < u.size]))
    first = [int(np.argmax(np.isfinite(c[0]))) if np.isfinite(c[0]).any() else -1 for c in cut]
    drawn = [(c, i) for c, i in zip(cut, first) if i >= 0]
    traces["start"] = tr("start", [c[0][i] for c, i in drawn], [c[1][i] for c, i in drawn],
                         [c[2][i] for c, i in drawn],
                         mode="markers", marker=dict(color="white", symbol="circle", size=4 if three_d else 7,
                                                     line=dict(color="black", width=1)))
    for outcome in OUTCOME_NAMES:
        sel = [c for c in cut if c[3] == outcome]
        traces[f"path: {outcome}"] = tr(f"path: {outcome}", _with_gaps(c[0] for c in sel),
                                        _with_gaps(c[1] for c in sel), _with_gaps(c[2] for c in sel),
                                        mode="lines", connectgaps=False,
                                        line=dict(color=OUTCOME_COLORS[outcome], width=4 if three_d else 2))
    gone = [(c[0][e], c[1][e], c[2][e]) for c in cut for e in c[4]]
    traces["left the window"] = tr("left the window", [g[0] for g in gone], [g[1] for g in gone],
                                   [g[2] for g in gone], mode="markers",
                                   marker=dict(color="#ff1744", symbol="x" if three_d else "x-thin-open",
                                               size=5 if three_d else 12, line=dict(color="#ff1744", width=2)),
                                   hovertemplate="left the window here<br>(%{x:.3f}, %{y:.3f})<extra></extra>")
    traces["current"] = tr("current", [c[0][-1] for c, _ in drawn], [c[1][-1] for c, _ in drawn],
                           [c[2][-1] for c, _ in drawn], mode="markers",
                           marker=dict(color=[OUTCOME_COLORS[c[3]] for c, _ in drawn],
                                       size=5 if three_d else 9, line=dict(color="black", width=1)))
    for kind in ("minimum", "saddle", "maximum"):
        pts = [p for p in marks.critical if p["kind"] == kind]
        colour, s2, s3 = _POINT_STYLE[kind]
        # Grey where the point is a critical point of J on the plane only (J falls off it).
        each = [OFF_PLANE_COLOUR if p.get("off_plane") else colour for p in pts]
        # A minimum at a kink of J (no Hessian there) gets a symbol of its own.
        kink = [p.get("kink") is True for p in pts]
        symbol = [(KINK_SYMBOL[1] if three_d else KINK_SYMBOL[0]) if k else (s3 if three_d else s2) for k in kink]
        traces[kind] = tr(kind, [p["u"] for p in pts], [p["v"] for p in pts], [p["J"] for p in pts],
                          mode="markers", marker=dict(color=each, symbol=symbol,
                                                      size=7 if three_d else 18, line=dict(color=each, width=2)),
                          text=[p.get("said", "") for p in pts],
                          customdata=[" at a kink of J (∇J jumps there; no Hessian)" if k else "" for k in kink],
                          hovertemplate=f"critical point of J on the plane: {kind}%{{customdata}}<br>(%{{x:.3f}}, "
                                        f"%{{y:.3f}})<br>in the latent space: %{{text}}<extra></extra>")
    for name in ("z*", "−ρ_d z*", "origin"):
        u, v, J = marks.points.get(name, (np.empty(0), np.empty(0), np.empty(0)))
        traces[name] = tr(name, np.atleast_1d(u), np.atleast_1d(v), np.atleast_1d(J), mode="markers",
                          marker=point_marker(name, 14, 6))
    names = list(marks.plane_points)
    pp = [marks.plane_points[k] for k in names]
    traces["plane points"] = tr("plane points", [p[0] for p in pp], [p[1] for p in pp], [p[2] for p in pp],
                                mode="markers+text", text=names, textposition="top center",
                                textfont=dict(color="white", size=12),
                                marker=dict(color="#00e5ff", symbol="diamond" if three_d else "diamond-open",
                                            size=5 if three_d else 12, line=dict(color="#00e5ff", width=2)),
                                hovertemplate="%{text}: a point the plane goes through<br>(%{x:.3f}, %{y:.3f})"
                                              "<extra></extra>")
    return [traces[name] for name in OVERLAYS]


# ---------------------------------------------------------------------------
# landscape: contour and surface
# ---------------------------------------------------------------------------
def contour_figure(u, v, J, scale: str, floor: float, labels=("z₁", "z₂"), marks: Marks | None = None,
                   title: str = "", meta: dict | None = None, as_dict: bool = False):
    """Colour map of J (M, N) over u (N,) × v (M,) with 30 contour lines, and the overlays of ``marks``.

    The colours of the full grid are one PNG (``layout.images[0]``, one pixel per grid point, made
    by :func:`colour_rgba` as plotly.js colours a heatmap), under the traces. data[0] carries the
    colour bar (no points); the contour lines are the last trace (plotly draws contour layers under
    the scatter overlays whatever the order, so the overlays keep :data:`OVERLAY_INDEX`), traced
    from at most :data:`LINES_MAX` points per side, and give the hover and the clicks: (u, v) and
    the colour value of the nearest of those points. A plotly heatmap of the grid cost about 15 ms
    more per redraw in the page and three times the bytes (benchmarks/NOTES.md).
    """
    c = colour_values(J, scale, floor)
    lo, hi = colour_range(c, scale)
    u, v = np.asarray(u, float), np.asarray(v, float)
    du = (u[-1] - u[0]) / (u.size - 1) if u.size > 1 else 1.0     # the grid's spacing (a linspace)
    dv = (v[-1] - v[0]) / (v.size - 1) if v.size > 1 else 1.0
    bar = dict(
        type="scatter", x=[None], y=[None], mode="markers", name="J", showlegend=False, hoverinfo="skip",
        marker=dict(color=[lo], colorscale=COLORSCALE, cmin=lo, cmax=hi, showscale=True,
                    colorbar=dict(title=dict(text=colour_label(scale), side="right"), thickness=14,
                                  ticklabeloverflow="allow")))
    image = dict(source=png_data_uri(colour_rgba(c, lo, hi)[::-1]), xref="x", yref="y", layer="below",
                 x=float(u[0] - du / 2), y=float(v[-1] + dv / 2), sizex=float(u[-1] - u[0] + du),
                 sizey=float(v[-1] - v[0] + dv), sizing="stretch", xanchor="left", yanchor="top")
    lu, lv, lc = coarse(u, v, c, LINES_MAX)
    start, end, size = contour_levels(lo, hi)
    lines = dict(
        type="contour", x=np.asarray(lu, float), y=np.asarray(lv, float), z=lc.astype(np.float32),
        autocontour=False, contours=dict(start=start, end=end, size=size, coloring="none", showlines=True),
        line=dict(width=0.5, color="rgba(255,255,255,0.35)"), showscale=False, showlegend=False,
        name="contour lines", hovertemplate=f"(%{{x:.3f}}, %{{y:.3f}})<br>{colour_label(scale)} = %{{z:.4g}}<extra></extra>")
    # Tick labels may overflow (plotly.js otherwise measures each one on every redraw to hide those
    # past the plot's div, a forced layout per label; the margins leave them room anyway).
    axis = dict(showgrid=False, zeroline=False, constrain="domain", ticklabeloverflow="allow")
    layout = dict(
        title=_title(title), margin=_MARGIN, uirevision="landscape",
        xaxis=dict(title=dict(text=labels[0]), range=[float(u[0]), float(u[-1])], **axis),
        yaxis=dict(title=dict(text=labels[1]), range=[float(v[0]), float(v[-1])], scaleanchor="x", **axis),
        images=[image],
        legend=dict(orientation="h", y=-0.14, x=0, font=dict(size=11)),
        meta={**(meta or {}), **playback_meta(scale, floor, None, None)},
        clickmode="event", hovermode="closest")
    return fast_figure([bar] + overlay_traces(marks or Marks(), scale, floor, three_d=False) + [lines], layout, as_dict)


def contour_levels(lo: float, hi: float, n: int = 30) -> tuple[float, float, float]:
    """(start, end, size) of about ``n`` evenly spaced levels in [lo, hi], the step a round number
    (1, 2, 2.5 or 5 × a power of ten, the smallest not below (hi − lo) / n), as plotly's own
    ``ncontours`` picks them from the colour range."""
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        return float(lo), float(lo), 1.0
    raw = (hi - lo) / n
    mag = 10.0 ** np.floor(np.log10(raw))
    size = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-12))
    return float(np.ceil(lo / size) * size), float(np.floor(hi / size) * size), float(size)


def coarse(u, v, c, n_max: int):
    """Every k-th point of the grid (the last one kept) so that no side has more than ``n_max``."""
    u, v, c = np.asarray(u), np.asarray(v), np.asarray(c)
    def take(n):
        k = max(1, int(np.ceil((n - 1) / (n_max - 1))))
        idx = np.arange(0, n, k)
        return idx if idx[-1] == n - 1 else np.append(idx, n - 1)
    iu, iv = take(u.size), take(v.size)
    return u[iu], v[iv], c[np.ix_(iv, iu)]


def surface_figure(u, v, J, scale: str, floor: float, labels=("z₁", "z₂"), marks: Marks | None = None,
                   title: str = "", meta: dict | None = None, as_dict: bool = False):
    """3-D surface of J (height and colour use the same scale as the contour), with the overlays.

    The surface is drawn on at most :data:`SURFACE_MAX` points per side (a 3-D mesh finer than
    that costs seconds of software WebGL and shows nothing more); the axes are fixed to the
    window and the surface's own height range, so no path can rescale them.
    """
    c = colour_values(J, scale, floor)
    lo, hi = colour_range(c, scale)
    # Log heights are clamped at the colour bar's low end, so the surface is not one deep spike.
    z_min = lo if scale == "log" else None
    z_lo = lo if z_min is not None else float(np.nanmin(c))
    su, sv, sc = coarse(u, v, c, SURFACE_MAX)
    main = dict(
        type="surface", x=np.asarray(su, float), y=np.asarray(sv, float),
        z=(sc if z_min is None else np.fmax(sc, z_min)).astype(np.float32),
        colorscale=COLORSCALE, cmin=lo, cmax=hi, showscale=False, name="J",
        hovertemplate=f"(%{{x:.3f}}, %{{y:.3f}})<br>{colour_label(scale)} = %{{z:.4g}}<extra></extra>")
    pad = 0.02 * (hi - z_lo)
    layout = dict(
        title=_title(title), margin=dict(l=0, r=0, t=_TITLE_TOP, b=0),
        uirevision="landscape", meta={**(meta or {}), **playback_meta(scale, floor, z_min, hi)}, showlegend=False,
        scene=dict(xaxis=dict(title=dict(text=labels[0]), range=[float(u[0]), float(u[-1])], autorange=False),
                   yaxis=dict(title=dict(text=labels[1]), range=[float(v[0]), float(v[-1])], autorange=False),
                   zaxis=dict(title=dict(text=colour_label(scale)), range=[z_lo - pad, hi + pad], autorange=False),
                   aspectmode="manual", aspectratio=dict(x=1, y=1, z=0.7),
                   camera=dict(eye=dict(x=1.5, y=-1.5, z=1.0))))
    return fast_figure([main] + overlay_traces(marks or Marks(), scale, floor, three_d=True, z_min=z_min, z_max=hi),
                       layout, as_dict)


def playback_meta(scale: str, floor: float, z_min: float | None, z_max: float | None) -> dict:
    """What the browser's playback needs to place path points on this figure (heights on a surface)."""
    return {"scale": scale, "floor": float(floor), "z_min": None if z_min is None else float(z_min),
            "z_max": None if z_max is None else float(z_max)}


# ---------------------------------------------------------------------------
# compare: four surfaces, one camera
# ---------------------------------------------------------------------------
SCENES = ("scene", "scene2", "scene3", "scene4")


def compare_figure(landscapes: dict, scale: str, labels=("z₁", "z₂"), z_star_uv=None,
                   meta: dict | None = None) -> go.Figure:
    """2×2 surfaces, one per activation ({name: (u, v, J)}); each has its own colour range,
    all share one camera (the callbacks keep the four ``scene*.camera`` equal)."""
    names = list(landscapes)
    fig = make_subplots(rows=2, cols=2, specs=[[{"type": "scene"}] * 2] * 2, subplot_titles=names,
                        horizontal_spacing=0.02, vertical_spacing=0.06)
    camera = dict(eye=dict(x=1.5, y=-1.5, z=1.0))
    for k, name in enumerate(names):
        u, v, J = landscapes[name]
        floor = log_floor(J)
        c = colour_values(J, scale, floor)
        lo, hi = colour_range(c, scale)
        scene = SCENES[k]
        fig.add_trace(go.Surface(x=u, y=v, z=np.fmax(c, lo), colorscale=COLORSCALE, showscale=False, name=name,
                                 cmin=lo, cmax=hi, scene=scene,
                                 hovertemplate=f"{name}<br>(%{{x:.3f}}, %{{y:.3f}})<br>%{{z:.4g}}<extra></extra>"))
        if z_star_uv is not None:
            fig.add_trace(go.Scatter3d(x=[z_star_uv[0]], y=[z_star_uv[1]], z=np.fmax(colour_values([0.0], scale, floor), lo),
                                       mode="markers", marker=dict(color="#e41a1c", symbol="diamond", size=5),
                                       name="z*", showlegend=False, scene=scene))
        fig.layout[scene].update(xaxis_title=labels[0], yaxis_title=labels[1], zaxis_title=colour_label(scale),
                                 aspectmode="manual", aspectratio=dict(x=1, y=1, z=0.7), camera=camera)
    fig.update_layout(margin=dict(l=0, r=0, t=30, b=0), uirevision="compare", meta=meta or {}, showlegend=False)
    return fig


# ---------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------
def _channel0(a):
    a = np.asarray(a, dtype=float)
    return a[0] if a.ndim >= 2 else a


def images_figure(imgs: dict, title: str = "") -> go.Figure:
    """G(z), the mask, A·G(z), y and the residual A^T(A G(z) − y), channel 0 of each.

    ``imgs`` is core.problem.images' dict. 2-D outputs are heat maps on one colour range
    (G(z), A·G(z), y; the residual on a symmetric diverging one); 1-D outputs are line plots.
    """
    panels = ["G(z)", "mask", "A·G(z)", "y", "residual"]
    mask = imgs.get("mask")
    if mask is None:
        panels[1] = "mask (dense Gaussian A: none)"
        panels[2], panels[3] = "Aᵀ A G(z)", "Aᵀ y"
    fig = make_subplots(rows=1, cols=5, subplot_titles=panels, horizontal_spacing=0.035)
    x, Ax, y, res = (_channel0(imgs[k]) for k in ("x", "Ax", "y", "residual"))
    m = _channel0(mask).astype(float) if mask is not None else None
    lo = float(min(np.min(x), np.min(imgs["x_star"]), np.min(Ax), np.min(y)))
    hi = float(max(np.max(x), np.max(imgs["x_star"]), np.max(Ax), np.max(y)))
    r = float(np.max(np.abs(res))) or 1.0
    if x.ndim == 2:
        common = dict(colorscale="Gray", zmin=lo, zmax=hi, showscale=False)
        fig.add_trace(go.Heatmap(z=x, name="G(z)", **common), 1, 1)
        if m is not None:
            fig.add_trace(go.Heatmap(z=m, name="mask", colorscale=[[0, "#202020"], [1, "#f5f5f5"]],
                                     zmin=0, zmax=1, showscale=False), 1, 2)
        fig.add_trace(go.Heatmap(z=Ax, name="A·G(z)", **common), 1, 3)
        fig.add_trace(go.Heatmap(z=y, name="y", **common), 1, 4)
        fig.add_trace(go.Heatmap(z=res, name="residual", colorscale="RdBu", zmid=0, zmin=-r, zmax=r,
                                 colorbar=dict(thickness=10, len=0.8)), 1, 5)
        for k in range(1, 6):
            fig.update_yaxes(autorange="reversed", scaleanchor=f"x{'' if k == 1 else k}", showticklabels=False,
                             row=1, col=k)
            fig.update_xaxes(showticklabels=False, constrain="domain", row=1, col=k)
    else:
        t = np.arange(x.size)
        fig.add_trace(go.Scatter(x=t, y=x, name="G(z)", mode="lines"), 1, 1)
        fig.add_trace(go.Scatter(x=t, y=_channel0(imgs["x_star"]), name="G(z*)", mode="lines",
                                 line=dict(dash="dot")), 1, 1)
        if m is not None:
            fig.add_trace(go.Scatter(x=t, y=m, name="mask", mode="lines", line=dict(shape="hv")), 1, 2)
        fig.add_trace(go.Scatter(x=t, y=Ax, name="A·G(z)", mode="lines"), 1, 3)
        fig.add_trace(go.Scatter(x=t, y=y, name="y", mode="lines"), 1, 4)
        fig.add_trace(go.Scatter(x=t, y=res, name="residual", mode="lines"), 1, 5)
        fig.update_layout(showlegend=False)
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=13)), margin=dict(l=10, r=10, t=40, b=10),
                      height=300, plot_bgcolor="white")
    return fig


def mask_figure(mask) -> go.Figure:
    """The observed entries of channel 0 as a small black/white image (or strip, for 1-D), framed:
    an observed strip along an edge (the ``strip`` and ``left`` masks) would otherwise merge with
    the page's white."""
    data, annotations, shapes = [], [], []
    if mask is None:
        annotations = [dict(text="dense Gaussian A<br>(no pixel mask)", showarrow=False, x=0.5, y=0.5,
                            xref="paper", yref="paper")]
    else:
        m = _channel0(mask).astype(float)
        if m.ndim == 1:
            m = m[None, :]
        data = [dict(type="heatmap", z=m, colorscale=[[0, "#202020"], [1, "#f5f5f5"]], zmin=0, zmax=1,
                     showscale=False, hovertemplate="(%{x}, %{y}): %{z}<extra>observed = 1</extra>")]
        shapes = [dict(type="rect", xref="x", yref="y", x0=-0.5, x1=m.shape[1] - 0.5, y0=-0.5,
                       y1=m.shape[0] - 0.5, line=dict(color="#808080", width=1), layer="above")]
    layout = dict(xaxis=dict(visible=False, constrain="domain"),
                  yaxis=dict(visible=False, autorange="reversed", scaleanchor="x"),
                  margin=dict(l=1, r=1, t=1, b=1), height=110, width=140, plot_bgcolor="white",
                  annotations=annotations, shapes=shapes)
    return fast_figure(data, layout)


# ---------------------------------------------------------------------------
# mode collapse
# ---------------------------------------------------------------------------
def collapse_figure(panels: list, scale: str, labels=("z₁", "z₂")) -> go.Figure:
    """Contours of J with the collapse set highlighted, side by side.

    ``panels`` is a list of dicts with keys ``title``, ``u`` (N,), ``v`` (M,), ``J`` (M, N),
    ``in_set`` (M, N) bool, ``witness`` (None or ((u1, v1), (u2, v2))) and ``z_star_uv``.
    """
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p["title"] for p in panels],
                        horizontal_spacing=0.1)
    for k, p in enumerate(panels, start=1):
        floor = log_floor(p["J"])
        c = colour_values(p["J"], scale, floor)
        lo, hi = colour_range(c, scale)
        fig.add_trace(go.Contour(x=p["u"], y=p["v"], z=c, colorscale=COLORSCALE, ncontours=30,
                                 zmin=lo, zmax=hi, zauto=False,
                                 contours=dict(coloring="heatmap", showlines=False), name="J",
                                 colorbar=dict(x=0.43 if k == 1 else 1.0, thickness=12, len=0.9,
                                               title=dict(text=colour_label(scale), side="right")),
                                 hovertemplate="(%{x:.3f}, %{y:.3f})<br>%{z:.4g}<extra></extra>"), 1, k)
        in_set = np.asarray(p["in_set"], dtype=float)
        # The set filled translucent red, with a red outline (one contour at level ½ of the indicator).
        fig.add_trace(go.Contour(x=p["u"], y=p["v"], z=in_set, autocontour=False, zmin=0, zmax=1,
                                 contours=dict(start=0.5, end=0.5, size=1, coloring="fill"),
                                 colorscale=[[0, "rgba(255,40,40,0)"], [1, "rgba(255,40,40,0.55)"]],
                                 line=dict(color="#ff2828", width=2), showscale=False, name="collapse set",
                                 showlegend=k == 1, hoverinfo="skip"), 1, k)
        zs = p["z_star_uv"]
        fig.add_trace(go.Scatter(x=[zs[0]], y=[zs[1]], mode="markers", name="z*", showlegend=k == 1,
                                 marker=dict(symbol="star", size=14, color="#e41a1c", line=dict(color="black", width=1))),
                      1, k)
        if p["witness"] is not None:
            (u1, v1), (u2, v2) = p["witness"]
            fig.add_trace(go.Scatter(x=[u1, u2], y=[v1, v2], mode="markers+text", text=["z₁", "z₂"],
                                     textposition="top center", name="witness z₁, z₂", showlegend=k == 1,
                                     textfont=dict(color="white", size=13),
                                     marker=dict(symbol="circle", size=11, color="white",
                                                 line=dict(color="black", width=2))), 1, k)
        fig.update_xaxes(title=labels[0], constrain="domain", row=1, col=k)
        fig.update_yaxes(title=labels[1], scaleanchor=f"x{'' if k == 1 else k}", constrain="domain", row=1, col=k)
    fig.update_layout(margin=dict(l=50, r=20, t=50, b=40), height=460, legend=dict(orientation="h", y=-0.15))
    return fig


def witness_figure(x1, x2, gap: float, z1, z2) -> go.Figure:
    """G(z₁) and G(z₂) (channel 0) on one colour range: identical images from different codes."""
    a, b = _channel0(x1), _channel0(x2)
    f = lambda z: "(" + ", ".join(f"{t:.2f}" for t in z) + ")"  # noqa: E731
    fig = make_subplots(rows=1, cols=2, subplot_titles=[f"G(z₁), z₁ = {f(z1)}", f"G(z₂), z₂ = {f(z2)}"],
                        horizontal_spacing=0.06)
    lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    if hi <= lo:
        hi = lo + 1.0   # constant images (e.g. all zero) show as black, not mid-grey
    if a.ndim == 2:
        for k, img in ((1, a), (2, b)):
            fig.add_trace(go.Heatmap(z=img, colorscale="Gray", zmin=lo, zmax=hi, showscale=False), 1, k)
            fig.update_yaxes(autorange="reversed", scaleanchor=f"x{'' if k == 1 else k}", visible=False, row=1, col=k)
            fig.update_xaxes(visible=False, constrain="domain", row=1, col=k)
    else:
        for k, img in ((1, a), (2, b)):
            fig.add_trace(go.Scatter(y=img, mode="lines"), 1, k)
    top = float(max(np.abs(a).max(), np.abs(b).max()))
    fig.update_layout(title=dict(text=f"‖G(z₁) − G(z₂)‖ = {gap:.3g}   (largest |pixel| = {top:.3g})", x=0.01,
                                 font=dict(size=13)),
                      margin=dict(l=10, r=10, t=60, b=10), height=250, showlegend=False)
    return fig


# ---------------------------------------------------------------------------
# basins
# ---------------------------------------------------------------------------
def basin_figure(u, v, rows, marks: dict | None = None, labels=("z₁", "z₂"), title: str = "") -> go.Figure:
    """Diagnosis of the descent started at each grid point (codes index :data:`OUTCOME_NAMES`);
    rows not computed yet are blank. ``marks`` is {name: (u, v)}."""
    u, v = np.asarray(u, float), np.asarray(v, float)
    z = np.full((v.size, u.size), np.nan)
    if len(rows):
        r = np.asarray(rows, dtype=float)
        z[: r.shape[0]] = r
    cs = []
    K = len(OUTCOME_NAMES)
    for k, name in enumerate(OUTCOME_NAMES):
        cs += [[k / K, OUTCOME_COLORS[name]], [(k + 1) / K, OUTCOME_COLORS[name]]]
    fig = go.Figure(go.Heatmap(x=u, y=v, z=z, colorscale=cs, zmin=-0.5, zmax=K - 0.5, name="diagnosis",
                               colorbar=dict(tickvals=list(range(K)), ticktext=list(OUTCOME_NAMES), thickness=14),
                               customdata=np.where(np.isfinite(z), z, 0).astype(int).choose(list(OUTCOME_NAMES))
                               if z.size else None,
                               hovertemplate="start (%{x:.3f}, %{y:.3f})<br>%{customdata}<extra></extra>"))
    for name, (mu, mv) in (marks or {}).items():
        colour, s2, _ = _POINT_STYLE[name]
        fig.add_trace(go.Scatter(x=[mu], y=[mv], mode="markers", name=name,
                                 marker=dict(color=colour, symbol=s2, size=14, line=dict(color="black", width=1))))
    fig.update_layout(title=_title(title), margin=_MARGIN,
                      xaxis=dict(title=labels[0], range=[float(u[0]), float(u[-1])], constrain="domain"),
                      yaxis=dict(title=labels[1], range=[float(v[0]), float(v[-1])], scaleanchor="x",
                                 constrain="domain"),
                      legend=dict(orientation="h", y=-0.14))
    return fig


def message_figure(text: str) -> go.Figure:
    """An empty figure that says why it is empty."""
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=14))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white")
    return fig
