"""The phase-transition and expected-landscape pages: figure builders and callback logic as plain functions."""
import dash
import dataclasses
import math

import numpy as np
import pytest
import torch

from core import cost as core_cost
from core.config import Config, ConfigError
from core.diagnosis import failure_counts
from core.phase import PhaseSpec, phase_transition
from core.problem import build_problem
from dashboard.pages import expected as exp_page
from dashboard.pages import phase as phase_page
from dashboard import ids, jobs, state
from dashboard.figures.experiments import expected_figure, phase_figure, ray_figure


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ids(component):
    out = []
    cid = getattr(component, "id", None)
    if cid is not None:
        out.append(cid)
    ch = getattr(component, "children", None)
    for c in ch if isinstance(ch, (list, tuple)) else ([ch] if ch is not None and hasattr(ch, "children") else []):
        out.extend(_ids(c))
    return out


# ---------------------------------------------------------------------------
# figure builders
# ---------------------------------------------------------------------------
def test_phase_figure_traces_carry_the_arrays():
    """Reference: the input arrays, trace by trace (band high, band low, curve, r50 line per pattern;
    then one heatmap per mask)."""
    rates = np.array([0.1, 0.5, 1.0])
    p = np.array([[0.0, 0.5, 1.0], [0.2, np.nan, 1.0]])
    lo, hi = p - 0.1, p + 0.1
    done = np.array([[True, True, True], [True, False, True]])
    masks = {"random": np.eye(3), "top": np.ones((3, 3))}
    fig = phase_figure(rates, ["random", "top"], p, lo, hi, np.array([0.5, np.nan]), masks=masks, done=done,
                       mask_titles={"top": "top at r = 0.50"})
    d = fig.data
    assert len(d) == 2 * 4 + 2
    assert np.allclose(d[0].y, hi[0]) and np.allclose(d[1].y, lo[0]) and d[1].fill == "tonexty"
    assert np.allclose(d[2].x, rates) and np.allclose(d[2].y, p[0])
    assert list(d[3].x) == [0.5, 0.5] and list(d[3].y) == [0, 1]
    assert np.allclose(d[6].x, [0.1, 1.0]) and np.allclose(d[6].y, [0.2, 1.0])  # the undone cell is left out
    assert len(d[7].x) == 0                                                          # no r50 for "top"
    assert d[8].type == "heatmap" and np.array_equal(np.array(d[8].z), np.eye(3))
    assert "top at r = 0.50" in [a.text for a in fig.layout.annotations]


def test_expected_figure_shares_the_scale_and_shows_the_difference():
    """Reference: J_emp − J_exp computed here; the first two panels share zmax = the larger maximum."""
    u, v = np.linspace(-1, 1, 4), np.linspace(-1, 1, 3)
    J_emp = np.arange(12.0).reshape(3, 4)
    J_exp = np.full((3, 4), 5.0)
    d = expected_figure(u, v, J_emp, J_exp, z_star_uv=(0.2, -0.1)).data
    assert len(d) == 6 and [t.type for t in d[:3]] == ["heatmap"] * 3
    assert d[0].zmax == d[1].zmax == 11.0
    assert np.allclose(np.array(d[2].z), J_emp - J_exp) and d[2].zmax == -d[2].zmin == 6.0
    assert list(d[3].x) == [0.2] and list(d[5].y) == [-0.1]


def test_ray_figure_marks_the_three_critical_points():
    """Reference: the three t values passed in, as vertical lines; NaN gives an empty marker."""
    t = np.linspace(0, 1.5, 7)
    fig = ray_figure(t, t ** 2, t ** 2 + 1, 0.34, np.nan, 1 / np.pi)
    d = fig.data
    assert len(d) == 5 and np.allclose(d[1].y, t ** 2 + 1)
    assert list(d[2].x) == [0.34, 0.34] and len(d[3].x) == 0 and d[4].x[0] == pytest.approx(1 / np.pi)
    assert "none" in d[3].name


# ---------------------------------------------------------------------------
# phase page logic
# ---------------------------------------------------------------------------
# net, channels, noise, tol, method, steps, patterns, rates, trials, restarts
CONTROLS = ("paper-fig4", "", "none", "0.001", "lbfgs", "300", ["random", "top"], "0.01,0.5", "4", "2")


def _c(**k):
    names = ("net", "channels", "noise", "tol", "method", "steps", "patterns", "rates", "trials", "restarts")
    d = dict(zip(names, CONTROLS))
    d.update(k)
    return tuple(d[n] for n in names)


def test_phase_controls_errors_name_the_field():
    """Reference: the page's documented bounds (PhaseSpec's, plus the dashboard's tighter ones)."""
    for controls, field in ((_c(trials="abc"), "trials"), (_c(rates="0.1:1"), "rates"), (_c(patterns=[]), "patterns"),
                            (_c(channels="2,x"), "channels"), (_c(trials="501"), "trials"), (_c(net="nope"), "net"),
                            (_c(noise="loud"), "noise"), (_c(tol="2"), "tol"), (_c(method="newton"), "method"),
                            (_c(steps="99999"), "steps"), (_c(net="mnist", channels="2,8,1"), "channels"),
                            (_c(patterns=[None]), "patterns"), (_c(trials=None), "trials")):
        with pytest.raises(ConfigError) as e:
            phase_page.spec_from_controls(*controls)
        assert e.value.field == field
    spec = phase_page.spec_from_controls(*_c(channels="10,32,1", patterns=["left"], rates="0.1"))
    assert spec.config.channels == (10, 32, 1) and spec.config.z_star == ()
    spec = phase_page.spec_from_controls(*_c(net="mnist", noise="quantize:8", tol="0.05"))
    assert spec.config.generator == "mnist" and spec.config.noise == "quantize:8" and spec.config.tol == 0.05


def test_every_ready_made_phase_example_is_accepted_by_its_own_page():
    """Reference: the page's EXAMPLES, through the same parse and cost checks as a click on Start (the
    MNIST example was once refused by the cost bound of one step)."""
    for name, example in phase_page.EXAMPLES.items():
        spec = phase_page.spec_from_controls(*[example[k] for k in phase_page.CONTROLS])
        assert spec.trials == int(example["trials"]) and list(spec.patterns) == list(example["patterns"]), name


def test_phase_restarts_beyond_a_step_for_one_trial_are_refused_before_start():
    """Reference: core.cost's estimate of one trial of one (pattern, rate) cell against the bound of one
    unit of the job; more trials than a unit holds are no reason to refuse, the cells are cut into parts."""
    one = lambda S: core_cost.estimate(Config(generator="mnist", steps=2000), "phase", trials=1,  # noqa: E731
                                       restarts=S).macs
    S = next(S for S in range(1, 65) if one(S) > state.DASH_MACS["phase_unit"])
    with pytest.raises(ConfigError) as e:
        phase_page.spec_from_controls(*_c(net="mnist", steps="2000", trials="1", restarts=str(S)))
    assert e.value.field == "restarts" and "reduce restarts × steps" in str(e.value)
    T = int(state.DASH_MACS["phase"] // (2 * 2 * one(S - 1)))      # the most trials the whole run allows
    spec = phase_page.spec_from_controls(*_c(net="mnist", steps="2000", trials=str(T), restarts=str(S - 1)))
    per = phase_page.trials_per_unit(spec)
    assert per * one(S - 1) <= state.DASH_MACS["phase_unit"] and 1 <= per < T
    assert phase_page.job_new(spec)["total"] == 2 * 2 * math.ceil(T / per)


def test_phase_job_in_chunks_equals_one_batched_run():
    """Reference: core.phase.phase_transition on the same spec in one call.

    In float64: the lowest rate observes 3 pixels for 2 unknowns, an ill-posed cell on which a float32
    path can end in another basin when the batch around it changes (BLAS rounds a GEMM differently
    for another batch size); in float64 both paths agree, so any difference is the job's."""
    spec = phase_page.spec_from_controls(*CONTROLS)
    spec = dataclasses.replace(spec, config=spec.config.replace(dtype="float64"))
    store = phase_page.job_new(spec)
    steps = 0
    while store["status"] == "running":
        store = jobs.advance(store, phase_page.job_step, budget_s=0.0)   # one cell per step
        steps += 1
    assert steps == 4 and store["done"] == store["total"] == 4
    ref = phase_transition(PhaseSpec.from_json(store["key"]))
    assert np.array_equal(np.array(store["data"]["success"], dtype=bool), ref.success)
    s = phase_page.job_summary(store)
    assert np.allclose(s["p"], ref.p_success) and np.allclose(s["lo"], ref.ci_low)
    assert np.allclose(s["r50_interval"], np.stack([ref.r50_low, ref.r50_high], 1), equal_nan=True)
    assert s["failures"] == failure_counts(ref.diagnosis)
    _, _, text = phase_page.job_view(store)
    assert "unconverged" not in text or "budget" in text
    # Each failed trial links to its landscape: there z*, the class and the mask are the trial's.
    failed = [(p, r, t) for r in np.argsort(-np.asarray(spec.rates), kind="stable") for p in range(2) for t in range(4)
              if not ref.success[p, r, t]]
    links = phase_page.failure_links(store)
    assert len(failed) > 0 and len(links) == min(len(failed), phase_page.FAILURE_LINKS)
    runner = phase_page._runner(store["key"])
    for (p, r, t), (label, query) in zip(failed, links):
        pattern, rate = spec.patterns[p], spec.rates[r]
        assert label == f"{pattern} r = {rate:g}, trial {t}"
        cfg, _, _, err = state.state_from_query(query)
        assert err == "" and (cfg.mask, cfg.rate, cfg.dtype) == (pattern, rate, "float64")
        P = build_problem(cfg)
        assert torch.equal(P.z_star.double(), runner.z_star[t])
        assert torch.equal(P.op.mask.reshape(-1).double(), runner.masks(pattern, rate, [t])[0].double())
    store["data"]["labels"] = [[{"recovered": 1, "unconverged": 3}, {"recovered": 4}],   # trials the budget ended
                               [{"recovered": 4}, {"critical": 2, "unconverged": 2}]]
    _, _, text = phase_page.job_view(store)
    assert "unconverged 5" in text and "5 unconverged" in text and "budget, not the landscape" in text


def test_a_noisy_phase_jobs_failure_links_open_each_trials_own_y():
    """With gaussian noise the link carries the trial's noise seed (control noise-seed, URL key
    noise_seed), and the landscape it opens measures the trial's y: the phase runner's noisy output at the
    mask's observed pixels (core.phase adds the noise to the whole output before masking)."""
    spec = phase_page.spec_from_controls(*_c(noise="gaussian:0.05"))
    spec = dataclasses.replace(spec, config=spec.config.replace(dtype="float64"))   # one rounding of G(z*) on both sides
    store = phase_page.job_new(spec)
    T = spec.trials
    store["done"], store["status"] = store["total"], "done"          # every trial failed: the links' order is known
    store["data"]["success"] = [[[0] * T for _ in spec.rates] for _ in spec.patterns]
    store["data"]["labels"] = [[{"critical": T} for _ in spec.rates] for _ in spec.patterns]
    links = phase_page.failure_links(store)
    runner = phase_page._runner(store["key"])
    assert len(links) == phase_page.FAILURE_LINKS
    seen = set()
    for label, query in links:
        t = int(label.rsplit(" ", 1)[1])
        pattern, rate = label.split(" r = ")[0], float(label.split(" r = ")[1].split(",")[0])
        cfg, _, _, err = state.state_from_query(query)
        assert err == "" and cfg.noise == "gaussian:0.05"
        seen.add(cfg.noise_seed)
        P = build_problem(cfg)
        w = runner.masks(pattern, rate, [t])[0].bool()
        assert torch.equal(P.op.mask.reshape(-1), w)
        assert torch.equal(P.y, runner.y_full[t][w])
    assert len(seen) == len({int(q.rsplit(" ", 1)[1]) for q, _ in links})    # one noise seed per trial


def test_phase_job_cuts_a_large_cell_into_parts_equal_to_the_whole(monkeypatch):
    """Reference: core.phase.phase_transition on the same spec in one call (float64, as above), with
    the bound of one unit set so that a cell of 4 trials is run in two parts of 2."""
    spec = phase_page.spec_from_controls(*CONTROLS)
    spec = dataclasses.replace(spec, config=spec.config.replace(dtype="float64"))
    one = core_cost.estimate(spec.config, "phase", trials=1, restarts=spec.restarts).macs
    monkeypatch.setitem(state.DASH_MACS, "phase_unit", 2.5 * one)
    assert phase_page.trials_per_unit(spec) == 2
    store = phase_page.job_new(spec)
    assert store["total"] == 2 * 2 * 2
    seen = []
    while store["status"] == "running":
        store = jobs.advance(store, phase_page.job_step, budget_s=0.0)   # one unit per step
        seen.append([[None if c is None else len(c) for c in row] for row in store["data"]["success"]])
        if store["done"] == 3:                                         # the second cell half done
            s = phase_page.job_summary(store)
            assert s["done"].tolist() == [[True, False], [False, False]] and np.isnan(s["p"][0, 1])
            _, pct, text = phase_page.job_view(store)
            assert pct == pytest.approx(100 * 3 / 8) and text.startswith("1 of 4 cells")
            cancelled, _, _ = phase_page.job_drive(ids.PHASE_CANCEL, store, CONTROLS)
            assert cancelled["status"] == "cancelled" and cancelled["data"] == store["data"]
    assert seen[:3] == [[[2, None], [None, None]], [[4, None], [None, None]], [[4, 2], [None, None]]]
    assert len(seen) == 8 and store["done"] == 8
    ref = phase_transition(PhaseSpec.from_json(store["key"]))
    assert np.array_equal(np.array(store["data"]["success"], dtype=bool), ref.success)
    s = phase_page.job_summary(store)
    assert np.allclose(s["p"], ref.p_success) and s["failures"] == failure_counts(ref.diagnosis)
    assert s["flat"] == ref.n_flat
    half = {**store, "done": 3, "status": "running",
            "data": {"success": [[[1, 1, 1, 1], [1, 1]], [None, None]],
                     "labels": [[{"recovered": 4}, {"recovered": 2}], [None, None]]}}
    phase_page.check_job(half)                                            # a consistent partial job passes
    for forged, words in [({"success": [[[1, 1, 1, 1], [1, 1, 1]], [None, None]]}, "must hold 2 successes"),
                          ({"labels": [[{"recovered": 4}, {"recovered": 3}], [None, None]]}, "labels must be counts"),
                          ({"success": [[[1, 1, 1, 1], [1, 1]], [[1, 1], None]]}, "holds results"),
                          ({"flat": [[1, 0], [0, 0]]}, "flat count must be"),       # no unconverged trial there
                          ({"flat": [[0, True], [0, 0]]}, "flat count must be"),
                          ({"flat": [[0, 0]]}, "flat must be 2 × 2")]:
        with pytest.raises(ConfigError) as e:
            phase_page.check_job({**half, "data": {**half["data"], **forged}})
        assert words in str(e.value)


def test_phase_drive_starts_advances_and_cancels():
    """Reference: the driver's contract — Start makes a job and enables the timer, a tick adds cells,
    Cancel stops the timer and keeps the partial results; bad controls leave the store alone."""
    store, disabled, err = phase_page.job_drive(ids.PHASE_START, None, CONTROLS)
    assert store["done"] == 0 and not disabled and err == ""
    store, disabled, _ = phase_page.job_drive(ids.PHASE_INTERVAL, store, CONTROLS)
    assert store["done"] >= 1 and not disabled
    partial = store["done"]
    store, disabled, _ = phase_page.job_drive(ids.PHASE_CANCEL, store, CONTROLS)
    assert store["status"] == "cancelled" and disabled and store["done"] == partial
    store2, disabled, _ = phase_page.job_drive(ids.PHASE_INTERVAL, store, CONTROLS)
    assert store2 == store and disabled                      # a late tick after Cancel does nothing
    same, disabled, err = phase_page.job_drive(ids.PHASE_START, store, _c(rates="x"))
    assert same is store and disabled and err.startswith("rates")
    fig, pct, text = phase_page.job_view(store)
    assert 0 < pct < 100 and "cancelled" in text and len(fig.data) == 2 * 4 + 2
    late, disabled, _ = phase_page.job_drive(ids.PHASE_INTERVAL, phase_page.job_new(phase_page.spec_from_controls(
        *CONTROLS), cancel_clicks=1), CONTROLS, cancel_clicks=2)
    assert late["status"] == "cancelled" and disabled


def test_a_cancel_stops_the_phase_step_in_flight(monkeypatch):
    """A step runs in a thread of its own (as a request does); Cancel is sent for the same job from
    another while the step is inside. The step must come back cancelled with nothing done: its
    solver asked the job's flag and stopped. Without the app's InFlight the same step runs to the
    end and adds its cell (the reference run at the end)."""
    from _jobs import cancel_in_flight

    inflight = jobs.InFlight()
    store, _, _ = phase_page.job_drive(ids.PHASE_START, None, CONTROLS, inflight=inflight)
    now, late, inside = cancel_in_flight(
        monkeypatch, phase_page, "job_step", inflight,
        tick=lambda: phase_page.job_drive(ids.PHASE_INTERVAL, store, CONTROLS, inflight=inflight),
        cancel=lambda: phase_page.job_drive(ids.PHASE_CANCEL, store, CONTROLS, inflight=inflight))
    assert inside == 1 and now[0]["status"] == "cancelled" and now[1]
    assert late[0]["status"] == "cancelled" and late[0]["done"] == 0 and late[1] and inflight.count() == 0
    done, _, _ = phase_page.job_drive(ids.PHASE_INTERVAL, store, CONTROLS)      # no one to stop it
    assert done["status"] == "running" and done["done"] >= 1


def test_a_new_start_stops_the_step_of_the_job_it_replaces():
    """jobs.drive with a step that asks core.stop.check_stop until told: a Start that replaces the
    running job sets its flag (the step ends cancelled); a job without a token is never stopped."""
    import threading

    from core.stop import check_stop

    inflight, inside = jobs.InFlight(), threading.Event()

    def step(job, k):
        inside.set()
        for _ in range(3000):
            check_stop()
            threading.Event().wait(0.01)
        return {}, k

    job = jobs.new("phase", "k", 2, {})
    out = {}
    th = threading.Thread(target=lambda: out.update(r=jobs.drive(
        "tick", job, start="start", cancel="cancel", kind="phase", make=None, step=step, inflight=inflight)))
    th.start()
    assert inside.wait(30)
    new, running, _ = jobs.drive("start", job, start="start", cancel="cancel", kind="phase",
                                 make=lambda: jobs.new("phase", "k", 2, {}), step=step, inflight=inflight)
    assert running and new["token"] != job["token"]
    th.join(60)
    assert not th.is_alive() and out["r"][0]["status"] == "cancelled" and out["r"][0]["done"] == 0
    assert not inflight.cancel(None) and not inflight.cancel(job["token"])      # nothing runs now


@pytest.mark.parametrize("forge, words", [
    (lambda j: {**j, "key": "{"}, "spec"),
    (lambda j: {**j, "token": "0" * 17}, "token"),
    (lambda j: {**j, "token": 7}, "token"),
    (lambda j: {**j, "total": 2 * 10 ** 8}, "total"),
    (lambda j: {**j, "done": 1}, "cell 0 must hold 4 successes"),
    (lambda j: {**j, "data": {"success": [[[2] * 4, None]] * 2, "labels": [[{}, None]] * 2}, "done": 2}, "successes"),
    (lambda j: {**j, "key": j["key"].replace('"trials": 4', '"trials": 5000')}, "trials"),
])
def test_forged_phase_jobs_are_refused_with_a_message(forge, words):
    job = phase_page.job_new(phase_page.spec_from_controls(*CONTROLS))
    with pytest.raises(ConfigError) as e:
        phase_page.job_drive(ids.PHASE_INTERVAL, forge(job), CONTROLS)
    assert words in str(e.value)


def test_phase_view_before_any_run_shows_the_masks():
    """Reference: the chosen patterns, one mask panel each, and no curve data yet."""
    fig, pct, _ = phase_page.job_view(None, CONTROLS)
    d = fig.data
    assert pct == 0 and sum(t.type == "heatmap" for t in d) == 2
    assert all(len(t.x if t.x is not None else []) == 0 for t in d if t.type == "scatter")


def test_phase_figure_draws_the_r50_interval_where_the_fit_cannot_place_it():
    """Reference: the interval (0.1, 0.2] given here, drawn as a closed band."""
    rates = np.array([0.05, 0.1, 0.2, 0.4])
    p = np.array([[0, 0, 1, 1.0]])
    fig = phase_figure(rates, ["top"], p, p, p, np.array([np.nan]), r50_interval=np.array([[0.1, 0.2]]))
    band = fig.data[3]
    assert list(band.x) == [0.1, 0.2, 0.2, 0.1, 0.1] and band.fill == "toself" and "(0.1, 0.2]" in band.name
    assert phase_page.r50_text("top", np.nan, (0.1, 0.2)) == "top ∈ (0.1, 0.2]"
    assert phase_page.r50_text("top", np.nan, (np.nan, 0.05)) == "top < 0.05"


# ---------------------------------------------------------------------------
# expected page logic
# ---------------------------------------------------------------------------
def test_expected_compute_scales_by_the_expected_maximum_and_marks_the_ray():
    """Reference: core.expected.expected_landscape on the widened config, divided by max E[J]."""
    from core.config import from_preset
    from core.expected import expected_landscape, widen

    d = exp_page.compute("paper-fig4", 1, 31)
    E = expected_landscape(widen(from_preset("paper-fig4"), 2), grid=31)
    scale = E.J_exp.max()
    assert d["channels"] == (2, 32, 2) and d["J_exp"].max() == pytest.approx(1.0)
    assert np.allclose(d["J_emp"], E.J_emp / scale) and np.allclose(d["ray_exp"], E.ray_exp / scale)
    assert d["t_exp"] == pytest.approx(1 / np.pi, abs=1e-3) and d["rel_error"] > 0
    heat, ray, text = exp_page.view(d)
    assert len(heat.data) == 6 and len(ray.data) == 5 and "ρ_d" in text


def test_expected_monte_carlo_overlay_agrees_with_the_closed_form():
    """Reference: the closed form on the ray; the Monte Carlo mean (K = 32) within 4 standard errors."""
    d = exp_page.compute("paper-fig4", 2, 31, monte_carlo=True)
    closed = np.interp(d["t_mc"], d["t"], d["ray_exp"])
    assert np.all(np.abs(d["ray_mc"] - closed) <= 4 * d["ray_mc_sem"] + 1e-12)
    _, ray, _ = exp_page.view(d)
    assert len(ray.data) == 6


def test_expected_compute_rejects_bad_controls():
    """Reference: the page's documented choices; each error names its field."""
    for args, field in ((("mode-collapse", 0, 31), "preset"), (("paper-fig4", 9, 31), "width_factor"),
                        (("paper-fig4", 0, 7), "grid")):
        with pytest.raises(ConfigError) as e:
            exp_page.compute(*args)
        assert e.value.field == field
    for controls, field in ((("paper-fig4", None, 31, []), "width_factor"), (("paper-fig4", 0, None, []), "grid"),
                            (("paper-fig4", 0, 31, "mc"), "monte_carlo"), ((None, 0, 31, []), "preset")):
        with pytest.raises(ConfigError) as e:
            exp_page.parse_controls(*controls)
        assert e.value.field == field


def test_expected_ray_monte_carlo_is_cores_and_its_histogram_counts_every_net():
    """Reference: core.expected.ray_monte_carlo called here on the same config and K (same seeded nets);
    the histogram's bars against np.histogram of its per-net ρ̂_ray."""
    from core.config import from_preset
    from core.expected import ray_monte_carlo, widen

    d = exp_page.compute("paper-fig4", 0, 31, k=200)
    ref = ray_monte_carlo(widen(from_preset("paper-fig4"), 1), 200, t_max=float(d["t"][-1]), n_boot=exp_page.RAY_BOOT)
    r = d["ray"]
    assert r.K == 200 and r.t_min == pytest.approx(ref.t_min, rel=1e-12)
    assert r.t_min_se_boot == pytest.approx(ref.t_min_se_boot, rel=1e-12)
    np.testing.assert_array_equal(r.rho_hat, ref.rho_hat)
    fig, text = exp_page.ray_view(d)
    counts, _ = np.histogram(ref.rho_hat[np.isfinite(ref.rho_hat)], bins=40, range=(0, ref.t[-1]))
    np.testing.assert_array_equal(np.asarray(fig.data[0].y), counts)
    assert "K = 200" in fig.layout.title.text and "K = 200" in fig.data[0].name
    assert f"t = {ref.t_min:.3f} ± {ref.t_min_se_boot:.3f}" in text
    assert f"closed form {ref.t_closed:.3f}" in text and f"ρ_d = {1 / np.pi:.3f}" in text


def test_expected_ray_nets_are_capped_by_the_work_bound_and_said_so():
    """Reference: the page's RAY_WORK over one net's weights (Σ C_i C_{i+1} k², counted by hand)."""
    from core.config import from_preset
    from core.expected import widen

    one = 2 * 16 * 25 + 16 * 1 * 25                      # paper-fig4: 1200 weights a net
    assert exp_page.ray_nets(from_preset("paper-fig4"), 4000) == int(exp_page.RAY_WORK // one)
    assert exp_page.ray_nets(from_preset("paper-fig4"), 200) == 200
    assert exp_page.ray_nets(widen(from_preset("paper-fig4"), 16), 1000) == exp_page.RAY_MIN_NETS
    for bad in (7, "x", True, None, [1000]):
        with pytest.raises(ConfigError) as e:
            exp_page.parse_controls("paper-fig4", 0, 31, [], bad)
        assert e.value.field == "ray_nets"


def test_expected_settings_round_trip_through_the_url():
    """Reference: the values typed here; the other controls' keys are kept."""
    from dashboard import state

    values = {**exp_page.DEFAULTS, "k": 4000, "width": 2}
    q = state.page_search("?grid=51", "expected.", values, exp_page.DEFAULTS)
    assert "expected.k=4000" in q and "grid=51" in q
    got = state.page_values(q, "expected.", exp_page.DEFAULTS)
    assert got["k"] == "4000" and exp_page.parse_controls(got["preset"], got["width"], got["grid"], got["mc"],
                                                          got["k"])[-1] == 4000


# ---------------------------------------------------------------------------
# wiring
# ---------------------------------------------------------------------------
def test_pages_use_prefixed_ids_and_register_their_callbacks():
    """Reference: the integration contract — layout() and register_callbacks(app), ids prefixed by page."""
    for page, prefix in ((phase_page, "phase-"), (exp_page, "expected-")):
        found = _ids(page.layout())
        assert found and all(i.startswith(prefix) for i in found) and len(found) == len(set(found))
        app = dash.Dash(__name__)
        app.layout = page.layout()
        page.register_callbacks(app)
        assert len(app.callback_map) >= 1
