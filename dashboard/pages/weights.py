"""Weight statistics of the shipped generators (the paper's Fig. 3).

One histogram per transposed-convolution layer with the fitted zero-mean Gaussian overlaid, and a
table of normality statistics (Kolmogorov–Smirnov distance, excess kurtosis). Numbers come from
:func:`core.trained.stats.weight_stats`; the figure builders are pure.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, dcc, html
from plotly.subplots import make_subplots

GENERATOR = "weights-generator"
HISTOGRAMS = "weights-histograms"
TABLE = "weights-table"

GENERATORS = ("mnist", "fashion")
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


def compute(generator: str):
    """Generator name → (figure, table rows); calls core only."""
    from core.trained.dcgan import shipped_generator
    from core.trained.stats import weight_stats
    stats = weight_stats(shipped_generator(generator))
    return histograms_figure(stats), table_rows(stats)


def layout():
    return html.Div(className="page", children=[
        html.H3("Trained generator weights per layer (cf. the paper's Fig. 3)", style={"margin": "6px 0"}),
        html.Div(className="toolbar", children=[
            dcc.RadioItems(id=GENERATOR, options=[{"label": f" {g} generator", "value": g} for g in GENERATORS],
                           value="mnist", inline=True, className="radio"),
        ]),
        dcc.Loading(dcc.Graph(id=HISTOGRAMS, style={"height": "360px"}), type="circle", delay_show=300),
        html.Div(id=TABLE, className="info"),
        html.Div("σ is the maximum-likelihood fit of a zero-mean Gaussian, σ² = mean(w²). The KS distance is "
                 "sup |F_n(w) − Φ(w/σ)|; a Gaussian sample of the same size stays below the 5% critical value "
                 "1.358/√n with probability 0.95. Excess kurtosis is 0 for a Gaussian.", className="hint"),
    ])


def register_callbacks(app) -> None:
    @app.callback(Output(HISTOGRAMS, "figure"), Output(TABLE, "children"), Input(GENERATOR, "value"))
    def _update(generator):
        fig, rows = compute(generator)
        return fig, table(rows)
