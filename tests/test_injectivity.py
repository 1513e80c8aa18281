"""core.injectivity: σ_min and the condition number of A ∂G/∂z, against independent references.

References: numpy's SVD of the Jacobian of A G(z) built by central finite differences (float64);
the collapse set of core.collapse (where G(z) = G(z*) exactly, every observed pixel is constant,
so the Jacobian is 0); and the rank bound rank(A ∂G/∂z) ≤ m (so σ_min = 0 when m < n0).
"""
import numpy as np
import pytest
import torch

from core.collapse import collapse_set
from core.config import Config, from_preset
from core.injectivity import injectivity_at, injectivity_map, injectivity_of, singular_values
from core.landscape import landscape
from core.problem import build_problem

EXAMPLE = "examples.own_generator:build"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fd_singular_values(problem, z, h=1e-6):
    """numpy SVD of the central-difference Jacobian of z ↦ A G(z) (problem in float64)."""
    z = np.asarray(z, float)
    cols = []
    for k in range(z.size):
        e = np.zeros_like(z)
        e[k] = h
        zz = torch.as_tensor(np.stack([z + e, z - e]), dtype=torch.float64)
        x = problem.evaluator.observe(zz).numpy()
        cols.append((x[0] - x[1]) / (2 * h))
    return np.linalg.svd(np.stack(cols, 1), compute_uv=False)


@pytest.mark.parametrize("cfg", [from_preset("paper-fig4"), Config(generator=EXAMPLE),
                                 Config(channels=(4, 8, 8, 1), kernel=(3,), stride=(2,), activation="tanh")],
                         ids=["paper-fig4", "example", "conv-tanh-n0-4"])
def test_singular_values_match_numpy_svd_of_finite_difference_jacobian(cfg):
    """σ of A ∂G/∂z at z* and at three seeded points == numpy.linalg.svd of the central-difference
    Jacobian (h = 1e-6, float64)."""
    P = build_problem(cfg, dtype="float64")
    rng = np.random.default_rng(0)
    Z = np.vstack([P.z_star.numpy(), rng.standard_normal((3, P.n0)) * 1.5])
    s = singular_values(P.evaluator, Z)
    for zi, si in zip(Z, s):
        ref = fd_singular_values(P, zi)
        np.testing.assert_allclose(si, ref, rtol=1e-6, atol=1e-8 * ref[0])
    at = injectivity_at(P, Z)
    np.testing.assert_allclose(at["sigma_min"], s[:, -1])
    np.testing.assert_allclose(at["cond"], s[:, 0] / s[:, -1])


def test_injectivity_is_positive_at_z_star_on_paper_fig4():
    """paper-fig4 (Fig. 4a, 50 % observed): σ_min(A ∂G/∂z*) > 0, equal to the finite-difference value,
    with a finite condition number; the same in float32 to float32 precision."""
    P = build_problem(from_preset("paper-fig4"), dtype="float64")
    at = injectivity_at(P)
    ref = fd_singular_values(P, P.z_star.numpy())
    assert at["sigma_min"][0] > 1e-3 * at["sigma_max"][0]
    np.testing.assert_allclose(at["sigma_min"][0], ref[-1], rtol=1e-6)
    assert np.isfinite(at["cond"][0])
    at32 = injectivity_at(build_problem(from_preset("paper-fig4")))
    np.testing.assert_allclose(at32["sigma_min"], at["sigma_min"], rtol=1e-4)


def test_map_is_zero_on_the_collapse_set_of_mode_collapse():
    """mode-collapse (Fig. 4d, U[0, 1] weights): on every grid point of core.collapse's set, where
    G(z) = G(z*), σ_min = σ_max = 0 exactly; off the set the map is positive somewhere; the set covers
    a positive area, and the map's collapsed() region contains it."""
    P = build_problem(from_preset("mode-collapse"))
    L = landscape(P, grid=41)
    I = injectivity_of(P, L)
    C = collapse_set(P, L.plane, L.u, L.v)
    assert C.area_fraction > 0.05
    assert I.sigma_min.shape == I.cond.shape == L.J.shape
    assert np.all(I.sigma_min[C.in_set] == 0) and np.all(I.sigma_max[C.in_set] == 0)
    assert np.all(np.isinf(I.cond[C.in_set]))
    assert np.any(I.sigma_min[~C.in_set] > 0)
    assert np.all(I.collapsed()[C.in_set])
    at = injectivity_at(P)          # z* of the preset lies in the flat region
    assert at["sigma_min"][0] == 0 and np.isinf(at["cond"][0])


def test_map_equals_pointwise_values_and_does_not_depend_on_the_chunk():
    """The map on a plane of the example module == injectivity_at at the lifted grid points, for any chunk."""
    P = build_problem(Config(generator=EXAMPLE, plane="hessian"), dtype="float64")
    L = landscape(P, grid=(4, 5), extent=1.5)
    I = injectivity_map(P, L.plane, L.u, L.v)
    I3 = injectivity_map(P, L.plane, L.u, L.v, chunk=3)
    uu, vv = np.meshgrid(L.u, L.v)
    at = injectivity_at(P, L.plane.lift(uu, vv).reshape(-1, P.n0))
    for key in ("sigma_min", "sigma_max", "cond"):
        np.testing.assert_allclose(getattr(I, key).reshape(-1), at[key], rtol=1e-12)
        np.testing.assert_allclose(getattr(I3, key), getattr(I, key), rtol=1e-12)
    assert set(I.arrays()) == {"injectivity_sigma_min", "injectivity_sigma_max", "injectivity_cond"}


def test_fewer_measurements_than_unknowns_is_never_injective():
    """m < n0 (the example's 8 unknowns, 5 observed pixels): rank ≤ 5, so σ_min = 0 and cond = inf;
    per-row weights that observe fewer than n0 pixels give the same, and with the full mask the
    masked Jacobian's σ equal numpy's SVD of the kept rows."""
    P = build_problem(Config(generator=EXAMPLE, rate=5 / 256), dtype="float64")
    assert P.op.m == 5
    at = injectivity_at(P)
    assert at["sigma_min"][0] == 0 and np.isinf(at["cond"][0]) and at["sigma_max"][0] > 0
    Pf = build_problem(Config(generator=EXAMPLE, mask="identity"), dtype="float64")
    z = Pf.z_star[None].repeat(2, 1)
    weight = torch.zeros(2, Pf.op.m, dtype=torch.float64)
    weight[0, :5] = 1
    weight[1, ::2] = 1
    s = singular_values(Pf.evaluator, z, weight=weight)
    assert s[0, -1] == 0
    _, jac = Pf.evaluator.residual_and_jacobian(z[:1])
    np.testing.assert_allclose(s[1], np.linalg.svd(jac[0, ::2].numpy(), compute_uv=False), rtol=1e-10)
