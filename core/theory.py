"""Closed-form landscape theory: the Hand–Voroninski angle map, ρ_d and the expected gradient.

Theorem 1 of Ma, Ayaz & Karaman (2018) says that, with high probability, a strict descent
direction exists everywhere except in ``B(z*, ε‖z*‖) ∪ B(−ρ_d z*, ε‖z*‖) ∪ {0}``. The constant
ρ_d and the expected gradient ``h`` come from the fully connected analysis of Hand & Voroninski
(2017). This module computes them and turns the balls into data a figure builder can draw.
Pure numpy (torch only to accept and return tensors); it never plots.

Glossary (symbol -> code name, shape, source):

=============  ====================  ===========  ==========================================
symbol         code                  shape        source
=============  ====================  ===========  ==========================================
z*             ``z_star``            (n0,)        latent code, paper Sec. 2
z              ``z``                 (..., n0)    any latent point
d              ``d``                 int >= 1     number of layers
g(θ)           ``g``                 like θ       Hand & Voroninski (2017), angle map
θ̌_i            (inside ``rho``)      scalar       θ̌_0 = π, θ̌_i = g(θ̌_{i−1})
θ̄_i            (inside ``expected_gradient``)  (...,)  θ̄_0 = ∠(z, z*), θ̄_i = g(θ̄_{i−1})
ρ_d            ``rho``               scalar       Hand & Voroninski (2017); paper Thm. 1
h(z)           ``expected_gradient`` (..., n0)    Hand & Voroninski (2017), expected gradient
ε              ``eps``               scalar > 0   paper Thm. 1, ball radius ε‖z*‖
=============  ====================  ===========  ==========================================

References
----------
.. [1] F. Ma, U. Ayaz, S. Karaman, "Invertibility of Convolutional Generative Networks from
       Partial Measurements", NeurIPS 2018.
.. [2] P. Hand, V. Voroninski, "Global Guarantees for Enforcing Deep Generative Priors by
       Empirical Risk", arXiv:1705.07576, 2017.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

__all__ = [
    "g",
    "rho",
    "expected_gradient",
    "expected_gradient_field",
    "neighbourhood_circle",
    "theory_neighbourhoods",
    "expected_critical_on_negative_ray",
]

_ORTHONORMAL_TOL = 1e-6


def g(theta):
    """Hand–Voroninski angle map ``g(θ) = arccos(((π − θ) cos θ + sin θ) / π)``.

    It gives the angle between ``relu(W x)`` and ``relu(W y)`` (in expectation over a Gaussian
    ``W``) when ``x`` and ``y`` are at angle θ.

    Parameters
    ----------
    theta : float or numpy.ndarray
        Angle(s) in ``[0, π]``.

    Returns
    -------
    float or numpy.ndarray
        ``g(θ)``, same shape as ``theta``, in ``[0, π/2]``. The arccos argument is clipped to
        ``[-1, 1]`` so rounding near θ = 0 cannot produce NaN.

    References
    ----------
    .. [2] Hand & Voroninski (2017), definition of g.
    """
    theta = np.asarray(theta, dtype=np.float64)
    cos_g = ((np.pi - theta) * np.cos(theta) + np.sin(theta)) / np.pi
    out = np.arccos(np.clip(cos_g, -1.0, 1.0))
    return float(out) if out.ndim == 0 else out


def _check_d(d) -> int:
    if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
        raise ValueError(f"d must be an int >= 1 (number of layers), got {d!r}")
    return int(d)


def rho(d: int) -> float:
    """Position ρ_d of the spurious critical point ``−ρ_d z*`` of the expected loss.

    ``ρ_d = Σ_{i=0}^{d−1} (sin θ̌_i / π) Π_{j=i+1}^{d−1} (π − θ̌_j) / π`` with ``θ̌_0 = π`` and
    ``θ̌_i = g(θ̌_{i−1})``.

    Parameters
    ----------
    d : int
        Number of layers, ``d >= 1``.

    Returns
    -------
    float
        ρ_d in ``[0, 1)``; ρ_1 = 0, ρ_2 = 1/π, and ρ_d → 1 as d → ∞.

    Notes
    -----
    ρ_d locates the critical point of the *infinite-width* expected loss (for conv nets too: see
    :mod:`core.expected`). Over nets of a finite width the expectation's ray minimum sits lower
    (0.305 ± 0.001 for ``paper-fig4``, :func:`core.expected.ray_monte_carlo`), and one net's ray
    minimum ρ̂_ray (:func:`core.critical.ray_minimum`) is not a critical point of its J.

    Raises
    ------
    ValueError
        If ``d`` is not an int >= 1.

    References
    ----------
    .. [2] Hand & Voroninski (2017), definition of ρ_d.
    .. [1] Ma, Ayaz & Karaman (2018), Theorem 1.
    """
    d = _check_d(d)
    theta = [math.pi]
    for _ in range(1, d):
        theta.append(g(theta[-1]))
    # Written as the literal sum of products (d is small), unlike the recursion used in
    # expected_gradient, so the two can check each other.
    total = 0.0
    for i in range(d):
        prod = 1.0
        for j in range(i + 1, d):
            prod *= (math.pi - theta[j]) / math.pi
        total += math.sin(theta[i]) / math.pi * prod
    return total


def _to_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64).numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array, got {type(x).__name__}") from exc


def _check_vector(x, name: str, n0: int | None = None) -> np.ndarray:
    x = _to_numpy(x, name)
    if x.ndim != 1 or (n0 is not None and x.shape[0] != n0):
        want = "(n0,)" if n0 is None else f"({n0},)"
        raise ValueError(f"{name} must have shape {want}, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite")
    return x


def expected_gradient(z, z_star, d: int):
    """Hand–Voroninski expected gradient ``h(z)`` of the d-layer ReLU inversion loss.

    ``h(z) = 2^{−d} z − 2^{−d} [Π_{i=0}^{d−1} (π − θ̄_i)/π] z*
    − 2^{−d} Σ_{i=0}^{d−1} [sin θ̄_i/π · Π_{j=i+1}^{d−1} (π − θ̄_j)/π] ‖z*‖ z/‖z‖``,
    with ``θ̄_0 = ∠(z, z*)`` and ``θ̄_i = g(θ̄_{i−1})``.

    Parameters
    ----------
    z : torch.Tensor or numpy.ndarray, shape (..., n0)
        Point(s) at which to evaluate ``h``.
    z_star : torch.Tensor or numpy.ndarray, shape (n0,)
        The true latent code.
    d : int
        Number of layers, ``d >= 1``.

    Returns
    -------
    torch.Tensor or numpy.ndarray, shape (..., n0)
        ``h(z)``. A tensor (same dtype and device as ``z``, detached) if ``z`` is a tensor,
        otherwise a float64 array. Computed in float64.

    Raises
    ------
    ValueError
        If ``d`` is not an int >= 1, or the shapes of ``z`` and ``z_star`` disagree.

    Notes
    -----
    ``h`` is the gradient of the expected loss
    ``2^{−d}/2 (‖z‖² + ‖z*‖²) − 2^{−d} ‖z‖ ‖z*‖ cos θ̄_d``, which has a cone point at ``z = 0``,
    so ``h(0)`` has no limit. At ``z = 0`` (and likewise when ``z* = 0``) this function uses the
    convention ``cos θ̄_0 = 0`` (θ̄_0 = π/2) and sets the ``z/‖z‖`` term to 0, giving
    ``h(0) = −2^{−d} Π_i (π − θ̄_i)/π z*``. The value is finite and points towards ``z*``.

    For d = 1 and ``W ∈ R^{n1×n0}`` with i.i.d. ``N(0, 1/n1)`` entries, ``h`` is exactly the
    expectation of the gradient of ``½‖relu(W z) − relu(W z*)‖²``.

    References
    ----------
    .. [2] Hand & Voroninski (2017), expected gradient h_z.
    """
    d = _check_d(d)
    is_tensor = isinstance(z, torch.Tensor)
    z_np = _to_numpy(z, "z")
    if z_np.ndim < 1:
        raise ValueError(f"z must have shape (..., n0), got {z_np.shape}")
    z_star_np = _check_vector(z_star, "z_star", z_np.shape[-1])

    norm_z = np.linalg.norm(z_np, axis=-1)
    norm_star = float(np.linalg.norm(z_star_np))
    denom = norm_z * norm_star
    safe = denom > 0
    cos0 = np.where(safe, (z_np @ z_star_np) / np.where(safe, denom, 1.0), 0.0)
    theta = np.arccos(np.clip(cos0, -1.0, 1.0))

    # Horner-style recursion: after step i, `tail` holds Σ_{k<=i} sinθ̄_k/π Π_{k<j<=i} (π−θ̄_j)/π.
    prod = np.ones_like(theta)
    tail = np.zeros_like(theta)
    for _ in range(d):
        factor = (np.pi - theta) / np.pi
        prod = prod * factor
        tail = tail * factor + np.sin(theta) / np.pi
        theta = g(theta)

    nz = norm_z > 0
    unit_z = z_np / np.where(nz, norm_z, 1.0)[..., None]
    h = z_np - prod[..., None] * z_star_np - (tail * norm_star)[..., None] * unit_z
    h = h / 2.0**d
    if is_tensor:
        return torch.as_tensor(h, dtype=z.dtype if z.is_floating_point() else torch.float64,
                               device=z.device)
    return h


def _check_plane(origin, d1, d2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    origin = _check_vector(origin, "origin")
    n0 = origin.shape[0]
    d1 = _check_vector(d1, "d1", n0)
    d2 = _check_vector(d2, "d2", n0)
    for name, vec in (("d1", d1), ("d2", d2)):
        if abs(np.linalg.norm(vec) - 1.0) > _ORTHONORMAL_TOL:
            raise ValueError(f"{name} must have unit norm, got {np.linalg.norm(vec):.6g}")
    if abs(float(d1 @ d2)) > _ORTHONORMAL_TOL:
        raise ValueError(f"d1 and d2 must be orthogonal, got d1·d2 = {float(d1 @ d2):.6g}")
    return origin, d1, d2


def expected_gradient_field(u, v, origin, d1, d2, z_star, d: int):
    """In-plane components of ``h`` on the grid ``z = origin + u[j] d1 + v[i] d2``.

    Parameters
    ----------
    u : array_like, shape (N,)
        Plane coordinates along ``d1`` (grid columns).
    v : array_like, shape (M,)
        Plane coordinates along ``d2`` (grid rows).
    origin : array_like, shape (n0,)
        The grid's origin in latent space.
    d1, d2 : array_like, shape (n0,)
        Orthonormal directions spanning the plane.
    z_star : array_like, shape (n0,)
        The true latent code.
    d : int
        Number of layers, ``d >= 1``.

    Returns
    -------
    hu, hv : numpy.ndarray, shape (M, N)
        ``h(z)·d1`` and ``h(z)·d2`` at row ``i`` (``v[i]``) and column ``j`` (``u[j]``),
        ready for a quiver or stream plot. The out-of-plane part of ``h`` is dropped.

    Raises
    ------
    ValueError
        If ``u`` or ``v`` is not 1-D, ``d1``/``d2`` are not orthonormal, the shapes of
        ``origin``, ``d1``, ``d2``, ``z_star`` disagree, or ``d`` is not an int >= 1.

    References
    ----------
    .. [2] Hand & Voroninski (2017), expected gradient h_z.
    """
    u = _to_numpy(u, "u")
    v = _to_numpy(v, "v")
    for name, axis in (("u", u), ("v", v)):
        if axis.ndim != 1:
            raise ValueError(f"{name} must have shape (N,), got {axis.shape}")
    origin, d1, d2 = _check_plane(origin, d1, d2)
    z = origin + u[None, :, None] * d1 + v[:, None, None] * d2  # (M, N, n0)
    h = expected_gradient(z, z_star, d)
    return h @ d1, h @ d2


def neighbourhood_circle(center, radius, origin, d1, d2, n: int = 128):
    """Intersection of the ball ``B(center, radius)`` with the plane ``origin + u d1 + v d2``.

    The intersection is a circle centred at the orthogonal projection of ``center`` onto the
    plane, with radius ``sqrt(radius² − dist²)`` where ``dist`` is the distance from ``center``
    to the plane.

    Parameters
    ----------
    center : array_like, shape (n0,)
        Centre of the ball in latent space.
    radius : float
        Radius of the ball, ``>= 0``.
    origin : array_like, shape (n0,)
        Origin of the plane.
    d1, d2 : array_like, shape (n0,)
        Orthonormal directions spanning the plane.
    n : int, optional
        Number of points, ``>= 3``. The first and last points coincide, so the curve closes
        when drawn as a line.

    Returns
    -------
    cu, cv : numpy.ndarray, shape (n,) or (0,)
        The circle in plane coordinates; both empty if the ball misses the plane.

    Raises
    ------
    ValueError
        If ``radius`` is negative or not finite, ``n`` is not an int >= 3, ``d1``/``d2`` are
        not orthonormal, or the vector shapes disagree.

    References
    ----------
    .. [1] Ma, Ayaz & Karaman (2018), Theorem 1 (the excluded balls).
    """
    origin, d1, d2 = _check_plane(origin, d1, d2)
    center = _check_vector(center, "center", origin.shape[0])
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real) \
            or not math.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a finite number >= 0, got {radius!r}")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 3:
        raise ValueError(f"n must be an int >= 3, got {n!r}")

    offset = center - origin
    pu, pv = float(offset @ d1), float(offset @ d2)
    dist2 = max(float(offset @ offset) - pu**2 - pv**2, 0.0)
    if dist2 > radius**2:
        return np.empty(0), np.empty(0)
    r = math.sqrt(radius**2 - dist2)
    phi = np.linspace(0.0, 2.0 * np.pi, int(n))
    return pu + r * np.cos(phi), pv + r * np.sin(phi)


def theory_neighbourhoods(z_star, d: int, eps: float) -> dict:
    """Centres and radius of the two balls excluded by Theorem 1.

    Parameters
    ----------
    z_star : array_like, shape (n0,)
        The true latent code.
    d : int
        Number of layers, ``d >= 1``.
    eps : float
        Relative radius ε, ``> 0``.

    Returns
    -------
    dict
        ``'z_star'`` (n0,) array; ``'neg_rho_z_star'`` (n0,) array ``−ρ_d z*``;
        ``'rho'`` float ρ_d; ``'radius'`` float ``ε‖z*‖`` (shared by both balls).

    Raises
    ------
    ValueError
        If ``eps`` is not a finite number > 0, ``d`` is not an int >= 1, or ``z_star`` is not
        a finite 1-D array.

    References
    ----------
    .. [1] Ma, Ayaz & Karaman (2018), Theorem 1.
    """
    z_star = _check_vector(z_star, "z_star").copy()
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) \
            or not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    r = rho(d)
    return {
        "z_star": z_star,
        "neg_rho_z_star": -r * z_star,
        "rho": r,
        "radius": float(eps) * float(np.linalg.norm(z_star)),
    }


def expected_critical_on_negative_ray(d: int, tol: float = 1e-13) -> float:
    """Find ρ_d numerically as the zero of ``h`` along the ray ``z = −t z*``, ``t > 0``.

    Bisection on ``c(t) = ⟨h(−t z*), z*⟩ / ‖z*‖²`` over ``t ∈ [tol, 2]`` for a fixed
    ``z*`` (the root ``t = ρ_d`` does not depend on ``z*``). Independent of the closed-form sum
    in :func:`rho`, so the two check each other.

    Parameters
    ----------
    d : int
        Number of layers, ``d >= 1``.
    tol : float, optional
        Bracket width at which bisection stops; also the smallest ``t`` tried.

    Returns
    -------
    float
        The root ``t``. If ``c`` is already ``<= 0`` at ``t = tol`` (as for d = 1, where
        ``h(−t z*) = −t z*/2``), the critical point is the origin and 0.0 is returned.

    Raises
    ------
    ValueError
        If ``d`` is not an int >= 1.

    References
    ----------
    .. [2] Hand & Voroninski (2017), expected gradient h_z and ρ_d.
    """
    d = _check_d(d)
    z_star = np.array([0.6, -0.8, 1.2])  # arbitrary, off every axis

    def c(t: float) -> float:
        return float(expected_gradient(-t * z_star, z_star, d) @ z_star) / float(z_star @ z_star)

    lo, hi = tol, 2.0  # ρ_d < 1, so c(2) < 0
    if c(lo) <= 0.0:
        return 0.0
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if c(mid) > 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
