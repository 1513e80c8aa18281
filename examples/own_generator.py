"""A user's own generator, as a user would write it: a small decoder with biases, batch norm and ELU/SiLU.

Nothing here imports the project: this is the file a researcher brings. The tool loads it with

    --generator examples.own_generator:build          (module:callable, run from the repo root)
    --generator examples/own_generator.pt             (the TorchScript export, see export_torchscript.py)

``build()`` returns the 8 → 1×16×16 decoder (~40 k parameters, fast enough for every view);
``build_large()`` a DCGAN-sized one (16 → 1×32×32, ~1.05 M parameters) for the benchmark. The
weights are drawn from a fixed seed (no training is needed to explore a landscape), and the batch
norm layers get seeded running statistics so that they are not the identity.

The module follows the protocol of ``core.generators.user``: it maps z (B, n0) to (B, C, H, W),
and says its n0 in a ``latent_dim`` attribute (``output_range`` is optional: tanh's (−1, 1) lets
the ``quantize`` noise model know the range of the pixels).
"""
from __future__ import annotations

import torch
from torch import nn


class Decoder(nn.Module):
    """z (B, n0) → x (B, 1, S, S): Linear, then transposed convolutions (kernel 4, stride 2).

    Parameters
    ----------
    latent_dim : int
        n0.
    widths : tuple of int
        Channels of the 4×4 map after the linear layer and of each hidden transposed
        convolution; the output has one channel and side ``4 · 2^len(widths)``.

    Every layer has a bias; each hidden layer is followed by batch norm and ELU (the first) or
    SiLU (the others); the output by tanh.
    """

    def __init__(self, latent_dim: int = 8, widths: tuple = (64, 32)):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.output_range = (-1.0, 1.0)
        self.w0 = int(widths[0])
        self.fc = nn.Linear(self.latent_dim, self.w0 * 16)          # bias=True
        self.bn0 = nn.BatchNorm2d(self.w0)
        layers = []
        for i, (c_in, c_out) in enumerate(zip(widths, list(widths[1:]) + [1])):
            layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=True))
            if c_out != 1:
                layers += [nn.BatchNorm2d(c_out), nn.SiLU()]
        layers.append(nn.Tanh())
        self.up = nn.Sequential(*layers)
        self.act0 = nn.ELU()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).reshape(z.shape[0], self.w0, 4, 4)
        return self.up(self.act0(self.bn0(h)))


def seeded(module: nn.Module, seed: int = 0) -> nn.Module:
    """Fill every weight, bias and batch-norm statistic from ``seed`` (in place) and return the module in eval mode.

    Weights are N(0, 1/fan_in) (fan_in of a transposed convolution: C_in · k² / stride², the
    inputs that reach one output), biases N(0, 0.1²); batch norm gets running means N(0, 0.1²),
    variances U[0.5, 1.5], and affine weights U[0.8, 1.2] and biases N(0, 0.1²).
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / m.in_features ** 0.5)
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, nn.ConvTranspose2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1] / (m.stride[0] * m.stride[1])
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / fan_in ** 0.5)
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.weight.copy_(0.8 + 0.4 * torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))
    return module.eval()


def build() -> nn.Module:
    """The example generator: n0 = 8 → 1×16×16, seed 0 (~40 k parameters)."""
    return seeded(Decoder(8, (64, 32)), seed=0)


def build_large() -> nn.Module:
    """A DCGAN-sized example: n0 = 16 → 1×32×32, 256·4·4 → 192 → 64 → 1 channels (~1.05 M parameters)."""
    return seeded(Decoder(16, (256, 192, 64)), seed=1)
