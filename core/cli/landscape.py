"""J on a grid of a latent plane: ``u``, ``v``, ``J`` (M, N), the plane, the problem (see README)."""
from __future__ import annotations

from ..io import landscape_arrays
from ..problem import build_problem
from .common import checked_config, landscape_of
from .flags import add_config_flags

HELP = "J on a grid of a latent plane"


def add(p):
    add_config_flags(p)


def run(args):
    cfg = checked_config(args, "landscape")
    P = build_problem(cfg)
    L = landscape_of(P)
    return landscape_arrays(P, L), f"J on {L.J.shape[0]}x{L.J.shape[1]}: min {L.J.min():.3g}, max {L.J.max():.3g}"
