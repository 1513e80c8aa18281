"""Empirical vs expected landscape: one net's J, E_W[J] in closed form, and a Monte Carlo over K nets
sized to see a 1 % bias of the closed form; E_W[J(−t z*)] along the ray and ρ̂_ray over nets."""
from __future__ import annotations

from ..config import ConfigError
from ..cost import check
from .common import FLAG_NAMES, parse_float, parse_int
from .flags import add_config_flags, config_from_args

HELP = "empirical vs expected (closed form and Monte Carlo) landscape"
FLAGS = {"width_factor": "--width", "draws": "--draws", "points": "--grid", "channels": "--width",
         "bias": "--bias", "K_ray": "--ray-draws"}
DEFAULT_GRID = 21


def add(p):
    add_config_flags(p)
    p.add_argument("--width", default="1", help="multiply every channel count after n0 by this factor (1..64)")
    p.add_argument("--draws", default="auto", help="Monte Carlo nets K on the grid: a number, or auto (sized from "
                                                 "a pilot to see a --bias error)")
    p.add_argument("--bias", default="0.01", help="the relative bias of the closed form the check must see")
    p.add_argument("--ray-draws", default="20000", help="nets of the Monte Carlo along the -z* ray")


def run(args):
    from ..expected import expected_report, widen

    cfg = config_from_args(args, {} if args.grid is not None else {"grid": DEFAULT_GRID})
    cfg = widen(cfg, parse_int("--width", args.width, 1, 64))
    K = None if str(args.draws).strip() == "auto" else parse_int("--draws", args.draws, 1, 100_000)
    bias = parse_float("--bias", args.bias, 1e-4, 0.5)
    K_ray = parse_int("--ray-draws", args.ray_draws, 10, 100_000)
    check(cfg, "expected", draws=K or 2000, points=cfg.grid ** 2, flags={**FLAG_NAMES, **FLAGS})
    try:
        R = expected_report(cfg, K=K, grid=cfg.grid, bias=bias, K_ray=K_ray)
    except ConfigError as e:
        raise ConfigError(FLAGS.get(e.field, FLAG_NAMES.get(e.field, e.field)), str(e).split(": ", 1)[1]) from None
    return R.arrays(), R.verdict
