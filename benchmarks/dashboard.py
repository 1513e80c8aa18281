"""Browser latency and playback rate of the dashboard, idle and with one busy process: prints a table.

    python benchmarks/dashboard.py [--n 20] [--repeats 3] [--quick] [--no-busy]

Serves the app from a thread (:func:`dashboard.server.running`), drives it with headless Chromium
(Playwright, ``dashboard.browser.launch``) and measures, in an "idle" column (the machine as it is;
its load average is printed beside it) and a "1 busy" column (one busy-looping process beside it):

* page open → first contour: from the navigation's start (a fresh browser context: nothing cached)
  to the default 201² contour drawn (its traces in place, then two animation frames), in the page's
  own clock like the changes below: a watcher installed before the page's scripts runs it. Beside
  it, the wall time from ``page.goto`` until Playwright has seen the contour and waited two more
  frames (its round trips included; by then the follow-ups are running). The first contour is
  served inside the page (``dashboard.app.first_view``), so no callback is waited for;
* control change → updated contour: the weight seed is typed and sent (Enter), which builds a new
  problem and landscape on the server; the time runs in the page's own clock from just before the
  Enter to the contour's ``layout.meta`` changing plus two animation frames ("+ surface": the 3-D
  view too, software WebGL here). Every change uses a seed not seen before (no cache hit); the next
  change waits until every follow-up callback finished. p50 and p90 over ``--n`` changes, [min–max].
  Beside it, where a lone change's time went (p50 of each part, in the page's clock): until the
  request carrying the contour left (Dash's renderer), the server's answer, the response handled
  through the end of the contour's ``Plotly.react``, and the rest until drawn (two frames);
* descent playback: ``/?view=descent&method=adam&steps=200&starts=5`` at grid 51 and the default 201:
  random starts, then Play; a frame is a new "iteration i of N" text seen by a requestAnimationFrame
  poll (so drawn), frames/s = (distinct texts − 1) / (last − first first-seen time). Beside it: the
  ``plotly_restyle`` events of the 2-D contour and the main thread's long tasks (> 50 ms);
* two tabs (two browser windows, each its own context, as two users or two windows side by side)
  sending a weight-seed change at the same moment: each tab's p50 against a lone tab's p50 measured
  the same way. Two pages of one context are not used: there Chromium throttles the rendering of the
  page that is not in front (its contour took 1.3–3.1 s to appear while the server answered both
  tabs' requests within 0.7 s), which measures the browser, not the server.
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Busy, load_average, print_table, spread  # noqa: E402
from dashboard import browser, ids, logic, state  # noqa: E402
from dashboard.server import running  # noqa: E402

VIEWPORT = {"width": 1400, "height": 950}
PLAYBACK = "/?view=descent&method=adam&steps=200&starts=5"
_FRAME = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(1))))"
_IDLE = "() => document.querySelectorAll('[data-dash-is-loading=\"true\"]').length === 0"

# Installed before the page's scripts: the time from the navigation's start (performance.now()) to
# the contour drawn as browser.wait_graph sees it (two traces, laid out), plus two animation frames.
_FIRST_PAINT = """window.__firstPaint = null; (function poll() {
  if (%s) {
    requestAnimationFrame(() => requestAnimationFrame(() => { window.__firstPaint = performance.now(); }));
  } else { requestAnimationFrame(poll); }
})();""" % browser.graph_drawn(ids.LAND_CONTOUR, 2)

# Installed once per page: notes, for the change being timed (window.__ph, set by _ARM), when the
# request that carries the contour left and was answered (fetch), and when Plotly.react of the
# contour started and ended (its promise), in the page's clock.
_PHASES = """() => {
  if (window.__phasesHooked) { return; }
  window.__phasesHooked = true;
  const fetch0 = window.fetch;
  window.fetch = async function (url, opts) {
    const sent = performance.now();
    const r = await fetch0.apply(this, arguments);
    const ph = window.__ph;
    if (ph && ph.sent === null && opts && typeof opts.body === 'string' && opts.body.includes('land-contour.figure')) {
      ph.sent = sent; ph.answered = performance.now();
    }
    return r;
  };
  const P = window.Plotly, react0 = P.react;
  P.react = function (gd) {
    const start = performance.now();
    const out = react0.apply(this, arguments);
    const ph = window.__ph;
    if (ph && ph.react === null && gd && gd.closest && gd.closest('#land-contour')) {
      ph.react = [start, null];
      Promise.resolve(out).then(() => { ph.react[1] = performance.now(); });
    }
    return out;
  };
}"""

# Arms a watcher in the page: the time from now to each graph's layout.meta changing (+ two frames).
_ARM = """(ids) => {
  const meta = id => { const g = document.querySelector('#' + id + ' .js-plotly-plot');
                       return g && g.layout && g.layout.meta ? JSON.stringify(g.layout.meta) : ''; };
  const before = ids.map(meta);
  window.__lat = ids.map(() => null);
  const t0 = performance.now();
  window.__ph = {t0: t0, sent: null, answered: null, react: null};
  ids.forEach((id, k) => {
    const poll = () => {
      if (meta(id) !== before[k]) {
        requestAnimationFrame(() => requestAnimationFrame(() => { window.__lat[k] = performance.now() - t0; }));
      } else { requestAnimationFrame(poll); }
    };
    requestAnimationFrame(poll);
  });
}"""
_DONE = "() => window.__lat.every(x => x !== null)"

# Records every new iteration text (first-seen time), the contour's animated events and long tasks.
_RECORD = """() => {
  window.__seen = []; window.__animated = 0; window.__long = 0; window.__rec = true;
  const g = document.querySelector('#desc-contour .js-plotly-plot');
  g.on('plotly_restyle', () => { window.__animated += 1; });
  try { new PerformanceObserver(l => l.getEntries().forEach(e => { window.__long += e.duration; }))
          .observe({type: 'longtask'}); } catch (e) {}
  let last = null;
  const poll = () => {
    const t = document.getElementById('desc-iter-text').innerText;
    if (t !== last) { window.__seen.push([performance.now(), t]); last = t; }
    if (window.__rec) { requestAnimationFrame(poll); }
  };
  requestAnimationFrame(poll);
}"""

SEEDS = itertools.count(101)   # a weight seed never used before: every change computes


# ---------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------
def open_page(b, url: str) -> tuple:
    """(seconds from the navigation's start to the default contour drawn, in the page's clock; wall
    seconds from goto to Playwright having seen it plus two frames), in a fresh context."""
    ctx = b.new_context(viewport=VIEWPORT)
    ctx.add_init_script(_FIRST_PAINT)
    page = ctx.new_page()
    t = time.perf_counter()
    page.goto(url + "/")
    browser.wait_graph(page, ids.LAND_CONTOUR, 2, timeout=120_000)
    page.evaluate(_FRAME)
    wall = time.perf_counter() - t
    page.wait_for_function("() => window.__firstPaint !== null", timeout=120_000)
    in_page = page.evaluate("() => window.__firstPaint") / 1e3
    page.wait_for_function(_IDLE, timeout=120_000)   # let its callbacks finish before the next one
    ctx.close()
    return in_page, wall


def landscape_page(ctx, url: str):
    page = ctx.new_page()
    page.goto(url + "/")
    browser.wait_graph(page, ids.LAND_CONTOUR, 2, timeout=120_000)
    browser.wait_graph(page, ids.LAND_SURFACE, 2, timeout=120_000)
    browser.wait_idle(page, timeout=120_000)
    page.evaluate(_PHASES)
    return page


def _phases(page):
    """(request sent, server, response handled through the contour's react, the rest until drawn) in
    ms of the change just timed on ``page``, or None where a mark is missing."""
    ph, lat = page.evaluate("() => [window.__ph, window.__lat[0]]")
    if not ph or ph.get("sent") is None or not ph.get("react") or ph["react"][1] is None:
        return None
    return (ph["sent"] - ph["t0"], ph["answered"] - ph["sent"], ph["react"][1] - ph["answered"],
            lat - (ph["react"][1] - ph["t0"]))


def seed_changes(pages, n: int, phases: list | None = None) -> list:
    """``n`` rounds of a new weight seed sent to every page at once → per page, [(contour ms, surface ms)];
    with ``phases`` (one page), each change's :func:`_phases` appended to it."""
    out = [[] for _ in pages]
    for _ in range(n):
        for pg in pages:
            pg.fill(f"#{ids.WEIGHT_SEED}", str(next(SEEDS)))
        for pg in pages:
            pg.evaluate(_ARM, [ids.LAND_CONTOUR, ids.LAND_SURFACE])
            pg.press(f"#{ids.WEIGHT_SEED}", "Enter")
        for k, pg in enumerate(pages):
            pg.wait_for_function(_DONE, timeout=120_000, polling=20)
            out[k].append(tuple(pg.evaluate("() => window.__lat")))
        for pg in pages:
            browser.wait_idle(pg, timeout=120_000)
        if phases is not None:
            phases.append(_phases(pages[0]))
    return out


def playback(ctx, url: str, grid: int | None) -> dict:
    """One playback of a fresh descent → frames/s, frames, animated events, long-task ms, seconds."""
    page = ctx.new_page()
    page.goto(url + PLAYBACK + (f"&grid={grid}" if grid else ""))
    browser.wait_graph(page, ids.DESC_CONTOUR, 2, timeout=120_000)
    browser.wait_idle(page, timeout=120_000)
    page.click(f"#{ids.DESC_RANDOM}")
    browser.wait_text(page, ids.DESC_COUNTS, "5 random starts", timeout=120_000)
    browser.wait_text(page, ids.DESC_ITER_TEXT, r"^iteration (\d+) of \1$", timeout=120_000)
    browser.wait_idle(page, timeout=120_000)
    page.evaluate(_RECORD)
    page.click(f"#{ids.DESC_PLAY}")
    browser.wait_text(page, ids.DESC_PLAY, "Pause", timeout=10_000)
    browser.wait_text(page, ids.DESC_PLAY, "Play", timeout=300_000)
    page.evaluate(_FRAME)
    seen = page.evaluate("() => { window.__rec = false; return window.__seen; }")
    animated, long_ms = page.evaluate("() => [window.__animated, window.__long]")
    page.close()
    seen = seen[1:]                              # the text shown before Play
    texts = {t for _, t in seen}
    span = (seen[-1][0] - seen[0][0]) / 1e3 if len(seen) > 1 else float("nan")
    return dict(fps=(len(texts) - 1) / span if span == span and span > 0 else float("nan"), frames=len(texts),
                animated=animated, long_ms=long_ms, seconds=span)


def core_landscape_ms() -> float:
    """The server's own work for one weight-seed change: the 201² landscape alone, in-process."""
    cfg = state.BASE.replace(weight_seed=next(SEEDS))
    logic.problem_for(cfg)                       # build outside the timing
    t = time.perf_counter()
    logic.landscape_for(cfg)
    return 1e3 * (time.perf_counter() - t)


def one_pass(p, url: str, args) -> dict:
    log = lambda what: print(f"  … {what}", file=sys.stderr, flush=True)  # noqa: E731
    b = browser.launch(p)
    r = {}
    try:
        log("page open")
        r["open"] = [open_page(b, url) for _ in range(args.repeats)]
        ctx = b.new_context(viewport=VIEWPORT)
        log(f"{args.n} weight-seed changes, one tab")
        lone = landscape_page(ctx, url)
        seed_changes([lone], 1)                  # warm-up
        r["phases"] = []
        r["lone"] = seed_changes([lone], args.n, r["phases"])[0]
        log(f"{args.n_pair} weight-seed changes, two tabs at once")
        ctx2 = b.new_context(viewport=VIEWPORT)
        other = landscape_page(ctx2, url)
        r["pair"] = seed_changes([lone, other], args.n_pair)
        lone.close()
        ctx2.close()
        for grid in (51, None):
            log(f"playback, grid {grid or 'default'}")
            r[f"play{grid}"] = [playback(ctx, url, grid) for _ in range(args.repeats)]
        ctx.close()
    finally:
        b.close()
    r["core"] = [core_landscape_ms() for _ in range(args.repeats + 2)]
    return r


# ---------------------------------------------------------------------------
# printing
# ---------------------------------------------------------------------------
def pct(xs, f: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(f * len(xs)))]


def ms(xs) -> str:
    return f"{statistics.median(xs):.0f} ms [{min(xs):.0f}–{max(xs):.0f}]"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="weight-seed changes per column (default 20; 5 with --quick)")
    ap.add_argument("--repeats", type=int, default=None, help="page opens and playbacks per column (default 3; 1 quick)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 5 changes, 3 two-tab rounds, 1 repeat")
    ap.add_argument("--no-busy", action="store_true", help="skip the column with one busy process")
    args = ap.parse_args(argv)
    args.n = args.n or (5 if args.quick else 20)
    args.n_pair = max(3, args.n // 2) if args.quick else args.n
    args.repeats = args.repeats or (1 if args.quick else 3)
    from playwright.sync_api import sync_playwright

    load = load_average()
    with running() as url, sync_playwright() as p:
        passes = {"idle": one_pass(p, url, args)}
        if not args.no_busy:
            with Busy():
                passes["1 busy"] = one_pass(p, url, args)
    report(passes, args, load)


def report(passes: dict, args, load: float) -> None:
    """Print the table of ``passes`` ({column: one_pass result})."""
    cols = list(passes)

    rows = []

    def row(name, cell, target=""):
        rows.append([name] + [cell(passes[c]) for c in cols] + [target])

    def mark(ok: bool) -> str:
        return " ✓" if ok else " ✗"

    def ratio_cell(r):
        lone = statistics.median(c for c, _ in r["lone"])
        each = [statistics.median(c for c, _ in tab) for tab in r["pair"]]
        return " / ".join(f"{x:.0f}" for x in each) + f" ms ({max(each) / lone:.2f}×)" + mark(max(each) <= 1.5 * lone)

    def phase_cell(r):
        done = [p for p in r["phases"] if p is not None]
        if not done:
            return "n/a"
        return " / ".join(f"{statistics.median(p[i] for p in done):.0f}" for i in range(4)) + " ms"

    def seconds(xs):
        return f"{spread(xs)[0]:.2f} s [{min(xs):.2f}–{max(xs):.2f}]"

    row("page open → first contour drawn (201², page's clock)",
        lambda r: seconds([p for p, _ in r["open"]]) + mark(spread([p for p, _ in r["open"]])[0] <= 1.5), "≤ 1.5 s")
    row("  wall from goto, Playwright's round trips included", lambda r: seconds([w for _, w in r["open"]]))
    row(f"weight seed → contour p50 ({args.n} changes)",
        lambda r: ms([c for c, _ in r["lone"]]) + mark(statistics.median(c for c, _ in r["lone"]) <= 250),
        "≤ 250 ms busy")
    row("  contour p90", lambda r: f"{pct([c for c, _ in r['lone']], 0.9):.0f} ms")
    row("  request sent / server / handled + react / drawn (p50)", phase_cell)
    row("  + 3-D surface p50 (software WebGL)", lambda r: ms([s for _, s in r["lone"]]))
    row("  the server's landscape 201² alone (in-process)", lambda r: ms(r["core"]))
    row(f"two tabs at once: contour p50 per tab ({args.n_pair} rounds)", ratio_cell, "≤ 1.5× lone")
    for grid in (51, None):
        key = f"play{grid}"
        row(f"descent playback, grid {grid or 'default (201)'}: frames/s",
            lambda r, k=key: (lambda f: f"{f[0]:.1f} [{f[1]:.1f}–{f[2]:.1f}]" + mark(f[0] >= 20))(
                spread([x["fps"] for x in r[k]])), "≥ 20 /s")
        row("  frames seen, plotly_restyle (2-D), long tasks (median)",
            lambda r, k=key: f"{spread([x['frames'] for x in r[k]])[0]:.0f}, {spread([x['animated'] for x in r[k]])[0]:.0f}, "
                             f"{spread([x['long_ms'] for x in r[k]])[0] / 1e3:.1f} s of {spread([x['seconds'] for x in r[k]])[0]:.1f} s")
    print(f"\nDashboard, default view (paper-fig4, 201² grid); {os.cpu_count()} CPUs; "
          f"median [min–max] over {args.repeats} page opens / playbacks, over the changes for latencies")
    heads = tuple(f"idle (load {load:.1f})" if c == "idle" else c for c in cols)
    print_table("", rows, headers=(*heads, "target"))


if __name__ == "__main__":
    main()
