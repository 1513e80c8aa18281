"""Expected landscape E_W[J]: Monte Carlo over weight draws and the arc-cosine closed form (core.expected)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.cli import run as cli_run
from core.config import Config, ConfigError, from_preset
from core.expected import (arccos_kernel, draw_configs, expected_J, expected_landscape, inclusion,
                           interior_minimum, monte_carlo_J, widen)
from core.generators.conv_family import draw_weights
from core.problem import draw_z_star
from core.masks import make_operator
from core.problem import build_problem
from core.theory import g, rho

POINTS = np.array([[0.0, 0.0], [1.0, 1.0], [-0.8, 0.5], [-0.3, 0.2], [2.0, -1.0], [0.5, 0.5]])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def hand_voroninski_loss(z, z_star, d):
    """2^{−d−1}(‖z‖² + ‖z*‖²) − 2^{−d}‖z‖‖z*‖ cos θ̄_d, with θ̄ from core.theory.g (Hand & Voroninski 2017)."""
    nz, ns = np.linalg.norm(z, axis=1), np.linalg.norm(z_star)
    th = np.arccos(np.clip(z @ z_star / (nz * ns), -1, 1))
    for _ in range(d):
        th = g(th)
    return 2.0 ** (-d - 1) * (nz ** 2 + ns ** 2) - 2.0 ** (-d) * nz * ns * np.cos(th)


# ---------------------------------------------------------------------------
# the kernel
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("act, slope", [("relu", 0.0), ("leaky_relu", 0.2), ("identity", 0.0)])
def test_arccos_kernel_matches_monte_carlo_for_one_layer(act, slope):
    """Reference: 400,000 draws of w ~ N(0, s² I₃), E[σ(w·a) σ(w·b)] and E[σ(w·a)²] by sample means,
    within 4 standard errors."""
    rng = np.random.default_rng(0)
    s = 0.7
    a_vec, b_vec = np.array([0.6, -0.8, 1.2]), np.array([-0.5, 0.4, 0.9])
    w = rng.standard_normal((400_000, 3)) * s
    sig = {"relu": lambda x: np.maximum(x, 0), "leaky_relu": lambda x: np.where(x > 0, x, slope * x),
           "identity": lambda x: x}[act]
    u, v = sig(w @ a_vec), sig(w @ b_vec)
    a2, b2, c2 = arccos_kernel(s * s * a_vec @ a_vec, s * s * b_vec @ b_vec, s * s * a_vec @ b_vec, act, slope)
    for samples, value in ((u * v, c2), (u * u, a2), (v * v, b2)):
        assert abs(samples.mean() - value) < 4 * samples.std() / math.sqrt(samples.size)


def test_closed_form_of_a_fully_connected_net_is_the_hand_voroninski_loss():
    """Reference: the Hand–Voroninski expected loss written above from core.theory.g (d = 3, kernel =
    stride = 1, N(0, 1/C_out) weights, everything observed)."""
    cfg = Config(dim=1, channels=(3, 50, 50, 50), kernel=(1,), stride=(1,), weight_std="paper", mask="identity",
                 z_star=(0.6, -0.8, 1.2))
    z = np.random.default_rng(1).standard_normal((20, 3))
    assert np.allclose(expected_J(cfg, z), hand_voroninski_loss(z, np.array(cfg.z_star), 3), rtol=1e-12)


def test_closed_form_of_a_conv_net_is_proportional_to_hand_voroninski_with_critical_point_at_rho():
    """Reference: Hand–Voroninski's loss and ρ_d (core.theory.rho). With a 1×1 input and a positively
    homogeneous σ every output position's Gram is a scalar multiple of the same 2×2 matrix, so the
    conv net's E[J] is a constant times the fully connected one, and its −z* critical point is −ρ_d z*."""
    cfg = from_preset("authors-code")
    z = np.random.default_rng(2).standard_normal((30, 2)) * 2
    ratio = expected_J(cfg, z) / hand_voroninski_loss(z, np.array(cfg.z_star), 4)
    assert np.allclose(ratio, ratio[0], rtol=1e-10)
    t = np.linspace(0, 1.5, 3001)
    ray = expected_J(cfg, -t[:, None] * np.array(cfg.z_star))
    assert interior_minimum(t, ray) == pytest.approx(rho(4), abs=1e-4)


# ---------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("preset, changes", [("paper-fig4", {}), ("authors-code", {}),
                                             ("paper-fig4", dict(padding=(1,), activation="leaky_relu")),
                                             ("paper-fig4", dict(dim=1, channels=(2, 8, 3), mask="left"))])
def test_batched_monte_carlo_equals_a_per_draw_loop(preset, changes):
    """Reference: build_problem on each draw's config (core.generators.engine, float64), one draw at a time."""
    cfg = from_preset(preset, **changes)
    K = 4
    mc = monte_carlo_J(cfg, POINTS, K, keep=True)
    for k, c in enumerate(draw_configs(cfg, K)):
        J = build_problem(c, dtype="float64").evaluator.J(torch.tensor(POINTS)).numpy()
        assert np.allclose(mc.J[k], J, rtol=1e-9, atol=1e-9), k
    assert np.allclose(mc.mean, mc.J.mean(0)) and np.allclose(mc.sem, mc.J.std(0, ddof=1) / 2)


def test_random_masks_are_redrawn_and_fixed_on_request():
    """Reference: the masks of make_operator for each draw's mask_seed (by hand)."""
    cfg = from_preset("paper-fig4")
    cfgs = draw_configs(cfg, 3)
    assert len({c.mask_seed for c in cfgs}) == 3 and len({c.weight_seed for c in cfgs}) == 3
    assert all(c.mask_seed == cfg.mask_seed for c in draw_configs(cfg, 3, redraw_mask=False))
    op = make_operator("random", cfg.output_shape(), rate=0.5, seed=cfg.mask_seed)
    assert np.all(inclusion(cfg, redraw_mask=True) == op.m / op.n)
    assert np.array_equal(inclusion(cfg, redraw_mask=False), op.mask.numpy().astype(float))


# ---------------------------------------------------------------------------
# closed form against Monte Carlo
# ---------------------------------------------------------------------------
def test_closed_form_is_exact_for_a_one_layer_conv_net():
    """Reference: Monte Carlo mean over K = 3000 draws; for d = 1 the closed form has no approximation,
    so it must lie within 4 standard errors everywhere."""
    cfg = Config(dim=2, channels=(2, 6), kernel=(5,), stride=(3,), mask="random", rate=0.5, z_star=(0.8, -0.5))
    mc = monte_carlo_J(cfg, POINTS, 3000)
    assert np.all(np.abs(expected_J(cfg, POINTS) - mc.mean) <= 4 * mc.sem + 1e-12)


def test_closed_form_matches_monte_carlo_on_the_small_paper_net():
    """Reference: Monte Carlo mean over K = 400 draws of paper-fig4 (16 channels), within 4 standard
    errors. The closed form's finite-width bias here is 1–3 % (measured with K = 2000), below the
    standard error at this K (≈ 2–3 %)."""
    cfg = from_preset("paper-fig4")
    mc = monte_carlo_J(cfg, POINTS, 400)
    ex = expected_J(cfg, POINTS)
    assert np.all(np.abs(ex - mc.mean) <= 4 * mc.sem + 1e-12)


def test_closed_form_matches_monte_carlo_on_a_wide_net():
    """Reference: Monte Carlo mean over K = 600 draws of paper-fig4 widened 4× (2 → 64 → 4 channels):
    within 4 standard errors and within 2 % (the infinite-width error shrinks like 1/width)."""
    cfg = widen(from_preset("paper-fig4"), 4)
    mc = monte_carlo_J(cfg, POINTS[1:], 600)
    ex = expected_J(cfg, POINTS[1:])
    assert np.all(np.abs(ex - mc.mean) <= 4 * mc.sem)
    assert np.all(np.abs(ex - mc.mean) <= 0.02 * mc.mean)


def test_the_origin_term_is_exact_at_any_width():
    """Reference: Monte Carlo over K = 3000 draws at z = 0. E[J(0)] = ½ Σ π E[G(z*)²] involves only the
    diagonal of the Gram, which is linear in the previous layer's Gram, so the closed form is exact
    there even for a 4-channel hidden layer."""
    cfg = from_preset("paper-fig4", channels=(2, 4, 1))
    mc = monte_carlo_J(cfg, POINTS[:1], 3000)
    assert abs(expected_J(cfg, POINTS[:1])[0] - mc.mean[0]) <= 4 * mc.sem[0]


def test_last_layer_is_exact_given_the_first():
    """Reference: a fixed first layer W₁ and 4000 draws of the last layer, run as 4000 output channels
    of one conv_transpose2d; the conditional expectation is written out here with the ReLU
    arc-cosine formula over each output pixel's receptive field of the actual layer-1 activations."""
    cfg = from_preset("paper-fig4", channels=(2, 3, 1))
    W1 = draw_weights(cfg)[0]
    K = 4000
    W2 = torch.randn(3, K, 5, 5, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    z_star = draw_z_star(cfg)
    z = torch.tensor(POINTS[1:])
    mask = make_operator("top", (1, 17, 17), rate=0.5).mask[0].double()

    def layer1(v):
        return torch.relu(F.conv_transpose2d(v.reshape(-1, 2, 1, 1), W1, stride=3))  # (Q, 3, 5, 5)

    a, a_star = layer1(z), layer1(z_star[None])
    G, G_star = torch.relu(F.conv_transpose2d(a, W2, stride=3)), torch.relu(F.conv_transpose2d(a_star, W2, stride=3))
    J = 0.5 * (((G - G_star) ** 2) * mask).sum((2, 3))                      # (Q, K)
    ones = torch.ones(1, 1, 5, 5, dtype=torch.float64)

    def gram(p, q):  # Σ over channels and receptive field of p·q, per output pixel
        return F.conv_transpose2d((p * q).sum(1, keepdim=True), ones, stride=3)[:, 0]

    A, B, C = gram(a, a), gram(a_star, a_star), gram(a, a_star)
    AB = torch.sqrt(A * B)
    cos = torch.clamp(C / torch.where(AB > 0, AB, 1.0), -1, 1)
    th = torch.arccos(cos)
    cross = AB * (torch.sin(th) + (math.pi - th) * cos) / (2 * math.pi)  # 0 where a field is all zero
    exact = 0.5 * (((A / 2 + B / 2 - 2 * cross)) * mask).sum((1, 2))
    sem = J.std(1) / math.sqrt(K)
    assert torch.all((J.mean(1) - exact).abs() <= 4 * sem)


def test_closed_form_needs_gaussian_weights_and_homogeneous_activations():
    """Reference: the documented restrictions; each error names its field."""
    cfg = from_preset("paper-fig4")
    for changes, field in ((dict(weights="uniform"), "weights"), (dict(activation="tanh"), "activation"),
                           (dict(last_activation="sigmoid"), "last_activation"), (dict(mask="gaussian"), "mask")):
        with pytest.raises(ConfigError) as e:
            expected_J(cfg.replace(**changes), POINTS)
        assert e.value.field == field
    for K in (1, 10 ** 6):
        with pytest.raises(ConfigError, match="draws"):
            monte_carlo_J(cfg, POINTS, K)
    with pytest.raises(ConfigError, match="width_factor"):
        widen(cfg, 0)
    with pytest.raises(ConfigError, match="channels"):
        widen(cfg, 64)
    with pytest.raises(ValueError, match="z"):
        expected_J(cfg, np.zeros((3, 5)))


# ---------------------------------------------------------------------------
# side by side, and the CLI
# ---------------------------------------------------------------------------
def test_expected_landscape_marks_the_three_points_on_the_negative_ray():
    """Reference: ρ₂ = 1/π (Hand & Voroninski), and core.critical.negative_ray_critical for the
    empirical point; the expected landscape is zero at z* and positive elsewhere."""
    from core.critical import negative_ray_critical

    cfg = from_preset("paper-fig4")
    E = expected_landscape(cfg, grid=21)
    assert E.J_emp.shape == E.J_exp.shape == (21, 21)
    assert E.rho == pytest.approx(1 / math.pi) and E.t_exp == pytest.approx(1 / math.pi, abs=1e-3)
    assert E.t_emp == pytest.approx(negative_ray_critical(build_problem(cfg)), abs=2e-3)
    assert expected_J(cfg, E.z_star[None])[0] == pytest.approx(0, abs=1e-9) and E.J_exp.min() >= 0


def test_cli_expected_writes_the_landscapes(tmp_path):
    """Reference: the arrays the subcommand documents, with the Monte Carlo mean beside the closed form."""
    out = tmp_path / "e.npz"
    assert cli_run(["expected", "--grid", "11", "--draws", "20", "--out", str(out)]) == 0
    f = np.load(out)
    for k in ("J_emp", "J_exp", "J_mc", "J_mc_sem"):
        assert f[k].shape == (11, 11)
    assert f["ray_emp"].shape == f["t"].shape and float(f["rho"]) == pytest.approx(1 / math.pi)
    assert cli_run(["expected", "--width", "0", "--out", str(out)]) == 2
    assert cli_run(["expected", "--weights", "uniform", "--out", str(out)]) == 2
