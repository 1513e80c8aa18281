"""The plain functions behind the callbacks: cached calls into core, and what each view shows.

Nothing here knows about Dash components; every function takes and returns plain
values (dicts, numpy arrays, core dataclasses, figures), so the unit tests call them
directly. Controls ↔ Config ↔ URL is :mod:`dashboard.state`. The dashboard does no tensor maths:
every number comes from core; what is done here is bookkeeping for display (projections onto the
plane come from core's Plane, cutting paths at the window from the figure builders).

Caches are bounded (``functools.lru_cache``) and keyed by the JSON of the part of
the config that the result depends on, so changing one control recomputes only
what that control affects (ε re-uses the landscape; the grid re-uses the problem).
They hold no per-user state: two browser tabs with the same config share results.
Every computation is preceded by the cost model's check (:func:`dashboard.state.check_request`).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
from functools import lru_cache

import numpy as np

from core import Config, ConfigError, build_problem, from_preset, images
from core import cost as core_cost
from core import io as core_io
from core import landscape as core_landscape
from core.budget import budget_curves, suggested_step
from core.collapse import collapse_set
from core.config import CONV, ZERO_MEAN_LAWS
from core.critical import critical_points, near_negative_critical, ray_minimum
from core.descent import basins, descend, label_codes, radius_of, random_starts
from core.diagnosis import LABELS, budget_note
from core.landscape import landscape
from core.planes import plane_for
from core.theory import neighbourhood_circle, theory_neighbourhoods

from . import figures, ids, jobs
from .state import DASH_LIMITS, DEFAULT, check_request, judges_critical, parse_int

COMPARE_ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")
COMPARE_GRID = 101     # points per side of each of the four compare surfaces
COLLAPSE_GRID = 121    # points per side of the collapse-set grids
CRITICAL_GRID = 41     # candidate grid of the critical-point search (refined by Newton)
CRITICAL_MAX = 12      # candidates refined (and judged in the whole latent space) at most
MAX_FRAMES = 101       # frames of a descent path sent to the browser
MAX_PAIRS = 3          # other_fit end points kept for their images
METHOD_NAMES = {"lbfgs": "L-BFGS", "gauss_newton": "Gauss–Newton", "adam": "Adam", "gd": "GD"}

NEAR_SEARCH = (41, 300)   # grid and L-BFGS steps of the search for critical points near −ρ_d z* (~0.1 s on paper-fig4)
NEAR_SEARCH_SMALL = (11, 50)   # for a generator where that search would cost more than a descent may
NEEDS_DESCENT = ("endpoint", "pca")   # planes built from a descent (core.planes)
_PLANE_FIELDS = ("grid", "extent", "plane", "plane_seed")   # what a descent does not depend on

# Fields a Problem does not depend on: replaced by defaults in the problem's cache key.
_VIEW_FIELDS = ("grid", "extent", "plane", "plane_seed", "method", "lr", "damping", "negate", "steps", "starts",
                "start_seed", "tol", "ftol", "eps")


# ---------------------------------------------------------------------------
# cached calls into core
# ---------------------------------------------------------------------------
def _json_with_defaults(cfg: Config, fields: tuple) -> str:
    """``cfg.replace(**{f: DEFAULT's f for f in fields}).to_json()``, without building (and
    validating) that config: the defaults are canonical already. The keys below are asked for
    several times by every callback; a Config is a frozen value, so they are cached by it."""
    d = cfg.to_dict()
    defaults = DEFAULT.to_dict()
    d.update({f: defaults[f] for f in fields})
    return json.dumps(d, sort_keys=True)


@lru_cache(maxsize=256)
def problem_key(cfg: Config) -> str:
    """JSON of the fields a Problem depends on (the rest set to their defaults)."""
    return _json_with_defaults(cfg, _VIEW_FIELDS)


@lru_cache(maxsize=256)
def descent_source(cfg: Config) -> str:
    """JSON of what cfg's random-start descent depends on (the window and the plane set to defaults):
    the same descent behind every plane and window."""
    return _json_with_defaults(cfg, _PLANE_FIELDS)


def plane_source(cfg: Config) -> str:
    """The descent an endpoint / pca plane is built from (its :func:`descent_source`), else ""."""
    return descent_source(cfg) if cfg.plane in NEEDS_DESCENT else ""


def landscape_key(cfg: Config) -> str:
    return json.dumps([problem_key(cfg), cfg.grid, cfg.extent, cfg.plane, cfg.plane_seed, plane_source(cfg)])


@lru_cache(maxsize=8)
def _build(key: str, dtype: str | None):
    return build_problem(Config.from_json(key), dtype=dtype)


def _problem(key: str, dtype: str | None = None):
    """The problem of ``key``, built once: lru_cache keys ``f(k)`` and ``f(k, None)`` apart, so
    every caller goes through here with both arguments given."""
    return _build(key, dtype)


def problem_for(cfg: Config, dtype: str | None = None):
    return _problem(problem_key(cfg), dtype)


def n0_of(cfg: Config) -> int:
    """The latent size of cfg's generator (loads it, cached): the probe of :func:`dashboard.state.sync`."""
    return problem_for(cfg).n0


@lru_cache(maxsize=4)
def _random_descent(source: str):
    cfg = Config.from_json(source)
    p = _problem(problem_key(cfg))
    return descend(p, np.asarray(random_starts(p.n0, cfg.starts, cfg.start_seed)), **descent_settings(cfg))


def random_descent(cfg: Config):
    """core.descent.descend from cfg's ``starts`` seeded N(0, I) starts with cfg's solver, cached:
    what "Launch N random starts" runs and what an endpoint / pca plane is built from."""
    check_request(cfg, "descend")
    return _random_descent(descent_source(cfg))


@lru_cache(maxsize=12)
def _landscape(key: str, grid: int, extent: float, plane: str, plane_seed: int, source: str = ""):
    p = _problem(key)
    if p.cfg.plane != plane or p.cfg.plane_seed != plane_seed:
        import dataclasses

        p = dataclasses.replace(p, cfg=p.cfg.replace(plane=plane, plane_seed=plane_seed))
    named = plane_for(p, descent=_random_descent(source) if source else None)
    return landscape(p, grid=grid, extent=extent, plane=named)


def landscape_for(cfg: Config, grid: int | None = None):
    """core.landscape.landscape of ``cfg`` on its plane (core.planes.plane_for; an endpoint or pca
    plane from :func:`random_descent`) and window, cached, after the cost checks."""
    g = cfg.grid if grid is None else grid
    check_request(cfg, "landscape", grid=g)
    source = plane_source(cfg)
    if source:
        check_request(cfg, "descend")
    return _landscape(problem_key(cfg), g, cfg.extent, cfg.plane, cfg.plane_seed, source)


def J_at(cfg: Config, Z) -> np.ndarray:
    """J at each latent point of Z (K, n0) → (K,), through core.landscape.J_at."""
    return core_landscape.J_at(problem_for(cfg), np.asarray(Z, dtype=float).reshape(-1, n0_of(cfg)))


def window(cfg: Config, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The landscape's window sampled with n points per side: (u (n,), v (n,))."""
    L = landscape_for(cfg)
    return np.linspace(L.u[0], L.u[-1], n), np.linspace(L.v[0], L.v[-1], n)


def box_of(cfg: Config) -> tuple[float, float, float, float]:
    L = landscape_for(cfg)
    return float(L.u[0]), float(L.u[-1]), float(L.v[0]), float(L.v[-1])


def theorem_applies(cfg: Config) -> bool:
    """False for a random net whose weights are not zero-mean: Theorem 1's −ρ_d z* says nothing there
    (such weights collapse a region of codes to one output instead, Fig. 4 d)."""
    return cfg.generator != CONV or cfg.weights in ZERO_MEAN_LAWS


def theory_marks(cfg: Config, heights: bool = True) -> dict:
    """Theory overlays in plane coordinates, each with J there (for lifting onto the surface).

    ``heights=False`` skips evaluating J (NaN instead): a contour does not need it.

    Returns
    -------
    dict
        ``points``: {name: (u, v, J)} for z*, −ρ_d z* and the origin (NaN where the point is not
        in the plane); ``plane_points``: {name: (u, v, J)} for the points the plane was built
        through that ``points`` does not hold (−z*, a descent's end ẑ); ``circles``:
        {name: (cu, cv, cJ)} for B(z*, ε‖z*‖) and B(−ρ_d z*, ε‖z*‖); ``rho``: ρ_d;
        ``radius``: ε‖z*‖.
    """
    L = landscape_for(cfg)
    pl = L.plane
    n0 = L.z_star.size
    depth = cfg.depth if cfg.generator == CONV else 4
    th = theory_neighbourhoods(L.z_star, depth, cfg.eps)
    pts, names = [th["z_star"], th["neg_rho_z_star"], np.zeros(n0)], ["z*", "−ρ_d z*", "origin"]
    extra = {k: pl.lift(*uv) for k, uv in getattr(pl, "marks", {}).items() if k in ("-z*", "z_hat")}
    Js = J_at(cfg, np.stack(pts + list(extra.values()))) if heights else np.full(3 + len(extra), np.nan)
    points = {}
    for name, z, J in zip(names, pts, Js):
        u, v = pl.project(z)
        off = np.linalg.norm(pl.lift(u, v) - z) > 1e-6 * (1 + np.linalg.norm(z))   # a projection only
        points[name] = (np.nan, np.nan, np.nan) if off else (float(u), float(v), float(J))
    plane_points = {{"-z*": "−z*", "z_hat": "ẑ"}[k]: (*map(float, pl.marks[k]), float(J))
                    for k, J in zip(extra, Js[3:])}
    if not theorem_applies(cfg):
        points["−ρ_d z*"] = (np.nan, np.nan, np.nan)
    circles = {}
    for name, c in (("B(z*, ε‖z*‖)", th["z_star"]), ("B(−ρ_d z*, ε‖z*‖)", th["neg_rho_z_star"])):
        if name.startswith("B(−ρ") and not theorem_applies(cfg):
            circles[name] = (np.zeros(0), np.zeros(0), np.zeros(0))
            continue
        cu, cv = neighbourhood_circle(c, th["radius"], pl.origin, pl.d1, pl.d2, n=64)
        cJ = J_at(cfg, pl.lift(cu, cv)) if cu.size and heights else np.full(cu.size, np.nan)
        circles[name] = (cu, cv, cJ)
    return {"points": points, "plane_points": plane_points, "circles": circles, "rho": th["rho"],
            "radius": th["radius"]}


@lru_cache(maxsize=8)
def _critical(key: str, grid: int, extent: float, plane: str, plane_seed: int, source: str = ""):
    p64 = _problem(key, "float64")  # float64: Newton converges to ‖∇J‖ ~ 1e-9 in a few steps
    L = _landscape(key, grid, extent, plane, plane_seed, source)
    n = min(CRITICAL_GRID if p64.cfg.generator == CONV else 21, grid)
    u, v = np.linspace(L.u[0], L.u[-1], n), np.linspace(L.v[0], L.v[-1], n)
    # The kink search runs L-BFGS from grid minima: a fraction of a second on the random family, seconds
    # through a shipped DCGAN's autograd, so only where the critical points come first (critical_first).
    return critical_points(p64, L.plane, u, v, max_candidates=CRITICAL_MAX,
                           judge=judges_critical(p64.cfg, p64.n0, CRITICAL_MAX), kinks=critical_first(p64.cfg))


@lru_cache(maxsize=8)
def _near(key: str, tol: float, eps: float, grid: int, steps: int) -> dict:
    import dataclasses

    p64 = _problem(key, "float64")
    p64 = dataclasses.replace(p64, cfg=p64.cfg.replace(tol=tol, eps=eps))   # the diagnosis reads them
    rho_hat = ray_minimum(p64)     # once: the search takes it, and it is the answer where no search runs
    try:
        r = near_negative_critical(p64, grid=grid, steps=steps, rho_hat=rho_hat)
    except ValueError as e:   # no ρ_d and no ray minimum to centre the search on
        return {"rho_hat": rho_hat, "near": None, "why": str(e)}
    return {
        "rho_hat": r.rho_hat_ray, "t_center": r.t_center, "half_width": float(r.u[-1] - r.u[0]) / 2,
        "ray_grad": float(np.linalg.norm(r.grad_ray)), "ray_across": r.grad_across, "ray_label": r.ray_label,
        "near": [{"kind": q.kind, "t": q.t, "off_ray": q.off_ray, "J": q.J, "grad_norm": q.grad_norm,
                  "eigenvalues": None if q.eigenvalues is None else [float(x) for x in q.eigenvalues]}
                 for q in r.critical],
        "why": "",
    }


def near_for(cfg: Config) -> dict:
    """ρ̂_ray (core.critical.ray_minimum) and the true critical points of J near −ρ_d z*
    (core.critical.near_negative_critical), float64, cached; the search is made smaller where a
    descent of its size would pass the dashboard's bound."""
    try:
        check_request(cfg, "descend", starts=20, steps=NEAR_SEARCH[1])
        grid, steps = NEAR_SEARCH
    except ConfigError:
        grid, steps = NEAR_SEARCH_SMALL
    return _near(problem_key(cfg), cfg.tol, cfg.eps, grid, steps)


CRITICAL_FIRST_MACS = 1e6   # multiply-adds per G(z) up to which the surface waits for the critical points


def critical_first(cfg: Config) -> bool:
    """Whether the 3-D surface waits for the critical points and is drawn once with them: where one
    G(z) costs at most :data:`CRITICAL_FIRST_MACS` (the random family: paper-fig4 10,800, its critical
    points ~0.15 s with the search near −ρ_d z*); a shipped DCGAN (4.4e6 a G(z), 1–2 s of critical points)
    draws its surface first."""
    return core_cost.macs_per_point(cfg) <= CRITICAL_FIRST_MACS


def critical_for(cfg: Config) -> dict:
    """Critical points of J in the window (coarse grid, Newton-refined), the ray minimum ρ̂_ray
    and the critical points near −ρ_d z* (:func:`near_for`)."""
    L = landscape_for(cfg)
    pts = _critical(problem_key(cfg), cfg.grid, cfg.extent, cfg.plane, cfg.plane_seed, plane_source(cfg))
    near = near_for(cfg)
    depth = cfg.depth if cfg.generator == CONV else 4
    return {
        "key": landscape_key(cfg),
        "points": [{"kind": p.kind, "u": p.u, "v": p.v, "J": p.J, "label": p.label, "grad": p.full_grad_norm,
                    "kink": not p.smooth} for p in pts],
        "n0": n0_of(cfg),
        "rho_hat": near["rho_hat"],
        "near": near,
        "rho": theory_neighbourhoods(L.z_star, depth, cfg.eps)["rho"],
        "rho_applies": bool(np.isfinite(L.rho)),
        "depth": depth,
    }


def near_text(near: dict) -> str:
    """The true critical points of J near −ρ_d z*, or "none", in one clause."""
    if near.get("near") is None:
        return "critical points of J near −ρ_d z*: not searched (no ρ_d and no ray minimum to centre on)"
    where = f"within ±{near['half_width']:.2f} of −{near['t_center']:.3f} z* on the plane through 0 and z*"
    if not near["near"]:
        return f"critical points of J near −ρ_d z*: none ({where})"
    parts = []
    for q in near["near"]:
        hess = (f", Hessian: {q['kind']} (eigenvalues {', '.join(f'{x:.3g}' for x in q['eigenvalues'])})"
                if q["eigenvalues"] is not None else ", a kink (no Hessian)")
        parts.append(f"{q['kind']} at t = {q['t']:.3f}, {q['off_ray']:.2f}‖z*‖ off the ray, ‖∇J‖ = "
                     f"{q['grad_norm']:.2g}{hess}")
    return f"critical points of J near −ρ_d z* ({where}): " + "; ".join(parts)


def rho_text(crit: dict, depth: int) -> str:
    """ρ_d beside ρ̂_ray (the minimum of J along the −z* ray) and the true critical points near −ρ_d z*."""
    rh = crit["rho_hat"]
    near = crit.get("near") or {}
    if not np.isfinite(rh):
        emp = "none (J has no interior minimum along the −z* ray)"
    else:
        emp = f"{rh:.3f}"
        if np.isfinite(near.get("ray_grad", np.nan)):
            emp += f" (‖∇J‖ there = {near['ray_grad']:.3g}, {near['ray_across']:.3g} of it across the ray)"
    note = "" if crit["rho_applies"] else " (Theorem 1 assumes ReLU with zero-mean weights: not this net)"
    text = (f"ρ_{depth} (theory) = {crit['rho']:.4f}{note} · ρ̂_ray, the minimum of J along the −z* ray = {emp}")
    return text + " · " + near_text(near) if near else text


# core.diagnosis's label of a critical point of J on the plane → what it is in the whole latent space
IN_SPACE = {"recovered": "z*", "other_fit": "another code that fits y",
            "critical": "a critical point of J other than z*", "unconverged": "not a critical point of J",
            "diverged": "beyond the solver's radius"}
LISTED = 4   # points named one by one in the text; the rest are counted


def is_kink(point: dict) -> bool:
    """Whether a minimum lies at a kink of J (its gradient jumps there; core.critical's kink search)."""
    return point.get("kink") is True and point.get("kind") == "minimum"


def off_plane(point: dict) -> bool:
    """Whether a critical point of J on the plane is not one of J: the judge found J still falling."""
    return point.get("label") == "unconverged"


def in_space(point: dict) -> str:
    """What a critical point of J on the plane is in the whole latent space, in words ("not judged"
    for a point without a known label, e.g. one the browser sent back altered)."""
    label = point.get("label")
    what = ("not judged (in all coordinates it would pass the dashboard's work bound)" if label == "" else
            IN_SPACE.get(label, "not judged") if isinstance(label, str) else "not judged")
    g = point.get("grad")
    if off_plane(point) and isinstance(g, (int, float)) and math.isfinite(g):
        what += f" (‖∇J‖ = {g:.3g}: J falls off the plane)"
    return what


def _2(x: float) -> str:
    """x to two decimals, without a minus sign on zero."""
    return f"{round(float(x), 2) + 0.0:.2f}"


def critical_text(crit: dict) -> str:
    """The critical points in the window, counted by kind, and what each is in the whole latent space
    (core.critical's judge, core.diagnosis): for n0 > 2 they are critical points of J on the plane,
    which need not be critical points of J."""
    plural = {"minimum": "minima", "saddle": "saddles", "maximum": "maxima"}
    pts = crit["points"]
    whole = crit.get("n0") == 2
    head = "critical points in the window" if whole else "critical points of J on this plane"
    if not pts:
        return f"{head}: none found"
    counts = [(k, sum(p["kind"] == k for p in pts)) for k in ("minimum", "saddle", "maximum")]
    kinks = sum(is_kink(p) for p in pts)
    text = f"{head}: " + ", ".join(f"{n} {k if n == 1 else plural[k]}" + (f" ({kinks} at a kink of J)"
                                                                        if k == "minimum" and kinks else "")
                                  for k, n in counts if n)
    said = []
    for p in pts[:LISTED]:
        said.append(f"the {p['kind']}{' at a kink' if is_kink(p) else ''} at ({_2(p['u'])}, {_2(p['v'])}) "
                    f"is {in_space(p)}")
    rest = len(pts) - LISTED
    if rest > 0:
        off = sum(off_plane(p) for p in pts[LISTED:])
        said.append(f"{rest} more, {off} of them not critical points of J")
    where = "" if whole else f"in all {crit.get('n0')} coordinates, "
    return text + f" — {where}" + "; ".join(said)


# ---------------------------------------------------------------------------
# descent
# ---------------------------------------------------------------------------
def descent_settings(cfg: Config) -> dict:
    """Method, rate, steps and thresholds, passed explicitly: the cached Problem's own config
    carries defaults for them (see :func:`problem_key`)."""
    return dict(method=cfg.method, lr=cfg.lr, steps=cfg.steps, tol=cfg.tol, eps=cfg.eps, damping=cfg.damping,
                ftol=cfg.ftol, negate=cfg.negate)


def descent_key(cfg: Config) -> str:
    return cfg.to_json()


def _frames(T: int) -> np.ndarray:
    return np.unique(np.linspace(0, T, min(T + 1, MAX_FRAMES)).round().astype(int))


def _wire(a: np.ndarray, digits: int) -> list:
    """Rounded values for the browser (NaN → null): 4 decimals of a coordinate, 5 digits of J."""
    a = np.asarray(a, dtype=float)
    if digits < 0:   # significant digits
        with np.errstate(divide="ignore", invalid="ignore"):
            mag = np.where(np.isfinite(a) & (a != 0), np.floor(np.log10(np.abs(np.where(a == 0, 1, a)))), 0)
        r = np.where(np.isfinite(a), np.round(a * 10.0 ** (-digits - 1 - mag)) / 10.0 ** (-digits - 1 - mag), np.nan)
    else:
        r = np.round(a, digits)
    return [None if not np.isfinite(x) else float(x) for x in r.tolist()]


def run_descent(cfg: Config, kind: str, uv: tuple | None = None) -> dict:
    """Descend from a clicked point (``kind="click"``, plane coordinates ``uv``) or from
    ``cfg.starts`` random N(0, I) starts (``kind="random"``); returns the store's JSON dict.

    Paths are projected on the landscape's plane, subsampled to at most ``MAX_FRAMES`` frames
    and cut where they leave the window (:func:`figures.clip_to_window`); ``J`` is the exact J
    along them (Descent.J_path), not read off the grid. ``pairs`` keeps up to ``MAX_PAIRS``
    ``other_fit`` end points (their images are shown), ``warning`` says when starts diverged or
    left the window and which step would not have.
    """
    p = problem_for(cfg)
    L = landscape_for(cfg)
    if kind == "click":
        starts = L.plane.lift(float(uv[0]), float(uv[1]))[None]
    elif kind == "random":
        starts = np.asarray(random_starts(p.n0, cfg.starts, cfg.start_seed))
    else:
        raise ValueError(f"kind: must be click or random, got {kind!r}")
    check_request(cfg, "descend", starts=starts.shape[0])
    d = random_descent(cfg) if kind == "random" else descend(p, starts, **descent_settings(cfg))
    idx = _frames(d.paths.shape[0] - 1)
    pu, pv = L.plane.project(d.paths[idx])          # each (F, S)
    J = d.J_path[idx]
    box = box_of(cfg)
    cut = [figures.clip_to_window(pu[:, s], pv[:, s], J[:, s], box) for s in range(pu.shape[1])]
    labels = d.label.tolist()
    pairs = [{"index": i, "z": [float(x) for x in d.solve.z[i]], "J": float(d.solve.J[i]),
              "rel_error": float(d.diagnosis.rel_error[i])}
             for i in np.flatnonzero(d.label == "other_fit")[:MAX_PAIRS]]
    return {
        "key": descent_key(cfg),
        "kind": kind,
        "iters": idx.tolist(),
        "u": [_wire(c[0], 4) for c in cut],          # (S, F)
        "v": [_wire(c[1], 4) for c in cut],
        "J": [_wire(c[2], -5) for c in cut],
        "exit": [c[3] for c in cut],
        "outcome": labels,
        "counts": d.counts,
        "pairs": pairs,
        "warning": descent_warning(cfg, d, starts, [c[3] for c in cut]),
        "negated": int(d.solve.negated.sum()),
    }


def descent_warning(cfg: Config, d, starts, exits) -> str:
    """What went wrong with the steps: starts that diverged (and the step that would not have),
    starts the budget stopped while J still fell, and paths that left the window (they are cut
    there, marked ×)."""
    parts = []
    n_div = int(d.counts.get("diverged", 0))
    S = len(d.label)
    if n_div:
        p = problem_for(cfg)
        why = f"a non-finite J or ‖z‖ beyond {radius_of(p):.3g}"
        if cfg.method in ("gd", "adam"):
            step = suggested_step(p, starts)
            if cfg.method == "gd":
                hint = f"try lr ≤ {step:.2g} (1 / the largest curvature of JᵀJ at the starts)"
            else:
                hint = f"try lr ≤ {min(0.1, cfg.lr / 10):.2g} (Adam moves ~lr per coordinate and step)"
        elif cfg.method == "gauss_newton":
            hint = f"try damping ≥ {max(1.0, 10 * cfg.damping):g}"
        else:
            hint = "try Gauss–Newton, or fewer steps"
        parts.append(f"⚠ {n_div} of {S} starts diverged ({why}); {hint}.")
    note = budget_note({"unconverged": int(d.counts.get("unconverged", 0))}, 0)   # a drawn path is its budget
    if note:
        parts.append(f"{note}.")
    n_out = sum(bool(e) for e in exits)
    if n_out:
        parts.append(f"{n_out} path{'s' if n_out != 1 else ''} left the window: drawn up to its edge (×), "
                     "and again where {} back.".format("they come" if n_out != 1 else "it comes"))
    return " ".join(parts)


def counts_text(store: dict | None) -> str:
    if not store:
        return "Click on the contour to start a descent, or launch random starts."
    c = store["counts"]
    n = sum(c.values())
    what = "1 descent from the clicked point" if store["kind"] == "click" else f"{n} random starts"
    text = f"{what}: " + " · ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.items() if v or k == "recovered")
    if store.get("negated"):
        text += f" ({store['negated']} improved by the −ẑ restart)"
    return text


def check_descent_store(store) -> dict | None:
    """A descent store as sent back by the browser (None stays None); ConfigError names ``descent``."""
    if store is None:
        return None
    if not isinstance(store, dict):
        raise ConfigError("descent", f"expected a mapping, got {type(store).__name__}")
    for k, t in (("key", str), ("kind", str), ("iters", list), ("u", list), ("v", list), ("J", list),
                 ("outcome", list), ("counts", dict)):
        if not isinstance(store.get(k), t):
            raise ConfigError("descent", f"{k} must be {t.__name__}")
    S, F = len(store["u"]), len(store["iters"])
    if not 1 <= S <= DASH_LIMITS["starts"][1] or not 1 <= F <= MAX_FRAMES:
        raise ConfigError("descent", f"at most {DASH_LIMITS['starts'][1]} paths of {MAX_FRAMES} frames")
    if len(store["v"]) != S or len(store["J"]) != S or len(store["outcome"]) != S:
        raise ConfigError("descent", "u, v, J and outcome must have one entry per path")
    if any(o not in LABELS for o in store["outcome"]):
        raise ConfigError("descent", f"each outcome must be one of {', '.join(LABELS)}")
    for a in store["u"] + store["v"] + store["J"]:
        if not isinstance(a, list) or len(a) != F or any(x is not None and not isinstance(x, (int, float)) for x in a):
            raise ConfigError("descent", f"every path must be a list of {F} numbers")
    ex = store.get("exit") or [[]] * S
    if not isinstance(ex, list) or len(ex) != S or any(
            not isinstance(e, list) or any(not isinstance(f, int) or isinstance(f, bool) or not 0 < f < F for f in e)
            for e in ex):
        raise ConfigError("descent", "exit must hold one list of frame indices per path")
    return store


def pair_view(cfg: Config, store: dict | None) -> tuple:
    """(figure or None, text): G(z*) and G(ẑ) of the first ``other_fit`` end point of the descent."""
    if not store or store.get("key") != descent_key(cfg) or not store.get("pairs"):
        return None, ""
    pair = store["pairs"][0]
    p = problem_for(cfg)
    z = np.asarray(pair["z"], dtype=float)
    if z.shape != (p.n0,) or not np.all(np.isfinite(z)):
        raise ConfigError("descent", f"an other_fit end point needs {p.n0} finite entries")
    imgs = images(p, z)
    n = store["counts"].get("other_fit", len(store["pairs"]))
    zt = ", ".join(f"{t:.3f}" for t in z[:6]) + (", …" if z.size > 6 else "")
    text = (f"other fit (start #{pair['index'] + 1}, 1 of {n}): ẑ = ({zt}) has J(ẑ) = {pair['J']:.3g}, at the noise "
            f"floor, but ‖ẑ − z*‖/‖z*‖ = {pair['rel_error']:.3g}: a second code that explains the same measurements, "
            "so G is not injective on the observed pixels.")
    fig = figures.pair_figure(imgs["x_star"], imgs["x"], imgs["mask"], title="G(z*) and G(ẑ): the same observed pixels")
    return fig, text


@lru_cache(maxsize=8)
def _budget(key: str) -> dict:
    cfg = Config.from_json(key)
    p = problem_for(cfg)
    return budget_curves(p, random_starts(p.n0, cfg.starts, cfg.start_seed), steps=cfg.steps, tol=cfg.tol,
                         lr=cfg.lr, damping=cfg.damping)


def budget_for(cfg: Config) -> dict:
    """core.budget.budget_curves for cfg's random starts and budget, every solver, cached."""
    check_request(cfg, "budget", starts=4 * cfg.starts)
    return _budget(descent_key(cfg))


def budget_view(cfg: Config) -> tuple:
    """(figure, text) of the budget curves."""
    d = budget_for(cfg)
    parts = []
    for k, m in enumerate(d["methods"]):
        s = d["seconds"][k, -1]
        parts.append(f"{METHOD_NAMES.get(str(m), m)} {100 * d['final'][k]:.0f}% in {d['iterations_used'][k]} "
                     f"iterations, {s:.2g} s")
    text = (f"{cfg.starts} random starts, budget {cfg.steps} iterations, recovered = ‖z_t − z*‖ ≤ {cfg.tol:g}‖z*‖: "
            + " · ".join(parts) + ". A curve still rising at the end is a budget limit, not the landscape's.")
    return figures.budget_figure(d, title="fraction of starts recovered by each solver"), text


# ---------------------------------------------------------------------------
# basins (a job of dashboard.jobs: a few rows per step)
# ---------------------------------------------------------------------------
def basin_new(cfg: Config, n: int, cancel_clicks: int = 0) -> dict:
    """A new basin-map job of n × n starts; ``cancel_clicks`` is the Cancel button's count at the start."""
    lo, hi = DASH_LIMITS["basin_grid"]
    if not lo <= n <= hi:
        raise ConfigError("basin_grid", f"must be in [{lo}, {hi}], got {n}")
    check_request(cfg, "basins", grid=n)
    return jobs.new("basins", descent_key(cfg), n, {"n": n, "rows": []}, cancel_clicks)


def _check_basins(job: dict) -> Config:
    from .state import config_from_json

    cfg = config_from_json(job["key"])
    data = job["data"]
    n, rows = data.get("n"), data.get("rows")
    lo, hi = DASH_LIMITS["basin_grid"]
    if not isinstance(n, int) or isinstance(n, bool) or not lo <= n <= hi or n != job["total"]:
        raise ConfigError("basin_grid", f"must be in [{lo}, {hi}], got {n!r}")
    if not isinstance(rows, list) or len(rows) != job["done"] or any(
            not isinstance(r, list) or len(r) != n or any(not isinstance(c, int) or not 0 <= c < len(LABELS) for c in r)
            for r in rows):
        raise ConfigError("basins", f"rows must be {job['done']} lists of {n} label codes")
    return cfg


def basin_step(job: dict, k: int) -> tuple[dict, int]:
    """The next k rows of the basin map with core.descent.basins → (the job's new data, k)."""
    cfg = _check_basins(job)
    n, rows = job["data"]["n"], job["data"]["rows"]
    done = len(rows)
    u, v = window(cfg, n)
    b = basins(problem_for(cfg), landscape_for(cfg).plane, u, v[done:done + k], **descent_settings(cfg))
    return {"n": n, "rows": rows + label_codes(b.label).astype(int).tolist()}, b.label.shape[0]


def basin_drive(trigger: str | None, store: dict | None, cfg: Config, n_text, cancel_clicks: int = 0,
                inflight: jobs.InFlight | None = None) -> tuple:
    """Start, cancel or advance the basin map → (store, still running, next tick in ms, message)."""
    store, running, msg = jobs.drive(
        trigger, store, start=ids.BASIN_START, cancel=ids.BASIN_CANCEL, kind="basins",
        make=lambda: basin_new(cfg, parse_int("basin_grid", n_text), cancel_clicks), step=basin_step,
        cancel_clicks=cancel_clicks, key=descent_key(cfg), check=_check_basins, inflight=inflight)
    return store, running, jobs.TICK_MS, msg


def basin_summary(store: dict | None) -> tuple[float, str]:
    """(progress in %, text)."""
    if not store:
        return 0.0, "Press Start to map where the descent from every grid point ends."
    n, rows = store["data"]["n"], store["data"]["rows"]
    pct = 100.0 * len(rows) / n
    if not rows:
        return pct, f"{n}×{n} starts: computing…"
    a = np.asarray(rows)
    rate = float((a == 0).mean())
    state = {"running": "computing…", "done": "done", "cancelled": "cancelled", "failed": "failed"}[store["status"]]
    others = " · ".join(f"{name.replace('_', ' ')} {int((a == k).sum())}" for k, name in enumerate(figures.OUTCOME_NAMES)
                        if k and (a == k).any())
    # Starts still converging after the extra budgets: the budget, not the landscape, stopped them.
    note = budget_note({"unconverged": int((a == LABELS.index("unconverged")).sum())})
    return pct, (f"{len(rows)} of {n} rows ({a.size} starts) · success rate {100 * rate:.1f}%"
                 + (f" · {others}" if others else "") + f" · {state}" + (f". {note}" if note else ""))


def basin_view(store: dict | None) -> tuple:
    """(basin figure, progress 0–100, text)."""
    pct, text = basin_summary(store)
    if not store:
        return figures.message_figure("Press Start to compute the basin map."), 0, text
    cfg = _check_basins(store)
    u, v = window(cfg, store["data"]["n"])
    th = _theory(problem_key(cfg), cfg.grid, cfg.extent, cfg.plane, cfg.plane_seed, cfg.eps, False,
                 plane_source(cfg))["points"]
    marks = {k: th[k][:2] for k in ("z*", "−ρ_d z*")}
    title = f"Where the descent ({METHOD_NAMES[cfg.method]}, {cfg.steps} steps) from each start ends"
    return (figures.basin_figure(u, v, store["data"]["rows"], marks, figures.axis_labels(n0_of(cfg), cfg.plane), title),
            round(pct), text)


# ---------------------------------------------------------------------------
# compare, collapse, images
# ---------------------------------------------------------------------------
def compare_landscapes(cfg: Config) -> dict:
    """{activation: Landscape} on the same weights, mask and z* (only ``activation`` changes)."""
    g = min(cfg.grid, COMPARE_GRID)
    return {a: landscape_for(cfg.replace(activation=a), grid=g) for a in COMPARE_ACTIVATIONS}


@lru_cache(maxsize=4)
def _collapse(key: str, grid: int, extent: float):
    p = _problem(key)
    L = _landscape(key, grid, extent, p.cfg.plane, p.cfg.plane_seed)
    c = collapse_set(p, L.plane, L.u, L.v)
    imgs = None
    if c.witness is not None:
        imgs = (images(p, c.witness[0])["x"], images(p, c.witness[1])["x"])
    return L, c, imgs


def collapse_pair(cfg: Config, source: str = "preset") -> dict:
    """The collapse set of a non-zero-mean net and of the same net with gaussian weights.

    ``source="preset"`` uses the mode-collapse preset (Fig. 4 d); ``"current"`` the current config.
    """
    if source not in ("preset", "current"):
        raise ConfigError("collapse_source", f"must be preset or current, got {source!r}")
    left = from_preset("mode-collapse") if source == "preset" else cfg
    if left.generator != CONV:
        raise ConfigError("collapse_source", "the comparison with gaussian weights needs the random family (conv)")
    g = min(left.grid, COLLAPSE_GRID)
    out = {}
    for name, c in (("left", left), ("gaussian", left.replace(weights="gaussian"))):
        check_request(c, "landscape", grid=g)
        L, col, imgs = _collapse(problem_key(c), g, c.extent)
        out[name] = {"cfg": c, "landscape": L, "collapse": col, "witness_images": imgs}
    return out


def images_at(cfg: Config, uv) -> dict:
    """core.problem.images at the latent point of plane coordinates ``uv``, plus that point."""
    L = landscape_for(cfg)
    z = L.plane.lift(float(uv[0]), float(uv[1]))
    out = images(problem_for(cfg), z)
    out["z"] = z
    return out


def uv_from_click(data: dict | None) -> tuple[float, float] | None:
    """Plotly clickData / hoverData → (u, v), or None (also for anything malformed or non-finite)."""
    try:
        p = data["points"][0]
        u, v = float(p["x"]), float(p["y"])
    except (TypeError, KeyError, IndexError, ValueError):
        return None
    return (u, v) if np.isfinite(u) and np.isfinite(v) and abs(u) < 1e6 and abs(v) < 1e6 else None


def click_z_star(cfg: Config, uv) -> tuple[str, str]:
    """(z* text rounded to 4 decimals, "") for a clicked plane point, or ("", message)."""
    z = np.round(landscape_for(cfg).plane.lift(float(uv[0]), float(uv[1])), 4)
    if np.linalg.norm(z) < 1e-6:
        return "", "z_star: must be nonzero with ‖z*‖ ≥ 1e-6 (the click hit the origin)"
    return ",".join(repr(float(x)) for x in z), ""


# ---------------------------------------------------------------------------
# downloads
# ---------------------------------------------------------------------------
def landscape_npz(cfg: Config) -> bytes:
    """The CLI's landscape file (core.io.landscape_arrays: mask or A, W1…Wd, plane, J, config)."""
    import dataclasses

    # The cached problem carries default view fields; the file carries the config as shown.
    p = dataclasses.replace(problem_for(cfg), cfg=cfg)
    return core_io.to_npz_bytes(core_io.landscape_arrays(p, landscape_for(cfg)))


def landscape_csv(cfg: Config) -> str:
    """One row per grid point: u, v, the latent point z_1 … z_n0, J."""
    L = landscape_for(cfg)
    n0 = L.z_star.size
    uu, vv = np.meshgrid(L.u, L.v)
    Z = L.plane.lift(uu, vv).reshape(-1, n0)
    table = np.column_stack([uu.ravel(), vv.ravel(), Z, L.J.ravel()])
    header = ",".join(["u", "v"] + [f"z{i + 1}" for i in range(n0)] + ["J"])
    buf = io.StringIO()
    np.savetxt(buf, table, delimiter=",", header=header, comments="", fmt="%.9g")
    return buf.getvalue()


def config_json(cfg: Config) -> str:
    return json.dumps(cfg.to_dict(), indent=2, sort_keys=True)


def mask_of(cfg: Config):
    """The mask of A (C, *spatial) bool, or None for a dense Gaussian A (it does not depend on z)."""
    p = problem_for(cfg)
    return None if p.op.mask is None else p.op.mask.cpu().numpy()


def figure_html(figs: list, title: str) -> str:
    """One self-contained HTML page holding the figures, plotly.js embedded (opens offline)."""
    parts = [f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figs)]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
            + "".join(parts) + "</body></html>")


# ---------------------------------------------------------------------------
# landscape figures (views 1, 2 and 6)
# ---------------------------------------------------------------------------
def figure_key(cfg: Config, scale: str) -> str:
    """What a landscape figure's big trace shows: changes only with the landscape or the scale."""
    return json.dumps([landscape_key(cfg), scale])


def config_tag(cfg: Config) -> str:
    """A short tag of the whole config."""
    return hashlib.sha1(cfg.to_json().encode()).hexdigest()[:12]


def figure_meta(cfg: Config, scale: str) -> dict:
    """layout.meta of the landscape figures: what they show (tests and the benchmark wait on it)."""
    return {"config": config_tag(cfg), "scale": scale}


@lru_cache(maxsize=16)
def _theory(pkey: str, grid: int, extent: float, plane: str, plane_seed: int, eps: float, heights: bool,
            source: str = "") -> dict:
    base = Config.from_json(source or pkey)   # an endpoint / pca plane also depends on the descent's settings
    cfg = base.replace(grid=grid, extent=extent, eps=eps, plane=plane, plane_seed=plane_seed)
    return theory_marks(cfg, heights)


def marks_for(cfg: Config, crit: dict | None = None, desc: dict | None = None, frame: int | None = None,
              critical: bool = True, heights: bool = True) -> figures.Marks:
    """Overlays for cfg's landscape: theory always; critical points and paths only when they
    were computed for this very config (stale stores are ignored). ``heights``: evaluate J at
    the theory marks (only a surface needs it)."""
    th = _theory(problem_key(cfg), cfg.grid, cfg.extent, cfg.plane, cfg.plane_seed, cfg.eps, heights,
                 plane_source(cfg))
    pts = []
    if critical and isinstance(crit, dict) and crit.get("key") == landscape_key(cfg):
        pts = [{**p, "said": in_space(p), "off_plane": off_plane(p), "kink": is_kink(p)} for p in crit.get("points", [])
               if isinstance(p, dict) and p.get("kind") in ("minimum", "saddle", "maximum")]
    paths = []
    if isinstance(desc, dict) and desc.get("key") == descent_key(cfg):
        desc = check_descent_store(desc)
        ex = desc.get("exit") or [[]] * len(desc["u"])
        paths = [(np.asarray(u, dtype=float), np.asarray(v, dtype=float), np.asarray(J, dtype=float), o, e)
                 for u, v, J, o, e in zip(desc["u"], desc["v"], desc["J"], desc["outcome"], ex)]
    if frame is not None and (not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < MAX_FRAMES):
        frame = None
    return figures.Marks(points=th["points"], circles=th["circles"], critical=pts, paths=paths, frame=frame,
                         plane_points=th["plane_points"])


def landscape_title(cfg: Config) -> str:
    if cfg.generator == CONV:
        g = f"{cfg.activation} · {cfg.weights} W"
    else:
        g = f"G = {cfg.generator}"
    noise = "" if cfg.noise in ("", "none") else f" · noise {cfg.noise}"
    return f"J(z) · {g} · {cfg.mask} mask r = {cfg.rate:g}{noise} · {cfg.grid}²"


def landscape_figure(cfg: Config, scale: str, marks: figures.Marks, three_d: bool, as_dict: bool = False):
    """cfg's landscape as a surface (``three_d``) or a contour, with ``marks`` (``as_dict``: the plain
    figure dict the callbacks send, see figures.fast_figure)."""
    L = landscape_for(cfg)
    floor = figures.log_floor(L.J)
    labels = figures.axis_labels(L.z_star.size, cfg.plane)
    meta = figure_meta(cfg, scale)
    if three_d:
        return figures.surface_figure(L.u, L.v, L.J, scale, floor, labels, marks, title="surface", meta=meta,
                                      as_dict=as_dict)
    return figures.contour_figure(L.u, L.v, L.J, scale, floor, labels, marks, title=landscape_title(cfg), meta=meta,
                                  as_dict=as_dict)


def overlay_traces(cfg: Config, scale: str, marks: figures.Marks, three_d: bool) -> list:
    """The overlay traces of :func:`landscape_figure`, alone (for a Patch)."""
    J = landscape_for(cfg).J
    floor = figures.log_floor(J)
    c = figures.colour_values(J, scale, floor)
    lo, hi = figures.colour_range(c, scale)
    if not three_d:
        return figures.overlay_traces(marks, scale, floor, False)
    return figures.overlay_traces(marks, scale, floor, True, z_min=lo if scale == "log" else None, z_max=hi)


# ---------------------------------------------------------------------------
# views 3–6: what their callbacks return
# ---------------------------------------------------------------------------
def z_star_uv(cfg: Config) -> tuple[float, float]:
    L = landscape_for(cfg)
    u, v = L.plane.project(L.z_star)
    return float(u), float(v)


def compare_view(cfg: Config, scale: str):
    if cfg.generator != CONV:
        return figures.message_figure("Compare σ swaps the activation of the random family; "
                                      f"the generator {cfg.generator!r} has its own.")
    Ls = compare_landscapes(cfg)
    return figures.compare_figure({a: (L.u, L.v, L.J) for a, L in Ls.items()}, scale, figures.axis_labels(cfg.n0),
                                  z_star_uv=z_star_uv(cfg), meta={"config": config_tag(cfg)})


def collapse_view(cfg: Config, source: str, scale: str) -> tuple:
    """(collapse figure, witness figure, text) for the collapse tab."""
    pair = collapse_pair(cfg, source)
    panels, fractions = [], {}
    for d in pair.values():
        L, col, c = d["landscape"], d["collapse"], d["cfg"]
        wit = None if col.witness is None else tuple(tuple(map(float, L.plane.project(w))) for w in col.witness)
        fractions[c.weights] = col.area_fraction
        panels.append(dict(title=f"{c.weights} weights: collapse set = {100 * col.area_fraction:.2f}% of the window",
                           u=L.u, v=L.v, J=L.J, in_set=col.in_set, witness=wit,
                           z_star_uv=tuple(map(float, L.plane.project(L.z_star)))))
    left = pair["left"]
    fig = figures.collapse_figure(panels, scale, figures.axis_labels(left["cfg"].n0))
    col = left["collapse"]
    if left["witness_images"] is not None:
        witness = figures.witness_figure(*left["witness_images"], col.witness_gap, *col.witness)
    else:
        witness = figures.message_figure("No witness pair: the collapse set has fewer than two grid points.")
    g = pair["gaussian"]["collapse"]
    text = (f"Collapse set {{z : ‖G(z) − G(z*)‖ ≤ {col.tol:g}·‖G(z*)‖}} on a {col.u.size}² grid: "
            f"{100 * col.area_fraction:.2f}% of the window with {left['cfg'].weights} weights, "
            f"{100 * g.area_fraction:.2f}% ({int(g.in_set.sum())} grid point{'s' if g.in_set.sum() != 1 else ''}) "
            f"with gaussian weights.")
    if col.witness is not None:
        text += f" Witness: two codes {np.linalg.norm(col.witness[0] - col.witness[1]):.2f} apart, same image."
        x1 = left["witness_images"][0]
        if not np.any(x1):
            text += (" Here that image is 0: with weights ≥ 0 and ReLU, every code with W₁z ≤ 0"
                     " (e.g. all entries ≤ 0) gives G(z) = 0.")
    return fig, witness, text


def images_view(cfg: Config, uv) -> tuple:
    """(images figure, text) at plane point uv (z* when None)."""
    if uv is None:
        uv = z_star_uv(cfg)
    imgs = images_at(cfg, uv)
    z = ", ".join(f"{t:.3f}" for t in imgs["z"][:8]) + (", …" if imgs["z"].size > 8 else "")
    C = np.shape(imgs["x"])[0]
    note = f" (channel 1 of {C})" if C > 1 else ""
    return figures.images_figure(imgs), f"z = ({z}) · J(z) = {imgs['J']:.4g}{note}"
