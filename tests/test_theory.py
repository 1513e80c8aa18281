"""Tests for core.theory: each test names where its reference value comes from."""

import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from core.theory import (
    expected_critical_on_negative_ray,
    expected_gradient,
    expected_gradient_field,
    g,
    neighbourhood_circle,
    rho,
    theory_neighbourhoods,
)

# /work/shared/paper/NOTES.md, section "Theory" (values quoted from Hand & Voroninski 2017).
NOTES_RHO = {1: 0.0, 2: 0.318310, 3: 0.493731, 4: 0.604826, 5: 0.680954, 6: 0.735946}


def _orthonormal_plane(n0, seed):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n0, 2)))
    return q[:, 0], q[:, 1]


def _naive_h(z, z_star, d):
    """h(z) for one point, written term by term from the formula in NOTES.md."""
    nz, ns = math.sqrt(sum(a * a for a in z)), math.sqrt(sum(a * a for a in z_star))
    cos0 = sum(a * b for a, b in zip(z, z_star)) / (nz * ns)
    theta = [math.acos(max(-1.0, min(1.0, cos0)))]
    for _ in range(1, d):
        t = theta[-1]
        theta.append(math.acos(max(-1.0, min(1.0, ((math.pi - t) * math.cos(t) + math.sin(t)) / math.pi))))
    prod_all = 1.0
    for t in theta:
        prod_all *= (math.pi - t) / math.pi
    coef = 0.0
    for i in range(d):
        p = 1.0
        for j in range(i + 1, d):
            p *= (math.pi - theta[j]) / math.pi
        coef += math.sin(theta[i]) / math.pi * p
    return [(a - prod_all * b - coef * ns * a / nz) / 2**d for a, b in zip(z, z_star)]


@pytest.mark.parametrize("d", sorted(NOTES_RHO))
def test_rho_matches_notes_table(d):
    """Reference: the ρ_d table in NOTES.md ("Theory"), given to 6 decimals."""
    assert rho(d) == pytest.approx(NOTES_RHO[d], abs=1e-6)


def test_rho_two_is_one_over_pi():
    """Reference: closed form ρ_2 = 1/π (θ̌_1 = g(π) = π/2), NOTES.md."""
    assert rho(2) == 1 / math.pi


def test_rho_increases_below_one():
    """Reference: NOTES.md, ρ_d → 1 from below as d → ∞ (checked up to d = 50)."""
    values = np.array([rho(d) for d in range(1, 51)])
    assert np.all(np.diff(values) > 0)
    assert values[-1] < 1


@pytest.mark.parametrize("d", range(1, 9))
def test_rho_is_root_of_expected_gradient_on_negative_ray(d):
    """Reference: bisection for the zero of h along z = −t z* (vector code path, not rho's sum)."""
    assert expected_critical_on_negative_ray(d) == pytest.approx(rho(d), abs=1e-10)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_expected_gradient_on_positive_ray_closed_form(d):
    """Reference: at θ̄_0 = 0 every θ̄_i = 0, so h = 2^{-d}(z − z*); it vanishes at z = z*.

    The tolerance allows for arccos(1 − 1e-16) ≈ 1.5e-8 when the angle is computed in float64.
    """
    z_star = np.array([0.7, -1.3, 2.0, 0.4])
    for c in (1.0, 0.3, 2.5):
        expected = (c - 1) * z_star / 2**d
        assert np.allclose(expected_gradient(c * z_star, z_star, d), expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("d", [1, 2, 3, 6])
def test_expected_gradient_matches_naive_loop(d):
    """Reference: _naive_h, a per-point pure-Python loop written from the NOTES.md formula."""
    rng = np.random.default_rng(d)
    z_star = rng.standard_normal(5)
    z = rng.standard_normal((3, 4, 5)) * 2
    ref = np.array([[_naive_h(list(p), list(z_star), d) for p in row] for row in z])

    out_np = expected_gradient(z, z_star, d)
    assert isinstance(out_np, np.ndarray) and out_np.shape == z.shape
    np.testing.assert_allclose(out_np, ref, rtol=1e-12, atol=1e-14)

    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        out_t = expected_gradient(torch.as_tensor(z, dtype=dtype), torch.as_tensor(z_star), d)
        assert isinstance(out_t, torch.Tensor) and out_t.dtype == dtype and out_t.shape == z.shape
        np.testing.assert_allclose(out_t.numpy(), ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_expected_gradient_is_gradient_of_expected_loss(d):
    """Reference: central finite differences of the expected loss
    f_E(z) = 2^{-d}/2 (‖z‖² + ‖z*‖²) − 2^{-d} ‖z‖ ‖z*‖ cos θ̄_d.

    Derivation: per layer, E‖relu(Wx)‖² = ½‖x‖² and E⟨relu(Wx), relu(Wy)⟩ = ½‖x‖‖y‖ cos g(θ)
    (arc-cosine kernel, W entries N(0, 1/n_out)); iterating gives the d-layer expression.
    Points are kept away from θ = 0 and θ = π, where arccos is not differentiable.
    """
    rng = np.random.default_rng(10 + d)
    z_star = rng.standard_normal(4)

    def f_E(z):
        nz, ns = np.linalg.norm(z), np.linalg.norm(z_star)
        t = math.acos(float(z @ z_star) / (nz * ns))
        for _ in range(d):
            t = g(t)
        return (0.5 * (nz**2 + ns**2) - nz * ns * math.cos(t)) / 2**d

    step = 1e-6
    for _ in range(5):
        z = rng.standard_normal(4) * 1.5
        fd = np.array([(f_E(z + step * e) - f_E(z - step * e)) / (2 * step) for e in np.eye(4)])
        np.testing.assert_allclose(expected_gradient(z, z_star, d), fd, rtol=0, atol=1e-7)


def test_expected_gradient_d1_matches_monte_carlo_relu_layer():
    """Reference: torch autograd of f(z) = ½‖relu(Wz) − relu(Wz*)‖² for one W (n1 = 20000,
    entries i.i.d. N(0, 1/n1)), seeded.

    With this scaling E[∇f] = h(z) for d = 1 exactly (no extra constant): E[W_{+,z}ᵀW_{+,z}] = I/2
    and E[W_{+,z}ᵀW_{+,z*}] z* = ((π−θ) z* + sin θ ‖z*‖ z/‖z‖)/(2π). ∇f is a sum of n1 i.i.d. row
    terms, so its standard error is sqrt(n1)·std(row term); we allow 5 standard errors per
    component, and check that this is far tighter than ‖h‖ so the test can tell scalings apart.
    """
    n0, n1 = 4, 20000
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(n1, n0, generator=gen, dtype=torch.float64) / math.sqrt(n1)
    z_star = torch.tensor([1.0, -0.5, 0.8, 0.3], dtype=torch.float64)
    perp = torch.tensor([0.5, 1.0, 0.0, 0.0], dtype=torch.float64)
    points = [torch.randn(n0, generator=gen, dtype=torch.float64) * 1.5,
              -0.5 * z_star + 0.2 * perp,
              1.2 * z_star + 0.3 * perp]
    for z0 in points:
        z = z0.clone().requires_grad_(True)
        f = 0.5 * torch.sum((torch.relu(W @ z) - torch.relu(W @ z_star)) ** 2)
        (grad,) = torch.autograd.grad(f, z)

        with torch.no_grad():
            a, b = W @ z0, W @ z_star
            rows = W * ((a > 0) * (torch.relu(a) - torch.relu(b)))[:, None]
        torch.testing.assert_close(rows.sum(0), grad)  # autograd agrees with the row sum
        se = math.sqrt(n1) * rows.std(0)

        h = expected_gradient(z0, z_star, 1)
        assert torch.all((grad - h).abs() <= 5 * se), (grad, h, se)
        assert 5 * se.max() < 0.1 * h.norm()


def test_neighbourhood_circle_points_on_sphere():
    """Reference: lift (u, v) back to R^{n0} and measure the distance to the centre directly."""
    n0 = 5
    d1, d2 = _orthonormal_plane(n0, seed=1)
    origin = np.array([0.3, -0.2, 0.1, 0.0, 0.5])
    normal = np.linalg.svd(np.stack([d1, d2]))[2][-1]  # a unit vector orthogonal to the plane
    radius = 1.3
    for center, label in ((origin + 0.7 * d1 - 0.4 * d2, "in plane"),
                          (origin + 0.7 * d1 - 0.4 * d2 + 0.9 * normal, "off plane")):
        cu, cv = neighbourhood_circle(center, radius, origin, d1, d2, n=64)
        assert cu.shape == cv.shape == (64,), label
        lifted = origin + cu[:, None] * d1 + cv[:, None] * d2
        np.testing.assert_allclose(np.linalg.norm(lifted - center, axis=1), radius, atol=1e-12)
        assert (cu[0], cv[0]) == pytest.approx((cu[-1], cv[-1]))  # closed curve

    cu, cv = neighbourhood_circle(origin + 2.0 * normal, radius, origin, d1, d2)
    assert cu.shape == cv.shape == (0,)


def test_expected_gradient_field_matches_pointwise():
    """Reference: expected_gradient at each lifted grid point, projected with explicit dot products."""
    n0, d = 3, 2
    d1, d2 = _orthonormal_plane(n0, seed=2)
    origin, z_star = np.array([0.1, 0.2, -0.3]), np.array([1.0, -1.0, 0.5])
    u, v = np.linspace(-2, 2, 5), np.linspace(-1, 1, 3)
    hu, hv = expected_gradient_field(u, v, origin, d1, d2, z_star, d)
    assert hu.shape == hv.shape == (3, 5)
    for i, vi in enumerate(v):
        for j, uj in enumerate(u):
            h = expected_gradient(origin + uj * d1 + vi * d2, z_star, d)
            assert (hu[i, j], hv[i, j]) == pytest.approx((h @ d1, h @ d2), abs=1e-14)


def test_theory_neighbourhoods_values():
    """Reference: Theorem 1 balls B(z*, ε‖z*‖) and B(−ρ_d z*, ε‖z*‖), with ρ_3 from NOTES.md."""
    z_star = np.array([3.0, 4.0])
    out = theory_neighbourhoods(z_star, 3, 0.1)
    assert set(out) == {"z_star", "neg_rho_z_star", "rho", "radius"}
    assert out["rho"] == pytest.approx(0.493731, abs=1e-6)
    np.testing.assert_allclose(out["neg_rho_z_star"], -out["rho"] * z_star)
    np.testing.assert_array_equal(out["z_star"], z_star)
    assert out["radius"] == pytest.approx(0.5)


PLANE = (np.zeros(3), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))


@pytest.mark.parametrize("call, field", [
    (lambda: rho(0), "d"),
    (lambda: rho(2.0), "d"),
    (lambda: rho(True), "d"),
    (lambda: expected_gradient(np.ones(3), np.ones(3), 0), "d"),
    (lambda: expected_gradient(np.ones((2, 3)), np.ones(4), 2), "z_star"),
    (lambda: theory_neighbourhoods(np.ones(2), 2, 0.0), "eps"),
    (lambda: theory_neighbourhoods(np.ones(2), 2, -1.0), "eps"),
    (lambda: neighbourhood_circle(np.ones(3), -1.0, *PLANE), "radius"),
    (lambda: neighbourhood_circle(np.ones(3), 1.0, *PLANE, n=2), "n"),
    (lambda: neighbourhood_circle(np.ones(2), 1.0, *PLANE), "center"),
    (lambda: neighbourhood_circle(np.ones(3), 1.0, PLANE[0], 2 * PLANE[1], PLANE[2]), "d1"),
    (lambda: expected_gradient_field(np.zeros((2, 2)), np.zeros(2), *PLANE, np.ones(3), 2), "u"),
    (lambda: expected_gradient_field(np.zeros(2), np.zeros(2), PLANE[0], PLANE[1], PLANE[1],
                                     np.ones(3), 2), "d1 and d2"),
])
def test_bad_inputs_name_the_field(call, field):
    """Reference: the input contract in the docstrings; the message must name the field."""
    with pytest.raises(ValueError, match=rf"^{field}\b"):
        call()


def test_core_theory_imports_no_plotting():
    """Reference: STYLE.md rule 1, checked in a fresh interpreter."""
    code = "import sys, core.theory; assert not {'dash', 'plotly'} & set(sys.modules)"
    repo_root = pathlib.Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root)
