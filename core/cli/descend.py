"""Batched solves from ``--starts`` random starts: paths, J along them, and a diagnosis per start."""
from __future__ import annotations

import numpy as np

from ..descent import descend, random_starts
from ..io import landscape_arrays
from ..problem import build_problem
from .common import budget_warning, checked_config, cli_check, landscape_of
from .flags import add_config_flags

HELP = "batched solves from random starts, every end point diagnosed"


def solve_arrays(d) -> dict:
    """The .npz arrays of a Descent: paths, J_path and the diagnosis with the solver's account."""
    s = d.solve
    out = dict(paths=d.paths, J_path=d.J_path, stop=s.stop.astype(str), iterations=s.iterations,
               evaluations=s.evaluations, negated=s.negated, seconds=s.seconds)
    out.update(d.diagnosis.arrays())
    return out


def add(p):
    add_config_flags(p)


def run(args):
    cfg = checked_config(args, "descend")
    cli_check(cfg, "landscape")
    P = build_problem(cfg)
    L = landscape_of(P) if P.n0 >= 2 else None
    d = descend(P, random_starts(P.n0, cfg.starts, cfg.start_seed))
    arrays = landscape_arrays(P, L) if L is not None else {}
    arrays.update(solve_arrays(d))
    return arrays, f"{cfg.method}, {cfg.starts} starts: " + ", ".join(f"{k} {v}" for k, v in d.counts.items()) + \
        budget_warning(d.label, 0)       # a kept path shows exactly its budget
