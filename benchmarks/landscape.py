"""Landscape and descent speed, idle and with one busy process: prints tables.

    python benchmarks/landscape.py [--repeats 3] [--grid 1001] [--quick] [--no-busy]

Every timing is taken twice in the same run: "idle" (the machine as it is; its load average is
printed in the header, other users' load is part of idle) and "1 busy" (one busy-looping process
beside it, :class:`benchmarks.common.Busy`). Each cell is the median over ``--repeats`` runs with
the spread [min–max]; a target is checked against the median.

Main table:
* the CLI ``python -m core landscape --preset paper-fig4 --grid 1001`` timed as a subprocess (wall
  time, imports included), the time it reports itself (build, landscape, .npz), and the landscape
  alone in-process (problem built outside the timing) as points/s;
* the same grid through plain batched ``conv_transpose2d`` (``problem.G`` on chunks, then the mask
  and J) with the CLI's default of one torch thread, and engine / convT;
* ``authors-code`` 201²; 1,000 starts × 500 Adam steps on ``paper-fig4``;
* the per-point loop (one z at a time through ``problem.G``: how per-point tools and the authors'
  MATLAB script evaluate) and engine / loop; the machine's float32 matmul rate.
Then, per net at 201², the useful and performed FLOP/point and the performed rate as a fraction of
the matmul rate (tiny where the sectors' quadratics serve J: a few operations per point, bound by
atan2 and a binary search rather than by multiply-adds); the formulations table (engine variants,
the layer-by-layer ones with the sectors off); the peak RSS of a 501² grid (idle).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.common import Busy, load_average, matmul_gflops, print_table, spread, timings  # noqa: E402
from core.config import from_preset  # noqa: E402
from core.descent import descend, random_starts  # noqa: E402
from core.generators.engine import Engine, one_thread, workers  # noqa: E402
from core.landscape import landscape  # noqa: E402
from core.problem import build_problem  # noqa: E402

CLI_THREADS = 1      # `python -m core ... --threads`, default 1 (core/cli/__init__.py)
CONVT_CHUNK = 4096   # points per conv_transpose2d call (benchmarks/NOTES.md, step 2)
LOOP_POINTS = 300
FORMULATIONS = (("col2im", "col2im", True, False), ("dense", "dense", True, False),
                ("auto, no cone", "auto", False, False), ("auto, layers", "auto", True, False),
                ("auto (sectors where they apply)", "auto", True, True))

RSS_SNIPPET = """
import resource, sys
sys.path.insert(0, {root!r})
from core.config import from_preset
from core.landscape import landscape
L = landscape(from_preset({preset!r}), grid=501)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


# ---------------------------------------------------------------------------
# the things timed
# ---------------------------------------------------------------------------
def cli_once(grid: int, workdir: str) -> tuple[float, float]:
    """(wall seconds of the CLI subprocess, seconds the CLI reports for its own work)."""
    import time

    cmd = [sys.executable, "-m", "core", "landscape", "--preset", "paper-fig4", "--grid", str(grid),
           "--out", os.path.join(workdir, "fig4.npz")]
    t = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
    m = re.search(r"in ([0-9.]+) s", out.stdout)
    return wall, float(m.group(1)) if m else float("nan")


def grid_points(problem, grid: int) -> torch.Tensor:
    """The latent points of the landscape's grid (grid², n0), in the landscape's plane and window."""
    L = landscape(problem, grid=2)
    u = np.linspace(L.u[0], L.u[-1], grid)
    v = np.linspace(L.v[0], L.v[-1], grid)
    U, V = np.meshgrid(u, v)
    return torch.as_tensor(L.plane.lift(U, V).reshape(-1, problem.n0), dtype=problem.dtype)


def convT_J(problem, z: torch.Tensor) -> torch.Tensor:
    """J through the generator's own batched conv_transpose layers, chunk by chunk, + mask + J."""
    out = torch.empty(z.shape[0], dtype=z.dtype)
    with torch.no_grad():
        for a in range(0, z.shape[0], CONVT_CHUNK):
            r = problem.op.A(problem.G(z[a:a + CONVT_CHUNK])) - problem.y
            out[a:a + CONVT_CHUNK] = 0.5 * (r * r).sum(1)
    return out


def loop_J(problem, z: torch.Tensor) -> None:
    """J one z at a time through the generator (the per-point reference)."""
    with torch.no_grad():
        for zi in z:
            r = problem.op.A(problem.G(zi[None]))[0] - problem.y
            0.5 * (r * r).sum()


def cli_threads():
    """The CLI's default torch threads (--threads 1) in this thread, restored afterwards."""
    return one_thread()


def one_pass(args, nets, workdir) -> dict:
    """Every measurement once under the current load → {key: list of seconds (or GFLOP/s)}."""
    r = {}
    P4, PA = nets["paper-fig4"], nets["authors-code"]
    G = args.grid
    log = lambda what: print(f"  … {what}", file=sys.stderr, flush=True)  # noqa: E731

    log("matmul rate")
    r["matmul"] = [matmul_gflops() for _ in range(args.repeats)]
    log(f"CLI {G}²")
    cli = [cli_once(G, workdir) for _ in range(args.repeats)]
    r["cli_wall"], r["cli_work"] = [c[0] for c in cli], [c[1] for c in cli]
    log(f"in-process landscape {G}²")
    r["fig4_big"] = timings(lambda: landscape(P4, grid=G), args.repeats, warmup=lambda: landscape(P4, grid=101))
    z = grid_points(P4, G)
    log(f"batched convT {G}²")
    with cli_threads():
        r["convT_big"] = timings(lambda: convT_J(P4, z), args.repeats, warmup=lambda: convT_J(P4, z[:CONVT_CHUNK]))
    for name, P in nets.items():
        log(f"{name} 201²")
        r[f"{name}:201"] = timings(lambda: landscape(P, grid=201), args.repeats)
        zl = torch.randn(LOOP_POINTS, P.n0, dtype=P.dtype, generator=torch.Generator().manual_seed(0))
        with cli_threads():
            r[f"{name}:loop"] = timings(lambda: loop_J(P, zl), args.repeats, warmup=lambda: loop_J(P, zl[:10]))
    log(f"1000 starts × {args.steps} Adam steps")
    starts = random_starts(2, 1000, seed=0, scale=2.0)
    last = []
    r["descent"] = timings(lambda: last.append(descend(P4, starts, method="adam", steps=args.steps).counts),
                           args.repeats, warmup=lambda: descend(P4, starts[:50], method="adam", steps=20))
    r["descent_counts"] = last[-1]
    log(f"formulations {args.small}²")
    zf = torch.randn(args.small ** 2, 2, generator=torch.Generator().manual_seed(1))
    for name, P in nets.items():
        with cli_threads():
            r[f"{name}:convT"] = timings(lambda: convT_J(P, zf), args.repeats, warmup=lambda: convT_J(P, zf[:512]))
        for label, strategy, prune, sectors in FORMULATIONS:
            eng = Engine(P.G, P.op, P.y, strategy=strategy, prune=prune, sectors=sectors)
            r[f"{name}:{label}"] = timings(lambda: eng.J_many(zf), args.repeats, warmup=lambda: eng.J_many(zf[:512]))
    return r


# ---------------------------------------------------------------------------
# printing
# ---------------------------------------------------------------------------
def fmt_rate(x: float) -> str:
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k" if x >= 1e4 else f"{x:,.0f}"


def rate_cell(seconds, points: int) -> tuple[str, float]:
    med, lo, hi = spread([points / t for t in seconds])
    return f"{fmt_rate(med)} [{fmt_rate(lo)}–{fmt_rate(hi)}]", med


def time_cell(seconds) -> tuple[str, float]:
    med, lo, hi = spread(seconds)
    return f"{med:.2f} s [{lo:.2f}–{hi:.2f}]", med


def check(value: float, target: float | None, higher: bool) -> str:
    if target is None or value != value:
        return ""
    return " ✓" if (value >= target if higher else value <= target) else " ✗"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=None, help="side of the paper-fig4 grid (default 1001; 301 with --quick)")
    ap.add_argument("--repeats", type=int, default=None, help="runs per measurement (default 3; 1 with --quick)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 1 repeat, a 301² grid, 100 Adam steps, formulations on 101²")
    ap.add_argument("--no-busy", action="store_true", help="skip the column with one busy process")
    args = ap.parse_args(argv)
    args.grid = args.grid or (301 if args.quick else 1001)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.steps = 100 if args.quick else 500
    args.small = 101 if args.quick else 201

    nets = {p: build_problem(from_preset(p)) for p in ("paper-fig4", "authors-code")}
    load = load_average()
    with tempfile.TemporaryDirectory() as d:
        passes = {"idle": one_pass(args, nets, d)}
        if not args.no_busy:
            with Busy():
                passes["1 busy"] = one_pass(args, nets, d)
    cols = list(passes)
    heads = tuple(f"idle (load {load:.1f})" if c == "idle" else c for c in cols)
    G, N = args.grid, args.grid ** 2

    print(f"\ntorch {torch.__version__}; {os.cpu_count()} CPUs; load average {load:.1f} before the idle column; "
          f"{args.repeats} repeat(s) per cell: median [min–max]")
    print(f"engine: 1 intra-op torch thread × {workers()} chunk workers (map_chunks); convT and the per-point "
          f"loop: {CLI_THREADS} torch thread (the CLI's default --threads {CLI_THREADS}), "
          f"{CONVT_CHUNK} points per convT call; matmul: {torch.get_num_threads()} torch threads\n")

    # targets: (idle, busy); None = none. Only paper-fig4 at 1001² and authors-code at 201² have one.
    big = G == 1001
    rows, med = [], {c: {} for c in cols}

    def add(name, key, kind, targets=(None, None), higher=True, points=None):
        cells = [name]
        for c, tgt in zip(cols, targets):
            cell, m = rate_cell(passes[c][key], points) if kind == "rate" else time_cell(passes[c][key])
            med[c][key] = m
            cells.append(cell + check(m, tgt, higher))
        t = [x for x in targets if x is not None]
        cells.append("" if not t else
                     (" / ".join((fmt_rate(x) if kind == "rate" else f"{x:g} s") for x in targets)
                      + (" pts/s" if kind == "rate" else "")))
        rows.append(cells)

    add(f"CLI paper-fig4 {G}²: wall, imports included", "cli_wall", "time")
    add("  its own report (build + landscape + .npz)", "cli_work", "time")
    add(f"paper-fig4 {G}² landscape, pts/s (in-process)", "fig4_big", "rate",
        (1.2e6, 5e5) if big else (None, None), points=N)
    add(f"  batched conv_transpose2d + mask + J, pts/s", "convT_big", "rate", points=N)
    ratio = ["  engine / convT"] + [f"{med[c]['fig4_big'] / med[c]['convT_big']:.1f}×"
                                    + (check(med[c]['fig4_big'] / med[c]['convT_big'], 3, True) if c == "1 busy" else "")
                                    for c in cols] + ["≥ 3× busy"]
    rows.append(ratio)
    add(f"1000 starts × {args.steps} Adam steps, paper-fig4", "descent", "time",
        (2, 4) if args.steps == 500 else (None, None), higher=False)
    for name in nets:
        add(f"{name} 201² landscape, pts/s", f"{name}:201", "rate",
            (8e5, 4e5) if name == "authors-code" else (None, None), points=201 ** 2)
        add(f"  per-point loop, pts/s", f"{name}:loop", "rate", points=LOOP_POINTS)
        rows.append(["  engine / loop"] + [f"{med[c][f'{name}:201'] / med[c][f'{name}:loop']:.0f}×" for c in cols]
                    + [""])
    mm = ["float32 matmul 2048², GFLOP/s"]
    for c in cols:
        m, lo, hi = spread(passes[c]["matmul"])
        mm.append(f"{m:.1f} [{lo:.1f}–{hi:.1f}]")
        med[c]["matmul"] = m
    rows.append(mm + [""])
    print_table(f"Speed (load average {load:.1f} beside 'idle')", rows, headers=(*heads, "target"))

    print()
    frows = []
    for name, P in nets.items():
        ev = P.evaluator
        useful, done = 2 * ev.useful_macs_per_point, 2 * ev.macs_per_point
        kinds = [L.strategy for L in ev.layers]
        layers = "gemm + " + ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds))
        if ev.sectors is not None:   # J goes through the sectors' quadratics, not the layers
            layers = f"{ev.sectors.S:,} sectors" + (", quadratics" if ev.sectors.quadratic is not None else "")
        gf = {c: done * med[c][f"{name}:201"] / 1e9 for c in cols}
        frows.append([name, f"{useful:,}", f"{done:,}",
                      " / ".join(f"{gf[c]:.1f}" for c in cols),
                      " / ".join(f"{gf[c] / med[c]['matmul']:.0%}" for c in cols), layers])
    print_table(f"FLOP per point at 201² (GFLOP/s and fraction of the matmul rate: {' / '.join(cols)})", frows,
                headers=("useful FLOP/pt", "performed FLOP/pt", "performed GFLOP/s", "of matmul", "layers"))

    print()
    lrows = []
    for name in nets:
        for label in ("convT",) + tuple(f[0] for f in FORMULATIONS):
            key = f"{name}:{label}"
            lrows.append([f"{name}: {'batched convT' if label == 'convT' else label}"]
                         + [rate_cell(passes[c][key], args.small ** 2)[0] for c in cols])
    print_table(f"Formulations: J on {args.small}² random points, pts/s", lrows, headers=heads)

    print()
    for preset in nets:
        out = subprocess.run([sys.executable, "-c", RSS_SNIPPET.format(root=ROOT, preset=preset)],
                             capture_output=True, text=True, check=True).stdout.strip()
        print(f"501² grid, {preset}: peak RSS {float(out):.0f} MB (whole process, torch included; idle)")
    print(f"1000 starts × {args.steps} Adam steps (paper-fig4, lr {nets['paper-fig4'].cfg.lr}, scale-2 starts): "
          f"outcomes {passes['idle']['descent_counts']}")


if __name__ == "__main__":
    main()
