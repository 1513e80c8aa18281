"""One inpainting example for the dashboard: a target, its measurements, the descent and two J slices.

Everything the inpainting page shows comes from :func:`inpaint_example`, a pure function of its
(hashable) arguments, so it is cached and reproducible: the same arguments give the same numbers.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

import dataclasses

from ..config import DEFAULT_METHOD, Config
from ..descent import descend
from ..inversion import psnr
from ..landscape import Plane, evaluate_plane
from ..problem import build_problem
from .dcgan import N_CLASSES, N_LATENT, dataset_of

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
    path_u, path_v : ndarray (T + 1, 1)
        Plane coordinates of every iterate of the best restart.
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
    J_path : ndarray (T + 1, 1)
        J along the best restart's path.
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
    diagnosis, stop : str
        The diagnosis of the best restart's end point, and the rule that stopped it.
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
    diagnosis: str = ""
    stop: str = ""


def latent_plane(z_star, kind: str = "star", seed: int = 0) -> Plane:
    """``star``: through 0, z* and −z* (origin 0, d1 = z*/‖z*‖, d2 a seeded random unit vector ⊥ d1);
    ``random``: through z*, spanned by two seeded random orthonormal directions."""
    zs = np.asarray(z_star, float)
    rng = np.random.default_rng(seed)
    if kind == "star":
        d1 = zs / np.linalg.norm(zs)
        r = rng.standard_normal(zs.size)
        r -= (r @ d1) * d1
        return Plane(np.zeros_like(zs), d1, r / np.linalg.norm(r))
    if kind == "random":
        q, _ = np.linalg.qr(rng.standard_normal((zs.size, 2)))
        return Plane(zs.copy(), q[:, 0], q[:, 1])
    raise ValueError(f"kind: must be 'star' or 'random', got {kind!r}")


@functools.lru_cache(maxsize=32)
def inpaint_example(generator: str = "mnist", source: str = "generated", label: int = 3, seed: int = 0,
                    mask: str = "random", rate: float = 0.5, mask_seed: int = 0, restarts: int = 4,
                    steps: int = 500, lr: float = 0.1, grid: int = 41, data: str | None = None,
                    method: str = DEFAULT_METHOD, damping: float = 1.0, negate: bool = False) -> Example:
    """Draw a target of class ``label`` with ``seed``, observe it through ``mask``, invert, slice J.

    ``source="generated"``: ``x = G(z*, label)``, ``z* ~ N(0, I)`` from ``seed``. ``source="real"``:
    the test image of class ``label`` picked by ``seed`` (needs the data folder ``data``). The
    inversion is :func:`core.descent.descend` with the solver ``method`` from ``restarts`` seeded
    starts (the lowest final J wins). The slices span ±1.6‖z*‖ (±1.6‖ẑ‖ for a real image) on
    ``grid`` × ``grid`` points.
    """
    if source not in SOURCES:
        raise ValueError(f"source: must be one of {', '.join(SOURCES)}, got {source!r}")
    if not 0 <= int(label) < N_CLASSES:
        raise ValueError(f"label: must be in 0..9, got {label}")
    cfg = Config(generator=generator, label=int(label), z_seed=int(seed), mask=mask, rate=rate, mask_seed=mask_seed,
                 method=method, lr=lr, damping=damping, negate=bool(negate), steps=steps, dtype="float32")
    P = build_problem(cfg)
    test_index = -1
    if source == "real":
        from .idx import load_split, to_32
        im, lab = load_split(data, dataset_of(generator), "test")
        where = np.flatnonzero(lab == int(label))
        gen = torch.Generator().manual_seed(int(seed))
        test_index = int(where[torch.randint(0, where.size, (1,), generator=gen).item()])
        x = to_32(im[test_index:test_index + 1])[0].float()
        with torch.no_grad():
            y = P.op.A(x[None])[0]
        P = dataclasses.replace(P, x_star=x, y=y, y_clean=y, evaluator=P.G.evaluator(P.op, y), scale=0.5 * float(y.double() @ y.double()))
        z_star = None
    else:
        z_star = P.z_star.double().numpy()
    starts = torch.randn(restarts, N_LATENT, generator=torch.Generator().manual_seed(int(seed) + 1), dtype=torch.float64)
    d = descend(P, starts.numpy(), keep_path=True)
    best = int(np.argmin(d.J_path[-1]))
    z_hat = d.paths[-1, best]
    with torch.no_grad():
        x_hat = P.G(torch.as_tensor(z_hat[None], dtype=torch.float32)).double().numpy()
    x = P.x_star.double().numpy()[None]
    m = None if P.op.mask is None else P.op.mask.numpy()[0]
    hidden = None if m is None or m.all() else ~m
    centre = z_star if z_star is not None else z_hat
    name = "z*" if z_star is not None else "ẑ"
    slices = []
    for kind, title in (("star", f"plane through 0, {name}, −{name}"), ("random", f"random plane through {name}")):
        plane = latent_plane(centre, kind, seed=int(seed))
        r = 1.6 * float(np.linalg.norm(centre))
        u = np.linspace(-r, r, grid)
        v = np.linspace(-r, r, grid)
        Jg = evaluate_plane(P, plane, u, v)
        pu, pv = plane.project(d.paths[:, best:best + 1])
        marks = {name: plane.project(centre), "ẑ": plane.project(z_hat)}
        if kind == "star":
            marks[f"−{name}"] = plane.project(-centre)
            marks["0"] = plane.project(np.zeros(N_LATENT))
        slices.append(Slice(title=title, u=u, v=v, J=Jg, plane=plane, path_u=pu, path_v=pv,
                            marks={k: (float(a), float(b)) for k, (a, b) in marks.items()}))
    err = float(np.linalg.norm(z_hat - z_star) / np.linalg.norm(z_star)) if z_star is not None else float("nan")
    return Example(x=x[0, 0], mask=m, x_hat=x_hat[0, 0], label=int(label), z_star=z_star, z_hat=z_hat,
                   J_path=d.J_path[:, best:best + 1], best=best, psnr=float(psnr(x_hat, x)[0]),
                   psnr_hidden=float(psnr(x_hat, x, hidden[None])[0]) if hidden is not None else float("nan"),
                   latent_error=err, slices=tuple(slices), test_index=test_index,
                   diagnosis=str(d.label[best]), stop=str(d.solve.stop[best]))
