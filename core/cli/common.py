"""What the subcommands share: the config from the flags, the cost check, the problem."""
from __future__ import annotations

import numpy as np

from ..config import FIELDS, ConfigError
from ..cost import check
from ..diagnosis import budget_note, failure_counts
from .flags import config_from_args, flag

FLAG_NAMES = {f: flag(f) for f in FIELDS}

# The work one command may ask for, in core.cost's multiply-adds: about five minutes of one torch
# thread on the 2-core development machine for a typical run of each request. The model counts
# the worst case — every start to its last step, every restart of every trial — which a solve
# that converges never reaches, so each bound comes from the model's count per second actually
# measured on the README's examples (one thread, PyTorch CPU):
#
#   landscape --grid 1001                      1.1e10 modelled,  9 s: 1.2e9 /s (the exact count)
#   descend --starts 200 --steps 500           4.9e9  modelled,  2 s: 3e9 /s
#   basins --preset authors-code --grid 61 …   1.8e12 modelled, 14 s: 1.3e11 /s
#   phase --preset paper-fig4 … --trials 50    3.6e11 modelled, 19 s: 1.9e10 /s
#   phase --generator mnist … --trials 8       1.1e13 modelled, 116 s: 9.5e10 /s
#   invert --generator mnist --mask top …      1.7e13 modelled, 36 s: 4.7e11 /s
#
# (basins, phase and invert count, for every start or trial, the extra budgets of one still
# converging, L-BFGS's Gauss–Newton budgets after those and, in float32, phase and invert the
# float64 pass over the misses: core.cost.)
# A request at its bound whose every solve runs to the end takes longer (at the exact rate: 14 min
# for descend, 40 min basins, 4.6 h phase, 7 h invert); the Python API (core.descent, core.phase,
# core.inversion) has no work bound.
# expected's bound is core.expected's own per-Monte-Carlo limit (EXPECTED_LIMITS["work"]).
CLI_MACS = {
    "landscape": 3e11,
    "descend": 1e12,
    "basins": 1.2e13,
    "phase": 2e13,
    "invert": 3e13,
    "expected": 2e11,
}


def budget_warning(labels, extra_budgets: int | None = None, flat: int = 0) -> str:
    """The summary's tail that ``core.cli.run`` prints on stderr ("\\nwarning: …") when some starts or
    trials in ``labels`` are still ``unconverged`` after ``extra_budgets`` more budgets (None:
    :data:`core.diagnosis.CONTINUE_ROUNDS`), ``flat`` of them in a flat valley, or "" when none are."""
    note = budget_note(failure_counts(labels), extra_budgets, flat)
    return f"\nwarning: {note}" if note else ""


def cli_check(cfg, request: str, extra_flags: dict | None = None, **sizes):
    """:func:`core.cost.check` with the CLI's work bound (:data:`CLI_MACS`); messages name flags."""
    return check(cfg, request, max_macs=CLI_MACS[request], flags={**FLAG_NAMES, **(extra_flags or {})}, **sizes)


def checked_config(args, request: str, defaults: dict | None = None, extra_flags: dict | None = None, **sizes):
    """The flags' Config, after the cost model has accepted ``request`` (messages name flags)."""
    cfg = config_from_args(args, defaults)
    cli_check(cfg, request, extra_flags, **sizes)
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
