"""Weight statistics of a trained generator (the paper's Fig. 3): are the weights zero-mean Gaussian?

For each transposed-convolution layer ``W_i`` we fit the zero-mean Gaussian ``N(0, σ²)`` by maximum
likelihood (``σ² = mean(w²)``) and measure how far the weights are from it with the
Kolmogorov–Smirnov distance ``D = sup_w |F_n(w) − Φ(w/σ)|``, computed here from the normal CDF
``Φ(t) = ½(1 + erf(t/√2))``. For reference, a true Gaussian sample of size n has ``D`` below
``1.358/√n`` with probability 0.95 (``ks_crit_05``); with σ fitted that bound is conservative.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["LayerStats", "normal_cdf", "ks_distance", "layer_stats", "weight_stats"]


@dataclass(frozen=True)
class LayerStats:
    """Histogram and normality statistics of one layer's weights.

    Attributes
    ----------
    name : str
        ``W1`` … ``W4``, input side first.
    shape : tuple of int
        ``(C_in, C_out, k, k)``.
    n : int
        Number of weights.
    mean, std : float
        Sample mean and standard deviation.
    sigma : float
        σ of the fitted zero-mean Gaussian, ``sqrt(mean(w²))``.
    ks : float
        Kolmogorov–Smirnov distance to ``N(0, σ²)``.
    ks_crit_05 : float
        ``1.358/√n``, the 5% critical value of ``ks`` for a Gaussian sample of size n.
    excess_kurtosis : float
        ``E[(w − mean)^4]/std^4 − 3``; 0 for a Gaussian.
    edges : ndarray (bins + 1,)
    density : ndarray (bins,)
        Histogram normalised to integrate to 1.
    """

    name: str
    shape: tuple
    n: int
    mean: float
    std: float
    sigma: float
    ks: float
    ks_crit_05: float
    excess_kurtosis: float
    edges: np.ndarray
    density: np.ndarray

    def gaussian(self, w) -> np.ndarray:
        """Density of the fitted ``N(0, σ²)`` at ``w``."""
        w = np.asarray(w, float)
        return np.exp(-0.5 * (w / self.sigma) ** 2) / (self.sigma * math.sqrt(2 * math.pi))


def normal_cdf(x, sigma: float = 1.0) -> np.ndarray:
    """``Φ(x/σ) = ½(1 + erf(x / (σ√2)))``, elementwise (float64)."""
    t = torch.as_tensor(np.asarray(x, float) / (sigma * math.sqrt(2.0)), dtype=torch.float64)
    return (0.5 * (1.0 + torch.special.erf(t))).numpy()


def ks_distance(w, sigma: float) -> float:
    """``sup_x |F_n(x) − Φ(x/σ)|`` for the sample ``w`` (any shape), by the sorted-sample formula.

    With ``w`` sorted and ``F = Φ(w/σ)``: ``D = max_i max(i/n − F_i, F_i − (i − 1)/n)``, i = 1…n.
    """
    w = np.sort(np.asarray(w, float).ravel())
    n = w.size
    if n == 0:
        raise ValueError("w: empty sample")
    if not sigma > 0:
        raise ValueError(f"sigma: must be positive, got {sigma}")
    F = normal_cdf(w, sigma)
    i = np.arange(1, n + 1)
    return float(max((i / n - F).max(), (F - (i - 1) / n).max()))


def layer_stats(name: str, W, bins: int = 60) -> LayerStats:
    """:class:`LayerStats` of one weight tensor; the histogram spans ±4σ."""
    w = np.asarray(W.detach().double().cpu().numpy() if isinstance(W, torch.Tensor) else W, float)
    flat = w.ravel()
    sigma = float(np.sqrt(np.mean(flat ** 2)))
    std = float(flat.std())
    edges = np.linspace(-4 * sigma, 4 * sigma, bins + 1)
    density, _ = np.histogram(np.clip(flat, edges[0], edges[-1]), bins=edges, density=True)
    kurt = float(np.mean((flat - flat.mean()) ** 4) / std ** 4 - 3) if std > 0 else float("nan")
    return LayerStats(name=name, shape=tuple(w.shape), n=flat.size, mean=float(flat.mean()), std=std, sigma=sigma,
                      ks=ks_distance(flat, sigma), ks_crit_05=1.358 / math.sqrt(flat.size), excess_kurtosis=kurt,
                      edges=edges, density=density)


def weight_stats(G: nn.Module, bins: int = 60) -> list[LayerStats]:
    """:class:`LayerStats` of every (transposed) convolution of ``G``, input side first."""
    convs = [m for m in G.modules() if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d))]
    return [layer_stats(f"W{i}", m.weight, bins) for i, m in enumerate(convs, start=1)]
