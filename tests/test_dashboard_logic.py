"""The plain functions behind the callbacks (dashboard.state and dashboard.logic): controls ↔ Config ↔
URL, the sync decision, the cached calls into core.

References: configs come from core.from_preset / Config (the project's own definition of each
preset); expected URL values are the ones typed in the test; expected descent outcomes come
from the paper (Fig. 4: on the ReLU net gradient descent was only ever seen to end at z*).
"""
import io
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from core import PRESETS, Config, ConfigError, from_preset
from dashboard import ids, logic, state
from dashboard.state import KEEP


def _controls(cfg=state.BASE, **changes):
    v = state.controls_from_config(cfg)
    v.update(changes)
    return v


# --- controls ↔ config ----------------------------------------------------------------------
@pytest.mark.parametrize("name", list(PRESETS))
def test_controls_round_trip_every_preset(name):
    cfg = from_preset(name)
    back, errors = state.config_from_controls(state.controls_from_config(cfg), base=cfg)
    assert errors == {}
    assert back == cfg


def test_controls_round_trip_a_custom_config():
    cfg = Config(dim=1, channels=(3, 8, 4, 1), kernel=(4, 3, 5), stride=(2,), activation="leaky_relu",
                 negative_slope=0.05, weights="rademacher", weight_std="0.37", weight_seed=12, mask="left",
                 rate=0.3, z_star=(0.1, -2.0, 0.75), grid=51, extent=2.5, eps=0.3, method="gd", lr=0.02,
                 steps=300, starts=10, start_seed=4)
    v = state.controls_from_config(cfg)
    assert v["weight_std_kind"] == "number" and v["weight_std"] == "0.37"
    assert v["channels"] == "3,8,4,1" and v["z_star"] == "0.1,-2.0,0.75"
    back, errors = state.config_from_controls(v, base=cfg)
    assert errors == {} and back == cfg


def test_controls_accept_spaces():
    cfg, errors = state.config_from_controls(_controls(channels=" 2, 16 ,1 ", z_star="0.8 , -0.5"))
    assert errors == {} and cfg.channels == (2, 16, 1)


@pytest.mark.parametrize("field, text, words", [
    ("rate", "2", "(0, 1]"),
    ("rate", "abc", "expected a number"),
    ("channels", "2,x,1", "'x'"),
    ("channels", "", "empty"),
    ("kernel", "0", "[1, 15]"),
    ("stride", "3,3,3", "one per layer"),
    ("z_star", "1,2,3", "n0"),
    ("z_star", "0,0", "nonzero"),
    ("grid", "5000", "dashboard"),
    ("grid", "2.5", "integer"),
    ("extent", "-1", "extent"),
    ("eps", "1.5", "(0, 1)"),
    ("negative_slope", "2", "[0, 1]"),
    ("steps", "100000", "dashboard"),
    ("lr", "nan", "finite"),
    ("weight_seed", "-3", "weight_seed"),
])
def test_bad_input_names_its_field(field, text, words):
    cfg, errors = state.config_from_controls(_controls(**{field: text}))
    assert cfg is None
    assert list(errors) == [field]
    assert errors[field].startswith(f"{field}:")
    assert words in errors[field]


def test_bad_weight_scale_number():
    cfg, errors = state.config_from_controls(_controls(weight_std_kind="number", weight_std="-1"))
    assert cfg is None and errors["weight_std"].startswith("weight_std:")
    cfg, errors = state.config_from_controls(_controls(weight_std_kind="paper", weight_std="-1"))
    assert errors == {} and cfg.weight_std == "paper"   # the number is ignored unless chosen


def test_several_bad_inputs_are_all_reported():
    _, errors = state.config_from_controls(_controls(rate="x", grid="y", lr="z"))
    assert set(errors) == {"rate", "grid", "lr"}


def test_too_slow_network_is_refused_with_a_message():
    """Reference: core.cost.estimate of the same request, against the dashboard's own bound."""
    from core import cost

    cfg, errors = state.config_from_controls(_controls(channels="2,512,512,1"))
    assert cfg is None and list(errors) == ["grid"] and "reduce grid" in errors["grid"]
    c = cost.estimate(Config(channels=(2, 512, 512, 1), z_star=(0.8, -0.5)), "landscape")
    assert c.macs > state.DASH_MACS["landscape"]
    assert f"limit {state.DASH_MACS['landscape']:.0e}" in errors["grid"]


def test_error_outputs_put_messages_next_to_their_control():
    out = state.error_outputs({"rate": "rate: bad", "padding": "padding: bad"})
    assert out[ids.err(ids.RATE)] == "rate: bad"
    assert out[ids.CONFIG_ERROR] == "padding: bad"       # a field without a control
    assert out[ids.err(ids.GRID)] == ""                   # every other message is cleared


def test_preset_of():
    assert state.preset_of(from_preset("authors-code")) == "authors-code"
    assert state.preset_of(state.BASE.replace(activation="tanh")) == "paper-fig4"
    assert state.preset_of(state.BASE.replace(channels=(2, 8, 1))) is None


# --- URL ------------------------------------------------------------------------------------------
def test_default_view_has_an_empty_query():
    assert state.query_from_state(state.BASE) == ""
    cfg, scale, view, err = state.state_from_query("")
    assert (cfg, scale, view, err) == (state.BASE, "log", ids.TAB_LANDSCAPE, "")


def test_query_overrides_the_paper_fig4_preset():
    cfg, scale, view, err = state.state_from_query("?activation=tanh&grid=51&scale=linear&view=basins")
    assert err == ""
    assert cfg == from_preset("paper-fig4", activation="tanh", grid=51)
    assert (scale, view) == ("linear", "basins")


def test_query_names_a_preset():
    cfg, *_ , err = state.state_from_query("?preset=mode-collapse&weight_seed=3")
    assert err == "" and cfg == from_preset("mode-collapse", weight_seed=3)


@pytest.mark.parametrize("cfg", [
    from_preset("authors-code", grid=65),
    from_preset("mode-collapse", activation="sigmoid", eps=0.25),
    Config(channels=(3, 8, 1), z_star=(), weight_std="2.5", mask="gaussian", grid=31),
    from_preset("paper-fig4", z_star=(1.5, 0.25), method="gd", lr=0.01),
])
def test_query_round_trip(cfg):
    q = state.query_from_state(cfg, "linear", ids.TAB_COMPARE)
    back, scale, view, err = state.state_from_query(q)
    assert err == "" and back == cfg and (scale, view) == ("linear", ids.TAB_COMPARE)


@pytest.mark.parametrize("query, field", [
    ("?rate=7", "rate"), ("?activation=swish", "activation"), ("?grid=abc", "grid"), ("?scale=cubic", "scale"),
    ("?view=nowhere", "view"), ("?bogus=1", "bogus"), ("?preset=none", "preset"), ("?grid=1001", "grid"),
    ("?channels=3,8,1&z_star=1e-300,0,0", "z_star"), ("?noise=loud", "noise"), ("?generator=mnist&label=12", "label"),
    ("?z_seed=-1", "z_seed"), ("?z_seed=2147483648", "z_seed"), ("?z_seed=one", "z_seed"),
    ("?noise=gaussian:0.1&noise_seed=-3", "noise_seed"), ("?noise_seed=1e9x", "noise_seed"),
])
def test_bad_query_falls_back_with_a_message(query, field):
    cfg, scale, view, err = state.state_from_query(query)
    assert cfg == state.BASE
    assert err.startswith(f"URL: {field}:")


@pytest.mark.parametrize("query, field", [("?grid=99999999", "grid"), ("?grid=1001", "grid"), ("?steps=5000", "steps"),
                                          ("?starts=1000", "starts")])
def test_url_errors_quote_the_dashboards_own_bounds(query, field):
    """Reference: state.DASH_LIMITS (the dashboard allows grid ≤ 401, not core's 1001)."""
    lo, hi = state.DASH_LIMITS[field]
    err = state.state_from_query(query)[3]
    assert err.startswith(f"URL: {field}: must be in [{lo}, {hi}] in the dashboard")


def test_a_cuda_url_on_a_cpu_machine_is_a_message():
    import torch

    err = state.state_from_query("?device=cuda")[3]
    if torch.cuda.is_available():
        assert err == ""
    else:
        assert err.startswith("URL: device:") and "cpu" in err


def test_a_spec_that_runs_code_is_not_loaded_from_a_link():
    cfg, _, _, err = state.state_from_query("?generator=os:getcwd")
    assert cfg == state.BASE and err.startswith("URL: generator:") and "press Enter" in err
    r = state.sync(None, "?generator=os:getcwd", None, "log", ids.TAB_LANDSCAPE, {})
    assert r["controls"]["generator_kind"] == "custom" and r["controls"]["generator_text"] == "os:getcwd"
    assert r["banner"].startswith("URL: generator:")


def test_page_keys_survive_a_config_change():
    search = "?phase.trials=20&expected.grid=31"
    q = state.query_from_state(state.BASE.replace(activation="tanh"), "log", ids.TAB_LANDSCAPE, search)
    assert q == "?activation=tanh&phase.trials=20&expected.grid=31"
    assert state.state_from_query(q)[3] == "" and state.state_from_query(q)[0].activation == "tanh"
    defaults = {"trials": "12", "patterns": ["random", "top"]}
    assert state.page_values(q, "phase.", defaults) == {"trials": "20", "patterns": ["random", "top"]}
    q2 = state.page_search(q, "phase.", {"trials": "12", "patterns": ["left"]}, defaults)
    assert q2 == "?activation=tanh&expected.grid=31&phase.patterns=left"
    assert state.page_values(q2, "phase.", defaults) == {"trials": "12", "patterns": ["left"]}


def test_trained_generator_in_the_url_drops_the_presets_z_star():
    """paper-fig4's z* has n0 = 2 entries; the shipped generators have n0 = 10 (core.config.Config.n0)."""
    cfg, _, _, err = state.state_from_query("?generator=mnist&grid=41")
    assert err == "" and cfg.generator == "mnist" and cfg.z_star == () and cfg.n0 == 10


def test_an_inversions_trial_seed_opens_that_draw():
    """The z* seed control (URL key z_seed) opens trial t of an inversion: the landscape's z* and class
    are the trial's. Reference: core.problem.draw_trials, which run_inversion draws its trials with
    (tests/test_inversion.py ties its trial_seed to them)."""
    from core.problem import build_problem, draw_label, draw_trials

    z, labels, seeds = draw_trials(Config(generator="mnist"), 3, 10, True)
    for t, seed in enumerate(seeds):
        r = state.sync(None, f"?generator=mnist&z_seed={seed}", None, "log", ids.TAB_LANDSCAPE, {})
        cfg = Config.from_json(r["config"])
        assert cfg.z_seed == seed and r["controls"]["z_seed"] == str(seed) and r["errors"][ids.CONFIG_ERROR] == ""
        np.testing.assert_array_equal(build_problem(cfg.replace(dtype="float64")).z_star.numpy(), z[t].numpy())
        assert draw_label(cfg) == int(labels[t])
    # A change of the control alone moves z*; an explicit z* still wins over the seed.
    cfg0 = state.BASE.replace(generator="mnist", z_star=(), grid=41, starts=10)
    values = state.controls_from_config(cfg0)
    changed, errors = state.config_from_controls({**values, "z_seed": str(seeds[1])}, cfg0)
    assert changed.z_seed == seeds[1] and not any(errors.values())
    explicit = state.config_from_controls({**values, "z_seed": "5", "z_star": ",".join(["1"] * 10)}, cfg0)[0]
    assert build_problem(explicit).z_star.tolist() == [1.0] * 10


# --- the sync decision -------------------------------------------------------------------------
def test_sync_first_call_reads_the_url():
    r = state.sync(None, "?activation=tanh&grid=51", None, "log", ids.TAB_LANDSCAPE, {})
    assert r["controls"]["activation"] == "tanh" and r["controls"]["grid"] == "51"
    assert Config.from_json(r["config"]) == from_preset("paper-fig4", activation="tanh", grid=51)
    assert r["search"] == KEEP            # already normal
    assert r["preset"] == "paper-fig4"
    assert r["errors"][ids.CONFIG_ERROR] == "" and r["banner"] == ""


def test_sync_bad_url_shows_the_default_and_a_message():
    r = state.sync(None, "?rate=7", None, "log", ids.TAB_LANDSCAPE, {})
    assert Config.from_json(r["config"]) == state.BASE
    assert r["banner"].startswith("URL: rate:") and r["errors"][ids.CONFIG_ERROR] == ""


def test_sync_control_change_updates_config_and_url():
    cur = state.BASE.to_json()
    r = state.sync(ids.ACTIVATION, "", "paper-fig4", "log", ids.TAB_LANDSCAPE, _controls(activation="sigmoid"),
                   current_json=cur)
    assert Config.from_json(r["config"]).activation == "sigmoid"
    assert r["search"] == "?activation=sigmoid"
    assert r["controls"] == {}            # controls are left as the user set them


def test_sync_bad_control_keeps_the_config():
    r = state.sync(ids.RATE, "", "paper-fig4", "log", ids.TAB_LANDSCAPE, _controls(rate="1.5"),
                   current_json=state.BASE.to_json())
    assert r["config"] == KEEP and r["search"] == KEEP
    assert r["errors"][ids.err(ids.RATE)].startswith("rate:")


def test_sync_preset_sets_every_control():
    r = state.sync(ids.PRESET, "", "authors-code", "log", ids.TAB_LANDSCAPE, _controls(),
                   current_json=state.BASE.to_json())
    assert r["controls"] == state.controls_from_config(from_preset("authors-code"))
    assert state.state_from_query(r["search"])[0] == from_preset("authors-code")


def test_sync_view_options_only_touch_the_url():
    r = state.sync(ids.SCALE, "", "paper-fig4", "linear", ids.TAB_DESCENT, _controls(),
                   current_json=state.BASE.to_json())
    assert r["search"] == "?scale=linear&view=descent" and r["config"] == KEEP


def test_sync_click_sets_z_star_only_in_that_mode():
    cfg = state.BASE.replace(grid=41)
    click_z = logic.click_z_star(cfg, (1.25, -0.75))       # n0 = 2: plane coordinates are latent ones
    assert click_z == ("1.25,-0.75", "")
    args = (ids.LAND_CONTOUR, "", "paper-fig4", "log", ids.TAB_LANDSCAPE, _controls(grid="41"), click_z)
    assert state.sync(*args, click_sets_z=False, current_json=cfg.to_json())["config"] == KEEP
    r = state.sync(*args, click_sets_z=True, current_json=cfg.to_json())
    assert r["controls"] == {"z_star": "1.25,-0.75"}
    assert Config.from_json(r["config"]).z_star == (1.25, -0.75)


def test_click_on_the_origin_cannot_be_z_star():
    cfg = state.BASE.replace(grid=41)
    text, message = logic.click_z_star(cfg, (0.0, 0.0))
    assert text == "" and message.startswith("z_star:")
    r = state.sync(ids.LAND_CONTOUR, "", "paper-fig4", "log", ids.TAB_LANDSCAPE, _controls(grid="41"),
                   (text, message), click_sets_z=True, current_json=cfg.to_json())
    assert r["config"] == KEEP and r["errors"][ids.err(ids.Z_STAR)].startswith("z_star:")


def test_switching_to_a_trained_generator_fits_the_view_to_the_dashboard():
    """Reference: core.cost: one G(z) of the shipped DCGAN costs ~4.4 M multiply-adds, so a 201² grid
    (1.8e11) is beyond the dashboard's 2e10; the sync lowers the grid instead of refusing."""
    v = _controls(generator_kind="mnist")
    r = state.sync(ids.GENERATOR_KIND, "", "paper-fig4", "log", ids.TAB_LANDSCAPE, v,
                   current_json=state.BASE.to_json(), probe=lambda cfg: 10)
    cfg = Config.from_json(r["config"])
    assert cfg.generator == "mnist" and cfg.z_star == ()
    assert cfg.grid < 201 and "grid 201 →" in r["banner"]
    state.check_dashboard_limits(cfg)
    assert r["controls"]["grid"] == str(cfg.grid) and r["controls"]["z_star"] == ""
    L = logic.landscape_for(cfg)                         # the star plane's window holds z* and −z*
    nz = float(np.linalg.norm(L.z_star))
    assert L.u[-1] >= 1.25 * nz - 1e-9 and L.u[0] <= -1.25 * nz + 1e-9


def test_a_generator_that_does_not_load_is_a_message_next_to_its_control():
    def probe(cfg):
        raise ConfigError("generator", "cannot import 'nowhere'")

    v = _controls(generator_kind="custom", generator_text="nowhere.mod:make")
    r = state.sync(ids.GENERATOR_TEXT, "", None, "log", ids.TAB_LANDSCAPE, v, current_json=state.BASE.to_json(),
                   probe=probe)
    assert r["config"] == KEEP and r["errors"][ids.err(ids.GENERATOR_KIND)].startswith("generator:")


def test_noise_controls_make_the_noise_field():
    cfg, errors = state.config_from_controls(_controls(noise_kind="quantize", noise_level="8"))
    assert errors == {} and cfg.noise == "quantize:8"
    cfg, errors = state.config_from_controls(_controls(noise_kind="gaussian", noise_level=""))
    assert errors == {} and cfg.noise == f"gaussian:{state.NOISE_DEFAULT_LEVEL['gaussian']}"
    _, errors = state.config_from_controls(_controls(noise_kind="gaussian", noise_level="-1"))
    assert list(errors) == ["noise"] and errors["noise"].startswith("noise:")
    assert state.error_outputs(errors)[ids.err(ids.NOISE_KIND)].startswith("noise:")
    assert state.controls_from_config(cfg.replace(noise="quantize:6"))["noise_level"] == "6"


@pytest.mark.parametrize("field, value", [("negate", "yes"), ("label", None), ("label", 12), ("method", "newton"),
                                          ("generator_kind", "foo"), ("damping", "-1"), ("tol", "2")])
def test_forged_control_values_name_their_field(field, value):
    cfg, errors = state.config_from_controls(_controls(**{field: value}))
    name = {"generator_kind": "generator"}.get(field, field)
    assert cfg is None and list(errors) == [name] and errors[name].startswith(f"{name}:")


# --- caches and core calls ------------------------------------------------------------------------
def test_changing_eps_or_descent_settings_reuses_the_landscape():
    cfg = state.BASE.replace(grid=41)
    L = logic.landscape_for(cfg)
    assert logic.landscape_for(cfg.replace(eps=0.3, lr=0.05, steps=20, starts=3)) is L
    assert logic.problem_for(cfg.replace(grid=21, extent=1.0)) is logic.problem_for(cfg)
    assert logic.landscape_for(cfg.replace(extent=2.0)) is not L


def test_landscape_for_matches_a_direct_core_call():
    """Reference: core.landscape.landscape on a freshly built problem of the same config."""
    from core import build_problem
    from core.landscape import landscape

    cfg = from_preset("paper-fig4", activation="tanh", grid=21, extent=1.5)
    ref = landscape(build_problem(cfg))
    L = logic.landscape_for(cfg)
    np.testing.assert_array_equal(L.J, ref.J)
    np.testing.assert_array_equal(L.u, ref.u)


def test_click_descent_on_relu_ends_at_z_star():
    cfg = state.BASE.replace(grid=41, steps=300)
    store = logic.run_descent(cfg, "click", (-1.5, 1.5))
    assert store["counts"] == {"recovered": 1, "other_fit": 0, "critical": 0, "unconverged": 0, "diverged": 0}
    assert store["u"][0][0] == pytest.approx(-1.5) and store["v"][0][0] == pytest.approx(1.5)
    assert store["u"][0][-1] == pytest.approx(0.8, abs=1e-3) and store["v"][0][-1] == pytest.approx(-0.5, abs=1e-3)
    assert store["iters"][0] == 0 and len(store["iters"]) <= logic.MAX_FRAMES
    assert "recovered 1" in logic.counts_text(store) and store["warning"] == "" and store["exit"] == [[]]
    assert logic.check_descent_store(store) is store


@pytest.mark.parametrize("method", ["lbfgs", "gauss_newton", "adam", "gd"])
def test_every_solver_recovers_z_star_on_paper_fig4(method):
    """Fig. 4 (a): on the ReLU net every descent was seen to end at z*."""
    cfg = state.BASE.replace(grid=41, steps=500, starts=10, method=method)
    store = logic.run_descent(cfg, "random")
    assert store["counts"]["recovered"] == 10


def test_mode_collapse_descents_end_at_other_fits_with_their_images():
    """Fig. 4 (d): with U[0, 1] weights a region of codes maps to G(z*) (here 0), so the descents fit y far
    from z*; the pair's images come from core.problem.images at z* and at ẑ."""
    from core import build_problem, images

    cfg = from_preset("mode-collapse", grid=41, starts=20)
    store = logic.run_descent(cfg, "random")
    assert store["counts"]["other_fit"] > 0 and store["pairs"]
    fig, text = logic.pair_view(cfg, store)
    z = np.array(store["pairs"][0]["z"])
    ref = images(build_problem(cfg), z)
    traces = {t.name: np.asarray(t.z, dtype=float) for t in fig.data}
    np.testing.assert_allclose(traces["G(ẑ)"], ref["x"][0], atol=1e-6)
    np.testing.assert_allclose(traces["G(z*)"], ref["x_star"][0], atol=1e-6)
    assert "other fit" in text and "not injective" in text


def test_a_runaway_descent_is_cut_at_the_window():
    """Adam with lr 50 jumps far outside the ±3 window before it comes back to z*."""
    cfg = state.BASE.replace(grid=41, steps=300, starts=5, method="adam", lr=50.0)
    store = logic.run_descent(cfg, "random")
    box = logic.box_of(cfg)
    us = [x for path in store["u"] for x in path if x is not None]
    vs = [x for path in store["v"] for x in path if x is not None]
    e = 1e-4   # coordinates travel rounded to 4 decimals
    assert box[0] - e <= min(us) and max(us) <= box[1] + e and box[2] - e <= min(vs) and max(vs) <= box[3] + e
    assert any(store["exit"]) and "left the window" in store["warning"]


def test_divergence_warning_suggests_the_stable_step():
    """Reference: core.budget.suggested_step, 1 / λ_max(JᵀJ) at the starts."""
    from types import SimpleNamespace

    from core.budget import suggested_step

    cfg = state.BASE.replace(grid=41, method="gd", lr=50.0, starts=3)
    starts = np.asarray(logic.random_starts(2, 3, 0))
    d = SimpleNamespace(counts={"diverged": 2}, label=np.array(["diverged", "diverged", "recovered"]))
    text = logic.descent_warning(cfg, d, starts, [[], [], []])
    assert text.startswith("⚠ 2 of 3 starts diverged")
    assert f"lr ≤ {suggested_step(logic.problem_for(cfg), starts):.2g}" in text
    adam = logic.descent_warning(cfg.replace(method="adam"), d, starts, [[], [], []])
    assert "lr ≤ 0.1" in adam and "unconverged" not in adam


def test_descent_warning_says_when_the_budget_stopped_starts():
    """GD with 3 steps from 6 random starts: the starts labelled unconverged (counted by hand from the
    store's outcomes) are named in the warning as the budget's, not the landscape's."""
    cfg = state.BASE.replace(grid=41, method="gd", steps=3, starts=6)
    store = logic.run_descent(cfg, "random")
    n = store["counts"]["unconverged"]
    assert n > 0, store["counts"]
    assert f"{n} unconverged: J was still falling" in store["warning"]
    assert "no extra budgets given" in store["warning"] and "budget, not the landscape" in store["warning"]
    done = logic.run_descent(cfg.replace(steps=300), "random")
    assert done["counts"]["unconverged"] == 0 and "unconverged" not in done["warning"]


def test_budget_view_runs_every_solver_from_the_descents_starts():
    """Reference: core.budget.budget_curves called directly with the same starts and settings."""
    from core.budget import budget_curves

    cfg = state.BASE.replace(grid=41, steps=40, starts=6)
    fig, text = logic.budget_view(cfg)
    p = logic.problem_for(cfg)
    ref = budget_curves(p, logic.random_starts(2, 6, 0), steps=40, tol=cfg.tol, lr=cfg.lr, damping=cfg.damping)
    np.testing.assert_array_equal(np.asarray(fig.data[0].y), ref["recovered"][0])
    assert len(fig.data) == 8 and "L-BFGS" in text


def test_random_descent_counts_add_up():
    cfg = state.BASE.replace(grid=41, steps=100, starts=7, start_seed=3)
    store = logic.run_descent(cfg, "random")
    assert sum(store["counts"].values()) == 7 and len(store["u"]) == 7


def test_basins_fill_row_by_row_and_cancel():
    """Reference: core.descent.basins on the whole grid at once (the rows computed step by step agree)."""
    from core.descent import basins, label_codes

    cfg = state.BASE.replace(grid=41, steps=30)
    store, running, _, err = logic.basin_drive(ids.BASIN_START, None, cfg, "5")
    assert running and err == "" and store["data"]["rows"] == []
    while running:
        store, running, wait, _ = logic.basin_drive(ids.BASIN_INTERVAL, store, cfg, "5")
        assert wait > 0
    u, v = logic.window(cfg, 5)
    ref = basins(logic.problem_for(cfg), logic.landscape_for(cfg).plane, u, v, **logic.descent_settings(cfg))
    assert store["status"] == "done" and store["data"]["rows"] == label_codes(ref.label).tolist()
    fresh, _, _, _ = logic.basin_drive(ids.BASIN_START, None, cfg, "5")
    one, running, _, _ = logic.basin_drive(ids.BASIN_INTERVAL, fresh, cfg, "5")
    store, running, _, _ = logic.basin_drive(ids.BASIN_CANCEL, one, cfg, "5")
    assert store["status"] == "cancelled" and not running
    n_rows = len(store["data"]["rows"])
    store, running, _, _ = logic.basin_drive(ids.BASIN_INTERVAL, store, cfg, "5")
    assert len(store["data"]["rows"]) == n_rows and not running
    # A tick that was answered after the cancel still sees the Cancel button's count and stops.
    fresh, _, _, _ = logic.basin_drive(ids.BASIN_START, None, cfg, "5", cancel_clicks=2)
    late, running, _, _ = logic.basin_drive(ids.BASIN_INTERVAL, fresh, cfg, "5", cancel_clicks=3)
    assert late["status"] == "cancelled" and not running and late["data"]["rows"] == []
    _, _, _, err = logic.basin_drive(ids.BASIN_START, None, cfg, "500")
    assert err.startswith("basin_grid:")


def test_a_basin_cancel_stops_the_rows_in_flight(monkeypatch):
    """The basin map's step runs in a thread of its own (a request); Cancel for the same job arrives
    while it is inside: the step comes back cancelled with no row added (its descents asked the
    job's flag). The same step with no one to stop it adds its rows."""
    from dashboard import jobs
    from _jobs import cancel_in_flight

    cfg = state.BASE.replace(grid=41, steps=30)
    inflight = jobs.InFlight()
    store, _, _, _ = logic.basin_drive(ids.BASIN_START, None, cfg, "5", inflight=inflight)
    now, late, inside = cancel_in_flight(
        monkeypatch, logic, "basin_step", inflight,
        tick=lambda: logic.basin_drive(ids.BASIN_INTERVAL, store, cfg, "5", inflight=inflight),
        cancel=lambda: logic.basin_drive(ids.BASIN_CANCEL, store, cfg, "5", inflight=inflight))
    assert inside == 1 and now[0]["status"] == "cancelled" and not now[1]
    assert late[0]["status"] == "cancelled" and late[0]["data"]["rows"] == [] and not late[1]
    done, running, _, _ = logic.basin_drive(ids.BASIN_INTERVAL, store, cfg, "5")   # no one to stop it
    assert running and len(done["data"]["rows"]) >= 1


def test_basin_summary_says_when_the_budget_stopped_starts():
    """Reference: the label codes counted by hand (core.diagnosis.LABELS' order); the note appears
    only when some start is still unconverged after its extra budgets."""
    from core.diagnosis import LABELS

    un = LABELS.index("unconverged")
    store = {"status": "done", "data": {"n": 3, "rows": [[0, un, 0], [un, 2, 0]]}}
    pct, text = logic.basin_summary(store)
    assert pct == pytest.approx(200 / 3)
    assert "success rate 50.0%" in text and "unconverged 2" in text and "critical 1" in text
    assert "2 unconverged: J was still falling" in text and "budget, not the landscape" in text
    store["data"]["rows"] = [[0, 2, 0], [0, 0, 0]]
    assert "budget" not in logic.basin_summary(store)[1]


@pytest.mark.parametrize("forge, words", [
    (lambda s: {**s, "total": 200_000_000}, "total"),
    (lambda s: {**s, "data": {"n": 200_000_000, "rows": []}}, "basin_grid"),
    (lambda s: {**s, "key": "not json"}, "config"),
    (lambda s: {**s, "key": state.BASE.replace(grid=41).to_json().replace('"grid": 41', '"grid": 1001')}, "grid"),
    (lambda s: {**s, "data": {"n": 5, "rows": [[9] * 5]}, "done": 1}, "basins"),
    (lambda s: "garbage", "job"),
])
def test_forged_basin_jobs_are_refused_with_a_message(forge, words):
    cfg = state.BASE.replace(grid=41, steps=30)
    store, *_ = logic.basin_drive(ids.BASIN_START, None, cfg, "5")
    with pytest.raises(ConfigError) as e:
        logic.basin_drive(ids.BASIN_INTERVAL, forge(store), cfg, "5")
    assert words in str(e.value)


def test_critical_points_and_rho_hat_on_paper_fig4():
    """Fig. 4 (a): one global minimum at z*; NOTES.md: ρ_2 = 1/π, and the finite-net ρ̂ sits near it."""
    crit = logic.critical_for(state.BASE.replace(grid=41))
    mins = [p for p in crit["points"] if p["kind"] == "minimum"]
    assert any(abs(p["u"] - 0.8) < 1e-4 and abs(p["v"] + 0.5) < 1e-4 for p in mins)
    assert crit["rho"] == pytest.approx(1 / np.pi)
    assert 0.2 < crit["rho_hat"] < 0.5
    assert "ρ_2 (theory) = 0.3183" in logic.rho_text(crit, 2)


def test_downloads_hold_the_landscape():
    """Reference: core.io.landscape_arrays, the CLI's own file, on a freshly built problem."""
    from core import build_problem
    from core import io as core_io
    from core.landscape import landscape

    cfg = state.BASE.replace(grid=21)
    L = logic.landscape_for(cfg)
    npz = np.load(io.BytesIO(logic.landscape_npz(cfg)))
    p = build_problem(cfg)
    ref = core_io.landscape_arrays(p, landscape(p))
    assert set(npz.files) == set(ref) and {"mask", "W1", "W2", "J", "u", "v", "d1", "d2"} <= set(npz.files)
    for k in ref:
        if k != "config":
            np.testing.assert_array_equal(npz[k], ref[k])
    np.testing.assert_array_equal(npz["J"], L.J)
    assert Config.from_json(str(npz["config"])).grid == 21
    table = np.loadtxt(io.StringIO(logic.landscape_csv(cfg)), delimiter=",", skiprows=1)
    assert table.shape == (21 * 21, 5)
    np.testing.assert_allclose(table[:, -1], L.J.ravel(), rtol=1e-6)
    np.testing.assert_allclose(table[:, 0], table[:, 2])   # n0 = 2: u is z1
    assert Config.from_json(logic.config_json(cfg)) == cfg


def test_images_view_at_z_star_has_zero_residual():
    fig, text = logic.images_view(state.BASE.replace(grid=21), None)
    assert "z = (0.800, -0.500)" in text
    res = next(t for t in fig.data if t.name == "residual")
    assert np.abs(np.asarray(res.z)).max() < 1e-5


def test_collapse_view_shows_a_flat_region_and_a_witness():
    """Fig. 4 (d): U[0, 1] weights give a region of positive area with one output; N(0, 1) do not."""
    fig, witness, text = logic.collapse_view(state.BASE, "preset", "log")
    pair = logic.collapse_pair(state.BASE, "preset")
    assert pair["left"]["collapse"].area_fraction > 0.05
    assert pair["gaussian"]["collapse"].area_fraction < 0.01
    assert pair["left"]["witness_images"] is not None and "Witness" in text
    assert len(witness.data) == 2


# --- the command line ----------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["--bogus"], ["--port", "0"], ["--port", "x"]])
def test_bad_flags_exit_2_with_one_line(argv):
    root = pathlib.Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    r = subprocess.run([sys.executable, "-m", "dashboard", *argv], capture_output=True, text=True, timeout=60,
                       cwd=root, env=env)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "error" in r.stderr


def test_defaults_bind_localhost_without_debug():
    from dashboard.__main__ import parse_args

    a = parse_args([])
    assert (a.host, a.port, a.debug) == ("127.0.0.1", 8050, False)


def test_one_config_builds_its_problem_once_for_every_view(monkeypatch):
    """problem_for (the URL sync's probe) and the landscape share one cached build: counted calls of
    core.problem.build_problem through logic, for a weight seed no other test uses."""
    calls = []
    real = logic.build_problem
    monkeypatch.setattr(logic, "build_problem", lambda *a, **k: calls.append(1) or real(*a, **k))
    cfg = state.BASE.replace(weight_seed=987_654, grid=21)
    logic.problem_for(cfg)
    logic.landscape_for(cfg)
    logic.problem_for(cfg)
    assert len(calls) == 1


def test_the_critical_points_text_says_what_each_is_in_the_latent_space():
    """For n0 > 2 the points are J's on the plane, each judged in all n0 coordinates (the labels of
    core.diagnosis); for n0 = 2 the plane is the space. A label the browser altered reads "not judged"."""
    pts = [{"kind": "minimum", "u": 3.49, "v": 0.0, "J": 0.0, "label": "recovered", "grad": 1e-6},
           {"kind": "minimum", "u": -3.41, "v": -0.88, "J": 129.7, "label": "unconverged", "grad": 13.26},
           {"kind": "saddle", "u": 0.1, "v": 0.2, "J": 50.0, "label": "critical", "grad": 1e-9}]
    text = logic.critical_text({"points": pts, "n0": 10})
    assert text.startswith("critical points of J on this plane: 2 minima, 1 saddle — in all 10 coordinates, ")
    assert "the minimum at (3.49, 0.00) is z*" in text
    assert ("the minimum at (-3.41, -0.88) is not a critical point of J (‖∇J‖ = 13.3: J falls off the plane)"
            in text)
    assert "the saddle at (0.10, 0.20) is a critical point of J other than z*" in text
    two = logic.critical_text({"points": pts[:1], "n0": 2})
    assert two == "critical points in the window: 1 minimum — the minimum at (3.49, 0.00) is z*"
    assert logic.critical_text({"points": [], "n0": 10}) == "critical points of J on this plane: none found"
    forged = {**pts[1], "label": ["unconverged"], "grad": "13"}
    assert logic.in_space(forged) == "not judged"
    many = logic.critical_text({"points": [pts[1]] * 6, "n0": 10})
    assert many.count("is not a critical point") == logic.LISTED and "2 more, 2 of them not critical points" in many


def test_the_critical_markers_say_on_hover_what_each_point_is():
    """The verdict of each point reaches the figure: the markers' hover text, from marks_for's "said"."""
    cfg = state.BASE.replace(grid=21)
    crit = {**logic.critical_for(cfg), "points": [
        {"kind": "minimum", "u": 0.8, "v": -0.5, "J": 0.0, "label": "recovered", "grad": 0.0},
        {"kind": "minimum", "u": -0.2, "v": 0.1, "J": 5.0, "label": "unconverged", "grad": 2.5}]}
    fig = logic.landscape_figure(cfg, "log", logic.marks_for(cfg, crit, None, heights=False), False, as_dict=True)
    tr = [t for t in fig["data"] if t.get("name") == "minimum"][0]
    assert list(tr["text"]) == ["z*", "not a critical point of J (‖∇J‖ = 2.5: J falls off the plane)"]
    assert "in the latent space: %{text}" in tr["hovertemplate"]
    from dashboard.figures.landscape import OFF_PLANE_COLOUR, _POINT_STYLE
    assert list(tr["marker"]["color"]) == [_POINT_STYLE["minimum"][0], OFF_PLANE_COLOUR]   # grey: the plane's only


def test_a_kink_minimum_is_drawn_and_said_as_one():
    """core.critical's kink minima (smooth = False) reach the text ("at a kink"), the marker (a symbol of
    its own) and the hover; a forged "kink" that is not True, or on a saddle, is not one. Reference: the
    paper-fig4 net of tests/test_critical.py whose window holds a kink minimum, found by critical_for."""
    from dashboard.figures.landscape import KINK_SYMBOL, _POINT_STYLE

    cfg = state.BASE.replace(weight_seed=0, mask="random", rate=0.05, z_star=(0.8, -0.5), grid=41)
    crit = logic.critical_for(cfg)
    kinks = [p for p in crit["points"] if p["kink"]]
    assert kinks and all(p["kind"] == "minimum" and p["label"] == "critical" for p in kinks)
    text = logic.critical_text(crit)
    n_min = sum(p["kind"] == "minimum" for p in crit["points"])
    assert f"{n_min} minima ({len(kinks)} at a kink of J)" in text
    listed = crit["points"][:logic.LISTED]
    assert text.count("at a kink at (") == sum(p["kink"] for p in listed)
    fig = logic.landscape_figure(cfg, "log", logic.marks_for(cfg, crit, None, heights=False), False, as_dict=True)
    tr = [t for t in fig["data"] if t.get("name") == "minimum"][0]
    mins = [p for p in crit["points"] if p["kind"] == "minimum"]
    assert list(tr["marker"]["symbol"]) == [KINK_SYMBOL[0] if p["kink"] else _POINT_STYLE["minimum"][1] for p in mins]
    assert [("at a kink" in c) for c in tr["customdata"]] == [p["kink"] for p in mins]
    forged = {**crit, "points": [{**mins[0], "kink": "yes"}, {**mins[0], "kind": "saddle", "kink": True}]}
    assert not any(p["kink"] for p in logic.marks_for(cfg, forged, None, heights=False).critical)
    assert "kink" not in logic.critical_text(forged)


def test_the_judgement_of_critical_points_is_bounded(monkeypatch):
    """Beyond DASH_MACS["judge"] the window's points are found but not judged, and the text says why.
    Reference: the same config within the bound is judged (z* recovered)."""
    cfg = state.BASE.replace(grid=41, weight_seed=77)
    assert state.judges_critical(cfg, 2, logic.CRITICAL_MAX)
    judged = logic.critical_for(cfg)
    assert judged["points"] and judged["points"][0]["label"] == "recovered"
    logic._critical.cache_clear()
    monkeypatch.setitem(state.DASH_MACS, "judge", 1.0)
    assert not state.judges_critical(cfg, 2, 1)
    crit = logic.critical_for(cfg)
    assert [p["label"] for p in crit["points"]] == [""] * len(crit["points"])
    assert [(p["u"], p["v"]) for p in crit["points"]] == [(p["u"], p["v"]) for p in judged["points"]]
    assert "is not judged (in all coordinates it would pass the dashboard's work bound)" in logic.critical_text(crit)
    logic._critical.cache_clear()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_cache_keys_are_the_configs_with_defaults(name):
    """problem_key / descent_source are the JSON of cfg with the view (or plane) fields replaced by
    the defaults, as ``Config.replace(...).to_json()`` writes it (the reference), for every preset
    and for a config whose view and plane fields all differ from the defaults."""
    from dashboard.logic import _PLANE_FIELDS, _VIEW_FIELDS, descent_source, problem_key
    from dashboard.state import DEFAULT
    base = from_preset(name)
    off = base.replace(grid=base.grid + 2, extent=base.extent * 1.5, plane="star", plane_seed=base.plane_seed + 3,
                       steps=base.steps + 1, starts=base.starts + 1, start_seed=base.start_seed + 1,
                       lr=base.lr * 2, eps=base.eps * 0.5)
    for cfg in (base, off):
        assert problem_key(cfg) == cfg.replace(**{f: getattr(DEFAULT, f) for f in _VIEW_FIELDS}).to_json()
        assert descent_source(cfg) == cfg.replace(**{f: getattr(DEFAULT, f) for f in _PLANE_FIELDS}).to_json()
    assert problem_key(off) == problem_key(base) and descent_source(off) != descent_source(base)
