"""``python -m dashboard.screenshots --out docs/``: drive each view in Chromium and save one PNG per view."""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

from . import browser, ids
from .server import running

VIEWPORT = {"width": 1500, "height": 1000}


def _tab(page, label: str) -> None:
    page.click(f"#{ids.TABS} .tab:has-text('{label}')")


def shoot(out: pathlib.Path, basin_grid: int = 31) -> list[pathlib.Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved = []

    def save(page, name):
        time.sleep(1.0)  # let WebGL finish drawing
        path = out / f"view-{name}.png"
        page.screenshot(path=str(path))
        saved.append(path)
        print(f"wrote {path}", flush=True)

    with running() as url, sync_playwright() as p:
        b = browser.launch(p)
        page = b.new_page(viewport=VIEWPORT)
        log = browser.watch_console(page)
        page.goto(url + "/")
        browser.wait_graph(page, ids.LAND_CONTOUR, 2)
        browser.wait_text(page, ids.RHO_TEXT, "ρ̂")
        browser.click_data(page, ids.LAND_CONTOUR, -1.8, 1.6)
        browser.wait_text(page, ids.LAND_COUNTS, "recovered 1|negative 1|other 1")
        save(page, "landscape")

        _tab(page, "Descent")
        browser.wait_graph(page, ids.DESC_CONTOUR, 2)
        page.click(f"#{ids.DESC_RANDOM}")
        browser.wait_text(page, ids.DESC_COUNTS, "random starts", timeout=180_000)
        save(page, "descent")

        _tab(page, "Compare σ")
        browser.wait_graph(page, ids.COMPARE, 4, timeout=120_000)
        save(page, "compare")

        _tab(page, "Mode collapse")
        browser.wait_graph(page, ids.COLLAPSE_GRAPH, 3, timeout=120_000)
        browser.wait_graph(page, ids.COLLAPSE_WITNESS, 1, timeout=120_000)
        save(page, "collapse")

        # A net whose basin map is not all one colour: the authors' 4-layer net (its 65² grid).
        page.goto(url + "/?preset=authors-code&grid=65&view=basins")
        page.wait_for_selector(f"#{ids.BASIN_GRID}")
        page.fill(f"#{ids.BASIN_GRID}", str(basin_grid))
        page.press(f"#{ids.BASIN_GRID}", "Enter")
        page.click(f"#{ids.BASIN_START}")
        browser.wait_text(page, ids.BASIN_TEXT, "done", timeout=600_000)
        save(page, "basins")

        page.goto(url + "/?view=images")
        browser.wait_graph(page, ids.IMG_CONTOUR, 2)
        px, py = browser.data_to_page(page, ids.IMG_CONTOUR, 2.0, 1.4)   # far from the markers
        page.mouse.move(px, py)
        browser.wait_text(page, ids.IMG_TEXT, r"z = \(2\.0")
        save(page, "images")
        b.close()
    problems = browser.console_problems(log)
    if problems:
        print("console:", *problems, sep="\n  ", file=sys.stderr)
    return saved


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m dashboard.screenshots")
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("docs"))
    ap.add_argument("--basin-grid", type=int, default=31)
    args = ap.parse_args(argv)
    shoot(args.out, args.basin_grid)


if __name__ == "__main__":
    main()
