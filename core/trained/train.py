"""Train the conditional DCGAN on MNIST or Fashion-MNIST (CPU, seeded) and ship its generator.

    python -m core.trained.train --data ../shared/data --dataset mnist --out assets/ --steps 5000 --seed 0
    python -m core.trained.train --dataset mnist --name mnist-info --info-weight 1 --steps 5000

Writes ``<out>/<name>_generator.pt`` (float32 state dict), ``<out>/<name>_generator.json`` (the
model card: architecture, data, seed, steps, time, losses, the SHA-256 of the weights file, the
commit and SHA-256 of this script, and, when ``<out>/<dataset>_classifier.pt`` exists, the
classifier's verdict on generated samples) and ``docs/<name>_samples.png`` (one row per class).
``--name`` defaults to the dataset.

Training is the paper's recipe, the standard conditional DCGAN (Radford et al. 2016):
Adam(2e-4, β1 = 0.5), batch 64, non-saturating BCE losses, one-sided label smoothing (real target
0.9). As an option, ``--info-weight λ`` (> 0) adds InfoGAN's latent regression (Chen et al. 2016):
a head ``q`` on the discriminator's features estimates ``z`` from ``G(z, c)`` and both ``G`` and
``q`` minimise ``λ · mean (q − z)²``, which asks G to keep every latent direction visible in the
image. The shipped ``mnist-info`` and ``fashion-info`` generators were trained with λ = 1.
Why the option exists: an early plain generator left one latent direction nearly flat for the
digit 1 (condition number of ``∂(A G)/∂z`` about 50) and 500 Adam steps recovered only ~82 % of
z* on a random 50 % mask; that was a budget-limited measurement — a plain DCGAN was later measured
to invert 30/30 draws with L-BFGS — so the plain recipe is the default and the InfoGAN variants are
kept for comparison. With λ = 0 the Q head is still evaluated (its loss is logged) but trains
nothing, so every random draw is the same as with λ > 0. Afterwards the batch-norm running
statistics are recomputed as exact averages over fresh samples (``momentum=None``), so the
generator in eval mode — the fixed function the inversion works with — draws like the trained one.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import pathlib
import re
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import idx
from .classifier import generated_accuracy, load_classifier
from .dcgan import ASSETS, N_CLASSES, N_LATENT, Discriminator, Generator, init_weights
from .png import image_grid, to_uint8, write_png

__all__ = ["TrainConfig", "TrainResult", "train_gan", "calibrate_batchnorm", "sample_sheet", "script_commit",
           "file_sha256"]


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "mnist"
    seed: int = 0
    steps: int = 3000         # generator updates (one discriminator update each)
    minutes: float = 0.0      # wall-clock cap; 0: none (a capped run is no longer reproducible)
    batch_size: int = 64
    lr: float = 2e-4          # Adam, both networks
    beta1: float = 0.5
    width: int = 32           # G widths 4w/2w/w
    real_label: float = 0.9   # one-sided label smoothing
    n_train: int = 0          # 0: all 60000 training images; else the first n_train
    calib_batches: int = 20   # batches of 500 for the batch-norm statistics
    info_weight: float = 0.0  # λ of InfoGAN's latent regression λ·mean (q(G(z,c)) − z)²; 0: plain DCGAN (the paper)

    def __post_init__(self):
        if self.dataset not in idx.DATASETS:
            raise ValueError(f"dataset: must be one of {', '.join(idx.DATASETS)}, got {self.dataset!r}")
        for name in ("steps", "batch_size", "width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class TrainResult:
    """``G`` (eval mode, calibrated), ``D``, per-step losses, steps done and wall time."""

    G: Generator
    D: Discriminator
    loss_D: np.ndarray     # (steps,)
    loss_G: np.ndarray     # (steps,) GAN part only
    loss_Q: np.ndarray     # (steps,) latent regression mean (q − z)², as seen in the generator step
    steps: int
    seconds: float


def train_gan(x: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig, log=None) -> TrainResult:
    """Train ``G`` and ``D`` on images ``x`` (N, 1, 32, 32) in [−1, 1] with ``labels`` (N,).

    Every random draw (initialisation, shuffling, latent codes, classes) comes from one
    ``torch.Generator`` seeded with ``cfg.seed``, so a run is reproducible for a given thread count.
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    G, D = Generator(cfg.width), Discriminator(cfg.width)
    init_weights(G, gen)
    init_weights(D, gen)
    opt_G = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    bce = nn.BCEWithLogitsLoss()
    B = cfg.batch_size
    real_t = torch.full((B,), cfg.real_label)
    fake_t, ones = torch.zeros(B), torch.ones(B)
    loss_D, loss_G, loss_Q = np.zeros(cfg.steps), np.zeros(cfg.steps), np.zeros(cfg.steps)
    lam = cfg.info_weight
    perm, pos = torch.randperm(x.shape[0], generator=gen), 0
    t0 = time.perf_counter()
    G.train(), D.train()
    step = 0
    while step < cfg.steps:
        if pos + B > x.shape[0]:
            perm, pos = torch.randperm(x.shape[0], generator=gen), 0
        i = perm[pos:pos + B]
        pos += B
        xr, cr = x[i], labels[i]
        z = torch.randn(B, N_LATENT, generator=gen)
        c = torch.randint(0, N_CLASSES, (B,), generator=gen)
        xf = G(z, c)
        # Discriminator (and Q): real → 0.9, fake → 0; q(fake) → z.
        logit_f, q_f = D(xf.detach(), c, with_q=True)
        lD = bce(D(xr, cr), real_t) + bce(logit_f, fake_t)
        lQ = ((q_f - z) ** 2).mean()
        opt_D.zero_grad(set_to_none=True)
        (lD + lam * lQ if lam else lD).backward()
        opt_D.step()
        # Generator: non-saturating loss, fakes → 1; keep z recoverable from G(z, c).
        logit_f, q_f = D(xf, c, with_q=True)
        lG = bce(logit_f, ones)
        lQ = ((q_f - z) ** 2).mean()
        opt_G.zero_grad(set_to_none=True)
        (lG + lam * lQ if lam else lG).backward()
        opt_G.step()
        loss_D[step], loss_G[step], loss_Q[step] = lD.item(), lG.item(), lQ.item()
        step += 1
        if log is not None and (step % 100 == 0 or step == cfg.steps):
            log(f"step {step}/{cfg.steps}  loss_D {loss_D[step - 100 if step >= 100 else 0:step].mean():.3f}  "
                f"loss_G {loss_G[step - 100 if step >= 100 else 0:step].mean():.3f}  "
                f"loss_Q {loss_Q[step - 100 if step >= 100 else 0:step].mean():.3f}  {time.perf_counter() - t0:.0f} s")
        if cfg.minutes and time.perf_counter() - t0 > 60 * cfg.minutes:
            break
    calibrate_batchnorm(G, gen, cfg.calib_batches)
    return TrainResult(G=G.eval(), D=D.eval(), loss_D=loss_D[:step], loss_G=loss_G[:step], loss_Q=loss_Q[:step], steps=step,
                       seconds=time.perf_counter() - t0)


@torch.no_grad()
def calibrate_batchnorm(G: Generator, gen: torch.Generator, batches: int = 20, batch: int = 500) -> None:
    """Replace G's batch-norm running statistics with exact averages over ``batches`` fresh batches.

    During training the running statistics are an exponential average over moving weights; here
    they become the plain mean over samples of the final generator (``momentum=None``).
    """
    bns = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    G.train()
    for _ in range(batches):
        z = torch.randn(batch, N_LATENT, generator=gen)
        G(z, torch.arange(batch) % N_CLASSES)
    for m in bns:
        m.momentum = 0.1
    G.eval()


@torch.no_grad()
def sample_sheet(G: Generator, per_class: int = 10, seed: int = 0) -> np.ndarray:
    """uint8 image of ``G(z, c)``: one row per class, ``per_class`` columns, 2× pixels."""
    gen = torch.Generator().manual_seed(seed)
    c = torch.arange(N_CLASSES).repeat_interleave(per_class)
    x = G.eval()(torch.randn(c.shape[0], N_LATENT, generator=gen), c)
    return image_grid(to_uint8(x[:, 0].numpy()), ncol=per_class, scale=2)


def file_sha256(path) -> str:
    """Hex SHA-256 of a file's bytes (what the cards record as ``weights_sha256``)."""
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=idx.PROJECT_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (r.stdout.strip() or None) if r.returncode == 0 else None


def script_commit(script: str = __file__) -> dict:
    """Identity of the script that produced an asset: its path, SHA-256 and commits.

    ``script_commit`` is the last commit that holds the script with exactly these bytes (None when
    the script has uncommitted changes or outside a git checkout); ``trained_at_commit`` is the
    repository's HEAD when the script ran. The SHA-256 of the script's bytes identifies it even
    before it is committed.
    """
    path = pathlib.Path(script).resolve()
    try:
        rel = str(path.relative_to(idx.PROJECT_ROOT))
    except ValueError:
        rel = str(path)
    head = _git("rev-parse", "HEAD")
    commit = _git("log", "-1", "--format=%H", "--", rel)
    if commit is not None and _git("rev-parse", f"{commit}:{rel}") != _git("hash-object", str(path)):
        commit = None
    return {"script": rel, "script_sha256": file_sha256(path), "script_commit": commit, "trained_at_commit": head}


def _curve(a: np.ndarray, every: int = 100) -> list[float]:
    """Means over consecutive windows of ``every`` steps (a compact loss curve for the card)."""
    n = len(a) // every
    return [round(float(v), 4) for v in a[: n * every].reshape(n, every).mean(1)] if n else []


def make_card(cfg: TrainConfig, res: TrainResult, data_dir, threads: int, quality: dict | None,
              name: str | None = None, weights_sha256: str | None = None) -> dict:
    """The model card of a trained generator ``<name>_generator.pt`` (``name`` defaults to the dataset)."""
    name = name or cfg.dataset
    arch = {"generator": "conditional DCGAN: [z(10) ; onehot(c)(10)] 1x1 -> ConvT(k4,s1,p0) 4w x4x4 -> BN,LReLU(0.2) "
                         "-> ConvT(k4,s2,p1) 2w x8x8 -> BN,LReLU -> ConvT(k4,s2,p1) w x16x16 -> BN,LReLU "
                         "-> ConvT(k4,s2,p1) 1x32x32 -> tanh; no biases",
            "discriminator": "mirror: Conv(k4,s2,p1) on [x ; 10 class planes] w -> 2w(BN) -> 4w(BN), LReLU(0.2) "
                             "-> Conv(k4,s1,p0) logit, plus InfoGAN Q head Linear(16*4w -> 10) (not shipped"
                             + ("" if cfg.info_weight else "; unused with info_weight 0") + ")",
            "width": cfg.width, "latent_dim": N_LATENT, "n_classes": N_CLASSES, "output": [1, 32, 32],
            "output_range": "tanh, (-1, 1); pixel = (x + 1) / 2",
            "parameters": int(sum(p.numel() for p in res.G.parameters())),
            "batchnorm": "running statistics recomputed after training as exact means over "
                         f"{cfg.calib_batches} x 500 fresh samples; use the generator in eval mode"}
    return {
        "model": f"{name} conditional DCGAN generator"
                 + (f" (InfoGAN latent regression, weight {cfg.info_weight:g})" if cfg.info_weight else " (plain)"),
        "name": name,
        "architecture": arch,
        "data": {"dataset": idx.DATASETS[cfg.dataset], "files": f"{idx.DATASETS[cfg.dataset]}/raw/train-*-idx*-ubyte.gz",
                 "given_path": str(data_dir), "n_train": cfg.n_train or 60000,
                 "preprocessing": "x/255, bilinear resize 28->32 (align_corners=False), 2x-1"},
        "config": dataclasses.asdict(cfg),
        "seed": cfg.seed,
        "steps": res.steps,
        "epochs": round(res.steps * cfg.batch_size / (cfg.n_train or 60000), 2),
        "train_seconds": round(res.seconds, 1),
        "device": "cpu", "torch_threads": threads, "torch": torch.__version__,
        "objective": "non-saturating BCE GAN losses, real target 0.9"
                     + (f" + {cfg.info_weight:g} x InfoGAN latent regression mean (q(G(z,c)) - z)^2 for G and D's Q head"
                        if cfg.info_weight else ""),
        "final_losses_mean_last_100": {"D": float(res.loss_D[-100:].mean()), "G": float(res.loss_G[-100:].mean()),
                                       "Q": float(res.loss_Q[-100:].mean())},
        "loss_curve_every_100_steps": {"D": _curve(res.loss_D), "G": _curve(res.loss_G), "Q": _curve(res.loss_Q)},
        "quality": quality,
        "weights": f"{name}_generator.pt",
        "weights_sha256": weights_sha256,
        **script_commit(__file__),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.trained.train", description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(idx.DEFAULT_DATA), help="folder with MNIST/raw, FashionMNIST/raw (default ../shared/data)")
    p.add_argument("--dataset", default="mnist", choices=sorted(idx.DATASETS))
    p.add_argument("--name", default=None,
                   help="output name: <out>/<name>_generator.pt/.json, docs/<name>_samples.png (default: the dataset)")
    p.add_argument("--out", default=str(ASSETS), help="folder for the weights and the card")
    p.add_argument("--docs", default=str(idx.PROJECT_ROOT / "docs"), help="folder for the sample sheet")
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--minutes", type=float, default=0.0, help="wall-clock cap (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=0)
    p.add_argument("--info-weight", type=float, default=TrainConfig.info_weight,
                   help="lambda of the InfoGAN latent regression (0: plain DCGAN)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared)")
    a = p.parse_args(argv)
    name = a.name or a.dataset
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        p.error(f"--name: lower-case letters, digits, '-' and '_' only, got {name!r}")
    torch.set_num_threads(a.threads)
    cfg = TrainConfig(dataset=a.dataset, seed=a.seed, steps=a.steps, minutes=a.minutes, n_train=a.n_train,
                      info_weight=a.info_weight)
    try:
        images, labels = idx.load_split(a.data, a.dataset, "train")
    except idx.IDXError as e:
        print(f"error: --data: {e}", file=sys.stderr)
        return 2
    if cfg.n_train:
        images, labels = images[:cfg.n_train], labels[:cfg.n_train]
    x, y = idx.to_32(images), torch.from_numpy(labels.astype(np.int64))
    res = train_gan(x, y, cfg, log=lambda s: print(s, flush=True))
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{name}_generator.pt"
    torch.save({k: v.float().clone() for k, v in res.G.state_dict().items()}, weights)
    quality = None
    clf_path = out / f"{a.dataset}_classifier.pt"
    if clf_path.is_file():
        quality = generated_accuracy(res.G, load_classifier(path=clf_path), per_class=100, seed=1)
        quality["judge"] = clf_path.name
    card = make_card(cfg, res, a.data, a.threads, quality, name=name, weights_sha256=file_sha256(weights))
    (out / f"{name}_generator.json").write_text(json.dumps(card, indent=2) + "\n")
    docs = pathlib.Path(a.docs)
    docs.mkdir(parents=True, exist_ok=True)
    write_png(docs / f"{name}_samples.png", sample_sheet(res.G, seed=2))
    msg = f"{name}: {res.steps} steps in {res.seconds:.0f} s; final loss_D {card['final_losses_mean_last_100']['D']:.3f}, loss_G {card['final_losses_mean_last_100']['G']:.3f}"
    if quality:
        msg += f"; generated digits classified as their class: {quality['accuracy']:.3f}, classes seen {quality['classes_seen']}"
    print(msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
