"""Phase transition of exact recovery in the sampling rate r (Theorem 4 and Section 3 of the paper).

For one fixed generator G (the random family, a shipped DCGAN or a user's module), each trial
draws a fresh z* (and a fresh class for a conditional G, and a fresh mask when the pattern is
``random``), measures ``y = A G(z*)`` plus the config's noise, and minimises
``J(z) = ½‖y − A G(z)‖²`` with the config's solver from up to ``restarts`` random starts; the
restart with the smallest final J is the estimate ẑ. The trial succeeds when
``‖ẑ − z*‖ ≤ tol·‖z*‖``, and every ẑ carries its diagnosis (:mod:`core.diagnosis`), so a failure
says whether the landscape or the budget was to blame. A trial whose J was still falling when the
budget ran out (``unconverged``) is solved on from its end point, up to
:data:`core.diagnosis.CONTINUE_ROUNDS` more budgets (:func:`core.diagnosis.continue_unconverged`),
before it is counted; those still unconverged then are reported as the budget's, with a warning.
The success probability per (pattern, rate) jumps from 0 to 1 as r grows; :func:`fit_logistic`
locates the jump (r50) and :func:`crossing_interval` brackets it between two tested rates.

How the trials are batched
--------------------------
Every trial has its own y and its own observed set. The evaluator is built once for the *full*
output, and every row of the batch (rates × trials) carries its trial's measured output and its
0/1 mask as a weight on the residual: ``J = ½ Σ_j w_j (G_j(z) − y_j)²``
(:class:`core.problem.Objective`). One batched solve advances all of them at once; restart k runs
only for the trials no earlier restart fitted (:func:`core.solvers.solve_restarts`).

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
from .masks import make_operator
from .problem import (FixedLabel, draw_trials, resolve_device, trial_mask_seeds, trial_noise_seeds, trial_starts,
                      trial_z_seeds)

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
    "chunk_points": 20_000,     # rows (rates × trials) solved together (bounds memory)
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
    n_max = PHASE_LIMITS["rates"]
    if len(text) > 64 * 32:
        raise ConfigError("rates", f"give between 1 and {n_max} rates (the text is {len(text)} characters)")
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            lo, hi, count = float(parts[0]), float(parts[1]), int(parts[2])
            if not 1 <= count <= n_max:   # checked before anything is allocated
                raise ConfigError("rates", f"the count in lo:hi:count must be in [1, {n_max}], got {count}")
            return tuple(float(x) for x in np.linspace(lo, hi, count))
        parts = [p for p in text.split(",") if p.strip()]
        if len(parts) > n_max:
            raise ConfigError("rates", f"give between 1 and {n_max} rates, got {len(parts)}")
        return tuple(float(p) for p in parts)
    except ConfigError:
        raise
    except ValueError:
        raise ConfigError("rates", f"expected lo:hi:count or a comma-separated list of rates, got {text!r}") from None


def parse_patterns(text: str) -> tuple[str, ...]:
    """``"random,top"`` → ``("random", "top")`` (at most as many as there are patterns)."""
    if len(str(text)) > 256:
        raise ConfigError("patterns", f"give at most {len(PHASE_PATTERNS)} of {', '.join(PHASE_PATTERNS)}")
    return tuple(p.strip() for p in str(text).split(",") if p.strip())


@dataclass(frozen=True)
class PhaseSpec:
    """What a phase-transition experiment measures.

    Attributes
    ----------
    config : Config
        The generator (one fixed net for all trials), the noise, the solver (``method``,
        ``steps``, ``tol``, …) and the base seeds: ``z_seed`` for the trials' z* (and classes),
        ``mask_seed`` for their random masks, ``noise_seed`` for their noise, ``start_seed`` for
        the restarts. ``config.z_star``, ``mask`` and ``rate`` are ignored: every trial draws its
        own z* ~ N(0, I) and the mask comes from ``patterns`` × ``rates``. Each trial has seeds of
        its own (:func:`core.problem.draw_trials`, :func:`core.problem.trial_starts`), so the first
        T trials of a run are those of any run with more trials.
    patterns : tuple of str
        Mask patterns, from :data:`PHASE_PATTERNS`.
    rates : tuple of float
        Requested sampling rates, each in (0, 1].
    trials : int
        Trials T per (pattern, rate).
    restarts : int
        Restarts S per trial, i.i.d. ``N(0, start_scale² I)``.
    start_scale : float
    """

    config: Config = field(default_factory=Config)
    patterns: tuple = ("random", "top", "left", "border")
    rates: tuple = tuple(float(x) for x in np.linspace(0.05, 1.0, 12))
    trials: int = 50
    restarts: int = 4
    start_scale: float = 1.0

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
    for name in ("trials", "restarts"):
        v = getattr(s, name)
        hi = P.get(name, LIMITS["steps"])
        if not _is_int(v) or not 1 <= v <= hi:
            raise ConfigError(name, f"must be an integer in [1, {hi}], got {v!r}")
    if s.n_points > P["points"]:
        raise ConfigError("trials", f"patterns × rates × trials × restarts = {s.n_points} exceeds {P['points']}")
    for name, lo, hi, open_lo in (("start_scale", 0.0, LIMITS["extent"], True),):
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
@dataclass(frozen=True)
class CellBlock:
    """Results of one pattern over some of the rates, for all trials or some (T below: those run).

    Attributes
    ----------
    pattern : str
    rate_index : ndarray (R',) int
        Which of ``spec.rates``.
    trial_index : ndarray (T,) int
        Which of the spec's trials.
    success : ndarray (R', T) bool
        ‖ẑ − z*‖ ≤ tol ‖z*‖.
    z_hat : ndarray (R', T, n0)
        Best restart (smallest final J) of each trial.
    J_hat : ndarray (R', T)
    actual_rate : ndarray (R', T)
        ``m / n`` of each trial's mask.
    steps_run : ndarray (R', T) int
        Solver iterations of each trial, summed over the restarts it used.
    diagnosis : ndarray (R', T) str
        The label of each trial's ẑ (:mod:`core.diagnosis`).
    end_cond : ndarray (R', T)
        Condition of A ∂G/∂z at the ẑ of each trial still ``unconverged`` (NaN for the others;
        :attr:`core.diagnosis.Diagnosis.end_cond`).
    flat : ndarray (R', T) bool
        Those of them in a valley of J flat to the precision (:attr:`core.diagnosis.Diagnosis.flat`).
    """

    pattern: str
    rate_index: np.ndarray
    trial_index: np.ndarray
    success: np.ndarray
    z_hat: np.ndarray
    J_hat: np.ndarray
    actual_rate: np.ndarray
    steps_run: np.ndarray
    diagnosis: np.ndarray
    end_cond: np.ndarray | None = None
    flat: np.ndarray | None = None


class PhaseRunner:
    """Builds the generator once and runs blocks of (pattern, rates) cells; see the module docstring.

    Parameters
    ----------
    spec : PhaseSpec
    device, dtype : str, optional
        Override ``spec.config.device`` / ``dtype``.
    strategy : {"col2im", "dense", "auto"}
        Engine formulation of the random family; with the full output observed ``col2im`` is the
        fastest on the paper's nets (``benchmarks/NOTES.md``).
    """

    def __init__(self, spec: PhaseSpec, device: str | None = None, dtype: str | None = None,
                 strategy: str = "col2im"):
        from .generators import build_generator
        from .masks import measure

        self.spec = spec
        cfg = spec.config
        self.device = resolve_device(device or cfg.device)
        self.dtype = DTYPES[dtype or cfg.dtype]
        self.G = build_generator(cfg, dtype=self.dtype, device=self.device)
        self.shape = tuple(self.G.output_shape)
        full = make_operator("identity", self.shape, dtype=self.dtype, device=self.device)
        self.n = full.n
        y0 = torch.zeros(self.n, dtype=self.dtype, device=self.device)
        self.evaluator = (self.G.evaluator(full, y0, strategy=strategy) if hasattr(self.G, "cfg")
                          else self.G.evaluator(full, y0))
        T, S, n0 = spec.trials, spec.restarts, self.G.latent_dim
        self.z_star, labels, self.z_seeds = draw_trials(cfg, T, n0, self.G.conditional)
        self.labels = labels if self.G.conditional else None
        self.starts = trial_starts(cfg.start_seed, T, S, n0, spec.start_scale)
        self.mask_seeds = trial_mask_seeds(cfg.mask_seed, T)
        # G(z*) trial by trial through G itself, as build_problem computes a trial's own landscape (the
        # page a failed trial links to): a batched pass through the engine may round the last bits
        # apart (1.8e-15 on an AMD EPYC host), and a quantized y could then differ by a level.
        with torch.no_grad():
            zs = self.z_star.to(self.dtype).to(self.device)
            self.x_star = torch.cat([(self.G if self.labels is None else FixedLabel(self.G, int(self.labels[t])))(
                zs[t:t + 1]).reshape(1, -1) for t in range(T)])
        # The measured outputs: the noise of cfg.noise on every output, one seed per trial (the mask
        # then keeps the observed ones), so a trial's y is the same at every rate and pattern.
        noise_seeds = trial_noise_seeds(cfg.noise_seed, T)
        self.y_full = measure(full, self.x_star.reshape(T, *self.shape), cfg.noise, noise_seeds, self.G.output_range)

    def masks(self, pattern: str, rate: float, trials=None) -> torch.Tensor:
        """(t, n) float 0/1 masks of the trials (all T, or the indices ``trials``), C-order over the output."""
        ti = range(self.spec.trials) if trials is None else trials
        if pattern == "random":
            M = torch.stack([make_operator("random", self.shape, rate=rate, seed=self.mask_seeds[t]).mask.reshape(-1)
                             for t in ti])
        else:
            M = make_operator(pattern, self.shape, rate=rate).mask.reshape(1, -1).expand(len(ti), -1)
        return M.to(dtype=self.dtype, device=self.device)

    def run_block(self, pattern: str, rate_index, trials=None) -> CellBlock:
        """All trials × restarts of ``pattern`` at ``spec.rates[i]`` for i in ``rate_index``, batched.

        ``trials`` (indices into the spec's trials, default all) runs only those: a trial's z*, mask,
        noise, starts and the search radius do not depend on which others run beside it, so a cell
        run in parts holds the same trials as a cell run whole (the dashboard's job runs a cell
        that costs more than one of its steps may this way)."""
        from .diagnosis import continue_unconverged, diagnose, refine_in_float64
        from .problem import Objective
        from .solvers import solve_restarts
        from .descent import RADIUS_FACTOR, solver_settings

        spec, cfg = self.spec, self.spec.config
        if pattern not in spec.patterns:
            raise ConfigError("patterns", f"{pattern!r} is not one of this spec's patterns {spec.patterns}")
        ri = np.asarray(rate_index, dtype=int).reshape(-1)
        if ri.size == 0 or ri.min() < 0 or ri.max() >= len(spec.rates):
            raise ValueError(f"rate_index: must index spec.rates (0..{len(spec.rates) - 1}), got {ri.tolist()}")
        S, n0 = spec.restarts, self.G.latent_dim
        ti = np.arange(spec.trials) if trials is None else np.asarray(trials, dtype=int).reshape(-1)
        if ti.size == 0 or ti.min() < 0 or ti.max() >= spec.trials or np.unique(ti).size != ti.size:
            raise ValueError(f"trials: distinct indices of the spec's trials (0..{spec.trials - 1}), got {ti.tolist()}")
        T = ti.size
        if ri.size * T > max(T, PHASE_LIMITS["chunk_points"]):
            raise ValueError(f"rate_index: {ri.size} rates × {T} trials exceeds {PHASE_LIMITS['chunk_points']} "
                             f"rows; run fewer rates per block")
        R = ri.size
        sel = torch.as_tensor(ti, device=self.device)
        weight = torch.cat([self.masks(pattern, spec.rates[i], ti.tolist()) for i in ri])   # (R·T, n)
        target = self.y_full[sel].repeat(R, 1)                                              # (R·T, n)
        zs = self.z_star.to(self.dtype).to(self.device)[sel].repeat(R, 1)
        scale = 0.5 * ((weight * target) ** 2).sum(1).double()
        floor = 0.5 * ((weight * (target - self.x_star[sel].repeat(R, 1))) ** 2).sum(1).double()
        labels = None if self.labels is None else self.labels.to(self.device)[sel].repeat(R)
        obj = Objective(self.evaluator, n0, group=torch.arange(R * T, device=self.device), target=target,
                        weight=weight, labels=labels, scale=torch.where(scale > 0, scale, torch.ones_like(scale)),
                        floor=floor, z_star=zs)
        starts = self.starts.to(self.dtype).to(self.device)[sel].repeat(R, 1, 1)
        radius = RADIUS_FACTOR * (cfg.extent + float(self.z_star.norm(dim=1).max()))
        settings = solver_settings(cfg)
        run = solve_restarts(obj, starts, radius=radius, **settings)
        best = run.best
        diag = diagnose(obj, best, tol=cfg.tol, eps=cfg.eps, radius=radius)
        # A trial still converging when the budget ran out gets more of it: its verdict must be the landscape's.
        best, diag, _ = continue_unconverged(obj, best, diag, radius, settings, tol=cfg.tol, eps=cfg.eps, escalate=True,
                                             flat=self.dtype != torch.float32)   # float32: judged in float64 below
        # float32 misses are continued and judged in float64, where those still converging get more budgets
        if self.dtype == torch.float32:
            best, diag, _ = refine_in_float64(obj, self._evaluator64(), best, diag, radius, settings,
                                              tol=cfg.tol, eps=cfg.eps, rounds=None, escalate=True)
        z_hat = best.z.reshape(R, T, n0)
        success = diag.label.reshape(R, T) == "recovered"
        actual = (weight.sum(1) / self.n).double().cpu().numpy().reshape(R, T)
        return CellBlock(pattern=pattern, rate_index=ri, trial_index=ti, success=success, z_hat=z_hat,
                         J_hat=best.J.reshape(R, T), actual_rate=actual,
                         steps_run=best.iterations.reshape(R, T), diagnosis=diag.label.reshape(R, T),
                         end_cond=np.asarray(diag.end_cond, dtype=float).reshape(R, T),
                         flat=np.asarray(diag.flat, dtype=bool).reshape(R, T))

    def _evaluator64(self):
        """The same generator and full-output evaluator in float64 (built once, on first use)."""
        if getattr(self, "_ev64", None) is None:
            from .generators import build_generator

            G = build_generator(self.spec.config, dtype=torch.float64, device=self.device)
            full = make_operator("identity", self.shape, dtype=torch.float64, device=self.device)
            self._ev64 = G.evaluator(full, torch.zeros(self.n, dtype=torch.float64, device=self.device))
        return self._ev64

    def blocks(self) -> list[tuple[str, list[int]]]:
        """The (pattern, rate indices) blocks :func:`phase_transition` runs, in order."""
        spec = self.spec
        per = max(1, PHASE_LIMITS["chunk_points"] // spec.trials)      # restarts run one after the other
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
        Mean solver iterations per trial (summed over the restarts it used).
    r50_low, r50_high : ndarray (P,)
        The two adjacent tested rates between which the observed proportion first reaches ½
        (NaN when it never crosses): an interval that needs no model. Where the data jump from
        below ½ to 1 between two rates with nothing in between, the logistic cannot place r50 and
        ``r50`` is NaN; the interval still holds.
    diagnosis : ndarray (P, R, T) str
        The diagnosis of every trial's ẑ.
    end_cond : ndarray (P, R, T)
        Condition of A ∂G/∂z at each ``unconverged`` trial's ẑ (NaN for the others).
    flat : ndarray (P, R, T) bool
        Those of them in a valley of J flat to the precision (:attr:`core.diagnosis.Diagnosis.flat`).
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
    r50_low: np.ndarray | None = None
    r50_high: np.ndarray | None = None
    diagnosis: np.ndarray | None = None
    end_cond: np.ndarray | None = None
    flat: np.ndarray | None = None

    @property
    def n_flat(self) -> int:
        """Trials still ``unconverged`` in a valley of J flat to the precision."""
        if self.diagnosis is None or self.flat is None:
            return 0
        return int(((np.asarray(self.diagnosis) == "unconverged") & np.asarray(self.flat, dtype=bool)).sum())

    def to_npz_dict(self) -> dict:
        """Arrays for ``np.savez``: the CLI's output file."""
        return dict(rates=self.rates, patterns=self.patterns, p_success=self.p_success, ci_low=self.ci_low,
                    ci_high=self.ci_high, r50=self.r50, width=self.width, success=self.success,
                    actual_rate=self.actual_rate, r50_actual=self.r50_actual, mean_steps=self.mean_steps,
                    r50_low=self.r50_low, r50_high=self.r50_high,
                    diagnosis=np.asarray(self.diagnosis if self.diagnosis is not None else np.full(self.success.shape, ""), dtype=str),
                    end_cond=np.asarray(self.end_cond if self.end_cond is not None else np.full(self.success.shape, np.nan),
                                        dtype=float),
                    flat=np.asarray(self.flat if self.flat is not None else np.zeros(self.success.shape), dtype=bool),
                    config=np.array(self.spec.config.to_json()), spec=np.array(self.spec.to_json()),
                    seconds=np.float64(self.seconds))


def failed_trials(spec: PhaseSpec, success, limit: int) -> list[tuple[int, int, int, Config]]:
    """The first ``limit`` failed trials, highest rate first (the failures least expected), as
    (pattern index, rate index, trial, the config of its landscape).

    ``success[p][r]`` holds the T outcomes of a cell (or None where it has not run). The landscape's
    config is the run's generator and solver with the trial's z* and class (``z_seed``), its mask
    (pattern, rate and, for the random pattern, its ``mask_seed``) and its noise (``noise_seed``, where
    the run has noise): the trial's J is that landscape's (both add the noise to the whole output
    before masking)."""
    cfg, T = spec.config, spec.trials
    z_seeds, mask_seeds = trial_z_seeds(cfg.z_seed, T), trial_mask_seeds(cfg.mask_seed, T)
    noisy = cfg.noise not in ("", "none")
    noise_seeds = trial_noise_seeds(cfg.noise_seed, T)
    cells = sorted(((r, p) for p in range(len(spec.patterns)) for r in range(len(spec.rates))),
                   key=lambda rp: (-spec.rates[rp[0]], rp[1]))
    out = []
    for r, p in cells:
        for t, ok in enumerate(success[p][r] if success[p][r] is not None else []):
            if len(out) >= limit:
                return out
            if not ok:
                pattern = spec.patterns[p]
                land = cfg.replace(mask=pattern, rate=spec.rates[r], z_star=(), z_seed=z_seeds[t],
                                   mask_seed=mask_seeds[t] if pattern == "random" else cfg.mask_seed,
                                   noise_seed=noise_seeds[t] if noisy else cfg.noise_seed)
                out.append((p, r, t, land))
    return out


def crossing_interval(rates, k, n) -> tuple[float, float]:
    """The adjacent tested rates (a, b), a < b, between which k/n first rises to ½ or above.

    Rates are sorted first. (NaN, NaN) when the proportion never crosses ½ within the rates; when
    it is already ≥ ½ at the lowest rate, (NaN, lowest rate): r50 lies below the range.
    """
    r = np.asarray(rates, dtype=float)
    order = np.argsort(r)
    r, p = r[order], (np.asarray(k, float) / np.maximum(np.asarray(n, float), 1))[order]
    above = np.nonzero(p >= 0.5)[0]
    if above.size == 0:
        return float("nan"), float("nan")
    j = int(above[0])
    if j == 0:
        return float("nan"), float(r[0])
    return float(r[j - 1]), float(r[j])


def summarise(spec: PhaseSpec, success, actual_rate=None, mean_steps=None, seconds: float = float("nan"),
              diagnosis=None, end_cond=None, flat=None) -> PhaseResult:
    """Probabilities, Wilson intervals, r50 and its interval from the (P, R, T) success array."""
    success = np.asarray(success, dtype=bool)
    P, R, T = success.shape
    k = success.sum(axis=2)
    lo, hi = wilson_interval(k, T)
    fits = [fit_logistic(spec.rates, k[i], np.full(R, T)) if _placeable(k[i], T) else (float("nan"), float("nan"))
            for i in range(P)]
    brackets = [crossing_interval(spec.rates, k[i], np.full(R, T)) for i in range(P)]
    actual = np.full((P, R), np.nan) if actual_rate is None else np.asarray(actual_rate, dtype=float)
    r50_actual = np.array([fit_logistic(actual[i], k[i], np.full(R, T))[0]
                           if np.all(np.isfinite(actual[i])) and _placeable(k[i], T)
                           else np.nan for i in range(P)])
    return PhaseResult(
        rates=np.asarray(spec.rates, dtype=float), patterns=np.asarray(spec.patterns, dtype=str),
        success=success, p_success=k / T, ci_low=lo, ci_high=hi,
        r50=np.array([f[0] for f in fits]), width=np.array([f[1] for f in fits]),
        actual_rate=actual, r50_actual=r50_actual,
        mean_steps=np.full((P, R), np.nan) if mean_steps is None else np.asarray(mean_steps, dtype=float),
        r50_low=np.array([b[0] for b in brackets]), r50_high=np.array([b[1] for b in brackets]),
        diagnosis=None if diagnosis is None else np.asarray(diagnosis, dtype=str),
        end_cond=None if end_cond is None else np.asarray(end_cond, dtype=float),
        flat=None if flat is None else np.asarray(flat, dtype=bool), spec=spec, seconds=seconds)


def _placeable(k, T) -> bool:
    """Whether the data can place a logistic r50: some rate strictly between 0 and all successes.

    With only all-fail and all-success rates (a jump between two tested rates) the likelihood keeps
    rising as the width shrinks to 0, and any r50 in the gap fits equally well: report the interval.
    """
    k = np.asarray(k)
    return bool(((k > 0) & (k < T)).any())


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
        runs many small kernels per step, and on a shared 2-core machine every multi-threaded
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
    labels = np.full((P, R, T), "", dtype=object)
    end_cond, flat = np.full((P, R, T), np.nan), np.zeros((P, R, T), dtype=bool)
    actual = np.zeros((P, R))
    steps = np.zeros((P, R))
    with torch_threads(threads):
        runner = PhaseRunner(spec, device=device, dtype=dtype, strategy=strategy)
        blocks = runner.blocks()
        for b, (pattern, ri) in enumerate(blocks):
            res = runner.run_block(pattern, ri)
            p = spec.patterns.index(pattern)
            success[p, ri] = res.success
            labels[p, ri] = res.diagnosis
            end_cond[p, ri], flat[p, ri] = res.end_cond, res.flat
            actual[p, ri] = res.actual_rate.mean(axis=1)
            steps[p, ri] = res.steps_run.reshape(len(ri), -1).mean(axis=1)
            if progress is not None and progress(b + 1, len(blocks)):
                raise Cancelled()
    return summarise(spec, success, actual, steps, seconds=time.perf_counter() - t0, diagnosis=labels.astype(str),
                     end_cond=end_cond, flat=flat)
