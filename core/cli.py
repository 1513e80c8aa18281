"""``python -m core landscape|descend|basins``: headless, reproducible runs written to .npz.

Every flag maps onto one :class:`~core.config.Config` field; a preset gives the
defaults and explicit flags override it. Bad input exits with status 2 and one
line naming the flag and the allowed values.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .config import ACTIVATIONS, DTYPES, MASKS, METHODS, PRESETS, WEIGHT_LAWS, Config, ConfigError, from_preset
from .problem import build_problem

# flag → (Config field, parser of the text, help)
FLAGS = {
    "--activation": ("activation", str, f"one of {', '.join(ACTIVATIONS)}"),
    "--last-activation": ("last_activation", str, "activation of the last layer (default: the same)"),
    "--negative-slope": ("negative_slope", float, "leaky ReLU slope, in [0, 1]"),
    "--weights": ("weights", str, f"weight law, one of {', '.join(WEIGHT_LAWS)}"),
    "--weight-std": ("weight_std", str, "'unit', 'paper' (1/sqrt(C_out k^dim)) or a number"),
    "--weight-seed": ("weight_seed", int, "seed of the weights"),
    "--dim": ("dim", int, "1 or 2"),
    "--channels": ("channels", "ints", "channels per layer, n0 first, e.g. 2,16,1"),
    "--kernel": ("kernel", "ints", "kernel size, one value or one per layer"),
    "--stride": ("stride", "ints", "stride, one value or one per layer"),
    "--padding": ("padding", "ints", "padding, one value or one per layer"),
    "--mask": ("mask", str, f"one of {', '.join(MASKS)}"),
    "--rate": ("rate", float, "sampling rate r in (0, 1]"),
    "--mask-seed": ("mask_seed", int, "seed of a random mask / Gaussian A"),
    "--z-star": ("z_star", "floats", "z*, comma separated (default: N(0, I) from --z-seed)"),
    "--z-seed": ("z_seed", int, "seed of z* when --z-star is not given"),
    "--grid": ("grid", int, "grid points per side"),
    "--extent": ("extent", float, "half-width of the window"),
    "--plane-seed": ("plane_seed", int, "seed of the second direction when n0 > 2"),
    "--method": ("method", str, f"one of {', '.join(METHODS)}"),
    "--lr": ("lr", float, "Adam learning rate or GD step"),
    "--steps": ("steps", int, "descent iterations"),
    "--starts": ("starts", int, "number of random starts"),
    "--start-seed": ("start_seed", int, "seed of the random starts"),
    "--tol": ("tol", float, "recovered if |z - z*| <= tol |z*|"),
    "--eps": ("eps", float, "radius factor of the theory's neighbourhoods"),
    "--seed": (None, int, "sets weight, mask, z and start seeds at once"),
    "--dtype": ("dtype", str, f"one of {', '.join(DTYPES)}"),
    "--device": ("device", str, "auto, cpu or cuda"),
}

OUTCOME_DOC = "outcome codes: 0 recovered (|z-z*| <= tol|z*|), 1 negative (near the ray -t z*, t > 0), 2 other"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2
        self.exit(2, f"error: {message}\n")


def _parse_list(text: str, kind, flag: str):
    try:
        return tuple(kind(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise ConfigError(flag, f"expected comma-separated {'integers' if kind is int else 'numbers'}, got {text!r}") from None


# Extra subcommands living in their own modules: name → "module:function". The function
# receives the subparsers object and must return (parser, run), where run(args) -> exit status.
EXTRA_COMMANDS: dict[str, str] = {"invert": "core.trained.cli:add_command",
                                  "phase": "core.phase_cli:add_command",
                                  "expected": "core.phase_cli:add_expected_command"}


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    p = _Parser(prog="python -m core", description="Landscapes of J(z) = 1/2 |y - A G(z)|^2 (Ma, Ayaz & Karaman 2018).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, help_ in (("landscape", "J on a grid of a latent plane"),
                        ("descend", "batched descent from random starts"),
                        ("basins", "descent from every grid point")):
        s = sub.add_parser(name, help=help_)
        add_config_flags(s)
        s.add_argument("--out", required=True, help="output .npz file")
    runners = {}
    for name, target in EXTRA_COMMANDS.items():
        import importlib

        mod, fn = target.split(":")
        _, runners[name] = getattr(importlib.import_module(mod), fn)(sub)
    return p, runners


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """The --preset flag and one flag per Config field (see FLAGS)."""
    parser.add_argument("--preset", default="paper-fig4", help=f"one of {', '.join(PRESETS)}")
    for flag, (_, kind, h) in FLAGS.items():
        parser.add_argument(flag, type=str, default=None, help=h)


def config_from_args(args) -> Config:
    if args.preset not in PRESETS:
        raise ConfigError("--preset", f"must be one of {', '.join(PRESETS)}; got {args.preset!r}")
    overrides = {}
    for flag, (field, kind, _) in FLAGS.items():
        text = getattr(args, flag[2:].replace("-", "_"))
        if text is None:
            continue
        if kind in ("ints", "floats"):
            value = _parse_list(text, int if kind == "ints" else float, flag)
        else:
            try:
                value = kind(text)
            except ValueError:
                raise ConfigError(flag, f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        if field is None:  # --seed
            for f in ("weight_seed", "mask_seed", "z_seed", "start_seed"):
                overrides.setdefault(f, value)
        else:
            overrides[field] = value
    try:
        return from_preset(args.preset, **overrides)
    except ConfigError as e:
        flag = next((f for f, (field, _, _) in FLAGS.items() if field == e.field), e.field)
        raise ConfigError(flag, str(e).split(": ", 1)[1]) from None


def _common(problem, plane) -> dict:
    cfg = problem.cfg
    from .landscape import rho_for

    out = {
        "config": np.array(cfg.to_json()),
        "z_star": problem.z_star.double().cpu().numpy(),
        "origin": plane.origin, "d1": plane.d1, "d2": plane.d2,
        "rho": np.float64(rho_for(cfg)),
    }
    if problem.op.mask is not None:
        out["mask"] = problem.op.mask.cpu().numpy().astype(bool)
    else:
        out["A"] = problem.op.matrix.double().cpu().numpy()
    for i, W in enumerate(problem.G.weights, start=1):
        out[f"W{i}"] = W.double().cpu().numpy()
    return out


def run(argv=None) -> int:
    parser, runners = build_parser()
    args = parser.parse_args(argv)
    if args.command in runners:
        return runners[args.command](args)
    try:
        cfg = config_from_args(args)
        problem = build_problem(cfg)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from .descent import basins, descend, random_starts
    from .landscape import landscape

    t0 = time.perf_counter()
    if cfg.n0 < 2:
        print("error: --channels: a plane needs n0 = channels[0] >= 2", file=sys.stderr)
        return 2
    L = landscape(problem)
    out = _common(problem, L.plane)
    out.update(u=L.u, v=L.v, J=L.J)
    summary = f"J on {L.J.shape[0]}x{L.J.shape[1]}: min {L.J.min():.3g}, max {L.J.max():.3g}"
    try:
        if args.command == "descend":
            d = descend(problem, random_starts(cfg.n0, cfg.starts, cfg.start_seed))
            out.update(paths=d.paths, J_path=d.J_path, outcome=d.outcome, outcome_codes=np.array(OUTCOME_DOC))
            summary += f"; descent {d.counts}"
        elif args.command == "basins":
            n = min(cfg.grid, 101)
            u = np.linspace(L.u[0], L.u[-1], n)
            v = np.linspace(L.v[0], L.v[-1], n)
            b = basins(problem, L.plane, u, v)
            out.update(basin_u=b.u, basin_v=b.v, basin_end=b.end, basin_outcome=b.outcome,
                       success_rate=np.float64(b.success_rate), outcome_codes=np.array(OUTCOME_DOC))
            summary += f"; basins {n}x{n}: success rate {b.success_rate:.3f}"
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        np.savez_compressed(args.out, **out)
    except OSError as e:
        print(f"error: --out: cannot write {args.out!r} ({e.strerror})", file=sys.stderr)
        return 2
    print(f"{args.command}: {summary}; wrote {args.out} in {time.perf_counter() - t0:.2f} s")
    return 0


def main():
    sys.exit(run())
