"""The dashboard as seen by a hostile browser: forged callback payloads and random URLs.

Every request is posted to the real app (Flask's test client, the same endpoint the browser uses).
The reference is the HTTP contract and the project's rule: never a 500, always a one-line message
that names the control (field) and its allowed range — here the dashboard's own bounds
(``dashboard.state.DASH_LIMITS``), not core's.
"""
import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _png import contour_colours, reference_rgba
from core.config import FIELDS
from dashboard import figures, ids, state
from dashboard.app import build_app

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GOOD = state.BASE.replace(grid=41).to_json()


@pytest.fixture(scope="module")
def app():
    return build_app(prefill=False)


@pytest.fixture(scope="module")
def client(app):
    return app.server.test_client()


def _outputs(key: str):
    if not key.startswith(".."):
        i, p = key.split("@")[0].rsplit(".", 1)
        return {"id": i, "property": p}
    out = []
    for part in key.strip(".").split("..."):
        i, p = part.split("@")[0].rsplit(".", 1)
        out.append({"id": i, "property": p})
    return out


def call(app, client, output: str, values: dict, trigger: str):
    """Post one callback request: ``output`` picks the callback (a substring of its output key),
    ``values`` maps "id.prop" to what the forged browser sends, ``trigger`` is "id.prop"."""
    plain = {k: re.sub(r"@[0-9a-f]+", "", k) for k in app.callback_map}   # allow_duplicate outputs carry a hash
    keys = ([k for k in app.callback_map if output in (k, plain[k])]
            or [k for k in app.callback_map if output in k or output in plain[k]])
    assert len(keys) == 1, keys
    key = keys[0]
    spec = app.callback_map[key]

    def items(lst):
        return [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                for i in lst]

    body = {"output": key, "outputs": _outputs(key), "inputs": items(spec["inputs"]), "state": items(spec["state"]),
            "changedPropIds": [trigger]}
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code in (200, 204), r.data[:500]
    return {} if r.status_code == 204 else json.loads(r.data)


def banner(resp) -> str:
    return ((resp.get("sideUpdate") or {}).get(ids.BANNER) or {}).get("children", "")


def text(resp) -> str:
    return json.dumps(resp, ensure_ascii=False)


@pytest.mark.parametrize("config, words", [
    ("not json", "config: not valid JSON"),
    ({"grid": 41}, "config: expected JSON text"),
    (GOOD.replace('"grid": 41', '"grid": 1001'), "grid: must be in [11, 401] in the dashboard"),
    (GOOD.replace('"activation": "relu"', '"activation": "swish"'), "activation: must be one of"),
    (GOOD.replace('"generator": "conv"', '"generator": "foo"').replace('"starts": 100', '"starts": 5'),
     "generator:"),
    (GOOD.replace('"channels": [2, 16, 1]', '"channels": [2, 512, 512, 1]'), "grid: this landscape needs"),
])
def test_forged_config_store(app, client, config, words):
    resp = call(app, client, "..land-contour.figure...land-key-store.data..",
                {"config-store.data": config, "scale.value": "log"}, "config-store.data")
    assert words in banner(resp)


def test_forged_scale(app, client):
    resp = call(app, client, "..land-contour.figure...land-key-store.data..",
                {"config-store.data": GOOD, "scale.value": "weird"}, "scale.value")
    assert banner(resp).startswith("scale: must be one of log, linear")


def test_forged_basin_job(app, client):
    job = {"kind": "basins", "key": GOOD, "total": 200_000_000, "done": 0, "status": "running", "cancel_clicks": 0,
           "data": {"n": 200_000_000, "rows": []}}
    resp = call(app, client, "..basins-store.data", {"basins-store.data": job, "config-store.data": GOOD,
                                                     "basin-interval.n_intervals": 3}, "basin-interval.n_intervals")
    assert banner(resp).startswith("job: total must be in [1, ")


def test_forged_descent_store(app, client):
    counts = "..desc-counts.children...land-counts.children...desc-random.children...desc-warning.children.."
    resp = call(app, client, counts, {"descent-store.data": {"key": GOOD, "u": "x"}, "config-store.data": GOOD},
                "descent-store.data")
    assert banner(resp).startswith("descent:")


def test_a_forged_descent_store_leaves_the_mask_picture_alone(app, client):
    """Reference: the mask picture of the config as figures.mask_figure draws it, forged store or not."""
    from dashboard import logic

    values = {"descent-store.data": {"key": GOOD, "u": "x"}, "config-store.data": GOOD}
    resp = call(app, client, "..mask-image.figure...plane-text.children..", values, "land-painted-store.data")
    want = np.asarray(figures.mask_figure(logic.mask_of(state.config_from_json(GOOD))).data[0].z, float)
    got = resp["response"]["mask-image"]["figure"]
    z = got["data"][0]["z"]
    if isinstance(z, dict):                                       # a typed array: "M, N" shape
        shape = [int(n) for n in str(z["shape"]).split(",")]
        z = np.frombuffer(__import__("base64").b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    np.testing.assert_array_equal(z, want)
    assert "plane" in resp["response"]["plane-text"]["children"].lower() and not banner(resp)


def test_forged_click_point(app, client):
    resp = call(app, client, "descent-store.data", {"point-store.data": {"key": GOOD, "uv": ["a", None]},
                                                    "config-store.data": GOOD}, "point-store.data")
    assert banner(resp).startswith("point:")


@pytest.mark.parametrize("search, words", [
    ("?grid=99999999", "URL: grid: must be in [11, 401] in the dashboard"),
    ("?activation=foo", "URL: activation: must be one of"),
    ("?channels=3,8,1&z_star=1e-300,0,0", "URL: z_star:"),
    ("?view=nowhere", "URL: view:"),
])
def test_url_errors_go_to_the_banner(app, client, search, words):
    resp = call(app, client, "..generator-kind.value", {"url.search": search}, "url.search")
    assert words in text(resp)


def test_cuda_url_on_a_cpu_machine(app, client):
    import torch

    resp = call(app, client, "..generator-kind.value", {"url.search": "?device=cuda"}, "url.search")
    assert torch.cuda.is_available() or "URL: device:" in text(resp)


def test_forged_sync_payload(app, client):
    """Controls as a hostile browser might send them: wrong types everywhere."""
    values = {f"{cid}.value": [1, 2] for cid in ids.FIELD_CONTROLS.values()}
    values.update({"url.search": "", "config-store.data": "][", "scale.value": 7, "tabs.value": None})
    resp = call(app, client, "..generator-kind.value", values, f"{ids.RATE}.value")
    errors = resp["response"][ids.ERRORS]["data"]               # the lines shown (a clientside callback)
    assert not any(k.startswith("err-") for k in resp["response"])
    assert errors[ids.err(ids.RATE)] == "rate: expected text, got list"
    assert errors[ids.err(ids.LABEL)].startswith("label: must be -1 (drawn) or a class in [0, 9]")
    assert all("\n" not in m for m in errors.values()) and "config-store" not in resp["response"]


@pytest.mark.parametrize("values, words", [
    ({"expected-width.value": None, "expected-preset.value": "paper-fig4", "expected-grid.value": 31}, "width_factor"),
    ({"expected-width.value": 0, "expected-preset.value": "paper-fig4", "expected-grid.value": 1001}, "grid"),
    ({"expected-width.value": 0, "expected-preset.value": "paper-fig4", "expected-grid.value": 31,
      "expected-k.value": 10 ** 9}, "ray_nets"),
    ({"expected-width.value": 0, "expected-preset.value": "paper-fig4", "expected-grid.value": 31,
      "expected-k.value": ["1000"]}, "ray_nets"),
    ({"expected-width.value": 0, "expected-preset.value": "paper-fig4", "expected-grid.value": 31,
      "expected-k.value": True}, "ray_nets"),
])
def test_forged_expected_controls(app, client, values, words):
    values = {"expected-k.value": 1000, **values}
    resp = call(app, client, "..expected-heatmaps.figure", {**values, "tabs.value": ids.TAB_EXPECTED},
                "expected-width.value")
    assert f"{words}:" in text(resp) and resp.get("response")


def test_forged_inpainting_label(app, client):
    values = {f"{cid}.value": v for cid, v in zip(
        ("inpaint-generator", "inpaint-source", "inpaint-label", "inpaint-seed", "inpaint-mask", "inpaint-rate",
         "inpaint-method", "inpaint-lr", "inpaint-damping", "inpaint-negate", "inpaint-steps"),
        ("mnist", "generated", None, "0", "random", "0.5", "lbfgs", "0.1", "1.0", [], "500"))}
    resp = call(app, client, "..inpaint-images.figure", {**values, "tabs.value": ids.TAB_INPAINT}, "inpaint-label.value")
    assert "label:" in text(resp)


def test_forged_weights_generator(app, client):
    resp = call(app, client, "..weights-histograms.figure", {"weights-generator.value": "foo",
                                                             "tabs.value": ids.TAB_WEIGHTS}, "weights-generator.value")
    assert banner(resp).startswith("generator: must be one of mnist")


def test_forged_phase_job_and_controls(app, client):
    resp = call(app, client, "..phase-store.data", {"phase-store.data": {"kind": "phase"},
                                                    "phase-interval.n_intervals": 1}, "phase-interval.n_intervals")
    assert banner(resp).startswith("job:")
    controls = {"phase-generator.value": "paper-fig4", "phase-channels.value": "2,128,1", "phase-noise.value": "none",
                "phase-tol.value": "0.001", "phase-method.value": "lbfgs", "phase-steps.value": "2000",
                "phase-patterns.value": ["random", "top", "border"], "phase-rates.value": "0.1,0.3,0.5",
                "phase-trials.value": "500", "phase-restarts.value": "40"}    # ~1.6e14 multiply-adds in all
    resp = call(app, client, "..phase-store.data", {**controls, "phase-start.n_clicks": 1}, "phase-start.n_clicks")
    assert "trials: this phase" in text(resp)


def test_forged_page_url_slice(app, client):
    """The page's URL sync reads the URL (its State), never the slice the browser sent: a forged slice
    with a URL that holds other values sets the controls from the URL; a forged non-text search or a
    control value of another type gives an answer, not a 500. Reference: state.page_values on the URL."""
    from dashboard.pages import phase as phase_page
    from dashboard import state

    search = "?view=phase&phase.trials=9&phase.rates=0.1%2C0.5"
    resp = call(app, client, "phase-url-store.data..", {"phase-url-store.data": "phase.trials=99999",
                                                        "url.search": search, "phase-trials.value": "20"},
                "phase-url-store.data")
    want = state.page_values(search, "phase.", phase_page.DEFAULTS)
    got = resp["response"]
    assert got["phase-trials"]["value"] == want["trials"] == "9" and got["phase-rates"]["value"] == "0.1,0.5"
    for bad in ({"a": 1}, 12, ["?phase.trials=1"]):
        resp = call(app, client, "phase-url-store.data..", {"phase-url-store.data": "x", "url.search": bad},
                    "phase-url-store.data")
        assert banner(resp) == "url: the query must be text" and resp["response"] == {}
    sent = {f"{cid}.value": phase_page.DEFAULTS[n] for n, cid in phase_page.CONTROLS.items()}
    for control, value, kind in (("phase-trials", {"x": [1]}, "text, got dict"),
                                 ("phase-patterns", "random", "a list of texts, got str"),
                                 ("phase-patterns", [1, 2], "a list of texts, got list")):
        resp = call(app, client, "phase-url-store.data..", {**sent, f"{control}.value": value, "url.search": "?view=phase"},
                    f"{control}.value")
        assert banner(resp) == f"{control}: expected {kind}" and resp["response"] == {}
    resp = call(app, client, "phase-url-store.data..", {**sent, "phase-channels.value": None, "phase-trials.value": "7",
                                                        "url.search": "?view=phase"}, "phase-trials.value")
    assert resp["sideUpdate"]["url"]["search"] == "?view=phase&phase.trials=7" and banner(resp) == ""
    assert resp["response"]["phase-url-store"]["data"] == "phase.trials=7"


def test_forged_download_tab(app, client):
    resp = call(app, client, "..download.data@", {"dl-html.n_clicks": 1, "tabs.value": "nowhere"}, "dl-html.n_clicks")
    assert banner(resp).startswith("view: must be one of")


KEYS = list(FIELDS) + ["scale", "view", "preset", "phase.trials", "bogus"]
VALUES = st.one_of(st.sampled_from(["", "0", "-1", "1e308", "nan", "2,16,1", "1e-300,0,0", "cuda", "mnist", "relu",
                                    "99999999", "0.5", "x", "os:getcwd", "quantize:8", "gaussian:-1"]),
                   st.text(max_size=12))


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=4))
def test_random_urls_give_a_config_or_one_message(pairs):
    """Any query: a config within the dashboard's bounds, or the default view and one line naming a field."""
    from urllib.parse import urlencode

    cfg, scale, view, err = state.state_from_query("?" + urlencode(pairs))
    if err:
        assert err.startswith("URL: ") and "\n" not in err and cfg == state.BASE
    else:
        state.check_dashboard_limits(cfg)
        assert scale in state.SCALES and view in ids.TAB_VALUES


# --- the sync callback sends the contour of the config it accepts ----------------------------------
def _sync_values(**changes):
    values = {f"{ids.FIELD_CONTROLS[f]}.value": v for f, v in state.controls_from_config(state.BASE).items()}
    values.update({"url.search": "", "config-store.data": GOOD, "scale.value": "log", "tabs.value": ids.TAB_LANDSCAPE})
    values.update(changes)
    return values


def test_sync_sends_the_new_contour_with_the_config(app, client):
    from dashboard import logic

    values = _sync_values(**{f"{ids.WEIGHT_SEED}.value": "7", f"{ids.GRID}.value": "41"})
    resp = call(app, client, "..generator-kind.value", values, f"{ids.WEIGHT_SEED}.value")["response"]
    cfg = state.config_from_json(resp["config-store"]["data"])
    assert cfg.weight_seed == 7 and cfg.grid == 41
    assert resp["land-key-store"]["data"] == logic.figure_key(cfg, "log")
    fig = resp["land-contour"]["figure"]
    J = logic.landscape_for(cfg).J
    z = fig["data"][-1]["z"]                                      # the lines, from all 41² points
    z = np.frombuffer(__import__("base64").b64decode(z["bdata"]), dtype=z["dtype"]).reshape(J.shape)
    J = np.asarray(J, float)   # the new seed's landscape, as the colours show it (log10(J + floor), float32)
    want = np.log10(np.maximum(J, 0) + 1e-15 * J.max())
    np.testing.assert_allclose(z, want, rtol=1e-6)
    bar = fig["data"][0]["marker"]
    np.testing.assert_allclose(contour_colours(fig), reference_rgba(want, bar["cmin"], bar["cmax"], figures.VIRIDIS),
                               atol=1)


def test_a_contour_sent_to_a_tab_holds_other_tabs_follow_ups_until_that_tab_has_painted_it(app, client, monkeypatch):
    """The sync that sends a tab a new contour on the landscape view notes that tab in the app's gate
    (priority.Gate.sent); that tab's first follow-up (the critical callback, started by its painted
    contour) takes it off. A contour computed while another view is shown is not waited for (nothing
    is painted there), and a forged tab id is never noted (the sync gives the page a fresh one)."""
    from dashboard.priority import new_tab_id

    gate = app.dashboard_gate
    monkeypatch.setattr(gate, "paint_wait", 9.0)   # no tab forgotten by time during the test (a critical call: ~1 s)
    a, c = new_tab_id(), new_tab_id()
    values = _sync_values(**{f"{ids.WEIGHT_SEED}.value": "8", f"{ids.GRID}.value": "41", f"{ids.TAB_ID}.data": a})
    resp = call(app, client, "..generator-kind.value", values, f"{ids.WEIGHT_SEED}.value")["response"]
    assert "land-contour" in resp and a in gate.unpainted
    config = resp["config-store"]["data"]
    values = _sync_values(**{f"{ids.WEIGHT_SEED}.value": "9", f"{ids.GRID}.value": "41", f"{ids.TAB_ID}.data": c,
                             "tabs.value": ids.TAB_DESCENT})
    resp = call(app, client, "..generator-kind.value", values, f"{ids.WEIGHT_SEED}.value")["response"]
    assert "land-contour" in resp and c not in gate.unpainted
    forged = "f" * 31 + "g"
    values = _sync_values(**{f"{ids.WEIGHT_SEED}.value": "10", f"{ids.GRID}.value": "41", f"{ids.TAB_ID}.data": forged})
    resp = call(app, client, "..generator-kind.value", values, f"{ids.WEIGHT_SEED}.value")["response"]
    fresh = resp["tab-id-store"]["data"]
    assert fresh != forged and fresh in gate.unpainted and forged not in gate.unpainted
    critical = "..critical-store.data...rho-text.children...critical-text.children...critical-later-store.data.."
    call(app, client, critical, {"land-painted-store.data": "k", "config-store.data": config, f"{ids.TAB_ID}.data": a},
         "land-painted-store.data")
    assert a not in gate.unpainted and fresh in gate.unpainted
    gate.painted(fresh)


@pytest.mark.parametrize("bad", [12, ["?grid=41"], {"a": 1}])
@pytest.mark.parametrize("trigger", ["url.search", f"{ids.WEIGHT_SEED}.value"])
def test_a_url_query_that_is_not_text_is_reported_and_replaced(app, client, bad, trigger):
    """A forged non-text query (dcc.Location only sends text): the sync answers with the one-line
    message naming the URL, as the pages' URL syncs do, and the URL it writes is text again."""
    resp = call(app, client, "..generator-kind.value", _sync_values(**{"url.search": bad, f"{ids.GRID}.value": "41"}),
                trigger)
    assert resp["response"][ids.BANNER]["children"] == "url: the query must be text" and not banner(resp)
    search = resp["response"].get("url", {}).get("search")
    assert search is None or isinstance(search, str)
    if trigger != "url.search":
        assert isinstance(search, str) and "weight_seed" not in search   # rewritten from the config (seed unchanged)


def test_the_sync_runs_shown_only_when_a_tab_store_a_url_slice_or_the_mask_key_may_change(app, client):
    """``shown`` (clientside) sets the tab stores, the pages' URL slices and the mask key; the sync
    starts it (VIEW_SYNC) for a change on a tab other than the landscape, for a URL that arrives
    (history, a page's own URL write), and when the pages' items of the URL change; not for a control
    changed on the landscape tab (the URL keeps the pages' items: compared here with the items the
    response's URL carries) nor for a tab switch (``shown`` has the tab as its own input)."""
    def sync(trigger, **changes):
        values = _sync_values(**{f"{ids.GRID}.value": "41", **changes})
        return call(app, client, "..generator-kind.value", values, trigger)["response"]

    seed = f"{ids.WEIGHT_SEED}.value"
    on_landscape = sync(seed, **{seed: "11", "url.search": "?grid=41&phase.trials=7"})
    assert "config-store" in on_landscape and "view-sync-store" not in on_landscape
    assert "phase.trials=7" in on_landscape["url"]["search"]     # the pages' items kept: nothing for shown to set
    elsewhere = sync(seed, **{seed: "12", "tabs.value": ids.TAB_DESCENT})
    assert "config-store" in elsewhere and isinstance(elsewhere["view-sync-store"]["data"], int)
    arrived = sync("url.search", **{"url.search": "?grid=41&weight_seed=13&phase.trials=9"})
    assert "view-sync-store" in arrived
    switched = sync("tabs.value", **{"tabs.value": ids.TAB_DESCENT})
    assert "view-sync-store" not in switched


def test_sync_sends_only_overlays_when_the_landscape_is_the_one_shown(app, client):
    from dashboard import logic

    cfg = state.config_from_json(GOOD).replace(eps=0.2)
    values = _sync_values(**{f"{ids.EPS}.value": "0.2", f"{ids.GRID}.value": "41",
                             "land-key-store.data": logic.figure_key(cfg, "log")})
    resp = call(app, client, "..generator-kind.value", values, f"{ids.EPS}.value")["response"]
    assert state.config_from_json(resp["config-store"]["data"]).eps == 0.2
    assert resp["land-key-store"]["data"] == logic.figure_key(cfg, "log")
    ops = resp["land-contour"]["figure"]["operations"]            # a Patch: the grid stays in the browser
    data = {op["location"][1]: op["params"]["value"] for op in ops if op["location"][0] == "data"}
    assert set(data) == set(range(1, len(figures.OVERLAYS) + 1))
    ball = data[figures.OVERLAY_INDEX["B(z*, ε‖z*‖)"]]           # the ball around z* has the new radius
    zs = np.array(cfg.z_star)
    r = np.hypot(np.array(ball["x"], float) - zs[0], np.array(ball["y"], float) - zs[1])
    np.testing.assert_allclose(r[np.isfinite(r)], 0.2 * np.linalg.norm(zs), rtol=1e-6)  # z* is float32


def test_sync_keeps_the_contour_when_the_controls_are_refused(app, client):
    values = _sync_values(**{f"{ids.GRID}.value": "100000"})
    resp = call(app, client, "..generator-kind.value", values, f"{ids.GRID}.value")["response"]
    assert "config-store" not in resp and "land-contour" not in resp and "land-key-store" not in resp
    assert resp[ids.ERRORS]["data"][ids.err(ids.GRID)].startswith("grid: must be in")


def test_sync_sends_only_the_outputs_that_change(app, client):
    """An accepted change sends no error line or banner that is already blank, clears the one shown,
    and leaves the preset menu alone when it already says what the config is."""
    values = _sync_values(**{f"{ids.WEIGHT_SEED}.value": "9", f"{ids.GRID}.value": "41", "preset.value": None})
    resp = call(app, client, "..generator-kind.value", values, f"{ids.WEIGHT_SEED}.value")["response"]
    assert state.config_from_json(resp["config-store"]["data"]).weight_seed == 9
    sent = {k for k in resp if k.startswith("err-") or k in (ids.ERRORS, ids.CONFIG_ERROR, ids.BANNER)}
    assert sent == set(), sent                                    # nothing was shown, nothing to clear
    assert resp["preset"]["value"] != values["preset.value"]       # the menu now names the config's preset
    values["preset.value"] = resp["preset"]["value"]

    values[f"{ids.ERRORS}.data"] = {ids.err(ids.GRID): "grid: must be in [11, 401] in the dashboard"}
    values[f"{ids.BANNER}.children"] = "model: refused"
    resp = call(app, client, "..generator-kind.value", values, f"{ids.WEIGHT_SEED}.value")["response"]
    assert resp[ids.ERRORS]["data"] == {}                         # the stale line is cleared
    assert resp[ids.BANNER]["children"] == ""
    others = {k for k in resp if k.startswith("err-")}
    assert others == set(), others
    assert "preset" not in resp                                   # it already names the config's preset
    controls = {k for k in resp if k in set(ids.FIELD_CONTROLS.values())}
    assert controls == set(), controls                            # every control already shows its value


def test_sync_sends_the_descent_counts_of_a_new_config(app, client):
    """Reference: logic.counts_text of no descent (the shown one belongs to the old config) and the new N."""
    from dashboard import logic

    cfg = state.BASE.replace(grid=41, starts=3)
    old = {**logic.run_descent(cfg, "random"), "tag": logic.config_tag(cfg)}     # a descent of the shown config
    values = _sync_values(**{f"{ids.STARTS}.value": "7", f"{ids.GRID}.value": "41", "descent-store.data": old,
                             f"{ids.LAND_COUNTS}.children": logic.counts_text(old)})
    resp = call(app, client, "..generator-kind.value", values, f"{ids.STARTS}.value")["response"]
    assert resp[ids.LAND_COUNTS]["children"] == resp[ids.DESC_COUNTS]["children"] == logic.counts_text(None)
    assert resp[ids.DESC_RANDOM]["children"] == "Launch 7 random starts"
    assert ids.DESC_WARNING not in resp or resp[ids.DESC_WARNING]["children"] == ""
    values = _sync_values(**{f"{ids.STARTS}.value": "7", f"{ids.GRID}.value": "41",
                             **{f"{o}.children": resp[o]["children"] for o in (ids.LAND_COUNTS, ids.DESC_COUNTS,
                                                                                ids.DESC_RANDOM)},
                             f"{ids.WEIGHT_SEED}.value": "5"})
    resp = call(app, client, "..generator-kind.value", values, f"{ids.WEIGHT_SEED}.value")["response"]
    assert "config-store" in resp and not {ids.LAND_COUNTS, ids.DESC_COUNTS, ids.DESC_RANDOM} & set(resp)
    values = _sync_values(**{f"{ids.WEIGHT_SEED}.value": "6", "descent-store.data": {"key": GOOD, "u": "x"}})
    resp = call(app, client, "..generator-kind.value", values, f"{ids.WEIGHT_SEED}.value")["response"]
    assert "config-store" in resp                                 # a forged descent does not hold the config back


@pytest.mark.parametrize("forged", ["][", ["err-grid"], {"err-grid": 7}, {"not-a-line": "x"}, None])
def test_a_forged_error_store_reads_as_no_lines(app, client, forged):
    """The error store comes back from the browser; whatever it holds, a good change leaves no line."""
    values = _sync_values(**{f"{ids.WEIGHT_SEED}.value": "9", f"{ids.GRID}.value": "41", f"{ids.ERRORS}.data": forged})
    resp = call(app, client, "..generator-kind.value", values, f"{ids.WEIGHT_SEED}.value")
    assert "config-store" in resp["response"]
    assert resp["response"].get(ids.ERRORS, {"data": {}})["data"] == {}


def test_a_preset_rewrites_only_the_controls_that_differ(app, client):
    """Reference: the preset's controls (state.controls_from_config) compared with those shown, field by field."""
    from core.config import from_preset

    values = _sync_values(**{"preset.value": "authors-code"})
    want = {ids.FIELD_CONTROLS[f] for f, v in state.controls_from_config(from_preset("authors-code")).items()
            if values[f"{ids.FIELD_CONTROLS[f]}.value"] != v}
    assert want                                                   # the two presets differ somewhere
    resp = call(app, client, "..generator-kind.value", values, "preset.value")["response"]
    assert {k for k in resp if k in set(ids.FIELD_CONTROLS.values())} == want
    assert "scale" not in resp and "tabs" not in resp             # unchanged, not resent


# --- the plane control, the injectivity map --------------------------------------------------------------
def test_forged_plane_control(app, client):
    values = {f"{cid}.value": v for cid, v in state.controls_from_config(state.BASE).items()
              for cid in [ids.FIELD_CONTROLS[cid]]}
    values.update({f"{ids.PLANE}.value": {"$ne": 1}, "url.search": "", "config-store.data": GOOD,
                   "scale.value": "log", "tabs.value": ids.TAB_LANDSCAPE})
    resp = call(app, client, "..generator-kind.value", values, f"{ids.PLANE}.value")
    msg = resp["response"][ids.ERRORS]["data"][ids.err(ids.PLANE)]
    assert msg.startswith("plane: must be one of auto, latent, star, endpoint, pca, hessian") and "\n" not in msg
    assert "config-store" not in resp["response"]


def test_forged_plane_in_the_config_store(app, client):
    resp = call(app, client, "..land-contour.figure...land-key-store.data..",
                {"config-store.data": GOOD.replace('"plane": "auto"', '"plane": "../../etc"'), "scale.value": "log"},
                "config-store.data")
    assert banner(resp).startswith("plane: must be one of")


def test_forged_descent_store_behind_an_endpoint_plane(app, client):
    """A well-formed store whose key is garbage is no descent of this config: the plane waits, no 500."""
    store = {"key": "{not json", "kind": "random", "iters": [0], "u": [[0.0]], "v": [[0.0]], "J": [[1.0]],
             "outcome": ["recovered"], "counts": {"recovered": 1}}
    cfg = GOOD.replace('"plane": "auto"', '"plane": "endpoint"')
    resp = call(app, client, "..land-contour.figure...land-key-store.data..",
                {"config-store.data": cfg, "scale.value": "log", "descent-store.data": store}, "descent-store.data")
    assert resp["response"]["land-key-store"]["data"].startswith("waiting:")
    assert "built from a descent" in text(resp)


@pytest.mark.parametrize("toggle, words", [
    ("on", "injectivity: expected [] or ['on']"),
    ([["on"]], "injectivity: expected [] or ['on']"),
])
def test_forged_injectivity_toggle(app, client, toggle, words):
    resp = call(app, client, "..inj-graph.figure", {"inj-toggle.value": toggle, "config-store.data": GOOD,
                                                    "scale.value": "log"}, "inj-toggle.value")
    assert banner(resp).startswith(words)


def test_injectivity_map_refuses_a_forged_scale_and_config(app, client):
    resp = call(app, client, "..inj-graph.figure", {"inj-toggle.value": ["on"], "config-store.data": GOOD,
                                                    "scale.value": "<script>"}, "inj-toggle.value")
    assert banner(resp).startswith("scale: must be one of")
    resp = call(app, client, "..inj-graph.figure", {"inj-toggle.value": ["on"], "config-store.data": 7,
                                                    "scale.value": "log"}, "inj-toggle.value")
    assert banner(resp).startswith("config: expected JSON text")
