"""One flag per Config field, derived from the config itself; the flag names used in every message.

Every subcommand takes ``--preset`` and one ``--<field>`` per field of :class:`core.config.Config`
(``z_star`` → ``--z-star``), so the flag table cannot drift from the configuration. A value is
parsed by the config's own text parser and checked by the config's own validation; the
:class:`~core.config.ConfigError` it raises names the field, which :func:`flag_of` turns back into
the flag the user typed.
"""
from __future__ import annotations

import argparse

from ..config import (ACTIVATIONS, DTYPES, FIELDS, MASKS, METHODS, PLANES, PRESETS, SHIPPED, WEIGHT_LAWS, Config,
                      ConfigError, _from_text, from_preset)

HELP = {
    "generator": f"conv (the random transposed-convolution family), {', '.join(SHIPPED)}, a TorchScript or "
                 "state-dict file, or package.module:callable (loading runs the user's code)",
    "latent_dim": "latent size of a user module without a latent_dim attribute (0: read it)",
    "label": "class of a conditional generator, 0..9 (-1: drawn from --z-seed)",
    "dim": "1 or 2 (conv family)",
    "channels": "channels per layer, n0 first, e.g. 2,16,1 (conv family)",
    "kernel": "kernel size, one value or one per layer",
    "stride": "stride, one value or one per layer",
    "padding": "padding, one value or one per layer",
    "activation": f"one of {', '.join(ACTIVATIONS)}",
    "negative_slope": "leaky ReLU slope, in [0, 1]",
    "last_activation": "activation of the last layer (default: the same)",
    "weights": f"weight law, one of {', '.join(WEIGHT_LAWS)}",
    "weight_std": "'unit', 'paper' (1/sqrt(C_out k^dim)) or a number",
    "weight_seed": "seed of the weights",
    "mask": f"one of {', '.join(MASKS)}",
    "rate": "sampling rate r in (0, 1]",
    "mask_seed": "seed of a random mask / Gaussian A",
    "noise": "none, gaussian:SIGMA or quantize:BITS (noise on y)",
    "noise_seed": "seed of the Gaussian noise",
    "z_star": "z*, comma separated (default: N(0, I) of the right size from --z-seed)",
    "z_seed": "seed of z* (and of the class) when --z-star is not given",
    "grid": "grid points per side",
    "extent": "half-width of the window",
    "plane": f"latent plane of the landscape: one of {', '.join(PLANES)}",
    "plane_seed": "seed of a random direction of the plane",
    "method": f"solver, one of {', '.join(METHODS)}",
    "lr": "Adam's learning rate / GD's first step",
    "damping": "Levenberg-Marquardt damping of gauss_newton (0: pure Gauss-Newton first)",
    "steps": "solver iterations per start (the budget)",
    "starts": "number of random starts",
    "start_seed": "seed of the random starts",
    "negate": "1: the authors' restart from -z_hat, keeping the better",
    "tol": "recovered if |z - z*| <= tol |z*|",
    "ftol": "stop once J <= ftol * |y|^2 / 2 (0: the dtype's default)",
    "eps": "radius factor of the theory's neighbourhoods",
    "dtype": f"one of {', '.join(DTYPES)}",
    "device": "auto, cpu or cuda",
}
SEEDS = ("weight_seed", "mask_seed", "z_seed", "start_seed", "noise_seed")


def flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def add_config_flags(parser: argparse.ArgumentParser, preset: str | None = "paper-fig4") -> None:
    """``--preset``, ``--seed`` and one flag per Config field (all read as text, parsed later)."""
    parser.add_argument("--preset", default=preset, help=f"one of {', '.join(PRESETS)} (explicit flags override it)")
    parser.add_argument("--seed", default=None, help="sets every seed (weights, mask, z*, starts, noise) at once")
    for f in FIELDS:
        parser.add_argument(flag(f), dest=f, default=None, help=HELP[f])


def config_from_args(args, defaults: dict | None = None) -> Config:
    """The Config of the parsed flags: the preset (or ``defaults``), then every flag given.

    Raises
    ------
    ConfigError
        Naming the flag (``--grid``, not ``grid``).
    """
    overrides = dict(defaults or {})
    seed = getattr(args, "seed", None)
    if seed is not None:
        try:
            s = int(seed)
        except ValueError:
            raise ConfigError("--seed", f"expected an integer, got {seed!r}") from None
        for f in SEEDS:
            overrides[f] = s
    for f in FIELDS:
        text = getattr(args, f, None)
        if text is None:
            continue
        try:
            overrides[f] = _from_text(f, text)
        except ConfigError as e:
            raise ConfigError(flag(f), str(e).split(": ", 1)[1]) from None
    try:
        if args.preset is None:
            return Config.from_dict(overrides)
        return from_preset(args.preset, **overrides)
    except ConfigError as e:
        by_seed = seed is not None and e.field in SEEDS and getattr(args, e.field, None) is None
        raise ConfigError(flag_of(e.field, seed_given=by_seed), str(e).split(": ", 1)[1]) from None


def flag_of(field: str, seed_given: bool = False, extra: dict | None = None) -> str:
    """The flag a field is set by: ``grid`` → ``--grid``; a seed set by --seed → ``--seed``."""
    if field.startswith("--"):
        return field
    if seed_given:
        return "--seed"
    if extra and field in extra:
        return extra[field]
    if field == "preset":
        return "--preset"
    return flag(field)
