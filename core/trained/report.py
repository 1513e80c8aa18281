"""The README's tables for the trained generators, written as Markdown under ``docs/``.

    python -m core.trained.report inversion --generator mnist --trials 100   # docs/inversion_table.md
    python -m core.trained.report weights                                   # docs/weight_stats.md

``inversion`` runs :func:`core.inversion.run_inversion` for every mask, with the default solver
and with the paper's recipe (Adam, 500 iterations), in range (x = G(z*, c)) and out of range
(real test images), and also writes the raw numbers (every miss with its diagnosis) as JSON beside
the table and a Fig. 5-style sheet ``docs/<generator>_inpainting.png``.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
import pathlib
import sys
import time

import numpy as np
import torch

from ..config import PRESETS, Config
from ..diagnosis import CONTINUE_ROUNDS
from ..inversion import InvertSpec, run_inversion
from .dcgan import GENERATORS, dataset_of, shipped_generator
from .idx import DEFAULT_DATA, PROJECT_ROOT
from .png import image_grid, to_uint8, write_png
from .stats import weight_stats

MASKS = ("random", "top", "bottom", "left", "right", "border", "center", "strip", "gaussian", "identity")
DOCS = PROJECT_ROOT / "docs"


def _fmt(x, spec):
    return "—" if x is None or not np.isfinite(x) else format(x, spec)


FIG5_MASKS = ("random", "top", "bottom", "left", "right", "border", "center")


@dataclass(frozen=True)
class SolverRow:
    """One solver's rows of the table: which solver, how many draws and restarts, on which masks."""

    method: str
    steps: int
    dtype: str
    trials: int | None = None      # None: the table's --trials
    restarts: int | None = None    # None: the table's restarts
    masks: tuple | None = None     # None: every mask of the table
    extra_budgets: int | None = None   # None: a draw still converging gets CONTINUE_ROUNDS more budgets


def solver_rows(paper_trials: int = 50, paper_masks=FIG5_MASKS) -> tuple:
    """The default solver on every mask, then the paper's recipe (Adam, lr 0.1, 500 iterations, one start,
    no extra budgets: the column shows what that fixed budget reaches).

    The paper's recipe costs ~4× the default per draw (it never fits to ftol, so every restart would
    run its 500 steps): it gets one start per draw and ``paper_trials`` draws on ``paper_masks``.
    """
    return (SolverRow("lbfgs", 500, "float32"),
            SolverRow("adam", 500, "float32", trials=paper_trials, restarts=1, masks=tuple(paper_masks),
                      extra_budgets=0))


def inversion_rows(generator: str, trials: int, masks=MASKS, rate: float = 0.5, restarts: int = 4,
                   solvers=None, data=None, log=print, targets=("latent", "real")) -> tuple[list[dict], dict]:
    """One summary row per (target, mask, solver), and the default solver's results per mask for the sheet."""
    solvers = solver_rows() if solvers is None else solvers
    rows, examples = [], {}
    for target in targets:
        for mask in masks:
            if target == "real" and mask in ("identity", "gaussian"):
                continue   # no hidden pixels to score
            for k, sr in enumerate(solvers if target == "latent" else solvers[:1]):
                if sr.masks is not None and mask not in sr.masks:
                    continue
                method, steps, dtype = sr.method, sr.steps, sr.dtype
                n_trials = sr.trials or trials
                n_restarts = sr.restarts or restarts
                cfg = Config(generator=generator, mask=mask, rate=rate, method=method, steps=steps, dtype=dtype)
                spec = InvertSpec(config=cfg, trials=n_trials, restarts=n_restarts, target=target,
                                  extra_budgets=sr.extra_budgets)
                r = run_inversion(spec, data=data)
                counts = r.diagnosis.counts
                row = {"generator": generator, "target": target, "mask": mask, "rate": r.rate, "trials": n_trials,
                       "restarts": n_restarts, "method": method, "steps": steps, "dtype": dtype,
                       "seconds": round(r.seconds, 1), **{f"n_{lab}": n for lab, n in counts.items()},
                       "refined": int(r.refined.sum()),
                       "success_rate": r.success_rate if target == "latent" else None,
                       "median_latent_error": float(np.median(r.latent_error)) if target == "latent" else None,
                       "median_psnr": float(np.median(r.psnr)),
                       "median_psnr_hidden": float(np.nanmedian(r.psnr_hidden)) if np.isfinite(r.psnr_hidden).any() else None,
                       "median_baseline_psnr_hidden": float(np.nanmedian(r.baseline_psnr_hidden)) if target == "real" else None,
                       "median_class_baseline_psnr_hidden": float(np.nanmedian(r.class_baseline_psnr_hidden)) if target == "real" else None,
                       "median_J": float(np.median(r.J_hat)), "median_iterations": float(np.median(r.iterations)),
                       "median_sigma_min": float(np.median(r.sigma_min)) if target == "latent" else None,
                       "median_cond": float(np.median(r.cond)) if target == "latent" else None}
                if target == "real":
                    row["fraction_beating_mean_baseline"] = float(np.mean(r.psnr_hidden > r.baseline_psnr_hidden))
                else:
                    miss = r.diagnosis.label != "recovered"
                    row["misses"] = [{"label": str(r.diagnosis.label[i]), "class": int(r.labels[i]),
                                      "error": float(r.latent_error[i]), "J": float(r.J_hat[i]),
                                      "log_slope": float(r.diagnosis.log_slope[i]), "stop": str(r.stop[i])}
                                     for i in np.nonzero(miss)[0][:20]]
                rows.append(row)
                log(json.dumps({k: v for k, v in row.items() if k != "misses"}))
                if k == 0:
                    examples[(target, mask)] = r
    return rows, examples


def inversion_markdown(rows: list[dict]) -> str:
    g = rows[0]["generator"]
    r0 = rows[0]
    out = [f"### Inversion of the shipped {g} generator (Fig. 5)", "",
           "One fixed mask per row, requested rate 0.5 (r is the true m/n), class known, generator in eval mode. "
           f"`lbfgs` (the default): {r0['trials']} draws per mask, up to {r0['restarts']} random starts N(0, I) per "
           "draw, each tried only if the previous one did not fit (J ≤ ftol·½‖y‖²), 500 iterations per start; "
           "L-BFGS with a strong-Wolfe line search in float32, misses continued in float64 from their end point "
           f"and judged there, a draw still converging at the end given up to {CONTINUE_ROUNDS} more budgets. `adam` (the paper's "
           "recipe): Adam, learning rate 0.1, exactly 500 iterations (no extra budgets), float32, one "
           "start per draw (the draws column says how many). Every miss is "
           "counted by its diagnosis (core.diagnosis): other fit = another code with the same measurements, "
           "critical = a spurious critical point, unconverged = J still falling when the budget ran out. PSNR on "
           "the [0, 1] pixel scale, capped at 100 dB. σ_min and cond: the masked Jacobian A ∂G/∂z at z*.", "",
           "**In range**: x = G(z*, c), z* ~ N(0, I), c uniform. Success: ‖ẑ − z*‖ ≤ 1e-3 ‖z*‖.", "",
           "| mask | r | solver | draws | recovered | other fit | critical | unconverged | diverged | median ‖ẑ − z*‖/‖z*‖ | "
           "median PSNR (dB) | median iterations | median σ_min | median cond | seconds |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if r["target"] == "latent":
            out.append(f"| {r['mask']} | {r['rate']:.3f} | {r['method']} {r['steps']} | {r['trials']} | {r['success_rate']:.2f} | "
                       f"{r.get('n_other_fit', 0)} | {r.get('n_critical', 0)} | {r.get('n_unconverged', 0)} | "
                       f"{r.get('n_diverged', 0)} | {r['median_latent_error']:.1e} | {r['median_psnr']:.1f} | "
                       f"{r['median_iterations']:.0f} | {_fmt(r['median_sigma_min'], '.3f')} | {_fmt(r['median_cond'], '.0f')} | "
                       f"{r['seconds']:.1f} |")
    real = [r for r in rows if r["target"] == "real"]
    if real:
        out += ["", "**Out of range**: real test images (no latent code reproduces them), default solver. ẑ fits the "
                "observed pixels; scores are on the hidden pixels only. Baselines fill the hidden pixels with the mean "
                "training image, or with the mean training image of the true class.", "",
                "| mask | r | draws | PSNR hidden, G(ẑ) | mean image | class-mean image | G(ẑ) beats mean image | PSNR whole image, G(ẑ) |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rows:
            if r["target"] == "real":
                out.append(f"| {r['mask']} | {r['rate']:.3f} | {r['trials']} | {_fmt(r['median_psnr_hidden'], '.1f')} | "
                           f"{_fmt(r['median_baseline_psnr_hidden'], '.1f')} | {_fmt(r['median_class_baseline_psnr_hidden'], '.1f')} | "
                           f"{r['fraction_beating_mean_baseline']:.2f} | {r['median_psnr']:.1f} |")
    else:
        out += ["", "**Out of range** (real test images): not in this table (run with `--targets latent,real`)."]
    out.append("")
    masks = list(dict.fromkeys(r["mask"] for r in rows))
    flag = "" if tuple(masks) == MASKS else f" --masks {','.join(masks)}"
    paper = [r for r in rows if r["method"] == "adam"]
    if paper:
        pm = list(dict.fromkeys(r["mask"] for r in paper))
        flag += f" --paper-trials {paper[0]['trials']}" + ("" if tuple(pm) == FIG5_MASKS else f" --paper-masks {','.join(pm)}")
    if not real:
        flag += " --targets latent"
    out.append("Values are medians over the draws. The seconds column is the wall time of the batched solve on the "
               "machine that wrote the table, whatever else ran there (`benchmarks/solvers.py` times the default "
               "solver idle and beside one busy process). Each draw has seeds of its own, so the `adam` rows' draws "
               "are the first of the `lbfgs` rows'. The sheet `docs/" + g + "_inpainting.png` shows the first three "
               "draws of every row of both tables with the default solver (truth | measured, grey = hidden | "
               f"reconstruction). Reproduce with `python -m core.trained.report inversion --generator {g} "
               f"--trials {r0['trials']}{flag}`, or one row with `python -m core invert --generator {g} --mask top "
               f"--trials {r0['trials']} --out f.npz` (add `--method adam --restarts 1 --extra-budgets 0` for the paper's recipe, `--target real` "
               "for the second table).")
    return "\n".join(out) + "\n"


def inpainting_sheet(examples: dict, n: int = 3, data=None) -> np.ndarray:
    """uint8 sheet: for each (target, mask) a row of n × (truth | measured | reconstruction)."""
    from ..generators import build_generator
    from ..masks import make_operator
    from .idx import load_split, to_32
    tiles, test_images = [], {}
    for (target, mask), r in examples.items():
        cfg = r.spec.config
        G = build_generator(cfg.replace(dtype="float64"), dtype=torch.float64)
        op = make_operator(mask, (1, 32, 32), rate=cfg.rate, seed=cfg.mask_seed)
        hidden = None if op.mask is None else ~op.mask.numpy()[0]
        c = torch.as_tensor(r.labels[:n])
        with torch.no_grad():
            x_hat = G(torch.as_tensor(r.z_hat[:n]), c)[:, 0].numpy()
            if target == "latent":
                x = G(torch.as_tensor(r.z_star[:n]), c)[:, 0].numpy()
            else:
                if cfg.generator not in test_images:
                    test_images[cfg.generator] = load_split(data, dataset_of(cfg.generator), "test")[0]
                x = to_32(test_images[cfg.generator][r.test_index[:n]])[:, 0].double().numpy()
        for t in range(n):
            meas = to_uint8(x[t])
            meas = np.full_like(meas, 100) if hidden is None else np.where(hidden, 100, meas)   # grey: unobserved
            tiles += [to_uint8(x[t]), meas, to_uint8(x_hat[t])]
    return image_grid(np.stack(tiles), ncol=3 * n, scale=2)


def weights_markdown() -> str:
    out = ["### Trained generator weights (Fig. 3)", "",
           "Per layer: a zero-mean Gaussian N(0, σ²) fitted by maximum likelihood (σ² = mean w²), the "
           "Kolmogorov–Smirnov distance D = sup |F_n(w) − Φ(w/σ)|, the 5% critical value 1.358/√n that a true "
           "Gaussian sample of that size would stay under, and the excess kurtosis (0 for a Gaussian). "
           "`mnist` and `fashion` are the paper's plain conditional DCGAN; `mnist-info` and `fashion-info` were "
           "trained with InfoGAN's latent regression added (weight 1; see `core/trained/train.py`).", "",
           "| generator | layer | shape | n | mean | σ | KS distance | 5% crit. | excess kurtosis |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for g in GENERATORS:
        for s in weight_stats(shipped_generator(g)):
            out.append(f"| {g} | {s.name} | {'×'.join(map(str, s.shape))} | {s.n} | {s.mean:.1e} | {s.sigma:.4f} | "
                       f"{s.ks:.4f} | {s.ks_crit_05:.4f} | {s.excess_kurtosis:.2f} |")
    out += ["", "Reproduce with `python -m core.trained.report weights`; the dashboard's weights page draws the histograms."]
    return "\n".join(out) + "\n"


PHASE_PATTERNS = ("random", "top", "bottom", "left", "right", "border", "center")
PHASE_RATES = (0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.5)
# (name, config overrides): the two trained generators and a random net with a 10-D latent and a 64 × 64
# output, on which one ring of border pixels is 6 % of the image (on paper-fig4's 17 × 17 it is already 22 %).
PHASE_NETS = (("mnist", dict(generator="mnist")), ("fashion", dict(generator="fashion")),
              ("conv64", dict(channels=(10, 32, 16, 1), kernel=(4,), stride=(4,), weight_std="paper")))
PHASE_NOISE = (("noiseless", "none", 1e-3), ("8-bit", "quantize:8", 0.05))


def phase_rows(trials: int = 20, restarts: int = 4, nets=PHASE_NETS, noises=PHASE_NOISE, patterns=PHASE_PATTERNS,
               rates=PHASE_RATES, steps: int = 500, log=print) -> list[dict]:
    """The phase transition in r for every (net, noise, pattern): p(r), r50 against the true m/n, its interval."""
    from ..phase import PhaseSpec, phase_transition

    rows = []
    for name, over in nets:
        for noise_name, noise, tol in noises:
            cfg = Config(**over, noise=noise, tol=tol, steps=steps)
            spec = PhaseSpec(config=cfg, patterns=patterns, rates=rates, trials=trials, restarts=restarts)
            res = phase_transition(spec)
            for i, p in enumerate(res.patterns):
                labels, counts = np.unique(res.diagnosis[i], return_counts=True)
                row = {"net": name, "noise": noise_name, "tol": tol, "pattern": str(p), "rates": list(rates),
                       "actual_rate": res.actual_rate[i].tolist(), "p_success": res.p_success[i].tolist(),
                       "r50": float(res.r50_actual[i]), "r50_requested": float(res.r50[i]),
                       "r50_low": float(res.r50_low[i]), "r50_high": float(res.r50_high[i]),
                       "diagnosis": {str(k): int(v) for k, v in zip(labels, counts)},
                       "flat": int(((res.diagnosis[i] == "unconverged") & res.flat[i]).sum()),
                       "seconds": round(res.seconds, 1),
                       "trials": trials, "restarts": restarts, "steps": steps, "continued": CONTINUE_ROUNDS}
                rows.append(row)
                log(json.dumps(row))
    return rows


def merge_phase_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """``new`` and the rows of ``old`` whose (net, noise, pattern) ``new`` does not have, in
    :data:`PHASE_NETS`, :data:`PHASE_NOISE` and :data:`PHASE_PATTERNS` order (a pattern's trials are
    batched apart from the other patterns', so a row run again alone is the row of a whole run)."""
    fresh = {(r["net"], r["noise"], r["pattern"]) for r in new}
    rows = [r for r in old if (r["net"], r["noise"], r["pattern"]) not in fresh] + list(new)
    order = {n: k for k, (n, _) in enumerate(PHASE_NETS)}
    noise = {n: k for k, (n, _, _) in enumerate(PHASE_NOISE)}
    pattern = {n: k for k, n in enumerate(PHASE_PATTERNS)}
    return sorted(rows, key=lambda r: (order.get(r["net"], len(order)), noise.get(r["noise"], len(noise)),
                                       pattern.get(r["pattern"], len(pattern))))


def _continued(rows: list[dict]) -> str:
    """The table's note on which columns gave trials still converging more budgets (core.phase)."""
    with_ = list(dict.fromkeys(f"{r['net']} {r['noise']}" for r in rows if r.get("continued")))
    without = list(dict.fromkeys(f"{r['net']} {r['noise']}" for r in rows if not r.get("continued")))
    if not with_:
        return ""
    rounds = max(r["continued"] for r in rows if r.get("continued"))
    text = f" A trial still converging when its budget ran out got up to {rounds} more budgets"
    text += f" in {', '.join(with_)}; the other columns were run before that." if without else "."
    # core.diagnosis.continue_unconverged: the hand-off changes only trials still converging after the
    # L-BFGS rounds, so a row that has none is the same with or without it.
    return text + (f" L-BFGS trials still converging after those got up to {rounds} Gauss–Newton rounds of "
                   "steps ÷ (n0 + 1) iterations (one budget's work), and a trial stopped short of its budget "
                   "went on from the diagnosis's probe's lowest point.")


def _unconverged(rows: list[dict]) -> str:
    """The table's note on the trials still ``unconverged``, and how many of them lie in a valley of J
    flat to the precision (core.diagnosis.Diagnosis.flat; rows run before it was judged say nothing)."""
    cells = [r for r in rows if r.get("diagnosis", {}).get("unconverged")]
    if not cells:
        return ""
    parts = []
    for r in cells:
        n = r["diagnosis"]["unconverged"]
        flat = f", {r['flat']} of them in a flat valley" if "flat" in r else ""
        parts.append(f"{r['net']} {r['noise']} {r['pattern']}: {n}{flat}")
    return (" Trials still unconverged after all that: " + "; ".join(parts) + " (a flat valley: a move of "
            "tol·‖z*‖ along A∂G/∂z's weakest direction changes J by less than the fit test resolves, so the "
            "observed pixels do not fix z there).")


def phase_markdown(rows: list[dict]) -> str:
    def cell(r):
        if np.isfinite(r["r50"]):
            return f"{r['r50']:.3f}"
        if np.isfinite(r["r50_high"]):
            lo = "0" if not np.isfinite(r["r50_low"]) else f"{_true(r, r['r50_low']):.3f}"
            return f"({lo}, {_true(r, r['r50_high']):.3f}]"
        return f"> {max(r['actual_rate']):.2f}"

    nets = list(dict.fromkeys((r["net"], r["noise"]) for r in rows))
    r0 = rows[0]
    out = [f"r50 against the true rate m/n per pattern: {r0.get('trials', '?')} trials per (pattern, rate), each a fresh "
           f"z* (and random mask), L-BFGS with up to {r0.get('restarts', '?')} restarts of {r0.get('steps', '?')} "
           "iterations until a fit; success = ‖ẑ − z*‖ ≤ tol‖z*‖ (tol 1e-3 noiseless, 0.05 with 8-bit y). "
           "(a, b]: the success rate jumps past ½ between two tested rates; > x: never reached ½." + _continued(rows)
           + _unconverged(rows), "",
           "| pattern | " + " | ".join(f"{n} {z}" for n, z in nets) + " |", "| --- |" + " --- |" * len(nets)]
    for p in dict.fromkeys(r["pattern"] for r in rows):
        cells = [cell(next(r for r in rows if r["pattern"] == p and (r["net"], r["noise"]) == k)) for k in nets]
        out.append(f"| {p} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


NOISE_LEVELS = ("gaussian:0.001", "gaussian:0.01", "gaussian:0.1", "quantize:8", "quantize:4")
NOISE_NETS = (("paper-fig4", dict(PRESETS["paper-fig4"], z_star=())), ("mnist", dict(generator="mnist")))


def noise_rows(trials: int = 50, nets=NOISE_NETS, levels=NOISE_LEVELS, log=print) -> list[dict]:
    """Latent error against the noise level, beside the linearised Cramér–Rao reference, per net."""
    rows = []
    for name, over in nets:
        for noise in levels:
            r = run_inversion(InvertSpec(Config(**over, noise=noise, dtype="float64"), trials=trials))
            zn = np.linalg.norm(r.z_star, axis=1)
            err, crb = r.latent_error * zn, r.crb_rel * zn
            row = {"net": name, "noise": noise, "trials": trials, "median_rel_error": float(np.median(r.latent_error)),
                   "median_crb_rel": float(np.median(r.crb_rel)),
                   "rms_error_over_rms_crb": float(np.sqrt(np.mean(err ** 2) / max(np.mean(crb ** 2), 1e-300))),
                   "diagnosis": r.diagnosis.counts, "seconds": round(r.seconds, 1)}
            rows.append(row)
            log(json.dumps(row))
    return rows


def noise_markdown(rows: list[dict]) -> str:
    out = ["| net | noise | median ‖ẑ − z*‖/‖z*‖ | median CRB reference | rms error / rms CRB | far from z* (critical, other fit) |",
           "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        d = r["diagnosis"]
        out.append(f"| {r['net']} | {r['noise']} | {r['median_rel_error']:.2e} | {r['median_crb_rel']:.2e} | "
                   f"{r['rms_error_over_rms_crb']:.2f} | {d.get('critical', 0)}, {d.get('other_fit', 0)} |")
    return "\n".join(out) + "\n"


def _true(row, requested):
    """The true m/n of the mask at a requested rate of the row."""
    return row["actual_rate"][row["rates"].index(requested)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.trained.report", description=__doc__.split("\n")[0])
    p.add_argument("what", choices=("inversion", "weights", "phase", "noise"))
    p.add_argument("--generator", default="mnist", choices=GENERATORS)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--masks", default=",".join(MASKS))
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--docs", default=str(DOCS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--paper-trials", type=int, default=50, help="draws of the paper's recipe (Adam) rows")
    p.add_argument("--paper-masks", default=",".join(FIG5_MASKS), help="masks of the paper's recipe (Adam) rows")
    p.add_argument("--restarts", type=int, default=4, help="restarts per draw (inversion: the default solver; phase)")
    p.add_argument("--steps", type=int, default=500, help="solver iterations per start (phase)")
    p.add_argument("--rates", default=",".join(map(str, PHASE_RATES)), help="requested rates (phase)")
    p.add_argument("--targets", default="latent,real", help="inversion: in range (latent), real test images (real)")
    p.add_argument("--from-log", default="", help="inversion: rebuild the table from the JSON rows of earlier runs' logs "
                   "(comma-separated files; the sheet is not redrawn)")
    p.add_argument("--nets", default=",".join(n for n, _ in PHASE_NETS), help="generators of the phase table")
    p.add_argument("--merge", action="store_true", help="phase: keep the table's rows not run this time")
    p.add_argument("--noises", default=",".join(n for n, _, _ in PHASE_NOISE), help="phase: the noise columns to run")
    p.add_argument("--patterns", default=",".join(PHASE_PATTERNS), help="phase: the masks to run")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    docs = pathlib.Path(a.docs)
    docs.mkdir(parents=True, exist_ok=True)
    if a.what == "weights":
        (docs / "weight_stats.md").write_text(weights_markdown())
        print((docs / "weight_stats.md").read_text())
        return 0
    if a.what == "noise":
        rows = noise_rows(trials=min(a.trials, 50))
        (docs / "noise_table.json").write_text(json.dumps(rows, indent=1) + "\n")
        (docs / "noise_table.md").write_text(noise_markdown(rows))
        print(noise_markdown(rows))
        return 0
    if a.what == "phase":
        nets = tuple(n for n in PHASE_NETS if n[0] in a.nets.split(","))
        noises = tuple(n for n in PHASE_NOISE if n[0] in a.noises.split(","))
        patterns = tuple(p for p in PHASE_PATTERNS if p in a.patterns.split(","))
        if not (nets and noises and patterns):
            p.error("--nets, --noises and --patterns must each name at least one of the table's")
        rows = phase_rows(trials=a.trials, restarts=a.restarts, steps=a.steps, nets=nets, noises=noises,
                          patterns=patterns, rates=tuple(float(r) for r in a.rates.split(",")))
        if a.merge and (docs / "phase_table.json").is_file():
            rows = merge_phase_rows(json.loads((docs / "phase_table.json").read_text()), rows)
        (docs / "phase_table.json").write_text(json.dumps(rows, indent=1) + "\n")
        (docs / "phase_table.md").write_text(phase_markdown(rows))
        print(phase_markdown(rows))
        return 0
    suffix = "" if a.generator == "mnist" else f"_{a.generator}"
    if a.from_log:
        rows = [json.loads(line) for f in a.from_log.split(",") for line in open(f) if line.startswith("{")]
        order = {(t, m): k for k, (t, m) in enumerate((t, m) for t in ("latent", "real") for m in MASKS)}
        rows.sort(key=lambda r: (order[(r["target"], r["mask"])], r["method"] != "lbfgs"))
        (docs / f"inversion_table{suffix}.md").write_text(inversion_markdown(rows))
        (docs / f"inversion_table{suffix}.json").write_text(json.dumps(rows, indent=1) + "\n")
        print(inversion_markdown(rows))
        return 0
    solvers = solver_rows(a.paper_trials, tuple(a.paper_masks.split(",")))
    rows, examples = inversion_rows(a.generator, a.trials, tuple(a.masks.split(",")), restarts=a.restarts,
                                    solvers=solvers, data=a.data, targets=tuple(a.targets.split(",")))
    (docs / f"inversion_table{suffix}.md").write_text(inversion_markdown(rows))
    (docs / f"inversion_table{suffix}.json").write_text(json.dumps(rows, indent=1) + "\n")
    write_png(docs / f"{a.generator}_inpainting.png", inpainting_sheet(examples, data=a.data))
    print(inversion_markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
