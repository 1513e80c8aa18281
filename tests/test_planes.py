"""core.planes: the planes for n0 > 2, checked against independent computations.

References: numpy least squares for "the plane contains these points"; numpy's eigh of the sample
covariance for the principal components and of a finite-difference Hessian for the curvature
directions; the Gauss–Newton matrix JᵀJ, which equals the Hessian at a zero residual (closed form);
and the window formulas of the landscape before planes existed.
"""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from core.config import Config, from_preset
from core.landscape import Plane, default_plane, landscape
from core.planes import (NamedPlane, endpoint_plane, hessian_at, hessian_plane, latent_plane, pca_plane,
                         pick_endpoint, plane_for, star_plane)
from core.problem import build_problem

EXAMPLE = "examples.own_generator:build"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def in_plane_residual(plane, z):
    """Distance of z from the affine plane, by numpy least squares on [d1 d2] (no use of the plane's code)."""
    B = np.stack([plane.d1, plane.d2], 1)
    r = np.asarray(z, float) - plane.origin
    coef = np.linalg.lstsq(B, r, rcond=None)[0]
    return float(np.linalg.norm(B @ coef - r)), coef


def assert_orthonormal(plane):
    B = np.stack([plane.d1, plane.d2], 1)
    np.testing.assert_allclose(B.T @ B, np.eye(2), atol=1e-12)


def same_direction(a, b, atol=1e-8):
    return min(np.linalg.norm(a - b), np.linalg.norm(a + b)) <= atol


def test_star_plane_is_the_old_default_and_contains_0_z_star_minus_z_star():
    """star_plane == core.landscape.default_plane for n0 > 2 (same seeded draw); 0, z*, −z* lie in it."""
    z = np.random.default_rng(3).standard_normal(7)
    cfg = Config(channels=(7, 8, 1), plane_seed=5)
    old, new = default_plane(cfg, z), star_plane(z, seed=5)
    for a in ("origin", "d1", "d2"):
        np.testing.assert_array_equal(getattr(old, a), getattr(new, a))
    assert_orthonormal(new)
    for name, p in {"z*": z, "0": np.zeros(7), "-z*": -z}.items():
        res, coef = in_plane_residual(new, p)
        assert res < 1e-12
        np.testing.assert_allclose(new.marks[name], coef, atol=1e-12)
    assert new.kind == "star" and "-z*" in new.explanation


def test_default_landscape_windows_are_unchanged():
    """n0 = 2: the latent plane over z* ± extent (the window of the landscape before planes); n0 > 2:
    the star plane over [−h, h]², h = max(extent, 1.25‖z*‖), so that it shows z* and −z*."""
    P = build_problem(from_preset("paper-fig4"))
    L = landscape(P, grid=5)
    zs, e = np.array([0.8, -0.5]), 3.0
    np.testing.assert_allclose(L.u, np.linspace(zs[0] - e, zs[0] + e, 5))
    np.testing.assert_allclose(L.v, np.linspace(zs[1] - e, zs[1] + e, 5))
    np.testing.assert_array_equal(L.plane.d1, [1, 0])
    assert isinstance(L.plane, NamedPlane) and L.plane.kind == "latent"
    for extent in (2.0, 9.0):
        P4 = build_problem(Config(channels=(4, 8, 1), extent=extent))
        L4 = landscape(P4, grid=3)
        h = max(extent, 1.25 * float(np.linalg.norm(P4.z_star.double().numpy())))
        assert (h > extent) if extent == 2.0 else (h == extent)   # this z* widens ±2 and fits in ±9
        np.testing.assert_allclose(L4.u, [-h, 0, h])
        np.testing.assert_allclose(L4.v, [-h, 0, h])
    np.testing.assert_array_equal(L4.plane.d2, default_plane(P4.cfg, P4.z_star.double().numpy()).d2)


def test_latent_plane_for_large_latent_moves_the_first_two_coordinates():
    """latent_plane: lift(u, v) is z* with its first two entries replaced by (u, v)."""
    z = np.arange(1.0, 6.0)
    pl = latent_plane(z)
    np.testing.assert_allclose(pl.lift(-1.5, 2.5), [-1.5, 2.5, 3, 4, 5])
    assert pl.center == (1.0, 2.0) and pl.marks == {"z*": (1.0, 2.0)}


def test_endpoint_plane_contains_z_star_z_hat_0_and_minus_z_star():
    """endpoint_plane(z*, ẑ): z*, ẑ, 0 and −z* lie in it (numpy lstsq); d1 points from z* to ẑ; the
    window shows z* and ẑ; for ẑ on the line through 0 and z*, d2 is random and 0, ±z*, ẑ still lie in it."""
    rng = np.random.default_rng(0)
    z, zh = rng.standard_normal(6), 3 * rng.standard_normal(6)
    pl = endpoint_plane(z, zh, seed=1)
    assert_orthonormal(pl)
    np.testing.assert_allclose(pl.d1, (zh - z) / np.linalg.norm(zh - z))
    for name, p in {"z*": z, "z_hat": zh, "0": np.zeros(6), "-z*": -z}.items():
        res, coef = in_plane_residual(pl, p)
        assert res < 1e-10, name
        np.testing.assert_allclose(pl.marks[name], coef, atol=1e-10)
    (u0, u1), (v0, v1) = pl.window(0.5)
    for name in ("z*", "z_hat", "0"):
        u, v = pl.marks[name]
        assert u0 < u < u1 and v0 < v < v1
    on_ray = endpoint_plane(z, -0.4 * z, seed=1)
    assert_orthonormal(on_ray)
    for p in (z, -0.4 * z, np.zeros(6), -z):
        assert in_plane_residual(on_ray, p)[0] < 1e-10
    assert "random" in on_ray.explanation


def test_pick_endpoint_prefers_other_fit_then_critical_then_unconverged():
    """The rule of pick_endpoint, on hand-made descents: the lowest-J end of the first failure class present."""
    z_star = np.array([1.0, 0.0, 0.0])
    ends = np.array([[1, 0, 0], [5, 5, 5], [0, 2, 0], [0, 3, 0], [-0.3, 0, 0], [1e9, 0, 0]], float)
    J = np.array([0.0, 7.0, 0.5, 0.2, 0.3, np.inf])

    def fake(labels):
        return SimpleNamespace(label=np.array(labels), paths=np.stack([ends * 0, ends]),
                               J_path=np.stack([J, J]), z_star=z_star)

    base = ["recovered", "unconverged", "critical", "critical", "other_fit", "diverged"]
    assert pick_endpoint(fake(base))[0] == 4
    assert pick_endpoint(fake(base[:4] + ["recovered", "diverged"]))[0] == 3
    assert pick_endpoint(fake(["recovered", "unconverged", "recovered", "recovered", "recovered", "diverged"]))[0] == 1
    k, what = pick_endpoint(fake(["recovered"] * 5 + ["diverged"]))
    assert k == 1 and "farthest" in what      # the finite end farthest from z*


def test_pca_plane_recovers_known_principal_directions():
    """Iterates spread along two known orthogonal directions (variances 9 and 1, plus 1e-4 noise):
    pca_plane's d1, d2 are those directions, equal to numpy's eigh of the sample covariance."""
    rng = np.random.default_rng(1)
    n0 = 6
    Q = np.linalg.qr(rng.standard_normal((n0, n0)))[0]
    a, b = Q[:, 0], Q[:, 1]
    T, S = 35, 5
    c = rng.standard_normal((T * S, 2))
    c = np.linalg.qr(c - c.mean(0))[0] * np.sqrt(T * S) * [3.0, 1.0]   # exactly uncorrelated, variances 9 and 1
    paths = 0.5 + c[:, :1] * a + c[:, 1:] * b + 1e-4 * rng.standard_normal((T * S, n0))
    paths = paths.reshape(T, S, n0)
    paths = np.concatenate([paths, np.repeat(paths[-1:], 5, 0)])      # stopped paths repeat their end point
    z = rng.standard_normal(n0)
    pl = pca_plane(z, paths)
    X = paths[:T].reshape(-1, n0)
    w, V = np.linalg.eigh(np.cov(X.T))
    assert same_direction(pl.d1, V[:, -1]) and same_direction(pl.d2, V[:, -2])
    assert same_direction(pl.d1, a, 1e-3) and same_direction(pl.d2, b, 1e-3)
    np.testing.assert_allclose(pl.values["explained"], w[::-1][:2] / w.sum(), rtol=1e-6)
    np.testing.assert_array_equal(pl.origin, z)
    assert pl.values["iterates"] == X.shape[0]


def test_hessian_at_z_star_is_the_gauss_newton_matrix_and_matches_finite_differences():
    """At z* with noiseless y the residual is 0, so the Hessian of J is exactly JᵀJ (the Jacobian from
    residual_and_jacobian): checked on paper-fig4 and on the example module; with noise (r ≠ 0) the
    autograd Hessian equals central differences of ∇J on the smooth example module."""
    for cfg in (from_preset("paper-fig4"), Config(generator=EXAMPLE)):
        P = build_problem(cfg, dtype="float64")
        _, Jac = P.evaluator.residual_and_jacobian(P.z_star[None])
        GN = (Jac[0].T @ Jac[0]).numpy()
        np.testing.assert_allclose(hessian_at(P), GN, rtol=1e-9, atol=1e-12 * np.abs(GN).max())
        np.testing.assert_allclose(hessian_at(P, method="fd"), GN, rtol=1e-5, atol=1e-7 * np.abs(GN).max())
    P = build_problem(Config(generator=EXAMPLE, noise="gaussian:0.1"), dtype="float64")
    z = P.z_star.numpy() + 0.3
    H, H_fd = hessian_at(P, z), hessian_at(P, z, method="fd")
    np.testing.assert_allclose(H, H_fd, rtol=1e-5, atol=1e-7 * np.abs(H).max())


def test_hessian_plane_spans_the_extreme_eigenvectors():
    """hessian_plane: d1 and d2 are eigenvectors of the largest and smallest eigenvalue of the
    finite-difference Hessian (numpy eigh), through z*."""
    P = build_problem(Config(generator=EXAMPLE), dtype="float64")
    pl = hessian_plane(P)
    w, V = np.linalg.eigh(hessian_at(P, method="fd"))
    assert same_direction(pl.d1, V[:, -1], 1e-5) and same_direction(pl.d2, V[:, 0], 1e-4)
    np.testing.assert_allclose(pl.values["eigenvalues"][[0, -1]], w[[0, -1]], rtol=1e-5)
    np.testing.assert_allclose(pl.origin, P.z_star.numpy())
    assert pl.marks["z*"] == (0.0, 0.0) and "most curved" in pl.explanation


@pytest.mark.parametrize("kind", ["latent", "star", "endpoint", "pca", "hessian"])
def test_cfg_plane_drives_the_landscape_on_a_user_module(kind):
    """``Config(plane=kind)`` on the example module (n0 = 8): landscape() draws on plane_for's plane;
    its J at each grid point equals J at the lifted latent point (per-point forward passes), and z*
    is inside the window with J(z*) = 0 at its mark."""
    cfg = Config(generator=EXAMPLE, plane=kind, grid=7, extent=4.0, starts=8, steps=60)   # ‖z*‖ = 3.4
    P = build_problem(cfg)
    L = landscape(P)
    pl = L.plane
    assert isinstance(pl, Plane) and pl.kind == kind and pl.explanation
    assert_orthonormal(pl)
    uu, vv = np.meshgrid(L.u, L.v)
    Z = torch.as_tensor(pl.lift(uu, vv).reshape(-1, 8), dtype=P.dtype)
    with torch.no_grad():
        ref = torch.stack([0.5 * ((P.op.A(P.G(z[None]))[0] - P.y) ** 2).sum() for z in Z]).numpy()
    np.testing.assert_allclose(L.J.reshape(-1), ref, rtol=1e-5, atol=1e-7)
    u, v = pl.marks["z*"]
    assert L.u[0] <= u <= L.u[-1] and L.v[0] <= v <= L.v[-1]
    assert P.evaluator.J_many(torch.as_tensor(pl.lift(u, v)[None], dtype=P.dtype))[0] < 1e-10


def test_plane_for_uses_a_given_descent_and_rejects_bad_input():
    """plane_for(problem, descent) builds endpoint / pca from that descent's ends and paths; a 1-D
    latent and an unknown kind are one-line ValueErrors naming ``plane``."""
    from core.descent import descend, random_starts

    P = build_problem(Config(channels=(4, 16, 1), starts=6, steps=50))
    d = descend(P, random_starts(4, 6, seed=2))
    k, _ = pick_endpoint(d)
    pe = plane_for(P, d, kind="endpoint")
    assert in_plane_residual(pe, d.paths[-1][k])[0] < 1e-6
    pp = plane_for(P, d, kind="pca")
    assert pp.values["iterates"] > 6
    with pytest.raises(ValueError, match=r"^plane: .*n0 >= 2"):
        plane_for(build_problem(Config(channels=(1, 8, 1))))
    with pytest.raises(ValueError, match=r"^plane: must be one of"):
        plane_for(P, kind="sideways")



@pytest.mark.parametrize("extent", [1.0, 3.0, 9.0])
def test_the_star_plane_s_window_holds_z_star_and_minus_z_star(extent):
    """Reference: z* and −z* lie at u = ±‖z*‖, v = 0 (checked by projecting them by hand); the window
    is max(extent, 1.25‖z*‖) on each side of 0, like the endpoint and PCA planes' margins."""
    z = np.array([2.0, -1.0, 2.5, 0.5, -1.5, 1.0, 0.7, -2.2, 1.1, 0.3])
    nz = float(np.linalg.norm(z))
    p = star_plane(z, seed=3)
    for s, name in ((1, "z*"), (-1, "-z*")):
        uv = np.array([(s * z) @ p.d1, (s * z) @ p.d2])
        np.testing.assert_allclose(uv, [s * nz, 0.0], atol=1e-12)
        np.testing.assert_allclose(p.marks[name], uv, atol=1e-12)
    (u0, u1), (v0, v1) = p.window(extent)
    h = max(extent, 1.25 * nz)
    np.testing.assert_allclose([u0, u1, v0, v1], [-h, h, -h, h])
    assert u1 > nz and u0 < -nz
