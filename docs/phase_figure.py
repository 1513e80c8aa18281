"""The README's phase-transition figure from ``docs/phase_table.json`` (written by ``python -m core.trained.report phase``).

    python docs/phase_figure.py [--table docs/phase_table.json] [--out docs/phase_transition.png]

One panel per (generator, noise): the probability of recovering z* against the true sampling rate
m/n (log axis), one curve per mask pattern, with Wilson 95 % intervals and each pattern's r50 as a
marker on the ½ line. Drawn with plotly and written as PNG by kaleido (which finds Chromium itself).
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.phase import wilson_interval  # noqa: E402
from dashboard.figures.experiments import PATTERN_COLOURS, _rgba  # noqa: E402


def phase_panels(rows: list[dict]) -> go.Figure:
    """The figure: ``rows`` as written by ``core.trained.report.phase_rows`` (one per net, noise, pattern)."""
    panels = list(dict.fromkeys((r["net"], r["noise"]) for r in rows))
    patterns = list(dict.fromkeys(r["pattern"] for r in rows))
    cols = 2
    nrows = math.ceil(len(panels) / cols)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=[f"{n}, {z}" for n, z in panels],
                        horizontal_spacing=0.08, vertical_spacing=0.16)
    for k, (net, noise) in enumerate(panels):
        row, col = k // cols + 1, k % cols + 1
        for j, p in enumerate(patterns):
            r = next((r for r in rows if r["net"] == net and r["noise"] == noise and r["pattern"] == p), None)
            if r is None:
                continue
            colour = PATTERN_COLOURS[j % len(PATTERN_COLOURS)]
            x = np.asarray(r["actual_rate"], float)
            ps = np.asarray(r["p_success"], float)
            n = int(r.get("trials", 0)) or None
            if n:
                lo, hi = wilson_interval(np.round(ps * n), np.full_like(ps, n))
                fig.add_trace(go.Scatter(x=np.r_[x, x[::-1]], y=np.r_[hi, lo[::-1]], fill="toself", mode="lines", line=dict(width=0),
                                         fillcolor=_rgba(colour, 0.12), hoverinfo="skip", showlegend=False),
                              row=row, col=col)
            fig.add_trace(go.Scatter(x=x, y=ps, mode="lines+markers", name=p, legendgroup=p, showlegend=k == 0,
                                     line=dict(color=colour, width=2), marker=dict(size=5)), row=row, col=col)
            if np.isfinite(r["r50"]):
                fig.add_trace(go.Scatter(x=[r["r50"]], y=[0.5], mode="markers", legendgroup=p, showlegend=False,
                                         marker=dict(color=colour, size=11, symbol="diamond-open", line=dict(width=2)),
                                         hovertemplate=f"{p}: r50 = %{{x:.3f}}<extra></extra>"), row=row, col=col)
        fig.add_hline(y=0.5, line=dict(color="#999", dash="dot", width=1), row=row, col=col)
        fig.update_xaxes(type="log", title_text="true sampling rate m/n", row=row, col=col)
        fig.update_yaxes(range=[-0.03, 1.03], title_text="P(recovered)" if col == 1 else None, row=row, col=col)
    r0 = rows[0]
    fig.update_layout(height=330 * nrows + 90, width=1100, template="plotly_white",
                      title=dict(text=f"Phase transition in the sampling rate: {r0.get('trials', '?')} trials per point, "
                                      "L-BFGS; ◇ = r50 (logistic fit)", x=0.01, font=dict(size=15)),
                      legend=dict(orientation="h", y=-0.1, x=0.0), margin=dict(l=60, r=20, t=70, b=90))
    return fig


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default=str(ROOT / "docs" / "phase_table.json"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "phase_transition.png"))
    a = ap.parse_args(argv)
    rows = json.loads(pathlib.Path(a.table).read_text())
    phase_panels(rows).write_image(a.out, scale=1)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
