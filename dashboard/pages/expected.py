"""Expected vs empirical landscape: why Theorem 1 holds.

Three panels — one random net's J, the closed-form expectation E_W[J] over the weights, and their
difference — and J along the −z* ray with its minimum ρ̂_ray (a minimum along the ray, not a critical point), that of E_W[J] and
−ρ_d z*. A width slider multiplies every channel count after n0: as the net widens its landscape
concentrates on the expected one. Optionally a Monte Carlo mean over K weight draws is overlaid
on the ray, as an independent check of the closed form. Below, the finite-width expectation along
the ray over K nets (:func:`core.expected.ray_monte_carlo`): its minimum with a standard error beside
ρ_d and the closed form's, and the histogram of every net's ρ̂_ray; K is capped so that it runs within
a few seconds (:func:`ray_nets`). All numbers come from :mod:`core.expected`; :func:`compute` and
:func:`view` are the plain functions the tests call.
"""
from __future__ import annotations

import time

import numpy as np
from dash import Input, Output, dcc, html, no_update

from core.config import ConfigError, from_preset
from core.expected import expected_landscape, monte_carlo_J, ray_monte_carlo, widen
from core.phase import torch_threads

from .. import ids, state
from ..components import loading
from ..figures import message_figure
from ..figures.experiments import expected_figure, ray_figure, ray_histogram_figure
from ..guard import callback
from .url import register_url_sync, slice_store

URL_PREFIX = "expected."    # this page's keys in the URL (pages/url.py)
PRESET, WIDTH, GRID, MC = ids.EXPECTED_PRESET, ids.EXPECTED_WIDTH, ids.EXPECTED_GRID, ids.EXPECTED_MC
HEATMAPS, RAY, STATUS, ERROR = ids.EXPECTED_HEATMAPS, ids.EXPECTED_RAY, ids.EXPECTED_STATUS, ids.EXPECTED_ERROR
HIST, K_CONTROL = ids.EXPECTED_HIST, ids.EXPECTED_K

PRESETS = ("paper-fig4", "authors-code")    # Gaussian-weight ReLU presets, where the closed form applies
WIDTHS = (1, 2, 4, 8, 16)                   # slider positions → width factor
GRIDS = (31, 61, 101)
MC_DRAWS, MC_RAY_POINTS = 32, 61
RAY_KS = (200, 1000, 4000)                  # nets asked for along the ray (capped by RAY_WORK)
# Weight draws (nets × weights per net) of the ray's Monte Carlo: drawing the nets dominates its
# time, ~1.8 µs per weight here, so this is ~2.5 s (paper-fig4: 1000 nets in 2.2 s; ×16: 70 nets).
RAY_WORK = 1.4e6
RAY_MIN_NETS = 20
RAY_BOOT = 200                              # bootstrap resamples of the minimum's standard error
DEFAULTS = dict(preset=PRESETS[0], width=0, grid=61, mc=[], k=1000)
CONTROLS = {"preset": PRESET, "width": WIDTH, "grid": GRID, "mc": MC, "k": K_CONTROL}


def ray_nets(cfg, K: int) -> int:
    """The nets the ray's Monte Carlo draws: K, or fewer so that K · (weights of one net) ≤ RAY_WORK."""
    weights = sum(cfg.channels[i] * cfg.channels[i + 1] * cfg.per_layer("kernel")[i] ** cfg.dim
                  for i in range(cfg.depth))
    return int(max(RAY_MIN_NETS, min(K, RAY_WORK // max(1, weights))))


def parse_controls(preset, width_index, grid, mc, k=DEFAULTS["k"]) -> tuple:
    """The controls, checked as if a hostile browser had sent them → compute()'s arguments."""
    preset = state.parse_choice("preset", preset, PRESETS)
    if isinstance(width_index, bool) or not isinstance(width_index, (int, str)):
        raise ConfigError("width_factor", f"slider index must be in [0, {len(WIDTHS) - 1}], got {width_index!r}")
    w = state.parse_int("width_factor", width_index)
    if isinstance(grid, bool) or not isinstance(grid, (int, str)):
        raise ConfigError("grid", f"must be one of {GRIDS}, got {grid!r}")
    g = state.parse_int("grid", grid)
    if not isinstance(mc, (list, type(None))) or any(x != "mc" for x in (mc or [])):
        raise ConfigError("monte_carlo", f"expected [] or ['mc'], got {mc!r}")
    if isinstance(k, bool) or not isinstance(k, (int, str)):
        raise ConfigError("ray_nets", f"must be one of {RAY_KS}, got {k!r}")
    k = state.parse_int("ray_nets", k)
    if k not in RAY_KS:
        raise ConfigError("ray_nets", f"must be one of {RAY_KS}, got {k}")
    return preset, w, g, "mc" in (mc or []), k


def compute(preset: str, width_index: int, grid: int, monte_carlo: bool = False, k: int = DEFAULTS["k"]) -> dict:
    """Landscapes of the widened net (core), scaled by max E[J] so that every width shares one scale.

    Returns
    -------
    dict
        ``u, v, J_emp, J_exp, t, ray_emp, ray_exp`` (scaled), ``t_emp, t_exp, rho``, ``z_star_uv``,
        ``rel_error`` (max |J − E J| / max E J on the grid), ``channels``, ``width``, ``ray``
        (core.expected.RayMonteCarlo over :func:`ray_nets` nets), ``ray_K_asked``, ``ray_seconds``,
        and with ``monte_carlo`` also ``t_mc, ray_mc, ray_mc_sem`` (scaled).
    """
    if preset not in PRESETS:
        raise ConfigError("preset", f"must be one of {', '.join(PRESETS)}; got {preset!r}")
    if not 0 <= int(width_index) < len(WIDTHS):
        raise ConfigError("width_factor", f"slider index must be in [0, {len(WIDTHS) - 1}], got {width_index}")
    if grid not in GRIDS:
        raise ConfigError("grid", f"must be one of {GRIDS}, got {grid}")
    if k not in RAY_KS:
        raise ConfigError("ray_nets", f"must be one of {RAY_KS}, got {k}")
    cfg = widen(from_preset(preset), WIDTHS[int(width_index)])
    with torch_threads(1):
        E = expected_landscape(cfg, grid=grid)
        scale = float(E.J_exp.max()) or 1.0
        out = dict(u=E.u, v=E.v, J_emp=E.J_emp / scale, J_exp=E.J_exp / scale, t=E.t, ray_emp=E.ray_emp / scale,
                   ray_exp=E.ray_exp / scale, t_emp=E.t_emp, t_exp=E.t_exp, rho=E.rho,
                   z_star_uv=tuple(float(x) for x in E.plane.project(E.z_star)),
                   rel_error=float(np.abs(E.J_emp - E.J_exp).max() / scale), channels=cfg.channels,
                   width=WIDTHS[int(width_index)], n0=cfg.n0, ray_K_asked=k)
        t0 = time.perf_counter()
        out["ray"] = ray_monte_carlo(cfg, ray_nets(cfg, k), t_max=float(E.t[-1]), n_boot=RAY_BOOT)
        out["ray_seconds"] = time.perf_counter() - t0
        if monte_carlo:
            t = np.linspace(E.t[0], E.t[-1], MC_RAY_POINTS)
            mc = monte_carlo_J(cfg, -t[:, None] * E.z_star[None], MC_DRAWS)
            out.update(t_mc=t, ray_mc=mc.mean / scale, ray_mc_sem=mc.sem / scale)
    return out


def ray_view(d: dict) -> tuple:
    """(histogram figure, text) of the ray's Monte Carlo in :func:`compute`'s dict."""
    r = d["ray"]
    se = r.t_min_se_boot if np.isfinite(r.t_min_se_boot) else r.t_min_se
    counts, edges = r.histogram(bins=40)
    capped = f" (of {d['ray_K_asked']} asked: capped to run in a few seconds)" if r.K < d["ray_K_asked"] else ""
    fmt = lambda x: f"{x:.3f}" if np.isfinite(x) else "none"  # noqa: E731
    q05, q50, q95 = r.quantiles()
    fig = ray_histogram_figure(counts, edges, r.t_min, se, r.t_closed, r.rho, r.K,
                               title=f"ρ̂_ray of each of K = {r.K} nets{capped} · minimum of E_W[J(−t z*)] at t = "
                                     f"{fmt(r.t_min)} ± {se:.3f}")
    text = (f"finite-width expectation along the ray, K = {r.K} nets{capped} ({d['ray_seconds']:.1f} s): minimum "
            f"of E_W[J(−t z*)] at t = {fmt(r.t_min)} ± {se:.3f} (standard error, bootstrap over nets) · closed form "
            f"{fmt(r.t_closed)} · ρ_d = {r.rho:.3f} · ρ̂_ray over nets: median {fmt(q50)}, 5–95 % "
            f"{fmt(q05)}–{fmt(q95)} ({int(np.isfinite(r.rho_hat).sum())} of {r.K} nets have one)")
    return fig, text


def view(d: dict) -> tuple:
    """(heatmap figure, ray figure, status text) from :func:`compute`'s dict."""
    labels = ("z₁", "z₂") if d["n0"] == 2 else ("u (along z*)", "v")
    heat = expected_figure(d["u"], d["v"], d["J_emp"], d["J_exp"], z_star_uv=d["z_star_uv"], labels=labels,
                           title=f"channels {','.join(map(str, d['channels']))} (width ×{d['width']}); "
                                 "J in units of max E_W[J]")
    ray = ray_figure(d["t"], d["ray_emp"], d["ray_exp"], d["t_emp"], d["t_exp"], d["rho"],
                     title="along the −z* ray: J(−t z*) and its minimum (a minimum along the ray, not a "
                           "critical point of J)")
    if "ray_mc" in d:
        ray.add_scatter(x=d["t_mc"], y=d["ray_mc"], mode="markers", name=f"Monte Carlo mean (K = {MC_DRAWS})",
                        marker=dict(color="#2ca02c", size=5),
                        error_y=dict(type="data", array=2 * d["ray_mc_sem"], thickness=1, width=0))
    fmt = lambda x: f"{x:.3f}" if np.isfinite(x) else "none"  # noqa: E731
    text = (f"max |J − E J| / max E J = {d['rel_error']:.3f} · minimum along the −z* ray: ρ̂_ray = "
            f"{fmt(d['t_emp'])} (this net), t = {fmt(d['t_exp'])} (E_W[J], closed form), ρ_d = {d['rho']:.3f}")
    return heat, ray, text


def layout():
    return html.Div(children=[
        slice_store(URL_PREFIX),
        html.Div(className="toolbar", children=[
            html.Label("net"),
            dcc.Dropdown(id=PRESET, options=list(PRESETS), value=DEFAULTS["preset"], clearable=False, searchable=False,
                         style={"width": "160px"}),
            html.Label("channel width ×"),
            html.Div(className="slider", children=[
                dcc.Slider(id=WIDTH, min=0, max=len(WIDTHS) - 1, step=1, value=DEFAULTS["width"],
                           marks={i: f"×{w}" for i, w in enumerate(WIDTHS)}),
            ]),
            html.Label("grid"),
            dcc.Dropdown(id=GRID, options=list(GRIDS), value=DEFAULTS["grid"], clearable=False, searchable=False,
                         style={"width": "80px"}),
            dcc.Checklist(id=MC, options=[{"label": f"Monte Carlo check on the ray (K = {MC_DRAWS})",
                                           "value": "mc"}], value=DEFAULTS["mc"], className="checklist"),
            html.Label("nets along the ray K"),
            dcc.Dropdown(id=K_CONTROL, options=list(RAY_KS), value=DEFAULTS["k"], clearable=False, searchable=False,
                         style={"width": "90px"}),
        ]),
        html.Div(id=ERROR, className="error"),
        loading(dcc.Graph(id=HEATMAPS, config={"displaylogo": False}), "circle"),
        dcc.Graph(id=RAY, config={"displaylogo": False}),
        html.Div(id=STATUS, className="info"),
        dcc.Graph(id=HIST, config={"displaylogo": False}),
    ])


def register_callbacks(app) -> None:
    register_url_sync(app, URL_PREFIX, {k: (cid, DEFAULTS[k]) for k, cid in CONTROLS.items()})

    @callback(app, Output(HEATMAPS, "figure"), Output(RAY, "figure"), Output(STATUS, "children"),
              Output(ERROR, "children"), Output(HIST, "figure"),
              Input(PRESET, "value"), Input(WIDTH, "value"), Input(GRID, "value"), Input(MC, "value"),
              Input(K_CONTROL, "value"), Input(ids.TABS, "value"),
              prevent_initial_call=True)   # runs once its tab is shown (callbacks.py: views behind tabs)
    def _update(preset, width_index, grid, mc, k, tab):
        if tab != ids.TAB_EXPECTED:
            return no_update, no_update, no_update, no_update, no_update
        try:
            d = compute(*parse_controls(preset, width_index, grid, mc, k))
        except ConfigError as e:
            return message_figure(str(e)), message_figure(""), "", str(e), message_figure("")
        heat, ray, text = view(d)
        hist, ray_text = ray_view(d)
        return heat, ray, [html.Div(text), html.Div(ray_text)], "", hist
