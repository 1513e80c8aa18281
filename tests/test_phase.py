"""Phase transition of exact recovery (core.phase, core.cli.phase, core.sweep)."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import run as cli_run
from core.config import ConfigError, from_preset
from core.descent import descend
from core.generators.conv_family import ConvGenerator
from core.diagnosis import CONTINUE_ROUNDS, budget_note, failure_counts, order_failures
from core.phase import PhaseRunner, PhaseSpec, fit_logistic, parse_rates, phase_transition, summarise, wilson_interval
from core.problem import build_problem

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _spec(**kw):
    base = dict(config=from_preset("paper-fig4", z_star=(), steps=300), patterns=("random",),
                rates=(0.05, 1.0), trials=4, restarts=2)
    base.update(kw)
    return PhaseSpec(**base)


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------
def test_wilson_interval_matches_published_values():
    """Reference: Newcombe (1998), Statistics in Medicine 17:857, Table II, method 3 (Wilson score)."""
    cases = [((81, 263), (0.2553, 0.3662)), ((15, 148), (0.0624, 0.1605)),
             ((0, 20), (0.0, 0.1611)), ((1, 29), (0.0061, 0.1718))]
    for (k, n), (lo, hi) in cases:
        a, b = wilson_interval(k, n)
        assert a == pytest.approx(lo, abs=1e-4) and b == pytest.approx(hi, abs=1e-4), (k, n)


def test_wilson_interval_vectorised_equals_scalar_formula():
    """Reference: the score-interval formula written out here, one cell at a time."""
    k = np.array([[0, 3, 10], [7, 1, 5]])
    lo, hi = wilson_interval(k, 10)
    z = 1.959963984540054
    for (i, j), kk in np.ndenumerate(k):
        p, n = kk / 10, 10
        c = (p + z * z / (2 * n)) / (1 + z * z / n)
        h = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert lo[i, j] == pytest.approx(max(0.0, c - h), abs=1e-12)
        assert hi[i, j] == pytest.approx(min(1.0, c + h), abs=1e-12)
    with pytest.raises(ValueError, match="trials"):
        wilson_interval(11, 10)


def test_logistic_fit_recovers_a_known_curve():
    """Reference: counts generated from p(r) = 1/(1 + exp(−(r − 0.3)/0.05)) exactly (n p, not rounded)."""
    r = np.linspace(0.05, 1, 12)
    n = np.full(12, 1e4)
    k = n / (1 + np.exp(-(r - 0.3) / 0.05))
    r50, w = fit_logistic(r, k, n)
    assert r50 == pytest.approx(0.3, abs=1e-4) and w == pytest.approx(0.05, rel=1e-3)


def test_logistic_fit_on_separated_data_and_without_a_crossing():
    """Reference: by hand — a perfect step between r = 0.4 and 0.5 puts r50 at the middle of the gap;
    proportions that never cross ½ leave r50 undefined."""
    r = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    n = np.full(6, 20)
    r50, w = fit_logistic(r, np.array([0, 0, 0, 0, 20, 20]), n)
    assert r50 == pytest.approx(0.45, abs=0.01) and w < 0.01
    assert np.isnan(fit_logistic(r, np.full(6, 20), n)[0])
    assert np.isnan(fit_logistic(r, np.array([0, 1, 2, 3, 5, 9]), n)[0])


# ---------------------------------------------------------------------------
# the batched runner
# ---------------------------------------------------------------------------
def test_masked_gradient_matches_autograd_through_the_reference_generator():
    """Reference: autograd of ½ Σ w (G(z) − t)² with G the conv_transpose Generator (float64)."""
    cfg = from_preset("authors-code", z_star=(), dtype="float64")
    runner = PhaseRunner(PhaseSpec(config=cfg, patterns=("random",), rates=(0.5,), trials=3, restarts=2))
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(5, cfg.n0, generator=gen, dtype=torch.float64)
    target = torch.randn(5, runner.n, generator=gen, dtype=torch.float64).abs()
    weight = (torch.rand(5, runner.n, generator=gen) < 0.3).double()
    J, g = runner.evaluator.J_and_grad(z, target, weight)
    G = ConvGenerator(cfg, dtype=torch.float64)
    zr = z.clone().requires_grad_(True)
    Jr = 0.5 * (weight * (G(zr).reshape(5, -1) - target) ** 2).sum(1)
    (gr,) = torch.autograd.grad(Jr.sum(), zr)
    assert torch.allclose(J, Jr, rtol=1e-10, atol=1e-12)
    assert torch.allclose(g, gr, rtol=1e-8, atol=1e-10)


def test_batched_trials_equal_a_per_trial_loop_with_descend():
    """Reference: one core.descent.descend per trial, on build_problem with that trial's z*, mask and
    restarts (the mask drawn by make_operator with the trial's seed); best restart by final J."""
    cfg = from_preset("paper-fig4", z_star=(), steps=250, dtype="float64")
    spec = PhaseSpec(config=cfg, patterns=("random", "top"), rates=(0.01, 0.05, 0.5), trials=4, restarts=3)
    runner = PhaseRunner(spec)
    for pattern in spec.patterns:
        block = runner.run_block(pattern, [0, 1, 2])
        for i, rate in enumerate(spec.rates):
            for t in range(spec.trials):
                zs = runner.z_star[t]
                P = build_problem(cfg.replace(mask=pattern, rate=rate, mask_seed=runner.mask_seeds[t],
                                              z_star=tuple(float(x) for x in zs)))
                w = runner.masks(pattern, rate)[t]
                assert torch.equal(w.bool(), P.op.mask.reshape(-1))
                d = descend(P, runner.starts[t].numpy(), keep_path=False)
                z_hat = d.paths[-1][np.argmin(d.J_path[-1])]
                ok = np.linalg.norm(z_hat - zs.numpy()) <= cfg.tol * np.linalg.norm(zs.numpy())
                assert block.success[i, t] == ok, (pattern, rate, t)
                if ok:
                    assert np.allclose(block.z_hat[i, t], z_hat, atol=cfg.tol * np.linalg.norm(zs.numpy()))
                assert block.actual_rate[i, t] == pytest.approx(P.op.rate)


def test_a_cell_run_in_parts_holds_the_trials_of_the_cell_run_whole():
    """Reference: the same runner's block of every trial at once. A trial's z*, mask, noise, starts and
    search radius are its own, so the rows of a part equal those rows of the whole (float64, where a
    batch of another size rounds nearly alike, see below); noise on y and a conditional-free random family."""
    cfg = from_preset("paper-fig4", z_star=(), steps=200, dtype="float64", noise="gaussian:0.01")
    spec = PhaseSpec(config=cfg, patterns=("random", "top"), rates=(0.02, 0.3), trials=7, restarts=2)
    runner = PhaseRunner(spec)
    for pattern in spec.patterns:
        whole = runner.run_block(pattern, [0, 1])
        assert np.array_equal(whole.trial_index, np.arange(7))
        for part in (range(0, 3), range(3, 7), [5, 1]):
            b = runner.run_block(pattern, [0, 1], trials=part)
            idx = list(part)
            assert np.array_equal(b.trial_index, idx)
            assert np.array_equal(b.success, whole.success[:, idx]) and np.array_equal(b.diagnosis, whole.diagnosis[:, idx])
            # Equal labels and successes, the same end points to 1e-8: on the ill-posed cell (r = 0.02 of
            # a 2-unknown net, a few pixels) a batch of another size rounds its GEMMs differently, and the
            # stop within the tolerance moves (1.9e-10 measured on trial 0; 0 on the other cells).
            assert np.allclose(b.z_hat, whole.z_hat[:, idx], rtol=0, atol=1e-8)
            assert np.array_equal(b.actual_rate, whole.actual_rate[:, idx])
    with pytest.raises(ValueError, match="trials"):
        runner.run_block("top", [0], trials=[7])
    with pytest.raises(ValueError, match="trials"):
        runner.run_block("top", [0], trials=[1, 1])


@pytest.mark.parametrize("noise", ["gaussian:0.05", "quantize:3"])
def test_a_failed_trials_landscape_measures_the_trials_own_y(noise):
    """The landscape a failed trial links to (core.phase.failed_trials) holds the trial's z*, mask and
    measured y, noise included: y equals the runner's noisy output at the mask's observed entries, and J
    there at the trial's end point equals the cell's J (the same sum, written out by hand). A relu-last net
    has no bounded output range, so the 3-bit levels span the whole output, as in the phase run."""
    from core.phase import failed_trials

    cfg = from_preset("paper-fig4", z_star=(), steps=150, dtype="float64", noise=noise, last_activation="relu")
    spec = PhaseSpec(config=cfg, patterns=("random", "bottom"), rates=(0.1, 0.5), trials=3, restarts=1)
    runner = PhaseRunner(spec)
    every = [[np.zeros(3, bool)] * 2] * 2          # all failed: failed_trials names trials in its order
    for p, r, t, land in failed_trials(spec, every, 12):
        P = build_problem(land)
        w = runner.masks(spec.patterns[p], spec.rates[r], [t])[0].bool()
        assert torch.equal(P.op.mask.reshape(-1), w)
        assert torch.equal(P.z_star, runner.z_star[t])
        assert torch.equal(P.y, runner.y_full[t][w])
        if noise.startswith("gaussian"):
            assert not torch.equal(P.y, P.y_clean)
        z = runner.starts[t, 0]
        x = runner.evaluator.observe(z[None])[0]
        want = 0.5 * float(((runner.y_full[t] - x)[w] ** 2).sum())
        assert float(P.evaluator.J_many(z[None])[0]) == pytest.approx(want, rel=1e-12)


def test_phase_transition_on_paper_fig4_random_mask_rises_to_one():
    """Reference: the paper's observation (Sec. 3, Thm. 4) — recovery probability rises with r and is
    1 with everything observed (r = 1, where every pattern is the identity)."""
    spec = PhaseSpec(config=from_preset("paper-fig4", z_star=(), steps=300), patterns=("random", "top"),
                     rates=(0.004, 0.01, 0.03, 1.0), trials=24, restarts=4)
    res = phase_transition(spec)
    p = res.p_success
    assert p.shape == (2, 4) and np.all(p[:, -1] == 1.0)
    rand = p[0]
    assert rand[0] < 0.5 < rand[2]
    assert np.all(np.diff(rand) >= -2 / spec.trials), rand
    assert np.all(res.ci_low <= p) and np.all(p <= res.ci_high)
    assert 0.004 < res.r50[0] < 0.03 and 0.004 < res.r50_actual[0] < 0.03
    assert np.all(res.success.sum(2) == np.round(p * spec.trials))


def test_r50_interval_on_a_synthetic_jump():
    """A jump from 0 to all successes between two tested rates: no logistic r50 (the data cannot place
    it), but the interval is exactly those two rates; a gradual curve gets both."""
    spec = PhaseSpec(config=from_preset("paper-fig4", z_star=()), patterns=("random", "top"),
                     rates=(0.1, 0.2, 0.3, 0.4), trials=10, restarts=1)
    success = np.zeros((2, 4, 10), dtype=bool)
    success[0, 2:] = True                      # 0, 0, 10, 10 of 10: a jump between 0.2 and 0.3
    success[1, 1, :3] = True                   # 0, 3, 7, 10: gradual
    success[1, 2, :7] = True
    success[1, 3] = True
    res = summarise(spec, success)
    assert np.isnan(res.r50[0]) and (res.r50_low[0], res.r50_high[0]) == (0.2, 0.3)
    assert (res.r50_low[1], res.r50_high[1]) == (0.2, 0.3) and 0.2 < res.r50[1] < 0.3


# ---------------------------------------------------------------------------
# spec, bounds, CLI, sweep
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("changes, field", [
    (dict(trials=0), "trials"), (dict(trials=10**6), "trials"), (dict(restarts=0), "restarts"),
    (dict(restarts=1000), "restarts"), (dict(rates=()), "rates"), (dict(rates=(0.5, 1.5)), "rates"),
    (dict(rates=tuple(np.linspace(0.01, 1, 100))), "rates"), (dict(patterns=("gaussian",)), "patterns"),
    (dict(patterns=()), "patterns"), (dict(patterns=("top", "top")), "patterns"),
    (dict(trials=2000, restarts=64, rates=tuple(np.linspace(0.1, 1, 20))), "trials"),
    (dict(start_scale=-1.0), "start_scale"), (dict(trials=2.5), "trials"),
])
def test_spec_bounds_name_the_field(changes, field):
    """Reference: PhaseSpec's documented limits (PHASE_LIMITS)."""
    with pytest.raises(ConfigError) as e:
        _spec(**changes)
    assert e.value.field == field


def test_spec_round_trips_through_json_and_rejects_unknown_keys():
    """Reference: equality of the frozen dataclass after to_json → from_json."""
    s = _spec(patterns=("random", "left"), rates=parse_rates("0.05:1:12"))
    assert PhaseSpec.from_json(s.to_json()) == s
    assert len(s.rates) == 12 and s.rates[0] == 0.05 and s.rates[-1] == 1.0
    with pytest.raises(ConfigError, match="bogus"):
        PhaseSpec.from_dict({**s.to_dict(), "bogus": 1})
    with pytest.raises(ConfigError, match="rates"):
        parse_rates("0.1:1")


def test_cli_phase_writes_the_documented_arrays(tmp_path, capsys):
    """Reference: the issue's list of output arrays and shapes; config parses back into a Config."""
    out = tmp_path / "f.npz"
    rc = cli_run(["phase", "--preset", "paper-fig4", "--patterns", "random,border", "--rates", "0.05:1:3",
                  "--trials", "3", "--restarts", "2", "--steps", "120", "--out", str(out)])
    assert rc == 0
    f = np.load(out)
    assert f["rates"].shape == (3,) and list(f["patterns"]) == ["random", "border"]
    for k in ("p_success", "ci_low", "ci_high", "actual_rate"):
        assert f[k].shape == (2, 3)
    assert f["r50"].shape == f["r50_actual"].shape == (2,)
    assert json.loads(str(f["config"]))["steps"] == 120
    assert cli_run(["phase", "--trials", "-1", "--out", str(out)]) == 2
    assert "--trials" in capsys.readouterr().err


def test_failure_counts_match_a_hand_count_in_label_order():
    """Reference: the labels counted by hand; order of core.diagnosis.LABELS, unknown labels after."""
    labels = np.array([["recovered", "critical", "unconverged", ""], ["zeta", "critical", "recovered", "diverged"],
                       ["unconverged", "alpha", "critical", "other_fit"]])
    got = failure_counts(labels)
    assert got == {"other_fit": 1, "critical": 3, "unconverged": 2, "diverged": 1, "alpha": 1, "zeta": 1}
    assert list(got) == ["other_fit", "critical", "unconverged", "diverged", "alpha", "zeta"]
    assert failure_counts(None) == {} and failure_counts(np.full((2, 3), "recovered")) == {}
    assert order_failures({"diverged": 2, "critical": 0, "recovered": 9, "": 1}) == {"diverged": 2}
    assert "2 unconverged" in budget_note(got) and "budget" in budget_note(got)
    assert budget_note({"critical": 5}) == ""
    assert f"{CONTINUE_ROUNDS} more budgets" in budget_note(got) and "no extra budgets" in budget_note(got, 0)


def test_cli_phase_warns_when_the_budget_ended_trials(tmp_path, capsys):
    """A budget too small to converge (one GD step, and three more after it; float64, so no float64 pass
    follows): the misses are labelled unconverged, and the CLI says the budget, not the landscape, ended
    them; reference: the diagnosis written to the file, counted by hand."""
    out = tmp_path / "b.npz"
    rc = cli_run(["phase", "--preset", "paper-fig4", "--patterns", "random", "--rates", "1", "--trials", "4",
                  "--restarts", "1", "--method", "gd", "--steps", "1", "--dtype", "float64", "--out", str(out)])
    assert rc == 0
    cap = capsys.readouterr()
    diag = np.load(out)["diagnosis"]
    n = int((diag == "unconverged").sum())
    assert n > 0, diag
    assert f"unconverged {n}" in cap.out and "\nwarning" not in cap.out
    assert cap.err.startswith("warning: ") and f"{n} unconverged" in cap.err


def test_summarise_agrees_with_phase_transition():
    """Reference: summarise() recomputed from the raw success array of a run."""
    res = phase_transition(_spec(trials=5))
    again = summarise(res.spec, res.success)
    assert np.array_equal(again.p_success, res.p_success) and np.array_equal(again.ci_low, res.ci_low)


def test_sweep_on_a_local_cluster_equals_direct_runs():
    """Reference: phase_transition called directly on each spec. Run through an in-process
    LocalCluster (processes=False, as CI allows) and through dask's synchronous scheduler."""
    from dask.distributed import Client, LocalCluster

    from core.sweep import grid_specs, sweep

    items = grid_specs(_spec(trials=3, restarts=2), nets={"fig4": {}, "wide": {"channels": (2, 24, 1)}}, seeds=(0, 1))
    assert len(items) == 4 and items[3][0] == {"net": "wide", "activation": "relu", "weight_seed": 1}
    specs = [s for _, s in items[1:3]]
    direct = [phase_transition(s).success for s in specs]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl, \
            Client(cl) as client:
        got = sweep(specs, client=client)
    assert [g["success"].tolist() for g in got] == [d.tolist() for d in direct]
    seen = []
    sync = sweep(specs, scheduler="synchronous", progress=lambda d, t: seen.append((d, t)))
    assert [g["success"].tolist() for g in sync] == [d.tolist() for d in direct] and seen[-1] == (2, 2)
    with pytest.raises(ConfigError, match="items"):
        sweep([], scheduler="synchronous")


def test_core_experiment_modules_import_without_dash_plotly_or_dask():
    """Reference: STYLE.md rule 1, checked in a fresh interpreter (dask is imported lazily)."""
    code = ("import sys, core.phase, core.expected, core.sweep, core.cli, core.inversion;"
            "bad=[m for m in sys.modules if m.split('.')[0] in ('dash','plotly','dask','distributed')];"
            "print(bad); sys.exit(bool(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert r.returncode == 0, r.stdout + r.stderr


def test_trials_still_converging_are_continued_before_they_count(monkeypatch):
    """GD with 20 steps: with CONTINUE_ROUNDS = 0 some trials end unconverged; with the default rounds
    those rows are solved on and more of them recover, while the rows that did not need it keep their
    end point exactly (reference: the same block run with no continuation)."""
    import core.diagnosis as diagnosis

    spec = _spec(config=from_preset("paper-fig4", z_star=(), method="gd", steps=20), rates=(1.0,), trials=24,
                 restarts=1)
    monkeypatch.setattr(diagnosis, "CONTINUE_ROUNDS", 0)
    before = PhaseRunner(spec).run_block("random", [0])
    monkeypatch.setattr(diagnosis, "CONTINUE_ROUNDS", 3)
    after = PhaseRunner(spec).run_block("random", [0])
    un = before.diagnosis == "unconverged"
    assert un.any(), before.diagnosis                                  # the premise: the budget ended some
    assert after.success.sum() > before.success.sum()
    assert np.array_equal(after.z_hat[~un], before.z_hat[~un])
    assert np.array_equal(after.diagnosis[~un], before.diagnosis[~un])
    assert np.all(after.steps_run[un] > before.steps_run[un])
    assert np.all(after.steps_run[un] <= 4 * 20)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_trials_still_unconverged_carry_the_condition_of_their_observed_jacobian(dtype):
    """A block whose trials get 2 Adam steps a budget leaves some ``unconverged``: each carries the
    condition of A ∂G/∂z at its ẑ over its own mask's pixels and whether its valley is flat (judged
    in float64, where a float32 run judges its misses), the others NaN, and the CLI's file holds
    them. Reference: numpy's SVD of the Jacobian by central differences of G.forward in float64,
    the rows of the trial's mask kept."""
    from core.phase import PhaseRunner

    spec = _spec(patterns=("random",), rates=(0.1, 0.5), trials=4, restarts=1,
                 config=from_preset("paper-fig4", z_star=(), dtype=dtype, steps=2, method="adam"))
    R = PhaseRunner(spec)
    blk = R.run_block("random", [0, 1])
    un = blk.diagnosis == "unconverged"
    assert un.any() and np.isnan(blk.end_cond[~un]).all() and not blk.flat[~un].any()   # the premise; NaN elsewhere
    for r, t in zip(*np.nonzero(un)):
        keep = R.masks("random", spec.rates[r], [t])[0].numpy() > 0
        z, h = np.asarray(blk.z_hat[r, t], float), 1e-6
        cols = []
        for k in range(2):
            e = np.zeros(2)
            e[k] = h
            with torch.no_grad():
                f = [R.G.double()(torch.tensor((z + s * e)[None])).reshape(-1).numpy() for s in (1, -1)]
            cols.append(((f[0] - f[1]) / (2 * h))[keep])
        sv = np.linalg.svd(np.stack(cols, 1), compute_uv=False)
        assert blk.end_cond[r, t] == pytest.approx(sv[0] / sv[-1], rel=1e-5)
        y2 = float((R.y_full[t].double().numpy()[keep] ** 2).sum())
        zs = np.linalg.norm(R.z_star[t].double().numpy())
        assert blk.flat[r, t] == (0.5 * (sv[-1] * spec.config.tol * zs) ** 2 <= 1e-14 * 0.5 * y2)
    res = phase_transition(spec)
    assert np.array_equal(res.end_cond, np.asarray(blk.end_cond)[None], equal_nan=True)
    assert np.array_equal(res.flat, np.asarray(blk.flat)[None]) and res.n_flat == int((un & blk.flat).sum())
    f = res.to_npz_dict()
    assert f["end_cond"].shape == f["flat"].shape == (1, 2, 4)
    assert np.array_equal(f["end_cond"], res.end_cond, equal_nan=True) and np.array_equal(f["flat"], res.flat)
