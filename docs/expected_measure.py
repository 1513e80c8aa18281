"""The numbers of docs/expected.md: run ``python docs/expected_measure.py [--quick]`` (prints Markdown).

Every number comes from core.expected / core.critical; nothing here computes on its own.
``--quick`` divides every K by 10 (to check the script, not for the document).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from core.config import from_preset  # noqa: E402
from core.critical import near_negative_critical, ray_minimum  # noqa: E402
from core.expected import (_merge, draws_to_detect, expected_diagonal, expected_J, monte_carlo_J,  # noqa: E402
                           pooled_bias, ray_monte_carlo, widen)
from core.landscape import landscape  # noqa: E402
from core.problem import build_problem  # noqa: E402
from core.theory import rho  # noqa: E402


def pct(x, se=None):
    return f"{100 * x:+.2f} %" + ("" if se is None else f" ± {100 * se:.2f} %")


def ray_section(name, K, out):
    cfg = from_preset(name)
    t0 = time.time()
    r = ray_monte_carlo(cfg, K)
    q = r.quantiles((0.05, 0.25, 0.5, 0.75, 0.95))
    p = build_problem(cfg, dtype="float64")
    out[f"ray_{name}"] = dict(K=K, t_min=r.t_min, se_delta=r.t_min_se, se_boot=r.t_min_se_boot, t_closed=r.t_closed,
                              rho=rho(cfg.depth), q=q.tolist(), none=float(np.isnan(r.rho_hat).mean()),
                              rho_hat_this=ray_minimum(p), hist=[c.tolist() for c in r.histogram(30)])
    print(f"| `{name}` | {K} | {r.t_min:.4f} ± {r.t_min_se:.4f} (bootstrap {r.t_min_se_boot:.4f}) | "
          f"{r.t_closed:.4f} | {rho(cfg.depth):.4f} | {ray_minimum(p):.3f} | {q[2]:.3f} | "
          f"{q[0]:.2f}–{q[4]:.2f} | {q[1]:.2f}–{q[3]:.2f} | {100 * np.isnan(r.rho_hat).mean():.1f} % |"
          f"  <!-- {time.time() - t0:.0f} s -->")
    return r


def bias_vs_K(cfg, Ks, grid, out):
    """The grid of the default window: plain and controlled pooled bias at growing K (one stream)."""
    L = landscape(build_problem(cfg, dtype="float64"), grid=grid)
    uu, vv = np.meshgrid(L.u, L.v)
    pts = L.plane.lift(uu, vv).reshape(-1, cfg.n0)
    Je, ED = expected_J(cfg, pts), expected_diagonal(cfg, pts)
    mc, done, rows = None, 0, []
    for K in Ks:
        part = monte_carlo_J(cfg, pts, K - done, start=done)
        mc = part if mc is None else _merge(mc, part)
        done = K
        b, se, cv = pooled_bias(Je, mc.J_sum)
        bc, sec, cvc = pooled_bias(Je, mc.J_sum, mc.D_sum, ED.sum())
        zero = mc.mean <= 1e-12 * mc.mean.max()
        rel = ((Je - mc.mean) / np.where(zero, 1, mc.mean))[~zero]
        Jc, sc = mc.controlled(ED)
        relc = ((Je - Jc) / np.where(zero, 1, Jc))[~zero]
        zc = ((Je - Jc) / np.where(sc > 0, sc, np.inf))[~zero]
        zp = ((Je - mc.mean) / mc.sem)[~zero]
        rows.append(dict(K=K, plain=(b, se), controlled=(bc, sec), cv=cv, cv_cv=cvc,
                         med_plain=float(np.median(rel)), max_plain=float(rel[np.argmax(np.abs(rel))]),
                         med_cv=float(np.median(relc)), max_cv=float(relc[np.argmax(np.abs(relc))]),
                         z_plain=float(np.median(np.abs(zp))), z_cv=float(np.median(np.abs(zc))),
                         need=draws_to_detect(cv), need_cv=draws_to_detect(cvc),
                         need_point=float(np.median([draws_to_detect(c) for c in (mc.std / mc.mean)[~zero]]))))
        r = rows[-1]
        print(f"| {K} | {pct(b, se)} | {pct(r['med_plain'])} / {pct(r['max_plain'])} | {r['z_plain']:.1f} | "
              f"{pct(bc, sec)} | {pct(r['med_cv'])} / {pct(r['max_cv'])} | {r['z_cv']:.1f} |")
    out[f"bias_vs_K_{cfg.channels}"] = rows
    return rows


def cross_term(cfg, K, out, label):
    """The relative bias of E⟨A G(z), A G(z*)⟩ (the only approximate term) against the angle ∠(z, z*)."""
    zs = np.array(cfg.z_star)
    n = np.linalg.norm(zs)
    e1 = zs / n
    e2 = np.array([-e1[1], e1[0]])
    ang = np.array([0, 0.25, 0.5, 0.75, 1.0]) * math.pi
    pts = n * (np.cos(ang)[:, None] * e1 + np.sin(ang)[:, None] * e2)
    mc = monte_carlo_J(cfg, pts, K)
    ED, Je = expected_diagonal(cfg, pts), expected_J(cfg, pts)
    # C = D − J; its Monte Carlo mean with D as control variate (E D is exact): C̄ − β(D̄ − E D).
    C_cf = ED - Je
    var_C = mc.D_var + mc.std ** 2 - 2 * mc.JD_cov
    cov_CD = mc.D_var - mc.JD_cov
    beta = cov_CD / mc.D_var
    C_mc = (mc.D_mean - mc.mean) - beta * (mc.D_mean - ED)
    se = np.sqrt(np.clip(var_C - beta * cov_CD, 0, None) / K) / np.abs(C_mc)
    rel = C_cf / C_mc - 1
    out[f"cross_{label}"] = dict(angles=ang.tolist(), rel=rel.tolist(), se=se.tolist(), K=K)
    print(f"| {label} | " + " | ".join(f"{100 * r:+.2f} ± {100 * s:.2f} %" for r, s in zip(rel, se)) + " |")


def width_section(K, out):
    rows = []
    for f in (1, 2, 4):
        cfg = widen(from_preset("paper-fig4"), f)
        r = ray_monte_carlo(cfg, K, n_boot=0)
        bias = r.t_closed / r.t_min - 1          # = E_cf⟨G(−z*), G(z*)⟩ / E⟨G(−z*), G(z*)⟩ − 1 (‖G(−z*)‖² exact)
        se = r.t_min_se / r.t_min * r.t_closed / r.t_min
        rows.append((f, cfg.channels, r.t_min, r.t_min_se, bias, se))
        print(f"| ×{f} | {','.join(map(str, cfg.channels))} | {r.t_min:.4f} ± {r.t_min_se:.4f} | {r.t_closed:.4f} | "
              f"{pct(bias, se)} | {bias * cfg.channels[1]:.2f} |")
    out["width"] = rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    s = 10 if args.quick else 1
    out = {}
    print("## ray\n")
    print("| net | K | min of E_W[J(−t z*)] at t | closed form | ρ_d | ρ̂_ray (this net) | ρ̂_ray median | 5–95 % | "
          "25–75 % | none |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ray_section("paper-fig4", 20000 // s, out)
    ray_section("authors-code", 20000 // s, out)
    print("\n## critical points near −ρ_d z*\n")
    for name in ("paper-fig4", "authors-code"):
        rep = near_negative_critical(build_problem(from_preset(name), dtype="float64"))
        out[f"near_{name}"] = rep.summary
        print(f"- `{name}`: {rep.summary}")
    print("\n## cross term against the angle\n")
    print("| net | 0 | π/4 | π/2 | 3π/4 | π |")
    print("|---|---|---|---|---|---|")
    cross_term(from_preset("paper-fig4"), 20000 // s, out, "paper-fig4")
    print("\n## width\n")
    print("| width | channels | MC t | closed form t | cross-term bias at θ = π | bias × C1 |")
    print("|---|---|---|---|---|---|")
    width_section(20000 // s, out)
    print("\n## bias against K (paper-fig4, 21 × 21 grid, window z* ± 3)\n")
    print("| K | plain pooled | plain per point median / largest | plain median abs z | controlled pooled | "
          "controlled per point median / largest | controlled median abs z |")
    print("|---|---|---|---|---|---|---|")
    rows = bias_vs_K(from_preset("paper-fig4"), [k // s for k in (100, 1000, 10000, 20000)], 21, out)
    r = rows[-1]
    print(f"\nK needed for a 1 % bias (3 SE, 90 % power): plain pooled {r['need']}, controlled pooled {r['need_cv']}, "
          f"plain per point (median) {r['need_point']:.0f}; per-net cv of the grid total: plain {r['cv']:.3f}, "
          f"controlled {r['cv_cv']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=float)


if __name__ == "__main__":
    main()
