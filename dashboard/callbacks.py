"""Every callback of the dashboard, registered by one :func:`register_callbacks`.

Each body is a few lines: check the inputs (the browser may send anything), call the plain
functions of :mod:`dashboard.logic`, hand the result to Dash. Every server callback runs inside
:func:`dashboard.guard.guarded` (a refused input becomes a line in the banner, never a 500).
State lives in the browser (URL, stores); the server keeps only bounded caches keyed by config
JSON. Playback, the PNG export and showing or hiding controls are clientside
(``assets/clientside.js``): they never wait for the server.
"""
from __future__ import annotations

import json
import textwrap
import time

import plotly.graph_objects as go
from dash import ClientsideFunction, Input, Output, Patch, State, ctx, dcc, no_update
from dash.exceptions import PreventUpdate

from core import ConfigError
from core.config import METHODS
from core.stop import Cancelled, stop_when

from .guard import callback
from .pages import PAGES
from .priority import Gate, Latest, new_tab_id, tab_id
from . import figures, guard, ids, jobs, layout, logic, planes, state

CLICK_SOURCES = (ids.LAND_CONTOUR, ids.LAND_SURFACE, ids.DESC_CONTOUR, ids.DESC_SURFACE)
ERROR_IDS = sorted({ids.err(c) for c in ids.FIELD_CONTROLS.values()} | {ids.CONFIG_ERROR})
COUNT_IDS = (ids.DESC_COUNTS, ids.LAND_COUNTS, ids.DESC_RANDOM, ids.DESC_WARNING)
ALL_GRAPHS = tuple(dict.fromkeys(g for gs in ids.TAB_GRAPHS.values() for g in gs))

# Rotating one compare surface copies its camera to the other three (in the browser, no round trip).
_SYNC_CAMERAS_JS = """
function(relayout) {
    const nu = window.dash_clientside.no_update;
    if (!relayout) { return nu; }
    const keys = Object.keys(relayout).filter(k => /^scene\\d*\\.camera$/.test(k));
    if (keys.length !== 1) { return nu; }   // our own relayout below reports three keys: ignore it
    const gd = document.querySelector('#%s .js-plotly-plot');
    if (!gd || !window.Plotly) { return nu; }
    const upd = {};
    ['scene', 'scene2', 'scene3', 'scene4'].forEach(s => {
        if (s + '.camera' !== keys[0]) { upd[s + '.camera'] = relayout[keys[0]]; }
    });
    window.Plotly.relayout(gd, upd);
    return nu;
}
""" % ids.COMPARE


def _keep(x):
    return no_update if isinstance(x, str) and x == state.KEEP else x


def _changed(new, now):
    """``new``, or KEEP where the browser already shows it (same value, same type)."""
    return state.KEEP if type(new) is type(now) and new == now else new


def _counts(cfg, desc) -> tuple:
    """(text, text, random-starts button, warning) of COUNT_IDS for cfg and the descent store."""
    desc = _desc(desc)
    valid = desc if desc and desc.get("key") == logic.descent_key(cfg) else None
    text = logic.counts_text(valid)
    return text, text, f"Launch {cfg.starts} random starts", (valid or {}).get("warning", "")


def shown_errors(store) -> dict:
    """The error store as the browser sent it, as {message id: text} (anything forged reads as none)."""
    if not isinstance(store, dict):
        return {}
    return {e: m for e, m in store.items() if e in ERROR_IDS and isinstance(m, str) and m}


def _cfg(config_json):
    """The config store's JSON, checked (ConfigError names the field and the dashboard's range)."""
    if not config_json:
        raise PreventUpdate
    return state.config_from_json(config_json)


def _view(view):
    """A view store's (Config, colour scale)."""
    if not view:
        raise PreventUpdate
    if not isinstance(view, dict) or not view.get("config"):
        raise ConfigError("view", "expected {config, scale}")
    return _cfg(view["config"]), state.parse_scale(view.get("scale"))


def _patch_overlays(traces, meta: dict) -> Patch:
    """Replace the overlay traces (data[1 … len(OVERLAYS)]) and the meta tag; the big grid trace (and
    a contour figure's lines trace, after the overlays) stays in the browser."""
    p = Patch()
    for i, t in enumerate(traces, start=1):
        p["data"][i] = t
    p["layout"]["meta"]["config"] = meta["config"]
    return p


def _landscape_figure(cfg, scale, marks, three_d: bool, shown):
    """(figure or Patch, key): the whole figure, or only its overlays when the grid shown is the same."""
    key = logic.figure_key(cfg, scale)
    if shown == key:   # same landscape and scale (e.g. only ε changed)
        return _patch_overlays(logic.overlay_traces(cfg, scale, marks, three_d), logic.figure_meta(cfg, scale)), key
    return logic.landscape_figure(cfg, scale, marks, three_d, as_dict=True), key


def _contour(cfg, scale, desc, shown, crit):
    """(contour figure or overlay Patch, key) of cfg at scale, or a message while its plane waits."""
    waiting = _waiting(cfg, desc, logic.figure_key(cfg, scale))
    if waiting:
        return waiting
    return _landscape_figure(cfg, scale, logic.marks_for(cfg, crit, desc, heights=False), False, shown)


def _overlay_patch(cfg, scale, marks, three_d: bool, shown):
    if shown != logic.figure_key(cfg, scale):
        return no_update
    return _patch_overlays(logic.overlay_traces(cfg, scale, marks, three_d), logic.figure_meta(cfg, scale))


def _for_view(latest, tab, cfg, compute):
    """``compute()`` for the view of cfg that tab ``tab`` shows, inside that view's stop flag
    (``latest``): not at all, or stopped part-way, once the tab has moved to another view (Dash
    would drop the answer; the server's work stops with it)."""
    flag = latest.flag(tab, logic.landscape_key(cfg))
    if flag is None:
        raise PreventUpdate
    try:
        with stop_when(flag):
            return compute()
    except Cancelled:
        raise PreventUpdate from None


def _critical_answer(gate, latest, tab, cfg):
    """(critical store, ρ text, critical-points text) of cfg, computed behind any contour in progress;
    not at all, or stopped part-way, once the tab has moved to another view (``latest``)."""
    if latest.flag(tab, logic.landscape_key(cfg)) is None:
        raise PreventUpdate
    gate.background(tab)
    crit = _for_view(latest, tab, cfg, lambda: logic.critical_for(cfg))   # the tab may have moved on meanwhile
    return crit, logic.rho_text(crit, crit["depth"]), logic.critical_text(crit)


def _desc(store):
    return logic.check_descent_store(store)


def _waiting(cfg, desc, key):
    """(message figure, a key that is not ``key``) while cfg's plane waits for a descent, else None."""
    wait = planes.plane_ready(cfg, desc)
    if not wait:
        return None
    return figures.message_figure("<br>".join(textwrap.wrap(wait, 60))), "waiting:" + key


def _lookup(table: dict, default) -> str:
    """A clientside callback that returns ``table[value]`` (``default`` for a value not in it)."""
    return "function(v) { const t = %s; return t.hasOwnProperty(v) ? t[v] : %s; }" % (json.dumps(table),
                                                                                    json.dumps(default))


def _view_sync(trigger, view: str, search, search_now):
    """What the sync tells ``shown`` (clientside): a new value when the tab stores, the pages' URL slices
    or the mask picture's key may change, else no_update. On the landscape tab a control change
    changes none of them (the landscape is the sync's own output, and the URL keeps the pages'
    items), so ``shown`` is not run: each callback run costs the page a dozen store actions before
    the contour is drawn. A tab switch runs ``shown`` through its own input."""
    if trigger == ids.TABS:
        return no_update
    if view != ids.TAB_LANDSCAPE or trigger == ids.URL or state.page_items(search_now) != state.page_items(search):
        return time.time_ns()
    return no_update


def register_callbacks(app) -> None:
    fields = list(ids.FIELD_CONTROLS)
    gate = Gate()   # a contour someone waits for runs before the follow-ups of another tab's (priority.py)
    app.dashboard_gate = gate   # for tests and benchmarks: it holds tab ids and times, no user's state
    latest = Latest()   # each tab's view now: the follow-ups of a view it has left stop (priority.py)
    inflight = jobs.InFlight()   # the basin map's step in flight, stopped by its Cancel (jobs.py)
    for _, _, page in PAGES:
        page.register_callbacks(app)

    # ---- what is shown (clientside) -------------------------------------------------------------
    # Not at page load: the layout carries what they would set for its first values (the landscape
    # tab shows the sidebar), and a value that a URL brings comes through the sync, which fires them.
    # The generator boxes and the solver fields are looked up in tables made by the same functions
    # that give the layout its first state (layout.generator_boxes, layout.solver_fields).
    app.clientside_callback(
        "function(tab) { return window.dash_clientside.dashboard.sidebar(tab, %s); }"
        % str(list(ids.OWN_CONTROLS)).replace("'", '"'),
        Output(ids.SIDEBAR, "style"), Input(ids.TABS, "value"), prevent_initial_call=True)
    app.clientside_callback(_lookup({k: layout.generator_boxes(k) for k in state.GENERATOR_KINDS},
                                    layout.generator_boxes(None)),
                            Output(ids.FAMILY_BOX, "style"), Output(ids.GENERATOR_TEXT + "-box", "style"),
                            Output(ids.LABEL + "-box", "style"), Input(ids.GENERATOR_KIND, "value"),
                            prevent_initial_call=True)
    app.clientside_callback(_lookup({m: layout.solver_fields(m) for m in METHODS}, layout.solver_fields(None)),
                            Output(ids.LR, "disabled"), Output(ids.DAMPING, "disabled"), Input(ids.METHOD, "value"),
                            prevent_initial_call=True)

    # ---- URL / preset / controls / clicks → config ---------------------------------------
    @callback(
        app,
        output=dict(
            controls={f: Output(ids.FIELD_CONTROLS[f], "value") for f in fields},
            preset=Output(ids.PRESET, "value"), scale=Output(ids.SCALE, "value"), view=Output(ids.TABS, "value"),
            config=Output(ids.CONFIG, "data"), search=Output(ids.URL, "search"),
            errors=Output(ids.ERRORS, "data"), banner=Output(ids.BANNER, "children"),
            contour=Output(ids.LAND_CONTOUR, "figure"), contour_key=Output(ids.LAND_KEY, "data"),
            counts={o: Output(o, "children", allow_duplicate=True) for o in COUNT_IDS},
            tab=Output(ids.TAB_ID, "data"), view_sync=Output(ids.VIEW_SYNC, "data")),
        inputs=dict(
            search=Input(ids.URL, "search"), preset=Input(ids.PRESET, "value"), scale=Input(ids.SCALE, "value"),
            view=Input(ids.TABS, "value"), values={f: Input(ids.FIELD_CONTROLS[f], "value") for f in fields},
            clicks={s: Input(s, "clickData") for s in CLICK_SOURCES}),
        state=dict(mode=State(ids.CLICK_MODE, "value"), current=State(ids.CONFIG, "data"),
                   shown=State(ids.LAND_KEY, "data"), crit=State(ids.CRITICAL, "data"),
                   desc=State(ids.DESCENT, "data"), errors_now=State(ids.ERRORS, "data"),
                   banner_now=State(ids.BANNER, "children"),
                   counts_now={o: State(o, "children") for o in COUNT_IDS}, tab_now=State(ids.TAB_ID, "data")),
        prevent_initial_call="initial_duplicate",
    )
    def sync(search, preset, scale, view, values, clicks, mode, current, shown, crit, desc, errors_now, banner_now,
             counts_now, tab_now):
        trig = ctx.triggered_id
        uv = logic.uv_from_click(clicks.get(trig)) if trig in CLICK_SOURCES else None
        click_z = logic.click_z_star(_cfg(current), uv) if uv is not None and mode else None
        r = state.sync(trig, search, preset, scale, view, values, click_z, bool(mode), current, probe=logic.n0_of)
        banner = _keep(r["banner"])
        if search is not None and not isinstance(search, str):   # forged: reported, the URL rewritten from the config
            banner = state.URL_NOT_TEXT
        # The tab's id (given with its first sync) and the view it shows now: its follow-ups of other views stop.
        tab = tab_id(tab_now) or new_tab_id()
        now_json = r["config"] if r["config"] != state.KEEP else current
        if now_json:
            try:
                latest.note(tab, logic.landscape_key(state.config_from_json(now_json)))
            except ConfigError:   # a forged config store: the sync has reported it
                pass
        # The contour of a new config or scale comes back with it, in this response: a second
        # callback on CONFIG would wait for this one's round trip and the browser's handling of it.
        contour = contour_key = no_update
        new_scale = scale if r["scale"] == state.KEEP else r["scale"]
        view_now = view if r["view"] == state.KEEP else r["view"]
        search_now = search if r["search"] == state.KEEP else r["search"]
        if r["config"] != state.KEEP or new_scale != scale:
            try:
                with gate.foreground():
                    contour, contour_key = _contour(_cfg(r["config"] if r["config"] != state.KEEP else current),
                                                    state.parse_scale(new_scale), _desc(desc), shown, crit)
                if view_now == ids.TAB_LANDSCAPE:
                    gate.sent(tab)   # other tabs' follow-ups wait until this tab has painted it
            except PreventUpdate:
                pass
            except Exception as e:   # noqa: BLE001 — the config is kept; the banner says why no contour
                banner = guard.report(e, "sync")
        # The descent counts of a new config come with it (a callback on the config cost a round trip).
        counts = {o: no_update for o in COUNT_IDS}
        if r["config"] != state.KEEP:
            try:
                new = dict(zip(COUNT_IDS, _counts(_cfg(r["config"]), desc)))
            except ConfigError:    # a forged descent store: the counts callback reports it, the config stands
                new = {}
            counts = {o: no_update if o not in new or new[o] == (counts_now or {}).get(o) else new[o]
                      for o in COUNT_IDS}
        # Only what changes is sent: the browser handles each output it gets (about 1 ms apiece).
        errors = no_update
        if r["errors"] != state.KEEP:
            errors = {e: m for e, m in r["errors"].items() if e in ERROR_IDS and m}
            if errors == shown_errors(errors_now):
                errors = no_update
        return dict(controls={f: _keep(_changed(r["controls"].get(f, state.KEEP), values.get(f))) for f in fields},
                    preset=no_update if r["preset"] == preset else _keep(r["preset"]),
                    scale=_keep(_changed(r["scale"], scale)), view=_keep(_changed(r["view"], view)),
                    config=_keep(r["config"]), search=_keep(_changed(r["search"], search)),
                    errors=errors,
                    banner=no_update if banner == (banner_now or "") else banner,
                    contour=contour, contour_key=contour_key, counts=counts,
                    tab=no_update if tab == tab_now else tab,
                    view_sync=_view_sync(trig, view_now, search, search_now))

    # The message lines show the error store (one line per control, blank where there is none). They
    # are set with set_props, not declared as outputs: the renderer walks every output downstream of
    # each pending callback, several times a change, and these 35 were a fifth of the sync's.
    app.clientside_callback(
        "function(errors) { window.dash_clientside.dashboard.errors(errors, %s); }"
        % str(ERROR_IDS).replace("'", '"'),
        Input(ids.ERRORS, "data"), prevent_initial_call=True)

    # The follow-ups of a contour start once it is painted (LAND_PAINTED), so that neither their server
    # work nor their drawing competes with it for the two cores: on a page opened with a fast sync
    # response the surface's data otherwise arrived first and its ~0.6 s software-WebGL draw held the
    # first contour back (page open → contour 1.3 s → 2.7 s, measured).
    # Away from the landscape tab there is nothing to paint: no wait (a pending wait would also hold
    # back every callback that has LAND_PAINTED as an input); back on it, the wait starts again.
    app.clientside_callback(
        "function(key, tab) { return window.dash_clientside.dashboard.painted(key, tab === %s); }"
        % json.dumps(ids.TAB_LANDSCAPE), Output(ids.LAND_PAINTED, "data"),
        Input(ids.LAND_KEY, "data"), Input(ids.TABS, "value"))

    # The two light follow-ups in one request: the mask picture and the plane's line. On the landscape
    # tab they follow the painted contour; on the others (the sidebar and its mask picture are shown
    # there too, the landscape is not drawn) they follow the config (MASK_KEY, set by ``shown``).
    @callback(app, Output(ids.MASK_IMAGE, "figure"), Output(ids.PLANE_TEXT, "children"),
              Input(ids.LAND_PAINTED, "data"), Input(ids.MASK_KEY, "data"), State(ids.CONFIG, "data"),
              State(ids.DESCENT, "data"))
    def mask_image(_contour_key, _mask_key, config_json, desc):
        cfg = _cfg(config_json)
        try:
            desc = _desc(desc)
        except ConfigError:   # a forged descent store is reported by the counts; the picture stands
            desc = None
        return figures.mask_figure(logic.mask_of(cfg)), planes.plane_ready(cfg, desc) or planes.plane_text(cfg)

    # ---- view 1: landscape --------------------------------------------------------------------
    # The contour comes first: the default view's is served with the page, a new config's or
    # scale's with the sync response above. The surface follows it once it is painted (LAND_PAINTED),
    # so the 2-D view is not held back by the 3-D one, and after the critical points: CRITICAL is an
    # input, so Dash runs it once the critical callback (same trigger) has answered, and the scene is
    # drawn once with them. Drawn before them and then patched, a change cost two software-WebGL
    # draws of the scene (GPU process, one busy core: 1.41 s of CPU a change against 0.69 s). Where
    # the critical points are costly (logic.critical_first: a trained generator's take seconds) the
    # critical callback answers at once and hands them to critical_later, so the surface is drawn
    # without waiting and the overlays callback patches them in.
    # A descent only redraws the contour when the contour waited for it (an endpoint / pca plane);
    # otherwise landscape_overlays patches its paths in.
    @callback(
        app, Output(ids.LAND_CONTOUR, "figure", allow_duplicate=True), Output(ids.LAND_KEY, "data", allow_duplicate=True),
        Input(ids.DESCENT, "data"), State(ids.CONFIG, "data"), State(ids.SCALE, "value"),
        State(ids.LAND_KEY, "data"), State(ids.CRITICAL, "data"), prevent_initial_call=True)
    def landscape_contour(desc, config_json, scale, shown, crit):
        cfg, scale, desc = _cfg(config_json), state.parse_scale(scale), _desc(desc)
        if shown == logic.figure_key(cfg, scale):
            raise PreventUpdate
        with gate.foreground():
            return _contour(cfg, scale, desc, shown, crit)

    @callback(
        app, Output(ids.LAND_SURFACE, "figure"), Output(ids.SURF_KEY, "data"),
        Input(ids.LAND_PAINTED, "data"), Input(ids.CRITICAL, "data"),
        State(ids.CONFIG, "data"), State(ids.SCALE, "value"), State(ids.SURF_KEY, "data"),
        State(ids.DESCENT, "data"), State(ids.TAB_ID, "data"))
    def landscape_surface(_contour_key, crit, config_json, scale, shown, desc, tab):
        cfg, scale, desc = _cfg(config_json), state.parse_scale(scale), _desc(desc)
        if ids.LAND_PAINTED + ".data" not in ctx.triggered_prop_ids and shown == logic.figure_key(cfg, scale):
            raise PreventUpdate   # critical points computed after the surface: landscape_overlays patches them in
        waiting = _waiting(cfg, desc, logic.figure_key(cfg, scale))
        if waiting:
            return waiting
        gate.background(tab)
        return _landscape_figure(cfg, scale, logic.marks_for(cfg, crit, desc), True, shown)

    @callback(
        app,
        Output(ids.LAND_SURFACE, "figure", allow_duplicate=True),
        Output(ids.LAND_CONTOUR, "figure", allow_duplicate=True),
        Input(ids.CRITICAL, "data"), Input(ids.DESCENT, "data"),
        State(ids.CONFIG, "data"), State(ids.SCALE, "value"), State(ids.SURF_KEY, "data"),
        State(ids.LAND_KEY, "data"), prevent_initial_call=True)
    def landscape_overlays(crit, desc, config_json, scale, surf_shown, contour_shown):
        cfg, scale = _cfg(config_json), state.parse_scale(scale)
        desc = _desc(desc)
        # A figure still on its way for this config will carry these overlays itself.
        return tuple(_overlay_patch(cfg, scale, logic.marks_for(cfg, crit, desc, heights=d3), d3, shown)
                     for d3, shown in ((True, surf_shown), (False, contour_shown)))

    @callback(
        app, Output(ids.CRITICAL, "data"), Output(ids.RHO_TEXT, "children"), Output(ids.CRITICAL_TEXT, "children"),
        Output(ids.CRITICAL_LATER, "data"),
        Input(ids.LAND_PAINTED, "data"), State(ids.CONFIG, "data"), State(ids.CRITICAL, "data"),
        State(ids.DESCENT, "data"), State(ids.TAB_ID, "data"))
    def critical(_shown, config_json, crit, desc, tab):
        gate.painted(tab)   # the first follow-up of a painted contour: other tabs' follow-ups may go on
        cfg = _cfg(config_json)
        key = logic.landscape_key(cfg)
        if isinstance(crit, dict) and crit.get("key") == key:
            raise PreventUpdate
        wait = planes.plane_ready(cfg, _desc(desc))
        if wait:
            return None, "ρ̂_ray and the critical points follow once the plane is drawn.", "", no_update
        if not logic.critical_first(cfg):
            return no_update, "ρ̂_ray and the critical points: computing…", "", key
        return (*_critical_answer(gate, latest, tab, cfg), no_update)

    @callback(
        app, Output(ids.CRITICAL, "data", allow_duplicate=True), Output(ids.RHO_TEXT, "children", allow_duplicate=True),
        Output(ids.CRITICAL_TEXT, "children", allow_duplicate=True),
        Input(ids.CRITICAL_LATER, "data"), State(ids.CONFIG, "data"), State(ids.TAB_ID, "data"),
        prevent_initial_call=True)
    def critical_later(key, config_json, tab):
        cfg = _cfg(config_json)
        if key != logic.landscape_key(cfg):   # the config moved on: its own critical callback runs
            raise PreventUpdate
        return _critical_answer(gate, latest, tab, cfg)

    # The σ_min map costs n0 + 1 passes per point: computed only while its box is ticked, after the contour.
    @callback(
        app, Output(ids.INJ_GRAPH, "figure"), Output(ids.INJ_TEXT, "children"), Output(ids.INJ_BOX, "style"),
        Input(ids.INJ_TOGGLE, "value"), Input(ids.LAND_PAINTED, "data"),
        State(ids.CONFIG, "data"), State(ids.SCALE, "value"), State(ids.DESCENT, "data"), State(ids.TAB_ID, "data"))
    def injectivity(toggle, _shown, config_json, scale, desc, tab):
        if not state.parse_switch("injectivity", toggle):
            return no_update, "", {"display": "none"}
        cfg, scale = _cfg(config_json), state.parse_scale(scale)
        wait = planes.plane_ready(cfg, _desc(desc))
        if wait:
            return figures.message_figure(""), wait, {}
        gate.background(tab)
        fig, text = _for_view(latest, tab, cfg, lambda: planes.injectivity_view(cfg, scale))
        return fig, text, {}

    # ---- clicks → point → descent ---------------------------------------------------------------
    @callback(
        app, Output(ids.POINT, "data"), [Input(s, "clickData") for s in CLICK_SOURCES],
        State(ids.CLICK_MODE, "value"), State(ids.CONFIG, "data"), prevent_initial_call=True)
    def point(*args):
        *clicks, mode, config_json = args
        uv = logic.uv_from_click(dict(zip(CLICK_SOURCES, clicks)).get(ctx.triggered_id))
        if mode or uv is None:
            raise PreventUpdate
        return {"key": config_json, "uv": list(uv)}

    @callback(
        app, Output(ids.DESCENT, "data"),
        Input(ids.POINT, "data"), Input(ids.DESC_RANDOM, "n_clicks"), Input(ids.DESC_CLEAR, "n_clicks"),
        State(ids.CONFIG, "data"), State(ids.TAB_ID, "data"), prevent_initial_call=True)
    def descent(pt, _random, _clear, config_json, tab):
        cfg = _cfg(config_json)
        if ctx.triggered_id == ids.DESC_CLEAR:
            return None
        if ctx.triggered_id == ids.DESC_RANDOM:
            run = _for_view(latest, tab, cfg, lambda: logic.run_descent(cfg, "random"))
            return {**run, "tag": logic.config_tag(cfg)}
        if not isinstance(pt, dict) or pt.get("key") != config_json:
            raise PreventUpdate
        uv = logic.uv_from_click({"points": [{"x": (pt.get("uv") or [None])[0], "y": (pt.get("uv") or [0, None])[-1]}]})
        if uv is None:
            raise ConfigError("point", "the clicked point must be two finite plane coordinates")
        return {**_for_view(latest, tab, cfg, lambda: logic.run_descent(cfg, "click", uv)), "tag": logic.config_tag(cfg)}

    # On a new config the sync sends these; a new descent sets them here.
    @callback(app, *[Output(o, "children") for o in COUNT_IDS], Input(ids.DESCENT, "data"), State(ids.CONFIG, "data"))
    def counts(desc, config_json):
        return _counts(_cfg(config_json), desc)

    @callback(
        app, Output(ids.DESC_PAIR, "figure"), Output(ids.DESC_PAIR_TEXT, "children"), Output(ids.DESC_PAIR_BOX, "style"),
        Input(ids.DESCENT, "data"), State(ids.CONFIG, "data"), prevent_initial_call=True)
    def other_fit_pair(desc, config_json):
        fig, text = logic.pair_view(_cfg(config_json), _desc(desc))
        if fig is None:
            return no_update, "", {"display": "none"}
        return fig, text, {}

    @callback(
        app, Output(ids.DESC_BUDGET, "figure"), Output(ids.DESC_BUDGET_TEXT, "children"),
        Input(ids.DESC_BUDGET_RUN, "n_clicks"), State(ids.CONFIG, "data"), prevent_initial_call=True)
    def budget(_clicks, config_json):
        return logic.budget_view(_cfg(config_json))

    # ---- views behind tabs: only the visible one follows the config ------------------------------
    # None of them runs at page load (prevent_initial_call): on the landscape each returned nothing,
    # yet every callback the page starts costs the browser its bookkeeping over the whole page before
    # the first contour is drawn. A view runs once its tab is shown, by a click or by ?view= (the
    # sync sets the tab, the clientside ``shown`` the tab's view store).
    # One clientside callback sets the view store of the tab shown (``views``), each page's slice of
    # the URL (``urlSlice``, pages/url.py) and, away from the landscape, the mask picture's key: a
    # change sets the config and the URL in one response, and each callback the browser runs for it
    # costs several store updates of the whole page. The slices are set with set_props rather than
    # declared as outputs (the pages write the URL the same way, pages/url.py): with both declared,
    # the sync and every page's callbacks sat on one cycle of the callback graph, which the renderer
    # walks downstream of each pending callback several times a change. It runs on a tab switch and
    # when the sync says it has something to do (VIEW_SYNC, ``_view_sync``): not for a control changed
    # on the landscape tab, where it had nothing to set (a dozen store actions before the contour).
    views = list(ids.VIEW_STORES.items())
    prefixes = [m.URL_PREFIX for _, _, m in PAGES if getattr(m, "URL_PREFIX", None)]
    app.clientside_callback(
        "function(tab, sync, config, scale, search) { return window.dash_clientside.dashboard.shown(config, scale, tab, "
        "search, %s, %s, %s, %s, Array.prototype.slice.call(arguments, 5)); }"
        % (json.dumps([t for t, _ in views]), json.dumps(prefixes), json.dumps([ids.url_slice(p) for p in prefixes]),
           json.dumps(ids.TAB_LANDSCAPE)),
        [Output(s, "data") for _, s in views] + [Output(ids.MASK_KEY, "data")],
        Input(ids.TABS, "value"), Input(ids.VIEW_SYNC, "data"),
        State(ids.CONFIG, "data"), State(ids.SCALE, "value"), State(ids.URL, "search"),
        [State(s, "data") for _, s in views] + [State(ids.url_slice(p), "data") for p in prefixes]
        + [State(ids.MASK_KEY, "data")])

    # ---- view 2: descent; playback is clientside --------------------------------------------------
    @callback(
        app, Output(ids.DESC_CONTOUR, "figure"), Output(ids.DESC_KEY, "data"),
        Input(ids.VIEW_DESCENT, "data"), Input(ids.DESCENT, "data"),
        State(ids.DESC_KEY, "data"), State(ids.DESC_SLIDER, "value"), prevent_initial_call=True)
    def descent_contour(view, desc, shown, frame):
        cfg, scale = _view(view)
        desc = _desc(desc)
        key = logic.figure_key(cfg, scale)
        if ctx.triggered_id == ids.DESCENT and shown == key:
            raise PreventUpdate    # descent_overlays patches the paths in
        waiting = _waiting(cfg, desc, key)
        if waiting:
            return waiting
        return _landscape_figure(cfg, scale, logic.marks_for(cfg, None, desc, frame, critical=False,
                                                             heights=False), False, shown)

    @callback(
        app, Output(ids.DESC_SURFACE, "figure"), Output(ids.DESC_SURF_KEY, "data"),
        Input(ids.DESC_KEY, "data"),
        State(ids.VIEW_DESCENT, "data"), State(ids.DESC_SURF_KEY, "data"),
        State(ids.DESCENT, "data"), State(ids.DESC_SLIDER, "value"), prevent_initial_call=True)
    def descent_surface(_contour_key, view, shown, desc, frame):
        cfg, scale = _view(view)
        waiting = _waiting(cfg, _desc(desc), logic.figure_key(cfg, scale))
        if waiting:
            return waiting
        return _landscape_figure(cfg, scale, logic.marks_for(cfg, None, _desc(desc), frame, critical=False), True,
                                 shown)

    @callback(
        app,
        Output(ids.DESC_CONTOUR, "figure", allow_duplicate=True),
        Output(ids.DESC_SURFACE, "figure", allow_duplicate=True),
        Input(ids.DESCENT, "data"),
        State(ids.VIEW_DESCENT, "data"), State(ids.DESC_KEY, "data"), State(ids.DESC_SURF_KEY, "data"),
        prevent_initial_call=True)
    def descent_overlays(desc, view, contour_shown, surf_shown):
        cfg, scale = _view(view)
        desc = _desc(desc)
        return tuple(_overlay_patch(cfg, scale, logic.marks_for(cfg, None, desc, critical=False, heights=d3), d3, shown)
                     for d3, shown in ((False, contour_shown), (True, surf_shown)))

    # Not at page load: with no descent it would set what the layout already shows.
    app.clientside_callback(
        ClientsideFunction("dashboard", "player"),
        Output(ids.DESC_SLIDER, "value"), Output(ids.DESC_SLIDER, "max"),
        Output(ids.DESC_PLAY, "children"), Output(ids.DESC_ITER_TEXT, "children"),
        Input(ids.DESC_PLAY, "n_clicks"), Input(ids.DESCENT, "data"), Input(ids.DESC_SLIDER, "value"),
        State(ids.OVERLAY_INFO, "data"), prevent_initial_call=True)
    app.clientside_callback(
        ClientsideFunction("dashboard", "frame"), Output(ids.DESC_FRAME_SYNC, "children"),
        Input(ids.DESC_SLIDER, "value"), State(ids.DESCENT, "data"), State(ids.OVERLAY_INFO, "data"),
        State(ids.TABS, "value"), prevent_initial_call=True)

    # ---- view 3: compare -------------------------------------------------------------------------------
    @callback(app, Output(ids.COMPARE, "figure"), Input(ids.VIEW_COMPARE, "data"), prevent_initial_call=True)
    def compare(view):
        return logic.compare_view(*_view(view))

    app.clientside_callback(_SYNC_CAMERAS_JS, Output(ids.COMPARE_SYNC, "children"),
                            Input(ids.COMPARE, "relayoutData"), prevent_initial_call=True)

    # ---- view 4: mode collapse ---------------------------------------------------------------------------
    @callback(
        app, Output(ids.COLLAPSE_GRAPH, "figure"), Output(ids.COLLAPSE_WITNESS, "figure"),
        Output(ids.COLLAPSE_TEXT, "children"),
        Input(ids.VIEW_COLLAPSE, "data"), Input(ids.COLLAPSE_SOURCE, "value"), prevent_initial_call=True)
    def collapse(view, source):
        cfg, scale = _view(view)
        return logic.collapse_view(cfg, source, scale)

    # ---- view 5: basins (a job of dashboard.jobs; Cancel acts between steps) ------------------------
    # Each tick allows exactly one more (max_intervals = n + 1), so ticks never overlap however
    # long one takes.
    @callback(
        app, Output(ids.BASINS, "data"), Output(ids.BASIN_INTERVAL, "disabled"),
        Output(ids.BASIN_INTERVAL, "max_intervals"), Output(ids.BASIN_INTERVAL, "interval"),
        Output(ids.err(ids.BASIN_GRID), "children"),
        Input(ids.BASIN_START, "n_clicks"), Input(ids.BASIN_CANCEL, "n_clicks"),
        Input(ids.BASIN_INTERVAL, "n_intervals"),
        State(ids.BASINS, "data"), State(ids.CONFIG, "data"), State(ids.BASIN_GRID, "value"),
        prevent_initial_call=True)
    def basin_driver(_start, cancel_clicks, n_ticks, store, config_json, n_text):
        cfg = _cfg(config_json)
        store, running, wait_ms, err = logic.basin_drive(ctx.triggered_id, store, cfg, n_text, cancel_clicks,
                                                         inflight=inflight)
        n_ticks = n_ticks if isinstance(n_ticks, int) and not isinstance(n_ticks, bool) else 0
        return store, not running, n_ticks + 1, wait_ms, err

    @callback(
        app, Output(ids.BASIN_GRAPH, "figure"), Output(ids.BASIN_PROGRESS, "value"), Output(ids.BASIN_TEXT, "children"),
        Input(ids.BASINS, "data"), Input(ids.TABS, "value"), prevent_initial_call=True)
    def basin_view(store, tab):
        if tab != ids.TAB_BASINS:
            raise PreventUpdate
        return logic.basin_view(store)

    # ---- view 6: linked images -----------------------------------------------------------------------------
    @callback(app, Output(ids.IMG_CONTOUR, "figure"), Input(ids.VIEW_IMAGES, "data"), Input(ids.DESCENT, "data"),
              State(ids.TABS, "value"), prevent_initial_call=True)
    def images_contour(view, desc, tab):
        cfg, scale = _view(view)
        if f"{ids.DESCENT}.data" in ctx.triggered_prop_ids and (tab != ids.TAB_IMAGES or cfg.plane not in logic.NEEDS_DESCENT):
            raise PreventUpdate        # a descent changes this contour only on a plane built from it
        waiting = _waiting(cfg, _desc(desc), "")
        if waiting:
            return waiting[0]
        fig = logic.landscape_figure(cfg, scale, logic.marks_for(cfg, critical=False, heights=False), three_d=False,
                                     as_dict=True)
        fig["layout"] = {**fig["layout"], "title": None, "showlegend": False}
        return fig

    @callback(
        app, Output(ids.IMG_GRAPH, "figure"), Output(ids.IMG_TEXT, "children"),
        Input(ids.IMG_CONTOUR, "hoverData"), Input(ids.IMG_CONTOUR, "clickData"), Input(ids.POINT, "data"),
        Input(ids.VIEW_IMAGES, "data"), State(ids.TABS, "value"), prevent_initial_call=True)
    def linked_images(hover, click, pt, view, tab):
        if tab != ids.TAB_IMAGES:
            raise PreventUpdate
        cfg, _scale = _view(view)
        config_json = view["config"]
        props = ctx.triggered_prop_ids
        data = (hover if f"{ids.IMG_CONTOUR}.hoverData" in props
                else click if f"{ids.IMG_CONTOUR}.clickData" in props else None)
        uv = logic.uv_from_click(data)
        if uv is None and isinstance(pt, dict) and pt.get("key") == config_json and isinstance(pt.get("uv"), list):
            uv = logic.uv_from_click({"points": [{"x": pt["uv"][0], "y": pt["uv"][-1]}]})
        return logic.images_view(cfg, uv)

    # ---- downloads ------------------------------------------------------------------------------------------
    @callback(
        app, Output(ids.DOWNLOAD, "data"), Output(ids.DL_ERROR, "children"),
        Input(ids.DL_NPZ, "n_clicks"), Input(ids.DL_CSV, "n_clicks"), Input(ids.DL_JSON, "n_clicks"),
        State(ids.CONFIG, "data"), prevent_initial_call=True)
    def download(_a, _b, _c, config_json):
        cfg = _cfg(config_json)
        trig = ctx.triggered_id
        if trig == ids.DL_NPZ:
            return dcc.send_bytes(logic.landscape_npz(cfg), "landscape.npz"), ""
        if trig == ids.DL_CSV:
            return dcc.send_string(logic.landscape_csv(cfg), "landscape.csv"), ""
        return dcc.send_string(logic.config_json(cfg), "config.json"), ""

    @callback(
        app, Output(ids.DOWNLOAD, "data", allow_duplicate=True), Output(ids.DL_ERROR, "children", allow_duplicate=True),
        Input(ids.DL_HTML, "n_clicks"), State(ids.TABS, "value"), [State(g, "figure") for g in ALL_GRAPHS],
        prevent_initial_call=True)
    def download_html(_clicks, tab, *figs):
        tab = state.parse_choice("view", tab, ids.TAB_VALUES)
        by_id = dict(zip(ALL_GRAPHS, figs))
        shown = [go.Figure(by_id[g]) for g in ids.TAB_GRAPHS[tab] if isinstance(by_id.get(g), dict) and by_id[g].get("data")]
        if not shown:
            return no_update, "figure: nothing drawn in this view yet"
        return dcc.send_string(logic.figure_html(shown, f"invertibility explorer: {tab}"), f"{tab}.html"), ""

    app.clientside_callback(
        "function(n, tab) { return window.dash_clientside.dashboard.png(n, tab, %s); }"
        % {k: list(v) for k, v in ids.TAB_GRAPHS.items()}.__repr__().replace("'", '"'),
        Output(ids.DL_ERROR, "children", allow_duplicate=True), Input(ids.DL_PNG, "n_clicks"),
        State(ids.TABS, "value"), prevent_initial_call=True)
