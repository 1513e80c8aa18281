"""Figures of the two trained-generator pages: inpainting (the paper's Fig. 5) and weights (Fig. 3)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from dash import html
from plotly.subplots import make_subplots

RESTART_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
HIDDEN_COLOUR = "#c9d6e3"   # unobserved pixels in the "measured" panel
_MARGIN = dict(l=40, r=20, t=40, b=40)


# ---- inpainting ----------------------------------------------------------------------------------
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


def curve_figure(J_path, best: int, names=None, xlabel: str = "iteration t") -> go.Figure:
    """J(t) of every path on a log axis; the kept one drawn thick.

    Parameters
    ----------
    J_path : array (steps + 1, R)
        One column per path shown.
    best : int
        Column of the kept path.
    names : sequence of str, optional
        Legend name of each column (default "start 1", …).
    """
    J_path = np.asarray(J_path, float)
    t = np.arange(J_path.shape[0])
    names = list(names) if names is not None else [f"start {r + 1}" for r in range(J_path.shape[1])]
    fig = go.Figure()
    for r in range(J_path.shape[1]):
        fig.add_trace(go.Scatter(x=t, y=np.maximum(J_path[:, r], 1e-30), mode="lines",
                                 name=names[r] + (" (kept)" if r == best and J_path.shape[1] > 1 else ""),
                                 line=dict(color=RESTART_COLOURS[r % len(RESTART_COLOURS)], width=3 if r == best else 1.2)))
    floor = np.maximum(J_path, 1e-30)
    decades = np.log10(floor.max() / floor.min()) if floor.size else 0.0
    fig.update_layout(title="recovery curve J(t) = ½‖y − A G(z_t)‖²", xaxis_title=xlabel,
                      yaxis=dict(type="log", title="J", exponentformat="power", dtick=max(1, int(np.ceil(decades / 6))) if decades >= 2 else "D2"),
                      margin=_MARGIN,
                      legend=dict(x=1, xanchor="right", y=1))
    return fig


def slices_figure(slices, best: int = 0) -> go.Figure:
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


def summary_text(ex, tol: float = 1e-3) -> str:
    """One line on the result of an :class:`core.trained.demo.Example`."""
    parts = [f"class {ex.label}", f"{int(np.sum(ex.mask))} of {ex.x.size} pixels observed" if ex.mask is not None else "dense Gaussian A"]
    if ex.test_index >= 0:
        parts.append(f"test image #{ex.test_index}")
    if ex.z_star is not None:
        parts.append(f"‖ẑ − z*‖/‖z*‖ = {ex.latent_error:.2e}")
    if ex.diagnosis:
        parts.append(f"diagnosis: {ex.diagnosis.replace('_', ' ')} (stopped on {ex.stop})")
    parts.append(f"final J = {float(np.min(ex.J_path[-1])):.3g}")
    parts.append(f"PSNR {ex.psnr:.1f} dB")
    if np.isfinite(ex.psnr_hidden):
        parts.append(f"on hidden pixels {ex.psnr_hidden:.1f} dB")
    return " · ".join(parts)


# ---- trained weights -----------------------------------------------------------------------------
TABLE_COLUMNS = ("layer", "shape", "n", "mean", "std", "σ (fit)", "KS distance", "KS 5% crit. (Gaussian)", "excess kurtosis")


def histograms_figure(stats) -> go.Figure:
    """One panel per layer: the weight density (bars) and the fitted ``N(0, σ²)`` (line).

    Parameters
    ----------
    stats : sequence of :class:`core.trained.stats.LayerStats`-like objects
        Fields used: ``name, shape, edges, density, sigma, ks`` and the method ``gaussian(w)``.
    """
    fig = make_subplots(rows=1, cols=len(stats), subplot_titles=[
        f"{s.name} {'×'.join(map(str, s.shape))}<br>KS = {s.ks:.3f}" for s in stats], horizontal_spacing=0.05)
    for col, s in enumerate(stats, start=1):
        centres = (s.edges[:-1] + s.edges[1:]) / 2
        fig.add_trace(go.Bar(x=centres, y=s.density, width=np.diff(s.edges), marker_color="#90a4ae",
                             name="weights", showlegend=col == 1,
                             hovertemplate="w ≈ %{x:.4f}: density %{y:.3g}<extra></extra>"), 1, col)
        w = np.linspace(s.edges[0], s.edges[-1], 200)
        fig.add_trace(go.Scatter(x=w, y=s.gaussian(w), mode="lines", line=dict(color="#d62728", width=2),
                                 name="fitted N(0, σ²)", showlegend=col == 1,
                                 hovertemplate=f"N(0, {s.sigma:.4f}²)<extra></extra>"), 1, col)
        fig.update_xaxes(title="weight", row=1, col=col)
    fig.update_yaxes(title="density", row=1, col=1)
    fig.update_layout(bargap=0, margin=dict(l=50, r=20, t=75, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


def table_rows(stats) -> list[dict]:
    """Rows of the statistics table (strings, formatted)."""
    return [{"layer": s.name, "shape": "×".join(map(str, s.shape)), "n": f"{s.n}", "mean": f"{s.mean:.2e}",
             "std": f"{s.std:.4f}", "σ (fit)": f"{s.sigma:.4f}", "KS distance": f"{s.ks:.4f}",
             "KS 5% crit. (Gaussian)": f"{s.ks_crit_05:.4f}", "excess kurtosis": f"{s.excess_kurtosis:.2f}"}
            for s in stats]


_CELL = {"padding": "2px 12px", "textAlign": "right", "borderBottom": "1px solid #ddd"}


def table(rows) -> html.Table:
    return html.Table(className="stats-table", style={"borderCollapse": "collapse"}, children=[
        html.Thead(html.Tr([html.Th(c, style=_CELL) for c in TABLE_COLUMNS])),
        html.Tbody([html.Tr([html.Td(r[c], style=_CELL) for c in TABLE_COLUMNS]) for r in rows]),
    ])


