"""The random family G(z) = σ_d(W_d … σ(W_1 z)): weights, activations and the reference forward pass.

``ConvGenerator.forward`` is the plain definition, built from ``torch.nn.functional``
transposed convolutions. It is the reference that the fast batched evaluator in
:mod:`core.generators.engine` is tested against, and the per-point baseline of the benchmark.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..config import Config
from .protocol import LatentGenerator

_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d}


def activation_fn(name: str, negative_slope: float = 0.2, inplace: bool = False):
    """The entrywise nonlinearity σ called ``name``; ``inplace`` for tensors nobody else holds."""
    if name == "relu":
        return torch.relu_ if inplace else torch.relu
    if name == "leaky_relu":
        leaky = F.leaky_relu_ if inplace else F.leaky_relu
        return lambda x: leaky(x, negative_slope)
    if name == "sigmoid":
        return torch.sigmoid_ if inplace else torch.sigmoid
    if name == "tanh":
        return torch.tanh_ if inplace else torch.tanh
    if name == "identity":
        return lambda x: x
    raise ValueError(f"activation: unknown {name!r}")


def weight_std(cfg: Config, layer: int) -> float:
    """Standard deviation (or scale, for the non-zero-mean laws) of layer ``layer`` (1-based).

    ``paper`` is 1/sqrt(C_out · k^dim), as in Theorem 1 and the authors' code
    (``randn / sqrt(k² C_out)``); ``unit`` is 1, as stated for Fig. 4.
    """
    if cfg.weight_std == "unit":
        return 1.0
    if cfg.weight_std == "paper":
        k = cfg.per_layer("kernel")[layer - 1]
        return 1.0 / math.sqrt(cfg.channels[layer] * k ** cfg.dim)
    return float(cfg.weight_std)


def draw_weights(cfg: Config) -> list[torch.Tensor]:
    """Weights ``W_1 … W_d`` in PyTorch's ConvTranspose layout ``(C_in, C_out, k[, k])``, float64, CPU.

    All laws draw from one ``torch.Generator`` seeded with ``cfg.weight_seed``,
    layer by layer, so the same config gives the same weights on any device.
    ``uniform`` is zero-mean with the same variance as ``gaussian``
    (U[−√3 s, √3 s]); ``rademacher`` is ±s; ``uniform01`` (U[0, 1]) and
    ``bernoulli01`` ({0, 1} with p = ½) are not zero-mean and are multiplied by s.
    """
    gen = torch.Generator().manual_seed(cfg.weight_seed)
    Ws = []
    for i, k in enumerate(cfg.per_layer("kernel"), start=1):
        shape = (cfg.channels[i - 1], cfg.channels[i]) + (k,) * cfg.dim
        s = weight_std(cfg, i)
        law = cfg.weights
        if law == "gaussian":
            W = torch.randn(shape, generator=gen, dtype=torch.float64) * s
        elif law == "uniform":
            W = (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * (math.sqrt(3) * s)
        elif law == "rademacher":
            W = (torch.randint(0, 2, shape, generator=gen).to(torch.float64) * 2 - 1) * s
        elif law == "uniform01":
            W = torch.rand(shape, generator=gen, dtype=torch.float64) * s
        elif law == "bernoulli01":
            W = torch.randint(0, 2, shape, generator=gen).to(torch.float64) * s
        else:
            raise ValueError(f"weights: unknown law {law!r}")
        Ws.append(W)
    return Ws


_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


class ConvGenerator(LatentGenerator):
    """``G(z) = σ_d(W_d σ(… σ(W_1 z)))`` with transposed convolutions, no bias.

    Parameters
    ----------
    cfg : Config
        Architecture, activation and weight law.
    weights : list of Tensor, optional
        ``W_1 … W_d`` in ``(C_in, C_out, k[, k])`` layout; drawn from ``cfg`` if omitted.
    dtype, device
        Where the weights live. Nothing is mutated after construction.
    """

    def __init__(self, cfg: Config, weights=None, dtype=torch.float32, device="cpu"):
        super().__init__()
        self.cfg = cfg
        Ws = draw_weights(cfg) if weights is None else weights
        if len(Ws) != cfg.depth:
            raise ValueError(f"weights: expected {cfg.depth} layers, got {len(Ws)}")
        for i, W in enumerate(Ws, start=1):
            self.register_buffer(f"W{i}", W.to(dtype=dtype, device=device))
        self.sigma = activation_fn(cfg.activation, cfg.negative_slope)
        self.sigma_last = activation_fn(cfg.last, cfg.negative_slope)
        self.latent_dim = cfg.n0
        self.output_range = _RANGES.get(cfg.last)
        self.name = "conv"

    def evaluator(self, op, y, strategy: str = "auto"):
        """The fast batched :class:`~core.generators.engine.Engine` for ``y = A G(z*)``."""
        from .engine import Engine

        return Engine(self, op, y, strategy=strategy)

    def arrays(self) -> dict:
        """``W1`` … ``Wd`` as float64 numpy arrays, PyTorch's ConvTranspose layout."""
        return {f"W{i}": W.double().cpu().numpy() for i, W in enumerate(self.weights, start=1)}

    @property
    def weights(self) -> list[torch.Tensor]:
        return [getattr(self, f"W{i}") for i in range(1, self.cfg.depth + 1)]

    @property
    def output_shape(self) -> tuple:
        return self.cfg.output_shape()

    def forward(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        """z (B, n0) → G(z) (B, C_d, *spatial) (``labels``: unused, the family is unconditional)."""
        cfg = self.cfg
        x = z.reshape(z.shape[0], cfg.n0, *([1] * cfg.dim))
        conv = _CONV_T[cfg.dim]
        Ws = self.weights
        for i, (W, s, p) in enumerate(zip(Ws, cfg.per_layer("stride"), cfg.per_layer("padding")), start=1):
            x = conv(x, W, stride=s, padding=p)
            x = self.sigma_last(x) if i == len(Ws) else self.sigma(x)
        return x
