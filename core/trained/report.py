"""The README's tables for the trained generators, written as Markdown under ``docs/``.

    python -m core.trained.report inversion --generator mnist --trials 100   # docs/inversion_table.md
    python -m core.trained.report weights                                   # docs/weight_stats.md

``inversion`` runs :func:`core.trained.invert.run_trials` for every mask, in range (x = G(z*, c))
and out of range (real test images), and also writes the raw numbers as JSON beside the table and
a Fig. 5-style sheet ``docs/<generator>_inpainting.png``.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np
import torch

from .dcgan import GENERATORS, dataset_of, shipped_generator
from .idx import DEFAULT_DATA, PROJECT_ROOT
from .invert import InvertConfig, generator_in, operator, run_trials
from .png import image_grid, to_uint8, write_png
from .stats import weight_stats

MASKS = ("random", "top", "bottom", "left", "right", "border", "center", "strip", "gaussian", "identity")
DOCS = PROJECT_ROOT / "docs"


def _fmt(x, spec):
    return "—" if x is None or not np.isfinite(x) else format(x, spec)


def inversion_rows(generator: str, trials: int, masks=MASKS, rate: float = 0.5, restarts: int = 4, steps: int = 500,
                   data=None, log=print) -> tuple[list[dict], dict]:
    """One summary row per (target, mask), and a few examples per mask for the sheet."""
    rows, examples = [], {}
    for target in ("latent", "real"):
        for mask in masks:
            if target == "real" and mask in ("identity", "gaussian"):
                continue   # no hidden pixels to score
            cfg = InvertConfig(generator=generator, target=target, mask=mask, rate=rate, trials=trials,
                               restarts=restarts, steps=steps, seed=0)
            t0 = time.perf_counter()
            r = run_trials(cfg, data=data)
            op = operator(mask, rate, 0)
            row = {"generator": generator, "target": target, "mask": mask, "rate": op.rate, "trials": trials,
                   "restarts": restarts, "steps": steps, "seconds": round(time.perf_counter() - t0, 1),
                   "success_rate": r.success_rate if target == "latent" else None,
                   "median_latent_error": float(np.median(r.latent_error)) if target == "latent" else None,
                   "within_1e-2": float(np.mean(r.latent_error <= 1e-2)) if target == "latent" else None,
                   "beyond_0.1": float(np.mean(r.latent_error > 0.1)) if target == "latent" else None,
                   "median_psnr": float(np.median(r.psnr)), "median_psnr_hidden": float(np.nanmedian(r.psnr_hidden))
                   if np.isfinite(r.psnr_hidden).any() else None,
                   "median_baseline_psnr_hidden": float(np.nanmedian(r.baseline_psnr_hidden)) if target == "real" else None,
                   "median_class_baseline_psnr_hidden": float(np.nanmedian(r.class_baseline_psnr_hidden)) if target == "real" else None,
                   "median_J": float(np.median(r.J_hat)), "median_iterations": float(np.median(r.iterations))}
            if target == "real":
                row["fraction_beating_mean_baseline"] = float(np.mean(r.psnr_hidden > r.baseline_psnr_hidden))
            rows.append(row)
            log(json.dumps(row))
            examples[(target, mask)] = (r, op)
    return rows, examples


def inversion_markdown(rows: list[dict]) -> str:
    g = rows[0]["generator"]
    r0 = rows[0]
    out = [f"### Inversion of the shipped {g} generator (Fig. 5)", "",
           f"Adam, learning rate 0.1, {r0['steps']} iterations, {r0['restarts']} random starts N(0, I) per draw "
           f"(the lowest final J is kept), class known, generator in eval mode, float32; a draw stops early once a "
           f"restart reaches J ≤ 1e-10. {r0['trials']} draws per mask, one fixed mask per row, requested rate 0.5 "
           "(the r column is the true m/n). PSNR on the [0, 1] pixel scale, capped at 100 dB.", "",
           "**In range**: x = G(z*, c), z* ~ N(0, I), c uniform. Success: ‖ẑ − z*‖ ≤ 1e-3 ‖z*‖. The next two "
           "columns split the rest: still converging (≤ 1e-2 ‖z*‖) versus elsewhere (> 0.1 ‖z*‖).", "",
           "| mask | r | success (≤ 1e-3) | ≤ 1e-2 | > 0.1 | median ‖ẑ − z*‖/‖z*‖ | median PSNR (dB) | median final J | median iterations |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if r["target"] == "latent":
            out.append(f"| {r['mask']} | {r['rate']:.3f} | {r['success_rate']:.2f} | {r['within_1e-2']:.2f} | "
                       f"{r['beyond_0.1']:.2f} | {r['median_latent_error']:.1e} | "
                       f"{r['median_psnr']:.1f} | {r['median_J']:.1e} | {r['median_iterations']:.0f} |")
    out += ["", "**Out of range**: real test images (no latent code reproduces them). ẑ fits the observed pixels; "
            "scores are on the hidden pixels only. Baselines fill the hidden pixels with the mean training image, "
            "or with the mean training image of the true class.", "",
            "| mask | r | PSNR hidden, G(ẑ) | mean image | class-mean image | G(ẑ) beats mean image | PSNR whole image, G(ẑ) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if r["target"] == "real":
            out.append(f"| {r['mask']} | {r['rate']:.3f} | {_fmt(r['median_psnr_hidden'], '.1f')} | "
                       f"{_fmt(r['median_baseline_psnr_hidden'], '.1f')} | {_fmt(r['median_class_baseline_psnr_hidden'], '.1f')} | "
                       f"{r['fraction_beating_mean_baseline']:.2f} | {r['median_psnr']:.1f} |")
    out.append("")
    masks = list(dict.fromkeys(r["mask"] for r in rows))
    flag = "" if tuple(masks) == MASKS else f" --masks {','.join(masks)}"
    out.append("Values are medians over the draws. The sheet `docs/" + g + "_inpainting.png` shows the first three "
               "draws of every row of both tables, in order (truth | measured, grey = hidden | reconstruction). "
               f"Reproduce with `python -m core.trained.report inversion --generator {g} --trials {r0['trials']}{flag}`, "
               f"or one row with `python -m core invert --generator {g} --mask top --trials {r0['trials']} --out f.npz` "
               "(add `--target real` for the second table).")
    return "\n".join(out) + "\n"


def inpainting_sheet(examples: dict, n: int = 3, data=None) -> np.ndarray:
    """uint8 sheet: for each (target, mask) a row of n × (truth | measured | reconstruction)."""
    from .idx import load_split, to_32
    tiles, test_images = [], {}
    for (target, mask), (r, op) in examples.items():
        G = generator_in(r.config.generator, "float64")
        hidden = None if op.mask is None else ~op.mask.numpy()[0]
        c = torch.as_tensor(r.labels[:n])
        with torch.no_grad():
            x_hat = G(torch.as_tensor(r.z_hat[:n]), c)[:, 0].numpy()
            if target == "latent":
                x = G(torch.as_tensor(r.z_star[:n]), c)[:, 0].numpy()
            else:
                if r.config.generator not in test_images:
                    test_images[r.config.generator] = load_split(data, dataset_of(r.config.generator), "test")[0]
                x = to_32(test_images[r.config.generator][r.test_index[:n]])[:, 0].double().numpy()
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.trained.report", description=__doc__.split("\n")[0])
    p.add_argument("what", choices=("inversion", "weights"))
    p.add_argument("--generator", default="mnist", choices=GENERATORS)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--masks", default=",".join(MASKS))
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--docs", default=str(DOCS))
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    docs = pathlib.Path(a.docs)
    docs.mkdir(parents=True, exist_ok=True)
    if a.what == "weights":
        (docs / "weight_stats.md").write_text(weights_markdown())
        print((docs / "weight_stats.md").read_text())
        return 0
    rows, examples = inversion_rows(a.generator, a.trials, tuple(a.masks.split(",")), data=a.data)
    suffix = "" if a.generator == "mnist" else f"_{a.generator}"
    (docs / f"inversion_table{suffix}.md").write_text(inversion_markdown(rows))
    (docs / f"inversion_table{suffix}.json").write_text(json.dumps(rows, indent=1) + "\n")
    write_png(docs / f"{a.generator}_inpainting.png", inpainting_sheet(examples, data=a.data))
    print(inversion_markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
