"""The app factory."""
from __future__ import annotations

import contextlib
import functools
import pathlib
import re

import dash
import flask

from .callbacks import register_callbacks
from .layout import build_layout

ASSETS = pathlib.Path(__file__).with_name("assets")
PLOTLY_BUNDLE = "plotly-dashboard.min.js"
REGENERATOR = "regenerator.js"      # served in place of Dash's babel polyfill (see lean_scripts)
_BANNER = re.compile(r"/\*! plotly\.js v(\S+) partial bundle; traces: ([a-z0-9,]+)")
_POLYFILL_TAG = re.compile(r'<script src="[^"]*/dash/deps/polyfill@[^"]*"></script>')
_DASH_TABLE_TAG = re.compile(r'<script src="[^"]*/dash/dash_table/[^"]*"></script>')
# What regenerator.js implements: the runtime's mark and wrap, and prev, next, sent and stop on the
# context of a wrapped generator (the one form babel gives a generator without try/catch or yield*).
SHIM_RUNTIME, SHIM_CONTEXT = {"mark", "wrap"}, {"prev", "next", "sent", "stop"}
# A wrapped generator, minified or not: wrap(function(t){for(;;)switch(t.prev=t.next){…return t.stop()}},t)
_WRAPPED = re.compile(r"regeneratorRuntime\.wrap\(\(?function\((\w+)\)\{(for\(;;\)switch\(\1\.prev=\1\.next\)\{"
                      r".*?return \1\.stop\(\)\})\}\)?,\w+[^)]*\)", re.S)


def plotly_bundle():
    """(version, trace types) of ``assets/plotly-dashboard.min.js``, read from its first line, or
    None when the file is missing or not such a bundle.

    The bundle is plotly.js with only the trace types the dashboard draws (1.9 MB instead of
    4.8 MB), built by ``dashboard/plotly-bundle``; the page loads it as an ordinary script, in
    parallel with the others, instead of fetching the full plotly.js after the first graph mounted.
    """
    try:
        with open(ASSETS / PLOTLY_BUNDLE, encoding="utf-8") as f:
            m = _BANNER.match(f.readline())
    except OSError:
        return None
    return (m.group(1), tuple(m.group(2).split(","))) if m else None


def _plotly_script(app) -> list:
    """The bundle's script entry when it was built from the plotly.js that plotly.py writes figures
    for (otherwise [] and dash_core_components loads plotly.py's full plotly.js as usual)."""
    from plotly.offline import get_plotlyjs_version

    found = plotly_bundle()
    if found is None or found[0] != get_plotlyjs_version():
        return []
    return [{"src": f"{app.get_asset_url(PLOTLY_BUNDLE)}?v={found[0]}"}]


def regenerator_uses(js: str) -> tuple[set, set]:
    """(runtime attributes, context attributes) a script uses of babel's regenerator runtime: what
    ``regeneratorRuntime.X`` it calls and, inside each ``regeneratorRuntime.wrap(function(t){…})``,
    what ``t.X`` it touches."""
    runtime = set(re.findall(r"regeneratorRuntime\.(\w+)", js))
    context = {a for var, body in _WRAPPED.findall(js) for a in re.findall(rf"\b{re.escape(var)}\.(\w+)", body)}
    return runtime, context


@functools.lru_cache(maxsize=1)
def shim_suffices() -> bool:
    """Whether every script Dash serves needs no more of the regenerator runtime than regenerator.js
    has (and the shim file is there). Otherwise the page keeps Dash's polyfill."""
    if not (ASSETS / REGENERATOR).is_file():
        return False
    root = pathlib.Path(dash.__file__).parent
    for f in [*root.glob("dash-renderer/build/*.js"), *root.glob("dcc/*.js"), *root.glob("html/*.js"),
              *root.glob("dash_table/*.js")]:
        js = f.read_text(encoding="utf-8", errors="replace")
        if "regeneratorRuntime" not in js:
            continue
        runtime, context = regenerator_uses(js)
        if not runtime <= SHIM_RUNTIME or not context <= SHIM_CONTEXT or \
                js.count("regeneratorRuntime.wrap(") != len(_WRAPPED.findall(js)):
            return False
    return True


def _uses_dash_table(component) -> bool:
    if type(component).__module__.startswith("dash.dash_table"):
        return True
    children = getattr(component, "children", None)
    children = children if isinstance(children, (list, tuple)) else [children]
    return any(_uses_dash_table(c) for c in children if hasattr(c, "to_plotly_json"))


def lean_scripts(scripts: str, shim: str | None, dash_table: bool) -> str:
    """The page's script tags without what this dashboard does not use.

    * Dash's babel polyfill (99 KB, ~130 ms of script on the 2-core machine before anything else
      runs): core-js for browsers older than ES2017, and the regenerator runtime. Dash's own scripts
      use one generator function of that runtime; ``shim`` (regenerator.js, inlined) has what it needs.
      With ``shim`` None the polyfill stays.
    * dash_table's bundle, when no DataTable is in the layout.
    """
    if shim is not None:
        scripts = _POLYFILL_TAG.sub(lambda _: f"<script>{shim}</script>", scripts, count=1)
    if not dash_table:
        scripts = _DASH_TABLE_TAG.sub("", scripts)
    return scripts


def first_view():
    """(contour figure, its key) of the default view, served inside the page itself.

    The page then shows its first contour as soon as plotly.js has drawn it, with no callback
    round trip and no computation after the page opened; the callbacks that follow find the key
    unchanged and send only the overlays.
    """
    from . import logic, state

    with _one_thread():
        cfg, scale = state.BASE, state.VIEW_DEFAULTS["scale"]
        fig = logic.landscape_figure(cfg, scale, logic.marks_for(cfg, heights=False), three_d=False, as_dict=True)
    return fig, logic.figure_key(cfg, scale)


@contextlib.contextmanager
def _one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def build_app(torch_threads: int | None = 1, prefill: bool = True) -> dash.Dash:
    """A new Dash app with the layout and every callback (no server started, no global state).

    Parameters
    ----------
    torch_threads : int or None
        torch intra-op threads of each request thread (None: leave torch alone). The server
        answers several callbacks at once, one thread each; torch's own thread pool on top of
        that oversubscribes the cores: on a busy 2-core machine a 201² landscape then took
        ~3 s instead of ~0.15 s (measured). With OpenMP the setting is per thread, hence a hook
        that runs in every request's thread.
    prefill : bool
        Serve the default view's contour with the page (:func:`first_view`).
    """
    app = dash.Dash(__name__, title="Invertibility explorer", assets_folder=str(ASSETS),
                    update_title=None, serve_locally=True,
                    assets_ignore=f"{re.escape(PLOTLY_BUNDLE)}|{re.escape(REGENERATOR)}")
    app.config.external_scripts = _plotly_script(app)
    app.layout = build_layout(*first_view() if prefill else (None, None))
    # Dash's documented hook for the page's HTML: the script tags, without what the page does not use.
    shim = (ASSETS / REGENERATOR).read_text(encoding="utf-8") if shim_suffices() else None
    table, index = _uses_dash_table(app.layout), app.interpolate_index
    app.interpolate_index = lambda **kw: index(**{**kw, "scripts": lean_scripts(kw.get("scripts", ""), shim, table)})
    register_callbacks(app)
    favicon = app.config.routes_pathname_prefix + "_favicon.ico"

    # Dash serves its icon with no caching headers, and the browser fetched it again after every
    # change of the URL, i.e. after every control change.
    @app.server.after_request
    def _cache_the_icon(response):
        if flask.request.path == favicon and response.status_code == 200:
            response.cache_control.public = True
            response.cache_control.max_age = 86400
        return response

    if torch_threads:
        import torch

        @app.server.before_request
        def _torch_threads():
            if torch.get_num_threads() != torch_threads:
                torch.set_num_threads(torch_threads)
    return app
