"""What every generator offers the rest of the project, and the wrapper for any ``nn.Module``.

A generator maps latent codes ``z`` (B, n0) to outputs (B, *output_shape). Everything else —
landscapes, solvers, basins, critical points, the phase transition, inversion, images, downloads —
reaches it through this interface and through the :class:`~core.generators.evaluator.Evaluator`
it hands out for one observation ``(A, y)``:

==================  ==========================================================================
``latent_dim``      n0
``output_shape``    the shape of one output, e.g. (1, 32, 32)
``output_range``    (lo, hi) of the last activation where it is bounded (tanh: (−1, 1)), else None
``conditional``     True when ``forward`` takes a class label per row (``forward(z, labels)``)
``forward(z)``      the generator itself
``evaluator(op, y)``  J, ∇J, residual and Jacobian for the observation ``y = A G(z*)``; the
                    random family returns its fast hand-written :class:`~core.generators.engine.Engine`,
                    any other module the generic autograd path
``arrays()``        what an .npz stores to describe the generator (weights of the random family)
==================  ==========================================================================
"""
from __future__ import annotations

import torch


class LatentGenerator(torch.nn.Module):
    """Base class of every generator; see the module docstring.

    Subclasses set ``latent_dim``, ``output_shape``, ``output_range`` and ``conditional``, and
    implement ``forward``.
    """

    latent_dim: int
    output_shape: tuple
    output_range: tuple | None = None
    conditional: bool = False
    name: str = "generator"

    def evaluator(self, op, y):
        from .generic import GenericEvaluator

        return GenericEvaluator(self, op, y)

    def arrays(self) -> dict:
        return {}

    @property
    def dtype(self) -> torch.dtype:
        for t in list(self.parameters()) + list(self.buffers()):
            if t.is_floating_point():
                return t.dtype
        return torch.float32


class ModuleGenerator(LatentGenerator):
    """Any ``nn.Module`` mapping z (B, n0) to (B, …) as a generator, in eval mode, frozen.

    Parameters
    ----------
    module : nn.Module
        Called as ``module(z)``, or ``module(z, labels)`` when ``conditional``.
    latent_dim : int
    output_shape : tuple
        The shape of one output (the module's output is reshaped to it).
    output_range : (lo, hi), optional
    conditional : bool
    name : str
        For messages and cards.

    Notes
    -----
    The module is put in eval mode and its parameters stop requiring gradients, so that batch
    norm uses its running statistics and gradients flow only with respect to z.
    """

    def __init__(self, module: torch.nn.Module, latent_dim: int, output_shape: tuple,
                 output_range=None, conditional: bool = False, name: str = "module"):
        super().__init__()
        self.module = module.eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.latent_dim = int(latent_dim)
        self.output_shape = tuple(int(s) for s in output_shape)
        self.output_range = None if output_range is None else (float(output_range[0]), float(output_range[1]))
        self.conditional = bool(conditional)
        self.name = name

    def train(self, mode: bool = True):
        # Always evaluated as a fixed function: batch norm must not switch to batch statistics.
        return super().train(False)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.module(z, labels) if self.conditional else self.module(z)
        return out.reshape(z.shape[0], *self.output_shape)
