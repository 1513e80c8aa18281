"""Headless-Chromium helpers shared by the browser tests, the benchmark and the screenshots."""
from __future__ import annotations

import os
import re

CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

# Chromium's own notes about software WebGL / canvas readback: not the page's fault.
BENIGN = re.compile(r"GL Driver Message|GPU stall|WebGL|willReadFrequently|SwiftShader|GroupMarkerNotSet")

_GD = "document.querySelector('#' + CSS.escape(%s) + ' .js-plotly-plot')"


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def console_problems(messages: list) -> list:
    """Errors and warnings of the console log, minus Chromium's GL notes. ``messages``: (type, text)."""
    return [(t, m) for t, m in messages if t in ("error", "warning", "pageerror") and not BENIGN.search(m)]


def watch_console(page) -> list:
    log: list = []
    page.on("console", lambda m: log.append((m.type, m.text)))
    page.on("pageerror", lambda e: log.append(("pageerror", str(e))))
    return log


def graph_drawn(graph_id: str, min_traces: int = 1) -> str:
    """A JS expression: whether the graph has drawn at least ``min_traces`` traces."""
    gd = _GD % repr(graph_id)
    return (f"(() => {{ const g = {gd}; return Boolean(g && g.data && g.data.length >= {min_traces}"
            f" && g._fullLayout && !g._transitioning); }})()")


def wait_graph(page, graph_id: str, min_traces: int = 1, timeout: float = 60_000) -> None:
    """Wait until the graph has drawn at least ``min_traces`` traces."""
    page.wait_for_function(f"() => {graph_drawn(graph_id, min_traces)}", timeout=timeout)


def graph_meta(page, graph_id: str):
    return page.evaluate(f"() => {{ const g = {_GD % repr(graph_id)}; return g && g.layout ? g.layout.meta : null; }}")


def graph_json(page, graph_id: str, expr: str):
    """Evaluate a JS expression on the graph div ``g`` (e.g. "g.data[0].z[0][0]")."""
    return page.evaluate(f"() => {{ const g = {_GD % repr(graph_id)}; return {expr}; }}")


def data_to_page(page, graph_id: str, x: float, y: float) -> tuple[float, float]:
    """Page pixel of the data point (x, y) of a 2-D graph."""
    return tuple(page.evaluate(
        f"""([x, y]) => {{
            const g = {_GD % repr(graph_id)};
            const fl = g._fullLayout, r = g.getBoundingClientRect();
            return [r.left + fl.xaxis._offset + fl.xaxis.l2p(x), r.top + fl.yaxis._offset + fl.yaxis.l2p(y)];
        }}""", [x, y]))


def click_data(page, graph_id: str, x: float, y: float) -> None:
    px, py = data_to_page(page, graph_id, x, y)
    page.mouse.move(px, py)
    page.mouse.click(px, py)


def wait_text(page, element_id: str, pattern: str, timeout: float = 60_000) -> str:
    """Wait until the element's text matches the regular expression ``pattern``; return the text."""
    page.wait_for_function(
        "([id, pat]) => { const e = document.getElementById(id); return e && new RegExp(pat).test(e.innerText); }",
        arg=[element_id, pattern], timeout=timeout)
    return page.inner_text(f"#{element_id}")


def choose(page, dropdown_id: str, value: str) -> None:
    """Pick ``value`` in a dcc.Dropdown."""
    page.click(f"#{dropdown_id}")
    page.get_by_role("option", name=value, exact=True).click()


def type_value(page, input_id: str, text: str) -> None:
    """Replace a text control's value and send it (the inputs are debounced: Enter sends)."""
    page.fill(f"#{input_id}", text)
    page.press(f"#{input_id}", "Enter")


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until no Dash component is waiting for a callback."""
    page.wait_for_timeout(50)
    page.wait_for_function("() => document.querySelectorAll('[data-dash-is-loading=\"true\"]').length === 0",
                           timeout=timeout)
