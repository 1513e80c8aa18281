"""The benchmark scripts still run and print both columns (a smoke run each; no timing is asserted).

Their numbers are quoted in the README and in benchmarks/NOTES.md; a script that no longer runs, or
that lost its "1 busy" column, would leave those numbers unreproducible.
"""
import os
import pathlib
import subprocess
import sys

import pytest

from dashboard import browser

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(args, timeout):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def test_landscape_benchmark_prints_idle_and_busy_columns_with_targets():
    out = _run(["benchmarks/landscape.py", "--quick"], timeout=600)
    header = next(line for line in out.splitlines() if "idle (load" in line and "1 busy" in line)
    assert "target" in header
    for row in ("paper-fig4 301² landscape, pts/s (in-process)", "engine / convT", "Adam steps, paper-fig4",
                "authors-code 201² landscape, pts/s", "float32 matmul 2048², GFLOP/s"):
        assert any(row in line for line in out.splitlines()), row
    assert "outcomes {'recovered'" in out


def test_phase_benchmark_prints_idle_and_busy_columns():
    out = _run(["benchmarks/phase.py", "--quick"], timeout=600)
    header = next(line for line in out.splitlines() if "idle s" in line)
    assert "busy s" in header and "pt-steps/s" in header
    row = next(line for line in out.splitlines() if line.split()[:2] == ["1", "col2im"])
    assert "random=" in row and "border=" in row


@pytest.mark.skipif(not os.path.exists(browser.CHROMIUM), reason=f"no Chromium at {browser.CHROMIUM}")
def test_dashboard_benchmark_prints_every_row():
    pytest.importorskip("playwright.sync_api")
    out = _run(["benchmarks/dashboard.py", "--quick", "--no-busy"], timeout=900)
    for row in ("page open → first contour", "weight seed → contour p50",
                "  request sent / server / handled + react / drawn (p50)", "two tabs at once",
                "descent playback, grid 51: frames/s", "descent playback, grid default (201): frames/s"):
        assert any(line.startswith(row) for line in out.splitlines()), row
