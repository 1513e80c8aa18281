"""The page's script tags: Dash's babel polyfill replaced by regenerator.js, dash_table's bundle left out."""
import re

from dashboard import app as appmod

MIN = ('return setTimeout(i(regeneratorRuntime.mark(function t(){return regeneratorRuntime.wrap(function(t)'
       '{for(;;)switch(t.prev=t.next){case 0:return t.next=2,r(!0);case 2:o.isReady=!0;case 3:case"end":'
       'return t.stop()}},t)})),0)')
DEV = ('regeneratorRuntime.mark((function e(){return regeneratorRuntime.wrap((function(e){for(;;)switch(e.prev=e.next)'
       '{case 0:return e.next=2,t(!0);case 2:o.isReady=!0;case 3:case"end":return e.stop()}}),e)})))')
TRY = ('regeneratorRuntime.wrap(function(t){for(;;)switch(t.prev=t.next){case 0:return t.prev=0,t.next=3,f();'
       'case 3:t.next=8;break;case 5:t.prev=5,t.t0=t.catch(0);case 8:case"end":return t.stop()}},t,null,[[0,5]])')
TAGS = ('<script src="/_dash-component-suites/dash/deps/polyfill@7.v4_4_1m1.12.1.min.js"></script>\n'
        '<script src="/_dash-component-suites/dash/deps/react@18.v4_4_1m1.3.1.min.js"></script>\n'
        '<script src="/_dash-component-suites/dash/dash_table/bundle.v7_4_1m1.js"></script>\n')


def test_regenerator_uses_reads_the_runtime_and_context_attributes():
    """Reference: the attributes read off the snippets by hand (Dash's minified and dev forms, and a
    generator with try/catch, which needs the runtime's catch and tryEntries: more than the shim has)."""
    assert appmod.regenerator_uses(MIN) == ({"mark", "wrap"}, {"prev", "next", "stop"})
    assert appmod.regenerator_uses(DEV) == ({"mark", "wrap"}, {"prev", "next", "stop"})
    runtime, context = appmod.regenerator_uses(TRY)
    assert runtime == {"wrap"} and context == {"prev", "next", "t0", "catch", "stop"}
    assert not context <= appmod.SHIM_CONTEXT


def test_the_installed_dash_needs_no_more_than_the_shim():
    assert appmod.shim_suffices() is True


def test_lean_scripts_replaces_the_polyfill_and_drops_an_unused_dash_table():
    out = appmod.lean_scripts(TAGS, "window.regeneratorRuntime = {};", dash_table=False)
    assert "polyfill@" not in out and "dash_table" not in out and "react@18" in out
    assert out.index("<script>window.regeneratorRuntime = {};</script>") < out.index("react@18")   # same place
    assert appmod.lean_scripts(TAGS, None, dash_table=True) == TAGS


def test_the_served_page_has_the_shim_and_no_polyfill():
    app = appmod.build_app(prefill=False)
    with app.server.test_request_context("/"):
        html = app.index()
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert not any("polyfill@" in s or "/dash_table/" in s for s in scripts), scripts
    assert (appmod.ASSETS / appmod.REGENERATOR).read_text(encoding="utf-8") in html
    assert any("dash_renderer" in s for s in scripts)


def test_the_icon_is_cached_and_nothing_else_is_changed():
    """The browser fetched Dash's icon after every URL change: it is now served cacheable (a day).
    The page itself and a callback response keep Dash's own headers."""
    app = appmod.build_app(prefill=False)
    client = app.server.test_client()
    icon = client.get("/_favicon.ico")
    assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"          # an .ico file
    assert icon.cache_control.public and icon.cache_control.max_age == 86400
    page = client.get("/")
    assert page.status_code == 200 and page.cache_control.max_age is None
