"""The plane selector and the injectivity map of the Landscape view: plain functions over core.

The plane of ``cfg.plane`` comes from :func:`core.planes.plane_for` (through
:func:`dashboard.logic.landscape_for`); an ``endpoint`` or ``pca`` plane is built from a descent,
so the view waits until the page holds one (:func:`plane_ready`) and then uses that descent's
config (:func:`dashboard.logic.random_descent`, the same descent the store shows). The injectivity
map is :func:`core.injectivity.injectivity_map` on a coarse grid of the landscape's window, its size
chosen by the cost model (:func:`dashboard.state.injectivity_grid`).
"""
from __future__ import annotations

import time
from functools import lru_cache

import numpy as np

from core import Config
from core.injectivity import injectivity_map

from . import figures, logic
from .state import injectivity_grid

# The plane control's options (core.config.PLANES, in that order).
PLANE_OPTIONS = [
    {"label": "auto: latent for n0 = 2, else star", "value": "auto"},
    {"label": "latent: z₁, z₂ through z*", "value": "latent"},
    {"label": "star: through 0, z* and −z*", "value": "star"},
    {"label": "endpoint: z*, a descent's end ẑ, 0", "value": "endpoint"},
    {"label": "pca: principal directions of the descent paths", "value": "pca"},
    {"label": "hessian: most / least curved at z*", "value": "hessian"},
]
VECTOR_SHOWN = 10    # entries of d1, d2 written out (the rest elided)


def plane_ready(cfg: Config, store) -> str:
    """"" when cfg's plane can be drawn, else the one line that says what it needs.

    An endpoint / pca plane needs the page's descent store to hold this config's random starts
    (same generator, observation and solver: the window and the plane may differ), or a click
    descent made on this very plane (which was drawn, so its random starts were there).
    """
    if cfg.plane not in logic.NEEDS_DESCENT:
        return ""
    if isinstance(store, dict) and isinstance(store.get("key"), str):
        if store.get("kind") == "click" and store["key"] == logic.descent_key(cfg):
            return ""
        if store.get("kind") == "random":
            try:
                if logic.descent_source(Config.from_json(store["key"])) == logic.descent_source(cfg):
                    return ""
            except ValueError:   # a forged key is no descent of this config
                pass
    what = "its end points" if cfg.plane == "endpoint" else "its paths"
    return (f"The {cfg.plane} plane is built from a descent ({what}): launch the {cfg.starts} random starts "
            "in the Descent tab for this config, then the plane is drawn here.")


def _vector(d: np.ndarray) -> str:
    head = ", ".join(f"{x:.3f}" for x in d[:VECTOR_SHOWN])
    return f"({head}{', …' if d.size > VECTOR_SHOWN else ''})"


def plane_text(cfg: Config) -> str:
    """The plane's kind, core's explanation of it, and its direction vectors d1, d2 (rounded)."""
    L = logic.landscape_for(cfg)
    pl, half = L.plane, float(L.u[-1] - L.u[0]) / 2
    n0 = pl.d1.size
    where = ("the random starts of the sidebar's solver" if cfg.plane in logic.NEEDS_DESCENT else "")
    text = (f"Plane {getattr(pl, 'kind', cfg.plane)}"
            + (f" (auto for n0 = {n0})" if cfg.plane == "auto" else "")
            + f": {getattr(pl, 'explanation', '')}"
            + (f" Its window is ±{half:.2f}, wider than the ±{cfg.extent:g} asked, to hold the points the plane "
               f"goes through." if half > cfg.extent * (1 + 1e-9) else "")
            + (f" The descent: {where}." if where else "")
            + f" z = origin + u·d1 + v·d2 with d1 = {_vector(pl.d1)}, d2 = {_vector(pl.d2)}"
            + (f" ({n0} entries each)." if n0 > VECTOR_SHOWN else "."))
    return text


# ---------------------------------------------------------------------------
# the injectivity map
# ---------------------------------------------------------------------------
@lru_cache(maxsize=6)
def _injectivity(cfg_json: str, n: int):
    cfg = Config.from_json(cfg_json)
    L = logic.landscape_for(cfg)
    u, v = np.linspace(L.u[0], L.u[-1], n), np.linspace(L.v[0], L.v[-1], n)
    t = time.perf_counter()
    m = injectivity_map(logic.problem_for(cfg), L.plane, u, v)
    return m, time.perf_counter() - t


def injectivity_for(cfg: Config) -> tuple:
    """(core.injectivity.InjectivityMap on a coarse grid of the landscape's window, seconds), cached.

    The grid's side is :func:`dashboard.state.injectivity_grid`'s (≤ 41, within the cost bound).
    """
    n = injectivity_grid(cfg, logic.n0_of(cfg))
    return _injectivity(cfg.to_json(), n)


def injectivity_view(cfg: Config, scale: str) -> tuple:
    """(figure, text): J and log10(σ_min + floor) side by side on the landscape's plane."""
    L = logic.landscape_for(cfg)
    m, seconds = injectivity_for(cfg)
    floor = figures.sigma_floor(m.sigma_max)
    jfloor = figures.log_floor(L.J)
    th = logic.marks_for(cfg, heights=False)
    points = {k: p[:2] for k, p in th.points.items() if np.all(np.isfinite(p[:2]))}
    points.update({k: p[:2] for k, p in th.plane_points.items()})
    fig = figures.injectivity_figure(L.u, L.v, figures.colour_values(L.J, scale, jfloor), m.u, m.v, m.sigma_min,
                                     floor, figures.colour_label(scale), figures.axis_labels(m.n0, cfg.plane),
                                     points, title=f"injectivity of A·G on a {m.u.size}² grid of this window "
                                                   f"(m = {m.m} observed entries, n0 = {m.n0})")
    flat = m.collapsed()
    text = (f"σ_min of the {m.m} × {m.n0} Jacobian A·∂G/∂z on {m.u.size}² points ({seconds:.2f} s): from "
            f"{m.sigma_min.min():.3g} to {m.sigma_min.max():.3g}; {100 * flat.mean():.1f}% of the window has "
            f"σ_min ≤ 1e-6·max σ_max (G is not locally injective there: moving z does not change the observed "
            f"pixels).")
    return fig, text
