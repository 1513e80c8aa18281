"""Empirical vs expected landscape: one net's J, E_W[J] in closed form and by Monte Carlo over K nets."""
from __future__ import annotations

import numpy as np

from ..cost import check
from .common import FLAG_NAMES, parse_int
from .flags import add_config_flags, config_from_args

HELP = "empirical vs expected (closed form and Monte Carlo) landscape"
FLAGS = {"width_factor": "--width", "draws": "--draws", "points": "--grid", "channels": "--width"}


def add(p):
    add_config_flags(p)
    p.add_argument("--width", default="1", help="multiply every channel count after n0 by this factor (1..64)")
    p.add_argument("--draws", default="100", help="Monte Carlo weight draws K on the grid (0: skip)")


def run(args):
    from ..expected import expected_landscape, monte_carlo_J, widen

    cfg = widen(config_from_args(args), parse_int("--width", args.width, 1, 64))
    K = parse_int("--draws", args.draws, 0, 100_000)
    check(cfg, "expected", draws=K, points=cfg.grid ** 2, flags={**FLAG_NAMES, **FLAGS})
    E = expected_landscape(cfg)
    out = dict(u=E.u, v=E.v, origin=E.plane.origin, d1=E.plane.d1, d2=E.plane.d2, J_emp=E.J_emp,
               J_exp=E.J_exp, t=E.t, ray_emp=E.ray_emp, ray_exp=E.ray_exp, t_emp=np.float64(E.t_emp),
               t_exp=np.float64(E.t_exp), rho=np.float64(E.rho), z_star=E.z_star, config=np.array(cfg.to_json()))
    msg = f"channels {cfg.channels}; ray minimum: one net t = {E.t_emp:.3f}, closed form t = {E.t_exp:.3f}, rho_d = {E.rho:.3f}"
    if K:
        uu, vv = np.meshgrid(E.u, E.v)
        mc = monte_carlo_J(cfg, E.plane.lift(uu, vv).reshape(-1, cfg.n0), K)
        out.update(J_mc=mc.mean.reshape(uu.shape), J_mc_sem=mc.sem.reshape(uu.shape), draws=np.int64(K))
        z = (out["J_exp"] - out["J_mc"]) / np.maximum(out["J_mc_sem"], 1e-300)
        msg += f"; closed form - Monte Carlo (K = {K}): median |z| = {np.median(np.abs(z)):.2f} standard errors"
    return out, msg
