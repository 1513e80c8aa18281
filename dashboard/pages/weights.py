"""Weight statistics of the shipped generators (the paper's Fig. 3).

One histogram per transposed-convolution layer with the fitted zero-mean Gaussian overlaid, and a
table of normality statistics (Kolmogorov–Smirnov distance, excess kurtosis). Numbers come from
:func:`core.trained.stats.weight_stats`; the figures from :mod:`dashboard.figures.trained`.
"""
from __future__ import annotations

from dash import Input, Output, dcc, html, no_update

from core.config import SHIPPED

from .. import ids, state
from ..components import loading
from ..figures import trained as tf
from ..guard import callback

GENERATORS = SHIPPED


def compute(generator: str):
    """Generator name → (figure, table rows); calls core only."""
    from core.trained.dcgan import shipped_generator
    from core.trained.stats import weight_stats

    stats = weight_stats(shipped_generator(state.parse_choice("generator", generator, GENERATORS)))
    return tf.histograms_figure(stats), tf.table_rows(stats)


def layout():
    return html.Div(className="page", children=[
        html.H3("Trained generator weights per layer (cf. the paper's Fig. 3)", style={"margin": "6px 0"}),
        html.Div(className="toolbar", children=[
            dcc.RadioItems(id=ids.WEIGHTS_GENERATOR, options=[{"label": f" {g}", "value": g} for g in GENERATORS],
                           value="mnist", inline=True, className="radio"),
        ]),
        loading(dcc.Graph(id=ids.WEIGHTS_HISTOGRAMS, style={"height": "360px"}), "circle"),
        html.Div(id=ids.WEIGHTS_TABLE, className="info"),
        html.Div("σ is the maximum-likelihood fit of a zero-mean Gaussian, σ² = mean(w²). The KS distance is "
                 "sup |F_n(w) − Φ(w/σ)|; a Gaussian sample of the same size stays below the 5% critical value "
                 "1.358/√n with probability 0.95. Excess kurtosis is 0 for a Gaussian.", className="hint"),
    ])


def register_callbacks(app) -> None:
    @callback(app, Output(ids.WEIGHTS_HISTOGRAMS, "figure"), Output(ids.WEIGHTS_TABLE, "children"),
              Input(ids.WEIGHTS_GENERATOR, "value"), Input(ids.TABS, "value"),
              prevent_initial_call=True)   # runs once its tab is shown (callbacks.py: views behind tabs)
    def _update(generator, tab):
        if tab != ids.TAB_WEIGHTS:
            return no_update, no_update
        fig, rows = compute(generator)
        return fig, tf.table(rows)
