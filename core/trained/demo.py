"""One inpainting example for the dashboard: a target, its measurements, the descent and two J slices.

Everything the inpainting page shows comes from :func:`inpaint_example`, a pure function of its
(hashable) arguments, so it is cached and reproducible: the same arguments give the same numbers.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from ..landscape import Plane
from .dcgan import N_CLASSES, N_LATENT, dataset_of
from .invert import J_on_plane, generator_in, invert, latent_plane, operator, psnr

__all__ = ["Slice", "Example", "inpaint_example", "SOURCES"]

SOURCES = ("generated", "real")


@dataclass(frozen=True)
class Slice:
    """J on a plane of the latent space, with the descent paths projected onto it.

    Attributes
    ----------
    title : str
    u, v : ndarray (N,), (M,)
    J : ndarray (M, N)
        ``J(plane.lift(u[j], v[i]))``.
    plane : Plane
    path_u, path_v : ndarray (steps + 1, R)
        Plane coordinates of every iterate of every restart.
    marks : dict[str, tuple[float, float]]
        Named points in plane coordinates (z*, −z*, 0, ẑ).
    """

    title: str
    u: np.ndarray
    v: np.ndarray
    J: np.ndarray
    plane: Plane
    path_u: np.ndarray
    path_v: np.ndarray
    marks: dict


@dataclass(frozen=True)
class Example:
    """A single inversion, ready to draw.

    Attributes
    ----------
    x : ndarray (32, 32)
        Ground truth in [−1, 1].
    mask : ndarray (32, 32) bool or None
        Observed pixels (None for a dense A).
    x_hat : ndarray (32, 32)
        ``G(ẑ, c)``.
    label : int
    z_star : ndarray (10,) or None
        None for a real image.
    z_hat : ndarray (10,)
    J_path : ndarray (steps + 1, R)
    best : int
        Restart with the lowest final J.
    psnr, psnr_hidden : float
        dB, whole image / hidden pixels (NaN when nothing is hidden).
    latent_error : float
        ``‖ẑ − z*‖/‖z*‖`` (NaN for a real image).
    slices : tuple of Slice
        Through 0, z*, −z* (ẑ for a real image), then a random plane through it.
    test_index : int
        Index in the test set for a real image, −1 otherwise.
    """

    x: np.ndarray
    mask: np.ndarray | None
    x_hat: np.ndarray
    label: int
    z_star: np.ndarray | None
    z_hat: np.ndarray
    J_path: np.ndarray
    best: int
    psnr: float
    psnr_hidden: float
    latent_error: float
    slices: tuple
    test_index: int


@functools.lru_cache(maxsize=32)
def inpaint_example(generator: str = "mnist", source: str = "generated", label: int = 3, seed: int = 0,
                    mask: str = "random", rate: float = 0.5, mask_seed: int = 0, restarts: int = 4,
                    steps: int = 500, lr: float = 0.1, grid: int = 41, data: str | None = None) -> Example:
    """Draw a target of class ``label`` with ``seed``, observe it through ``mask``, invert, slice J.

    ``source="generated"``: ``x = G(z*, label)``, ``z* ~ N(0, I)`` from ``seed``. ``source="real"``:
    the test image of class ``label`` picked by ``seed`` (needs the data folder ``data``).
    The slices span ±1.6‖z*‖ (±1.6‖ẑ‖ for a real image) on ``grid`` × ``grid`` points.
    """
    if source not in SOURCES:
        raise ValueError(f"source: must be one of {', '.join(SOURCES)}, got {source!r}")
    if not 0 <= int(label) < N_CLASSES:
        raise ValueError(f"label: must be in 0..9, got {label}")
    G = generator_in(generator, "float32")
    op = operator(mask, rate, mask_seed, torch.float32)
    gen = torch.Generator().manual_seed(int(seed))
    c = torch.tensor([int(label)])
    test_index = -1
    if source == "generated":
        z_star = torch.randn(1, N_LATENT, generator=gen, dtype=torch.float64).float()
        with torch.no_grad():
            x = G(z_star, c)
        z_star = z_star[0].double().numpy()
    else:
        from .idx import load_split, to_32
        im, lab = load_split(data, dataset_of(generator), "test")
        where = np.flatnonzero(lab == int(label))
        test_index = int(where[torch.randint(0, where.size, (1,), generator=gen).item()])
        x = to_32(im[test_index:test_index + 1])
        z_star = None
    with torch.no_grad():
        y = op.A(x)
    inv = invert(G, op, y, c.numpy(), restarts=restarts, steps=steps, lr=lr, seed=gen, keep_path=True)
    z_hat = inv.z_hat[0]
    with torch.no_grad():
        x_hat = G(torch.as_tensor(inv.z_hat, dtype=torch.float32), c).double().numpy()
    x = x.double().numpy()
    m = None if op.mask is None else op.mask.numpy()[0]
    hidden = None if m is None or m.all() else ~m
    centre = z_star if z_star is not None else z_hat
    name = "z*" if z_star is not None else "ẑ"
    slices = []
    for kind, title in (("star", f"plane through 0, {name}, −{name}"), ("random", f"random plane through {name}")):
        plane = latent_plane(centre, kind, seed=int(seed))
        r = 1.6 * float(np.linalg.norm(centre))
        u = np.linspace(-r, r, grid)
        v = np.linspace(-r, r, grid)
        Jg = J_on_plane(G, op, y[0].numpy(), int(label), plane, u, v)
        pu, pv = plane.project(inv.paths[:, 0])
        marks = {name: plane.project(centre), "ẑ": plane.project(z_hat)}
        if kind == "star":
            marks[f"−{name}"] = plane.project(-centre)
            marks["0"] = plane.project(np.zeros(N_LATENT))
        slices.append(Slice(title=title, u=u, v=v, J=Jg, plane=plane, path_u=pu, path_v=pv,
                            marks={k: (float(a), float(b)) for k, (a, b) in marks.items()}))
    err = float(np.linalg.norm(z_hat - z_star) / np.linalg.norm(z_star)) if z_star is not None else float("nan")
    return Example(x=x[0, 0], mask=m, x_hat=x_hat[0, 0], label=int(label), z_star=z_star, z_hat=z_hat,
                   J_path=inv.J_path[:, 0], best=int(inv.best[0]), psnr=float(psnr(x_hat, x)[0]),
                   psnr_hidden=float(psnr(x_hat, x, hidden[None])[0]) if hidden is not None else float("nan"),
                   latent_error=err, slices=tuple(slices), test_index=test_index)
