"""Budget curves: for each solver, the fraction of starts recovered against iterations and wall time.

This is the plot that tells whether a failure is the landscape's or the budget's: a curve that
is still rising when the budget ends says "more iterations"; a plateau below 1 says "the
landscape" (and the diagnosis of ``descend`` says which critical points).
"""
from __future__ import annotations

from ..config import METHODS, ConfigError
from ..descent import random_starts
from ..problem import build_problem
from .common import checked_config
from .flags import add_config_flags

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
    cfg = checked_config(args, "descend", steps=None)
    P = build_problem(cfg)
    curves = budget_curves(P, random_starts(P.n0, cfg.starts, cfg.start_seed), methods, cfg.steps)
    curves["config"] = __import__("numpy").array(cfg.to_json())
    final = ", ".join(f"{m} {float(curves[f'{m}_recovered'][-1]):.2f}" for m in methods if f"{m}_recovered" in curves)
    return curves, f"{cfg.starts} starts, {cfg.steps} iterations: fraction recovered at the end: {final}"
