"""A few end-to-end checks in headless Chromium (Playwright): the page, a control, a click, a URL.

The app is served from a thread by :func:`dashboard.server.running`. Expected values come from
the paper (Fig. 4 a: descent on the ReLU net ends at z* = (0.8, −0.5)) and from what the test
types into the URL or the controls.
"""
import json
import math
import os
import re

import numpy as np
import pytest

from dashboard import browser, ids

if not os.path.exists(browser.CHROMIUM):
    pytest.skip(f"no Chromium at {browser.CHROMIUM} (set DASHBOARD_CHROMIUM)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

from dashboard.server import running  # noqa: E402


@pytest.fixture(scope="module")
def url():
    with running() as u:
        yield u


@pytest.fixture(scope="module")
def chromium():
    with sync_api.sync_playwright() as p:
        b = browser.launch(p)
        yield b
        b.close()


@pytest.fixture
def page(chromium):
    pg = chromium.new_page(viewport={"width": 1400, "height": 950})
    pg.console_log = browser.watch_console(pg)
    yield pg
    pg.close()


def _load(page, url, query=""):
    page.goto(url + "/" + query)
    browser.wait_graph(page, ids.LAND_CONTOUR, 2)
    browser.wait_graph(page, ids.LAND_SURFACE, 2)
    browser.wait_idle(page)


def test_page_loads_with_a_clean_console(page, url):
    _load(page, url)
    browser.wait_text(page, ids.RHO_TEXT, "ρ̂")                    # the slow callback finished too
    browser.wait_text(page, ids.CRITICAL_TEXT, "1 minimum")
    assert page.input_value(f"#{ids.Z_STAR}") == "0.8,-0.5"
    zs = browser.graph_json(page, ids.LAND_CONTOUR, "g._fullData.find(t => t.name === 'z*').x[0]")
    assert zs == pytest.approx(0.8, rel=1e-6)
    assert browser.console_problems(page.console_log) == []


_TICKS_OUTSIDE = """(id) => { const root = document.querySelector('#' + id + ' .js-plotly-plot'), box = root.getBoundingClientRect();
  const ticks = [...root.querySelectorAll('.xtick text, .ytick text, .cbaxis text')];
  const out = ticks.filter(t => { const r = t.getBoundingClientRect();
    return r.left < box.left || r.right > box.right || r.top < box.top || r.bottom > box.bottom ||
           getComputedStyle(t).display === 'none'; });
  return [ticks.length, out.map(t => t.textContent)]; }"""


def test_contour_tick_labels_lie_inside_the_graph(page, url):
    """The contour lets its tick labels overflow (plotly.js would otherwise measure each one on every
    redraw to hide those past the div): so every label of the two axes and the colour bar must lie
    within the graph's box, at the default view and after a change of the scale's range."""
    for query in ("", "?scale=linear&grid=41&extent=30"):
        _load(page, url, query)
        n, outside = page.evaluate(_TICKS_OUTSIDE, ids.LAND_CONTOUR)
        assert n >= 10 and outside == []


# The views behind the other tabs: the graph each one draws first when its tab opens.
HIDDEN_VIEWS = {ids.TAB_DESCENT: ids.DESC_CONTOUR, ids.TAB_COMPARE: ids.COMPARE, ids.TAB_COLLAPSE: ids.COLLAPSE_GRAPH,
                ids.TAB_BASINS: ids.BASIN_GRAPH, ids.TAB_IMAGES: ids.IMG_CONTOUR, ids.TAB_PHASE: ids.PHASE_GRAPH,
                ids.TAB_EXPECTED: ids.EXPECTED_HEATMAPS, ids.TAB_INPAINT: ids.INPAINT_IMAGES,
                ids.TAB_WEIGHTS: ids.WEIGHTS_HISTOGRAMS}
_DRAWN = """(id) => { const g = document.querySelector('#' + id + ' .js-plotly-plot');
  return Boolean(g && g._fullLayout && ((g.data || []).length > 0 || (g.layout.annotations || []).length > 0)); }"""


_ANIMATIONS_UNTIL_DRAWN = """
window.__animated = [];
(function tick() {
  const drawn = document.querySelector('#%s .main-svg');
  for (const a of document.getAnimations()) { window.__animated.push(a.animationName || a.transitionProperty || 'animation'); }
  if (!drawn) { requestAnimationFrame(tick); } else { window.__drawnAt = performance.now(); }
})();
"""


def test_no_spinner_animates_while_the_page_loads_but_a_slow_contour_shows_one(page, url, monkeypatch):
    """Every animation frame until the first contour is drawn, the page's running animations are
    recorded: there must be none (spinners shown at load animated until then, and beside a busy
    process those frames delayed the contour). A weight-seed change whose contour is made to take
    1.5 s (a sleep in the server's thread) must still show the contour's spinner, and lose it once
    the contour is there."""
    import time

    from dashboard import callbacks

    page.add_init_script(_ANIMATIONS_UNTIL_DRAWN % ids.LAND_CONTOUR)
    _load(page, url)
    assert page.evaluate("() => window.__drawnAt") > 0                     # the premise: the recorder ran
    assert page.evaluate("() => window.__animated") == []

    real = callbacks._contour

    def slow(*args, **kwargs):
        time.sleep(1.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(callbacks, "_contour", slow)
    spinner = (f"() => [...document.querySelectorAll('.dash-spinner')].some(s => s.closest('.col') && "
               f"s.closest('.col').querySelector('#{ids.LAND_CONTOUR}'))")
    browser.type_value(page, ids.WEIGHT_SEED, "17")
    page.wait_for_function(spinner, timeout=10_000)
    page.wait_for_function("() => location.search.includes('weight_seed=17')")
    browser.wait_idle(page)
    page.wait_for_function(f"() => !({spinner})()", timeout=10_000)
    assert browser.console_problems(page.console_log) == []


def test_page_load_asks_nothing_of_the_views_behind_other_tabs(page, url):
    """The landscape opens: every callback request until the page is idle is recorded (its outputs,
    from the request body). None may be for a view behind another tab, nor the descent's pair
    picture (no descent yet): each returned nothing, and each callback the page starts costs the
    browser its bookkeeping over the whole page before the first contour is drawn. Only the
    landscape's own follow-ups and the sync may be asked."""
    sent = []
    page.on("request", lambda r: sent.append(r.post_data or "") if "_dash-update-component" in r.url else None)
    _load(page, url)
    browser.wait_text(page, ids.CRITICAL_TEXT, "1 minimum")
    page.wait_for_timeout(300)
    assert any(ids.LAND_SURFACE in b for b in sent)                   # the premise: requests were recorded
    hidden = [*HIDDEN_VIEWS.values(), ids.DESC_SURFACE, ids.IMG_GRAPH, ids.DESC_PAIR]
    assert [h for h in hidden if any(f'"{h}.' in b or f'..{h}.' in b for b in sent)] == []


@pytest.mark.parametrize("tab", list(HIDDEN_VIEWS))
def test_each_view_opened_from_the_url_draws(page, url, tab):
    """A page opened on another tab (?view=…) draws that tab's view: its callbacks start from the
    tab the URL selects, not from the page load."""
    page.goto(url + f"/?view={tab}&grid=41")
    page.wait_for_function(_DRAWN, arg=HIDDEN_VIEWS[tab], timeout=60_000)
    browser.wait_idle(page)
    assert page.evaluate(_DRAWN, HIDDEN_VIEWS[tab])
    assert browser.console_problems(page.console_log) == []


# Records every Plotly.react: [graph id, start, end, whether the graph then holds a surface with data],
# and when the frame after the contour's first draw ran (__painted).
_RECORD_REACTS = """
window.__reacts = [];
let _P;
Object.defineProperty(window, 'Plotly', {configurable: true, get() { return _P; }, set(v) {
  _P = v;
  const react = v.react;
  v.react = function (gd, ...a) {
    const id = gd && gd.parentElement ? gd.parentElement.id : '', t0 = performance.now();
    // The contour's first draw held back 1.5 s, as a slow machine would: what follows must wait for it.
    const wait = id === 'land-contour' && window.__painted === undefined ? 1500 : 0;
    return new Promise(res => setTimeout(res, wait)).then(() => react.call(this, gd, ...a)).then(r => {
      const surf = (gd._fullData || []).some(t => t.type === 'surface' && t.z && t.z.length > 0);
      window.__reacts.push([id, t0, performance.now(), surf]);
      if (id === 'land-contour' && window.__painted === undefined) {   // the frame after its first draw
        window.__painted = null;
        requestAnimationFrame(() => requestAnimationFrame(() => { window.__painted = performance.now(); }));
      }
      return r;
    });
  };
}});
"""


def test_follow_ups_wait_until_the_first_contour_is_painted(page, url):
    """The 3-D surface (a long software-WebGL draw) is drawn only after the contour: its data arrives
    once the contour is painted (LAND_PAINTED), even when the contour's first draw is held back;
    reference: the order of plotly's own draws."""
    page.add_init_script(_RECORD_REACTS)
    _load(page, url)
    reacts = page.evaluate("window.__reacts")
    painted = page.evaluate("window.__painted")
    surface_start = min(t0 for gid, t0, _, surf in reacts if gid == ids.LAND_SURFACE and surf)
    assert painted is not None and surface_start > painted, (painted, reacts)
    assert page.evaluate(f"document.querySelector('#{ids.LAND_CONTOUR} .js-plotly-plot').layout.meta") is not None


def test_a_change_draws_the_surface_once_with_its_critical_points(page, url):
    """After a weight-seed change the 3-D surface waits for the critical points and is drawn once
    with them (a software-WebGL scene costs ~0.5 s of CPU a draw; drawn first without them and then
    patched, it cost two). Reference: plotly's own draws of the surface's graph, counted in the page,
    and the critical points the page reports in its text."""
    page.add_init_script(_RECORD_REACTS)
    _load(page, url)
    browser.wait_text(page, ids.CRITICAL_TEXT, "1 minimum")
    page.evaluate("window.__reacts = []")
    before = browser.graph_meta(page, ids.LAND_SURFACE)["config"]
    browser.type_value(page, ids.WEIGHT_SEED, "7")
    page.wait_for_function(
        "(b) => { const g = document.querySelector('#land-surface .js-plotly-plot');"
        " return g.layout.meta && g.layout.meta.config !== b; }", arg=before, timeout=60_000)
    browser.wait_idle(page)
    page.wait_for_timeout(500)
    draws = [r for r in page.evaluate("window.__reacts") if r[0] == ids.LAND_SURFACE]
    assert len(draws) == 1, draws
    minima = browser.graph_json(page, ids.LAND_SURFACE,
                                "g._fullData.filter(t => t.name === 'minimum').map(t => t.x.length)")
    assert minima and minima[0] >= 1
    assert "minimum" in page.inner_text(f"#{ids.CRITICAL_TEXT}")
    assert browser.console_problems(page.console_log) == []


def test_a_costly_generators_surface_does_not_wait_for_its_critical_points(page, url):
    """A shipped DCGAN's critical points take seconds (logic.critical_first is false): its surface is
    drawn as soon as the contour is painted, before they are known, and they are patched in when they
    come. Reference: the order of plotly's draws of the surface against the critical text's change."""
    from dashboard import logic, state

    assert not logic.critical_first(state.BASE.replace(generator="mnist", z_star=()))
    page.add_init_script(_RECORD_REACTS)
    page.add_init_script("""document.addEventListener('DOMContentLoaded', () => new MutationObserver(() => {
      const e = document.getElementById('%s');
      if (window.__known === undefined && e && /minim|saddle|none/.test(e.innerText)) { window.__known = performance.now(); }
    }).observe(document.body, {subtree: true, childList: true, characterData: true}));""" % ids.CRITICAL_TEXT)
    page.goto(url + "/?generator=mnist&grid=31")
    browser.wait_graph(page, ids.LAND_SURFACE, 2, timeout=60_000)
    page.wait_for_function("() => window.__known !== undefined", timeout=120_000)
    known = page.evaluate("window.__known")
    first = min(t0 for gid, t0, _, surf in page.evaluate("window.__reacts") if gid == ids.LAND_SURFACE and surf)
    browser.wait_idle(page)
    page.wait_for_timeout(300)
    draws = [r for r in page.evaluate("window.__reacts") if r[0] == ids.LAND_SURFACE and r[3]]
    assert first < known and len(draws) == 2, (first, known, draws)   # drawn, then the markers patched in
    assert browser.console_problems(page.console_log) == []


@pytest.mark.parametrize("scale", [1, 2])
def test_the_3d_view_is_drawn_at_the_screens_pixel_ratio(chromium, url, scale):
    """plotly.js draws WebGL at 2× by default; the surface's canvas must hold the screen's pixels
    (CSS size × devicePixelRatio), no more. Reference: the canvas's own size against its CSS size."""
    ctx = chromium.new_context(viewport={"width": 1400, "height": 950}, device_scale_factor=scale)
    try:
        pg = ctx.new_page()
        _load(pg, url)
        sizes = pg.evaluate(f"Array.from(document.querySelectorAll('#{ids.LAND_SURFACE} canvas'))"
                            ".map(c => [c.width, c.height, c.clientWidth, c.clientHeight])")
        assert sizes and all(w == scale * cw and h == scale * ch for w, h, cw, ch in sizes), sizes
    finally:
        ctx.close()


def test_follow_ups_start_where_no_animation_frame_comes(page, url):
    """A page that never gets an animation frame (a tab in the background, a headless page on virtual
    time): requestAnimationFrame does nothing. The contour is served with the page; the mask picture,
    the surface and the critical points must still follow (they waited forever when LAND_PAINTED
    relied on frames alone). Polled by timers, as the page's frames never come."""
    page.add_init_script("window.requestAnimationFrame = function () { return 0; };")
    page.goto(url + "/")
    drawn = "([id, n]) => { const g = document.querySelector('#' + id + ' .js-plotly-plot'); " \
            "return Boolean(g && g.data && g.data.length >= n && g._fullLayout); }"
    for graph, n in ((ids.LAND_CONTOUR, 2), (ids.MASK_IMAGE, 1), (ids.LAND_SURFACE, 2)):
        page.wait_for_function(drawn, arg=[graph, n], timeout=60_000, polling=100)
    page.wait_for_function("(id) => /1 minimum/.test(document.getElementById(id).innerText)",
                           arg=ids.CRITICAL_TEXT, timeout=60_000, polling=100)


def test_activation_changes_the_surface(page, url):
    _load(page, url, "?grid=51")
    before = browser.graph_meta(page, ids.LAND_SURFACE)["config"]
    z0 = browser.graph_json(page, ids.LAND_SURFACE, "Array.from(g._fullData[0].z[10]).slice(0, 5)")
    browser.choose(page, ids.ACTIVATION, "tanh")
    page.wait_for_function(
        "(b) => { const g = document.querySelector('#land-surface .js-plotly-plot');"
        " return g.layout.meta && g.layout.meta.config !== b; }", arg=before)
    z1 = browser.graph_json(page, ids.LAND_SURFACE, "Array.from(g._fullData[0].z[10]).slice(0, 5)")
    assert z1 != z0
    assert "activation=tanh" in page.url
    assert browser.console_problems(page.console_log) == []


def test_click_on_the_contour_descends_to_z_star(page, url):
    _load(page, url, "?grid=51")
    browser.click_data(page, ids.LAND_CONTOUR, -1.5, 1.5)
    text = browser.wait_text(page, ids.LAND_COUNTS, "recovered")
    assert text.endswith("recovered 1")
    page.wait_for_function("() => { const g = document.querySelector('#land-contour .js-plotly-plot');"
                           " const t = g._fullData.find(t => t.name === 'path: recovered'); return t && t.x.length > 2; }")
    xs = browser.graph_json(page, ids.LAND_CONTOUR, "Array.from(g._fullData.find(t => t.name === 'path: recovered').x)")
    ys = browser.graph_json(page, ids.LAND_CONTOUR, "Array.from(g._fullData.find(t => t.name === 'path: recovered').y)")
    assert math.hypot(xs[0] + 1.5, ys[0] - 1.5) < 0.1            # starts near the click (nearest grid point)
    assert math.hypot(xs[-1] - 0.8, ys[-1] + 0.5) < 1e-3          # ends at z*
    assert browser.console_problems(page.console_log) == []


def test_url_reproduces_the_config(page, url):
    _load(page, url, "?activation=tanh&grid=51&scale=linear")
    assert page.inner_text(f"#{ids.ACTIVATION}").strip() == "tanh"
    assert page.input_value(f"#{ids.GRID}") == "51"
    assert browser.graph_json(page, ids.LAND_CONTOUR, "g._fullData[g._fullData.length - 1].x.length") == 51
    assert page.is_checked(f"#{ids.SCALE} input[value=linear]")


def test_bad_value_shows_its_message_and_keeps_the_view(page, url):
    _load(page, url, "?grid=51")
    before = browser.graph_meta(page, ids.LAND_CONTOUR)["config"]
    browser.type_value(page, ids.RATE, "2")
    msg = browser.wait_text(page, ids.err(ids.RATE), "rate")
    assert re.search(r"rate: must be in \(0, 1\]", msg)
    assert browser.graph_meta(page, ids.LAND_CONTOUR)["config"] == before
    assert "rate=" not in page.url
    browser.type_value(page, ids.RATE, "0.3")
    page.wait_for_function("() => document.getElementById('err-rate').innerText === ''")
    assert "rate=0.3" in page.url


_COUNT_FRAMES = """
window.__frames = 0;
const raf = window.requestAnimationFrame.bind(window);
window.requestAnimationFrame = function (f) { window.__frames++; return raf(f); };
"""


def test_a_still_3d_scene_asks_for_no_frames_yet_follows_its_camera_and_the_pointer(page, url):
    """plotly.js's 3-D scene drew from an animation-frame loop that never stopped; the bundle's patch
    (dashboard/plotly-bundle/build.js, IDLE_SCENE) lets it look a few times a second while nothing
    moves. Reference: the page's own calls to requestAnimationFrame, counted over a still second
    (~60 before the patch). Then the scene must still follow: a camera set by relayout changes the
    surface's pixels, and the pointer over the surface shows plotly's hover label."""
    page.add_init_script(_COUNT_FRAMES)
    _load(page, url)
    page.wait_for_timeout(1500)                        # the loop's second at display rate after a draw
    start = page.evaluate("() => window.__frames")
    page.wait_for_timeout(1000)
    assert page.evaluate("() => window.__frames") - start < 10

    surface = page.locator(f"#{ids.LAND_SURFACE}")
    before = surface.screenshot()
    page.evaluate(f"() => Plotly.relayout({browser._GD % repr(ids.LAND_SURFACE)}, "
                  "{'scene.camera.eye': {x: 2.2, y: 0.2, z: 0.3}})")
    for _ in range(50):
        page.wait_for_timeout(100)
        if surface.screenshot() != before:
            break
    assert surface.screenshot() != before

    box = surface.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.55)
    page.mouse.move(box["x"] + box["width"] * 0.52, box["y"] + box["height"] * 0.56)
    page.wait_for_selector(f"#{ids.LAND_SURFACE} .hovertext", timeout=10_000)
    eye = f"() => {browser._GD % repr(ids.LAND_SURFACE)}._fullLayout.scene._scene.getCamera().eye"
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)    # a drag turns it
    eye_before = page.evaluate(eye)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(box["x"] + box["width"] * (0.3 + 0.03 * k), box["y"] + box["height"] * 0.3)
    page.mouse.up()
    eye_after = page.evaluate(eye)
    assert math.dist([eye_before[a] for a in "xyz"], [eye_after[a] for a in "xyz"]) > 0.1, (eye_before, eye_after)
    assert browser.console_problems(page.console_log) == []


def test_compare_cameras_rotate_together(page, url):
    page.goto(url + "/?grid=41&view=compare")
    browser.wait_graph(page, ids.COMPARE, 4)
    page.evaluate("() => { const g = document.querySelector('#compare-graph .js-plotly-plot');"
                  " return Plotly.relayout(g, {'scene3.camera': {eye: {x: 0.3, y: 2.0, z: 0.4}}}); }")
    page.wait_for_function("() => { const g = document.querySelector('#compare-graph .js-plotly-plot');"
                           " return Math.abs(g.layout.scene.camera.eye.y - 2.0) < 1e-9; }")
    eyes = browser.graph_json(page, ids.COMPARE, "['scene', 'scene2', 'scene3', 'scene4'].map(s => g.layout[s].camera.eye)")
    assert all(e == {"x": 0.3, "y": 2.0, "z": 0.4} for e in eyes)
    assert browser.console_problems(page.console_log) == []


def test_url_error_is_a_banner_quoting_the_dashboards_bounds(page, url):
    """Reference: state.DASH_LIMITS (grid ≤ 401 in the dashboard)."""
    page.goto(url + "/?grid=99999999")
    text = browser.wait_text(page, ids.BANNER, "grid")
    assert "grid: must be in [11, 401] in the dashboard" in text
    assert page.locator(f"#{ids.BANNER}").bounding_box()["y"] < 120          # at the top, not under the sidebar
    browser.wait_graph(page, ids.LAND_CONTOUR, 2)                             # and the default view is shown
    assert browser.console_problems(page.console_log) == []


def test_playback_runs_in_the_browser(page, url):
    """Every frame from the first to the last is drawn without one request to the server, on the player's
    own layer over the contour (no restyle of the figure per frame), and the slider ends on the last frame
    (reference: the descent's own iteration count in its end text)."""
    page.goto(url + "/?view=descent&grid=51&method=adam&steps=200&starts=5")
    browser.wait_graph(page, ids.DESC_CONTOUR, 2)
    page.click(f"#{ids.DESC_RANDOM}")
    browser.wait_text(page, ids.DESC_COUNTS, "5 random starts")
    browser.wait_text(page, ids.DESC_ITER_TEXT, r"^iteration (\d+) of \1$")      # a new descent shows its end
    browser.wait_idle(page)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if "_dash-update-component" in r.url else None)
    page.evaluate("""() => { window.__frames = new Set(); window.__restyles = 0;
        const g = document.querySelector('#desc-contour .js-plotly-plot');
        g.on('plotly_restyle', () => { window.__restyles += 1; });
        const poll = () => {
          const layer = g.querySelector('svg.playback-layer');
          if (layer && layer.querySelectorAll('circle').length) {
            window.__frames.add(document.getElementById('desc-iter-text').innerText);
          }
          if (!window.__stop) { requestAnimationFrame(poll); }
        };
        requestAnimationFrame(poll); }""")
    page.click(f"#{ids.DESC_PLAY}")
    browser.wait_text(page, ids.DESC_PLAY, "Pause")           # playing (the button still read Play at the click)
    browser.wait_text(page, ids.DESC_PLAY, "Play", timeout=60_000)
    n, restyles = page.evaluate("() => { window.__stop = true; return [window.__frames.size, window.__restyles]; }")
    assert n >= 50 and posts == []                            # ~101 frames, all drawn in the browser
    assert restyles <= 3                                      # the figure itself is restyled only when it stops
    assert page.evaluate("() => document.querySelector('#desc-contour svg.playback-layer') === null")
    hidden = browser.graph_json(page, ids.DESC_CONTOUR,
                                "Array.from(g.querySelectorAll('.scatterlayer .trace')).filter(e => e.style.visibility === 'hidden').length")
    assert hidden == 0                                        # the figure's own paths are back
    xs = browser.graph_json(page, ids.DESC_CONTOUR, "Array.from(g._fullData.find(t => t.name === 'current').x)")
    assert len(xs) == 5
    end = browser.wait_text(page, ids.DESC_ITER_TEXT, r"^iteration (\d+) of \1$")
    last = int(end.split()[-1])
    seen = [int(t.split()[1]) for t in page.evaluate("() => Array.from(window.__frames)")]
    assert max(seen) >= last - 4                              # the layer drew frames up to the end, the figure the last
    assert browser.console_problems(page.console_log) == []


def test_playback_layer_draws_where_the_figure_does(page, url):
    """Paused mid-way, the layer's current points (pixels) are where the figure's own 'current' trace,
    restyled to the same frame, is drawn by plotly's axes (reference: l2p of the trace's data)."""
    page.goto(url + "/?view=descent&grid=51&method=adam&steps=200&starts=5")
    browser.wait_graph(page, ids.DESC_CONTOUR, 2)
    page.click(f"#{ids.DESC_RANDOM}")
    browser.wait_text(page, ids.DESC_COUNTS, "5 random starts")
    browser.wait_text(page, ids.DESC_ITER_TEXT, r"^iteration (\d+) of \1$")
    browser.wait_idle(page)
    # Every frame the layer draws is recorded (a MutationObserver runs right after the frame's drawing,
    # before the next event), so the frame playback pauses on is among them.
    page.evaluate("""() => { window.__dots = {};
        const g = document.querySelector('#desc-contour .js-plotly-plot');
        const text = document.getElementById('desc-iter-text');
        const record = () => {
          const layer = g.querySelector('svg.playback-layer');
          if (!layer || window.__stop) { return; }
          const groups = layer.querySelectorAll('g');
          window.__dots[text.innerText] = Array.from(groups[groups.length - 1].querySelectorAll('circle'))
            .map(c => [+c.getAttribute('cx'), +c.getAttribute('cy')]);
        };
        new MutationObserver(record).observe(g, {subtree: true, attributes: true, childList: true});
        new MutationObserver(record).observe(text, {subtree: true, childList: true, characterData: true}); }""")
    page.click(f"#{ids.DESC_PLAY}")
    page.wait_for_function("() => Object.keys(window.__dots).length >= 10")
    page.click(f"#{ids.DESC_PLAY}")                           # pause
    browser.wait_text(page, ids.DESC_PLAY, "Play")
    browser.wait_idle(page)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(1))))")
    text = page.inner_text(f"#{ids.DESC_ITER_TEXT}")
    dots = page.evaluate("(t) => { window.__stop = true; return window.__dots[t]; }", text)
    assert dots and len(dots) == 5
    want = browser.graph_json(page, ids.DESC_CONTOUR, """(() => {
        const t = g._fullData.find(t => t.name === 'current'), xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis;
        return Array.from(t.x).map((x, k) => [xa._offset + xa.l2p(x), ya._offset + ya.l2p(t.y[k])]); })()""")
    assert [c for d in sorted(dots) for c in d] == pytest.approx([c for d in sorted(want) for c in d], abs=0.2)
    assert browser.console_problems(page.console_log) == []


def test_pages_keep_their_settings_in_the_url_and_hide_the_sidebar(page, url):
    page.goto(url + "/?view=phase&phase.trials=7&phase.rates=0.1,0.5")
    page.wait_for_function("() => { const e = document.getElementById('phase-trials'); return e && e.value === '7'; }")
    assert page.input_value(f"#{ids.PHASE_RATES}") == "0.1,0.5"
    page.wait_for_selector(f"#{ids.SIDEBAR}", state="hidden", timeout=10_000)
    browser.type_value(page, ids.PHASE_RESTARTS, "3")
    page.wait_for_function("() => location.search.includes('phase.restarts=3')")
    assert "phase.trials=7" in page.url and "view=phase" in page.url
    page.click(f"#{ids.TABS} .tab:has-text('Landscape')")
    page.wait_for_function("() => !location.search.includes('view=phase')")
    # the sidebar's clientside callback takes the tab from the URL sync's output, so it may run a
    # moment after the address changed: wait for it (the test still fails if it never shows)
    page.wait_for_selector(f"#{ids.SIDEBAR}", state="visible", timeout=10_000)
    assert "phase.trials=7" in page.url
    assert browser.console_problems(page.console_log) == []


def test_phase_cancel_stops_the_page_at_once_while_a_step_still_runs(page, url, monkeypatch):
    """A phase step is made to take 3 s (a sleep before the real step, in the server's thread). Cancel
    pressed while it runs must show "cancelled" at once, and the step's late answer must not undo
    it: Cancel and the timer are inputs of one callback, so Dash drops the earlier call's answer.
    The server's step itself stops: its solves see the Cancel (jobs.InFlight) and raise."""
    import time

    from dashboard.pages import phase as phase_page

    from core.stop import Cancelled

    real, ended = phase_page.job_step, []

    def slow(job, k):
        time.sleep(3.0)
        try:
            out = real(job, k)
        except Cancelled:
            ended.append("stopped")
            raise
        ended.append("finished")
        return out

    monkeypatch.setattr(phase_page, "job_step", slow)
    page.goto(url + "/?view=phase&phase.trials=4&phase.rates=0.1,0.5")
    page.wait_for_function("() => { const e = document.getElementById('phase-trials'); return e && e.value === '4'; }")
    page.click(f"#{ids.PHASE_START}")
    browser.wait_text(page, ids.PHASE_STATUS, "running", timeout=10_000)
    page.wait_for_timeout(500)
    t0 = time.perf_counter()
    page.click(f"#{ids.PHASE_CANCEL}")
    browser.wait_text(page, ids.PHASE_STATUS, "cancelled", timeout=10_000)
    assert time.perf_counter() - t0 < 2.0
    page.wait_for_timeout(4_000)                                   # the step in flight has answered by now
    text = page.inner_text(f"#{ids.PHASE_STATUS}")
    assert "cancelled" in text and text.startswith("0 of 6 cells"), text   # 3 patterns × 2 rates, none done
    assert ended == ["stopped"]              # the server stopped the step at its first solver iteration
    assert browser.console_problems(page.console_log) == []


def test_a_main_control_change_asks_nothing_of_the_pages_or_hidden_views(page, url):
    """A weight-seed change on the landscape tab: every callback request it causes is recorded (its
    outputs, from the request body); none may be a page's URL sync or a hidden tab's view (they
    returned nothing, one round trip each). Then the browser goes back: the page's URL sync must
    still set its control from the URL it returns to, and the descent tab's view must follow the
    config once that tab is shown."""
    _load(page, url)
    sent = []
    page.on("request", lambda r: sent.append(r.post_data or "") if "_dash-update-component" in r.url else None)
    browser.type_value(page, ids.WEIGHT_SEED, "5")
    page.wait_for_function("() => location.search.includes('weight_seed=5')")
    browser.wait_graph(page, ids.LAND_SURFACE, 2)
    browser.wait_idle(page)
    page.wait_for_timeout(300)
    assert any(ids.LAND_CONTOUR in b for b in sent)                   # the premise: requests were recorded
    pages = [ids.PHASE_GENERATOR, ids.EXPECTED_PRESET, ids.INPAINT_GENERATOR, *ids.VIEW_STORES.values()]
    assert [p for p in pages if any(p + "." in b for b in sent)] == []
    # a page's keys arriving with a URL (history) still reach its controls
    page.goto(url + "/?view=phase&phase.trials=9")
    page.wait_for_function("() => { const e = document.getElementById('phase-trials'); return e && e.value === '9'; }")
    browser.type_value(page, ids.PHASE_TRIALS, "11")
    page.wait_for_function("() => location.search.includes('phase.trials=11')")
    page.go_back()
    page.wait_for_function("() => location.search.includes('phase.trials=9')")
    page.wait_for_function("() => { const e = document.getElementById('phase-trials'); return e && e.value === '9'; }")
    # the descent tab's view follows the config once shown
    page.click(f"#{ids.TABS} .tab:has-text('Descent')")
    browser.wait_graph(page, ids.DESC_CONTOUR, 2)
    assert browser.console_problems(page.console_log) == []


def test_the_mask_picture_follows_the_config_on_another_tab(page, url):
    """The sidebar's mask picture is shown on the Descent tab too. Reference: the mask of the new
    seed as core draws it (logic.mask_of), against the picture's pixels, before and after a change
    made there; the descent view follows that change (its figure's config tag); and the landscape's
    follow-ups do not start until the landscape is shown."""
    from dashboard import logic, state

    page.goto(url + "/?grid=41&view=descent")
    browser.wait_graph(page, ids.DESC_CONTOUR, 2)
    browser.wait_idle(page)
    picture = "Array.from(g._fullData[0].z, r => Array.from(r))"
    from dashboard import figures

    def want(seed):   # the picture of that seed's mask, as the server draws it
        fig = figures.mask_figure(logic.mask_of(state.BASE.replace(grid=41, mask_seed=seed)))
        return np.asarray(fig.data[0].z, float)

    page.wait_for_function("() => { const g = document.querySelector('#mask-image .js-plotly-plot');"
                           " return g && g.data && g.data.length > 0; }")
    first = np.asarray(browser.graph_json(page, ids.MASK_IMAGE, picture), float)
    assert np.array_equal(first, want(0)) and not np.array_equal(want(3), want(0))
    sent = []
    page.on("request", lambda r: sent.append(r.post_data or "") if "_dash-update-component" in r.url else None)
    browser.type_value(page, ids.MASK_SEED, "3")
    page.wait_for_function("() => location.search.includes('mask_seed=3')")
    page.wait_for_function(
        "(old) => { const g = document.querySelector('#mask-image .js-plotly-plot');"
        " return g && g._fullData && g._fullData.length > 0"
        " && JSON.stringify(Array.from(g._fullData[0].z, r => Array.from(r))) !== old; }",
        arg=json.dumps(first.astype(int).tolist()).replace(" ", ""), timeout=30_000)
    now = np.asarray(browser.graph_json(page, ids.MASK_IMAGE, picture), float)
    assert np.array_equal(now, want(3))
    # the descent view shown follows the change made on its tab (its view store, set by ``shown``)
    page.wait_for_function(
        "(tag) => { const g = document.querySelector('#%s .js-plotly-plot');"
        " return g && g.layout && g.layout.meta && g.layout.meta.config === tag; }" % ids.DESC_CONTOUR,
        arg=logic.config_tag(state.BASE.replace(grid=41, mask_seed=3)), timeout=60_000)
    browser.wait_idle(page)
    assert not any(ids.LAND_SURFACE + "." in b or ids.CRITICAL + "." in b for b in sent)
    # back on the landscape, its follow-ups catch up with the config changed elsewhere
    page.click(f"#{ids.TABS} .tab:has-text('Landscape')")
    browser.wait_graph(page, ids.LAND_CONTOUR, 2)
    page.wait_for_function(
        "() => { const m = id => { const g = document.querySelector('#' + id + ' .js-plotly-plot');"
        " return g && g.layout && g.layout.meta ? g.layout.meta.config : null; };"
        " return m('land-surface') !== null && m('land-surface') === m('land-contour'); }", timeout=60_000)
    assert browser.graph_meta(page, ids.LAND_SURFACE)["config"] == logic.config_tag(state.BASE.replace(grid=41,
                                                                                                       mask_seed=3))
    assert browser.console_problems(page.console_log) == []


def test_url_slice_is_cut_in_the_browser_as_on_the_server(page, url):
    """Reference: dashboard.pages.url.url_slice (Python) on the same search strings as urlSlice (JS)."""
    from dashboard.pages.url import url_slice

    _load(page, url, "?grid=51")
    searches = ["", "?", "?phase.trials=7", "?grid=51&phase.trials=7&expected.grid=31&phase.rates=0.1%2C0.5",
                "?phase%2Etrials=3&phasex=1&phase=2", "?a=1&phase.note=a+b&phase.x", "?phase.+=1&+phase.y=2"]
    got = page.evaluate("""(ss) => ss.map(s => window.dash_clientside.dashboard.urlSlice(s, '\\u0000', 'phase.'))""",
                        searches)
    assert got == [url_slice(q, "phase.") for q in searches]
    assert got[3] == "phase.trials=7&phase.rates=0.1%2C0.5" and got[4] == "phase%2Etrials=3"


def test_the_sidebars_first_state_is_what_its_clientside_callbacks_set(page, url):
    """The page load runs no callback for the sidebar's boxes and fields: the layout carries them for
    its first values, and the clientside callbacks look up tables made by the same functions
    (layout.generator_boxes, layout.solver_fields). References: those functions, written out for the
    cases seen here (the paper's family: its box only; a shipped DCGAN: the class box only; L-BFGS:
    neither field; Gauss–Newton: damping; Adam: the step), on the page as loaded, on a page whose URL
    brings another source and method (through the sync), and after a click on a method."""
    from dashboard import layout, state

    assert layout.generator_boxes("conv") == [{}, layout.HIDE, layout.HIDE]
    assert layout.generator_boxes("mnist") == [layout.HIDE, layout.HIDE, {}]
    assert layout.generator_boxes("custom") == [layout.HIDE, {}, layout.HIDE]
    assert [layout.solver_fields(m) for m in ("lbfgs", "gauss_newton", "adam")] == [[True, True], [True, False],
                                                                                   [False, True]]

    def shown():
        return page.evaluate("""(ids) => ids.map(id => getComputedStyle(document.getElementById(id)).display !== 'none')""",
                             [ids.FAMILY_BOX, ids.GENERATOR_TEXT + "-box", ids.LABEL + "-box", ids.SIDEBAR])

    def disabled():
        return [page.is_disabled(f"#{ids.LR}"), page.is_disabled(f"#{ids.DAMPING}")]

    _load(page, url, "?grid=41")
    base = state.controls_from_config(state.BASE)
    assert shown() == [s != layout.HIDE for s in layout.generator_boxes(base["generator_kind"])] + [True]
    assert disabled() == layout.solver_fields(base["method"])
    page.goto(url + "/?generator=mnist&grid=41&method=gauss_newton")
    browser.wait_graph(page, ids.LAND_CONTOUR, 2, timeout=120_000)
    page.wait_for_function("(id) => getComputedStyle(document.getElementById(id)).display !== 'none'",
                           arg=ids.LABEL + "-box")
    assert shown() == [False, False, True, True]
    assert disabled() == [True, False]
    page.click(f"#{ids.METHOD} label:has-text('Adam')")
    page.wait_for_function("(id) => !document.getElementById(id).disabled", arg=ids.LR)
    assert disabled() == [False, True]
    assert browser.console_problems(page.console_log) == []


def test_the_regenerator_shim_steps_dashs_generator_as_a_native_generator_does(page, url):
    """Dash's one compiled generator (yield a promise, then set a flag), run by the page's
    regeneratorRuntime, against the same generator written natively (function*): the same
    {value, done} at every step, the flag set at the same step, and the page has no polyfill."""
    _load(page, url, "?grid=51")
    steps = page.evaluate("""() => {
        const run = (it, o) => { const out = [];
            for (let k = 0; k < 4; k++) { const s = it.next(k); out.push([s.value === undefined ? null : s.value, s.done, o.isReady]); }
            return out; };
        const o1 = {isReady: false}, r1 = x => 'yielded ' + x;
        const compiled = regeneratorRuntime.mark(function t() { return regeneratorRuntime.wrap(function (t) {
            for (;;) switch (t.prev = t.next) { case 0: return t.next = 2, r1(!0); case 2: o1.isReady = !0;
                                                case 3: case "end": return t.stop(); } }, t); });
        const o2 = {isReady: false}, r2 = x => 'yielded ' + x;
        const native = function* () { yield r2(true); o2.isReady = true; };
        return [run(compiled(), o1), run(native(), o2), document.querySelectorAll('script[src*="polyfill"]').length];
    }""")
    assert steps[0] == steps[1] and steps[2] == 0
    assert steps[0][0] == ["yielded true", False, False] and steps[0][1] == [None, True, True]


def test_figure_png_downloads_the_visible_graph(page, url):
    _load(page, url, "?grid=51")
    with page.expect_download() as d:
        page.click(f"#{ids.DL_PNG}")
    assert d.value.suggested_filename == "landscape.png"
    assert browser.console_problems(page.console_log) == []


def test_endpoint_plane_waits_for_random_starts_then_draws(page, url):
    """The endpoint plane needs a descent: the page says so, and draws the plane once the random
    starts of the Descent tab ran (core.planes: the plane goes through z* and a descent's end ẑ)."""
    page.goto(url + "/?plane=endpoint&grid=41&starts=8&steps=60")
    slow = 150_000     # a busy shared machine: each step took 5–30 s when this test was written
    browser.wait_text(page, ids.PLANE_TEXT, "launch the 8 random starts", timeout=slow)
    # The contour is a message without traces: the follow-ups still run (LAND_PAINTED) and say they wait.
    browser.wait_text(page, ids.RHO_TEXT, "follow once the plane is drawn", timeout=30_000)
    page.click(f"#{ids.TABS} >> text=Descent", timeout=slow)
    page.click(f"#{ids.DESC_RANDOM}", timeout=slow)
    browser.wait_text(page, ids.DESC_COUNTS, "8 random starts", timeout=slow)
    page.click(f"#{ids.TABS} >> text=Landscape", timeout=slow)
    text = browser.wait_text(page, ids.PLANE_TEXT, "Plane endpoint", timeout=slow)
    assert "d1 = (" in text and "d2 = (" in text
    browser.wait_graph(page, ids.LAND_CONTOUR, 2)
    names = browser.graph_json(page, ids.LAND_CONTOUR, "g._fullData.map(t => t.name)")
    assert "plane points" in names and "z*" in names
    assert browser.console_problems(page.console_log) == []


def _slow_for_seed_5(monkeypatch, owner, name: str) -> list:
    """Wrap ``owner.name(cfg, …)`` so that for weight seed 5 it first loops 20 s asking
    core.stop.check_stop (in the server's thread); each call is recorded in the returned list as
    {"seed", "end": "stopped" | "finished"}."""
    import time

    from core.stop import Cancelled, check_stop

    real, runs = getattr(owner, name), []

    def slow(cfg, *a):
        rec = {"seed": cfg.weight_seed, "end": None}
        runs.append(rec)
        try:
            for _ in range(2000 if cfg.weight_seed == 5 else 0):
                check_stop()
                time.sleep(0.01)
            out = real(cfg, *a)
        except Cancelled:
            rec["end"] = "stopped"
            raise
        rec["end"] = "finished"
        return out

    monkeypatch.setattr(owner, name, slow)
    return runs


def _wait_until(cond, what: str, seconds: float = 30) -> None:
    import time

    t0 = time.perf_counter()
    while not cond() and time.perf_counter() - t0 < seconds:
        time.sleep(0.02)
    assert cond(), what


@pytest.mark.parametrize("follow_up", ["injectivity", "descent"])
def test_a_tabs_sigma_map_and_descents_of_a_view_it_has_left_stop(page, url, monkeypatch, follow_up):
    """The σ_min map (ticked) or the random descents of weight seed 5 are made slow (a loop asking
    core.stop.check_stop, 20 s unless stopped, in the server's thread). The seed changes to 6 while
    they run: seed 5's computation must stop (it raises Cancelled), and seed 6's must run to the
    end and be shown."""
    from dashboard import logic, planes

    owner, name = (planes, "injectivity_view") if follow_up == "injectivity" else (logic, "run_descent")
    runs = _slow_for_seed_5(monkeypatch, owner, name)
    wait = _wait_until

    def seed(value):
        page.fill(f"#{ids.WEIGHT_SEED}", value)
        page.press(f"#{ids.WEIGHT_SEED}", "Enter")

    if follow_up == "injectivity":
        _load(page, url, "?grid=51")
        page.click(f"#{ids.INJ_TOGGLE} input", timeout=120_000)
        browser.wait_text(page, ids.INJ_TEXT, "σ_min of the", timeout=120_000)
        seed("5")
    else:
        page.goto(url + "/?view=descent&grid=51&starts=5&steps=50")
        browser.wait_graph(page, ids.DESC_CONTOUR, 2)
        browser.wait_idle(page)
        seed("5")
        browser.wait_idle(page)
        page.click(f"#{ids.DESC_RANDOM}")
    wait(lambda: any(r["seed"] == 5 for r in runs), "seed 5's computation never started")
    seed("6")
    wait(lambda: [r["end"] for r in runs if r["seed"] == 5] == ["stopped"], "seed 5's computation did not stop")
    if follow_up == "descent":
        browser.wait_idle(page)
        page.click(f"#{ids.DESC_RANDOM}")
    wait(lambda: [r["end"] for r in runs if r["seed"] == 6] == ["finished"], "seed 6's computation did not come")
    browser.wait_idle(page)
    if follow_up == "injectivity":
        assert "σ_min of the" in page.inner_text(f"#{ids.INJ_TEXT}")
    else:
        browser.wait_text(page, ids.DESC_COUNTS, "5 random starts", timeout=60_000)
    assert browser.console_problems(page.console_log) == []


def test_injectivity_map_is_drawn_while_ticked(page, url):
    """paper-fig4 (Fig. 4 a): G is locally injective, so σ_min > 0 over the window but at 0 itself."""
    _load(page, url, "?grid=51")
    page.click(f"#{ids.INJ_TOGGLE} input", timeout=120_000)
    browser.wait_text(page, ids.INJ_TEXT, "σ_min of the", timeout=120_000)
    browser.wait_graph(page, ids.INJ_GRAPH, 2)
    title = browser.graph_json(page, ids.INJ_GRAPH, "g._fullData[1].colorbar.title.text")
    assert title.startswith("log10(σ_min + floor)")
    assert browser.console_problems(page.console_log) == []


def test_a_tabs_follow_ups_of_a_view_it_has_left_stop(page, url, monkeypatch):
    """The critical points of weight seed 5 are made slow (a loop asking core.stop.check_stop, 20 s
    unless stopped, in the server's thread). The seed changes to 6 while they compute: the seed-5
    computation must stop (it raises Cancelled), and seed 6's critical points must be computed to the
    end and shown."""
    from dashboard import logic

    runs = _slow_for_seed_5(monkeypatch, logic, "critical_for")
    wait = _wait_until
    page.goto(url + "/")
    browser.wait_graph(page, ids.LAND_CONTOUR, 2)
    browser.wait_idle(page)
    for seed in ("5", "6"):
        page.fill(f"#{ids.WEIGHT_SEED}", seed)
        page.press(f"#{ids.WEIGHT_SEED}", "Enter")
        if seed == "5":
            wait(lambda: any(r["seed"] == 5 for r in runs), "seed 5's critical points never started")
    wait(lambda: [r["end"] for r in runs if r["seed"] == 5] == ["stopped"], "seed 5's computation did not stop")
    wait(lambda: [r["end"] for r in runs if r["seed"] == 6] == ["finished"], "seed 6's critical points did not come")
    browser.wait_idle(page)
    assert "critical points in the window" in page.inner_text(f"#{ids.CRITICAL_TEXT}")
    assert browser.console_problems(page.console_log) == []
