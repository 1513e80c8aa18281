"""Phase-transition speed, idle and with one busy process: prints a table; ``python benchmarks/phase.py``.

The example of the issue: ``paper-fig4``, patterns random, top, left, border, rates 0.05:1:12,
50 trials, 4 restarts (9,600 descents with the default solver, up to its steps each; a trial still
converging at the end gets up to 3 more budgets). Each row is one torch thread count and engine
formulation; each is run idle and beside one busy-looping process (:class:`benchmarks.common.Busy`).
Columns per load: wall seconds, point-steps/s (the solver iterations actually taken, summed over
every descent, per second) and the GFLOP/s that makes at the engine's FLOP per point-step (forward +
backward ≈ 2 × forward), as a fraction of this machine's float32 matmul rate measured in the same
run. The last lines time the CLI command itself, in a fresh process (imports included), idle and
busy. Target: ≤ 60 s. ``--quick``: 5 trials, one thread, col2im, no CLI (a smoke run).
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
from core.diagnosis import CONTINUE_ROUNDS  # noqa: E402
from core.phase import PhaseRunner, PhaseSpec, parse_rates, phase_transition  # noqa: E402
from benchmarks.common import columns, matmul_gflops  # noqa: E402

CLI = ["-m", "core", "phase", "--preset", "paper-fig4", "--patterns", "random,top,left,border",
       "--rates", "0.05:1:12", "--trials", "50"]




def run_row(spec, threads: int, strategy: str, flop: int, peak: float) -> dict:
    t = time.perf_counter()
    res = phase_transition(spec, strategy=strategy, threads=threads)
    dt = time.perf_counter() - t
    steps = float(res.mean_steps.mean()) * spec.n_points
    return dict(seconds=dt, rate=steps / dt, frac=steps * flop / dt / 1e9 / peak, steps=res.mean_steps.mean(),
                p=" ".join(f"{p}={x:.2f}" for p, x in zip(res.patterns, res.p_success[:, 0])))


def cli_seconds() -> tuple[float, int, dict]:
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, *CLI, "--out", os.path.join(d, "f.npz")], cwd=ROOT,
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
        dt = time.perf_counter() - t
        f = np.load(os.path.join(d, "f.npz")) if out.returncode == 0 else None
        return dt, out.returncode, ({} if f is None else
                                    {str(k): round(float(v), 3) for k, v in zip(f["patterns"], f["r50"])})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="torch thread counts to try")
    ap.add_argument("--strategies", default="col2im,dense")
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--no-cli", action="store_true", help="skip timing the CLI command")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 5 trials, 1 thread, col2im, no CLI")
    args = ap.parse_args(argv)
    if args.quick:
        args.threads, args.strategies, args.trials, args.no_cli = "1", "col2im", 5, True
    spec = PhaseSpec(config=from_preset("paper-fig4", z_star=()), patterns=("random", "top", "left", "border"),
                     rates=parse_rates("0.05:1:12"), trials=args.trials, restarts=4)
    default_threads = torch.get_num_threads()
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}; {os.cpu_count()} cores; load average {load:.1f} before the idle column")
    print(f"spec: {len(spec.patterns)} patterns × {len(spec.rates)} rates × {spec.trials} trials × "
          f"{spec.restarts} restarts = {spec.n_points} descents, ≤ {spec.config.steps} {spec.config.method} "
          f"steps each (+ up to {CONTINUE_ROUNDS} more budgets for a trial still converging)\n")
    hdr = (f"{'threads':>8}{'engine':>8}{'FLOP/pt-step':>14} | {'idle s':>7}{'pt-steps/s':>12}{'of matmul':>10} | "
           f"{'busy s':>7}{'pt-steps/s':>12}{'of matmul':>10} | {'mean steps':>10}  p(r = 0.05) per pattern")
    print(hdr)
    print("-" * len(hdr))
    for th in (int(x) for x in args.threads.split(",")):
        torch.set_num_threads(th)
        peak = matmul_gflops()
        for strategy in args.strategies.split(","):
            ev = PhaseRunner(spec, strategy=strategy).evaluator
            # the trials' own y and masks go through K_s z where sectors apply (2·m multiply-adds a point)
            macs = 2 * ev.m if getattr(ev, "sectors", None) is not None else ev.macs_per_point
            flop = 2 * 2 * macs  # forward + backward
            r = columns(lambda: run_row(spec, th, strategy, flop, peak))
            i, b = r["idle"], r["1 busy"]
            print(f"{th:>8}{strategy:>8}{flop:>14,} | {i['seconds']:>7.1f}{i['rate']:>12,.0f}{i['frac']:>10.1%} | "
                  f"{b['seconds']:>7.1f}{b['rate']:>12,.0f}{b['frac']:>10.1%} | {i['steps']:>10.0f}  {i['p']}")
    torch.set_num_threads(default_threads)
    if not args.no_cli:
        r = columns(cli_seconds)
        print(f"\nCLI `python {' '.join(CLI)} --out f.npz` (--threads 1, the default): "
              f"{r['idle'][0]:.1f} s idle, {r['1 busy'][0]:.1f} s beside a busy process (rc {r['idle'][1]}, "
              f"{r['1 busy'][1]}); r50 = {r['idle'][2]}")


if __name__ == "__main__":
    main()
