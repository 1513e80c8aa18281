"""The plain functions behind the callbacks: cached calls into core, and what each view shows.

Nothing here knows about Dash components; every function takes and returns plain
values (dicts, numpy arrays, core dataclasses, figures), so the unit tests call them
directly. Controls ↔ Config ↔ URL is :mod:`dashboard.state`. The dashboard does no tensor maths: every number comes from core.

Caches are bounded (``functools.lru_cache``) and keyed by the JSON of the part of
the config that the result depends on, so changing one control recomputes only
what that control affects (ε re-uses the landscape; the grid re-uses the problem).
They hold no per-user state: two browser tabs with the same config share results.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from functools import lru_cache

import numpy as np

from core import Config, ConfigError, build_problem, from_preset, images
from core.collapse import collapse_set
from core.critical import critical_points, negative_ray_critical
from core.descent import basins, descend, random_starts
from core import landscape as core_landscape
from core.landscape import landscape
from core.theory import neighbourhood_circle, theory_neighbourhoods

from . import figures, ids
from .state import DASH_LIMITS, DEFAULT, parse_int

COMPARE_ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")
COMPARE_GRID = 101     # points per side of each of the four compare surfaces
COLLAPSE_GRID = 121    # points per side of the collapse-set grids
CRITICAL_GRID = 41     # candidate grid of the critical-point search (refined by Newton)
MAX_FRAMES = 101       # frames of a descent path sent to the browser

# Fields a Problem does not depend on: replaced by defaults in the problem's cache key.
_VIEW_FIELDS = ("grid", "extent", "method", "lr", "steps", "starts", "start_seed", "tol", "eps")


# ---------------------------------------------------------------------------
# cached calls into core
# ---------------------------------------------------------------------------
def problem_key(cfg: Config) -> str:
    """JSON of the fields a Problem depends on (the rest set to their defaults)."""
    return cfg.replace(**{f: getattr(DEFAULT, f) for f in _VIEW_FIELDS}).to_json()


def landscape_key(cfg: Config) -> str:
    return json.dumps([problem_key(cfg), cfg.grid, cfg.extent])


@lru_cache(maxsize=8)
def _problem(key: str, dtype: str | None = None):
    return build_problem(Config.from_json(key), dtype=dtype)


def problem_for(cfg: Config, dtype: str | None = None):
    return _problem(problem_key(cfg), dtype)


@lru_cache(maxsize=12)
def _landscape(key: str, grid: int, extent: float):
    return landscape(_problem(key), grid=grid, extent=extent)


def landscape_for(cfg: Config, grid: int | None = None):
    """core.landscape.landscape of ``cfg`` (default plane and window), cached."""
    return _landscape(problem_key(cfg), cfg.grid if grid is None else grid, cfg.extent)


def J_at(cfg: Config, Z) -> np.ndarray:
    """J at each latent point of Z (K, n0) → (K,), through core.landscape.J_at."""
    return core_landscape.J_at(problem_for(cfg), np.asarray(Z, dtype=float).reshape(-1, cfg.n0))


def window(cfg: Config, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The landscape's window sampled with n points per side: (u (n,), v (n,))."""
    L = landscape_for(cfg)
    return np.linspace(L.u[0], L.u[-1], n), np.linspace(L.v[0], L.v[-1], n)


def theory_marks(cfg: Config, heights: bool = True) -> dict:
    """Theory overlays in plane coordinates, each with J there (for lifting onto the surface).

    ``heights=False`` skips evaluating J (NaN instead): a contour does not need it.

    Returns
    -------
    dict
        ``points``: {name: (u, v, J)} for z*, −ρ_d z* and the origin; ``circles``:
        {name: (cu, cv, cJ)} for B(z*, ε‖z*‖) and B(−ρ_d z*, ε‖z*‖); ``rho``: ρ_d;
        ``radius``: ε‖z*‖.
    """
    L = landscape_for(cfg)
    pl = L.plane
    th = theory_neighbourhoods(L.z_star, cfg.depth, cfg.eps)
    pts, names = [th["z_star"], th["neg_rho_z_star"], np.zeros(cfg.n0)], ["z*", "−ρ_d z*", "origin"]
    Js = J_at(cfg, np.stack(pts)) if heights else np.full(3, np.nan)
    points = {}
    for name, z, J in zip(names, pts, Js):
        u, v = pl.project(z)
        points[name] = (float(u), float(v), float(J))
    circles = {}
    for name, c in (("B(z*, ε‖z*‖)", th["z_star"]), ("B(−ρ_d z*, ε‖z*‖)", th["neg_rho_z_star"])):
        cu, cv = neighbourhood_circle(c, th["radius"], pl.origin, pl.d1, pl.d2, n=64)
        cJ = J_at(cfg, pl.lift(cu, cv)) if cu.size and heights else np.full(cu.size, np.nan)
        circles[name] = (cu, cv, cJ)
    return {"points": points, "circles": circles, "rho": th["rho"], "radius": th["radius"]}


@lru_cache(maxsize=8)
def _critical(key: str, grid: int, extent: float):
    p64 = _problem(key, "float64")  # float64: Newton converges to ‖∇J‖ ~ 1e-9 in a few steps
    L = _landscape(key, grid, extent)
    n = min(CRITICAL_GRID, grid)
    u, v = np.linspace(L.u[0], L.u[-1], n), np.linspace(L.v[0], L.v[-1], n)
    pts = critical_points(p64, L.plane, u, v, max_candidates=12)
    return pts, negative_ray_critical(p64)


def critical_for(cfg: Config) -> dict:
    """Critical points of J in the window (coarse grid, Newton-refined) and the empirical ρ̂."""
    pts, rho_hat = _critical(problem_key(cfg), cfg.grid, cfg.extent)
    L = landscape_for(cfg)
    return {
        "key": landscape_key(cfg),
        "points": [{"kind": p.kind, "u": p.u, "v": p.v, "J": p.J} for p in pts],
        "rho_hat": rho_hat,
        "rho": theory_neighbourhoods(L.z_star, cfg.depth, cfg.eps)["rho"],
        "rho_applies": bool(np.isfinite(L.rho)),
    }


def rho_text(crit: dict, depth: int) -> str:
    rh = crit["rho_hat"]
    emp = "none (no local minimum of J on the −z* ray)" if not np.isfinite(rh) else f"{rh:.3f}"
    note = "" if crit["rho_applies"] else " (Theorem 1 assumes ReLU with zero-mean weights: not this net)"
    return f"ρ_{depth} (theory) = {crit['rho']:.4f} · ρ̂ (empirical, −z* ray) = {emp}{note}"


def critical_text(crit: dict) -> str:
    if not crit["points"]:
        return "critical points in the window: none found"
    plural = {"minimum": "minima", "saddle": "saddles", "maximum": "maxima"}
    parts = []
    for k in ("minimum", "saddle", "maximum"):
        n = sum(p["kind"] == k for p in crit["points"])
        if n:
            parts.append(f"{n} {k if n == 1 else plural[k]}")
    return "critical points in the window: " + ", ".join(parts)


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


def run_descent(cfg: Config, kind: str, uv: tuple | None = None) -> dict:
    """Descend from a clicked point (``kind="click"``, plane coordinates ``uv``) or from
    ``cfg.starts`` random N(0, I) starts (``kind="random"``); returns the store's JSON dict.

    Paths are projected on the landscape's plane and subsampled to at most ``MAX_FRAMES``
    frames; ``J`` is the exact J along them (Descent.J_path), not read off the grid.
    """
    p = problem_for(cfg)
    L = landscape_for(cfg)
    if kind == "click":
        starts = L.plane.lift(float(uv[0]), float(uv[1]))[None]
    elif kind == "random":
        starts = np.asarray(random_starts(cfg.n0, cfg.starts, cfg.start_seed))
    else:
        raise ValueError(f"kind: must be click or random, got {kind!r}")
    d = descend(p, starts, **descent_settings(cfg))
    idx = _frames(d.paths.shape[0] - 1)
    pu, pv = L.plane.project(d.paths[idx])          # each (F, S)
    return {
        "key": descent_key(cfg),
        "kind": kind,
        "iters": idx.tolist(),
        "u": pu.T.tolist(),                          # (S, F)
        "v": pv.T.tolist(),
        "J": d.J_path[idx].T.tolist(),
        "outcome": d.label.tolist(),
        "counts": d.counts,
    }


def counts_text(store: dict | None) -> str:
    if not store:
        return "Click on the contour to start a descent, or launch random starts."
    c = store["counts"]
    n = sum(c.values())
    what = "1 descent from the clicked point" if store["kind"] == "click" else f"{n} random starts"
    return f"{what}: " + " · ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.items() if v or k == "recovered")


# ---------------------------------------------------------------------------
# basins (computed a few rows per tick)
# ---------------------------------------------------------------------------
def basin_new(cfg: Config, n: int, cancel_clicks: int = 0) -> dict:
    """A new basin map of n × n starts; ``cancel_clicks`` is the Cancel button's count at the start."""
    lo, hi = DASH_LIMITS["basin_grid"]
    if not lo <= n <= hi:
        raise ConfigError("basin_grid", f"must be in [{lo}, {hi}], got {n}")
    return {"key": descent_key(cfg), "n": n, "rows": [], "status": "running", "sec_per_row": None,
            "cancel_clicks": cancel_clicks}


def basin_step(store: dict, cfg: Config, budget_s: float = 0.5) -> dict:
    """Compute the next rows of the basin map (as many as fit in ``budget_s``) with core.descent.basins."""
    n = store["n"]
    done = len(store["rows"])
    if store["status"] != "running" or done >= n:
        return store
    spr = store["sec_per_row"]
    k = 1 if not spr else int(max(1, min(n - done, budget_s // spr)))
    u, v = window(cfg, n)
    t0 = time.perf_counter()
    b = basins(problem_for(cfg), landscape_for(cfg).plane, u, v[done:done + k], **descent_settings(cfg))
    dt = time.perf_counter() - t0
    rows = store["rows"] + b.code.astype(int).tolist()
    return {**store, "rows": rows, "sec_per_row": dt / k, "status": "done" if len(rows) >= n else "running"}


def basin_summary(store: dict | None) -> tuple[float, str]:
    """(progress in %, text)."""
    if not store:
        return 0.0, "Press Start to map where the descent from every grid point ends."
    n, rows = store["n"], store["rows"]
    pct = 100.0 * len(rows) / n
    if not rows:
        return pct, f"{n}×{n} starts: computing…"
    a = np.asarray(rows)
    rate = float((a == 0).mean())
    state = {"running": "computing…", "done": "done", "cancelled": "cancelled"}[store["status"]]
    others = " · ".join(f"{name.replace('_', ' ')} {int((a == k).sum())}" for k, name in enumerate(figures.OUTCOME_NAMES)
                        if k and (a == k).any())
    return pct, (f"{len(rows)} of {n} rows ({a.size} starts) · success rate {100 * rate:.1f}%"
                 + (f" · {others}" if others else "") + f" · {state}")


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
    L = _landscape(key, grid, extent)
    c = collapse_set(p, L.plane, L.u, L.v)
    imgs = None
    if c.witness is not None:
        imgs = (images(p, c.witness[0])["x"], images(p, c.witness[1])["x"])
    return L, c, imgs


def collapse_pair(cfg: Config, source: str = "preset") -> dict:
    """The collapse set of a non-zero-mean net and of the same net with gaussian weights.

    ``source="preset"`` uses the mode-collapse preset (Fig. 4 d); ``"current"`` the current config.
    """
    left = from_preset("mode-collapse") if source == "preset" else cfg
    g = min(left.grid, COLLAPSE_GRID)
    out = {}
    for name, c in (("left", left), ("gaussian", left.replace(weights="gaussian"))):
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
    """Plotly clickData / hoverData → (u, v), or None."""
    try:
        p = data["points"][0]
        return float(p["x"]), float(p["y"])
    except (TypeError, KeyError, IndexError, ValueError):
        return None


def click_z_star(cfg: Config, uv) -> tuple[str, str]:
    """(z* text rounded to 4 decimals, "") for a clicked plane point, or ("", message)."""
    z = np.round(landscape_for(cfg).plane.lift(float(uv[0]), float(uv[1])), 4)
    if not np.any(z):
        return "", "z_star: must be nonzero (the click hit the origin)"
    return ",".join(repr(float(x)) for x in z), ""


# ---------------------------------------------------------------------------
# downloads
# ---------------------------------------------------------------------------
def landscape_npz(cfg: Config) -> bytes:
    L = landscape_for(cfg)
    buf = io.BytesIO()
    np.savez(buf, u=L.u, v=L.v, J=L.J, origin=L.plane.origin, d1=L.plane.d1, d2=L.plane.d2,
             z_star=L.z_star, rho=np.float64(L.rho), config=np.array(cfg.to_json()))
    return buf.getvalue()


def landscape_csv(cfg: Config) -> str:
    """One row per grid point: u, v, the latent point z_1 … z_n0, J."""
    L = landscape_for(cfg)
    uu, vv = np.meshgrid(L.u, L.v)
    Z = L.plane.lift(uu, vv).reshape(-1, cfg.n0)
    table = np.column_stack([uu.ravel(), vv.ravel(), Z, L.J.ravel()])
    header = ",".join(["u", "v"] + [f"z{i + 1}" for i in range(cfg.n0)] + ["J"])
    buf = io.StringIO()
    np.savetxt(buf, table, delimiter=",", header=header, comments="", fmt="%.9g")
    return buf.getvalue()


def config_json(cfg: Config) -> str:
    return json.dumps(cfg.to_dict(), indent=2, sort_keys=True)


def mask_of(cfg: Config):
    """The mask of A (C, *spatial) bool, or None for a dense Gaussian A (it does not depend on z)."""
    return images(problem_for(cfg), np.ones(cfg.n0))["mask"]


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
def _theory(pkey: str, grid: int, extent: float, eps: float, heights: bool) -> dict:
    cfg = Config.from_json(pkey).replace(grid=grid, extent=extent, eps=eps)
    return theory_marks(cfg, heights)


def marks_for(cfg: Config, crit: dict | None = None, desc: dict | None = None, frame: int | None = None,
              critical: bool = True, heights: bool = True) -> figures.Marks:
    """Overlays for cfg's landscape: theory always; critical points and paths only when they
    were computed for this very config (stale stores are ignored). ``heights``: evaluate J at
    the theory marks (only a surface needs it)."""
    th = _theory(problem_key(cfg), cfg.grid, cfg.extent, cfg.eps, heights)
    pts = crit["points"] if critical and crit and crit.get("key") == landscape_key(cfg) else []
    paths = []
    if desc and desc.get("key") == descent_key(cfg):
        paths = [(np.asarray(u), np.asarray(v), np.asarray(J), o)
                 for u, v, J, o in zip(desc["u"], desc["v"], desc["J"], desc["outcome"])]
    return figures.Marks(points=th["points"], circles=th["circles"], critical=pts, paths=paths, frame=frame)


def landscape_title(cfg: Config) -> str:
    return f"J(z) · {cfg.activation} · {cfg.weights} W · {cfg.mask} mask r = {cfg.rate:g} · {cfg.grid}²"


def landscape_figure(cfg: Config, scale: str, marks: figures.Marks, three_d: bool):
    """cfg's landscape as a surface (``three_d``) or a contour, with ``marks``."""
    L = landscape_for(cfg)
    floor = figures.log_floor(L.J)
    labels = figures.axis_labels(cfg.n0)
    meta = figure_meta(cfg, scale)
    if three_d:
        return figures.surface_figure(L.u, L.v, L.J, scale, floor, labels, marks, title="surface", meta=meta)
    return figures.contour_figure(L.u, L.v, L.J, scale, floor, labels, marks, title=landscape_title(cfg), meta=meta)


def overlay_traces(cfg: Config, scale: str, marks: figures.Marks, three_d: bool) -> list:
    """The overlay traces of :func:`landscape_figure`, alone (for a Patch)."""
    J = landscape_for(cfg).J
    floor = figures.log_floor(J)
    lo = figures.colour_range(figures.colour_values(J, scale, floor), scale)[0]
    return figures.overlay_traces(marks, scale, floor, three_d, z_min=lo if three_d and scale == "log" else None)


# ---------------------------------------------------------------------------
# views 3–6: what their callbacks return
# ---------------------------------------------------------------------------
def z_star_uv(cfg: Config) -> tuple[float, float]:
    L = landscape_for(cfg)
    u, v = L.plane.project(L.z_star)
    return float(u), float(v)


def compare_view(cfg: Config, scale: str):
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


def basin_drive(trigger: str | None, store: dict | None, cfg: Config, n_text, cancel_clicks: int = 0) -> tuple:
    """Start, cancel or advance the basin map → (store, still running, next tick in ms, message).

    The caller lets the timer fire once more per answered tick, so ticks never overlap. A tick
    also stops when the Cancel button was pressed since the start (``cancel_clicks`` grew), so a
    tick answered after the cancel cannot restart the map.
    """
    cancel_clicks = cancel_clicks or 0
    if trigger == ids.BASIN_START:
        try:
            store = basin_new(cfg, parse_int("basin_grid", n_text), cancel_clicks)
        except ConfigError as e:
            return store, False, 300, str(e)
        return store, True, 300, ""
    if not store or store["status"] != "running":
        return store, False, 300, ""
    if trigger == ids.BASIN_CANCEL or cancel_clicks > store.get("cancel_clicks", 0):
        return {**store, "status": "cancelled"}, False, 300, ""
    if store["key"] != descent_key(cfg):
        return {**store, "status": "cancelled"}, False, 300, "basins: the config changed; press Start again"
    store = basin_step(store, cfg)
    return store, store["status"] == "running", 100, ""


def basin_view(store: dict | None) -> tuple:
    """(basin figure, progress 0–100, text)."""
    pct, text = basin_summary(store)
    if not store:
        return figures.message_figure("Press Start to compute the basin map."), 0, text
    cfg = Config.from_json(store["key"])
    u, v = window(cfg, store["n"])
    th = _theory(problem_key(cfg), cfg.grid, cfg.extent, cfg.eps, False)["points"]
    marks = {k: th[k][:2] for k in ("z*", "−ρ_d z*")}
    title = f"Where the descent ({cfg.method}, lr {cfg.lr:g}, {cfg.steps} steps) from each start ends"
    return figures.basin_figure(u, v, store["rows"], marks, figures.axis_labels(cfg.n0), title), round(pct), text


def images_view(cfg: Config, uv) -> tuple:
    """(images figure, text) at plane point uv (z* when None)."""
    if uv is None:
        uv = z_star_uv(cfg)
    imgs = images_at(cfg, uv)
    z = ", ".join(f"{t:.3f}" for t in imgs["z"])
    C = cfg.channels[-1]
    note = f" (channel 1 of {C})" if C > 1 else ""
    return figures.images_figure(imgs), f"z = ({z}) · J(z) = {imgs['J']:.4g}{note}"
