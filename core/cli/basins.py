"""A solve from every point of a grid (at most 101 × 101) of the landscape's window, each diagnosed."""
from __future__ import annotations

import numpy as np

from ..descent import basins
from ..io import landscape_arrays
from ..problem import build_problem
from ..cost import check
from .common import FLAG_NAMES, checked_config, landscape_of
from .flags import add_config_flags

HELP = "a solve from every grid point"
MAX_SIDE = 101


def add(p):
    add_config_flags(p)


def run(args):
    cfg = checked_config(args, "landscape")
    n = min(cfg.grid, MAX_SIDE)
    check(cfg, "basins", grid=n, flags=FLAG_NAMES)
    P = build_problem(cfg)
    L = landscape_of(P)
    u = np.linspace(L.u[0], L.u[-1], n)
    v = np.linspace(L.v[0], L.v[-1], n)
    b = basins(P, L.plane, u, v)
    arrays = landscape_arrays(P, L)
    arrays.update(basin_u=b.u, basin_v=b.v, basin_end=b.end, basin_diagnosis=b.label.astype(str),
                  basin_J_end=b.J_end, success_rate=np.float64(b.success_rate))
    return arrays, f"basins {n}x{n}: success rate {b.success_rate:.3f}; " + \
        ", ".join(f"{k} {v}" for k, v in b.counts.items() if v)
