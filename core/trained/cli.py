"""``python -m core invert``: invert a shipped generator over many trials and write an .npz.

    python -m core invert --generator mnist --mask top --trials 100 --out f.npz

The file holds ``z_star``, ``z_hat`` (T, 10), ``success`` (T,), ``success_rate``, ``psnr`` (T,),
``config`` (the :class:`~core.trained.invert.InvertConfig` as JSON) and the other fields of
:class:`~core.trained.invert.TrialsResult`. Bad input exits with status 2 and one line naming the flag.
"""
from __future__ import annotations

import sys
from dataclasses import fields

import numpy as np

from .invert import InvertConfig

# flag → (InvertConfig field, type)
FLAGS = {f"--{f.name.replace('_', '-')}": (f.name, type(f.default)) for f in fields(InvertConfig)}
_HELP = {
    "--generator": "shipped generator: mnist or fashion",
    "--target": "latent (x = G(z*), in range) or real (test images, out of range)",
    "--mask": "sampling pattern of core.masks (random, top, bottom, left, right, border, center, strip, gaussian, identity)",
    "--rate": "sampling rate in (0, 1]",
    "--mask-seed": "seed of a random mask / Gaussian A",
    "--trials": "number of draws T",
    "--restarts": "random starts per draw (best final J kept)",
    "--steps": "Adam iterations",
    "--lr": "Adam learning rate",
    "--tol": "success if |z_hat - z*| <= tol |z*|",
    "--seed": "seed of z*, classes / test images and starts",
    "--stop-J": "a draw stops once a restart has J <= this (0: run all steps)",
    "--dtype": "float32 or float64",
}


def add_command(sub):
    """Register ``invert`` on the subparsers ``sub``; return ``(parser, run)``."""
    p = sub.add_parser("invert", help="invert a trained generator from partial measurements (Fig. 5)")
    for flag, (name, _) in FLAGS.items():
        p.add_argument(flag, type=str, default=None, help=f"{_HELP.get(flag, '')} (default {getattr(InvertConfig, name)})")
    p.add_argument("--data", default=None, help="data folder for --target real (default ../shared/data)")
    p.add_argument("--out", required=True, help="output .npz file")
    return p, run


def config_from_args(args) -> InvertConfig:
    """An InvertConfig from the parsed flags; ValueError names the flag."""
    values = {}
    for flag, (name, t) in FLAGS.items():
        text = getattr(args, name)
        if text is None:
            continue
        try:
            values[name] = t(text)
        except ValueError:
            raise ValueError(f"{flag}: expected {'an integer' if t is int else 'a number'}, got {text!r}") from None
    try:
        return InvertConfig(**values)
    except ValueError as e:
        field, _, msg = str(e).partition(": ")
        raise ValueError(f"--{field.replace('_', '-')}: {msg}") from None


def run(args) -> int:
    try:
        cfg = config_from_args(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import os
    parent = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        print(f"error: --out: cannot write {args.out!r} (no writable folder {parent!r})", file=sys.stderr)
        return 2
    from .idx import IDXError
    from .invert import run_trials
    try:
        res = run_trials(cfg, data=args.data)
    except IDXError as e:
        print(f"error: --data: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"error: --generator: {e}", file=sys.stderr)
        return 2
    try:
        np.savez_compressed(args.out, **res.arrays())
    except OSError as e:
        print(f"error: --out: cannot write {args.out!r} ({e.strerror})", file=sys.stderr)
        return 2
    if cfg.target == "latent":
        summary = (f"success {res.success_rate:.2f}, median |z_hat-z*|/|z*| {np.median(res.latent_error):.2e}, "
                   f"median PSNR {np.median(res.psnr):.1f} dB")
    else:
        summary = (f"median PSNR hidden {np.nanmedian(res.psnr_hidden):.1f} dB "
                   f"(mean-image baseline {np.nanmedian(res.baseline_psnr_hidden):.1f} dB)")
    print(f"invert {cfg.generator} {cfg.target} {cfg.mask} x{cfg.trials}: {summary}; wrote {args.out} in {res.seconds:.1f} s")
    return 0
