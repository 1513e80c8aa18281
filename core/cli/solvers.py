"""Budget curves: for each solver, the fraction of starts recovered against iterations and wall time.

This is the plot that tells whether a failure is the landscape's or the budget's: a curve that
is still rising when the budget ends says "more iterations"; a plateau below 1 says "the
landscape" (and the diagnosis of ``descend`` says which critical points).
"""
from __future__ import annotations

import numpy as np

from ..config import METHODS, ConfigError
from ..descent import random_starts
from ..problem import build_problem
from .common import cli_check
from .flags import add_config_flags, config_from_args

HELP = "budget curves: fraction recovered against iterations and time, per solver"
FLAGS = {"methods": "--methods"}


def add(p):
    add_config_flags(p)
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated solvers among {', '.join(METHODS)}")


def run(args):
    from ..budget import budget_curves

    methods = tuple(m.strip() for m in str(args.methods).split(",") if m.strip())
    if not methods or len(methods) > len(METHODS) or any(m not in METHODS for m in methods):
        raise ConfigError("--methods", f"give some of {', '.join(METHODS)}, comma-separated; got {args.methods!r}")
    if len(set(methods)) != len(methods):
        raise ConfigError("--methods", f"each solver at most once, among {', '.join(METHODS)}; got {args.methods!r}")
    cfg = config_from_args(args)
    # Every method solves from the same starts (Gauss–Newton's tangents cost the most per step).
    worst = cfg.replace(method="gauss_newton") if "gauss_newton" in methods else cfg
    cli_check(worst, "descend", starts=cfg.starts * len(methods), keep_path=False)
    P = build_problem(cfg)
    curves = budget_curves(P, random_starts(P.n0, cfg.starts, cfg.start_seed), methods, cfg.steps)
    curves["config"] = np.array(cfg.to_json())
    final = ", ".join(f"{m} {float(f):.2f}" for m, f in zip(curves["methods"], curves["final"]))
    return curves, f"{cfg.starts} starts, {cfg.steps} iterations: fraction recovered at the end: {final}"
