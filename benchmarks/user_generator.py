"""A user's own generator: the 101² landscape and 100 inversions; run ``python benchmarks/user_generator.py``.

Targets (issue 12): a 101² landscape ≤ 5 s and 100 inversions ≤ 60 s on this CPU, on the example
module (``examples.own_generator:build``, 8 → 1×16×16, 43 k parameters) or a DCGAN-sized one
(``build_large``, 16 → 1×32×32, 1.05 M parameters). Every generator here goes through the generic
autograd path (``core.generators.generic``), as any user's module does.

Rows:

* ``landscape 101²``: ``core.landscape.landscape`` on the default plane (best of ``--repeats``);
  points/s, GFLOP/s of the module's multiply-adds and that as a fraction of this machine's float32
  matmul rate (measured in the same run);
* ``injectivity 101²``: σ_min and cond of A ∂G/∂z on the same grid (:mod:`core.injectivity`): one
  primal and n0 tangent passes per point, so about (n0 + 1)× the landscape;
* ``100 inversions``: 100 codes z* ~ N(0, I), y = A G(z*) through a fresh random 50 % pixel mask per
  trial (per-row targets and weights of one :class:`~core.problem.Objective`), solved by
  ``core.solvers.solve_restarts`` (L-BFGS, 500 steps, up to 4 restarts until a fit), judged by
  ``core.diagnosis.diagnose``; the success rate is ‖ẑ − z*‖ ≤ 1e-3 ‖z*‖.

The ~1 M parameter module does only the landscape (once) unless ``--large-all``: its forward pass
alone is 25 M multiply-adds per point, so at this machine's matmul rate a 101² grid cannot take
under ~20 s (the "at the matmul rate" row).

Each is timed twice: on the machine as it is ("idle" — other users' load included; the load average
is printed) and with one busy-looping process started by this script beside it ("1 busy").
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import Busy, best_time, matmul_gflops  # noqa: E402
from core.config import Config  # noqa: E402
from core.descent import radius_of  # noqa: E402
from core.diagnosis import diagnose  # noqa: E402
from core.injectivity import injectivity_of  # noqa: E402
from core.landscape import landscape  # noqa: E402
from core.masks import make_operator  # noqa: E402
from core.problem import Objective, build_problem  # noqa: E402
from core.solvers import solve_restarts  # noqa: E402

SPECS = {"example": "examples.own_generator:build", "large": "examples.own_generator:build_large"}


def macs_per_point(module: torch.nn.Module, n0: int) -> int:
    """Multiply-adds of one forward pass, counted from the shapes of the Linear and ConvTranspose layers."""
    total = 0
    hooks = []

    def count(m, inp, out):
        nonlocal total
        if isinstance(m, torch.nn.Linear):
            total += m.in_features * m.out_features
        elif isinstance(m, torch.nn.ConvTranspose2d):
            total += inp[0][0].numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1]

    for m in module.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.ConvTranspose2d)):
            hooks.append(m.register_forward_hook(count))
    with torch.no_grad():
        module(torch.zeros(1, n0))
    for h in hooks:
        h.remove()
    return total


def inversions(P, trials: int = 100, restarts: int = 4, steps: int = 500, seed: int = 0):
    """100 inversions of P's generator with per-trial z*, masks and y: (seconds, success rate, stops)."""
    G, n0, dt = P.G, P.n0, P.dtype
    full = make_operator("identity", G.output_shape, dtype=torch.float64).to(dtype=dt)
    ev = G.evaluator(full, torch.zeros(full.m, dtype=dt))
    g = torch.Generator().manual_seed(seed)
    z_star = torch.randn(trials, n0, generator=g, dtype=torch.float64).to(dt)
    with torch.no_grad():
        x = G(z_star).reshape(trials, -1)
    weight = (torch.rand(trials, full.m, generator=g, dtype=torch.float64) < 0.5).to(dt)
    target = x * weight                       # y = A G(z*) in place; unobserved entries carry weight 0
    scale = 0.5 * (target.double() ** 2).sum(1)
    obj = Objective(ev, n0, group=torch.arange(trials), target=target, weight=weight, scale=scale,
                    floor=torch.zeros(trials, dtype=torch.float64), z_star=z_star)
    starts = torch.randn(trials, restarts, n0, generator=g, dtype=torch.float64).to(dt)
    radius = radius_of(P)
    t0 = time.perf_counter()
    run = solve_restarts(obj, starts, method="lbfgs", steps=steps, radius=radius)
    seconds = time.perf_counter() - t0
    diag = diagnose(obj, run.best, radius=radius)
    return seconds, float((diag.label == "recovered").mean()), diag.counts, int(run.used.sum())


def measure(P, repeats: int, landscape_only: bool) -> dict:
    """Seconds of the 101² landscape, of its injectivity map, and the 100 inversions' account."""
    out = {"landscape": best_time(lambda: landscape(P, grid=101), repeats)}
    if not landscape_only:
        L = landscape(P, grid=101)
        t0 = time.perf_counter()
        injectivity_of(P, L)
        out["injectivity"] = time.perf_counter() - t0
        out["inversions"] = inversions(P)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--which", choices=[*SPECS, "both"], default="both")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--no-busy", action="store_true", help="skip the column with one busy process")
    ap.add_argument("--large-all", action="store_true",
                    help="also the injectivity map and the 100 inversions of the ~1 M parameter module (slow on 2 cores)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    gf = matmul_gflops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32 matmul {gf:.1f} GFLOP/s, "
          f"load average {os.getloadavg()[0]:.2f}")
    names = list(SPECS) if a.which == "both" else [a.which]
    for name in names:
        P = build_problem(Config(generator=SPECS[name], grid=101))
        module = P.G.module
        params = sum(p.numel() for p in module.parameters())
        macs = macs_per_point(module, P.n0)
        skip = name == "large" and not a.large_all
        cols = {"idle": measure(P, 1 if name == "large" else a.repeats, skip)}
        if not a.no_busy:
            with Busy():
                cols["1 busy"] = measure(P, 1 if name == "large" else a.repeats, skip)
        print(f"\n{name}: {SPECS[name]}  n0 = {P.n0}, output {P.G.output_shape}, {params:,} parameters, "
              f"{macs / 1e6:.2f} M multiply-adds per point, m = {P.op.m}")
        print(f"{'':28s}" + "".join(f"{c:>26s}" for c in cols))
        row = lambda label, f: print(f"{label:28s}" + "".join(f"{f(r):>26s}" for r in cols.values()))  # noqa: E731
        row("landscape 101² (target 5 s)", lambda r: f"{r['landscape']:.2f} s, {101 ** 2 / r['landscape']:,.0f} pt/s")
        row("  GFLOP/s (fraction of mm)", lambda r: f"{2 * macs * 101 ** 2 / r['landscape'] / 1e9:.1f} "
                                                    f"({2 * macs * 101 ** 2 / r['landscape'] / 1e9 / gf:.0%})")
        row("  at the matmul rate", lambda r: f"{2 * macs * 101 ** 2 / gf / 1e9:.2f} s")
        if not skip:
            row("injectivity 101²", lambda r: f"{r['injectivity']:.2f} s")
            row("100 inversions (target 60 s)", lambda r: f"{r['inversions'][0]:.1f} s")
            row("  recovered / restarts used", lambda r: f"{r['inversions'][1]:.0%} / {r['inversions'][3]}")
        else:
            print(f"{'injectivity, inversions':28s}  skipped (--large-all to run them)")


if __name__ == "__main__":
    main()
