"""Inpainting by inversion (the paper's Fig. 5) with a shipped conditional DCGAN.

Pick a class and a seed (or draw one), a mask, a generator and a solver: the page shows ground
truth | measured | reconstruction, the recovery curve J(t), and J on two planes of the 10-D latent
space (through 0, z*, −z*; and a random plane through z*) with the descent path projected onto
them. All numbers come from :func:`core.trained.demo.inpaint_example`; the figures from
:mod:`dashboard.figures.trained`. Every control is checked on the server (:func:`parse_controls`)
and kept in the URL (``inpaint.…``).
"""
from __future__ import annotations

import secrets

from dash import Input, Output, dcc, html, no_update

from core import Config, ConfigError
from core.config import METHODS, SHIPPED

from .. import ids, state
from ..components import loading
from ..figures import trained as tf
from ..guard import callback
from .url import register_url_sync, slice_store

MASKS = ("random", "top", "bottom", "left", "right", "border", "center", "strip", "gaussian")
GENERATORS = SHIPPED
SOURCES = ("generated", "real")
RESTARTS = 4
STEPS = (1, 2000)
URL_PREFIX = "inpaint."    # this page's keys in the URL (pages/url.py)
DEFAULTS = dict(generator="mnist", source="generated", label=3, seed="0", mask="random", rate="0.5",
                method="lbfgs", lr="0.1", damping="1.0", negate=[], steps="500")
CONTROLS = {"generator": ids.INPAINT_GENERATOR, "source": ids.INPAINT_SOURCE, "label": ids.INPAINT_LABEL,
            "seed": ids.INPAINT_SEED, "mask": ids.INPAINT_MASK, "rate": ids.INPAINT_RATE,
            "method": ids.INPAINT_METHOD, "lr": ids.INPAINT_LR, "damping": ids.INPAINT_DAMPING,
            "negate": ids.INPAINT_NEGATE, "steps": ids.INPAINT_STEPS}
METHOD_LABELS = {"lbfgs": "L-BFGS", "gauss_newton": "Gauss–Newton", "adam": "Adam", "gd": "GD"}


# ---- callback logic (plain functions) ------------------------------------------------------------
def parse_controls(generator, source, label, seed_text, mask, rate_text, method="lbfgs", lr_text="0.1",
                   damping_text="1.0", negate=(), steps_text="500") -> dict:
    """Every control, checked as if a hostile browser had sent it → ``inpaint_example``'s arguments.

    Raises
    ------
    ConfigError
        Naming the control and its allowed values.
    """
    out = dict(generator=state.parse_choice("generator", generator, GENERATORS),
               source=state.parse_choice("source", source, SOURCES),
               mask=state.parse_choice("mask", mask, MASKS),
               method=state.parse_choice("method", method, METHODS))
    lab = state.parse_label("label", label)
    if lab < 0:
        raise ConfigError("label", f"must be a class in [0, 9], got {lab}")
    out["label"] = lab
    seed = state.parse_int("seed", seed_text)
    if not 0 <= seed < 2**31:
        raise ConfigError("seed", f"must be in [0, 2^31 − 1], got {seed}")
    out["seed"] = seed
    rate = state.parse_float("rate", rate_text)
    if not 0 < rate <= 1:
        raise ConfigError("rate", f"must be in (0, 1], got {rate}")
    out["rate"] = rate
    lr = state.parse_float("lr", lr_text)
    if not 0 < lr <= 100:
        raise ConfigError("lr", f"must be in (0, 100], got {lr}")
    damping = state.parse_float("damping", damping_text)
    if not 0 <= damping <= 1e6:
        raise ConfigError("damping", f"must be in [0, 1e6], got {damping}")
    steps = state.parse_int("steps", steps_text)
    if not STEPS[0] <= steps <= STEPS[1]:
        raise ConfigError("steps", f"must be in [{STEPS[0]}, {STEPS[1]}] in the dashboard, got {steps}")
    out.update(lr=lr, damping=damping, steps=steps, negate=state.parse_switch("negate", list(negate or [])))
    cfg = Config(generator=out["generator"], label=lab, mask=out["mask"], rate=rate, method=out["method"], lr=lr,
                 damping=damping, steps=steps)
    state.check_request(cfg, "descend", starts=RESTARTS)     # one descent from RESTARTS starts, paths kept
    return out


def compute(*controls):
    """Controls → (images, curve, slices figures, summary); calls core only."""
    from core.trained.demo import inpaint_example

    a = parse_controls(*controls)
    ex = inpaint_example(restarts=RESTARTS, **a)
    label = METHOD_LABELS[a["method"]]
    curve = tf.curve_figure(ex.J_path, 0, names=[f"best of {RESTARTS} starts"], xlabel=f"{label} iteration t")
    return (tf.images_figure(ex.x, ex.mask, ex.x_hat), curve, tf.slices_figure(ex.slices), tf.summary_text(ex))


def random_draw(n_clicks) -> tuple[int, str]:
    """A fresh class and seed for the "draw" button (shown in the controls, so the view is reproducible)."""
    return secrets.randbelow(10), str(secrets.randbelow(100000))


# ---- layout and callbacks -------------------------------------------------------------------------
def layout():
    radio = dict(inline=True, className="radio")
    d = DEFAULTS
    return html.Div(className="page", children=[
        slice_store(URL_PREFIX),
        html.Div(className="toolbar", children=[
            dcc.Dropdown(id=ids.INPAINT_GENERATOR, options=[{"label": g, "value": g} for g in GENERATORS],
                         value=d["generator"], clearable=False, searchable=False, style={"width": "130px"}),
            dcc.RadioItems(id=ids.INPAINT_SOURCE, value=d["source"], **radio, options=[
                {"label": " generated G(z*, c)", "value": "generated"}, {"label": " real test image", "value": "real"}]),
            html.Label("class"),
            dcc.Dropdown(id=ids.INPAINT_LABEL, options=[{"label": str(c), "value": c} for c in range(10)],
                         value=d["label"], clearable=False, searchable=False, style={"width": "70px"}),
            html.Label("seed"),
            dcc.Input(id=ids.INPAINT_SEED, type="text", value=d["seed"], debounce=True, className="text-input short"),
            html.Button("Draw a random one", id=ids.INPAINT_DRAW, n_clicks=0),
            html.Label("mask"),
            dcc.Dropdown(id=ids.INPAINT_MASK, options=[{"label": m, "value": m} for m in MASKS], value=d["mask"],
                         clearable=False, searchable=False, style={"width": "110px"}),
            html.Label("rate"),
            dcc.Input(id=ids.INPAINT_RATE, type="text", value=d["rate"], debounce=True, className="text-input short"),
        ]),
        html.Div(className="toolbar", children=[
            html.Label("solver"),
            dcc.RadioItems(id=ids.INPAINT_METHOD, value=d["method"], **radio,
                           options=[{"label": f" {METHOD_LABELS[m]}", "value": m} for m in METHODS]),
            html.Label("lr (Adam, GD)"),
            dcc.Input(id=ids.INPAINT_LR, type="text", value=d["lr"], debounce=True, className="text-input short"),
            html.Label("damping (Gauss–Newton)"),
            dcc.Input(id=ids.INPAINT_DAMPING, type="text", value=d["damping"], debounce=True,
                      className="text-input short"),
            html.Label(f"steps (≤ {STEPS[1]})"),
            dcc.Input(id=ids.INPAINT_STEPS, type="text", value=d["steps"], debounce=True, className="text-input short"),
            dcc.Checklist(id=ids.INPAINT_NEGATE, options=[{"label": " −ẑ restart", "value": "on"}], value=d["negate"],
                          className="checklist"),
        ]),
        html.Div(id=ids.INPAINT_ERROR, className="error"),
        loading(html.Div(id=ids.INPAINT_SUMMARY, className="info")),
        html.Div(className="row", children=[
            html.Div(className="col", children=[dcc.Graph(id=ids.INPAINT_IMAGES, style={"height": "330px"})]),
            html.Div(className="col", children=[dcc.Graph(id=ids.INPAINT_CURVE, style={"height": "330px"})]),
        ]),
        dcc.Graph(id=ids.INPAINT_SLICES, style={"height": "470px"}),
        html.Div(f"{RESTARTS} random starts N(0, I), the lowest final J kept; the class is known. The paper used "
                 "Adam with lr 0.1 and 500 iterations. Left slice: u runs along z* (z* at u = ‖z*‖, −z* at "
                 "u = −‖z*‖). The path is the projection of a 10-D path, so it need not follow the slice's contours. "
                 "An “other fit” is a second code whose image matches the observed pixels: compare ground truth "
                 "and reconstruction.", className="hint"),
    ])


def register_callbacks(app) -> None:
    register_url_sync(app, URL_PREFIX, {k: (cid, DEFAULTS[k]) for k, cid in CONTROLS.items()})

    @callback(app, Output(ids.INPAINT_LABEL, "value"), Output(ids.INPAINT_SEED, "value"),
              Input(ids.INPAINT_DRAW, "n_clicks"), prevent_initial_call=True)
    def _draw(n_clicks):
        return random_draw(n_clicks)

    @callback(app, Output(ids.INPAINT_IMAGES, "figure"), Output(ids.INPAINT_CURVE, "figure"),
              Output(ids.INPAINT_SLICES, "figure"), Output(ids.INPAINT_SUMMARY, "children"),
              Output(ids.INPAINT_ERROR, "children"),
              [Input(cid, "value") for cid in CONTROLS.values()], Input(ids.TABS, "value"),
              prevent_initial_call=True)   # runs once its tab is shown (callbacks.py: views behind tabs)
    def _update(*args):
        *controls, tab = args
        if tab != ids.TAB_INPAINT:
            return no_update, no_update, no_update, no_update, no_update
        try:
            return (*compute(*controls), "")
        except (ConfigError, FileNotFoundError) as e:
            return no_update, no_update, no_update, no_update, f"error: {e}"

