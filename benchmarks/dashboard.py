"""Browser latency of the dashboard: a control change → the updated landscape figures (default 201² view).

    python benchmarks/dashboard.py [--n 20]

Serves the app from a thread, drives it with headless Chromium (Playwright) and prints a table.
Times run from sending the change (Enter / click) to: "contour", the 2-D landscape showing it
(its layout.meta tag changed, then two animation frames); "+ surface", the 3-D one too; "all
done", every follow-up callback finished (critical points, ρ̂, mask image). Target: the
updated figure within 500 ms (p50). The surface is drawn by software WebGL here (Chromium with
--disable-gpu), which costs ~0.3–1 s per render on its own; see the last rows.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard import browser, ids, logic, state  # noqa: E402
from dashboard.server import running  # noqa: E402

_META = ("() => ['land-contour', 'land-surface'].map(id => {"
         " const g = document.querySelector('#' + id + ' .js-plotly-plot');"
         " return g && g.layout && g.layout.meta ? JSON.stringify(g.layout.meta) : ''; })")
_CONTOUR = "(b) => { const m = (" + _META + ")(); return m[0] !== b[0]; }"
_BOTH = "(b) => { const m = (" + _META + ")(); return m[0] !== b[0] && m[1] !== b[1] && m[0] === m[1]; }"
_FRAME = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(1))))"
_IDLE = "() => document.querySelectorAll('[data-dash-is-loading=\"true\"]').length === 0"


def _measure(page, prepare, send) -> tuple[float, float, float]:
    """``prepare`` (type the value, open the dropdown) is not timed; ``send`` (Enter, click) is."""
    before = page.evaluate(_META)
    prepare()
    t0 = time.perf_counter()
    send()
    page.wait_for_function(_CONTOUR, arg=before, timeout=120_000, polling="raf")
    page.evaluate(_FRAME)
    t1 = time.perf_counter()
    page.wait_for_function(_BOTH, arg=before, timeout=120_000, polling="raf")
    page.evaluate(_FRAME)
    t2 = time.perf_counter()
    time.sleep(0.05)  # let the follow-up callbacks be dispatched
    page.wait_for_function(_IDLE, timeout=120_000)
    t3 = time.perf_counter()
    return 1e3 * (t1 - t0), 1e3 * (t2 - t0), 1e3 * (t3 - t0)


def _in_process_landscape_ms(reps: int = 5) -> float:
    ts = []
    for k in range(reps):
        cfg = state.BASE.replace(weight_seed=1000 + k)
        logic.problem_for(cfg)                       # build outside the timing
        t = time.perf_counter()
        logic.landscape_for(cfg)
        ts.append(1e3 * (time.perf_counter() - t))
    return statistics.median(ts)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20, help="changes per row")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    n = args.n
    acts = ["leaky_relu", "sigmoid", "tanh", "relu"]
    rows = []
    with running() as url, sync_playwright() as p:
        b = browser.launch(p)
        page = b.new_page(viewport={"width": 1400, "height": 950})
        page.goto(url + "/")
        browser.wait_graph(page, ids.LAND_CONTOUR, 2)
        browser.wait_graph(page, ids.LAND_SURFACE, 2)
        page.wait_for_function(_IDLE, timeout=120_000)
        def typed(control, text):
            return (lambda: page.fill(f"#{control}", text)), (lambda: page.press(f"#{control}", "Enter"))

        def chosen(value):
            return (lambda: page.click(f"#{ids.ACTIVATION}")), \
                (lambda: page.get_by_role("option", name=value, exact=True).click())

        def scale(value):
            return (lambda: None), (lambda: page.check(f"#{ids.SCALE} input[value={value}]"))

        cases = [
            ("weight seed (new G: problem + landscape)", lambda k: typed(ids.WEIGHT_SEED, str(k + 1))),
            ("activation (cycles 4, cached after 4)", lambda k: chosen(acts[k % 4])),
            ("ε (landscape cached: overlays only)", lambda k: typed(ids.EPS, f"{0.1 + 0.01 * (k + 1):.2f}")),
            ("colour scale log ↔ linear", lambda k: scale("linear" if k % 2 == 0 else "log")),
        ]
        for name, case in cases:
            rows.append((name, *zip(*[_measure(page, *case(k)) for k in range(n)])))
            print(f"  done: {name}", file=sys.stderr, flush=True)
        b.close()
    import torch

    torch.set_num_threads(1)   # as the server's request threads (see dashboard.app.build_app)
    core_ms = _in_process_landscape_ms()

    q = lambda xs, f: sorted(xs)[min(len(xs) - 1, int(f * len(xs)))]  # noqa: E731
    print(f"\nDashboard latency, default view (paper-fig4, 201² grid), {n} changes per row; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    med = statistics.median
    print(f"{'change':44s} {'contour p50':>12s} {'p90':>7s} {'max':>7s} {'+ surface p50':>14s} {'all done p50':>13s}")
    for name, c, b2, a in rows:
        print(f"{name:44s} {med(c):10.0f}ms {q(c, 0.9):5.0f}ms {max(c):5.0f}ms {med(b2):12.0f}ms {med(a):11.0f}ms")
    print(f"{'core landscape 201² alone (in-process)':44s} {core_ms:10.0f}ms")
    p50 = med(rows[0][1])
    print(f"\ntarget ≤ 500 ms: weight seed → contour p50 = {p50:.0f} ms ({'met' if p50 <= 500 else 'NOT met'}); "
          f"→ surface p50 = {med(rows[0][2]):.0f} ms")


if __name__ == "__main__":
    main()
