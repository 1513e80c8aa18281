"""Phase transition page: P(exact recovery) against the sampling rate, one curve per mask pattern.

The experiment runs in the background: a ``dcc.Interval`` advances it a few (pattern, rate) cells
per tick with :class:`core.phase.PhaseRunner`, the partial results live in a ``dcc.Store`` (no
server-side state), a progress bar follows it and Cancel stops the timer. The interval is a
one-shot (``max_intervals=1``) that each finished step re-arms by resetting ``n_intervals``: a
tick can never fire while the previous step is still running, however slow the machine (with a
free-running timer Dash would supersede a slow step's request with the next tick's, whose State
is still the old store, and the job would never advance). The plain functions
below (:func:`spec_from_controls`, :func:`job_new`, :func:`job_step`, :func:`job_drive`,
:func:`job_view`) carry all the logic and are what the tests call.
"""
from __future__ import annotations

import time

import numpy as np
from dash import Input, Output, State, ctx, dcc, html

from core.config import PRESETS, ConfigError, from_preset
from core.masks import make_operator
from core.phase import PHASE_PATTERNS, PhaseRunner, PhaseSpec, fit_logistic, parse_patterns, parse_rates, \
    torch_threads, wilson_interval

from .figures_experiments import phase_figure

# --- component ids --------------------------------------------------------------
PRESET = "phase-preset"
CHANNELS = "phase-channels"
PATTERNS = "phase-patterns"
RATES = "phase-rates"
TRIALS = "phase-trials"
RESTARTS = "phase-restarts"
START = "phase-start"
CANCEL = "phase-cancel"
INTERVAL = "phase-interval"
STORE = "phase-store"
PROGRESS = "phase-progress"
STATUS = "phase-status"
ERROR = "phase-error"
GRAPH = "phase-graph"

DEFAULTS = dict(preset="paper-fig4", channels="", patterns=["random", "top", "left", "border"],
                rates="0.05:1:12", trials="50", restarts="4")
DASH_LIMITS = {"trials": 500, "points": 200_000}   # the page's own, tighter bounds (an interactive run)
TICK_BUDGET_S = 0.8
TICK_MS = 150          # pause between a finished step and the next (the timer is a re-armed one-shot)


# ---------------------------------------------------------------------------
# logic (plain functions)
# ---------------------------------------------------------------------------
def _int(field: str, text) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise ConfigError(field, f"expected an integer, got {text!r}") from None


def spec_from_controls(preset, channels_text, patterns, rates_text, trials_text, restarts_text) -> PhaseSpec:
    """The controls → a validated :class:`PhaseSpec` (ConfigError names the field)."""
    over = {"z_star": ()}
    if channels_text and str(channels_text).strip():
        try:
            over["channels"] = tuple(int(c) for c in str(channels_text).split(",") if c.strip())
        except ValueError:
            raise ConfigError("channels", f"expected comma-separated integers, got {channels_text!r}") from None
    cfg = from_preset(preset, **over)
    pats = tuple(patterns) if isinstance(patterns, (list, tuple)) else parse_patterns(patterns or "")
    spec = PhaseSpec(config=cfg, patterns=pats, rates=parse_rates(rates_text), trials=_int("trials", trials_text),
                     restarts=_int("restarts", restarts_text))
    if spec.trials > DASH_LIMITS["trials"]:
        raise ConfigError("trials", f"the dashboard allows at most {DASH_LIMITS['trials']}; use `python -m core phase`")
    if spec.n_points > DASH_LIMITS["points"]:
        raise ConfigError("trials", f"patterns × rates × trials × restarts = {spec.n_points} exceeds the dashboard's "
                                    f"{DASH_LIMITS['points']}; use `python -m core phase`")
    return spec


def job_new(spec: PhaseSpec) -> dict:
    """A fresh job: every (pattern, rate) cell still to do."""
    P, R = len(spec.patterns), len(spec.rates)
    return {"spec": spec.to_json(), "next": 0, "cells": P * R, "success": [[None] * R for _ in range(P)],
            "status": "running", "sec_per_cell": None, "seconds": 0.0}


def job_step(store: dict, budget_s: float = TICK_BUDGET_S) -> dict:
    """Run the next cells (one pattern, as many rates as fit in ``budget_s``) → the updated store."""
    if store["status"] != "running" or store["next"] >= store["cells"]:
        return store
    spec = PhaseSpec.from_json(store["spec"])
    R = len(spec.rates)
    p, r0 = divmod(store["next"], R)
    spc = store["sec_per_cell"]
    k = 1 if not spc else int(max(1, min(R - r0, budget_s // spc)))
    k = min(k, max(1, 20_000 // (spec.trials * spec.restarts)))
    t0 = time.perf_counter()
    with torch_threads(1):
        block = PhaseRunner(spec).run_block(spec.patterns[p], list(range(r0, r0 + k)))
    dt = time.perf_counter() - t0
    success = [row[:] for row in store["success"]]
    for j in range(k):
        success[p][r0 + j] = block.success[j].astype(int).tolist()
    nxt = store["next"] + k
    return {**store, "next": nxt, "success": success, "sec_per_cell": dt / k, "seconds": store["seconds"] + dt,
            "status": "done" if nxt >= store["cells"] else "running"}


def job_drive(trigger, store, controls: tuple) -> tuple:
    """Start, cancel or advance → (store, timer disabled, error message)."""
    if trigger == START:
        try:
            spec = spec_from_controls(*controls)
        except ConfigError as e:
            return store, True, str(e)
        return job_new(spec), False, ""
    if not store or store["status"] != "running":
        return store, True, ""
    if trigger == CANCEL:
        return {**store, "status": "cancelled"}, True, ""
    store = job_step(store)
    return store, store["status"] != "running", ""


def job_summary(store: dict) -> dict:
    """Arrays of a (partial) job: rates, patterns, p, lo, hi (NaN where not done), done, r50."""
    spec = PhaseSpec.from_json(store["spec"])
    P, R, T = len(spec.patterns), len(spec.rates), spec.trials
    done = np.array([[c is not None for c in row] for row in store["success"]], dtype=bool).reshape(P, R)
    k = np.array([[sum(c) if c is not None else 0 for c in row] for row in store["success"]], dtype=float).reshape(P, R)
    lo, hi = wilson_interval(k, T)
    p = np.where(done, k / T, np.nan)
    lo, hi = np.where(done, lo, np.nan), np.where(done, hi, np.nan)
    rates = np.asarray(spec.rates)
    r50 = np.array([fit_logistic(rates[done[i]], k[i][done[i]], np.full(done[i].sum(), T))[0]
                    if done[i].sum() >= 2 else np.nan for i in range(P)])
    return dict(spec=spec, rates=rates, patterns=list(spec.patterns), p=p, lo=lo, hi=hi, done=done, r50=r50)


def pattern_masks(spec: PhaseSpec, r50) -> tuple[dict, dict]:
    """Each pattern's mask (channel 0) at its r50, or at r = 0.5 where there is none (core.masks),
    and the panel titles."""
    shape = spec.config.output_shape()
    masks, titles = {}, {}
    for name, r in zip(spec.patterns, r50):
        rate = float(r) if np.isfinite(r) and 0 < r <= 1 else 0.5
        masks[name] = make_operator(name, shape, rate=rate, seed=spec.config.mask_seed).mask[0].numpy().astype(int)
        titles[name] = f"{name} at r = {rate:.2f}" + (" (r50)" if rate == r else "")
    return masks, titles


def job_view(store: dict | None) -> tuple:
    """(figure, progress 0–100, status text)."""
    if not store:
        spec = spec_from_controls(*[DEFAULTS[k] for k in ("preset", "channels", "patterns", "rates", "trials",
                                                          "restarts")])
        nan = np.full((len(spec.patterns), len(spec.rates)), np.nan)
        masks, titles = pattern_masks(spec, [np.nan] * len(spec.patterns))
        fig = phase_figure(spec.rates, spec.patterns, nan, nan, nan, np.full(len(spec.patterns), np.nan),
                           masks=masks, mask_titles=titles, done=np.zeros(nan.shape, bool),
                           title="Press Start to measure the phase transition")
        return fig, 0, "Press Start: each trial draws a fresh z* (and random mask) and recovers it by descent."
    s = job_summary(store)
    spec = s["spec"]
    pct = 100.0 * store["next"] / store["cells"]
    state = {"running": "running…", "done": "done", "cancelled": "cancelled"}[store["status"]]
    r50_text = ", ".join(f"{n} {r:.3f}" if np.isfinite(r) else f"{n} —" for n, r in zip(s["patterns"], s["r50"]))
    text = (f"{store['next']} of {store['cells']} cells · {spec.trials} trials × {spec.restarts} restarts each · "
            f"{store['seconds']:.1f} s · {state} · r50: {r50_text}")
    cfg = spec.config
    title = (f"channels {','.join(map(str, cfg.channels))}, kernel {cfg.per_layer('kernel')[0]}, "
             f"stride {cfg.per_layer('stride')[0]}, {cfg.activation}; success = ‖ẑ − z*‖ ≤ {cfg.tol:g}‖z*‖")
    masks, titles = pattern_masks(spec, s["r50"])
    fig = phase_figure(s["rates"], s["patterns"], s["p"], s["lo"], s["hi"], s["r50"], masks=masks,
                       mask_titles=titles, done=s["done"], title=title)
    return fig, pct, text


# ---------------------------------------------------------------------------
# layout and callbacks
# ---------------------------------------------------------------------------
def _field(label, control, hint=""):
    return html.Div(className="field", children=[html.Label(label, title=hint), control])


def _text(cid, value, placeholder=""):
    return dcc.Input(id=cid, type="text", value=value, placeholder=placeholder, className="text-input",
                     autoComplete="off")


def layout():
    return html.Div(className="row", children=[
        html.Div(className="col", style={"flex": "0 0 260px"}, children=[
            _field("net (preset)", dcc.Dropdown(id=PRESET, options=list(PRESETS), value=DEFAULTS["preset"],
                                                clearable=False, searchable=False)),
            _field("channels (optional override)", _text(CHANNELS, DEFAULTS["channels"], "e.g. 10,64,1"),
                   "n0, C1, ..., Cd; a larger latent n0 moves the transition to higher rates"),
            _field("mask patterns", dcc.Checklist(id=PATTERNS, options=list(PHASE_PATTERNS),
                                                  value=DEFAULTS["patterns"], className="checklist",
                                                  inline=True)),
            _field("rates (lo:hi:count or list)", _text(RATES, DEFAULTS["rates"])),
            html.Div(className="pair", children=[
                _field("trials", _text(TRIALS, DEFAULTS["trials"])),
                _field("restarts", _text(RESTARTS, DEFAULTS["restarts"])),
            ]),
            html.Div(className="toolbar", children=[
                html.Button("Start", id=START), html.Button("Cancel", id=CANCEL),
            ]),
            html.Div(id=ERROR, className="error"),
            html.Progress(id=PROGRESS, max=100, value=0, style={"width": "100%"}),
            html.Div(id=STATUS, className="hint"),
            dcc.Interval(id=INTERVAL, interval=TICK_MS, disabled=True, max_intervals=1),
            dcc.Store(id=STORE),
        ]),
        html.Div(className="col wide", children=[dcc.Graph(id=GRAPH, config={"displaylogo": False})]),
    ])


def register_callbacks(app) -> None:
    @app.callback(Output(STORE, "data"), Output(INTERVAL, "disabled"), Output(INTERVAL, "n_intervals"),
                  Output(ERROR, "children"),
                  Input(START, "n_clicks"), Input(CANCEL, "n_clicks"), Input(INTERVAL, "n_intervals"),
                  State(STORE, "data"), State(PRESET, "value"), State(CHANNELS, "value"), State(PATTERNS, "value"),
                  State(RATES, "value"), State(TRIALS, "value"), State(RESTARTS, "value"),
                  prevent_initial_call=True)
    def _drive(_start, _cancel, _tick, store, *controls):
        store, disabled, error = job_drive(ctx.triggered_id, store, controls)
        return store, disabled, 0, error   # n_intervals = 0 re-arms the one-shot timer

    @app.callback(Output(GRAPH, "figure"), Output(PROGRESS, "value"), Output(STATUS, "children"),
                  Input(STORE, "data"))
    def _view(store):
        return job_view(store)
