"""Probability of recovery against the sampling rate, per mask pattern (Theorem 4), with r50 and its interval."""
from __future__ import annotations

import numpy as np

from ..config import ConfigError
from ..diagnosis import failure_counts
from ..phase import PhaseSpec, failed_trials, parse_patterns, parse_rates, phase_transition
from .common import budget_warning, cli_check, parse_float, parse_int
from .flags import add_config_flags, config_from_args

FAILURES_SHOWN = 3    # failed trials named in the summary, each with the flags of its landscape
HELP = "probability of recovery against the sampling rate, per mask pattern"
FLAGS = {"trials": "--trials", "restarts": "--restarts", "rates": "--rates", "patterns": "--patterns",
         "start_scale": "--start-scale", "spec": "--rates"}


def add(p):
    add_config_flags(p)
    p.add_argument("--patterns", default="random,top,left,border", help="comma-separated mask patterns")
    p.add_argument("--rates", default="0.05:1:12", help="lo:hi:count (evenly spaced) or a comma-separated list")
    p.add_argument("--trials", default="50", help="trials per (pattern, rate), each with a fresh z* (and random mask)")
    p.add_argument("--restarts", default="4", help="random starts per trial, tried until one fits")
    p.add_argument("--start-scale", default="1.0", help="restarts are drawn N(0, scale^2 I)")


def run(args):
    cfg = config_from_args(args, {} if args.z_star is not None else {"z_star": ()})
    spec = PhaseSpec(config=cfg, patterns=parse_patterns(args.patterns), rates=parse_rates(args.rates),
                     trials=parse_int("--trials", args.trials, 1, 2000),
                     restarts=parse_int("--restarts", args.restarts, 1, 64),
                     start_scale=parse_float("--start-scale", args.start_scale, 1e-6, 1e4))
    cli_check(cfg, "phase", FLAGS, trials=spec.trials, restarts=spec.restarts, rates=len(spec.rates),
              patterns=len(spec.patterns))
    res = phase_transition(spec, threads=None)
    rows = []
    for i, (p, r, lo, hi) in enumerate(zip(res.patterns, res.r50, res.r50_low, res.r50_high)):
        row = (f"{p}: r50 {r:.3f}" if np.isfinite(r) else f"{p}: r50 in ({lo:.3f}, {hi:.3f}]"
               if np.isfinite(hi) else f"{p}: no crossing of 1/2")
        fails = failure_counts(None if res.diagnosis is None else res.diagnosis[i])      # why the misses missed: landscape or budget
        rows.append(row + (" (failures: " + ", ".join(f"{k} {v}" for k, v in fails.items()) + ")" if fails else ""))
    look = failed_trials(spec, res.success, FAILURES_SHOWN)
    if look:
        def flags(land):
            return (f"--mask {land.mask} --rate {land.rate:g} --z-seed {land.z_seed}"
                    + (f" --mask-seed {land.mask_seed}" if land.mask == "random" else "")
                    + (f" --noise-seed {land.noise_seed}" if land.noise not in ("", "none") else ""))
        rows.append("failed trials, highest rate first: " + ", ".join(
            f"{res.patterns[p]} r {spec.rates[r]:g} #{t} {res.diagnosis[p, r, t]} ({flags(land)})"
            for p, r, t, land in look) + "; a trial's landscape: `landscape` with this run's flags and the trial's in brackets")
    return res.to_npz_dict(), (f"{len(spec.patterns)} patterns x {len(spec.rates)} rates x {spec.trials} trials "
                               f"({res.seconds:.1f} s); " + "; ".join(rows) + budget_warning(res.diagnosis, flat=res.n_flat))
