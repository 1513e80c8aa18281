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
    """Reference: ρ₂ = 1/π (Hand & Voroninski), and core.critical.ray_minimum for the drawn net's
    ray minimum; the expected landscape is zero at z* and positive elsewhere; z* is the preset's."""
    from core.critical import ray_minimum

    cfg = from_preset("paper-fig4")
    E = expected_landscape(cfg, grid=21)
    assert E.J_emp.shape == E.J_exp.shape == (21, 21)
    assert np.array_equal(E.z_star, [0.8, -0.5])
    assert E.rho == pytest.approx(1 / math.pi) and E.t_closed == pytest.approx(1 / math.pi, abs=1e-6)
    assert E.rho_hat_ray == pytest.approx(ray_minimum(build_problem(cfg)), abs=2e-3)
    assert (E.t_emp, E.t_exp) == (E.rho_hat_ray, E.t_closed)          # the old names, until the dashboard switches
    assert expected_J(cfg, E.z_star[None])[0] == pytest.approx(0, abs=1e-9) and E.J_exp.min() >= 0


def test_cli_expected_writes_the_landscapes(tmp_path):
    """Reference: the arrays the subcommand documents, with the Monte Carlo mean beside the closed form."""
    out = tmp_path / "e.npz"
    assert cli_run(["expected", "--grid", "11", "--draws", "20", "--ray-draws", "50", "--out", str(out)]) == 0
    f = np.load(out)
    for k in ("J_emp", "J_exp", "J_mc", "J_mc_sem", "J_cv"):
        assert f[k].shape == (11, 11)
    assert f["ray_mc"].shape == f["t"].shape and float(f["rho"]) == pytest.approx(1 / math.pi)
    assert f["rho_hat_nets"].shape == (50,) and int(f["draws"]) == 20
    np.testing.assert_allclose(f["z_star"], [0.8, -0.5])                 # the preset's z*, kept
    assert cli_run(["expected", "--width", "0", "--out", str(out)]) == 2
    assert cli_run(["expected", "--weights", "uniform", "--out", str(out)]) == 2


# ---------------------------------------------------------------------------
# many draws: blocks, the exact diagonal, the control variate
# ---------------------------------------------------------------------------
def _loop_J_and_D(cfg, points, K):
    """Per draw, by ConvGenerator.forward (torch's conv_transpose, not the engine) and the draw's
    SamplingOperator: J = ½‖A G(z) − A G(z*)‖² and D = ½(‖A G(z)‖² + ‖A G(z*)‖²), each (K, Q)."""
    Js, Ds = [], []
    for c in draw_configs(cfg, K):
        P = build_problem(c, dtype="float64")
        with torch.no_grad():
            Ax = P.op.A(P.G(torch.tensor(points)))
        Js.append(0.5 * ((Ax - P.y) ** 2).sum(1).numpy())
        Ds.append(0.5 * ((Ax ** 2).sum(1) + (P.y ** 2).sum()).numpy())
    return np.array(Js), np.array(Ds)


def test_monte_carlo_in_blocks_equals_a_per_draw_loop(monkeypatch):
    """Reference: the per-draw loop above (7 nets), run here in blocks of 3 stacked nets: means,
    variances, the J–D covariance and the per-net totals, against numpy on the loop's arrays."""
    import core.expected as ex

    monkeypatch.setattr(ex, "BLOCK_DRAWS", 3)
    cfg = from_preset("paper-fig4")
    K = 7
    J, D = _loop_J_and_D(cfg, POINTS, K)
    mc = monte_carlo_J(cfg, POINTS, K, keep=True)
    assert np.allclose(mc.J, J, rtol=1e-9, atol=1e-9)
    assert np.allclose(mc.mean, J.mean(0), rtol=1e-10) and np.allclose(mc.std, J.std(0, ddof=1), rtol=1e-8)
    assert np.allclose(mc.D_mean, D.mean(0), rtol=1e-10) and np.allclose(mc.D_var, D.var(0, ddof=1), rtol=1e-8)
    cov = [np.cov(J[:, q], D[:, q])[0, 1] for q in range(len(POINTS))]
    assert np.allclose(mc.JD_cov, cov, rtol=1e-8, atol=1e-8)
    assert np.allclose(mc.J_sum, J.sum(1)) and np.allclose(mc.D_sum, D.sum(1))
    # Two runs over draws [0, 3) and [3, 7), merged, are the one run.
    m = ex._merge(monte_carlo_J(cfg, POINTS, 3), monte_carlo_J(cfg, POINTS, 4, start=3))
    for name in ("mean", "std", "D_mean", "D_var", "JD_cov", "J_sum"):
        assert np.allclose(getattr(m, name), getattr(mc, name), rtol=1e-9, atol=1e-9), name


def test_draws_are_one_stream_whatever_the_cut():
    """Reference: numpy's SeedSequence(seed).generate_state(n), sliced by hand."""
    from core.expected import draw_seeds

    full = [int(s) & 0x7FFFFFFF for s in np.random.SeedSequence(5).generate_state(10)]
    assert draw_seeds(5, 4) + draw_seeds(5, 6, start=4) == full
    cfgs = draw_configs(from_preset("paper-fig4"), 3, start=2)
    assert [c.weight_seed for c in cfgs] == draw_seeds(0, 3, start=2)
    assert all(c.z_star == (0.8, -0.5) for c in cfgs)                  # every draw keeps the preset's z*


@pytest.mark.parametrize("channels", [(2, 4, 1), (2, 3, 3, 1)])
def test_the_diagonal_is_exact_at_any_width(channels):
    """Reference: Monte Carlo over K = 3000 narrow nets (4 or 3 hidden channels). E[D(z)] with
    D = ½(‖A G(z)‖² + ‖A G(z*)‖²) needs only the diagonal of the Gram, linear in the previous
    layer's, so the closed form has no approximation there: within 4 standard errors everywhere."""
    from core.expected import expected_diagonal

    cfg = from_preset("paper-fig4", channels=channels, z_star=(0.8, -0.5))
    mc = monte_carlo_J(cfg, POINTS, 3000)
    assert np.all(np.abs(expected_diagonal(cfg, POINTS) - mc.D_mean) <= 4 * np.sqrt(mc.D_var / mc.K))


def test_controlled_mean_is_the_regression_estimate_written_out():
    """Reference: J̄ − β(D̄ − E D) with β = cov(J, D)/var(D) and variance var(J) − cov²/var(D),
    by numpy on the kept draws of the per-draw loop."""
    from core.expected import expected_diagonal

    cfg = from_preset("paper-fig4")
    K = 40
    J, D = _loop_J_and_D(cfg, POINTS[1:], K)
    ED = expected_diagonal(cfg, POINTS[1:])
    mean, sem = monte_carlo_J(cfg, POINTS[1:], K).controlled(ED)
    for q in range(len(POINTS) - 1):
        C = np.cov(J[:, q], D[:, q])
        beta = C[0, 1] / C[1, 1]
        assert mean[q] == pytest.approx(J[:, q].mean() - beta * (D[:, q].mean() - ED[q]), rel=1e-9)
        assert sem[q] == pytest.approx(math.sqrt((C[0, 0] - C[0, 1] ** 2 / C[1, 1]) / K), rel=1e-7)


def test_draws_to_detect_is_the_normal_power_formula():
    """Reference: scipy.stats.norm: at K = draws_to_detect(cv, b), a bias b is at least
    z_detect + z_power standard errors cv/√K out, and one net fewer is not; z_power is the 90 % quantile."""
    from scipy.stats import norm

    from core.expected import Z_DETECT, Z_POWER, draws_to_detect

    assert Z_POWER == pytest.approx(norm.ppf(0.9), abs=1e-4)
    for cv, b in ((0.33, 0.01), (0.055, 0.01), (1.2, 0.05)):
        K = draws_to_detect(cv, b)
        assert b / (cv / math.sqrt(K)) >= Z_DETECT + Z_POWER > b / (cv / math.sqrt(K - 1))


# ---------------------------------------------------------------------------
# the −z* ray over many nets
# ---------------------------------------------------------------------------
def _loop_ray(cfg, t, K):
    """Per draw: build_problem and J(−t z*) on the grid by core.landscape.ray_slice, (K, T)."""
    from core.landscape import ray_slice

    return np.array([ray_slice(build_problem(c, dtype="float64"), -t) for c in draw_configs(cfg, K)])


@pytest.mark.parametrize("changes", [{}, dict(activation="leaky_relu", padding=(1,)), dict(last_activation="tanh")])
def test_ray_monte_carlo_equals_a_loop_of_problems(changes):
    """Reference: one build_problem per drawn net (a plain loop, K = 6), J sampled on the ray:
    the mean and its standard error, every net's ray minimum and the mean's minimum by the
    parabola rule on the samples (exact for the quadratic of a homogeneous net)."""
    from core.critical import interior_minimum
    from core.expected import ray_monte_carlo

    cfg = from_preset("paper-fig4", **changes)
    K, T = 6, 301
    r = ray_monte_carlo(cfg, K, n_ray=T, n_boot=0)
    J = _loop_ray(cfg, r.t, K)
    assert r.exact == ("last_activation" not in changes)
    assert np.allclose(r.mean, J.mean(0), rtol=1e-9, atol=1e-9)
    assert np.allclose(r.sem, J.std(0, ddof=1) / math.sqrt(K), rtol=1e-6, atol=1e-9)
    per_net = np.array([interior_minimum(r.t, j) for j in J])
    assert np.array_equal(np.isnan(per_net), np.isnan(r.rho_hat))
    assert np.allclose(r.rho_hat[np.isfinite(per_net)], per_net[np.isfinite(per_net)], atol=1e-9)
    assert r.t_min == pytest.approx(interior_minimum(r.t, J.mean(0)), abs=1e-9, nan_ok=True)


def test_ray_standard_errors_agree_and_the_sampled_path_matches_the_quadratic(monkeypatch):
    """Reference: a bootstrap over nets against the delta method (K = 1000, within 25 %); and the
    sampled path (J on the t grid through monte_carlo_J, forced) against the exact quadratic."""
    import core.expected as ex

    cfg = from_preset("paper-fig4")
    r = ex.ray_monte_carlo(cfg, 1000, n_boot=200)
    assert r.t_min_se == pytest.approx(r.t_min_se_boot, rel=0.25)
    monkeypatch.setattr(ex, "_homogeneous", lambda c: False)
    s = ex.ray_monte_carlo(cfg, 200, n_boot=0)
    monkeypatch.undo()
    e = ex.ray_monte_carlo(cfg, 200, n_boot=0)
    assert not s.exact and e.exact
    assert np.allclose(s.mean, e.mean, rtol=1e-9) and s.t_min == pytest.approx(e.t_min, abs=1e-9)
    assert np.allclose(s.rho_hat, e.rho_hat, atol=1e-9, equal_nan=True)


# ---------------------------------------------------------------------------
# the report the CLI prints
# ---------------------------------------------------------------------------
def test_expected_report_keeps_z_star_and_sizes_K_to_see_the_bias():
    """Reference: the preset's z* (0.8, −0.5); draws_to_detect on the report's own spread; the
    arrays the CLI writes; a one-line verdict."""
    from core.expected import draws_to_detect, expected_report

    cfg = from_preset("paper-fig4")
    R = expected_report(cfg, grid=7, K_ray=300, K_pilot=50)
    assert np.array_equal(R.z_star, [0.8, -0.5]) and R.config.z_star == (0.8, -0.5)
    assert R.K_needed == draws_to_detect(R.cv_cv, 0.01) and R.K_needed_plain == draws_to_detect(R.cv, 0.01)
    assert R.K >= min(R.K_needed, 50) and R.cv_cv < R.cv                # the control variate removes spread
    assert "\n" not in R.verdict and "ρ̂_ray" in R.verdict
    a = R.arrays()
    for k in ("J_emp", "J_exp", "J_mc", "J_cv", "rel_bias", "rel_bias_cv"):
        assert a[k].shape == (7, 7)
    assert a["rho_hat_nets"].shape == (300,) and a["rho_hat_hist"].sum() == np.isfinite(a["rho_hat_nets"]).sum()
    small = expected_report(cfg, K=20, grid=5, K_ray=20)
    assert not small.detectable and "cannot detect" in small.verdict
    wide = widen(cfg, 2)
    assert wide.z_star == cfg.z_star
    with pytest.raises(ConfigError, match="draws"):
        expected_report(cfg, K=1, grid=5)
    with pytest.raises(ConfigError, match="bias"):
        expected_report(cfg, K=20, grid=5, bias=2.0)


def test_expected_report_gives_no_verdict_from_too_few_nets():
    """Reference: with K = 2 the control-variate regression fits its two parameters exactly, so its
    standard error is 0 whatever the bias; the report must say it cannot judge, not 'detected'."""
    from core.config import from_preset
    from core.expected import MIN_SPREAD_DRAWS, expected_report

    R = expected_report(from_preset("paper-fig4"), K=2, grid=5, K_ray=20)
    assert not R.detectable and "no verdict" in R.verdict and "not judged" in R.verdict
    assert "detected" not in R.verdict.replace("not detected", "").replace("detect a", "")
    assert MIN_SPREAD_DRAWS > 2


def test_monte_carlo_and_closed_form_run_one_intra_op_thread(threads_seen):
    """The Monte Carlo (its weight draws) and the closed form (its arc-cosine kernels) are computed
    with one intra-op torch thread whatever the caller set (with two, a 300-draw Monte Carlo of 49
    points took 4.5 s beside a busy process against 0.30 s), and the caller's count is back
    afterwards. Reference: torch.get_num_threads() read inside those calls."""
    import core.expected as ex

    threads_seen(ex, "draw_weights")
    threads_seen(ex, "arccos_kernel")
    cfg = from_preset("paper-fig4")
    z = np.random.default_rng(0).normal(size=(5, 2))
    ex.monte_carlo_J(cfg, z, 20)
    ex.expected_J(cfg, z)
    ex.ray_monte_carlo(cfg, 20, n_ray=11)
    assert torch.get_num_threads() == 2
    seen = threads_seen.seen
    assert {n for n, _ in seen} == {"draw_weights", "arccos_kernel"} and {t for _, t in seen} == {1}
