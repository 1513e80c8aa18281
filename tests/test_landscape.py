"""Landscapes, slices, descent, basins, critical points and collapse, each against an independent reference."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.collapse import collapse_set
from core.config import Config, from_preset
from core.critical import critical_points, negative_ray_critical
from core.descent import basins, descend, random_starts
from core.diagnosis import near_negative_ray
from core.landscape import default_plane, landscape, make_plane, ray_slice, slice_1d
from core.problem import build_problem

ROOT = Path(__file__).resolve().parents[1]


def J_loop(P, z):
    """Per-point reference: the conv_transpose Generator and the operator, one z at a time."""
    z = torch.as_tensor(np.asarray(z), dtype=torch.float64)
    return np.array([float(0.5 * ((P.op.A(P.G(zi[None]))[0] - P.y) ** 2).sum()) for zi in z])


def test_landscape_grid_equals_per_point_loop_2d_latent():
    """J[i, j] = J(origin + u[j] d1 + v[i] d2), window centred on z* (n0 = 2)."""
    cfg = from_preset("paper-fig4", grid=9, dtype="float64")
    P = build_problem(cfg)
    L = landscape(P, grid=(7, 9))
    assert L.J.shape == (7, 9) and L.u.shape == (9,) and L.v.shape == (7,)
    assert L.u[0] == pytest.approx(0.8 - 3) and L.v[-1] == pytest.approx(-0.5 + 3)
    pts = [L.plane.origin + L.u[j] * L.plane.d1 + L.v[i] * L.plane.d2 for i in range(7) for j in range(9)]
    np.testing.assert_allclose(L.J.ravel(), J_loop(P, pts), rtol=1e-10, atol=1e-12)
    assert L.rho == pytest.approx(1 / np.pi)


def test_default_plane_for_large_latent_contains_z_star_and_minus_z_star():
    """n0 > 2: d1 = z*/‖z*‖, d2 ⟂ d1 unit; J at plane point (‖z*‖, 0) is J(z*) = 0."""
    cfg = Config(channels=(5, 16, 1), dtype="float64")
    P = build_problem(cfg)
    zs = P.z_star.numpy()
    pl = default_plane(cfg, zs)
    assert pl.d1 @ pl.d2 == pytest.approx(0, abs=1e-12) and np.linalg.norm(pl.d2) == pytest.approx(1)
    np.testing.assert_allclose(pl.lift(np.linalg.norm(zs), 0.0), zs)
    u = np.array([-np.linalg.norm(zs), 0.3, np.linalg.norm(zs)])
    L = landscape(P, plane=pl, u_range=(u[0], u[-1]), v_range=(-1, 1), grid=(3, 3))
    assert L.J[1, 2] == pytest.approx(0, abs=1e-20)
    custom = make_plane(np.zeros(5), zs, np.ones(5))
    L2 = landscape(P, plane=custom, grid=(4, 5))
    pts = [custom.lift(L2.u[j], L2.v[i]) for i in range(4) for j in range(5)]
    np.testing.assert_allclose(L2.J.ravel(), J_loop(P, pts), rtol=1e-10)


def test_slices_equal_per_point_loop():
    P = build_problem(Config(dtype="float64"))
    t = np.linspace(-2, 2, 11)
    np.testing.assert_allclose(ray_slice(P, t), J_loop(P, t[:, None] * P.z_star.numpy()), rtol=1e-10)
    d = np.array([0.3, -1.0])
    np.testing.assert_allclose(slice_1d(P, d, t, origin=[1, 1]), J_loop(P, np.array([1, 1]) + t[:, None] * d),
                               rtol=1e-10)


def test_near_negative_ray_by_hand():
    """Points placed by hand relative to z* = (2, 0): within ε‖z*‖ = 0.2 of {−t z*: t > 0} or not."""
    zs = np.array([2.0, 0.0])
    ends = np.array([[2.001, 0], [-0.6, 0.05], [0.0, 2.0], [-0.6, 1.0], [0.6, 0.0], [-3.0, -0.19]])
    near, t = near_negative_ray(ends, zs, eps=0.1)
    np.testing.assert_array_equal(near, [False, True, False, False, False, True])
    np.testing.assert_allclose(t[[1, 5]], [0.3, 1.5])


def test_adam_recovers_z_star_from_most_starts_paper_fig4():
    """The paper's claim (Fig. 4, ReLU): descent ends at z*; ≥ 90% of 200 random starts recover it."""
    P = build_problem(from_preset("paper-fig4"))
    d = descend(P, random_starts(2, 200, seed=0, scale=2.0), method="adam", steps=500)
    T = int(d.solve.iterations.max())        # the path ends when the last start stopped
    assert T <= 500 and d.paths.shape == (T + 1, 200, 2) and d.J_path.shape == (T + 1, 200)
    assert d.success_rate >= 0.9, d.counts
    np.testing.assert_allclose(d.paths[0], random_starts(2, 200, seed=0, scale=2.0).numpy(), rtol=1e-6)
    # J_path is J along the path: recompute a few entries with the per-point loop.
    P64 = build_problem(from_preset("paper-fig4"), dtype="float64")
    np.testing.assert_allclose(d.J_path[10, :5], J_loop(P64, d.paths[10, :5]), rtol=1e-4, atol=1e-6)


def test_gd_step_is_the_gradient_step():
    """One plain GD step (no backtracking) equals z − lr ∇J with ∇J from central finite differences."""
    P = build_problem(Config(dtype="float64"))
    z0 = np.array([[0.3, 0.9], [-1.2, 0.4]])
    d = descend(P, z0, method="gd", lr=1e-3, steps=1, safeguard=False)
    h = 1e-6
    fd = np.stack([(J_loop(P, z0 + h * e) - J_loop(P, z0 - h * e)) / (2 * h) for e in np.eye(2)], 1)
    np.testing.assert_allclose(d.paths[1], z0 - 1e-3 * fd, rtol=1e-7, atol=1e-9)


def test_basins_equal_individual_descents():
    """The basin map's end points equal separate descents from the same starts."""
    P = build_problem(from_preset("paper-fig4", steps=60))
    L = landscape(P, grid=5)
    u, v = np.linspace(-1, 1, 4), np.linspace(-1, 2, 3)
    b = basins(P, L.plane, u, v, chunk=5)
    assert b.label.shape == (3, 4) and b.end.shape == (3, 4, 2)
    z0 = np.array([[uj, vi] for vi in v for uj in u])
    d = descend(P, z0, keep_path=False, extra_budgets=None)
    np.testing.assert_allclose(b.end.reshape(-1, 2), d.paths[-1], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(b.label.reshape(-1), d.label)
    assert b.success_rate == pytest.approx(float((b.label == "recovered").mean()))


def test_basin_starts_still_converging_get_more_budgets_before_they_are_labelled():
    """GD with 10 steps on the Fig. 4 network (float64): with no extra budgets some starts of the map
    end unconverged; with the default ones those starts are solved on from their end points and
    more recover, while every other start keeps its end point and label exactly (reference: the
    same map with ``extra_budgets=0``, and one descent solved on by hand for the budgets it used)."""
    P = build_problem(from_preset("paper-fig4", method="gd", steps=10, dtype="float64"))
    L = landscape(P, grid=5)
    u, v = np.linspace(-2, 2, 5), np.linspace(-2, 2, 4)
    before = basins(P, L.plane, u, v, extra_budgets=0)
    after = basins(P, L.plane, u, v)
    un = before.label == "unconverged"
    assert un.any(), before.counts                                    # the premise: the budget stopped some
    assert after.counts["unconverged"] < before.counts["unconverged"]
    assert after.success_rate > before.success_rate
    np.testing.assert_array_equal(after.end[~un], before.end[~un])
    np.testing.assert_array_equal(after.label[~un], before.label[~un])
    # By hand: a start that one more budget settles ends where the 10-step descent run again from
    # its first end point ends.
    again = descend(P, before.end[un], keep_path=False)
    settled = again.label != "unconverged"
    assert settled.any()
    np.testing.assert_allclose(after.end[un][settled], again.paths[-1][settled], rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="extra_budgets"):
        descend(P, before.end[un], extra_budgets=None)        # kept paths show exactly their budget


def test_critical_point_of_a_linear_net_is_the_least_squares_minimum():
    """Identity activations: J is quadratic; its one critical point is z* with Hessian (A W)ᵀ(A W)."""
    cfg = Config(activation="identity", dtype="float64", z_star=(0.4, -0.7), grid=41)
    P = build_problem(cfg)
    L = landscape(P)
    cps = critical_points(P, L.plane, L.u, L.v)
    assert len(cps) == 1 and cps[0].kind == "minimum"
    np.testing.assert_allclose(cps[0].z, [0.4, -0.7], atol=1e-8)
    # Hessian from the dense operator A∘G (G linear): columns G(e1), G(e2).
    AW = P.op.A(P.G(torch.eye(2, dtype=torch.float64))).T
    np.testing.assert_allclose(np.sort(cps[0].eigenvalues), np.linalg.eigvalsh((AW.T @ AW).numpy()), rtol=1e-6)


def test_critical_points_of_tanh_fig4_include_the_global_minimum():
    P = build_problem(from_preset("paper-fig4", activation="tanh", grid=61))
    L = landscape(P)
    cps = critical_points(P, L.plane, L.u, L.v)
    mins = [c for c in cps if c.kind == "minimum"]
    assert mins and np.allclose(mins[0].z, [0.8, -0.5], atol=1e-6) and mins[0].J < 1e-12


def test_negative_ray_critical_point_is_near_rho():
    """Fig. 4 ReLU: the empirical spurious point on the −z* ray sits near −ρ_2 z* (ρ_2 = 1/π)."""
    P = build_problem(from_preset("paper-fig4"))
    assert abs(negative_ray_critical(P) - 1 / np.pi) < 0.15


def test_mode_collapse_has_positive_area_and_gaussian_does_not():
    """U[0,1] weights: a region maps onto G(z*); Gaussian weights: essentially one grid cell."""
    cfg = from_preset("mode-collapse", grid=41)
    P = build_problem(cfg)
    L = landscape(P)
    C = collapse_set(P, L.plane, L.u, L.v)
    assert C.area_fraction > 0.05
    z1, z2 = C.witness
    assert np.linalg.norm(z1 - z2) > 1.0
    with torch.no_grad():
        x = P.G(torch.as_tensor(np.stack([z1, z2]), dtype=torch.float32))
    assert float((x[0] - x[1]).norm()) <= 1e-3 * float(P.x_star.norm()) + 1e-12
    Pg = build_problem(cfg.replace(weights="gaussian"))
    Cg = collapse_set(Pg, L.plane, L.u, L.v)
    assert Cg.in_set.sum() <= 4


def test_cli_writes_the_documented_npz(tmp_path):
    """python -m core landscape: keys, shapes, J[i, j] = J(origin + u[j] d1 + v[i] d2) by the loop."""
    out = tmp_path / "f.npz"
    r = subprocess.run([sys.executable, "-m", "core", "landscape", "--preset", "paper-fig4", "--grid", "5",
                        "--dtype", "float64", "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    f = np.load(out)
    cfg = Config.from_json(str(f["config"]))
    assert cfg.grid == 5 and {"activation", "negative_slope", "stride", "padding"} <= set(cfg.to_dict())
    assert f["J"].shape == (5, 5) and f["mask"].shape == (1, 17, 17) and f["mask"].dtype == bool
    assert f["W1"].shape == (2, 16, 5, 5) and f["W2"].shape == (16, 1, 5, 5)
    assert float(f["rho"]) == pytest.approx(1 / np.pi)
    P = build_problem(cfg)
    pts = [f["origin"] + f["u"][j] * f["d1"] + f["v"][i] * f["d2"] for i in range(5) for j in range(5)]
    np.testing.assert_allclose(f["J"].ravel(), J_loop(P, pts), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("args, flag", [
    (["--rate", "1.5"], "--rate"), (["--activation", "softplus"], "--activation"),
    (["--kernel", "99"], "--kernel"), (["--z-star", "nan,1"], "--z-star"), (["--channels", "2,-1"], "--channels"),
    (["--grid", "x"], "--grid"),
])
def test_cli_bad_flag_exits_2_with_one_line(tmp_path, args, flag):
    r = subprocess.run([sys.executable, "-m", "core", "landscape", *args, "--out", str(tmp_path / "x.npz")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0], r.stderr


def test_batched_adam_equals_torch_optim_adam():
    """The hand-written batched Adam equals torch.optim.Adam driven by autograd, start by start."""
    P = build_problem(from_preset("paper-fig4", dtype="float64"))
    z0 = random_starts(2, 5, seed=1, scale=2.0)
    d = descend(P, z0, method="adam", lr=0.1, steps=30)
    for s in range(5):
        z = z0[s:s + 1].clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=0.1)
        for _ in range(30):
            opt.zero_grad()
            P.evaluator.J(z).sum().backward()
            opt.step()
        np.testing.assert_allclose(d.paths[-1, s], z.detach().numpy()[0], rtol=1e-9, atol=1e-12)


def test_J_at_equals_per_point_loop():
    """core.landscape.J_at on scattered points equals the per-point reference loop."""
    from core.landscape import J_at

    P = build_problem(Config(dtype="float64"))
    z = np.random.default_rng(0).normal(size=(9, 2))
    np.testing.assert_allclose(J_at(P, z), J_loop(P, z), rtol=1e-10)
    with pytest.raises(ValueError, match="^z:"):
        J_at(P, np.zeros((3, 5)))
