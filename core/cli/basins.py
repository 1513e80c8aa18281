"""A solve from every point of a grid (at most 101 × 101) of the landscape's window, each diagnosed.

The file holds the map as ``basin_diagnosis`` and ``basin_J_end`` (M, N) and ``basin_end`` (M, N, n0),
and, under the keys ``descend`` and ``invert`` use for one label per start, ``diagnosis`` and
``J_end`` (M·N,): the same values flattened in row order (entry ``i·N + j`` is the start
``plane.lift(basin_u[j], basin_v[i])``). There is no ``stop``: :func:`core.descent.basins` keeps
each start's label and end, not the solver's stopping rule. A start still converging when its
budget ran out is solved on, up to :data:`core.diagnosis.CONTINUE_ROUNDS` more budgets, before it
is labelled; those still ``unconverged`` after that are counted on stderr.
"""
from __future__ import annotations

import numpy as np

from ..descent import basins
from ..io import landscape_arrays
from ..problem import build_problem
from .common import budget_warning, checked_config, cli_check, landscape_of
from .flags import add_config_flags

HELP = "a solve from every grid point"
MAX_SIDE = 101


def add(p):
    add_config_flags(p)


def run(args):
    cfg = checked_config(args, "landscape")
    n = min(cfg.grid, MAX_SIDE)
    cli_check(cfg, "basins", grid=n)
    P = build_problem(cfg)
    L = landscape_of(P)
    u = np.linspace(L.u[0], L.u[-1], n)
    v = np.linspace(L.v[0], L.v[-1], n)
    b = basins(P, L.plane, u, v)
    arrays = landscape_arrays(P, L)
    label = b.label.astype(str)
    arrays.update(basin_u=b.u, basin_v=b.v, basin_end=b.end, basin_diagnosis=label, basin_J_end=b.J_end,
                  diagnosis=label.ravel(), J_end=b.J_end.ravel(), success_rate=np.float64(b.success_rate))
    return arrays, f"basins {n}x{n}: success rate {b.success_rate:.3f}; " + \
        ", ".join(f"{k} {v}" for k, v in b.counts.items() if v) + budget_warning(label)
