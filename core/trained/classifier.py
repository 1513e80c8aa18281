"""A small MNIST / Fashion-MNIST CNN: the independent judge of the generators' samples.

``python -m core.trained.classifier --dataset mnist`` trains it on the real training set (32×32,
the generator's [−1, 1] range), reports its accuracy on the real test set and ships
``assets/<dataset>_classifier.pt`` with a JSON card. :func:`generated_accuracy` then asks it
whether ``G(z, c)`` looks like class ``c``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import idx
from .dcgan import ASSETS, N_CLASSES, N_LATENT, load_state, read_card, shipped_sha256

__all__ = ["Classifier", "ClassifierConfig", "train_classifier", "accuracy", "generated_accuracy",
           "load_classifier"]


class Classifier(nn.Module):
    """Three conv + max-pool stages and a linear read-out: (B, 1, 32, 32) → logits (B, 10)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),      # 16×16
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),     # 8×8
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # 4×4
            nn.Flatten(), nn.Linear(64 * 16, N_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass(frozen=True)
class ClassifierConfig:
    dataset: str = "mnist"
    seed: int = 0
    epochs: int = 2
    batch_size: int = 128
    lr: float = 1e-3          # Adam
    n_train: int = 0          # 0: the whole training set; else its first n_train images


def train_classifier(x: torch.Tensor, labels: torch.Tensor, cfg: ClassifierConfig) -> tuple[Classifier, np.ndarray]:
    """Train a :class:`Classifier` with Adam and cross-entropy, seeded by ``cfg.seed``.

    Parameters
    ----------
    x : torch.Tensor, (N, 1, 32, 32) float32 in [−1, 1]
    labels : torch.Tensor, (N,) int64

    Returns
    -------
    model : Classifier, in eval mode
    losses : ndarray (steps,)
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    model = Classifier()
    for p in model.parameters():   # default PyTorch init, drawn from our generator
        if p.ndim > 1:
            nn.init.kaiming_uniform_(p, a=5 ** 0.5, generator=gen)
        else:
            nn.init.uniform_(p, -0.05, 0.05, generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    losses = []
    model.train()
    for _ in range(cfg.epochs):
        perm = torch.randperm(x.shape[0], generator=gen)
        for a in range(0, x.shape[0], cfg.batch_size):
            i = perm[a:a + cfg.batch_size]
            loss = nn.functional.cross_entropy(model(x[i]), labels[i])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return model.eval(), np.asarray(losses)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """Predicted classes (N,) of images (N, 1, 32, 32)."""
    model.eval()
    return torch.cat([model(x[a:a + batch].float()).argmax(1) for a in range(0, x.shape[0], batch)])


def accuracy(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``x`` classified as ``labels``."""
    return float((predict(model, x) == labels).double().mean())


@torch.no_grad()
def generated_accuracy(G: nn.Module, model: nn.Module, per_class: int = 100, seed: int = 0) -> dict:
    """Classify ``G(z, c)`` for ``per_class`` draws ``z ~ N(0, I)`` of every class ``c``.

    Returns
    -------
    dict
        ``accuracy`` (fraction classified as their conditioning class), ``per_class`` (10 floats),
        ``classes_seen`` (sorted list of predicted classes), ``confusion`` (10×10 counts, row =
        conditioning class, column = prediction), ``per_class_draws``, ``seed``.
    """
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(N_CLASSES).repeat_interleave(per_class)
    z = torch.randn(labels.shape[0], N_LATENT, generator=gen)
    G.eval()
    pred = predict(model, G(z, labels))
    conf = np.zeros((N_CLASSES, N_CLASSES), int)
    np.add.at(conf, (labels.numpy(), pred.numpy()), 1)
    return {"accuracy": float(np.trace(conf) / conf.sum()),
            "per_class": [float(conf[c, c] / per_class) for c in range(N_CLASSES)],
            "classes_seen": sorted(int(c) for c in np.unique(pred.numpy())),
            "confusion": conf.tolist(), "per_class_draws": per_class, "seed": seed}


def load_classifier(dataset: str = "mnist", path=None) -> Classifier:
    """The shipped classifier ``assets/<dataset>_classifier.pt`` (or ``path``), checked and in eval mode.

    The shipped file must match the ``weights_sha256`` of its card ``assets/<dataset>_classifier.json``;
    a file given by ``path`` is checked against the card beside it, if any (see :func:`load_state`).
    """
    if path is not None:
        return load_state(path, Classifier())
    path = ASSETS / f"{dataset}_classifier.pt"
    return load_state(path, Classifier(), shipped_sha256(read_card(dataset, "classifier"), str(path)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.trained.classifier", description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(idx.DEFAULT_DATA), help="folder with MNIST/raw, FashionMNIST/raw")
    p.add_argument("--dataset", default="mnist", choices=sorted(idx.DATASETS))
    p.add_argument("--out", default=str(ASSETS), help="folder for the weights and the card")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = ClassifierConfig(dataset=a.dataset, seed=a.seed, epochs=a.epochs)
    try:
        tr_img, tr_lab = idx.load_split(a.data, a.dataset, "train")
        te_img, te_lab = idx.load_split(a.data, a.dataset, "test")
    except idx.IDXError as e:
        print(f"error: --data: {e}", file=sys.stderr)
        return 2
    x, y = idx.to_32(tr_img), torch.from_numpy(tr_lab.astype(np.int64))
    t0 = time.perf_counter()
    model, losses = train_classifier(x, y, cfg)
    seconds = time.perf_counter() - t0
    acc_test = accuracy(model, idx.to_32(te_img), torch.from_numpy(te_lab.astype(np.int64)))
    from pathlib import Path

    from .train import file_sha256, script_commit
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{a.dataset}_classifier.pt"
    torch.save({k: v.float() for k, v in model.state_dict().items()}, weights)
    card = {"model": f"{a.dataset} classifier", "architecture": "conv5(16)-pool-conv5(32)-pool-conv3(64)-pool-linear(10)",
            "input": "1x32x32 in [-1, 1], bilinear 28->32", "config": dataclasses.asdict(cfg),
            "data": f"{idx.DATASETS[a.dataset]}/raw train (60000) / t10k (10000)",
            "train_seconds": round(seconds, 1), "final_loss_mean_last_100": float(losses[-100:].mean()),
            "test_accuracy": acc_test, "weights": weights.name, "weights_sha256": file_sha256(weights),
            **script_commit(__file__)}
    (out / f"{a.dataset}_classifier.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"{a.dataset} classifier: {seconds:.0f} s, last loss {losses[-100:].mean():.4f}, test accuracy {acc_test:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
