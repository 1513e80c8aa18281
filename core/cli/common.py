"""What the subcommands share: the config from the flags, the cost check, the problem."""
from __future__ import annotations

import numpy as np

from ..config import FIELDS, ConfigError
from ..cost import check
from .flags import config_from_args, flag

FLAG_NAMES = {f: flag(f) for f in FIELDS}


def checked_config(args, request: str, defaults: dict | None = None, extra_flags: dict | None = None, **sizes):
    """The flags' Config, after the cost model has accepted ``request`` (messages name flags)."""
    cfg = config_from_args(args, defaults)
    check(cfg, request, flags={**FLAG_NAMES, **(extra_flags or {})}, **sizes)
    return cfg


def parse_int(name: str, text, lo: int, hi: int) -> int:
    """An integer flag in [lo, hi]; ConfigError naming the flag otherwise (checked before any use)."""
    try:
        v = int(str(text).strip())
    except ValueError:
        raise ConfigError(name, f"expected an integer, got {text!r}") from None
    if not lo <= v <= hi:
        raise ConfigError(name, f"must be in [{lo}, {hi}], got {v}")
    return v


def parse_float(name: str, text, lo: float, hi: float) -> float:
    try:
        v = float(str(text).strip())
    except ValueError:
        raise ConfigError(name, f"expected a number, got {text!r}") from None
    if not (np.isfinite(v) and lo <= v <= hi):
        raise ConfigError(name, f"must be a number in [{lo:g}, {hi:g}], got {text!r}")
    return v


def require_finite(J, what: str = "J") -> None:
    """Refuse to write a non-finite landscape: say which flag brings it back into range."""
    bad = ~np.isfinite(np.asarray(J))
    if bad.any():
        raise ConfigError("--dtype", f"{what} is not finite at {int(bad.sum())} of {bad.size} points (it overflows); "
                                     "use --dtype float64, or lower --weight-std, the depth or --extent")


def landscape_of(problem):
    """The landscape of the config's plane, checked finite."""
    from ..landscape import landscape

    if problem.n0 < 2:
        raise ConfigError("--channels", "a plane needs a latent of size n0 >= 2")
    L = landscape(problem)
    require_finite(L.J)
    return L
