"""The app factory."""
from __future__ import annotations

import contextlib
import pathlib
import re

import dash

from .callbacks import register_callbacks
from .layout import build_layout

ASSETS = pathlib.Path(__file__).with_name("assets")
PLOTLY_BUNDLE = "plotly-dashboard.min.js"
_BANNER = re.compile(r"/\*! plotly\.js v(\S+) partial bundle; traces: ([a-z0-9,]+)")


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


def first_view():
    """(contour figure, its key) of the default view, served inside the page itself.

    The page then shows its first contour as soon as plotly.js has drawn it, with no callback
    round trip and no computation after the page opened; the callbacks that follow find the key
    unchanged and send only the overlays.
    """
    from . import logic, state

    with _one_thread():
        cfg, scale = state.BASE, state.VIEW_DEFAULTS["scale"]
        fig = logic.landscape_figure(cfg, scale, logic.marks_for(cfg, heights=False), three_d=False)
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
                    update_title=None, serve_locally=True, assets_ignore=re.escape(PLOTLY_BUNDLE))
    app.config.external_scripts = _plotly_script(app)
    app.layout = build_layout(*first_view() if prefill else (None, None))
    register_callbacks(app)
    if torch_threads:
        import torch

        @app.server.before_request
        def _torch_threads():
            if torch.get_num_threads() != torch_threads:
                torch.set_num_threads(torch_threads)
    return app
