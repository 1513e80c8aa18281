"""What the Descent view adds to the landscape: the pair behind an ``other_fit`` and the budget curves."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .landscape import OUTCOME_NAMES

METHOD_COLOURS = {"lbfgs": "#1f77b4", "gauss_newton": "#2ca02c", "adam": "#ff7f0e", "gd": "#9467bd"}
METHOD_LABELS = {"lbfgs": "L-BFGS", "gauss_newton": "Gauss–Newton", "adam": "Adam", "gd": "GD"}


def _ch0(a):
    a = np.asarray(a, dtype=float)
    return a[0] if a.ndim >= 2 else a


def pair_figure(x_star, x_hat, mask, title: str = "") -> go.Figure:
    """G(z*) | G(ẑ) | the mask | G(ẑ) − G(z*), channel 0: two codes that fit the same measurements.

    Parameters
    ----------
    x_star, x_hat : array (C, *spatial)
    mask : array (C, *spatial) bool or None
        Observed entries (None: a dense A, no mask panel content).
    """
    a, b = _ch0(x_star), _ch0(x_hat)
    m = None if mask is None else _ch0(mask).astype(float)
    d = b - a
    titles = ("G(z*)", "G(ẑ)", "observed pixels (white)" if m is not None else "dense A: no mask", "G(ẑ) − G(z*)")
    fig = make_subplots(rows=1, cols=4, subplot_titles=titles, horizontal_spacing=0.04)
    lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    hi = hi if hi > lo else lo + 1.0
    r = float(np.abs(d).max()) or 1.0
    if a.ndim == 2:
        grey = dict(colorscale="Gray", zmin=lo, zmax=hi, showscale=False)
        fig.add_trace(go.Heatmap(z=a, name="G(z*)", **grey), 1, 1)
        fig.add_trace(go.Heatmap(z=b, name="G(ẑ)", **grey), 1, 2)
        if m is not None:
            fig.add_trace(go.Heatmap(z=m, name="mask", colorscale=[[0, "#202020"], [1, "#f5f5f5"]], zmin=0, zmax=1,
                                     showscale=False), 1, 3)
        fig.add_trace(go.Heatmap(z=d, name="G(ẑ) − G(z*)", colorscale="RdBu", zmid=0, zmin=-r, zmax=r,
                                 colorbar=dict(thickness=10, len=0.8)), 1, 4)
        for k in range(1, 5):
            fig.update_yaxes(autorange="reversed", scaleanchor=f"x{'' if k == 1 else k}", visible=False, row=1, col=k)
            fig.update_xaxes(visible=False, constrain="domain", row=1, col=k)
    else:
        t = np.arange(a.size)
        fig.add_trace(go.Scatter(x=t, y=a, name="G(z*)", mode="lines"), 1, 1)
        fig.add_trace(go.Scatter(x=t, y=b, name="G(ẑ)", mode="lines"), 1, 2)
        if m is not None:
            fig.add_trace(go.Scatter(x=t, y=m, name="mask", mode="lines", line=dict(shape="hv")), 1, 3)
        fig.add_trace(go.Scatter(x=t, y=d, name="G(ẑ) − G(z*)", mode="lines"), 1, 4)
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=13)), margin=dict(l=10, r=10, t=60, b=10),
                      height=250, showlegend=False, plot_bgcolor="white")
    return fig


def budget_figure(curves: dict, title: str = "") -> go.Figure:
    """Fraction recovered against iterations (left) and wall time (right), one line per solver.

    Parameters
    ----------
    curves : dict
        :func:`core.budget.budget_curves`' arrays: ``methods`` (K,), ``iterations`` (T + 1,),
        ``recovered``, ``seconds`` (K, T + 1), optionally ``counts`` (K, labels) in the order
        of :data:`~dashboard.figures.landscape.OUTCOME_NAMES`.

    Returns
    -------
    go.Figure
        Traces: per method, its curve against iterations, then against seconds.
    """
    methods = [str(m) for m in curves["methods"]]
    it = np.asarray(curves["iterations"], dtype=float)
    rec = np.asarray(curves["recovered"], dtype=float)
    sec = np.asarray(curves["seconds"], dtype=float)
    counts = curves.get("counts")
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("against iterations", "against wall time"))
    for k, m in enumerate(methods):
        c = METHOD_COLOURS.get(m, "#444")
        name = f"{METHOD_LABELS.get(m, m)}: {100 * rec[k, -1]:.0f}%"
        if counts is not None:
            fails = [f"{n.replace('_', ' ')} {int(v)}" for n, v in zip(OUTCOME_NAMES, np.asarray(counts)[k])
                     if n != "recovered" and v]
            name += f" ({', '.join(fails)})" if fails else ""
        fig.add_trace(go.Scatter(x=it, y=rec[k], mode="lines", line=dict(color=c, width=2, shape="hv"), name=name,
                                 legendgroup=m, hovertemplate=f"{m}: t = %{{x}}<br>recovered %{{y:.0%}}<extra></extra>"),
                      1, 1)
        pos = sec[k] > 0
        fig.add_trace(go.Scatter(x=sec[k][pos], y=rec[k][pos], mode="lines", line=dict(color=c, width=2, shape="hv"),
                                 name=name, legendgroup=m, showlegend=False,
                                 hovertemplate=f"{m}: %{{x:.3g}} s<br>recovered %{{y:.0%}}<extra></extra>"), 1, 2)
    fig.update_xaxes(title="iterations t", row=1, col=1)
    fig.update_xaxes(title="wall time (s), log scale", type="log", row=1, col=2)
    fig.update_yaxes(title="fraction recovered", range=[-0.03, 1.03], tickformat=".0%", row=1, col=1)
    fig.update_yaxes(range=[-0.03, 1.03], tickformat=".0%", row=1, col=2)
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=13)), margin=dict(l=55, r=15, t=60, b=40),
                      height=300, plot_bgcolor="white", legend=dict(orientation="h", y=-0.22, x=0),
                      uirevision="budget")
    fig.update_xaxes(gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    return fig
