"""Phase-transition speed: prints a table; run ``python benchmarks/phase.py``.

The example of the issue: ``paper-fig4``, patterns random, top, left, border, rates 0.05:1:12,
50 trials, 4 restarts (9,600 descents of up to 500 Adam steps). Each row is one full run of
:func:`core.phase.phase_transition` with a torch thread count and engine formulation. Columns:
wall time; point-steps actually taken (restarts stop early, see core/phase.py); point-steps/s;
the FLOP the engine performs per point-step (forward + backward ≈ 2 × forward) and the resulting
GFLOP/s as a fraction of this machine's float32 matmul rate measured in the same run. The last
line times the CLI command itself, in a fresh process (imports included). Target: ≤ 60 s.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from core.config import from_preset  # noqa: E402
from core.phase import PhaseRunner, PhaseSpec, parse_rates, phase_transition  # noqa: E402
from benchmarks.common import matmul_gflops  # noqa: E402

CLI = ["-m", "core", "phase", "--preset", "paper-fig4", "--patterns", "random,top,left,border",
       "--rates", "0.05:1:12", "--trials", "50"]




def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="torch thread counts to try")
    ap.add_argument("--strategies", default="col2im,dense")
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--no-cli", action="store_true", help="skip timing the CLI command")
    args = ap.parse_args()
    spec = PhaseSpec(config=from_preset("paper-fig4", z_star=()), patterns=("random", "top", "left", "border"),
                     rates=parse_rates("0.05:1:12"), trials=args.trials, restarts=4)
    default_threads = torch.get_num_threads()
    print(f"torch {torch.__version__}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print(f"spec: {len(spec.patterns)} patterns × {len(spec.rates)} rates × {spec.trials} trials × "
          f"{spec.restarts} restarts = {spec.n_points} descents, ≤ {spec.config.steps} Adam steps each\n")
    hdr = f"{'threads':>8}{'engine':>8}{'seconds':>9}{'point-steps':>13}{'pt-steps/s':>12}" \
          f"{'FLOP/pt-step':>14}{'GFLOP/s':>9}{'of matmul':>11}{'mean steps':>12}  p(r = 0.05) per pattern"
    print(hdr)
    print("-" * len(hdr))
    for th in (int(x) for x in args.threads.split(",")):
        torch.set_num_threads(th)
        peak = matmul_gflops()
        for strategy in args.strategies.split(","):
            runner = PhaseRunner(spec, strategy=strategy)
            flop = 2 * 2 * runner.engine.macs_per_point  # forward + backward
            t = time.perf_counter()
            res = phase_transition(spec, strategy=strategy, threads=th)
            dt = time.perf_counter() - t
            steps = float(res.mean_steps.mean()) * spec.n_points
            gf = steps * flop / dt / 1e9
            print(f"{th:>8}{strategy:>8}{dt:>9.1f}{steps:>13,.0f}{steps / dt:>12,.0f}{flop:>14,}{gf:>9.1f}"
                  f"{gf / peak:>10.1%}{res.mean_steps.mean():>12.0f}  "
                  + " ".join(f"{p}={x:.2f}" for p, x in zip(res.patterns, res.p_success[:, 0])))
    torch.set_num_threads(default_threads)
    if not args.no_cli:
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            out = subprocess.run([sys.executable, *CLI, "--out", os.path.join(d, "f.npz")], cwd=ROOT,
                                 capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
            dt = time.perf_counter() - t
            f = np.load(os.path.join(d, "f.npz"))
            print(f"\nCLI `python {' '.join(CLI)} --out f.npz` (--threads 1, the default): {dt:.1f} s wall, rc {out.returncode}; "
                  f"r50 = {dict(zip(f['patterns'], np.round(f['r50'], 3)))}")


if __name__ == "__main__":
    main()
