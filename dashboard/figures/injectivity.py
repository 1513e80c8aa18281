"""The injectivity map: σ_min of A·∂G/∂z on a plane, beside J on the same plane (no Dash, no core)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

SIGMA_FLOOR_REL = 1e-6   # log10(σ_min + floor), floor = 1e-6 · max σ_max: σ_min = 0 stays finite
# The σ_min colour bar starts at this percentile: a lone zero (G(0) = 0 on a grid point) does not
# flatten an injective map into one colour, while a collapse region (a large share) keeps the floor.
COLOUR_FROM_PERCENT = 1.0


def sigma_floor(sigma_max) -> float:
    """The floor added to σ_min before log10: ``SIGMA_FLOOR_REL · max σ_max`` (tiny if σ ≡ 0)."""
    top = float(np.nanmax(sigma_max)) if np.size(sigma_max) else 0.0
    return max(top, 1e-300) * SIGMA_FLOOR_REL


def injectivity_figure(u, v, J_colour, su, sv, sigma_min, floor: float, J_label: str, labels=("z₁", "z₂"),
                       points: dict | None = None, title: str = "") -> go.Figure:
    """J (left) and log10(σ_min + floor) (right) on one plane, the same window, z* etc. on both.

    Parameters
    ----------
    u : array (N,), v : array (M,), J_colour : array (M, N)
        The landscape's grid and its colour values (J or log10(J + floor), as the contour).
    su : array (n,), sv : array (m,), sigma_min : array (m, n)
        The injectivity map's coarser grid and σ_min there (core.injectivity).
    floor : float
        Added to σ_min before log10 (see :func:`sigma_floor`); named in the colour bar's title.
        The colour bar runs from the :data:`COLOUR_FROM_PERCENT` percentile of the values up.
    points : dict, optional
        ``{name: (u, v)}`` drawn on both panels (NaN: not drawn).

    Returns
    -------
    go.Figure
        Traces: the J heatmap, the σ_min heatmap (``customdata`` holds σ_min itself), then one
        marker trace per point and panel.
    """
    s = np.asarray(sigma_min, dtype=float)
    c = np.log10(np.maximum(s, 0.0) + floor)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        "J on this plane", "σ_min(A·∂G/∂z): ≈ 0 where G is not locally injective"))
    fig.add_trace(go.Heatmap(x=np.asarray(u, float), y=np.asarray(v, float), z=np.asarray(J_colour, float),
                             colorscale="Viridis", name="J",
                             colorbar=dict(x=0.44, thickness=10, len=0.9, title=dict(text=J_label, side="right")),
                             hovertemplate=f"(%{{x:.3f}}, %{{y:.3f}})<br>{J_label} = %{{z:.4g}}<extra></extra>"), 1, 1)
    lo, hi = float(np.nanpercentile(c, COLOUR_FROM_PERCENT)), float(np.nanmax(c))
    fig.add_trace(go.Heatmap(x=np.asarray(su, float), y=np.asarray(sv, float), z=c, customdata=s,
                             colorscale="Magma", name="σ_min", zmin=lo, zmax=hi if hi > lo else lo + 1.0,
                             colorbar=dict(x=1.0, thickness=10, len=0.9,
                                           title=dict(text=f"log10(σ_min + floor), floor = {floor:.2g}", side="right")),
                             hovertemplate="(%{x:.3f}, %{y:.3f})<br>σ_min = %{customdata:.4g}<extra></extra>"), 1, 2)
    style = {"z*": ("#e41a1c", "star"), "−ρ_d z*": ("#ff7f00", "square"), "origin": ("#ffffff", "x"),
             "−z*": ("#00e5ff", "diamond-open"), "ẑ": ("#00e5ff", "diamond-open")}
    for name, (pu, pv) in (points or {}).items():
        colour, symbol = style.get(name, ("#ffffff", "circle-open"))
        for col in (1, 2):
            fig.add_trace(go.Scatter(x=[pu], y=[pv], mode="markers", name=name, showlegend=col == 1,
                                     marker=dict(color=colour, symbol=symbol, size=11, line=dict(color="black", width=1)),
                                     hovertemplate=f"{name}<br>(%{{x:.3f}}, %{{y:.3f}})<extra></extra>"), 1, col)
    for col in (1, 2):
        fig.update_xaxes(title=labels[0], range=[float(u[0]), float(u[-1])], constrain="domain", row=1, col=col)
        fig.update_yaxes(title=labels[1] if col == 1 else None, range=[float(v[0]), float(v[-1])],
                         scaleanchor=f"x{col if col > 1 else ''}", constrain="domain", row=1, col=col)
    fig.update_annotations(font=dict(size=12))
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=13)), margin=dict(l=55, r=20, t=60, b=45),
                      height=430, legend=dict(orientation="h", y=-0.15, x=0), uirevision="injectivity")
    return fig
