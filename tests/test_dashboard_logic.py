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

from core import PRESETS, Config, from_preset
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
    cfg, errors = state.config_from_controls(_controls(channels="2,512,512,1"))
    assert cfg is None and "grid" in errors and "too slow" in errors["grid"]


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
])
def test_bad_query_falls_back_with_a_message(query, field):
    cfg, scale, view, err = state.state_from_query(query)
    assert cfg == state.BASE
    assert err.startswith(f"URL: {field}:")


# --- the sync decision -------------------------------------------------------------------------
def test_sync_first_call_reads_the_url():
    r = state.sync(None, "?activation=tanh&grid=51", None, "log", ids.TAB_LANDSCAPE, {})
    assert r["controls"]["activation"] == "tanh" and r["controls"]["grid"] == "51"
    assert Config.from_json(r["config"]) == from_preset("paper-fig4", activation="tanh", grid=51)
    assert r["search"] == KEEP            # already normal
    assert r["preset"] == "paper-fig4"
    assert r["errors"][ids.CONFIG_ERROR] == ""


def test_sync_bad_url_shows_the_default_and_a_message():
    r = state.sync(None, "?rate=7", None, "log", ids.TAB_LANDSCAPE, {})
    assert Config.from_json(r["config"]) == state.BASE
    assert r["errors"][ids.CONFIG_ERROR].startswith("URL: rate:")


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


def test_playback():
    P, T = ids.DESC_PLAY, ids.DESC_INTERVAL
    assert state.playback(None, 3, 10, True) == (10, False)        # a new descent shows its end
    assert state.playback(P, 10, 10, False) == (0, True)           # play at the end restarts
    assert state.playback(P, 4, 10, True) == (4, False)            # pause
    assert state.playback(T, 4, 10, True) == (5, True)
    assert state.playback(T, 9, 10, True) == (10, False)           # stops at the end
    assert state.playback(T, 4, 10, False) == (4, False)


def test_surface_follows_playback_every_few_frames():
    desc = {"iters": list(range(0, 101, 10))}           # 11 frames, last = 10
    assert state.surface_follows(3, desc, playing=False)
    assert not state.surface_follows(3, desc, playing=True)
    assert state.surface_follows(5, desc, playing=True) and state.surface_follows(10, desc, playing=True)


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
    assert store["counts"] == {"recovered": 1, "negative": 0, "other": 0}
    assert store["u"][0][0] == pytest.approx(-1.5) and store["v"][0][0] == pytest.approx(1.5)
    assert store["u"][0][-1] == pytest.approx(0.8, abs=1e-3) and store["v"][0][-1] == pytest.approx(-0.5, abs=1e-3)
    assert store["iters"][0] == 0 and store["iters"][-1] == 300 and len(store["iters"]) <= logic.MAX_FRAMES
    assert "recovered 1" in logic.counts_text(store)


def test_random_descent_counts_add_up():
    cfg = state.BASE.replace(grid=41, steps=100, starts=7, start_seed=3)
    store = logic.run_descent(cfg, "random")
    assert sum(store["counts"].values()) == 7 and len(store["u"]) == 7


def test_basins_fill_row_by_row_and_cancel():
    cfg = state.BASE.replace(grid=41, steps=30)
    store, running, _, err = logic.basin_drive(ids.BASIN_START, None, cfg, "5")
    assert running and err == "" and store["rows"] == []
    store, running, wait, _ = logic.basin_drive(ids.BASIN_INTERVAL, store, cfg, "5")
    assert len(store["rows"]) >= 1 and all(len(r) == 5 for r in store["rows"]) and wait > 0
    store, running, _, _ = logic.basin_drive(ids.BASIN_CANCEL, store, cfg, "5")
    assert store["status"] == "cancelled" and not running
    n_rows = len(store["rows"])
    store, running, _, _ = logic.basin_drive(ids.BASIN_INTERVAL, store, cfg, "5")
    assert len(store["rows"]) == n_rows and not running
    # A tick that was answered after the cancel still sees the Cancel button's count and stops.
    fresh, _, _, _ = logic.basin_drive(ids.BASIN_START, None, cfg, "5", cancel_clicks=2)
    late, running, _, _ = logic.basin_drive(ids.BASIN_INTERVAL, fresh, cfg, "5", cancel_clicks=3)
    assert late["status"] == "cancelled" and not running and late["rows"] == []
    _, _, _, err = logic.basin_drive(ids.BASIN_START, None, cfg, "500")
    assert err.startswith("basin_grid:")


def test_critical_points_and_rho_hat_on_paper_fig4():
    """Fig. 4 (a): one global minimum at z*; NOTES.md: ρ_2 = 1/π, and the finite-net ρ̂ sits near it."""
    crit = logic.critical_for(state.BASE.replace(grid=41))
    mins = [p for p in crit["points"] if p["kind"] == "minimum"]
    assert any(abs(p["u"] - 0.8) < 1e-4 and abs(p["v"] + 0.5) < 1e-4 for p in mins)
    assert crit["rho"] == pytest.approx(1 / np.pi)
    assert 0.2 < crit["rho_hat"] < 0.5
    assert "ρ_2 (theory) = 0.3183" in logic.rho_text(crit, 2)


def test_downloads_hold_the_landscape():
    cfg = state.BASE.replace(grid=21)
    L = logic.landscape_for(cfg)
    npz = np.load(io.BytesIO(logic.landscape_npz(cfg)))
    np.testing.assert_array_equal(npz["J"], L.J)
    assert Config.from_json(str(npz["config"])) == cfg
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
