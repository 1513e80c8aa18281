"""The inversion experiment (core.inversion, Fig. 5) and the ``invert`` command."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from core import Config, build_problem, from_preset
from core.config import ConfigError
from core.descent import descend
from core.inversion import PSNR_CAP, InvertSpec, mean_images, psnr, run_inversion
from core.trained import idx
from core.trained.dcgan import ASSETS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = idx.DEFAULT_DATA
needs_data = pytest.mark.skipif(not (DATA / "MNIST" / "raw").is_dir(), reason="MNIST not in ../shared/data")
needs_assets = pytest.mark.skipif(not (ASSETS / "mnist_generator.pt").is_file(), reason="no shipped generator")


@needs_assets
@pytest.mark.parametrize("mask", ["random", "bottom"])
def test_default_solver_inverts_the_shipped_generator(mask):
    """Reference: z* itself, drawn before the inversion; the paper's exact recovery (‖ẑ − z*‖ ≤ 1e-3‖z*‖)
    for every one of 20 draws, random and half-image masks alike, each labelled recovered."""
    res = run_inversion(InvertSpec(Config(generator="mnist", mask=mask), trials=20))
    assert res.success.all(), (res.latent_error, res.diagnosis.counts)
    assert (res.diagnosis.label == "recovered").all()
    assert res.z_hat.shape == (20, 10) and res.psnr.shape == (20,)
    # σ_min of the masked Jacobian at z* is positive: locally injective on the observed pixels.
    assert (res.sigma_min > 0).all() and np.isfinite(res.cond).all()


def _starts_by_hand(seed, T, S, n0):
    """Trial t's starts as documented: seed_t from SeedSequence([seed, 0x5747_5254]) (31 bits), then S
    rows of numpy's PCG64(seed_t) standard normals."""
    seeds = [int(s) & 0x7FFFFFFF for s in np.random.SeedSequence([seed, 0x5747_5254]).generate_state(T)]
    return torch.from_numpy(np.stack([np.random.Generator(np.random.PCG64(s)).standard_normal((S, n0)) for s in seeds]))


@needs_assets
def test_batched_trials_equal_single_problems():
    """Reference: each trial rebuilt as its own Problem (build_problem with that z* and class, the
    conditional generator's class fixed) and solved by descend from the same starts."""
    cfg = Config(generator="mnist", mask="top", dtype="float64", steps=300)
    res = run_inversion(InvertSpec(cfg, trials=3, restarts=2))
    starts = _starts_by_hand(cfg.start_seed, 3, 2, 10)
    for t in range(3):
        P = build_problem(cfg.replace(z_star=tuple(float(x) for x in res.z_star[t]), label=int(res.labels[t])))
        d = descend(P, starts[t, :1].numpy(), keep_path=False)
        assert d.label[0] == "recovered"
        np.testing.assert_allclose(res.z_hat[t], d.paths[-1][0], atol=1e-9)


@needs_assets
def test_J_of_the_conditional_generator_matches_a_dense_operator():
    """Reference: J written with the dense matrix of A (SamplingOperator.to_dense) and an explicit sum,
    per row with its own y and class (the Objective the experiment uses)."""
    from core.generators import build_generator
    from core.masks import make_operator
    from core.problem import Objective

    G = build_generator(Config(generator="mnist"), dtype=torch.float64)
    op = make_operator("random", (1, 32, 32), rate=0.3, seed=1, dtype=torch.float64)
    z, c = torch.randn(4, 10, dtype=torch.float64), torch.tensor([0, 3, 5, 9])
    y = torch.randn(4, op.m, dtype=torch.float64)
    obj = Objective(G.evaluator(op, torch.zeros(op.m, dtype=torch.float64)), 10, group=torch.arange(4), target=y,
                    labels=c)
    with torch.no_grad():
        ref = 0.5 * ((G(z, c).flatten(1) @ op.to_dense().T - y) ** 2).sum(1)
    torch.testing.assert_close(obj.J(z, torch.arange(4)), ref)


def test_psnr_closed_form():
    """Reference: a uniform error of 0.1 on the [0, 1] scale has MSE 0.01, i.e. 20 dB; identical images hit the cap."""
    a = np.zeros((2, 1, 4, 4))
    b = a + 0.2                       # 0.1 on the [0, 1] scale of (−1, 1)
    np.testing.assert_allclose(psnr(a, b), [20.0, 20.0])
    where = np.zeros((1, 4, 4), bool)
    where[0, 0, 0] = True
    b[:, 0, 0, 0] = 1.0               # only that pixel: error 0.5 on the [0, 1] scale → MSE 0.25
    np.testing.assert_allclose(psnr(a, b, where), 10 * np.log10(1 / 0.25))
    assert psnr(a, a)[0] == PSNR_CAP
    np.testing.assert_allclose(psnr(a, a + 0.1, value_range=(0.0, 1.0)), [20.0, 20.0])


def test_latent_error_under_noise_matches_the_cramer_rao_reference():
    """Reference: the linearised Cramér–Rao bound σ² tr((JᵀJ)⁻¹), with J the masked Jacobian at z*.
    For a ReLU net (piecewise linear) and small noise the least-squares estimate is linear in the noise,
    so E‖ẑ − z*‖² equals the bound; over 200 trials the ratio lies within ±30 %.

    The bound is about the estimate at the minimum near z*, so it is compared over the trials that end
    at a fit to the noise floor (``recovered``, ``other_fit``). A trial whose both starts end at a
    spurious critical point (``critical``; one of these 200 draws: ẑ ≈ −0.26 z*, J 10⁵× the floor)
    is the −ρ z* neighbourhood that Theorem 1 allows, not an estimate of z*: there must be few, each
    on the far side of the origin from z*, each far above the noise floor."""
    cfg = from_preset("paper-fig4", z_star=(), noise="gaussian:0.01", dtype="float64")
    res = run_inversion(InvertSpec(cfg, trials=200, restarts=2))
    spurious = res.diagnosis.label == "critical"
    assert spurious.sum() <= 4 and not (res.diagnosis.label == "diverged").any()
    for t in np.flatnonzero(spurious):
        assert res.z_hat[t] @ res.z_star[t] < 0 and res.J_hat[t] > 100 * res.noise_floor[t]
    fit = np.isin(res.diagnosis.label, ("recovered", "other_fit"))
    err2 = (res.latent_error[fit] * np.linalg.norm(res.z_star[fit], axis=1)) ** 2
    crb2 = (res.crb_rel[fit] * np.linalg.norm(res.z_star[fit], axis=1)) ** 2
    assert 0.7 < err2.mean() / crb2.mean() < 1.3, (err2.mean(), crb2.mean())
    assert (res.noise_floor > 0).all()


def test_invert_spec_rejects_bad_values_naming_the_field():
    """Reference: the house rule (STYLE.md §4): bad values raise ConfigError naming the field."""
    spec = InvertSpec(Config(generator="mnist", mask="top"), trials=5)
    assert InvertSpec.from_json(spec.to_json()) == spec
    for kw, field in ((dict(trials=0), "trials"), (dict(trials=2.5), "trials"), (dict(restarts=65), "restarts"),
                      (dict(target="moon"), "target"), (dict(start_scale=-1.0), "start_scale"),
                      (dict(config=Config(), target="real"), "target"), (dict(extra_budgets=-1), "extra_budgets"),
                      (dict(extra_budgets=11), "extra_budgets"), (dict(extra_budgets=True), "extra_budgets"),
                      (dict(extra_budgets=1.5), "extra_budgets")):
        with pytest.raises(ConfigError) as e:
            InvertSpec(**{"config": Config(generator="mnist"), **kw})
        assert e.value.field == field


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "core", "invert", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@needs_assets
def test_cli_invert_writes_the_documented_arrays(tmp_path):
    """Reference: the README's list of .npz fields and shapes."""
    out = tmp_path / "f"
    r = _cli("--mask", "top", "--trials", "3", "--restarts", "1", "--steps", "5", "--extra-budgets", "0",
             "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert str(out) + ".npz" in r.stdout                 # it says the file it wrote
    d = np.load(str(out) + ".npz")
    assert d["z_star"].shape == (3, 10) and d["z_hat"].shape == (3, 10)
    assert d["success"].shape == (3,) and d["psnr"].shape == (3,) and d["success_rate"].shape == ()
    assert d["diagnosis"].shape == (3,) and set(d["diagnosis"]) <= {"recovered", "other_fit", "critical",
                                                                      "unconverged", "diverged"}
    assert d["sigma_min"].shape == (3,) and d["trial_seed"].shape == (3,) and d["test_index"].shape == (3,)
    # 5 steps and no more budgets: every draw is missed, and the summary names each with its landscape's seed.
    assert not d["success"].any()
    for t in range(3):
        assert f"#{t} {d['diagnosis'][t]} (--z-seed {d['trial_seed'][t]})" in r.stdout
    assert json.loads(str(d["config"]))["mask"] == "top" and json.loads(str(d["config"]))["generator"] == "mnist"


@pytest.mark.parametrize("args, flag", [(["--mask", "diagonal"], "--mask"), (["--trials", "many"], "--trials"),
                                        (["--rate", "2"], "--rate"), (["--bogus", "1"], "--bogus"),
                                        (["--trials", "0"], "--trials"), (["--generator", "nope.pt"], "--generator"),
                                        (["--target", "real", "--generator", "conv"], "--target")])
def test_cli_invert_bad_flags_exit_2_naming_the_flag(tmp_path, args, flag):
    """Reference: the CLI contract (status 2, one line naming the flag)."""
    r = _cli(*args, "--out", str(tmp_path / "f.npz"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0], r.stderr


@needs_assets
@needs_data
def test_out_of_range_targets_report_hidden_pixel_psnr_and_baselines():
    """Reference: the mean images computed the slow way (resize every training image, then average)."""
    res = run_inversion(InvertSpec(Config(generator="mnist", mask="top", steps=20), trials=3, restarts=1,
                                   target="real"))
    assert np.isnan(res.z_star).all() and not res.success.any() and (res.test_index >= 0).all()
    assert np.isfinite(res.psnr_hidden).all() and np.isfinite(res.baseline_psnr_hidden).all()
    im, lab = idx.load_split(DATA, "mnist", "train")
    total, ones = np.zeros((32, 32)), np.zeros((32, 32))
    for a in range(0, 60000, 10000):
        x = idx.to_32(im[a:a + 10000]).double().numpy()[:, 0]
        total += x.sum(0)
        ones += x[lab[a:a + 10000] == 1].sum(0)
    mean, cmeans = mean_images("mnist", str(DATA))
    np.testing.assert_allclose(mean, total / 60000, atol=1e-6)
    np.testing.assert_allclose(cmeans[1], ones / 6742, atol=1e-6)


def _z_by_hand(seed, T, n0):
    """Trial t's z*, written out as documented: seed_t from numpy's SeedSequence([seed, 0x5A53_5452])
    (31 bits), then torch.randn(n0) from manual_seed(seed_t), the landscape's z* at z_seed = seed_t."""
    seeds = [int(s) & 0x7FFFFFFF for s in np.random.SeedSequence([seed, 0x5A53_5452]).generate_state(T)]
    return torch.stack([torch.randn(n0, generator=torch.Generator().manual_seed(s), dtype=torch.float64)
                        for s in seeds]), seeds


def test_no_trial_starts_at_its_answer():
    """Reference: z* drawn by hand as the code documents it (:func:`_z_by_hand`); with z_seed = start_seed
    (both default to 0) no start of invert, phase or descend may equal any z* row."""
    from core.config import Config
    from core.descent import random_starts
    from core.inversion import InvertSpec, draw_truth
    from core.phase import PhaseRunner, PhaseSpec

    for seed in (0, 5):
        z_star, seeds = _z_by_hand(seed, 8, 10)
        z_inv, _, inv_seeds = draw_truth(InvertSpec(Config(generator="mnist", z_seed=seed, start_seed=seed), trials=8),
                                         10, True)
        assert torch.equal(z_inv, z_star) and inv_seeds == seeds
        runner = PhaseRunner(PhaseSpec(config=Config(channels=(10, 8, 1), kernel=(4,), stride=(4,), z_seed=seed,
                                                     start_seed=seed), patterns=("random",), rates=(0.5,),
                                       trials=8, restarts=1))
        assert torch.equal(runner.z_star, z_star)
        starts = [runner.starts.reshape(-1, 10), random_starts(10, 8, seed)]
        for s in starts:
            d = torch.cdist(s, z_star)
            assert float(d.min()) > 1e-3, "a start is one of the z* draws"


def test_a_trial_does_not_depend_on_how_many_trials_run():
    """A run of 3 trials is the first 3 of a run of 5: the same z*, classes, starts, noise and end points
    (float64). Before, z* and the classes were drawn as one tensor each, so their values moved with T
    (50 against 100 MNIST draws: 6 of 50 classes agreed). Reference for the truth: trial t is the
    landscape at z_seed = its seed (core.problem.build_problem's z* and class), drawn independently.
    A first run with the end points compared to 1e-8 failed by 1.8e-7: the stop within the tolerance
    moves with the batch, so they are compared at 1e-6 (the errors against z* are ~1e-2 here)."""
    from core.config import Config
    from core.inversion import InvertSpec, run_inversion
    from core.problem import build_problem, draw_label

    cfg = Config(generator="mnist", mask="top", dtype="float64", steps=200, noise="gaussian:0.01", z_seed=3)
    a = run_inversion(InvertSpec(cfg, trials=3, restarts=2))
    b = run_inversion(InvertSpec(cfg, trials=5, restarts=2))
    assert np.array_equal(a.z_star, b.z_star[:3]) and np.array_equal(a.labels, b.labels[:3])
    assert np.array_equal(a.trial_seed, b.trial_seed[:3]) and np.array_equal(a.noise_floor, b.noise_floor[:3])
    # The same end points to the solver's tolerance: batched float64 sums round with the batch's size.
    np.testing.assert_allclose(a.z_hat, b.z_hat[:3], rtol=0, atol=1e-6)
    assert list(a.diagnosis.label) == list(b.diagnosis.label[:3])
    for t, s in enumerate(b.trial_seed):
        land = Config(generator="mnist", z_seed=int(s), dtype="float64")
        np.testing.assert_array_equal(build_problem(land).z_star.double().numpy(), b.z_star[t])
        assert draw_label(land) == b.labels[t]
    assert len(set(b.labels.tolist())) > 1, "the classes are drawn per trial, not one for all"
    # With its noise seed too, a draw's landscape is its J: J(z*) there is the inversion's noise floor.
    for t in range(5):
        land = cfg.replace(z_seed=int(b.trial_seed[t]), noise_seed=int(b.trial_noise_seed[t]))
        P = build_problem(land)
        assert float(P.J(P.z_star.reshape(1, -1))[0]) == pytest.approx(b.noise_floor[t], rel=1e-9)


def test_a_trials_z_mask_and_noise_come_from_different_seeds_when_the_base_seeds_are_equal():
    """All base seeds default to 0. torch draws z* and a random mask (or a Gaussian A, or the noise)
    from the same bits for equal seeds, so a trial's seeds for each must differ. Reference: the seeds
    the runner used, against each other (a first version derived z* and mask seeds alike)."""
    from core.config import Config
    from core.phase import PhaseRunner, PhaseSpec
    from core.problem import trial_noise_seeds

    r = PhaseRunner(PhaseSpec(config=Config(channels=(10, 8, 1), kernel=(4,), stride=(4,)), patterns=("random",),
                              rates=(0.5,), trials=50, restarts=1))
    z, mask, noise = set(r.z_seeds), set(r.mask_seeds), set(trial_noise_seeds(0, 50))
    assert len(z) == len(mask) == len(noise) == 50 and not (z & mask) and not (z & noise) and not (mask & noise)


def test_a_phase_trial_does_not_depend_on_how_many_trials_or_restarts_run():
    """PhaseRunner with 3 trials × 2 restarts against 5 × 4: the same z*, classes, first starts, masks
    and noisy outputs for the first 3 trials; z* against the hand-drawn reference."""
    from core.config import Config
    from core.phase import PhaseRunner, PhaseSpec

    cfg = Config(generator="mnist", z_seed=7, start_seed=2, noise="gaussian:0.05", dtype="float64")
    small = PhaseRunner(PhaseSpec(config=cfg, patterns=("random",), rates=(0.3,), trials=3, restarts=2))
    big = PhaseRunner(PhaseSpec(config=cfg, patterns=("random",), rates=(0.3,), trials=5, restarts=4))
    assert torch.equal(small.z_star, _z_by_hand(7, 5, 10)[0][:3]) and torch.equal(big.z_star[:3], small.z_star)
    assert torch.equal(small.labels, big.labels[:3]) and torch.equal(small.starts, big.starts[:3, :2])
    assert torch.equal(big.starts, _starts_by_hand(2, 5, 4, 10))
    assert torch.equal(small.masks("random", 0.3), big.masks("random", 0.3)[:3])
    # G(z*) in a batch of 3 or 5 rounds alike only to the last bits; the noise is the same draw.
    torch.testing.assert_close(small.y_full, big.y_full[:3], rtol=0, atol=1e-12)


def test_a_dense_gaussian_A_inverts_in_float32_and_keeps_its_dtype():
    """Reference: the operator's own dtype before the run (float32); the float64 continuation of a miss
    used to convert the shared operator in place (nn.Module.to), and the float32 Jacobian at z* then
    multiplied float32 by float64. Success is judged against the z* the test draws by hand."""
    from core.config import Config
    from core.inversion import InvertSpec, run_inversion

    r = run_inversion(InvertSpec(Config(generator="mnist", mask="gaussian", rate=0.5, steps=300), trials=4, restarts=2))
    z = _z_by_hand(0, 4, 10)[0].numpy()
    assert np.allclose(r.z_star, z) and np.all(np.isfinite(r.sigma_min)) and r.success_rate > 0


def test_trials_still_converging_are_continued_before_they_count(monkeypatch):
    """GD with 20 steps on the Fig. 4 network (float64, so no float64 pass follows): with
    CONTINUE_ROUNDS = 0 some trials end unconverged; with the default rounds those trials are solved
    on and more recover, while the trials that did not need it keep their end point exactly
    (reference: the same inversion with no continuation)."""
    import core.diagnosis as diagnosis

    spec = InvertSpec(from_preset("paper-fig4", method="gd", steps=20, dtype="float64"), trials=24, restarts=1)
    monkeypatch.setattr(diagnosis, "CONTINUE_ROUNDS", 0)
    before = run_inversion(spec)
    monkeypatch.setattr(diagnosis, "CONTINUE_ROUNDS", 3)
    after = run_inversion(spec)
    un = before.diagnosis.label == "unconverged"
    assert un.any(), before.diagnosis.counts                            # the premise: the budget ended some
    assert not before.continued.any()
    assert after.success.sum() > before.success.sum()
    assert np.array_equal(after.z_hat[~un], before.z_hat[~un])
    assert np.array_equal(after.diagnosis.label[~un], before.diagnosis.label[~un])
    assert np.all(after.continued[~un] == 0) and np.all((after.continued[un] >= 1) & (after.continued[un] <= 3))
    assert np.all(after.iterations[un] > before.iterations[un]) and np.all(after.iterations[un] <= 20 * (1 + 3))
    # A trial still unconverged at the end used every extra budget.
    still = after.diagnosis.label == "unconverged"
    assert np.all(after.continued[still] == 3)


def test_cli_invert_warns_when_the_budget_ended_trials(tmp_path, capsys):
    """One GD step (and three more after it; float64, so no float64 pass follows): the misses are
    labelled unconverged and the CLI says on stderr that the budget, not the landscape, ended them;
    reference: the diagnosis and the extra budgets written to the file, counted by hand."""
    from core.cli import run as cli_run

    out = tmp_path / "b.npz"
    rc = cli_run(["invert", "--preset", "paper-fig4", "--trials", "4", "--restarts", "1", "--method", "gd",
                  "--steps", "1", "--dtype", "float64", "--out", str(out)])
    assert rc == 0
    cap = capsys.readouterr()
    f = np.load(out)
    n = int((f["diagnosis"] == "unconverged").sum())
    assert n > 0, f["diagnosis"]
    assert np.all(f["continued"][f["diagnosis"] == "unconverged"] == 3)
    assert f"unconverged {n}" in cap.out and "\nwarning" not in cap.out
    assert cap.err.startswith("warning: ") and f"{n} unconverged" in cap.err and "3 more budgets" in cap.err
    # --extra-budgets 0: exactly the budget (the paper's Adam-500 column); the warning says so.
    rc = cli_run(["invert", "--preset", "paper-fig4", "--trials", "4", "--restarts", "1", "--method", "gd",
                  "--steps", "1", "--dtype", "float64", "--extra-budgets", "0", "--out", str(out)])
    assert rc == 0
    cap = capsys.readouterr()
    f0 = np.load(out)
    assert not f0["continued"].any() and np.all(f0["iterations"] <= 1)
    n0 = int((f0["diagnosis"] == "unconverged").sum())
    assert n0 >= n and f"{n0} unconverged" in cap.err and "no extra budgets" in cap.err
    assert cli_run(["invert", "--preset", "paper-fig4", "--extra-budgets", "11", "--out", str(out)]) == 2
    assert "--extra-budgets" in capsys.readouterr().err
