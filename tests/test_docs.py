"""The README's tables against the files the measurements wrote (``docs/*.json``, ``docs/phase_table.md``).

A table is rerun by a command that writes its JSON; the README quotes it by hand. These tests fail
when the two drift apart (a rerun whose numbers did not reach the README, or a hand edit)."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _rows(header_start: str) -> list[list[str]]:
    """The body rows of the README table whose header line starts with ``header_start``, as cells."""
    lines = README.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(header_start))
    out = []
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        out.append([c.strip() for c in line.strip().strip("|").split("|")])
    return out


def _json(name: str) -> list[dict]:
    return json.loads((ROOT / "docs" / name).read_text())


def _pct(k: int, n: int) -> str:
    return f"{round(100 * k / n)} %"


def _row(rows, mask, method):
    return next(r for r in rows if r["target"] == "latent" and r["mask"] == mask and r["method"] == method)


def test_readme_fig5_table_is_the_inversion_tables():
    mnist, fashion = _json("inversion_table.json"), _json("inversion_table_fashion.json")
    seen = 0
    for cells in _rows("| mask | r | MNIST, L-BFGS (100 draws) |"):
        mask = {"strip (left 50 %)": "strip", "dense Gaussian A": "gaussian", "full observation": "identity"}.get(
            cells[0], cells[0])
        for table, lcol, acol in ((mnist, 2, 3), (fashion, 4, 5)):
            try:
                lb = _row(table, mask, "lbfgs")
            except StopIteration:
                assert cells[lcol] == "—"
                continue
            assert cells[lcol] == _pct(lb["n_recovered"], lb["trials"]), (mask, cells)
            assert cells[1] == f"{lb['rate']:.3f}"
            try:
                ad = _row(table, mask, "adam")
            except StopIteration:
                assert cells[acol] == "—"
                continue
            want = _pct(ad["n_recovered"], ad["trials"])
            if ad["n_unconverged"]:
                want += f" ({ad['n_unconverged']} unconverged)"
            assert cells[acol] == want, (mask, cells[acol], want)
            seen += 1
    assert seen == 7 + 5


def test_readme_infogan_table_is_the_inversion_tables():
    files = {"`mnist` (plain)": "inversion_table.json", "`mnist-info`": "inversion_table_mnist-info.json",
             "`fashion` (plain)": "inversion_table_fashion.json",
             "`fashion-info`": "inversion_table_fashion-info.json"}
    masks = ("random", "top", "bottom", "left", "right", "border", "center")
    rows = _rows("| | L-BFGS, 7 masks (100 draws) |")
    assert [r[0] for r in rows] == list(files)
    for name, cells in ((r[0], r) for r in rows):
        table = _json(files[name])
        assert all(_row(table, m, "lbfgs")["n_recovered"] == 100 for m in masks)
        want = []
        for m in masks:
            try:
                a = _row(table, m, "adam")
                want.append(str(round(100 * a["n_recovered"] / a["trials"])))
            except StopIteration:
                want.append("—")
        assert cells[2] == ", ".join(want) + " %", (name, cells[2])


def test_readme_phase_table_is_docs_phase_table():
    md = (ROOT / "docs" / "phase_table.md").read_text().splitlines()
    i = next(k for k, line in enumerate(md) if line.startswith("| pattern |"))
    want = [[c.strip() for c in line.strip().strip("|").split("|")] for line in md[i + 2:] if line.startswith("|")]
    got = [[c.replace("**", "") for c in r] for r in _rows("| pattern | MNIST, noiseless |")]
    assert got == want


def test_readme_noise_table_is_docs_noise_table():
    rows = _json("noise_table.json")
    got = _rows("| net | noise | median ‖ẑ − z*‖/‖z*‖ |")
    assert len(got) == len(rows)
    for cells, r in zip(got, rows):
        assert cells[0].strip("`").lower() == r["net"] and cells[1] == r["noise"]
        assert cells[2] == f"{r['median_rel_error']:.1e}" and cells[3] == f"{r['median_crb_rel']:.1e}"
        assert cells[4] == f"{r['rms_error_over_rms_crb']:.2f}"


@pytest.mark.parametrize("net, lo, hi", [("paper-fig4", 0.95, 1.11), ("mnist", 1.09, 1.22)])
def test_readme_noise_ratio_ranges_are_the_tables(net, lo, hi):
    r = [x["rms_error_over_rms_crb"] for x in _json("noise_table.json") if x["net"] == net]
    assert (round(min(r), 2), round(max(r), 2)) == (lo, hi)
    name = "`paper-fig4`" if net == "paper-fig4" else "MNIST"
    assert re.search(rf"{lo:.2f}–{hi:.2f} on\s+{re.escape(name)}", README) or \
        re.search(rf"{lo:.2f}–{hi:.2f} on {re.escape(name)}", README.replace("\n", " "))
    assert all(math.isfinite(x) for x in r)
