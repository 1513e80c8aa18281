"""Every callback of the dashboard, registered by one :func:`register_callbacks`.

Each body is a few lines: read the config JSON, call the plain functions of
:mod:`dashboard.logic`, hand the result to Dash. State lives in the browser
(URL, stores); the server keeps only bounded caches keyed by config JSON.
"""
from __future__ import annotations

import plotly.graph_objects as go
from dash import Input, Output, Patch, State, ctx, dcc, no_update
from dash.exceptions import PreventUpdate

from core import Config

from .pages import PAGES
from . import figures, ids, logic, state

CLICK_SOURCES = (ids.LAND_CONTOUR, ids.LAND_SURFACE, ids.DESC_CONTOUR, ids.DESC_SURFACE)
ERROR_IDS = sorted({ids.err(c) for c in ids.FIELD_CONTROLS.values()} | {ids.CONFIG_ERROR})

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


def _cfg(config_json):
    if not config_json:
        raise PreventUpdate
    return Config.from_json(config_json)


def _view(view):
    """A view store's (Config, colour scale)."""
    if not view or not view.get("config"):
        raise PreventUpdate
    return Config.from_json(view["config"]), view["scale"]


def _patch_overlays(traces, meta: dict) -> Patch:
    """Replace the overlay traces (data[1:]) and the meta tag; the big grid trace stays in the browser."""
    p = Patch()
    for i, t in enumerate(traces, start=1):
        p["data"][i] = t
    p["layout"]["meta"] = meta
    return p


def _landscape_figure(cfg, scale, marks, three_d: bool, shown):
    """(figure or Patch, key): the whole figure, or only its overlays when the grid shown is the same."""
    key = logic.figure_key(cfg, scale)
    if shown == key:   # same landscape and scale (e.g. only ε changed)
        return _patch_overlays(logic.overlay_traces(cfg, scale, marks, three_d), logic.figure_meta(cfg, scale)), key
    return logic.landscape_figure(cfg, scale, marks, three_d), key


def _overlay_patch(cfg, scale, marks, three_d: bool, shown):
    if shown != logic.figure_key(cfg, scale):
        return no_update
    return _patch_overlays(logic.overlay_traces(cfg, scale, marks, three_d), logic.figure_meta(cfg, scale))


def register_callbacks(app) -> None:
    fields = list(ids.FIELD_CONTROLS)
    for _, _, page in PAGES:
        page.register_callbacks(app)

    # ---- URL / preset / controls / clicks → config ---------------------------------------
    @app.callback(
        output=dict(
            controls={f: Output(ids.FIELD_CONTROLS[f], "value") for f in fields},
            preset=Output(ids.PRESET, "value"), scale=Output(ids.SCALE, "value"), view=Output(ids.TABS, "value"),
            config=Output(ids.CONFIG, "data"), search=Output(ids.URL, "search"),
            errors={e: Output(e, "children") for e in ERROR_IDS}),
        inputs=dict(
            search=Input(ids.URL, "search"), preset=Input(ids.PRESET, "value"), scale=Input(ids.SCALE, "value"),
            view=Input(ids.TABS, "value"), values={f: Input(ids.FIELD_CONTROLS[f], "value") for f in fields},
            clicks={s: Input(s, "clickData") for s in CLICK_SOURCES}),
        state=dict(mode=State(ids.CLICK_MODE, "value"), current=State(ids.CONFIG, "data")),
    )
    def sync(search, preset, scale, view, values, clicks, mode, current):
        trig = ctx.triggered_id
        uv = logic.uv_from_click(clicks.get(trig)) if trig in CLICK_SOURCES else None
        click_z = logic.click_z_star(_cfg(current), uv) if uv is not None and mode else None
        r = state.sync(trig, search, preset, scale, view, values, click_z, bool(mode), current)
        return dict(controls={f: _keep(r["controls"].get(f, state.KEEP)) for f in fields},
                    preset=_keep(r["preset"]), scale=_keep(r["scale"]), view=_keep(r["view"]),
                    config=_keep(r["config"]), search=_keep(r["search"]),
                    errors={e: (no_update if r["errors"] == state.KEEP else r["errors"].get(e, ""))
                            for e in ERROR_IDS})

    # After the contour (LAND_KEY), so it never competes with the landscape for the CPU.
    @app.callback(Output(ids.MASK_IMAGE, "figure"), Input(ids.LAND_KEY, "data"), State(ids.CONFIG, "data"))
    def mask_image(_contour_key, config_json):
        return figures.mask_figure(logic.mask_of(_cfg(config_json)))

    # ---- view 1: landscape --------------------------------------------------------------------
    # The contour comes first; the surface follows it (chained on LAND_KEY), so the 2-D view is
    # not held back by the 3-D one (software WebGL takes ~0.5 s per render on a GPU-less machine).
    @app.callback(
        Output(ids.LAND_CONTOUR, "figure"), Output(ids.LAND_KEY, "data"),
        Input(ids.CONFIG, "data"), Input(ids.SCALE, "value"),
        State(ids.LAND_KEY, "data"), State(ids.CRITICAL, "data"), State(ids.DESCENT, "data"))
    def landscape_contour(config_json, scale, shown, crit, desc):
        cfg = _cfg(config_json)
        return _landscape_figure(cfg, scale, logic.marks_for(cfg, crit, desc, heights=False), False, shown)

    @app.callback(
        Output(ids.LAND_SURFACE, "figure"), Output(ids.SURF_KEY, "data"),
        Input(ids.LAND_KEY, "data"),
        State(ids.CONFIG, "data"), State(ids.SCALE, "value"), State(ids.SURF_KEY, "data"),
        State(ids.CRITICAL, "data"), State(ids.DESCENT, "data"))
    def landscape_surface(_contour_key, config_json, scale, shown, crit, desc):
        cfg = _cfg(config_json)
        return _landscape_figure(cfg, scale, logic.marks_for(cfg, crit, desc), True, shown)

    @app.callback(
        Output(ids.LAND_SURFACE, "figure", allow_duplicate=True),
        Output(ids.LAND_CONTOUR, "figure", allow_duplicate=True),
        Input(ids.CRITICAL, "data"), Input(ids.DESCENT, "data"),
        State(ids.CONFIG, "data"), State(ids.SCALE, "value"), State(ids.SURF_KEY, "data"),
        State(ids.LAND_KEY, "data"), prevent_initial_call=True)
    def landscape_overlays(crit, desc, config_json, scale, surf_shown, contour_shown):
        cfg = _cfg(config_json)
        # A figure still on its way for this config will carry these overlays itself.
        return tuple(_overlay_patch(cfg, scale, logic.marks_for(cfg, crit, desc, heights=d3), d3, shown)
                     for d3, shown in ((True, surf_shown), (False, contour_shown)))

    @app.callback(
        Output(ids.CRITICAL, "data"), Output(ids.RHO_TEXT, "children"), Output(ids.CRITICAL_TEXT, "children"),
        Input(ids.LAND_KEY, "data"), State(ids.CONFIG, "data"), State(ids.CRITICAL, "data"))
    def critical(_shown, config_json, crit):
        cfg = _cfg(config_json)
        if crit and crit.get("key") == logic.landscape_key(cfg):
            raise PreventUpdate
        crit = logic.critical_for(cfg)
        return crit, logic.rho_text(crit, cfg.depth), logic.critical_text(crit)

    # ---- clicks → point → descent ---------------------------------------------------------------
    @app.callback(
        Output(ids.POINT, "data"), [Input(s, "clickData") for s in CLICK_SOURCES],
        State(ids.CLICK_MODE, "value"), State(ids.CONFIG, "data"), prevent_initial_call=True)
    def point(*args):
        *clicks, mode, config_json = args
        uv = logic.uv_from_click(dict(zip(CLICK_SOURCES, clicks)).get(ctx.triggered_id))
        if mode or uv is None:
            raise PreventUpdate
        return {"key": config_json, "uv": list(uv)}

    @app.callback(
        Output(ids.DESCENT, "data"),
        Input(ids.POINT, "data"), Input(ids.DESC_RANDOM, "n_clicks"), Input(ids.DESC_CLEAR, "n_clicks"),
        State(ids.CONFIG, "data"), prevent_initial_call=True)
    def descent(pt, _random, _clear, config_json):
        cfg = _cfg(config_json)
        if ctx.triggered_id == ids.DESC_CLEAR:
            return None
        if ctx.triggered_id == ids.DESC_RANDOM:
            return logic.run_descent(cfg, "random")
        if not pt or pt.get("key") != config_json:
            raise PreventUpdate
        return logic.run_descent(cfg, "click", pt["uv"])

    @app.callback(
        Output(ids.DESC_COUNTS, "children"), Output(ids.LAND_COUNTS, "children"),
        Output(ids.DESC_RANDOM, "children"),
        Input(ids.DESCENT, "data"), Input(ids.CONFIG, "data"))
    def counts(desc, config_json):
        cfg = _cfg(config_json)
        valid = desc if desc and desc.get("key") == logic.descent_key(cfg) else None
        text = logic.counts_text(valid)
        return text, text, f"Launch {cfg.starts} random starts"

    # ---- views behind tabs: only the visible one follows the config ------------------------------
    views = list(ids.VIEW_STORES.items())

    @app.callback([Output(store, "data") for _, store in views],
                  Input(ids.CONFIG, "data"), Input(ids.SCALE, "value"), Input(ids.TABS, "value"),
                  [State(store, "data") for _, store in views])
    def dispatch(config_json, scale, tab, *current):
        want = {"config": config_json, "scale": scale}
        return [want if t == tab and cur != want else no_update for (t, _), cur in zip(views, current)]

    # ---- view 2: descent and playback -----------------------------------------------------------------
    @app.callback(
        Output(ids.DESC_CONTOUR, "figure"), Output(ids.DESC_KEY, "data"),
        Input(ids.VIEW_DESCENT, "data"),
        State(ids.DESC_KEY, "data"), State(ids.DESCENT, "data"), State(ids.DESC_SLIDER, "value"))
    def descent_contour(view, shown, desc, frame):
        cfg, scale = _view(view)
        return _landscape_figure(cfg, scale, logic.marks_for(cfg, None, desc, frame, critical=False, heights=False),
                                 False, shown)

    @app.callback(
        Output(ids.DESC_SURFACE, "figure"), Output(ids.DESC_SURF_KEY, "data"),
        Input(ids.DESC_KEY, "data"),
        State(ids.CONFIG, "data"), State(ids.SCALE, "value"), State(ids.DESC_SURF_KEY, "data"),
        State(ids.DESCENT, "data"), State(ids.DESC_SLIDER, "value"))
    def descent_surface(_contour_key, config_json, scale, shown, desc, frame):
        cfg = _cfg(config_json)
        return _landscape_figure(cfg, scale, logic.marks_for(cfg, None, desc, frame, critical=False), True, shown)

    @app.callback(
        Output(ids.DESC_CONTOUR, "figure", allow_duplicate=True),
        Output(ids.DESC_SURFACE, "figure", allow_duplicate=True),
        Input(ids.DESCENT, "data"), Input(ids.DESC_SLIDER, "value"),
        State(ids.CONFIG, "data"), State(ids.SCALE, "value"), State(ids.DESC_KEY, "data"),
        State(ids.DESC_SURF_KEY, "data"), State(ids.TABS, "value"), State(ids.DESC_INTERVAL, "disabled"),
        prevent_initial_call=True)
    def descent_frame(desc, frame, config_json, scale, contour_shown, surf_shown, tab, paused):
        if tab != ids.TAB_DESCENT:
            raise PreventUpdate
        cfg = _cfg(config_json)
        contour = _overlay_patch(cfg, scale, logic.marks_for(cfg, None, desc, frame, critical=False, heights=False),
                                 False, contour_shown)
        if not state.surface_follows(frame, desc, playing=not paused):
            return contour, no_update
        marks = logic.marks_for(cfg, None, desc, frame, critical=False)
        return contour, _overlay_patch(cfg, scale, marks, True, surf_shown)

    @app.callback(
        Output(ids.DESC_SLIDER, "value"), Output(ids.DESC_SLIDER, "max"), Output(ids.DESC_INTERVAL, "disabled"),
        Output(ids.DESC_INTERVAL, "max_intervals"), Output(ids.DESC_PLAY, "children"),
        Output(ids.DESC_ITER_TEXT, "children"),
        Input(ids.DESC_PLAY, "n_clicks"), Input(ids.DESC_INTERVAL, "n_intervals"), Input(ids.DESCENT, "data"),
        Input(ids.DESC_SLIDER, "value"), State(ids.DESC_INTERVAL, "disabled"))
    def player(_play, n_ticks, desc, frame, disabled):
        iters = (desc or {}).get("iters") or [0]
        last = len(iters) - 1
        if ctx.triggered_id == ids.DESC_SLIDER:
            frame, playing = min(frame or 0, last), not disabled
        else:
            frame, playing = state.playback(ctx.triggered_id, frame or 0, last, not disabled)
        text = f"iteration {iters[frame]} of {iters[-1]}" if desc else ""
        # One more tick per answered tick (see the basins driver).
        return (frame, max(last, 1), not playing, (n_ticks or 0) + 1, "❚❚ Pause" if playing else "▶ Play", text)

    # ---- view 3: compare -------------------------------------------------------------------------------
    @app.callback(Output(ids.COMPARE, "figure"), Input(ids.VIEW_COMPARE, "data"))
    def compare(view):
        return logic.compare_view(*_view(view))

    app.clientside_callback(_SYNC_CAMERAS_JS, Output(ids.COMPARE_SYNC, "children"),
                            Input(ids.COMPARE, "relayoutData"), prevent_initial_call=True)

    # ---- view 4: mode collapse ---------------------------------------------------------------------------
    @app.callback(
        Output(ids.COLLAPSE_GRAPH, "figure"), Output(ids.COLLAPSE_WITNESS, "figure"),
        Output(ids.COLLAPSE_TEXT, "children"),
        Input(ids.VIEW_COLLAPSE, "data"), Input(ids.COLLAPSE_SOURCE, "value"))
    def collapse(view, source):
        cfg, scale = _view(view)
        return logic.collapse_view(cfg, source, scale)

    # ---- view 5: basins (a few rows per timer tick; cancel stops the timer) ---------------------
    # Each tick allows exactly one more (max_intervals = n + 1), so ticks never overlap however
    # long one takes: an overlapping tick would recompute the same rows and supersede the first.
    @app.callback(
        Output(ids.BASINS, "data"), Output(ids.BASIN_INTERVAL, "disabled"),
        Output(ids.BASIN_INTERVAL, "max_intervals"), Output(ids.BASIN_INTERVAL, "interval"),
        Output(ids.err(ids.BASIN_GRID), "children"),
        Input(ids.BASIN_START, "n_clicks"), Input(ids.BASIN_CANCEL, "n_clicks"),
        Input(ids.BASIN_INTERVAL, "n_intervals"),
        State(ids.BASINS, "data"), State(ids.CONFIG, "data"), State(ids.BASIN_GRID, "value"),
        prevent_initial_call=True)
    def basin_driver(_start, cancel_clicks, n_ticks, store, config_json, n_text):
        cfg = _cfg(config_json)
        store, running, wait_ms, err = logic.basin_drive(ctx.triggered_id, store, cfg, n_text, cancel_clicks)
        return store, not running, (n_ticks or 0) + 1, wait_ms, err

    @app.callback(
        Output(ids.BASIN_GRAPH, "figure"), Output(ids.BASIN_PROGRESS, "value"), Output(ids.BASIN_TEXT, "children"),
        Input(ids.BASINS, "data"), Input(ids.TABS, "value"))
    def basin_view(store, tab):
        if tab != ids.TAB_BASINS:
            raise PreventUpdate
        return logic.basin_view(store)

    # ---- view 6: linked images -----------------------------------------------------------------------------
    @app.callback(Output(ids.IMG_CONTOUR, "figure"), Input(ids.VIEW_IMAGES, "data"))
    def images_contour(view):
        cfg, scale = _view(view)
        fig = logic.landscape_figure(cfg, scale, logic.marks_for(cfg, critical=False, heights=False), three_d=False)
        fig.update_layout(title=None, showlegend=False)
        return fig

    @app.callback(
        Output(ids.IMG_GRAPH, "figure"), Output(ids.IMG_TEXT, "children"),
        Input(ids.IMG_CONTOUR, "hoverData"), Input(ids.IMG_CONTOUR, "clickData"), Input(ids.POINT, "data"),
        Input(ids.VIEW_IMAGES, "data"), State(ids.TABS, "value"))
    def linked_images(hover, click, pt, view, tab):
        if tab != ids.TAB_IMAGES:
            raise PreventUpdate
        cfg, _scale = _view(view)
        config_json = view["config"]
        props = ctx.triggered_prop_ids
        data = (hover if f"{ids.IMG_CONTOUR}.hoverData" in props
                else click if f"{ids.IMG_CONTOUR}.clickData" in props else None)
        uv = logic.uv_from_click(data)
        if uv is None and pt and pt.get("key") == config_json:
            uv = tuple(pt["uv"])
        return logic.images_view(cfg, uv)

    # ---- downloads ------------------------------------------------------------------------------------------
    @app.callback(
        Output(ids.DOWNLOAD, "data"), Output(ids.DL_ERROR, "children"),
        Input(ids.DL_NPZ, "n_clicks"), Input(ids.DL_CSV, "n_clicks"), Input(ids.DL_JSON, "n_clicks"),
        Input(ids.DL_PNG, "n_clicks"), Input(ids.DL_HTML, "n_clicks"),
        State(ids.CONFIG, "data"), State(ids.TABS, "value"),
        State(ids.LAND_CONTOUR, "figure"), State(ids.DESC_CONTOUR, "figure"), State(ids.COMPARE, "figure"),
        State(ids.COLLAPSE_GRAPH, "figure"), State(ids.BASIN_GRAPH, "figure"), State(ids.IMG_GRAPH, "figure"),
        prevent_initial_call=True)
    def download(_a, _b, _c, _d, _e, config_json, tab, *figs):
        cfg = _cfg(config_json)
        trig = ctx.triggered_id
        if trig == ids.DL_NPZ:
            return dcc.send_bytes(logic.landscape_npz(cfg), "landscape.npz"), ""
        if trig == ids.DL_CSV:
            return dcc.send_string(logic.landscape_csv(cfg), "landscape.csv"), ""
        if trig == ids.DL_JSON:
            return dcc.send_string(logic.config_json(cfg), "config.json"), ""
        main_figs = dict(zip(ids.TAB_VALUES, figs))
        if tab not in main_figs:
            return no_update, "figure: use the camera icon of this page's graph to save it as PNG"
        fig = main_figs[tab]
        if not fig:
            return no_update, "figure: nothing drawn in this view yet"
        fig = go.Figure(fig)
        try:
            if trig == ids.DL_PNG:
                return dcc.send_bytes(fig.to_image(format="png", width=1100, height=800), f"{tab}.png"), ""
            return dcc.send_string(fig.to_html(include_plotlyjs="cdn"), f"{tab}.html"), ""
        except Exception as e:  # kaleido needs a Chrome; say so instead of failing the request
            return no_update, f"figure: export failed ({type(e).__name__}: {e})"

