"""The dashboard's partial plotly.js bundle (dashboard/plotly-bundle → assets/plotly-dashboard.min.js).

The bundle holds only some trace types; a figure with any other type would draw nothing. The
reference is the dashboard's own source: every trace class (``go.Contour(``) and every
``type="…"`` that names a plotly trace type must be in the bundle, and the page must run the
bundle (not plotly.py's full plotly.js) only when both were built from the same plotly.js.
"""
import os
import pathlib
import re

import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs_version

from dashboard import app as app_module, browser, ids

ROOT = pathlib.Path(__file__).resolve().parents[1]
ALL_TRACES = set(go.Figure()._data_validator.class_strs_map)     # every trace type plotly knows


def used_trace_types() -> set:
    """Trace types the dashboard's Python source can put in a figure (go classes and type="…")."""
    found = set()
    for f in (ROOT / "dashboard").rglob("*.py"):
        text = f.read_text(encoding="utf-8")
        found |= {name.lower() for name in re.findall(r"\bgo\.([A-Z]\w*)\(", text)} - {"figure"}
        found |= {t for t in re.findall(r"""\btype\s*=\s*["'](\w+)["']""", text) if t in ALL_TRACES}
        found |= {t for t in re.findall(r"""["']type["']\s*:\s*["'](\w+)["']""", text) if t in ALL_TRACES}
    return found


def test_source_scan_finds_the_dashboard_trace_types():
    """The scan itself: the landscape's contour and surface and the descent's scatter are in it."""
    used = used_trace_types()
    assert {"contour", "surface", "scatter", "heatmap"} <= used
    assert used <= ALL_TRACES


def test_bundle_holds_every_trace_type_the_dashboard_uses():
    found = app_module.plotly_bundle()
    assert found is not None, "assets/plotly-dashboard.min.js is missing or has no banner"
    _, traces = found
    assert used_trace_types() <= set(traces)


def _recipe(name: str) -> tuple:
    build = (ROOT / "dashboard" / "plotly-bundle" / "build.js").read_text(encoding="utf-8")
    return tuple(re.findall(r"'(\w+)'", re.search(rf"const {name} = \[([^\]]*)\]", build).group(1)))


def test_bundle_is_built_from_the_recipe_traces():
    assert "const TRACES = FIRST.concat(LATER);" in (ROOT / "dashboard" / "plotly-bundle" / "build.js").read_text()
    assert _recipe("FIRST") + _recipe("LATER") == app_module.plotly_bundle()[1]


def _plotly_scripts(app):
    html = app.server.test_client().get("/").get_data(as_text=True)
    return [s for s in re.findall(r'<script[^>]*src="([^"]+)"', html) if "plotly" in s]


def test_page_loads_the_bundle_only_when_its_plotly_js_matches_plotly_py(monkeypatch):
    version = app_module.plotly_bundle()[0]
    monkeypatch.setattr("plotly.offline.get_plotlyjs_version", lambda: version)
    assert _plotly_scripts(app_module.build_app(prefill=False)) == [
        f"/assets/{app_module.PLOTLY_BUNDLE}?v={version}"]
    monkeypatch.setattr("plotly.offline.get_plotlyjs_version", lambda: version + ".other")
    assert _plotly_scripts(app_module.build_app(prefill=False)) == []   # dcc loads the full one


def test_a_missing_or_foreign_file_is_not_taken_for_a_bundle(tmp_path, monkeypatch):
    monkeypatch.setattr(app_module, "ASSETS", tmp_path)
    assert app_module.plotly_bundle() is None
    (tmp_path / app_module.PLOTLY_BUNDLE).write_text("/*! plotly.js v4.1.1 */ var Plotly;\n")
    assert app_module.plotly_bundle() is None


@pytest.mark.skipif(not os.path.exists(browser.CHROMIUM), reason=f"no Chromium at {browser.CHROMIUM}")
def test_the_page_draws_with_the_bundle_and_never_fetches_the_full_plotly_js():
    sync_api = pytest.importorskip("playwright.sync_api")
    from dashboard.server import running

    with running() as url, sync_api.sync_playwright() as p:
        b = browser.launch(p)
        try:
            page = b.new_page()
            log = browser.watch_console(page)
            requested = []
            page.on("request", lambda r: requested.append(r.url))
            page.goto(url + "/")
            browser.wait_graph(page, ids.LAND_CONTOUR, 2)
            browser.wait_graph(page, ids.LAND_SURFACE, 2)
            browser.wait_idle(page)
            expect = get_plotlyjs_version() == app_module.plotly_bundle()[0]
            assert any(app_module.PLOTLY_BUNDLE in u for u in requested) == expect
            assert any("package_data/plotly.min.js" in u for u in requested) == (not expect)
            assert page.evaluate("() => Plotly.version") == get_plotlyjs_version()
            traces = set(page.evaluate("() => Object.keys(Plotly.PlotSchema.get().traces)"))
            assert used_trace_types() <= traces
            assert browser.console_problems(log) == []
        finally:
            b.close()


_LATER_JS = """async () => {
  const out = {before: Plotly.laterRegistered};
  const schema = () => Object.keys(Plotly.PlotSchema.get().traces);
  out.known_before = %s;
  const div = document.createElement('div');
  div.style.width = '300px'; div.style.height = '300px';
  document.body.appendChild(div);
  await Plotly.%s(div, [{type: %r, z: [[1, 2], [3, 4]], x: [0, 1], y: [0, 1]}], {});
  out.after = Plotly.laterRegistered;
  out.drawn = div._fullData.map(t => [t.type, t.visible]);
  out.scene = Boolean(div._fullLayout.scene);
  return out;
}"""


@pytest.mark.skipif(not os.path.exists(browser.CHROMIUM), reason=f"no Chromium at {browser.CHROMIUM}")
@pytest.mark.parametrize("call, trace", [("newPlot", "surface"), ("react", "scatter3d")])
def test_the_3d_traces_are_registered_before_the_first_figure_that_uses_them(call, trace):
    """The bundle alone on a blank page: the 3-D traces are not registered at load (their start-up
    is not paid before the first contour), and the first figure with one is drawn as that type, not
    dropped. Reference: plotly's own full data and schema of the drawn figure."""
    sync_api = pytest.importorskip("playwright.sync_api")
    body = (app_module.ASSETS / app_module.PLOTLY_BUNDLE).read_bytes()
    with sync_api.sync_playwright() as p:
        b = browser.launch(p)
        try:
            page = b.new_page()
            log = browser.watch_console(page)
            page.route("http://bundle.test/p.js", lambda r: r.fulfill(body=body, content_type="text/javascript"))
            page.route("http://bundle.test/", lambda r: r.fulfill(
                body='<html><body><script src="http://bundle.test/p.js"></script></body></html>',
                content_type="text/html"))
            page.goto("http://bundle.test/")
            out = page.evaluate(_LATER_JS % ("schema().includes('%s')" % trace, call, trace))
            assert out["before"] is False and out["known_before"] is False
            assert out["after"] is True and out["drawn"] == [[trace, True]] and out["scene"]
            assert browser.console_problems(log) == []
        finally:
            b.close()


@pytest.mark.skipif(not os.path.exists(browser.CHROMIUM), reason=f"no Chromium at {browser.CHROMIUM}")
def test_the_first_contour_is_drawn_before_the_3d_traces_are_registered():
    """On the dashboard's page load, the moment the first contour is drawn (watched from a script that
    runs before the page's own) the 3-D traces are still unregistered; the 3-D surface that follows
    is drawn all the same. Reference: the flag the bundle keeps, read by the watcher."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from dashboard.server import running

    watch = ("window.__later = null; (function poll() { if (%s) { window.__later = window.Plotly.laterRegistered; }"
             " else { requestAnimationFrame(poll); } })();" % browser.graph_drawn(ids.LAND_CONTOUR, 2))
    with running() as url, sync_api.sync_playwright() as p:
        b = browser.launch(p)
        try:
            ctx = b.new_context()
            ctx.add_init_script(watch)
            page = ctx.new_page()
            page.goto(url + "/")
            browser.wait_graph(page, ids.LAND_SURFACE, 2)
            assert page.evaluate("() => window.__later") is False
            assert page.evaluate("() => Plotly.laterRegistered") is True
            surface = page.evaluate(f"() => {browser._GD % repr(ids.LAND_SURFACE)}._fullData[0].type")
            assert surface == "surface"
        finally:
            b.close()
