"""The memory and work of a request, estimated before anything is allocated.

Every entry point — the CLI, the API functions that allocate in proportion to their arguments,
and the dashboard — calls :func:`check` first. It models the largest buffers a request will hold
(the engine's layer matrices, a dense Gaussian A, descent paths, per-trial targets and masks,
Monte Carlo draws) and its multiply-adds, and refuses with a one-line :class:`ConfigError` that
names the field (its flag or control) to reduce, and by how much, when a bound is passed.

The model is deliberately an over-estimate: it counts every buffer a request holds at once at
its peak, in the request's dtype, plus a fixed allowance for torch itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .config import CONV, SHIPPED, Config, ConfigError
from .diagnosis import CONTINUE_ROUNDS, ESCALATE

GiB = 1 << 30
MAX_BYTES = 4 * GiB          # memory a request may use (the machine has 24 GiB and is shared)
DENSE_A_ENTRIES = 1 << 24    # a dense Gaussian A (m × n) above this is refused
SHIPPED_MACS = 4_404_224     # one G(z) of the shipped DCGAN (measured with torch's FlopCounterMode)
GENERIC_ROW_FLOATS = 16      # activations per output entry of a generic module, for its chunks
EXPECTED_BLOCK_DRAWS = 2048  # core.expected.BLOCK_DRAWS: Monte Carlo nets stacked in one pass
EXPECTED_CHUNK_FLOATS = 1 << 23  # core.expected.CHUNK_FLOATS: intermediates per Monte Carlo chunk


@dataclass(frozen=True)
class Cost:
    """Bytes at the peak and multiply-adds of a request, with the term that dominates each."""

    bytes: int
    macs: float
    memory_term: str          # what holds the most memory
    memory_field: str         # the field to reduce for it
    work_field: str           # the field to reduce for the work
    work_fields: tuple = ()   # every field the work is a product of, ``work_field`` first


def macs_per_point(cfg: Config) -> int:
    """Multiply-adds of one G(z): Σ_i C_{i−1} C_i k_i^dim S_{i−1}^dim for the random family."""
    if cfg.generator != CONV:
        return SHIPPED_MACS
    sizes = cfg.layer_sizes()
    ks = cfg.per_layer("kernel")
    return sum(cfg.channels[i] * cfg.channels[i + 1] * ks[i] ** cfg.dim * sizes[i] ** cfg.dim for i in range(cfg.depth))


def _bytes_per(cfg: Config) -> int:
    return 8 if cfg.dtype == "float64" else 4


def _n_out(cfg: Config) -> int:
    """Entries of one output; a user module's is known only once loaded (assume 4096)."""
    return math.prod(cfg.output_shape()) if cfg.generator == CONV or cfg.generator in SHIPPED else 1 << 12


def _m(cfg: Config) -> int:
    return max(1, round(cfg.rate * _n_out(cfg))) if cfg.mask != "identity" else _n_out(cfg)


def build_bytes(cfg: Config) -> tuple[int, str, str]:
    """Memory of building the problem: the engine's dense layer matrices and a dense Gaussian A."""
    from .generators.engine import DENSE_MAX_ENTRIES

    b = _bytes_per(cfg)
    total = 64 << 20
    term, field = "the generator", "channels"
    if cfg.generator == CONV:
        sizes = cfg.layer_sizes()
        for i in range(2, cfg.depth + 1):
            n_in = cfg.channels[i - 1] * sizes[i - 1] ** cfg.dim
            n_out = cfg.channels[i] * sizes[i] ** cfg.dim
            # A dense layer (≤ DENSE_MAX_ENTRIES) and its transpose, built in blocks of 4 M entries.
            total += 2 * min(n_in * n_out, DENSE_MAX_ENTRIES) * b + (1 << 22) * b
    if cfg.mask == "gaussian":
        n = _n_out(cfg)
        A = _m(cfg) * n
        if A > DENSE_A_ENTRIES:
            raise ConfigError("rate", f"a Gaussian A of {_m(cfg)} × {n} entries exceeds {DENSE_A_ENTRIES:,}; "
                                      f"lower the rate to at most {DENSE_A_ENTRIES / n / n:.3g} or use a pixel mask")
        total += 3 * A * 8          # drawn in float64, then cast and reordered
        term, field = "the Gaussian A", "rate"
    return total, term, field


def estimate(cfg: Config, request: str = "landscape", *, grid: int | None = None, starts: int | None = None,
             steps: int | None = None, keep_path: bool = True, trials: int = 0, restarts: int = 1, rates: int = 1,
             patterns: int = 1, draws: int = 0, points: int = 0, extra_budgets: int | None = None) -> Cost:
    """The :class:`Cost` of ``request`` on ``cfg``.

    Parameters
    ----------
    request : {"landscape", "descend", "basins", "phase", "invert", "expected"}
    grid, starts, steps : int, optional
        Override the config's (``grid`` is the side of the landscape or basin map).
    keep_path : bool
        A descent keeps every iterate.
    trials, restarts, rates, patterns : int
        For ``phase`` and ``invert``.
    extra_budgets : int, optional
        For ``phase`` and ``invert``: the extra budgets of a trial still converging (default
        :data:`core.diagnosis.CONTINUE_ROUNDS`).
    draws, points : int
        For ``expected``: Monte Carlo nets K and latent points.
    """
    b = _bytes_per(cfg)
    n0 = cfg.n0 or 16
    n_out = _n_out(cfg)
    macs = macs_per_point(cfg)
    g = cfg.grid if grid is None else grid
    S = cfg.starts if starts is None else starts
    T_steps = cfg.steps if steps is None else steps
    mem, term, field = build_bytes(cfg)
    work, wfield, wfields = 0.0, "grid", ("grid",)
    per_eval = 3 * macs * (n0 + 1 if cfg.method == "gauss_newton" else 1)   # forward + backward (or tangents)
    if request == "landscape":
        mem += g * g * 8 * 4                              # J, the axes' products, the figure's copy
        work = g * g * macs
        if g * g * 8 * 4 > mem / 2:
            term, field = "the grid", "grid"
    elif request == "descend":
        path = (T_steps + 1) * S * (n0 + 2) * 8 if keep_path else 0
        mem += path + S * (2 * 10 * n0 + 40) * b
        work, wfield, wfields = S * T_steps * per_eval * 1.5, "steps", ("steps", "starts")
        if path > mem / 2:
            term, field = "the descent paths (steps × starts)", "steps"
    elif request == "basins":
        n = g * g
        mem += n * (n0 + 4) * 8 + min(n, 2048) * (2 * 10 * n0 + 40) * b
        # A start still converging gets up to CONTINUE_ROUNDS more budgets (core.descent.basins).
        work, wfield, wfields = n * T_steps * (1 + CONTINUE_ROUNDS) * per_eval * 1.5, "grid", ("grid", "steps")
    elif request in ("phase", "invert"):
        rows = trials * rates * (patterns if request == "invert" else 1)
        if request == "phase":
            rows = min(rows, max(trials, 20_000))     # the runner solves at most this many rows at once
        # Per row: its target and its 0/1 mask over the full output, plus the solver's state.
        mem += rows * (2 * n_out * b + (2 * 10 * n0 + 40) * b)
        mem += min(rows, 2048) * n_out * GENERIC_ROW_FLOATS * b      # one chunk of activations
        # A trial still converging at the end gets up to CONTINUE_ROUNDS more budgets
        # (core.diagnosis.continue_unconverged); in float32, the misses are then solved again in
        # float64 with up to as many more (refine_in_float64). L-BFGS's still converging after each
        # of those get as many Gauss–Newton budgets, each the work of one L-BFGS budget
        # (core.diagnosis.ESCALATE). Bounded as if every trial needed all.
        extra = CONTINUE_ROUNDS if extra_budgets is None else extra_budgets
        stages = 2 if cfg.dtype == "float32" else 1
        runs = restarts + extra + (1 + extra if cfg.dtype == "float32" else 0) \
            + (stages * extra if cfg.method in ESCALATE else 0)
        work = patterns * rates * trials * runs * T_steps * per_eval * 1.5
        field = wfield = "trials"
        wfields = ("trials", "restarts", "steps") + (("rates", "patterns") if request == "phase" else ())
    elif request == "expected":
        # Up to BLOCK_DRAWS nets stacked at once, each weight held about three times in float64
        # (drawn, stacked, laid out for the GEMMs), plus a chunk of intermediates and the grid's
        # closed form (core.expected.StackedNets, monte_carlo_J).
        # A chunk is at least one point through every stacked net (StackedNets.floats_per_point
        # each), held twice (columns and their sum).
        ks, ss, sizes = cfg.per_layer("kernel"), cfg.per_layer("stride"), cfg.layer_sizes()
        weights = sum(cfg.channels[i] * cfg.channels[i + 1] * ks[i] ** cfg.dim for i in range(cfg.depth))
        per_point = sum(cfg.channels[i] * ((sizes[i - 1] - 1) * ss[i - 1] + ks[i - 1]) ** cfg.dim
                        * (1 + ks[i - 1] ** cfg.dim) for i in range(1, cfg.depth + 1))
        nets = min(draws, EXPECTED_BLOCK_DRAWS)
        mem += nets * weights * 3 * 8 + max(EXPECTED_CHUNK_FLOATS, nets * per_point) * 8 * 2 + points * 8 * 4
        if nets * weights * 3 * 8 > mem / 2:
            term = "the stacked nets' weights"
        from .expected import CLOSED_FORM_MACS_PER_OUTPUT
        work = draws * points * macs + points * n_out * CLOSED_FORM_MACS_PER_OUTPUT
        wfield, wfields = "draws", ("draws", "points")
        field = "draws"
    else:
        raise ValueError(f"request: unknown {request!r}")
    return Cost(bytes=int(mem), macs=float(work), memory_term=term, memory_field=field, work_field=wfield,
                work_fields=wfields)


def check(cfg: Config, request: str = "landscape", max_bytes: float = MAX_BYTES, max_macs: float | None = None,
          flags: dict | None = None, **sizes) -> Cost:
    """:func:`estimate`, then refuse what passes ``max_bytes`` or ``max_macs``.

    ``flags`` maps a field to the name the user knows it by (``{"grid": "--grid"}`` for the CLI,
    the control's label in the dashboard), so the message names what to change.

    Raises
    ------
    ConfigError
        ``"<field>: this request needs about X GiB (limit Y GiB), mostly for <term>; reduce <field>"``,
        or for the work ``"<field>: this request needs about X multiply-adds (limit Y); reduce
        <field> × <other field> … by about N× (or the network's size)"``, naming every field the
        work is a product of.
    """
    c = estimate(cfg, request, **sizes)
    name = (flags or {}).get
    if c.bytes > max_bytes:
        f = name(c.memory_field, c.memory_field)
        raise ConfigError(f, f"this {request} needs about {c.bytes / GiB:.1f} GiB (limit {max_bytes / GiB:.1f} GiB), "
                             f"mostly for {c.memory_term}; reduce {f}")
    if max_macs is not None and c.macs > max_macs:
        f = name(c.work_field, c.work_field)
        product = " × ".join(dict.fromkeys(name(w, w) for w in (c.work_field, *c.work_fields)))
        raise ConfigError(f, f"this {request} needs about {c.macs:.1e} multiply-adds (limit {max_macs:.0e}); "
                             f"reduce {product} by about {math.ceil(c.macs / max_macs)}× (or the network's size)")
    return c
