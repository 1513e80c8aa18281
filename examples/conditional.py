"""A conditional generator handed to the tool with its class fixed.

The tool inverts G(z) for one observation, so a conditional generator ``G(z, c)`` comes as a
wrapper that fixes ``c`` and maps z alone: a ``module:callable`` that returns it, e.g.

    --generator examples.conditional:digit_seven     (the shipped MNIST DCGAN, class 7)
    --generator examples.conditional:build           (a small conditional decoder, class 3)

Write one callable per class you want to explore (or read the class from an environment
variable inside the callable). The shipped DCGANs can also be given directly as
``--generator mnist --label 7``; ``digit_seven`` gives the same numbers, which is how the tests
check the wrapper.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .own_generator import Decoder, seeded


class FixedClass(nn.Module):
    """``z ↦ G(z, c)`` for a conditional ``G(z, labels)`` and one class ``c``.

    Parameters
    ----------
    G : nn.Module
        Called as ``G(z, labels)`` with ``labels`` (B,) int64.
    label : int
    latent_dim : int
    """

    def __init__(self, G: nn.Module, label: int, latent_dim: int):
        super().__init__()
        self.G, self.label, self.latent_dim = G, int(label), int(latent_dim)
        self.output_range = getattr(G, "output_range", None)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        labels = torch.full((z.shape[0],), self.label, dtype=torch.int64, device=z.device)
        return self.G(z, labels)


class ConditionalDecoder(nn.Module):
    """``G(z, c)``: the example decoder fed ``[z, one_hot(c)]`` (10 classes)."""

    def __init__(self, latent_dim: int = 6, classes: int = 10):
        super().__init__()
        self.latent_dim, self.classes = latent_dim, classes
        self.output_range = (-1.0, 1.0)
        self.dec = Decoder(latent_dim + classes, (32, 16))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(labels.long(), self.classes).to(z.dtype)
        return self.dec(torch.cat([z, onehot], 1))


def build() -> nn.Module:
    """The small conditional decoder (n0 = 6 → 1×16×16, seed 2) with class 3 fixed."""
    G = seeded(ConditionalDecoder(6), seed=2)
    return FixedClass(G, 3, latent_dim=6).eval()


def digit_seven() -> nn.Module:
    """The project's shipped conditional MNIST DCGAN with class 7 fixed (n0 = 10 → 1×32×32)."""
    from core.trained.dcgan import shipped_generator   # only this callable needs the project

    return FixedClass(copy.deepcopy(shipped_generator("mnist")), 7, latent_dim=10).eval()
