"""``python -m core phase`` and ``python -m core expected``: the two experiments, headless, to .npz.

Registered in :data:`core.cli.EXTRA_COMMANDS`. Every Config flag of the other subcommands applies
(a preset gives the defaults); bad input exits with status 2 and one line naming the flag.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from .cli import add_config_flags, config_from_args
from .config import ConfigError


_FLAG_OF = {"width_factor": "--width"}


def _flag(field: str) -> str:
    if field.startswith("--"):
        return field
    return _FLAG_OF.get(field, "--" + field.replace("_", "-"))


def _number(flag: str, text: str, kind):
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise ConfigError(flag, f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None


def _config(args):
    if args.z_star is None:
        args.z_star = ""  # the preset's z* would pin n0; these experiments draw their own or use cfg's seed
    return config_from_args(args)


def _save(path: str, arrays: dict) -> bool:
    try:
        np.savez_compressed(path, **arrays)
    except OSError as e:
        print(f"error: --out: cannot write {path!r} ({e.strerror})", file=sys.stderr)
        return False
    return True


# ---------------------------------------------------------------------------
# phase
# ---------------------------------------------------------------------------
def add_command(sub):
    """The ``phase`` subcommand → (parser, run)."""
    p = sub.add_parser("phase", help="probability of exact recovery against the sampling rate, per mask pattern")
    add_config_flags(p)
    p.add_argument("--patterns", default="random,top,left,border", help="comma-separated mask patterns")
    p.add_argument("--rates", default="0.05:1:12", help="lo:hi:count (evenly spaced) or a comma-separated list")
    p.add_argument("--trials", default="50", help="trials per (pattern, rate), each with a fresh z* (and random mask)")
    p.add_argument("--restarts", default="4", help="descent restarts per trial; the one with the smallest J is kept")
    p.add_argument("--start-scale", default="1.0", help="restarts are drawn N(0, scale² I)")
    p.add_argument("--threads", default="1", help="torch threads (1 is fastest on a shared 2-core machine)")
    p.add_argument("--out", required=True, help="output .npz file")
    return p, run_phase


def run_phase(args) -> int:
    from .phase import PhaseSpec, parse_patterns, parse_rates, phase_transition

    try:
        cfg = _config(args)
        spec = PhaseSpec(config=cfg, patterns=parse_patterns(args.patterns), rates=parse_rates(args.rates),
                         trials=_number("--trials", args.trials, int),
                         restarts=_number("--restarts", args.restarts, int),
                         start_scale=_number("--start-scale", args.start_scale, float))
        threads = _number("--threads", args.threads, int)
        if not 1 <= threads <= 1024:
            raise ConfigError("--threads", f"must be in [1, 1024], got {threads}")
    except ConfigError as e:
        name = _flag(e.field)
        print(f"error: {name}: {str(e).split(': ', 1)[1]}", file=sys.stderr)
        return 2

    def progress(done, total):
        print(f"\rphase: block {done}/{total}", end="", file=sys.stderr, flush=True)
        return False

    res = phase_transition(spec, progress=progress, threads=threads)
    print(file=sys.stderr)
    if not _save(args.out, res.to_npz_dict()):
        return 2
    print(f"phase: {len(spec.patterns)} patterns × {len(spec.rates)} rates × {spec.trials} trials × "
          f"{spec.restarts} restarts in {res.seconds:.1f} s; wrote {args.out}")
    head = "pattern   " + " ".join(f"{r:>6.3f}" for r in res.rates) + "     r50  r50(m/n)"
    print(head)
    for p, row, r50, r50a in zip(res.patterns, res.p_success, res.r50, res.r50_actual):
        print(f"{p:<10}" + " ".join(f"{x:>6.2f}" for x in row) + f"  {r50:>6.3f}  {r50a:>8.3f}")
    return 0


# ---------------------------------------------------------------------------
# expected
# ---------------------------------------------------------------------------
def add_expected_command(sub):
    """The ``expected`` subcommand → (parser, run)."""
    p = sub.add_parser("expected", help="empirical vs expected (closed-form and Monte Carlo) landscape")
    add_config_flags(p)
    p.add_argument("--width", default="1", help="multiply every channel count after n0 by this factor")
    p.add_argument("--draws", default="100", help="Monte Carlo weight draws K on the grid (0: skip)")
    p.add_argument("--out", required=True, help="output .npz file")
    return p, run_expected


def run_expected(args) -> int:
    from .expected import expected_landscape, monte_carlo_J, widen

    try:
        cfg = widen(_config(args), _number("--width", args.width, int))
        K = _number("--draws", args.draws, int)
        t0 = time.perf_counter()
        E = expected_landscape(cfg)
        out = dict(u=E.u, v=E.v, origin=E.plane.origin, d1=E.plane.d1, d2=E.plane.d2, J_emp=E.J_emp,
                   J_exp=E.J_exp, t=E.t, ray_emp=E.ray_emp, ray_exp=E.ray_exp, t_emp=np.float64(E.t_emp),
                   t_exp=np.float64(E.t_exp), rho=np.float64(E.rho), z_star=E.z_star,
                   config=np.array(cfg.to_json()))
        if K:
            uu, vv = np.meshgrid(E.u, E.v)
            mc = monte_carlo_J(cfg, E.plane.lift(uu, vv).reshape(-1, cfg.n0), K)
            out.update(J_mc=mc.mean.reshape(uu.shape), J_mc_sem=mc.sem.reshape(uu.shape), draws=np.int64(K))
    except ConfigError as e:
        name = _flag(e.field)
        print(f"error: {name}: {str(e).split(': ', 1)[1]}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not _save(args.out, out):
        return 2
    rel = float(np.abs(E.J_emp - E.J_exp).max() / E.J_exp.max())
    msg = (f"expected: channels {cfg.channels}; max |J − E J| / max E J = {rel:.3f}; "
           f"critical point on the −z* ray: empirical t = {E.t_emp:.3f}, expected t = {E.t_exp:.3f}, ρ_d = {E.rho:.3f}")
    if K:
        z = (out["J_exp"] - out["J_mc"]) / np.maximum(out["J_mc_sem"], 1e-300)
        msg += f"; closed form − Monte Carlo (K = {K}): median |z| = {np.median(np.abs(z)):.2f} standard errors"
    print(f"{msg}; wrote {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0
