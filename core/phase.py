"""Phase transition of exact recovery in the sampling rate r (Theorem 4 and Section 3 of the paper).

For one fixed random net G, each trial draws a fresh z* (and a fresh mask when the pattern is
``random``), observes ``y = A G(z*)`` and runs a descent on ``J(z) = ½‖y − A G(z)‖²`` from a few
random restarts; the restart with the smallest final J is the estimate ẑ. The trial succeeds when
``‖ẑ − z*‖ ≤ tol·‖z*‖``. The success probability per (pattern, rate) jumps from 0 to 1 as r grows;
:func:`fit_logistic` locates the jump (r50).

How the trials are batched
--------------------------
Every trial has its own y and its own observed set, so one compiled :class:`~core.generators.engine.Engine`
per trial would be a Python loop. Instead the engine is compiled once for the *full* output, and
every point of the batch (rates × trials × restarts) carries its trial's target ``G(z*)`` and its
0/1 mask as a weight on the residual: ``J = ½ Σ_j w_j (G_j(z) − G_j(z*))²``. One Adam / GD run
then advances all of them at once (Adam's update is entrywise, so the runs stay independent).

Two things keep the run short without changing what is measured:

* a trial stops as soon as one of its restarts reaches ``J < stop_rel · ½‖y‖²`` (the noiseless
  optimum is J = 0, so no other restart can beat it by more than that), and
* a restart stops when it no longer moves (``‖Δz‖`` over ``check_every`` steps below
  ``stall_rel · (‖z‖ + 1)``), which is where Adam ends at a critical point.

Finished points are dropped from the batch every ``check_every`` steps.

Common random numbers
---------------------
Trial ``t`` uses the same z*, the same restarts and (for ``random``) the same permutation of the
output entries at every rate and for every pattern, so the random masks are nested in r
(:func:`core.masks.make_operator` takes a prefix of one seeded permutation). The curves therefore
differ only through the rate and the pattern, not through fresh noise at each point.

Glossary: ``r`` ``rates``; ``z*`` ``z_star`` (T, n0); ``ẑ`` ``z_hat``; ``A`` the pattern's mask;
``p̂`` ``p_success``; ``r50`` the rate where the fitted logistic curve crosses ½.

References
----------
.. [1] F. Ma, U. Ayaz, S. Karaman, "Invertibility of Convolutional Generative Networks from
       Partial Measurements", NeurIPS 2018, Theorem 4 and Section 3.
.. [2] E. B. Wilson, "Probable inference, the law of succession, and statistical inference",
       JASA 22 (1927) 209–212 (the score interval).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .config import LIMITS, MASKS, Config, ConfigError
from .descent import step
from .generators.engine import Engine
from .generators.conv_family import ConvGenerator
from .problem import resolve_device
from .masks import make_operator

DTYPES = {"float32": torch.float32, "float64": torch.float64}

# Patterns the experiment accepts: pixel masks (a dense Gaussian A is not a mask).
PHASE_PATTERNS = tuple(p for p in MASKS if p != "gaussian")

# Upper bounds on what a phase experiment may ask for.
PHASE_LIMITS = {
    "patterns": len(PHASE_PATTERNS),
    "rates": 64,
    "trials": 2000,
    "restarts": 64,
    "points": 2_000_000,        # patterns × rates × trials × restarts
    "chunk_points": 20_000,     # points advanced together (bounds memory)
}

Z_95 = 1.959963984540054  # Φ⁻¹(0.975)


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------
def wilson_interval(k, n, z: float = Z_95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    k : array_like of int
        Successes.
    n : array_like of int
        Trials (same shape as ``k``, or broadcastable), each ≥ 1.
    z : float, default Φ⁻¹(0.975)
        Normal quantile; the default gives a 95 % interval.

    Returns
    -------
    low, high : ndarray
        Bounds, in [0, 1].

    Raises
    ------
    ValueError
        If ``n < 1`` or ``k`` is outside ``[0, n]``.

    Notes
    -----
    With ``p̂ = k/n``: ``(p̂ + z²/2n ± z √(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n)``. Unlike the Wald
    interval it is not degenerate at p̂ = 0 or 1, which is where most cells of a phase diagram lie.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise ValueError("trials: need n ≥ 1 and 0 ≤ successes ≤ n")
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # Exactly 0 at k = 0 and 1 at k = n (the formula gives them up to rounding).
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return low, high


def fit_logistic(rates, k, n, min_width: float | None = None) -> tuple[float, float]:
    """Maximum-likelihood fit of ``p(r) = 1 / (1 + exp(−(r − r50)/w))`` to binomial counts.

    Parameters
    ----------
    rates : array_like (R,)
    k, n : array_like (R,)
        Successes and trials at each rate.
    min_width : float, optional
        Lower bound on the width ``w``. With perfectly separated data (all failures below some
        rate, all successes above) the likelihood keeps rising as ``w → 0``; the bound then puts
        r50 in the middle of the gap. Defaults to 1/20 of the smallest spacing between rates.

    Returns
    -------
    r50, w : float
        NaN, NaN when the observed proportion never crosses ½ (all ``k/n ≥ ½`` or all ``< ½``):
        the transition then lies outside the rates tried and a fit would only extrapolate.

    Notes
    -----
    The negative log-likelihood is minimised over ``(r50, log w)`` with L-BFGS-B, r50 bounded to
    the rate range widened by its span on each side, from a grid of starting r50 values.
    """
    from scipy.optimize import minimize

    r = np.asarray(rates, dtype=float)
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if not (r.shape == k.shape == n.shape) or r.ndim != 1 or r.size < 1:
        raise ValueError("rates: rates, successes and trials must be 1-D arrays of one length")
    p = k / np.maximum(n, 1)
    if np.all(p >= 0.5) or np.all(p < 0.5):
        return float("nan"), float("nan")
    span = float(r.max() - r.min()) or 1.0
    if min_width is None:
        gaps = np.diff(np.unique(r))
        min_width = (gaps.min() if gaps.size else span) / 20
    lo_w, hi_w = math.log(min_width), math.log(max(10 * span, 10 * min_width))

    def nll(theta):
        r50, logw = theta
        s = (r - r50) / math.exp(logw)
        # log σ(s) = −log(1 + e^{−s}), written with logaddexp for stability.
        return float(np.sum(k * np.logaddexp(0, -s) + (n - k) * np.logaddexp(0, s)))

    bounds = [(r.min() - span, r.max() + span), (lo_w, hi_w)]
    best = None
    for r0 in np.linspace(r.min(), r.max(), 7):
        res = minimize(nll, x0=[r0, math.log(max(span / 10, min_width))], method="L-BFGS-B", bounds=bounds)
        if best is None or res.fun < best.fun:
            best = res
    return float(best.x[0]), float(math.exp(best.x[1]))


# ---------------------------------------------------------------------------
# the experiment's specification
# ---------------------------------------------------------------------------
def parse_rates(text: str) -> tuple[float, ...]:
    """``"lo:hi:count"`` (evenly spaced, both ends included) or ``"r1,r2,…"`` → rates.

    Raises
    ------
    ConfigError
        Naming ``rates``, on malformed text.
    """
    text = str(text).strip()
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            lo, hi, count = float(parts[0]), float(parts[1]), int(parts[2])
            if count < 1:
                raise ConfigError("rates", f"the count in lo:hi:count must be ≥ 1, got {count}")
            return tuple(float(x) for x in np.linspace(lo, hi, count))
        return tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise ConfigError("rates", f"expected lo:hi:count or a comma-separated list of rates, got {text!r}") from None


def parse_patterns(text: str) -> tuple[str, ...]:
    """``"random,top"`` → ``("random", "top")``."""
    return tuple(p.strip() for p in str(text).split(",") if p.strip())


@dataclass(frozen=True)
class PhaseSpec:
    """What a phase-transition experiment measures.

    Attributes
    ----------
    config : Config
        The net (architecture, weight law and ``weight_seed``: one fixed net for all trials), the
        descent (``method``, ``lr``, ``steps``, ``tol``) and the base seeds: ``z_seed`` for the
        trials' z*, ``mask_seed`` for their random masks, ``start_seed`` for the restarts.
        ``config.z_star``, ``mask`` and ``rate`` are ignored: every trial draws its own z* ~ N(0, I)
        and the mask comes from ``patterns`` × ``rates``.
    patterns : tuple of str
        Mask patterns, from :data:`PHASE_PATTERNS`.
    rates : tuple of float
        Requested sampling rates, each in (0, 1].
    trials : int
        Trials T per (pattern, rate).
    restarts : int
        Restarts S per trial, i.i.d. ``N(0, start_scale² I)``.
    start_scale : float
    stop_rel : float
        A trial stops once a restart has ``J < stop_rel · ½‖y‖²`` (0: never).
    stall_rel : float
        A restart stops once it moves less than ``stall_rel · (‖z‖ + 1)`` in ``check_every`` steps
        (0: never).
    check_every : int
        Steps between two stopping checks (and compactions of the batch).
    """

    config: Config = field(default_factory=Config)
    patterns: tuple = ("random", "top", "left", "border")
    rates: tuple = tuple(float(x) for x in np.linspace(0.05, 1.0, 12))
    trials: int = 50
    restarts: int = 4
    start_scale: float = 1.0
    stop_rel: float = 1e-11
    stall_rel: float = 1e-6
    check_every: int = 10

    def __post_init__(self):
        object.__setattr__(self, "patterns", tuple(self.patterns))
        object.__setattr__(self, "rates", tuple(float(r) for r in self.rates))
        _validate_spec(self)

    @property
    def n_points(self) -> int:
        return len(self.patterns) * len(self.rates) * self.trials * self.restarts

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["config"] = self.config.to_dict()
        d["patterns"], d["rates"] = list(self.patterns), list(self.rates)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PhaseSpec":
        if not isinstance(d, dict):
            raise ConfigError("spec", f"expected a mapping, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown key; allowed keys are {', '.join(sorted(known))}")
        d = dict(d)
        if "config" in d and not isinstance(d["config"], Config):
            d["config"] = Config.from_dict(d["config"])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> "PhaseSpec":
        return cls.from_dict(json.loads(s))


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _validate_spec(s: PhaseSpec) -> None:
    if not isinstance(s.config, Config):
        raise ConfigError("config", f"expected a Config, got {type(s.config).__name__}")
    P = PHASE_LIMITS
    if not 1 <= len(s.patterns) <= P["patterns"]:
        raise ConfigError("patterns", f"give between 1 and {P['patterns']} patterns, got {len(s.patterns)}")
    for p in s.patterns:
        if p not in PHASE_PATTERNS:
            raise ConfigError("patterns", f"each must be one of {', '.join(PHASE_PATTERNS)}; got {p!r}")
        if s.config.dim == 1 and p in ("top", "bottom"):
            raise ConfigError("patterns", f"{p!r} needs a 2-D output; use left/right for dim 1")
    if len(set(s.patterns)) != len(s.patterns):
        raise ConfigError("patterns", "each pattern may appear once")
    if not 1 <= len(s.rates) <= P["rates"]:
        raise ConfigError("rates", f"give between 1 and {P['rates']} rates, got {len(s.rates)}")
    for r in s.rates:
        if not (math.isfinite(r) and 0 < r <= 1):
            raise ConfigError("rates", f"each rate must be in (0, 1], got {r}")
    for name in ("trials", "restarts", "check_every"):
        v = getattr(s, name)
        hi = P.get(name, LIMITS["steps"])
        if not _is_int(v) or not 1 <= v <= hi:
            raise ConfigError(name, f"must be an integer in [1, {hi}], got {v!r}")
    if s.n_points > P["points"]:
        raise ConfigError("trials", f"patterns × rates × trials × restarts = {s.n_points} exceeds {P['points']}")
    for name, lo, hi, open_lo in (("start_scale", 0.0, LIMITS["extent"], True), ("stop_rel", 0.0, 1.0, False),
                                  ("stall_rel", 0.0, 1.0, False)):
        v = getattr(s, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and lo <= v <= hi) \
                or (open_lo and v == lo):
            raise ConfigError(name, f"must be a number in {'(' if open_lo else '['}{lo:g}, {hi:g}], got {v!r}")
    cfg = s.config
    if not 1 <= cfg.steps <= LIMITS["steps"]:
        raise ConfigError("steps", f"must be in [1, {LIMITS['steps']}], got {cfg.steps}")


# ---------------------------------------------------------------------------
# the runner
# ---------------------------------------------------------------------------
def masked_descent(engine: Engine, starts, target, weight, group, method="adam", lr=0.1, steps=500,
                   stop=None, stall_rel=1e-6, check_every=10):
    """Adam or GD on many independent masked problems at once, with early stopping.

    Parameters
    ----------
    engine : Engine
        Compiled for the full output (identity operator).
    starts : Tensor (N, n0)
    target, weight : Tensor (G, n)
        Per problem (group): ``G(z*)`` and the 0/1 mask, in the engine's output order.
    group : LongTensor (N,)
        Problem of each start.
    stop : Tensor (G,), optional
        A group stops (all its starts) as soon as one of its starts has ``J < stop[g]``.
    stall_rel : float
        A start stops when it moved less than ``stall_rel (‖z‖ + 1)`` over ``check_every`` steps.

    Returns
    -------
    z_end : Tensor (N, n0)
    J_end : Tensor (N,)
    steps_run : Tensor (N,) int64
        Steps each start actually took.
    """
    if method not in ("adam", "gd"):
        raise ValueError(f"method: must be adam or gd, got {method!r}")
    z_all = starts.clone()
    steps_run = torch.full((z_all.shape[0],), steps, dtype=torch.int64)
    idx = torch.arange(z_all.shape[0], device=z_all.device)
    z = z_all.clone()
    m = torch.zeros_like(z)
    v = torch.zeros_like(z)
    gid = group.clone()
    tgt, wt = target[gid], weight[gid]
    z_prev = z.clone()
    with torch.no_grad():
        for t in range(1, steps + 1):
            J, g = engine.J_and_grad(z, tgt, wt)
            step(z, g, m, v, t, method, lr)
            if t % check_every or t == steps:
                continue
            # J was evaluated before this step's update: a group is solved when a start was
            # already at the optimum, and that start has not moved measurably since.
            done = torch.zeros(idx.shape[0], dtype=torch.bool, device=z.device)
            if stop is not None:
                hit = J < stop[gid]
                solved = torch.zeros(target.shape[0], dtype=torch.bool, device=z.device)
                solved[gid[hit]] = True
                done |= solved[gid]
            moved = (z - z_prev).norm(dim=1)
            done |= moved < stall_rel * (z.norm(dim=1) + 1)
            if bool(done.any()):
                z_all[idx[done]] = z[done]
                steps_run[idx[done].cpu()] = t
                keep = ~done
                idx, z, m, v, gid = idx[keep], z[keep], m[keep], v[keep], gid[keep]
                tgt, wt = tgt[keep], wt[keep]
                if idx.numel() == 0:
                    break
            z_prev = z.clone()
        if idx.numel():
            z_all[idx] = z
        J_end = torch.empty(z_all.shape[0], dtype=z_all.dtype, device=z_all.device)
        chunk = 8192
        for a in range(0, z_all.shape[0], chunk):
            sl = slice(a, a + chunk)
            J_end[sl], _ = engine.J_and_grad(z_all[sl], target[group[sl]], weight[group[sl]])
    return z_all, J_end, steps_run


@dataclass(frozen=True)
class CellBlock:
    """Results of one pattern over some of the rates.

    Attributes
    ----------
    pattern : str
    rate_index : ndarray (R',) int
        Which of ``spec.rates``.
    success : ndarray (R', T) bool
    z_hat : ndarray (R', T, n0)
        Best restart (smallest final J) of each trial.
    J_hat : ndarray (R', T)
    actual_rate : ndarray (R', T)
        ``m / n`` of each trial's mask.
    steps_run : ndarray (R', T, S) int
    """

    pattern: str
    rate_index: np.ndarray
    success: np.ndarray
    z_hat: np.ndarray
    J_hat: np.ndarray
    actual_rate: np.ndarray
    steps_run: np.ndarray


class PhaseRunner:
    """Compiles the net once and runs blocks of (pattern, rates) cells; see the module docstring.

    Parameters
    ----------
    spec : PhaseSpec
    device, dtype : str, optional
        Override ``spec.config.device`` / ``dtype``.
    strategy : {"col2im", "dense", "auto"}
        Engine formulation; with the full output observed ``col2im`` is the fastest on the
        paper's nets (``benchmarks/NOTES.md``).
    """

    def __init__(self, spec: PhaseSpec, device: str | None = None, dtype: str | None = None,
                 strategy: str = "col2im"):
        self.spec = spec
        cfg = spec.config
        self.device = resolve_device(device or cfg.device)
        self.dtype = DTYPES[dtype or cfg.dtype]
        self.G = ConvGenerator(cfg, dtype=self.dtype, device=self.device)
        self.shape = cfg.output_shape()
        full = make_operator("identity", self.shape, dtype=self.dtype, device=self.device)
        self.n = full.n
        self.engine = Engine(self.G, full, torch.zeros(self.n, dtype=self.dtype, device=self.device),
                             strategy=strategy)
        T, S, n0 = spec.trials, spec.restarts, cfg.n0
        gen = torch.Generator().manual_seed(cfg.z_seed)
        self.z_star = torch.randn(T, n0, generator=gen, dtype=torch.float64)
        gen = torch.Generator().manual_seed(cfg.start_seed)
        self.starts = torch.randn(T, S, n0, generator=gen, dtype=torch.float64) * spec.start_scale
        self.mask_seeds = [int(s) & 0x7FFFFFFF for s in np.random.SeedSequence(cfg.mask_seed).generate_state(T)]
        with torch.no_grad():
            self.x_star = self.engine.observe(self.z_star.to(self.dtype).to(self.device))  # (T, n)
        # The engine's output is channels-last; masks are (C, *spatial) in C-order.
        self._perm = torch.arange(self.n).reshape(self.shape).movedim(0, -1).reshape(-1)

    def masks(self, pattern: str, rate: float) -> torch.Tensor:
        """(T, n) float 0/1 masks of the trials, in the engine's output order."""
        T = self.spec.trials
        if pattern == "random":
            rows = [make_operator("random", self.shape, rate=rate, seed=s).mask.reshape(-1) for s in self.mask_seeds]
            M = torch.stack(rows)
        else:
            M = make_operator(pattern, self.shape, rate=rate).mask.reshape(1, -1).expand(T, -1)
        return M[:, self._perm].to(dtype=self.dtype, device=self.device)

    def run_block(self, pattern: str, rate_index) -> CellBlock:
        """All trials × restarts of ``pattern`` at ``spec.rates[i]`` for i in ``rate_index``, batched."""
        spec, cfg = self.spec, self.spec.config
        if pattern not in spec.patterns:
            raise ConfigError("patterns", f"{pattern!r} is not one of this spec's patterns {spec.patterns}")
        ri = np.asarray(rate_index, dtype=int).reshape(-1)
        if ri.size == 0 or ri.min() < 0 or ri.max() >= len(spec.rates):
            raise ValueError(f"rate_index: must index spec.rates (0..{len(spec.rates) - 1}), got {ri.tolist()}")
        T, S, n0 = spec.trials, spec.restarts, cfg.n0
        if ri.size * T * S > PHASE_LIMITS["chunk_points"]:
            raise ValueError(f"rate_index: {ri.size} rates × {T} trials × {S} restarts exceeds "
                             f"{PHASE_LIMITS['chunk_points']} points; run fewer rates per block")
        R = ri.size
        weight = torch.cat([self.masks(pattern, spec.rates[i]) for i in ri])          # (R·T, n)
        target = self.x_star.repeat(R, 1)                                             # (R·T, n)
        y2 = (weight * target * target).sum(1)
        stop = spec.stop_rel * 0.5 * y2
        starts = self.starts.to(self.dtype).to(self.device).repeat(R, 1, 1).reshape(-1, n0)
        group = torch.arange(R * T, device=self.device).repeat_interleave(S)
        z_end, J_end, steps_run = masked_descent(
            self.engine, starts, target, weight, group, method=cfg.method, lr=cfg.lr, steps=cfg.steps,
            stop=stop, stall_rel=spec.stall_rel, check_every=spec.check_every)
        z_end = z_end.double().cpu().reshape(R, T, S, n0)
        J_end = J_end.double().cpu().reshape(R, T, S)
        best = J_end.argmin(dim=2)                                                     # (R, T)
        z_hat = torch.gather(z_end, 2, best[..., None, None].expand(R, T, 1, n0))[:, :, 0]
        J_hat = torch.gather(J_end, 2, best[..., None])[..., 0]
        zs = self.z_star[None]
        success = (z_hat - zs).norm(dim=-1) <= cfg.tol * zs.norm(dim=-1)
        actual = (weight.sum(1) / self.n).double().cpu().reshape(R, T)
        return CellBlock(pattern=pattern, rate_index=ri, success=success.numpy(), z_hat=z_hat.numpy(),
                         J_hat=J_hat.numpy(), actual_rate=actual.numpy(),
                         steps_run=steps_run.cpu().numpy().reshape(R, T, S))

    def blocks(self) -> list[tuple[str, list[int]]]:
        """The (pattern, rate indices) blocks :func:`phase_transition` runs, in order."""
        spec = self.spec
        per = max(1, PHASE_LIMITS["chunk_points"] // (spec.trials * spec.restarts))
        R = len(spec.rates)
        return [(p, list(range(a, min(a + per, R)))) for p in spec.patterns for a in range(0, R, per)]


@dataclass(frozen=True)
class PhaseResult:
    """Success probability per (pattern, rate), with intervals and the fitted transition.

    Attributes
    ----------
    rates : ndarray (R,)
        Requested rates.
    patterns : ndarray (P,) str
    success : ndarray (P, R, T) bool
    p_success : ndarray (P, R)
    ci_low, ci_high : ndarray (P, R)
        95 % Wilson interval.
    r50 : ndarray (P,)
        Where the fitted logistic crosses ½ (NaN when there is no transition to fit).
    width : ndarray (P,)
        The logistic's width w (the rise from 27 % to 73 % spans 2w).
    actual_rate : ndarray (P, R)
        Mean true ``m / n`` of the masks (deterministic patterns round up to whole rows).
    r50_actual : ndarray (P,)
        r50 fitted against ``actual_rate`` instead of the requested rates: the fair comparison
        between patterns, since a one-row ``top`` mask observes more than a requested 2 %.
    mean_steps : ndarray (P, R)
        Mean steps a restart took before it stopped.
    spec : PhaseSpec
    seconds : float
    """

    rates: np.ndarray
    patterns: np.ndarray
    success: np.ndarray
    p_success: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    r50: np.ndarray
    width: np.ndarray
    actual_rate: np.ndarray
    mean_steps: np.ndarray
    spec: PhaseSpec
    seconds: float
    r50_actual: np.ndarray | None = None

    def to_npz_dict(self) -> dict:
        """Arrays for ``np.savez``: the CLI's output file."""
        return dict(rates=self.rates, patterns=self.patterns, p_success=self.p_success, ci_low=self.ci_low,
                    ci_high=self.ci_high, r50=self.r50, width=self.width, success=self.success,
                    actual_rate=self.actual_rate, r50_actual=self.r50_actual, mean_steps=self.mean_steps,
                    config=np.array(self.spec.config.to_json()), spec=np.array(self.spec.to_json()),
                    seconds=np.float64(self.seconds))


def summarise(spec: PhaseSpec, success, actual_rate=None, mean_steps=None, seconds: float = float("nan")) -> PhaseResult:
    """Probabilities, Wilson intervals and r50 from the (P, R, T) success array."""
    success = np.asarray(success, dtype=bool)
    P, R, T = success.shape
    k = success.sum(axis=2)
    lo, hi = wilson_interval(k, T)
    fits = [fit_logistic(spec.rates, k[i], np.full(R, T)) for i in range(P)]
    actual = np.full((P, R), np.nan) if actual_rate is None else np.asarray(actual_rate, dtype=float)
    r50_actual = np.array([fit_logistic(actual[i], k[i], np.full(R, T))[0] if np.all(np.isfinite(actual[i]))
                           else np.nan for i in range(P)])
    return PhaseResult(
        rates=np.asarray(spec.rates, dtype=float), patterns=np.asarray(spec.patterns, dtype=str),
        success=success, p_success=k / T, ci_low=lo, ci_high=hi,
        r50=np.array([f[0] for f in fits]), width=np.array([f[1] for f in fits]),
        actual_rate=actual, r50_actual=r50_actual,
        mean_steps=np.full((P, R), np.nan) if mean_steps is None else np.asarray(mean_steps, dtype=float),
        spec=spec, seconds=seconds)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run a block with ``n`` torch threads (None: leave as is), restoring the count afterwards."""
    old = torch.get_num_threads()
    if n is not None:
        if not _is_int(n) or not 1 <= n <= 1024:
            raise ConfigError("threads", f"must be an integer in [1, 1024], got {n!r}")
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def phase_transition(spec: PhaseSpec, progress=None, device: str | None = None, dtype: str | None = None,
                     strategy: str = "col2im", threads: int | None = 1) -> PhaseResult:
    """Run the whole experiment of :class:`PhaseSpec` (see the module docstring).

    Parameters
    ----------
    spec : PhaseSpec
    progress : callable, optional
        ``progress(done_blocks, total_blocks)`` after each block; returning True cancels
        (raises :class:`core.descent.Cancelled`).
    device, dtype, strategy
        See :class:`PhaseRunner`.
    threads : int or None, default 1
        Torch threads for the run (restored afterwards); None keeps the current count. The batch
        runs ~40 small kernels per step, and on a shared 2-core machine every multi-threaded
        kernel waits for a descheduled thread at its barrier: one thread was 5–10× faster there
        (``benchmarks/NOTES.md``). Parallelism across runs comes from :mod:`core.sweep`.

    Returns
    -------
    PhaseResult
    """
    from .descent import Cancelled

    t0 = time.perf_counter()
    P, R, T = len(spec.patterns), len(spec.rates), spec.trials
    success = np.zeros((P, R, T), dtype=bool)
    actual = np.zeros((P, R))
    steps = np.zeros((P, R))
    with torch_threads(threads):
        runner = PhaseRunner(spec, device=device, dtype=dtype, strategy=strategy)
        blocks = runner.blocks()
        for b, (pattern, ri) in enumerate(blocks):
            res = runner.run_block(pattern, ri)
            p = spec.patterns.index(pattern)
            success[p, ri] = res.success
            actual[p, ri] = res.actual_rate.mean(axis=1)
            steps[p, ri] = res.steps_run.reshape(len(ri), -1).mean(axis=1)
            if progress is not None and progress(b + 1, len(blocks)):
                raise Cancelled()
    return summarise(spec, success, actual, steps, seconds=time.perf_counter() - t0)
