"""Solvers: MNIST inversion by mask, every solver on paper-fig4, time to a certified recovery; run ``python benchmarks/solvers.py``.

Targets (issue 8). Three tables, every timing in two columns measured in the same run: "idle" (the
machine as it is, other users' load included; the load average is printed) and "1 busy" (one
busy-looping process started beside it, :class:`benchmarks.common.Busy`). The outcomes (counts,
fractions, iterations) are those of the "idle" run; every draw is seeded, so the "1 busy" run
computes the same numbers and only its times differ (a difference is printed as a warning).

1. **MNIST inversion by mask.** ``core.inversion.run_inversion`` on ``InvertSpec(Config(generator=
   "mnist", mask=...))`` with every other setting at the project's default: 100 draws (z*, class)
   from ``z_seed`` 0, 4 restarts from ``start_seed`` 0, L-BFGS, 500 steps, float32 with the misses
   continued in float64 (``refined``), one operator per mask (``mask_seed`` 0, rate 0.5). Per mask:
   recovered %, the diagnosis counts (:data:`core.diagnosis.LABELS`), refined rows, and the wall
   seconds of the whole call ("wall (solve)": the call as a user waits for it, and in brackets the
   solve + diagnosis + refinement part, ``InversionResult.seconds``; the rest is building y, G(ẑ)
   and the masked Jacobian's SVD at z*). Targets: ≥ 99 % recovered for each of random, top,
   bottom, left, right and ≤ 60 s for the five together. Then border and center (no target).
   Every miss is listed with its diagnosis (label, Hessian class, latent error, J / ½‖y‖², stop).
2. **Every solver on paper-fig4.** ``core.descent.descend`` from ``random_starts`` (1,000 starts,
   seed 0) as ``python -m core descend --preset paper-fig4`` runs it (paths kept, preset defaults:
   float32, 500 steps, lr 0.1, λ₀ 1): recovered %, diverged, the other labels, why the starts
   stopped, median iterations, and the wall seconds of the call (solve + diagnosis). Target:
   ≥ 99 % recovered and none diverged for every solver, GD included.
3. **Time to a certified recovery.** In float64, a start is *certified* at the first iterate with
   J(z_t) / (½‖y‖²) ≤ 1e-20. Per problem and solver: the fraction of starts certified within the
   budget (500 iterations), and over the certified starts the median (and largest) iteration,
   evaluation count and wall time at which they were certified; the seconds column is the median
   time to the certificate (max in brackets). Problems: paper-fig4 and authors-code (100 starts each,
   ``descend``), and the MNIST generator (``--cert-draws`` draws (z*, class), one start each, the
   first restart ``run_inversion`` would use, on one ``core.problem.Objective`` with a target per
   draw, solved by ``core.solvers.solve``). The solver's own rule stops a row at exactly this
   certificate (``ftol`` = 1e-20, the float64 default of ``core.solvers.TOLERANCES``, passed
   explicitly); its gradient and step rules are switched off (``gtol = xtol = 0``, through the same
   keywords) so that a row stops only when certified, stalled, diverged or out of budget, and
   "not certified" is about the solver and not its stopping rule. ``solve`` records J at every
   iterate (``J_path``) and the batch's wall time at the end of every iteration (``seconds``); a
   start's certificate is read off those two (:func:`core.budget.budget_curves` is not used: it
   follows the latent error ‖z_t − z*‖ ≤ tol ‖z*‖, not J, and keeps the default gtol / xtol). The times are
   those of the *batched* solve of all starts together: the time at which the batch had certified
   this start, not the time of one start solved alone. The uncertified starts are summarised by
   their diagnosis.
   MNIST uses 10 draws by default, not 20: GD and Adam run the whole 500-step budget on most draws
   there, and on this shared 2-core machine the four solvers take ~7 minutes per column for 20
   draws (``--cert-draws 20`` to run them).

``--quick``: 10 draws per mask, 100 starts, 20 certificate starts, 3 MNIST draws and a 100-step
certificate budget (a smoke run; its numbers do not test the targets). ``--no-busy``: the "idle"
column only. ``--tables``: a subset of 1,2,3. torch runs with ``--threads`` intra-op threads (default
1) and the engine's chunk pool with ``--workers`` threads (default: one per usable core), the
settings ``python -m core`` runs with.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import COLUMNS, columns, load_average, matmul_gflops  # noqa: E402
from core.config import Config, from_preset  # noqa: E402
from core.descent import RADIUS_FACTOR, descend, random_starts  # noqa: E402
from core.diagnosis import LABELS, diagnose  # noqa: E402
from core.generators import build_generator  # noqa: E402
from core.generators.engine import set_workers, workers  # noqa: E402
from core.inversion import InvertSpec, draw_truth, run_inversion  # noqa: E402
from core.masks import make_operator  # noqa: E402
from core.problem import Objective, build_problem, trial_starts  # noqa: E402
from core.solvers import METHODS, solve  # noqa: E402

TARGET_MASKS = ("random", "top", "bottom", "left", "right")
OTHER_MASKS = ("border", "center")
SOLVERS = ("gd", "adam", "lbfgs", "gauss_newton")
assert set(SOLVERS) == set(METHODS)
CERTIFICATE = 1e-20            # J / (½‖y‖²) in float64
WIDTH = 22                     # characters of a timing column


# ---------------------------------------------------------------- table 1: MNIST by mask
def mnist_masks(masks, trials: int) -> dict:
    """``{mask: (wall seconds, InversionResult)}`` of the default inversion for each mask."""
    run_inversion(InvertSpec(config=Config(generator="mnist"), trials=1, restarts=1))   # load and warm up
    out = {}
    for mask in masks:
        t0 = time.perf_counter()
        r = run_inversion(InvertSpec(config=Config(generator="mnist", mask=mask), trials=trials))
        out[mask] = (time.perf_counter() - t0, r)
    return out


def print_misses(mask: str, r, limit: int = 20) -> None:
    """One line per draw that was not recovered: its diagnosis and the solver's account."""
    d = r.diagnosis
    miss = np.nonzero(d.label != "recovered")[0]
    for t in miss[:limit]:
        kind = f" ({d.hessian[t]})" if d.hessian[t] else ""
        near = ", near the −z* ray" if d.near_negative[t] else ""
        print(f"    {mask} draw {t:3d} (class {r.labels[t]}): {d.label[t]}{kind}{near}, "
              f"|ẑ−z*|/|z*| {d.rel_error[t]:.2e}, J {r.J_hat[t]:.2e}, |∇J| {d.grad_norm[t]:.1e}, stop {r.stop[t]}, "
              f"restarts {r.restarts_used[t]}{', refined' if r.refined[t] else ''}")
    if miss.size > limit:
        print(f"    … and {miss.size - limit} more")


def table_mnist(a) -> None:
    masks = TARGET_MASKS + OTHER_MASKS
    cols = columns(lambda: mnist_masks(masks, a.draws), busy=not a.no_busy)
    idle = cols["idle"]
    print(f"\n1. MNIST generator, {a.draws} draws per mask, default inversion (L-BFGS, 500 steps, 4 restarts, "
          f"float32 + float64 refinement); seconds: wall (solve)")
    head = f"{'mask':8s}{'rate':>6s}{'recovered':>11s}" + "".join(f"{k[:11]:>12s}" for k in LABELS) + f"{'refined':>9s}"
    print(head + "".join(f"{c:>{WIDTH}s}" for c in cols))
    for mask in masks:
        _, r = idle[mask]
        c = r.diagnosis.counts
        line = f"{mask:8s}{r.rate:6.2f}{r.success_rate:11.0%}" + "".join(f"{c[k]:12d}" for k in LABELS)
        line += f"{int(r.refined.sum()):9d}"
        line += "".join(f"{f'{col[mask][0]:.1f} ({col[mask][1].seconds:.1f}) s':>{WIDTH}s}" for col in cols.values())
        print(line)
        if mask == TARGET_MASKS[-1]:
            tot = {k: sum(col[m][0] for m in TARGET_MASKS) for k, col in cols.items()}
            ok = all(idle[m][1].success_rate >= 0.99 for m in TARGET_MASKS)
            print(f"{'5 masks':8s}{'':6s}{'≥ 99 %' if ok else '< 99 %':>11s}{'(target ≥ 99 % each, ≤ 60 s)':>{12 * len(LABELS) + 9}s}"
                  + "".join(f"{f'{t:.1f} s':>{WIDTH}s}" for t in tot.values()))
    for k, col in cols.items():
        if k != "idle" and any(not np.array_equal(col[m][1].diagnosis.label, idle[m][1].diagnosis.label) for m in masks):
            print(f"  warning: the '{k}' run labelled some draws differently from the idle run")
    for mask in masks:
        r = idle[mask][1]
        if (r.diagnosis.label != "recovered").any():
            print(f"  misses, {mask}:")
            print_misses(mask, r)


# ---------------------------------------------------------------- table 2: every solver, paper-fig4
def fig4_solvers(P, starts) -> dict:
    """``{method: (wall seconds, Descent)}`` from the same starts, as ``python -m core descend`` runs them."""
    for m in SOLVERS:                       # warm-up: one start, one step
        descend(P, starts[:1], method=m, steps=1)
    out = {}
    for m in SOLVERS:
        t0 = time.perf_counter()
        d = descend(P, starts, method=m)
        out[m] = (time.perf_counter() - t0, d)
    return out


def stops_of(stop) -> str:
    names, n = np.unique(np.asarray(stop), return_counts=True)
    return " ".join(f"{k} {v}" for k, v in zip(names, n))


def table_fig4(a) -> None:
    cfg = from_preset("paper-fig4", starts=a.starts)
    P = build_problem(cfg)
    starts = random_starts(P.n0, cfg.starts, cfg.start_seed)
    cols = columns(lambda: fig4_solvers(P, starts), busy=not a.no_busy)
    idle = cols["idle"]
    print(f"\n2. paper-fig4, {a.starts} random starts (seed {cfg.start_seed}), {cfg.dtype}, {cfg.steps} steps, "
          f"lr {cfg.lr}, λ₀ {cfg.damping}; target ≥ 99 % recovered, 0 diverged")
    print(f"{'solver':14s}{'recovered':>11s}{'diverged':>10s}  {'other labels':24s}{'med. it':>8s}  {'stops':34s}"
          + "".join(f"{c:>{WIDTH - 8}s}" for c in cols))
    for m in SOLVERS:
        d = idle[m][1]
        c = d.counts
        other = " ".join(f"{k} {c[k]}" for k in LABELS if k not in ("recovered", "diverged") and c[k]) or "—"
        flag = "" if d.success_rate >= 0.99 and c["diverged"] == 0 else "  MISSED"
        print(f"{m:14s}{d.success_rate:11.1%}{c['diverged']:10d}  {other:24s}{np.median(d.solve.iterations):8.0f}  "
              f"{stops_of(d.solve.stop):34s}" + "".join(f"{f'{col[m][0]:.2f} s':>{WIDTH - 8}s}" for col in cols.values())
              + flag)
    for k, col in cols.items():
        if k != "idle" and any(not np.array_equal(col[m][1].label, idle[m][1].label) for m in SOLVERS):
            print(f"  warning: the '{k}' run labelled some starts differently from the idle run")


# ---------------------------------------------------------------- table 3: time to the certificate
TIGHT = dict(ftol=CERTIFICATE, gtol=0.0, xtol=0.0)


def mnist_objective(draws: int):
    """The default MNIST inversion's first ``draws`` trials in float64: (Objective, starts (T, n0), radius)."""
    cfg = Config(generator="mnist", dtype="float64")
    spec = InvertSpec(config=cfg, trials=draws)
    G = build_generator(cfg, dtype=torch.float64)
    op = make_operator(cfg.mask, tuple(G.output_shape), rate=cfg.rate, seed=cfg.mask_seed, dtype=torch.float64)
    z_star, labels, _ = draw_truth(spec, G.latent_dim, G.conditional)
    lab = labels if G.conditional else None
    with torch.no_grad():
        y = op.A(G(z_star, *(() if lab is None else (lab,))))
    obj = Objective(G.evaluator(op, torch.zeros(op.m, dtype=torch.float64)), G.latent_dim,
                    group=torch.arange(draws), target=y, labels=lab, scale=0.5 * (y ** 2).sum(1),
                    floor=torch.zeros(draws, dtype=torch.float64), z_star=z_star)
    starts = trial_starts(cfg.start_seed, draws, 1, G.latent_dim)[:, 0]     # run_inversion's restart 0 of each draw
    radius = RADIUS_FACTOR * (cfg.extent + float(z_star.norm(dim=1).max()))
    return cfg, obj, starts, radius


def certified(res, scale) -> dict:
    """Per start: the first certified iterate (−1: never), and the batch's seconds there."""
    ok = res.J_path / np.asarray(scale, dtype=float)[None] <= CERTIFICATE   # (T + 1, S)
    first = np.where(ok.any(0), ok.argmax(0), -1)
    return dict(first=first, seconds=np.where(first >= 0, res.seconds[np.clip(first, 0, None)], np.inf))


def cert_runs(problems, steps: int) -> dict:
    """``{(problem, method): (Solve, labels, certified)}`` for every problem and solver."""
    out = {}
    for name, build in problems.items():
        kind, *rest = build()
        for m in SOLVERS:
            if kind == "descend":
                P, starts = rest
                descend(P, starts[:1], method=m, steps=1, **TIGHT)
                d = descend(P, starts, method=m, steps=steps, keep_path=True, **TIGHT)
                res, label, scale = d.solve, d.label, np.full(starts.shape[0], P.scale)
            else:
                cfg, obj, starts, radius = rest
                solve(obj, starts[:1], method=m, steps=1, radius=radius, record=False)
                res = solve(obj, starts, method=m, steps=steps, radius=radius, record=True, **TIGHT)
                label = diagnose(obj, res, tol=cfg.tol, eps=cfg.eps, radius=radius).label
                scale = obj.scale.numpy()
            out[name, m] = (res, label, certified(res, scale))
    return out


def table_certificate(a) -> None:
    steps = 100 if a.quick else 500

    def preset(name):
        def build():
            cfg = from_preset(name, dtype="float64")
            P = build_problem(cfg)
            return "descend", P, random_starts(P.n0, a.cert_starts, cfg.start_seed)
        return build

    problems = {"paper-fig4": preset("paper-fig4"), "authors-code": preset("authors-code"),
                "mnist": lambda: ("solve", *mnist_objective(a.cert_draws))}
    cols = columns(lambda: cert_runs(problems, steps), busy=not a.no_busy)
    idle = cols["idle"]
    print(f"\n3. time to a certified recovery: J / (½‖y‖²) ≤ {CERTIFICATE:.0e} in float64, {steps} iterations "
          f"(ftol {CERTIFICATE:.0e}, gtol = xtol = 0); paper-fig4, authors-code {a.cert_starts} starts, "
          f"MNIST {a.cert_draws} draws; over certified starts: median (max); seconds of the batched solve")
    print(f"{'problem':14s}{'solver':14s}{'certified':>10s}{'iterations':>14s}{'evaluations':>16s}  {'not certified':34s}"
          + "".join(f"{c:>{WIDTH}s}" for c in cols))
    for name in problems:
        for m in SOLVERS:
            res, label, cert = idle[name, m]
            done = cert["first"] >= 0
            frac = done.mean()
            if done.any():
                it = f"{np.median(cert['first'][done]):.0f} ({cert['first'][done].max()})"
                # A certified row stopped on "fit" at its certificate, so its count is the one there.
                ev = f"{np.median(res.evaluations[done]):.0f} ({res.evaluations[done].max()})"
            else:
                it = ev = "—"
            miss = label[~done]
            why = " ".join(f"{k} {int((miss == k).sum())}" for k in LABELS if (miss == k).any()) or "—"

            def secs(col):
                s = col[name, m][2]["seconds"]
                s = s[np.isfinite(s)]
                return f"{np.median(s):.2f} ({s.max():.2f}) s" if s.size else "—"

            print(f"{name:14s}{m:14s}{frac:10.0%}{it:>14s}{ev:>16s}  {why:34s}"
                  + "".join(f"{secs(col):>{WIDTH}s}" for col in cols.values()))
    print("  (not certified: the diagnosis of the starts that never reached the certificate)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few draws and starts: a smoke run")
    ap.add_argument("--no-busy", action="store_true", help="skip the column with one busy process")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1, as the CLI)")
    ap.add_argument("--workers", type=int, default=0,
                    help="engine worker threads (0, the default: one per usable core, as the CLI)")
    ap.add_argument("--tables", default="1,2,3", help="which tables, comma-separated among 1,2,3")
    ap.add_argument("--cert-draws", type=int, default=None, help="MNIST draws of table 3 (default 10; quick 3)")
    a = ap.parse_args(argv)
    a.draws, a.starts, a.cert_starts = (10, 100, 20) if a.quick else (100, 1000, 100)
    a.cert_draws = a.cert_draws or (3 if a.quick else 10)
    torch.set_num_threads(a.threads)
    if a.workers:
        set_workers(a.workers)
    torch.manual_seed(0)
    gf = matmul_gflops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {workers()} engine worker(s), "
          f"float32 matmul {gf:.1f} GFLOP/s, load average {load_average():.2f} on {os.cpu_count()} cores"
          f"{', quick' if a.quick else ''}; columns: {', '.join(COLUMNS[:1 if a.no_busy else 2])}")
    tables = {t.strip() for t in a.tables.split(",")}
    t0 = time.perf_counter()
    if "1" in tables:
        table_mnist(a)
    if "2" in tables:
        table_fig4(a)
    if "3" in tables:
        table_certificate(a)
    print(f"\nload average {load_average():.2f} at the end; {time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
