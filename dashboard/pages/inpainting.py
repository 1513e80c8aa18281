"""Inpainting by inversion (the paper's Fig. 5) with a shipped conditional DCGAN.

Pick a class and a seed (or draw one), a mask and a generator: the page shows ground truth |
measured | reconstruction, the recovery curve J(t) of every restart, and J on two planes of the
10-D latent space (through 0, z*, −z*; and a random plane through z*) with the descent paths
projected onto them. All numbers come from :func:`core.trained.demo.inpaint_example`; the figure
builders below are pure (arrays in, ``go.Figure`` out).
"""
from __future__ import annotations

import secrets

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, dcc, html, no_update
from plotly.subplots import make_subplots

# ---- component ids ------------------------------------------------------------------------------
GENERATOR = "inpaint-generator"
SOURCE = "inpaint-source"
LABEL = "inpaint-label"
SEED = "inpaint-seed"
DRAW = "inpaint-draw"
MASK = "inpaint-mask"
RATE = "inpaint-rate"
IMAGES = "inpaint-images"
CURVE = "inpaint-curve"
SLICES = "inpaint-slices"
SUMMARY = "inpaint-summary"
ERROR = "inpaint-error"

MASKS = ("random", "top", "bottom", "left", "right", "border", "center", "strip", "gaussian")
GENERATORS = ("mnist", "fashion")
RESTART_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
HIDDEN_COLOUR = "#c9d6e3"   # unobserved pixels in the "measured" panel
_MARGIN = dict(l=40, r=20, t=40, b=40)


# ---- pure figure builders -----------------------------------------------------------------------
def images_figure(x, mask, x_hat) -> go.Figure:
    """Ground truth | measured | reconstruction, as in Fig. 5.

    Parameters
    ----------
    x, x_hat : array (32, 32) in [−1, 1]
    mask : array (32, 32) bool or None
        Observed pixels; hidden ones are left blank (the panel's background). None: a dense A,
        drawn as "not an image".
    """
    fig = make_subplots(rows=1, cols=3, subplot_titles=("ground truth", "measured y = A x", "reconstruction G(ẑ)"),
                        horizontal_spacing=0.03)
    x = np.asarray(x, float)
    measured = np.where(mask, x, np.nan) if mask is not None else np.full_like(x, np.nan)
    for col, img in enumerate((x, measured, np.asarray(x_hat, float)), start=1):
        fig.add_trace(go.Heatmap(z=(img + 1) / 2, zmin=0, zmax=1, colorscale="Greys", reversescale=True,
                                 showscale=False, hovertemplate="(%{x}, %{y}): %{z:.2f}<extra></extra>"), 1, col)
        fig.update_xaxes(visible=False, row=1, col=col, constrain="domain")
        fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=f"x{'' if col == 1 else col}",
                         row=1, col=col, constrain="domain")
    fig.update_layout(margin=_MARGIN, plot_bgcolor=HIDDEN_COLOUR, paper_bgcolor="white")
    return fig


def curve_figure(J_path, best: int) -> go.Figure:
    """J(t) of every restart on a log axis; the kept restart drawn thick.

    Parameters
    ----------
    J_path : array (steps + 1, R)
    best : int
    """
    J_path = np.asarray(J_path, float)
    t = np.arange(J_path.shape[0])
    fig = go.Figure()
    for r in range(J_path.shape[1]):
        fig.add_trace(go.Scatter(x=t, y=np.maximum(J_path[:, r], 1e-30), mode="lines", name=f"start {r + 1}" + (" (kept)" if r == best else ""),
                                 line=dict(color=RESTART_COLOURS[r % len(RESTART_COLOURS)], width=3 if r == best else 1.2)))
    floor = np.maximum(J_path, 1e-30)
    decades = np.log10(floor.max() / floor.min()) if floor.size else 0.0
    fig.update_layout(title="recovery curve J(t) = ½‖y − A G(z_t)‖²", xaxis_title="Adam iteration t",
                      yaxis=dict(type="log", title="J", exponentformat="power", dtick=max(1, int(np.ceil(decades / 6))) if decades >= 2 else "D2"),
                      margin=_MARGIN,
                      legend=dict(x=1, xanchor="right", y=1))
    return fig


def slices_figure(slices, best: int) -> go.Figure:
    """log10 J on each plane with the projected descent paths and the named points.

    Parameters
    ----------
    slices : sequence of objects with ``title, u, v, J, path_u, path_v, marks`` (see
        :class:`core.trained.demo.Slice`)
    best : int
        Restart drawn thick.
    """
    fig = make_subplots(rows=1, cols=len(slices), subplot_titles=[s.title for s in slices], horizontal_spacing=0.08)
    symbols = {"z*": "star", "ẑ": "circle-open", "−z*": "square", "−ẑ": "square", "0": "x"}
    for col, s in enumerate(slices, start=1):
        J = np.asarray(s.J, float)
        L = np.log10(np.maximum(J, 0) + 1e-12 * max(J.max(), 1e-300))
        fig.add_trace(go.Contour(x=s.u, y=s.v, z=L, colorscale="Viridis", ncontours=30, showscale=col == len(slices),
                                 colorbar=dict(title="log10 J", len=0.9), line=dict(width=0.3),
                                 hovertemplate="(%{x:.2f}, %{y:.2f}) log10 J = %{z:.2f}<extra></extra>"), 1, col)
        for r in range(np.shape(s.path_u)[1]):
            colour = RESTART_COLOURS[r % len(RESTART_COLOURS)]
            fig.add_trace(go.Scatter(x=s.path_u[:, r], y=s.path_v[:, r], mode="lines", showlegend=False,
                                     line=dict(color=colour, width=2.5 if r == best else 1.2),
                                     hovertemplate=f"start {r + 1}<extra></extra>"), 1, col)
            fig.add_trace(go.Scatter(x=[s.path_u[0, r]], y=[s.path_v[0, r]], mode="markers", showlegend=False,
                                     marker=dict(color=colour, size=7, symbol="circle"),
                                     hovertemplate=f"start {r + 1}<extra></extra>"), 1, col)
        names = list(s.marks)
        fig.add_trace(go.Scatter(x=[s.marks[k][0] for k in names], y=[s.marks[k][1] for k in names], mode="markers+text",
                                 text=names, textposition="top right", showlegend=False, textfont=dict(color="white"),
                                 marker=dict(color="#e41a1c", size=11, symbol=[symbols.get(k, "circle") for k in names],
                                             line=dict(color="white", width=1)),
                                 hovertemplate="%{text}<extra></extra>"), 1, col)
        fig.update_xaxes(title="u", range=[s.u[0], s.u[-1]], row=1, col=col)
        fig.update_yaxes(title="v", range=[s.v[0], s.v[-1]], row=1, col=col)
    fig.update_layout(margin=_MARGIN, title="J on 2-D slices of the 10-D latent space (paths projected)")
    return fig


def summary_text(ex) -> str:
    """One line on the result of an :class:`core.trained.demo.Example`."""
    parts = [f"class {ex.label}", f"{int(np.sum(ex.mask))} of {ex.x.size} pixels observed" if ex.mask is not None else "dense Gaussian A"]
    if ex.test_index >= 0:
        parts.append(f"test image #{ex.test_index}")
    if ex.z_star is not None:
        ok = "recovered" if ex.latent_error <= 1e-3 else "not recovered"
        parts.append(f"‖ẑ − z*‖/‖z*‖ = {ex.latent_error:.2e} ({ok} at 1e-3)")
    parts.append(f"final J = {ex.J_path[-1, ex.best]:.3g}")
    parts.append(f"PSNR {ex.psnr:.1f} dB")
    if np.isfinite(ex.psnr_hidden):
        parts.append(f"on hidden pixels {ex.psnr_hidden:.1f} dB")
    return " · ".join(parts)


# ---- callback logic (plain functions) ------------------------------------------------------------
def parse_controls(seed_text, rate_text) -> tuple[int, float]:
    """Seed and rate from the text fields; ValueError names the field."""
    try:
        seed = int(str(seed_text).strip())
    except ValueError:
        raise ValueError(f"seed: expected an integer, got {seed_text!r}") from None
    if not 0 <= seed < 2**31:
        raise ValueError(f"seed: must be in [0, 2^31 − 1], got {seed}")
    try:
        rate = float(str(rate_text).strip())
    except ValueError:
        raise ValueError(f"rate: expected a number, got {rate_text!r}") from None
    if not 0 < rate <= 1:
        raise ValueError(f"rate: must be in (0, 1], got {rate}")
    return seed, rate


def compute(generator, source, label, seed_text, mask, rate_text):
    """Controls → (images, curve, slices figures, summary, error text); calls core only."""
    from core.trained.demo import inpaint_example
    seed, rate = parse_controls(seed_text, rate_text)
    ex = inpaint_example(generator=generator, source=source, label=int(label), seed=seed, mask=mask, rate=rate)
    return (images_figure(ex.x, ex.mask, ex.x_hat),
            curve_figure(ex.J_path, ex.best), slices_figure(ex.slices, ex.best), summary_text(ex))


def random_draw(n_clicks) -> tuple[int, str]:
    """A fresh class and seed for the "draw" button (shown in the controls, so the view is reproducible)."""
    return secrets.randbelow(10), str(secrets.randbelow(100000))


# ---- layout and callbacks -------------------------------------------------------------------------
def layout():
    radio = dict(inline=True, className="radio")
    return html.Div(className="page", children=[
        html.Div(className="toolbar", children=[
            dcc.RadioItems(id=GENERATOR, options=[{"label": f" {g}", "value": g} for g in GENERATORS], value="mnist", **radio),
            dcc.RadioItems(id=SOURCE, value="generated", options=[{"label": " generated G(z*, c)", "value": "generated"},
                                                                    {"label": " real test image", "value": "real"}], **radio),
            html.Label("class"),
            dcc.Dropdown(id=LABEL, options=[{"label": str(c), "value": c} for c in range(10)], value=3,
                         clearable=False, searchable=False, style={"width": "70px"}),
            html.Label("seed"),
            dcc.Input(id=SEED, type="text", value="0", debounce=True, className="text-input short"),
            html.Button("Draw a random one", id=DRAW, n_clicks=0),
            html.Label("mask"),
            dcc.Dropdown(id=MASK, options=[{"label": m, "value": m} for m in MASKS], value="random",
                         clearable=False, searchable=False, style={"width": "110px"}),
            html.Label("rate"),
            dcc.Input(id=RATE, type="text", value="0.5", debounce=True, className="text-input short"),
        ]),
        html.Div(id=ERROR, className="error"),
        dcc.Loading(html.Div(id=SUMMARY, className="info"), type="dot", delay_show=300),
        html.Div(className="row", children=[
            html.Div(className="col", children=[dcc.Graph(id=IMAGES, style={"height": "330px"})]),
            html.Div(className="col", children=[dcc.Graph(id=CURVE, style={"height": "330px"})]),
        ]),
        dcc.Graph(id=SLICES, style={"height": "470px"}),
        html.Div("Adam, learning rate 0.1, 500 iterations, 4 random starts N(0, I); the class is known. "
                 "Left slice: u runs along z* (z* at u = ‖z*‖, −z* at u = −‖z*‖). Paths are projections of "
                 "10-D paths, so they need not follow the slice's contours.", className="hint"),
    ])


def register_callbacks(app) -> None:
    @app.callback(Output(LABEL, "value"), Output(SEED, "value"), Input(DRAW, "n_clicks"), prevent_initial_call=True)
    def _draw(n_clicks):
        return random_draw(n_clicks)

    @app.callback(Output(IMAGES, "figure"), Output(CURVE, "figure"), Output(SLICES, "figure"), Output(SUMMARY, "children"),
                  Output(ERROR, "children"),
                  Input(GENERATOR, "value"), Input(SOURCE, "value"), Input(LABEL, "value"), Input(SEED, "value"),
                  Input(MASK, "value"), Input(RATE, "value"))
    def _update(generator, source, label, seed, mask, rate):
        try:
            return (*compute(generator, source, label, seed, mask, rate), "")
        except (ValueError, FileNotFoundError) as e:
            return no_update, no_update, no_update, no_update, f"error: {e}"
