"""Empirical vs expected landscape: one net's J, E_W[J] in closed form, and a Monte Carlo over K nets
sized to see a 1 % bias of the closed form; E_W[J(−t z*)] along the ray and ρ̂_ray over nets."""
from __future__ import annotations

import math

from ..config import LIMITS, ConfigError
from .common import FLAG_NAMES, cli_check, parse_float, parse_int
from .flags import add_config_flags, config_from_args

HELP = "empirical vs expected (closed form and Monte Carlo) landscape"
FLAGS = {"width_factor": "--width", "draws": "--draws", "points": "--grid", "bias": "--bias", "K_ray": "--ray-draws"}
DEFAULT_GRID = 21
PILOT_DRAWS = 200         # core.expected.expected_report's K_pilot: the fewest nets --draws auto runs


def add(p):
    add_config_flags(p)
    p.add_argument("--width", default="1", help="multiply every channel count after n0 by this factor (1..64)")
    p.add_argument("--draws", default="auto", help="Monte Carlo nets K on the grid: a number, or auto (sized from "
                                                 "a pilot to see a --bias error)")
    p.add_argument("--bias", default="0.01", help="the relative bias of the closed form the check must see")
    p.add_argument("--ray-draws", default="20000", help="nets of the Monte Carlo along the -z* ray")


def widened(cfg, text):
    """The net with its channels after n0 multiplied by ``--width``; a width the network's limits
    refuse names --width and the largest it allows for this net (not the channel count it made)."""
    from ..expected import EXPECTED_LIMITS, widen

    hi = EXPECTED_LIMITS["width_factor"]
    factor = parse_int("--width", text, 1, hi)
    try:
        return widen(cfg, factor)
    except ConfigError as e:
        if e.field != "channels":
            raise
    fits = [f for f in range(factor - 1, 0, -1) if _widens(cfg, f)]
    channels = ",".join(map(str, cfg.channels))
    if not fits:
        raise ConfigError("--width", f"the network {channels} cannot be widened at all") from None
    raise ConfigError("--width", f"must be in [1, {fits[0]}] for channels {channels} (the widened net exceeds "
                                 f"the network limits), got {factor}") from None


def _widens(cfg, factor) -> bool:
    from ..expected import widen

    try:
        widen(cfg, factor)
    except ConfigError:
        return False
    return True


def run(args):
    from ..expected import EXPECTED_LIMITS, expected_report

    cfg = config_from_args(args, {} if args.grid is not None else {"grid": DEFAULT_GRID})
    cfg = widened(cfg, args.width)
    K = None if str(args.draws).strip() == "auto" else parse_int("--draws", args.draws, 1, 100_000)
    bias = parse_float("--bias", args.bias, 1e-4, 0.5)
    K_ray = parse_int("--ray-draws", args.ray_draws, 10, 100_000)
    grid_max = min(LIMITS["grid"], math.isqrt(EXPECTED_LIMITS["points"]))
    if not 2 <= cfg.grid <= grid_max:           # the range first, then the work of what is in range
        raise ConfigError("--grid", f"must be an integer in [2, {grid_max}], got {cfg.grid}")
    cli_check(cfg, "expected", FLAGS, draws=K or PILOT_DRAWS, points=cfg.grid ** 2)
    # The ray's Monte Carlo: two points (−z*, z*) per net, K_ray nets stacked in blocks.
    cli_check(cfg, "expected", {**FLAGS, "draws": "--ray-draws", "points": "--ray-draws"}, draws=K_ray, points=2)
    try:
        R = expected_report(cfg, K=K, grid=cfg.grid, bias=bias, K_ray=K_ray, K_pilot=PILOT_DRAWS)
    except ConfigError as e:
        raise ConfigError(FLAGS.get(e.field, FLAG_NAMES.get(e.field, e.field)), str(e).split(": ", 1)[1]) from None
    return R.arrays(), R.verdict
