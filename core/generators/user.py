"""A user's own generator, from a SPEC: a TorchScript file, ``package.module:callable``, or a state dict.

``--generator SPEC`` (and the dashboard's Generator source) accepts:

* a path to a TorchScript file (``torch.jit.save``), which carries its own code;
* ``package.module:callable``: imported with the current directory on ``sys.path`` and called
  with no arguments; it must return an ``nn.Module``;
* a path to a plain state dict of the shipped conditional DCGAN architecture
  (:class:`core.trained.dcgan.Generator`, width 32), loaded with ``weights_only=True``.

The module maps z (B, n0) to an output of any shape (B, …). n0 is the module's ``latent_dim``
attribute, or ``--latent-dim``; the output shape comes from one forward pass on two seeded
N(0, I) codes, which must give finite values. A conditional generator is handed in as a wrapper
with its condition fixed (see ``examples/``).

Loading a TorchScript file or importing a module runs the user's code: only load what you trust.
Pickles are never loaded with ``weights_only=False``.
"""
from __future__ import annotations

import importlib
import inspect
import os
import pathlib
import sys
import zipfile

import torch

from ..config import LIMITS, ConfigError
from .protocol import LatentGenerator, ModuleGenerator


def _fail(msg: str, field: str = "generator"):
    raise ConfigError(field, " ".join(str(msg).split())[:400])


def _import_callable(spec: str):
    mod_name, _, fn_name = spec.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:   # the user's import: any error becomes one line naming the flag
        _fail(f"cannot import {mod_name!r} ({type(e).__name__}: {e})")
    fn = getattr(mod, fn_name, None)
    if fn is None or not callable(fn):
        _fail(f"{mod_name!r} has no callable {fn_name!r}")
    try:
        inspect.signature(fn).bind()
    except TypeError as e:
        _fail(f"{spec} must be callable with no arguments ({e})")
    except ValueError:   # no signature to inspect (a builtin): let the call tell
        pass
    try:
        module = fn()
    except Exception as e:
        _fail(f"calling {spec}() failed ({type(e).__name__}: {e})")
    if not isinstance(module, torch.nn.Module):
        _fail(f"{spec}() must return a torch.nn.Module, got {type(module).__name__}")
    return module


def _load_file(path: str):
    p = pathlib.Path(path)
    if not p.is_file():
        _fail(f"{path!r} is neither conv, a shipped generator (mnist, fashion, mnist-info, fashion-info), "
              f"module:callable, nor an existing file")
    if p.stat().st_size > 1 << 31:
        _fail(f"{path!r} is larger than 2 GiB")
    if not zipfile.is_zipfile(p):
        _fail(f"{path!r} is not a TorchScript or torch.save file (not a zip archive)")
    try:
        with zipfile.ZipFile(p) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:   # a damaged archive: its directory is unreadable
        _fail(f"{path!r} is not a readable TorchScript or torch.save file ({type(e).__name__}: {e})")
    if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
        try:
            return torch.jit.load(str(p), map_location="cpu"), "torchscript"
        except Exception as e:
            _fail(f"{path!r}: cannot load TorchScript ({type(e).__name__}: {e})")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        if isinstance(e, __import__("pickle").UnpicklingError):
            _fail(f"{path!r} is a pickle that holds code, not only weights; it is never loaded with "
                  f"weights_only=False: save the module with torch.jit.save, or give module:callable")
        _fail(f"{path!r}: cannot load ({type(e).__name__}: {e})")
    from ..trained.dcgan import Generator as DCGAN, check_state_dict

    model = DCGAN()
    try:
        check_state_dict(state, model, str(p))
    except ValueError as e:
        why = str(e).replace(str(p), "").lstrip(": ")
        why = why if len(why) <= 160 else why[:157] + "..."
        _fail(f"{path!r} is a state dict, but not of the shipped DCGAN architecture ({why}); give other "
              f"modules as TorchScript or module:callable")
    model.load_state_dict(state)
    return model, "state_dict"


def load_user_generator(spec: str, latent_dim: int = 0, dtype=torch.float32, device="cpu") -> LatentGenerator:
    """The generator of a file or ``module:callable`` SPEC, checked by one forward pass.

    Raises
    ------
    ConfigError
        Naming ``generator`` (or ``latent_dim``), in one line, for any problem: a missing file, a
        module that does not import, a callable that needs arguments, an output that is not
        finite or too large.
    """
    from ..config import spec_kind

    kind = spec_kind(spec)
    if kind == "module":
        module, how = _import_callable(spec), "module"
    else:
        module, how = _load_file(spec)
    conditional = how == "state_dict"
    n0 = getattr(module, "latent_dim", None) if not conditional else 10
    if latent_dim:
        if n0 not in (None, latent_dim):
            _fail(f"the module says latent_dim = {n0}, but latent_dim = {latent_dim} was given", "latent_dim")
        n0 = latent_dim
    if n0 is None:
        _fail(f"{spec}: the module has no latent_dim attribute; give the latent size (--latent-dim)", "latent_dim")
    try:
        n0 = int(n0)
    except (TypeError, ValueError):
        _fail(f"{spec}: latent_dim must be an integer, got {n0!r}", "latent_dim")
    if not 1 <= n0 <= LIMITS["latent"]:
        _fail(f"latent size must be in [1, {LIMITS['latent']}], got {n0}", "latent_dim")
    try:
        module = module.to(dtype=dtype, device=device)
    except Exception as e:
        _fail(f"{spec}: cannot move the module to {dtype} on {device} ({type(e).__name__}: {e})")
    try:
        # 4-D weights channels-last: PyTorch's CPU convolutions then take their faster path (2x on the
        # example's transposed convolutions, 1.5x on the 1 M parameter one); the outputs are the same.
        module = module.to(memory_format=torch.channels_last)
    except Exception:   # a module that refuses keeps its layout
        pass
    module.eval()
    z = torch.randn(2, n0, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(dtype=dtype, device=device)
    try:
        with torch.no_grad():
            x = module(z, torch.zeros(2, dtype=torch.int64, device=device)) if conditional else module(z)
    except Exception as e:
        _fail(f"{spec}: calling the module on z of shape (2, {n0}) failed ({type(e).__name__}: {e})")
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] != 2:
        _fail(f"{spec}: the module must map z (B, {n0}) to a tensor (B, ...), got "
              f"{type(x).__name__}{'' if not isinstance(x, torch.Tensor) else ' of shape ' + str(tuple(x.shape))}")
    if not x.is_floating_point():
        _fail(f"{spec}: the module's output must be a floating tensor, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        _fail(f"{spec}: the module's output on N(0, I) codes is not finite")
    shape = tuple(x.shape[1:])
    n_out = x[0].numel()
    if n_out > LIMITS["output_size"]:
        _fail(f"{spec}: the output has {n_out} entries per code; the limit is {LIMITS['output_size']}")
    if len(shape) == 1:
        shape = (1,) + shape                       # (L,) → one channel of length L
    elif len(shape) > 3:
        _fail(f"{spec}: outputs of shape {shape} are not supported; give (L,), (C, L) or (C, H, W)")
    out_range = getattr(module, "output_range", None) if not conditional else (-1.0, 1.0)
    return ModuleGenerator(module, n0, shape, output_range=out_range, conditional=conditional, name=str(spec))
