"""Generators behind one protocol (:mod:`.protocol`): the random family, the shipped DCGANs, user modules.

==================  ===================================================================
``protocol``        what a generator offers; ``ModuleGenerator`` wraps any ``nn.Module``
``conv_family``     the random transposed-convolution family of the paper's Fig. 4
``engine``          its fast hand-written evaluator (dense / col2im / receptive cone)
``generic``         the autograd evaluator for every other generator
``user``            TorchScript files, ``module:callable`` and DCGAN state dicts
==================  ===================================================================
"""
from __future__ import annotations

import copy
import functools

import torch

from ..config import CONV, SHIPPED, Config, ConfigError, spec_kind
from .protocol import LatentGenerator, ModuleGenerator

__all__ = ["LatentGenerator", "ModuleGenerator", "build_generator"]


def build_generator(cfg: Config, dtype=torch.float32, device="cpu") -> LatentGenerator:
    """The generator of ``cfg.generator_spec`` on ``dtype`` / ``device`` (a fresh or cached, frozen object).

    Raises
    ------
    ConfigError
        Naming ``generator`` or ``latent_dim`` when a SPEC cannot be loaded.
    """
    spec = cfg.generator
    if spec == CONV:
        from .conv_family import ConvGenerator

        return ConvGenerator(cfg, dtype=dtype, device=device)
    return _loaded(spec, cfg.latent_dim, str(dtype), str(device), _stamp(spec))


def _stamp(spec: str):
    """A file's (size, mtime), so that an edited file is loaded again."""
    if spec_kind(spec) != "file":
        return None
    import os

    try:
        st = os.stat(spec)
        return st.st_size, st.st_mtime_ns
    except OSError:
        return None


@functools.lru_cache(maxsize=8)
def _loaded(spec: str, latent_dim: int, dtype: str, device: str, stamp) -> LatentGenerator:
    dt = getattr(torch, dtype.replace("torch.", ""))
    if spec in SHIPPED:
        from ..trained.dcgan import InferenceGenerator, shipped_generator

        try:
            module = InferenceGenerator.from_generator(copy.deepcopy(shipped_generator(spec)).to(dtype=dt, device=device))
        except (ValueError, OSError) as e:    # a missing, altered or unreadable weights file
            raise ConfigError("generator", " ".join(str(e).split())) from None
        return ModuleGenerator(module, 10, (1, 32, 32), output_range=(-1.0, 1.0), conditional=True, name=spec)
    from .user import load_user_generator

    return load_user_generator(spec, latent_dim, dtype=dt, device=device)
