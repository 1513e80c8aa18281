"""The .npz files: one function builds the arrays of a landscape, one writes any result.

The CLI (``python -m core …``) and the dashboard's downloads both call :func:`landscape_arrays`
and :func:`to_npz_bytes` / :func:`write_npz`, so the two formats cannot drift apart. Every file
carries ``config`` (the JSON of the :class:`~core.config.Config`) so that it can be reproduced.
"""
from __future__ import annotations

import io
import os

import numpy as np

from .config import ConfigError


def problem_arrays(problem, plane=None) -> dict:
    """What describes a problem: config, z*, y, the mask (or dense A), the weights, ρ_d, the plane."""
    from .landscape import rho_for

    cfg = problem.cfg
    out = {
        "config": np.array(cfg.to_json()),
        "z_star": problem.z_star.double().cpu().numpy(),
        "y": problem.y.double().cpu().numpy(),
        "rho": np.float64(rho_for(cfg)),
        "noise_floor": np.float64(problem.floor),
    }
    if problem.label is not None:
        out["label"] = np.int64(problem.label)
    if problem.op.mask is not None:
        out["mask"] = problem.op.mask.cpu().numpy().astype(bool)
    else:
        out["A"] = problem.op.matrix.double().cpu().numpy()
    out.update(getattr(problem.G, "arrays", lambda: {})())
    if plane is not None:
        out.update(origin=plane.origin, d1=plane.d1, d2=plane.d2)
    return out


def landscape_arrays(problem, L) -> dict:
    """A landscape file: :func:`problem_arrays` plus the grid axes ``u``, ``v`` and ``J`` (M, N)."""
    out = problem_arrays(problem, L.plane)
    out.update(u=L.u, v=L.v, J=L.J)
    for k, v in getattr(L, "extra", {}).items():
        out[k] = v
    return out


def to_npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def npz_path(path: str) -> str:
    """The file ``np.savez`` will write for ``path`` (it appends ``.npz``); ConfigError naming --out."""
    if not isinstance(path, str) or not path.strip() or os.path.basename(path) in ("", ".", ".."):
        raise ConfigError("--out", f"needs a file name such as result.npz, got {path!r}")
    path = path if path.endswith(".npz") else path + ".npz"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise ConfigError("--out", f"cannot write {path!r}: no writable folder {parent!r}")
    return path


def write_npz(path: str, arrays: dict) -> str:
    """Write ``arrays`` compressed to ``path`` (``.npz`` appended if missing); return the path written."""
    path = npz_path(path)
    try:
        np.savez_compressed(path, **arrays)
    except OSError as e:
        raise ConfigError("--out", f"cannot write {path!r} ({e.strerror})") from None
    return path
