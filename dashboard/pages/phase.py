"""Phase transition page: P(exact recovery) against the sampling rate, one curve per mask pattern.

The experiment is a job of :mod:`dashboard.jobs`: each step runs a few (pattern, rate) cells with
:class:`core.phase.PhaseRunner`, or some trials of one cell when a whole cell costs more than one
unit of the job (:func:`trials_per_unit`), the partial results live in a ``dcc.Store`` (no
server-side state besides a bounded cache of runners keyed by the spec), a progress bar follows
it and Cancel stops it between steps. Any generator the project ships can be measured, with noise on
the measurements; the settings live in the URL (``phase.…``). The plain functions below
(:func:`spec_from_controls`, :func:`job_new`, :func:`job_step`, :func:`job_drive`,
:func:`job_summary`, :func:`job_view`) carry all the logic and are what the tests call.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from dash import Input, Output, State, ctx, dcc, html, no_update

from core import cost as core_cost
from core.config import METHODS, PRESETS, SHIPPED, Config, ConfigError, from_preset
from core.diagnosis import budget_note, order_failures
from core.masks import make_operator, parse_noise
from core.phase import PHASE_PATTERNS, PhaseRunner, PhaseSpec, crossing_interval, failed_trials, fit_logistic, \
    parse_patterns, parse_rates, torch_threads, wilson_interval

from .. import ids, jobs, state
from ..figures.experiments import phase_figure
from ..guard import callback
from .url import register_url_sync, slice_store

NETS = ("paper-fig4", "authors-code", *SHIPPED)
# Two ready-made experiments (measured on this 2-core machine, one torch thread):
# - the default, paper-fig4 noiseless at low rates: the random mask's transition near r = 0.015
#   (top and border observe whole rows, 6 % and 22 % at least, so they are at 1 already); ~20 s;
# - the shipped MNIST generator with 8-bit y, success at 5 % latent error: the paper's ordering
#   (README: r50 ≈ 0.03 random < 0.20–0.23 half images < 0.37 border, 8 trials, 2 restarts of
#   500 iterations); this lighter version takes a few minutes. Noiseless, one row of near-black
#   pixels already pins z* down and every pattern succeeds at its lowest achievable rate.
EXAMPLES = {
    "paper-fig4, low rates (~20 s)": dict(
        net="paper-fig4", channels="", noise="none", tol="0.001", method="lbfgs", steps="300",
        patterns=["random", "top", "border"], rates="0.005,0.01,0.015,0.02,0.03,0.05,0.08,0.12", trials="40",
        restarts="4"),
    "MNIST, 8-bit y: the paper's ordering (a few minutes)": dict(
        net="mnist", channels="", noise="quantize:8", tol="0.05", method="lbfgs", steps="300",
        patterns=["random", "top", "border"], rates="0.03,0.1,0.2,0.35,0.5", trials="8", restarts="2"),
}
URL_PREFIX = "phase."    # this page's keys in the URL (pages/url.py)
DEFAULTS = dict(next(iter(EXAMPLES.values())))
CONTROLS = {"net": ids.PHASE_GENERATOR, "channels": ids.PHASE_CHANNELS, "noise": ids.PHASE_NOISE,
            "tol": ids.PHASE_TOL, "method": ids.PHASE_METHOD, "steps": ids.PHASE_STEPS,
            "patterns": ids.PHASE_PATTERNS, "rates": ids.PHASE_RATES, "trials": ids.PHASE_TRIALS,
            "restarts": ids.PHASE_RESTARTS}
DASH_LIMITS = {"trials": 500, "steps": 2000}   # the page's own, tighter bounds (an interactive run)
FAILURE_LINKS = 4        # failed trials offered as links to their landscape
METHOD_LABELS = {"lbfgs": "L-BFGS", "gauss_newton": "Gauss–Newton", "adam": "Adam", "gd": "GD"}


# ---------------------------------------------------------------------------
# logic (plain functions)
# ---------------------------------------------------------------------------
def spec_from_controls(net, channels_text, noise, tol_text, method, steps_text, patterns, rates_text, trials_text,
                       restarts_text) -> PhaseSpec:
    """The controls → a validated :class:`PhaseSpec` (ConfigError names the control and its range)."""
    net = state.parse_choice("net", net, NETS)
    over = dict(noise=state._text("noise", noise) or "none", tol=state.parse_float("tol", tol_text),
                method=state.parse_choice("method", method, METHODS), steps=state.parse_int("steps", steps_text))
    parse_noise(over["noise"])
    if not 0 < over["tol"] < 1:
        raise ConfigError("tol", f"must be in (0, 1), got {over['tol']}")
    if not 1 <= over["steps"] <= DASH_LIMITS["steps"]:
        raise ConfigError("steps", f"must be in [1, {DASH_LIMITS['steps']}] in the dashboard, got {over['steps']}")
    ch = state._text("channels", channels_text) if channels_text is not None else ""
    if net in PRESETS:
        if ch:
            over["channels"] = state.parse_list("channels", ch, int)
        cfg = from_preset(net, z_star=(), **over)
    else:
        if ch:
            raise ConfigError("channels", f"applies to the random family only, not to {net!r}; leave it empty")
        cfg = Config(generator=net, **over)
    if isinstance(patterns, (list, tuple)):
        if not all(isinstance(p, str) for p in patterns):
            raise ConfigError("patterns", f"each must be one of {', '.join(PHASE_PATTERNS)}")
        pats = tuple(patterns)
    else:
        pats = parse_patterns(state._text("patterns", patterns))
    spec = PhaseSpec(config=cfg, patterns=pats, rates=parse_rates(state._text("rates", rates_text)),
                     trials=state.parse_int("trials", trials_text), restarts=state.parse_int("restarts", restarts_text))
    check_spec(spec)
    return spec


def check_spec(spec: PhaseSpec) -> None:
    """The dashboard's bounds: trials, the cost model on one unit of the job (:func:`trials_per_unit`)
    and on the whole run."""
    if spec.trials > DASH_LIMITS["trials"]:
        raise ConfigError("trials", f"must be in [1, {DASH_LIMITS['trials']}] in the dashboard; use "
                                    "`python -m core phase` for more")
    trials_per_unit(spec)
    state.check_request(spec.config, "phase", trials=spec.trials, restarts=spec.restarts, rates=len(spec.rates),
                        patterns=len(spec.patterns))


def trials_per_unit(spec: PhaseSpec) -> int:
    """Trials of one (pattern, rate) cell that one unit of the job runs.

    A unit costs at most ``state.DASH_MACS["phase_unit"]`` in core.cost's model, the most one step of
    the job may do (the MNIST example's cells, 4.3e11 modelled, take 3–23 s each); a cell that costs
    more is cut into parts of about equal size rather than refused. Each trial's z*, mask, noise and
    starts are its own (:meth:`PhaseRunner.run_block`), so the parts hold the trials the whole cell
    would.

    Raises
    ------
    ConfigError
        ``restarts`` when even one trial of one cell passes the bound.
    """
    bound = state.DASH_MACS["phase_unit"]
    one = core_cost.estimate(spec.config, "phase", trials=1, restarts=spec.restarts).macs
    if one > bound:
        raise ConfigError("restarts", f"one trial of one (pattern, rate) cell needs about {one:.1e} multiply-adds "
                                      f"(limit {bound:.0e} per step); reduce restarts × steps by about "
                                      f"{math.ceil(one / bound)}× (or the network's size)")
    parts = math.ceil(spec.trials / min(spec.trials, int(bound // one)))
    return math.ceil(spec.trials / parts)


def _parts(spec: PhaseSpec) -> tuple[int, int]:
    """(trials a unit runs, units a cell takes)."""
    per = trials_per_unit(spec)
    return per, math.ceil(spec.trials / per)


def job_new(spec: PhaseSpec, cancel_clicks: int = 0) -> dict:
    """A fresh job: every part of every (pattern, rate) cell still to do."""
    P, R = len(spec.patterns), len(spec.rates)
    units = P * R * _parts(spec)[1]
    return jobs.new("phase", spec.to_json(), units, {"success": [[None] * R for _ in range(P)],
                                                     "labels": [[None] * R for _ in range(P)],
                                                     "flat": [[0] * R for _ in range(P)]}, cancel_clicks)


def check_job(job: dict) -> PhaseSpec:
    """The spec of a job sent back by the browser, and its partial results, checked."""
    try:
        spec = PhaseSpec.from_json(job["key"])
    except (ValueError, TypeError) as e:
        raise ConfigError("job", f"the phase spec does not parse ({e})") from None
    check_spec(spec)
    P, R, T = len(spec.patterns), len(spec.rates), spec.trials
    per, C = _parts(spec)
    suc, lab = job["data"].get("success"), job["data"].get("labels")
    if job["total"] != P * R * C:
        raise ConfigError("job", f"total must be patterns × rates × parts of a cell = {P * R * C}, got {job['total']}")
    ok = isinstance(suc, list) and len(suc) == P and all(isinstance(r, list) and len(r) == R for r in suc)
    ok = ok and isinstance(lab, list) and len(lab) == P and all(isinstance(r, list) and len(r) == R for r in lab)
    if not ok:
        raise ConfigError("job", f"success and labels must be {P} × {R} cells")
    # Units run in order: the cells before the one in progress are whole, it holds its first parts.
    whole, parts = divmod(job["done"], C)
    for i, (c, lc) in enumerate(zip((c for row in suc for c in row), (c for row in lab for c in row))):
        n = T if i < whole else (min(T, parts * per) if i == whole and parts else 0)
        if n == 0:
            if c is not None or lc is not None:
                raise ConfigError("job", f"done = {job['done']} but cell {i} holds results")
            continue
        if not isinstance(c, list) or len(c) != n or any(x not in (0, 1) or isinstance(x, bool) for x in c):
            raise ConfigError("job", f"done = {job['done']}: cell {i} must hold {n} successes (0 or 1)")
        if (not isinstance(lc, dict) or any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in lc.values())
                or sum(lc.values()) != n):
            raise ConfigError("job", f"cell {i}'s labels must be counts of its {n} trials")
    # How many of each cell's unconverged trials are in a flat valley (absent in a job started before it).
    flat = job["data"].get("flat", [[0] * R for _ in range(P)])
    if not (isinstance(flat, list) and len(flat) == P and all(isinstance(r, list) and len(r) == R for r in flat)):
        raise ConfigError("job", f"flat must be {P} × {R} cells")
    for i, (f, lc) in enumerate(zip((f for row in flat for f in row), (c for row in lab for c in row))):
        if not isinstance(f, int) or isinstance(f, bool) or not 0 <= f <= (lc or {}).get("unconverged", 0):
            raise ConfigError("job", f"cell {i}'s flat count must be an integer in [0, its unconverged trials]")
    return spec


@lru_cache(maxsize=2)
def _runner(spec_json: str) -> PhaseRunner:
    with torch_threads(1):
        return PhaseRunner(PhaseSpec.from_json(spec_json))


def job_step(job: dict, k: int) -> tuple[dict, int]:
    """The next units → (the job's new data, units done): at most k whole cells of one pattern when a
    cell is one unit, else at most k parts of the cell in progress (:func:`trials_per_unit`)."""
    spec = check_job(job)
    R, T, S = len(spec.rates), spec.trials, spec.restarts
    per, C = _parts(spec)
    cell, part = divmod(job["done"], C)
    p, r0 = divmod(cell, R)
    if C == 1:
        k = max(1, min(k, R - r0, 20_000 // (T * S)))
        rates, trials = list(range(r0, r0 + k)), None
    else:
        k = max(1, min(k, C - part))
        rates, trials = [r0], range(part * per, min(T, (part + k) * per))
    with torch_threads(1):
        block = _runner(job["key"]).run_block(spec.patterns[p], rates, trials=trials)
    success = [row[:] for row in job["data"]["success"]]
    labels = [row[:] for row in job["data"]["labels"]]
    flat = [row[:] for row in job["data"].get("flat", [[0] * len(spec.rates) for _ in spec.patterns])]
    for j, r in enumerate(rates):
        success[p][r] = (success[p][r] or []) + block.success[j].astype(int).tolist()
        counts = dict(labels[p][r] or {})
        for name, n in zip(*np.unique(block.diagnosis[j], return_counts=True)):
            counts[str(name)] = counts.get(str(name), 0) + int(n)
        labels[p][r] = counts
        flat[p][r] += int(((block.diagnosis[j] == "unconverged") & block.flat[j]).sum())
    return {"success": success, "labels": labels, "flat": flat}, k


def job_drive(trigger, store, controls: tuple, cancel_clicks: int = 0, inflight: jobs.InFlight | None = None) -> tuple:
    """Start, cancel or advance → (store, timer disabled, error message); ``inflight``: the app's
    running steps, so that a Cancel stops the step in flight (:class:`dashboard.jobs.InFlight`)."""
    def make():
        return job_new(spec_from_controls(*controls), cancel_clicks)

    store, running, msg = jobs.drive(trigger, store, start=ids.PHASE_START, cancel=ids.PHASE_CANCEL, kind="phase",
                                     make=make, step=job_step, cancel_clicks=cancel_clicks, check=check_job,
                                     inflight=inflight)
    return store, not running, msg


def job_summary(store: dict) -> dict:
    """Arrays of a (partial) job: rates, patterns, p, lo, hi (NaN where not done), done, r50, its
    interval (r50_low, r50_high: the two tested rates between which p first reaches ½) and the
    diagnosis counts of the failures."""
    spec = check_job(jobs.validate(store, "phase"))
    P, R, T = len(spec.patterns), len(spec.rates), spec.trials
    suc = store["data"]["success"]
    done = np.array([[c is not None and len(c) == T for c in row] for row in suc], dtype=bool).reshape(P, R)
    k = np.array([[sum(c) if c is not None and len(c) == T else 0 for c in row] for row in suc],
                 dtype=float).reshape(P, R)
    lo, hi = wilson_interval(k, T)
    p = np.where(done, k / T, np.nan)
    lo, hi = np.where(done, lo, np.nan), np.where(done, hi, np.nan)
    rates = np.asarray(spec.rates)
    r50 = np.full(P, np.nan)
    interval = np.full((P, 2), np.nan)
    for i in range(P):
        d = done[i]
        if d.sum() >= 2 and ((k[i][d] > 0) & (k[i][d] < T)).any():   # a logistic can be placed
            r50[i] = fit_logistic(rates[d], k[i][d], np.full(d.sum(), T))[0]
        if d.any():
            interval[i] = crossing_interval(rates[d], k[i][d], np.full(d.sum(), T))
    fails: dict = {}
    for row in store["data"]["labels"]:
        for c in row:
            for name, n in (c or {}).items():
                fails[name] = fails.get(name, 0) + n
    fails = order_failures(fails)
    flat = sum(f for row in store["data"].get("flat", []) for f in row)
    return dict(spec=spec, rates=rates, patterns=list(spec.patterns), p=p, lo=lo, hi=hi, done=done, r50=r50,
                r50_interval=interval, failures=fails, flat=flat)


def failure_links(store: dict, limit: int = FAILURE_LINKS) -> list[tuple[str, str]]:
    """The first ``limit`` failed trials of a (partial) job, highest rate first, as (label, ``?…``
    query of the landscape page) (:func:`core.phase.failed_trials`)."""
    spec = check_job(jobs.validate(store, "phase"))
    return [(f"{spec.patterns[p]} r = {spec.rates[r]:g}, trial {t}", state.query_from_state(land))
            for p, r, t, land in failed_trials(spec, store["data"]["success"], limit)]


def pattern_masks(spec: PhaseSpec, r50) -> tuple[dict, dict]:
    """Each pattern's mask (channel 0) at its r50, or at r = 0.5 where there is none (core.masks),
    and the panel titles."""
    shape = _runner(spec.to_json()).shape
    masks, titles = {}, {}
    for name, r in zip(spec.patterns, r50):
        rate = float(r) if np.isfinite(r) and 0 < r <= 1 else 0.5
        masks[name] = make_operator(name, shape, rate=rate, seed=spec.config.mask_seed).mask[0].numpy().astype(int)
        titles[name] = f"{name} at r = {rate:.2f}" + (" (r50)" if rate == r else "")
    return masks, titles


def r50_text(name: str, r50: float, interval) -> str:
    a, b = interval
    if np.isfinite(r50):
        return f"{name} {r50:.3f}"
    if np.isfinite(a) and np.isfinite(b):
        return f"{name} ∈ ({a:.3g}, {b:.3g}]"
    if np.isfinite(b):
        return f"{name} < {b:.3g}"
    return f"{name} —"


def title_of(spec: PhaseSpec) -> str:
    cfg = spec.config
    net = (f"channels {','.join(map(str, cfg.channels))}, kernel {cfg.per_layer('kernel')[0]}, stride "
           f"{cfg.per_layer('stride')[0]}, {cfg.activation}") if cfg.generator == "conv" else f"G = {cfg.generator}"
    noise = "noiseless y" if cfg.noise in ("", "none") else f"y with {cfg.noise} noise"
    return (f"{net}; {noise}; {METHOD_LABELS[cfg.method]} ≤ {cfg.steps} steps × {spec.restarts} restarts; "
            f"success = ‖ẑ − z*‖ ≤ {cfg.tol:g}‖z*‖")


def job_view(store: dict | None, controls: tuple | None = None) -> tuple:
    """(figure, progress 0–100, status text)."""
    if not store:
        spec = spec_from_controls(*(controls or [DEFAULTS[k] for k in CONTROLS]))
        nan = np.full((len(spec.patterns), len(spec.rates)), np.nan)
        masks, titles = pattern_masks(spec, [np.nan] * len(spec.patterns))
        fig = phase_figure(spec.rates, spec.patterns, nan, nan, nan, np.full(len(spec.patterns), np.nan),
                           masks=masks, mask_titles=titles, done=np.zeros(nan.shape, bool),
                           title="Press Start to measure the phase transition · " + title_of(spec))
        return fig, 0, ("Press Start: each trial draws a fresh z* (and random mask) and recovers it from the "
                        "measurements by the solver; about 2 s with the defaults on a 2-core machine (see the examples).")
    s = job_summary(store)
    spec = s["spec"]
    pct = 100.0 * store["done"] / store["total"]
    status = {"running": "running…", "done": "done", "cancelled": "cancelled", "failed": "failed"}[store["status"]]
    cells = int(s["done"].sum())
    text = (f"{cells} of {s['done'].size} cells · {spec.trials} trials × ≤ {spec.restarts} restarts each · "
            f"{store.get('seconds', 0.0):.1f} s · {status} · r50: "
            + ", ".join(r50_text(n, r, iv) for n, r, iv in zip(s["patterns"], s["r50"], s["r50_interval"])))
    if s["failures"]:
        text += " · failures: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in s["failures"].items())
    note = budget_note(s["failures"], flat=s["flat"])
    if note:
        text += " · " + note
    if store.get("message"):
        text += f" · {store['message']}"
    masks, titles = pattern_masks(spec, s["r50"])
    fig = phase_figure(s["rates"], s["patterns"], s["p"], s["lo"], s["hi"], s["r50"], masks=masks,
                       mask_titles=titles, done=s["done"], title=title_of(spec), r50_interval=s["r50_interval"])
    return fig, pct, text


# ---------------------------------------------------------------------------
# layout and callbacks
# ---------------------------------------------------------------------------
def _field(label, control, hint=""):
    return html.Div(className="field", children=[html.Label(label, title=hint), control])


def _text(cid, value, placeholder=""):
    return dcc.Input(id=cid, type="text", value=value, placeholder=placeholder, className="text-input",
                     autoComplete="off", debounce=True)


def layout():
    d = DEFAULTS
    return html.Div(className="row", children=[
        slice_store(URL_PREFIX),
        html.Div(className="col", style={"flex": "0 0 270px"}, children=[
            _field("example", dcc.Dropdown(id=ids.PHASE_EXAMPLE, options=list(EXAMPLES), value=None,
                                           placeholder="fill the controls with an example…", clearable=True,
                                           searchable=False), "each sets every control below"),
            _field("generator", dcc.Dropdown(id=ids.PHASE_GENERATOR, options=list(NETS), value=d["net"],
                                             clearable=False, searchable=False),
                   "a preset of the random family, or a shipped trained generator"),
            _field("channels (random family; optional)", _text(ids.PHASE_CHANNELS, d["channels"], "e.g. 10,64,1"),
                   "n0, C1, ..., Cd; a larger latent n0 moves the transition to higher rates"),
            html.Div(className="pair", children=[
                _field("noise on y", _text(ids.PHASE_NOISE, d["noise"], "none"),
                       "none, gaussian:SIGMA or quantize:BITS"),
                _field("success tol", _text(ids.PHASE_TOL, d["tol"]), "‖ẑ − z*‖ ≤ tol‖z*‖, in (0, 1)"),
            ]),
            _field("solver", dcc.RadioItems(id=ids.PHASE_METHOD, value=d["method"], inline=True, className="radio",
                                            options=[{"label": f" {METHOD_LABELS[m]}", "value": m} for m in METHODS])),
            _field(f"steps (≤ {DASH_LIMITS['steps']})", _text(ids.PHASE_STEPS, d["steps"])),
            _field("mask patterns", dcc.Checklist(id=ids.PHASE_PATTERNS, options=list(PHASE_PATTERNS),
                                                  value=d["patterns"], className="checklist", inline=True)),
            _field("rates (lo:hi:count or list)", _text(ids.PHASE_RATES, d["rates"])),
            html.Div(className="pair", children=[
                _field(f"trials (≤ {DASH_LIMITS['trials']})", _text(ids.PHASE_TRIALS, d["trials"])),
                _field("restarts", _text(ids.PHASE_RESTARTS, d["restarts"])),
            ]),
            html.Div(className="toolbar", children=[
                html.Button("Start", id=ids.PHASE_START, n_clicks=0),
                html.Button("Cancel", id=ids.PHASE_CANCEL, n_clicks=0),
            ]),
            html.Div(id=ids.PHASE_ERROR, className="error"),
            html.Progress(id=ids.PHASE_PROGRESS, max=100, value=0, style={"width": "100%"}),
            html.Div(id=ids.PHASE_STATUS, className="hint"),
            dcc.Interval(id=ids.PHASE_INTERVAL, interval=jobs.TICK_MS, disabled=True, max_intervals=1),
            dcc.Store(id=ids.PHASE_STORE),
        ]),
        html.Div(className="col wide", children=[dcc.Graph(id=ids.PHASE_GRAPH, config={"displaylogo": False})]),
    ])


def register_callbacks(app) -> None:
    register_url_sync(app, URL_PREFIX, {k: (cid, DEFAULTS[k]) for k, cid in CONTROLS.items()})
    controls = [State(cid, "value") for cid in CONTROLS.values()]
    inflight = jobs.InFlight()   # this app's phase step in flight, stopped by Cancel

    @callback(app, [Output(cid, "value", allow_duplicate=True) for cid in CONTROLS.values()],
              Input(ids.PHASE_EXAMPLE, "value"), prevent_initial_call=True)
    def _example(name):
        if name is None:
            return [no_update] * len(CONTROLS)
        ex = EXAMPLES[state.parse_choice("example", name, tuple(EXAMPLES))]
        return [ex[k] for k in CONTROLS]

    # One more tick per answered step (max_intervals = n + 1): steps never overlap.
    @callback(app, Output(ids.PHASE_STORE, "data"), Output(ids.PHASE_INTERVAL, "disabled"),
              Output(ids.PHASE_INTERVAL, "max_intervals"), Output(ids.PHASE_ERROR, "children"),
              Input(ids.PHASE_START, "n_clicks"), Input(ids.PHASE_CANCEL, "n_clicks"),
              Input(ids.PHASE_INTERVAL, "n_intervals"), State(ids.PHASE_STORE, "data"), *controls,
              prevent_initial_call=True)
    def _drive(_start, cancel_clicks, n_ticks, store, *values):
        cancel_clicks = cancel_clicks if isinstance(cancel_clicks, int) else 0
        store, disabled, error = job_drive(ctx.triggered_id, store, values, cancel_clicks, inflight=inflight)
        n_ticks = n_ticks if isinstance(n_ticks, int) and not isinstance(n_ticks, bool) else 0
        return store, disabled, n_ticks + 1, error

    @callback(app, Output(ids.PHASE_GRAPH, "figure"), Output(ids.PHASE_PROGRESS, "value"),
              Output(ids.PHASE_STATUS, "children"), Output(ids.PHASE_ERROR, "children", allow_duplicate=True),
              Input(ids.PHASE_STORE, "data"), Input(ids.TABS, "value"),
              [Input(cid, "value") for cid in CONTROLS.values()],
              prevent_initial_call=True)   # runs once its tab is shown (callbacks.py: views behind tabs)
    def _view(store, tab, *values):
        if tab != ids.TAB_PHASE:
            return (no_update,) * 4
        try:
            fig, pct, text = job_view(store, values if not store else None)
            links = failure_links(store) if store else []
            if links:
                noisy = store and PhaseSpec.from_json(store["key"]).config.noise not in ("", "none")
                text = [text, html.Br(), "A failed trial's landscape (new tab"
                        + ("; its noise is drawn anew" if noisy else "") + "): "]
                for k, (label, query) in enumerate(links):
                    text += ([", "] if k else []) + [html.A(label, href=query or "?", target="_blank")]
            return fig, pct, text, ""
        except ConfigError as e:
            return no_update, no_update, no_update, str(e)

