"""Landscape and descent speed: prints a table; run ``python benchmarks/landscape.py``.

Columns: points/s of the engine on a 201×201 grid (best of several repeats);
points/s of a per-point loop through ``conv_transpose`` (how the authors' MATLAB
script and per-point landscape tools evaluate); their ratio; the useful
FLOP/point of the transposed convolutions (2 × multiply-adds, no structural
zeros, no pruning) and the FLOP/point the engine actually performs (dense
matrices carry some zeros; the receptive cone of the mask removes work); the
performed GFLOP/s; and that as a fraction of this machine's float32 matmul
rate, measured in the same run. Then the peak RSS of a 501² grid (in a fresh process) and the time of
1,000 starts × 500 Adam steps on ``paper-fig4``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import best_time, matmul_gflops  # noqa: E402
from core.config import from_preset  # noqa: E402
from core.descent import descend, random_starts  # noqa: E402
from core.generators.engine import Engine  # noqa: E402
from core.landscape import landscape  # noqa: E402
from core.problem import build_problem  # noqa: E402


def loop_rate(problem, n: int = 300) -> float:
    """Points/s of J evaluated one z at a time through the reference Generator."""
    z = torch.randn(n, problem.cfg.n0, dtype=problem.dtype)
    with torch.no_grad():
        def run():
            for zi in z:
                x = problem.G(zi[None])
                r = problem.op.A(x)[0] - problem.y
                0.5 * (r * r).sum()
        return n / best_time(run, 2)


RSS_SNIPPET = """
import resource, sys
sys.path.insert(0, {root!r})
from core.config import from_preset
from core.landscape import landscape
L = landscape(from_preset({preset!r}), grid=501)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=201)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    peak = matmul_gflops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; float32 matmul (2048²): {peak:.1f} GFLOP/s\n")
    hdr = f"{'net':<14}{'grid':>6}{'engine pts/s':>14}{'ms/grid':>9}{'loop pts/s':>12}{'ratio':>8}" \
          f"{'useful FLOP/pt':>16}{'done FLOP/pt':>14}{'done GFLOP/s':>14}{'of matmul':>11}  layers"
    print(hdr)
    print("-" * len(hdr))
    for preset in ("paper-fig4", "authors-code"):
        P = build_problem(from_preset(preset))
        t = best_time(lambda: landscape(P, grid=args.grid), args.repeats)
        rate = args.grid ** 2 / t
        loop = loop_rate(P)
        useful = 2 * P.evaluator.useful_macs_per_point
        done = 2 * P.evaluator.macs_per_point
        gf = done * rate / 1e9
        layers = "+".join(["gemm"] + [L.strategy for L in P.evaluator.layers])
        print(f"{preset:<14}{args.grid:>5}²{rate:>14,.0f}{t * 1e3:>9.1f}{loop:>12,.0f}{rate / loop:>7.0f}×"
              f"{useful:>16,}{done:>14,}{gf:>14.1f}{gf / peak:>10.1%}  {layers}")
    print("\nFormulations (engine variants on the same grid, points/s):")
    hdr2 = f"{'net':<14}{'batched convT':>15}{'col2im':>12}{'dense':>12}{'auto, no cone':>15}{'auto':>12}"
    print(hdr2)
    print("-" * len(hdr2))
    for preset in ("paper-fig4", "authors-code"):
        cfg = from_preset(preset)
        P = build_problem(cfg)
        z = torch.randn(args.grid ** 2, 2)
        chunk = 4096

        def convT():
            with torch.no_grad():
                for a in range(0, z.shape[0], chunk):
                    r = P.op.A(P.G(z[a:a + chunk])) - P.y
                    0.5 * (r * r).sum(1)

        rates = [z.shape[0] / best_time(convT, 2)]
        for strategy, prune in (("col2im", True), ("dense", True), ("auto", False), ("auto", True)):
            eng = Engine(P.G, P.op, P.y, strategy=strategy, prune=prune)
            rates.append(z.shape[0] / best_time(lambda: eng.J_many(z), 3))
        print(f"{preset:<14}" + "".join(f"{r:>{w},.0f}" for r, w in zip(rates, (15, 12, 12, 15, 12))))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for preset in ("paper-fig4", "authors-code"):
        out = subprocess.run([sys.executable, "-c", RSS_SNIPPET.format(root=root, preset=preset)],
                             capture_output=True, text=True, check=True).stdout.strip()
        print(f"\n501² grid, {preset}: peak RSS {float(out):.0f} MB (whole process, torch included)", end="")
    print()
    P = build_problem(from_preset("paper-fig4"))
    starts = random_starts(2, 1000, seed=0, scale=2.0)
    t = best_time(lambda: descend(P, starts, method="adam", lr=0.1, steps=500), 2)
    d = descend(P, starts, method="adam", lr=0.1, steps=500)
    print(f"1000 starts × 500 Adam steps (paper-fig4): {t:.2f} s, outcomes {d.counts}")


if __name__ == "__main__":
    main()
