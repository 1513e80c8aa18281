"""One inversion problem: the generator G, the operator A, z*, y = A G(z*) and the fast engine."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import Config
from .engine import Engine
from .generator import Generator, draw_z_star, resolve_device
from .masks import SamplingOperator, make_operator

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class Problem:
    """Everything needed to evaluate J(z) = ½‖y − A G(z)‖² for one config.

    Attributes
    ----------
    cfg : Config
    G : Generator
    op : SamplingOperator
        ``A``, acting on outputs of shape ``cfg.output_shape()``.
    z_star : Tensor (n0,)
    x_star : Tensor (C_d, *spatial)
        ``G(z*)``.
    y : Tensor (m,)
        ``A x*``.
    engine : Engine
        Batched ``J``.
    """

    cfg: Config
    G: Generator
    op: SamplingOperator
    z_star: torch.Tensor
    x_star: torch.Tensor
    y: torch.Tensor
    engine: Engine

    @property
    def device(self) -> torch.device:
        return self.z_star.device

    @property
    def dtype(self) -> torch.dtype:
        return self.z_star.dtype

    def J(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, n0) → J(z) (B,), differentiable."""
        return self.engine.J(z)


def build_problem(cfg: Config, device: str | None = None, dtype: str | None = None,
                  strategy: str = "auto") -> Problem:
    """Draw the weights, mask and z* of ``cfg`` and compile the engine.

    ``device`` and ``dtype`` override ``cfg.device`` / ``cfg.dtype``. The random
    draws are made on the CPU in float64 and then moved, so the numbers do not
    depend on the device.
    """
    dev = resolve_device(device or cfg.device)
    dt = DTYPES[dtype or cfg.dtype]
    G = Generator(cfg, dtype=dt, device=dev)
    op = make_operator(cfg.mask, cfg.output_shape(), rate=cfg.rate, seed=cfg.mask_seed,
                       dtype=torch.float64).to(dtype=dt, device=dev)
    z_star = draw_z_star(cfg).to(dtype=dt, device=dev)
    with torch.no_grad():
        x_star = G(z_star[None])[0]
        y = op.A(x_star[None])[0]
    engine = Engine(G, op, y, strategy=strategy)
    return Problem(cfg, G, op, z_star, x_star, y, engine)


def images(problem: Problem, z) -> dict:
    """The pictures behind one latent point, as float64 numpy arrays of the output shape.

    Returns
    -------
    dict
        ``x`` = G(z); ``x_star`` = G(z*); ``mask`` (bool, or None for a
        Gaussian A); ``Ax`` and ``y``: A G(z) and y put back in place with
        ``A_adjoint`` (zeros where unobserved, or the back-projection for a
        Gaussian A); ``residual`` = A_adjoint(A G(z) − y); ``J``.
    """
    zt = torch.as_tensor(np.asarray(z, dtype=float).reshape(1, -1), dtype=problem.dtype, device=problem.device)
    if zt.shape[1] != problem.cfg.n0:
        raise ValueError(f"z: needs {problem.cfg.n0} entries, got {zt.shape[1]}")
    with torch.no_grad():
        x = problem.G(zt)
        Ax = problem.op.A(x)
        out = {
            "x": x[0],
            "x_star": problem.x_star,
            "Ax": problem.op.A_adjoint(Ax)[0],
            "y": problem.op.A_adjoint(problem.y[None])[0],
            "residual": problem.op.A_adjoint(Ax - problem.y)[0],
        }
        J = 0.5 * float(((Ax - problem.y) ** 2).sum())
    res = {k: v.double().cpu().numpy() for k, v in out.items()}
    res["mask"] = None if problem.op.mask is None else problem.op.mask.cpu().numpy()
    res["J"] = J
    return res
