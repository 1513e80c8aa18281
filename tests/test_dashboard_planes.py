"""The Landscape view's plane selector, injectivity map and ρ̂_ray text (dashboard.planes, dashboard.logic).

References: every expected number is computed in the test by a separate call into core on a
problem the test builds itself (core.planes.plane_for, core.descent.descend, core.injectivity,
core.critical, core.collapse), so the dashboard's caches, keys and plumbing are what is checked;
the facts about the presets come from the paper (Fig. 4 a: G injective on paper-fig4; Fig. 4 d:
uniform [0, 1] weights collapse a region of latent codes to one output).
"""
import numpy as np
import pytest

from core import Config, build_problem, from_preset
from core.collapse import collapse_set
from core.config import PLANES, ZERO_MEAN_LAWS, ConfigError
from core.critical import near_negative_critical, ray_minimum
from core.descent import descend, random_starts
from core.injectivity import injectivity_map
from core.planes import plane_for
from dashboard import figures, ids, logic, planes, state

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BASE = state.BASE.replace(grid=41)
SMALL = BASE.replace(starts=8, steps=60)          # a cheap descent behind endpoint / pca planes


# --- the control, the URL -------------------------------------------------------------------------
@pytest.mark.parametrize("plane", PLANES)
def test_plane_round_trips_through_controls_and_url(plane):
    cfg = BASE.replace(plane=plane)
    back, errors = state.config_from_controls(state.controls_from_config(cfg), base=BASE)
    assert errors == {} and back.plane == plane
    q = state.query_from_state(cfg)
    assert (f"plane={plane}" in q) == (plane != BASE.plane)
    again, _, _, err = state.state_from_query(q)
    assert err == "" and again == cfg


def test_plane_control_is_in_the_sidebar_and_refuses_unknown_planes():
    assert ids.FIELD_CONTROLS["plane"] == ids.PLANE
    assert [o["value"] for o in planes.PLANE_OPTIONS] == list(PLANES)
    for bad in ("diagonal", ["star"], None, 3):
        cfg, errors = state.config_from_controls({**state.controls_from_config(BASE), "plane": bad}, base=BASE)
        assert cfg is None and errors["plane"].startswith("plane: must be one of auto, latent")


# --- the planes against core ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["latent", "star", "hessian"])
def test_plane_is_cores_plane(kind):
    """The landscape's plane and the text's d1, d2 are core.planes.plane_for's on a fresh problem."""
    cfg = BASE.replace(plane=kind)
    ref = plane_for(build_problem(cfg), kind=kind)
    got = logic.landscape_for(cfg).plane
    np.testing.assert_allclose(got.d1, ref.d1, atol=1e-6)
    np.testing.assert_allclose(got.d2, ref.d2, atol=1e-6)
    text = planes.plane_text(cfg)
    assert f"Plane {kind}" in text and ref.explanation.split(";")[0][:30] in text
    assert f"d1 = ({', '.join(f'{x:.3f}' for x in ref.d1)})" in text


def test_star_plane_marks_minus_z_star():
    """−z* lies on the star plane's u axis at −‖z*‖ (core's marks), drawn as a plane point."""
    cfg = BASE.replace(plane="star")
    th = logic.theory_marks(cfg, heights=False)
    u, v, _ = th["plane_points"]["−z*"]
    assert u == pytest.approx(-np.linalg.norm([0.8, -0.5]), rel=1e-6) and v == pytest.approx(0, abs=1e-9)  # z* float32
    fig = logic.landscape_figure(cfg, "log", logic.marks_for(cfg, heights=False), three_d=False)
    tr = fig.data[figures.OVERLAY_INDEX["plane points"]]
    assert list(tr.text) == ["−z*"] and tr.x[0] == pytest.approx(u)


def test_points_off_the_plane_are_not_drawn():
    """On the Hessian plane of a 3-D latent (through z*), 0 is off the plane: no 'origin' mark."""
    cfg = Config(channels=(3, 8, 1), plane="hessian", grid=21)
    th = logic.theory_marks(cfg, heights=False)
    pl = logic.landscape_for(cfg).plane
    off = np.linalg.norm(pl.lift(*pl.project(np.zeros(3))))
    assert off > 1e-3 and np.isnan(th["points"]["origin"][0])
    assert th["points"]["z*"][:2] == pytest.approx((0.0, 0.0), abs=1e-9)


@pytest.mark.parametrize("kind", ["endpoint", "pca"])
def test_descent_planes_wait_for_a_descent_then_use_it(kind):
    cfg = SMALL.replace(plane=kind)
    wait = planes.plane_ready(cfg, None)
    assert f"The {kind} plane is built from a descent" in wait and "launch the 8 random starts" in wait
    store = logic.run_descent(SMALL, "random")            # launched on the latent plane
    assert planes.plane_ready(cfg, store) == ""
    assert planes.plane_ready(cfg.replace(start_seed=3), store) != ""        # another descent
    forged = {**store, "key": "not json"}
    assert planes.plane_ready(cfg, forged) != ""
    # The plane: core.planes.plane_for on the same descent, run here independently.
    p = build_problem(cfg)
    d = descend(p, np.asarray(random_starts(p.n0, cfg.starts, cfg.start_seed)), **logic.descent_settings(cfg))
    ref = plane_for(p, descent=d, kind=kind)
    got = logic.landscape_for(cfg).plane
    np.testing.assert_allclose(np.abs(got.d1 @ ref.d1), 1, atol=1e-6)
    np.testing.assert_allclose(np.abs(got.d2 @ ref.d2), 1, atol=1e-6)
    assert "random starts" in planes.plane_text(cfg)


# --- ρ̂_ray and the critical points near −ρ_d z* -------------------------------------------------------
def test_rho_hat_and_near_critical_are_cores():
    cfg = BASE
    crit = logic.critical_for(cfg)
    p64 = build_problem(cfg, dtype="float64")
    assert crit["rho_hat"] == pytest.approx(ray_minimum(p64), abs=1e-12)
    ref = near_negative_critical(p64, grid=logic.NEAR_SEARCH[0], steps=logic.NEAR_SEARCH[1])
    assert [q["kind"] for q in crit["near"]["near"]] == [q.kind for q in ref.critical]
    text = logic.rho_text(crit, 2)
    assert "ρ̂_ray, the minimum of J along the −z* ray = " + f"{ray_minimum(p64):.3f}" in text
    assert "ρ_2 (theory) = 0.3183" in text
    assert ("critical points of J near −ρ_d z*: none" in text) == (not ref.critical)
    assert "negative_ray_critical" not in open(logic.__file__).read()


def test_rho_text_without_a_centre():
    """mode-collapse: no ρ_d (weights not zero-mean) and no ray minimum: said, not a 500."""
    cfg = from_preset("mode-collapse").replace(grid=41)
    crit = logic.critical_for(cfg)
    assert np.isnan(crit["rho_hat"])
    assert "not searched" in logic.rho_text(crit, 2) and "ρ̂_ray" in logic.rho_text(crit, 2)


# --- the injectivity map ------------------------------------------------------------------------------
def test_injectivity_grid_follows_the_cost_model():
    assert state.injectivity_grid(BASE.replace(grid=201), 2) == 41
    assert state.injectivity_grid(BASE.replace(grid=21), 2) == 21
    mnist = Config(generator="mnist", grid=41)
    n = state.injectivity_grid(mnist, 10)
    assert 5 <= n < 41 and n * n * 33 * 4_404_224 <= state.DASH_MACS["injectivity"]
    with pytest.raises(ConfigError, match="^grid: even a 5²"):
        state.injectivity_grid(Config(channels=(2, 512, 512, 1), grid=41), 2)


def test_injectivity_figure_shows_cores_sigma_min():
    cfg = BASE
    fig, text = planes.injectivity_view(cfg, "log")
    L = logic.landscape_for(cfg)
    u, v = np.linspace(L.u[0], L.u[-1], 41), np.linspace(L.v[0], L.v[-1], 41)
    ref = injectivity_map(build_problem(cfg), plane_for(build_problem(cfg)), u, v)
    sig = fig.data[1]
    np.testing.assert_allclose(np.asarray(sig.customdata, float), ref.sigma_min, rtol=1e-5)
    floor = figures.sigma_floor(ref.sigma_max)
    np.testing.assert_allclose(np.asarray(sig.z, float), np.log10(ref.sigma_min + floor), rtol=1e-5)
    assert "floor" in sig.colorbar.title.text
    assert ref.sigma_min.min() > 0 and "0.0% of the window" in text        # paper-fig4: injective


def test_injectivity_is_zero_on_the_mode_collapse_set():
    cfg = from_preset("mode-collapse").replace(grid=41)
    m, _ = planes.injectivity_for(cfg)
    p = build_problem(cfg)
    c = collapse_set(p, logic.landscape_for(cfg).plane, m.u, m.v)
    assert c.in_set.sum() > 50
    assert np.all(m.sigma_min[c.in_set] == 0)
    fig, _ = planes.injectivity_view(cfg, "log")
    z = np.asarray(fig.data[1].z, float)
    assert np.all(z[c.in_set] == pytest.approx(np.log10(figures.sigma_floor(m.sigma_max))))


def test_images_contour_follows_a_descent_that_arrives_on_an_endpoint_plane():
    """The Images tab's contour on an endpoint plane: a message while it waits, the plane's contour once
    the descent arrives (the descent store is an Input), and no recomputation for a descent on the
    latent plane (reference: the waiting text of planes.plane_ready and the grid of logic.landscape_for)."""
    import json

    from dashboard.app import build_app

    app = build_app(prefill=False)
    client = app.server.test_client()
    key = next(k for k in app.callback_map if k.startswith(f"{ids.IMG_CONTOUR}.figure"))
    spec = app.callback_map[key]
    assert {"id": ids.DESCENT, "property": "data"} in spec["inputs"]      # the browser fires it when a descent arrives

    def post(cfg, store, tab, trigger):
        values = {f"{ids.VIEW_IMAGES}.data": {"config": cfg.to_json(), "scale": "log"},
                  f"{ids.DESCENT}.data": store, f"{ids.TABS}.value": tab}
        items = lambda lst: [{"id": i["id"], "property": i["property"],      # noqa: E731
                              "value": values.get(f"{i['id']}.{i['property']}")} for i in lst]
        body = {"output": key, "outputs": {"id": ids.IMG_CONTOUR, "property": "figure"}, "inputs": items(spec["inputs"]),
                "state": items(spec["state"]), "changedPropIds": [trigger]}
        r = client.post("/_dash-update-component", json=body)
        assert r.status_code in (200, 204), r.data[:300]
        return None if r.status_code == 204 else json.loads(r.data)["response"][ids.IMG_CONTOUR]["figure"]

    cfg = SMALL.replace(plane="endpoint")
    waiting = post(cfg, None, ids.TAB_IMAGES, f"{ids.VIEW_IMAGES}.data")
    assert "built from a descent" in json.dumps(waiting)
    store = logic.run_descent(SMALL, "random")
    fig = post(cfg, store, ids.TAB_IMAGES, f"{ids.DESCENT}.data")
    assert fig is not None and "built from a descent" not in json.dumps(fig)
    L = logic.landscape_for(cfg)
    contour = fig["data"][-1]                      # the contour lines, traced from the grid (41 points: all)
    x = contour["x"]
    x = np.frombuffer(__import__("base64").b64decode(x["bdata"]), dtype=x["dtype"]) if isinstance(x, dict) else np.asarray(x)
    np.testing.assert_allclose(x, L.u, rtol=1e-6)
    # A descent arriving on the latent plane, or on another tab, leaves the contour alone.
    assert post(SMALL, store, ids.TAB_IMAGES, f"{ids.DESCENT}.data") is None
    assert post(cfg, store, ids.TAB_DESCENT, f"{ids.DESCENT}.data") is None


def test_minus_rho_z_star_is_marked_only_where_the_theorem_speaks():
    """−ρ_d z* and its ball are drawn for zero-mean weights and not for the mode-collapse preset's
    uniform [0, 1] weights (Theorem 1 assumes zero-mean Gaussian weights; reference: the preset's law)."""
    collapse = from_preset("mode-collapse").replace(grid=41)
    assert collapse.weights not in ZERO_MEAN_LAWS
    th = logic.theory_marks(collapse, heights=False)
    assert np.isnan(th["points"]["−ρ_d z*"][0]) and th["circles"]["B(−ρ_d z*, ε‖z*‖)"][0].size == 0
    assert np.isfinite(th["points"]["z*"][0]) and th["circles"]["B(z*, ε‖z*‖)"][0].size > 0
    th = logic.theory_marks(BASE, heights=False)
    assert np.isfinite(th["points"]["−ρ_d z*"][0]) and th["circles"]["B(−ρ_d z*, ε‖z*‖)"][0].size > 0


def test_the_plane_text_says_when_the_window_is_wider_than_asked():
    """Reference: the star plane's half-width max(extent, 1.25‖z*‖) from z* by hand; the text names it
    only when it exceeds the extent asked."""
    small = BASE.replace(plane="star", extent=0.5)
    nz = float(np.linalg.norm(small.z_star))
    assert 1.25 * nz > 0.5
    assert f"Its window is ±{1.25 * nz:.2f}, wider than the ±0.5 asked" in planes.plane_text(small)
    assert "wider than" not in planes.plane_text(BASE.replace(plane="star", extent=5.0))
