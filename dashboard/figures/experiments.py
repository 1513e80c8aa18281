"""Pure figure builders of the two experiment pages: arrays in, ``go.Figure`` out (no Dash, no core)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PATTERN_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
_MARGIN = dict(l=55, r=20, t=50, b=45)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)}, {int(h[2:4], 16)}, {int(h[4:6], 16)}, {alpha})"


# ---------------------------------------------------------------------------
# phase transition
# ---------------------------------------------------------------------------
def phase_figure(rates, patterns, p, lo, hi, r50, masks: dict | None = None, done=None,
                 title: str = "", mask_titles: dict | None = None, r50_interval=None) -> go.Figure:
    """Success probability against the sampling rate, one curve per pattern, and each pattern's mask.

    Parameters
    ----------
    rates : array (R,)
    patterns : sequence of str (P,)
    p, lo, hi : array (P, R)
        Success probability and its 95 % interval (NaN where not computed yet).
    r50 : array (P,)
        Fitted transition rate (NaN: none), drawn as a dashed vertical line.
    masks : dict, optional
        ``pattern → 2-D 0/1 array`` drawn beside the curves (one small panel per pattern).
    mask_titles : dict, optional
        ``pattern → title`` of its mask panel (default: the pattern's name).
    done : array (P, R) bool, optional
        Cells computed so far; the others are left out of the curves.
    r50_interval : array (P, 2), optional
        Where r50 is NaN, the two tested rates (a, b] between which the proportion first reaches
        ½ (drawn as a band), or (NaN, b): below the lowest rate.

    Returns
    -------
    go.Figure
        Traces, per pattern in order: interval band (upper edge, lower edge filled to it), curve,
        r50 line (or its interval as a band); then one heatmap per mask.
    """
    rates = np.asarray(rates, dtype=float)
    p, lo, hi = (np.asarray(a, dtype=float) for a in (p, lo, hi))
    done = np.ones(p.shape, dtype=bool) if done is None else np.asarray(done, dtype=bool)
    masks = masks or {}
    mask_titles = mask_titles or {}
    show = [m for m in patterns if m in masks]
    rows = max(1, len(show))
    specs = [[{"rowspan": rows}, {}]] + [[None, {}] for _ in range(rows - 1)]
    fig = make_subplots(rows=rows, cols=2, column_widths=[0.8, 0.2], specs=specs, horizontal_spacing=0.06,
                        vertical_spacing=0.09,
                        subplot_titles=[""] + [mask_titles.get(m, m) for m in show] if show else None)
    for i, name in enumerate(patterns):
        c = PATTERN_COLOURS[i % len(PATTERN_COLOURS)]
        k = done[i]
        x = rates[k]
        fig.add_trace(go.Scatter(x=x, y=hi[i][k], mode="lines", line=dict(width=0), showlegend=False,
                                 hoverinfo="skip", name=f"{name} 95% high", legendgroup=name), 1, 1)
        fig.add_trace(go.Scatter(x=x, y=lo[i][k], mode="lines", line=dict(width=0), fill="tonexty",
                                 fillcolor=_rgba(c, 0.10), showlegend=False, hoverinfo="skip",
                                 name=f"{name} 95% low", legendgroup=name), 1, 1)
        fig.add_trace(go.Scatter(x=x, y=p[i][k], mode="lines+markers", line=dict(color=c, width=2),
                                 marker=dict(size=6), name=name, legendgroup=name,
                                 customdata=np.stack([lo[i][k], hi[i][k]], axis=-1) if k.any() else None,
                                 hovertemplate=f"{name}: r = %{{x:.3f}}<br>p = %{{y:.2f}} "
                                               "(95%: %{customdata[0]:.2f}–%{customdata[1]:.2f})<extra></extra>"), 1, 1)
        r = float(r50[i]) if i < len(r50) else float("nan")
        a, b = (np.asarray(r50_interval, dtype=float)[i] if r50_interval is not None else (np.nan, np.nan))
        if np.isfinite(r):
            fig.add_trace(go.Scatter(x=[r, r], y=[0, 1], mode="lines", line=dict(color=c, dash="dash", width=1.5),
                                     legendgroup=name, name=f"r50 {name} = {r:.3f}",
                                     hovertemplate=f"r50 ({name}) = {r:.3f}<extra></extra>"), 1, 1)
        elif np.isfinite(a) and np.isfinite(b):
            # The data jump between two tested rates: r50 lies in (a, b], drawn as a band.
            fig.add_trace(go.Scatter(x=[a, b, b, a, a], y=[0, 0, 1, 1, 0], mode="lines", fill="toself",
                                     fillcolor=_rgba(c, 0.15), line=dict(color=c, dash="dot", width=1),
                                     legendgroup=name, name=f"r50 {name} ∈ ({a:.3g}, {b:.3g}]",
                                     hovertemplate=f"r50 ({name}) between {a:.3g} and {b:.3g}<extra></extra>"), 1, 1)
        else:
            below = f" < {b:.3g}" if np.isfinite(b) else ": —"
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines", line=dict(color=c, dash="dash", width=1.5),
                                     legendgroup=name, name=f"r50 {name}{below}"), 1, 1)
    for j, name in enumerate(show, start=1):
        m = np.asarray(masks[name], dtype=float)
        if m.ndim == 1:
            m = m[None, :]
        c = PATTERN_COLOURS[list(patterns).index(name) % len(PATTERN_COLOURS)]
        fig.add_trace(go.Heatmap(z=m, colorscale=[[0, "#263238"], [1, c]], zmin=0, zmax=1, showscale=False,
                                 hovertemplate=f"{name}: (%{{x}}, %{{y}}) observed = %{{z}}<extra></extra>"), j, 2)
        fig.update_xaxes(visible=False, constrain="domain", row=j, col=2)
        # The rowspanning curve panel is axis 1, so mask j sits on axis j + 1.
        fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=f"x{j + 1}", row=j, col=2)
    fig.update_xaxes(title="requested sampling rate r = m / n", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(title="P(exact recovery)", range=[-0.03, 1.03], row=1, col=1)
    fig.update_annotations(font=dict(size=11))
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=13)), margin=dict(_MARGIN, b=90),
                      height=max(500, 140 * rows),
                      plot_bgcolor="white", legend=dict(orientation="h", x=0, y=-0.14, yanchor="top"),
                      uirevision="phase")
    fig.update_xaxes(gridcolor="#eee", row=1, col=1)
    fig.update_yaxes(gridcolor="#eee", row=1, col=1)
    return fig


# ---------------------------------------------------------------------------
# expected vs empirical
# ---------------------------------------------------------------------------
def expected_figure(u, v, J_emp, J_exp, z_star_uv=None, labels=("z₁", "z₂"), title: str = "") -> go.Figure:
    """Empirical | expected | difference, as three heatmaps; the first two share one colour scale.

    Parameters
    ----------
    u : array (N,), v : array (M,)
    J_emp, J_exp : array (M, N)
        Both in the same units (e.g. divided by max E[J]).
    z_star_uv : (float, float), optional
        z* in plane coordinates, marked on every panel.

    Returns
    -------
    go.Figure
        Traces: the three heatmaps, then (with ``z_star_uv``) one z* marker per panel.
    """
    J_emp, J_exp = np.asarray(J_emp, dtype=float), np.asarray(J_exp, dtype=float)
    diff = J_emp - J_exp
    top = float(max(np.nanmax(J_emp), np.nanmax(J_exp)))
    d = float(np.nanmax(np.abs(diff))) or 1.0
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.07, subplot_titles=(
        "empirical J (one net)", "expected E_W[J] (closed form)", "difference J − E_W[J]"))
    common = dict(x=u, y=v, hovertemplate="(%{x:.2f}, %{y:.2f}): %{z:.3g}<extra></extra>")
    fig.add_trace(go.Heatmap(z=J_emp, zmin=0, zmax=top, colorscale="Viridis", showscale=False, name="empirical",
                             **common), 1, 1)
    fig.add_trace(go.Heatmap(z=J_exp, zmin=0, zmax=top, colorscale="Viridis", name="expected",
                             colorbar=dict(x=0.63, len=0.9, thickness=10), **common), 1, 2)
    fig.add_trace(go.Heatmap(z=diff, zmin=-d, zmax=d, colorscale="RdBu_r", name="difference",
                             colorbar=dict(x=1.0, len=0.9, thickness=10), **common), 1, 3)
    if z_star_uv is not None:
        for col in (1, 2, 3):
            fig.add_trace(go.Scatter(x=[z_star_uv[0]], y=[z_star_uv[1]], mode="markers", name="z*",
                                     showlegend=col == 1, marker=dict(symbol="star", size=11, color="#e41a1c",
                                                                      line=dict(color="white", width=1))), 1, col)
    for col in (1, 2, 3):
        fig.update_xaxes(title=labels[0], constrain="domain", row=1, col=col)
        fig.update_yaxes(title=labels[1] if col == 1 else None, scaleanchor=f"x{col if col > 1 else ''}",
                         row=1, col=col)
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=13)), margin=_MARGIN, height=380,
                      showlegend=False)
    return fig


def _vlines(fig: go.Figure, lines, top: float, width: float) -> None:
    """One vertical line trace from 0 to ``top`` per (name, t, colour, dash); an empty trace named
    "…: none" where t is None or NaN, so the trace order never depends on the values."""
    for name, val, colour, dash in lines:
        ok = val is not None and np.isfinite(val)
        fig.add_trace(go.Scatter(x=[val, val] if ok else [], y=[0, top] if ok else [], mode="lines",
                                 line=dict(color=colour, dash=dash, width=width),
                                 name=f"{name}: t = {val:.3f}" if ok else f"{name}: none"))


def ray_figure(t, ray_emp, ray_exp, t_emp: float, t_exp: float, rho: float, title: str = "") -> go.Figure:
    """J and E[J] along the ray ``−t z*``, with the ray minimum ρ̂_ray of each and ρ_d.

    The minimum of J *along the ray* is not a critical point of J: the gradient there is
    perpendicular to the ray in general.

    Returns
    -------
    go.Figure
        Traces: empirical curve, expected curve, then three vertical markers (empirical t̂,
        expected t, ρ_d) — a marker is empty when its value is NaN.
    """
    t = np.asarray(t, dtype=float)
    ray_emp, ray_exp = np.asarray(ray_emp, dtype=float), np.asarray(ray_exp, dtype=float)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t, y=ray_emp, mode="lines", name="empirical J(−t z*)", line=dict(color="#1f77b4")))
    fig.add_trace(go.Scatter(x=t, y=ray_exp, mode="lines", name="expected E[J(−t z*)]",
                             line=dict(color="#555", dash="dot", width=2)))
    top = float(np.nanmax(np.concatenate([ray_emp, ray_exp]))) if t.size else 1.0
    _vlines(fig, (("ray minimum ρ̂_ray of J", t_emp, "#1f77b4", "solid"), ("ray minimum of E[J]", t_exp, "#555", "dot"),
                  ("ρ_d (Hand–Voroninski)", rho, "#ff7f00", "dash")), top, width=1.5)
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=13)), margin=_MARGIN, height=330,
                      xaxis_title="t (point −t z*)", yaxis_title="J (same units as above)", plot_bgcolor="white",
                      legend=dict(x=0.99, xanchor="right", y=0.01, yanchor="bottom", bgcolor="rgba(255,255,255,0.8)"))
    fig.update_xaxes(gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    return fig


def ray_histogram_figure(counts, edges, t_min: float, t_min_se: float, t_closed: float, rho: float, K: int,
                         title: str = "") -> go.Figure:
    """Histogram of the per-net ray minima ρ̂_ray over K nets, with the finite-width expectation's
    ray minimum (± its standard error, as a band), the closed form's and ρ_d.

    Parameters
    ----------
    counts : array (B,), edges : array (B + 1,)
        ``np.histogram`` of ρ̂_ray (nets whose J(−t z*) has no interior minimum are not counted).
    t_min, t_min_se : float
        Minimum of the Monte Carlo mean E_W[J(−t z*)] over the K nets, and its standard error.
    t_closed, rho : float
        The closed form's ray minimum and ρ_d (NaN: not drawn).

    Returns
    -------
    go.Figure
        Traces: the bars, the ± SE band of t_min, then three vertical lines (t_min, closed form,
        ρ_d), each empty when its value is NaN.
    """
    counts, edges = np.asarray(counts, dtype=float), np.asarray(edges, dtype=float)
    mid, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    top = float(counts.max()) if counts.size and counts.max() > 0 else 1.0
    fig = go.Figure()
    fig.add_trace(go.Bar(x=mid, y=counts, width=width, name=f"ρ̂_ray of each net (K = {K})",
                         marker=dict(color="#9ecae1", line=dict(color="#3182bd", width=0.5)),
                         hovertemplate="ρ̂_ray in %{x:.3f} ± " + f"{width[0] / 2 if width.size else 0:.3f}"
                                       ": %{y:.0f} nets<extra></extra>"))
    ok = np.isfinite(t_min) and np.isfinite(t_min_se)
    lo, hi = (t_min - t_min_se, t_min + t_min_se) if ok else (np.nan, np.nan)
    fig.add_trace(go.Scatter(x=[lo, hi, hi, lo, lo] if ok else [], y=[0, 0, top, top, 0] if ok else [],
                             mode="lines", fill="toself", fillcolor=_rgba("#2ca02c", 0.25), line=dict(width=0),
                             name="± 1 standard error", hoverinfo="skip"))
    _vlines(fig, (("minimum of E_W[J(−t z*)] over the K nets", t_min, "#2ca02c", "solid"),
                  ("minimum of the closed form (infinite width)", t_closed, "#555", "dot"),
                  ("ρ_d (Hand–Voroninski)", rho, "#ff7f00", "dash")), top, width=2)
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=13)), margin=_MARGIN, height=330,
                      xaxis_title="t (the ray minimum −t z*)", yaxis_title="nets", plot_bgcolor="white", bargap=0,
                      legend=dict(x=0.99, xanchor="right", y=0.99, yanchor="top", bgcolor="rgba(255,255,255,0.8)"))
    fig.update_xaxes(gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    return fig
