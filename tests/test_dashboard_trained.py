"""Dashboard pages for the trained generators: pure figure builders and callback logic, as plain functions."""
import numpy as np
import pytest

from core.trained.dcgan import ASSETS

needs_assets = pytest.mark.skipif(not (ASSETS / "mnist_generator.pt").is_file(),
                                  reason="assets/mnist_generator.pt not shipped yet")

from core import ConfigError  # noqa: E402
from dashboard import ids  # noqa: E402
from dashboard.figures import trained as tf  # noqa: E402
from dashboard.pages import inpainting, weights  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Slice:
    def __init__(self, title, marks):
        self.title = title
        self.u = np.linspace(-2, 2, 5)
        self.v = np.linspace(-1, 1, 3)
        self.J = np.arange(15.0).reshape(3, 5)
        self.path_u = np.array([[0.0, 1.0], [0.5, 1.5], [1.0, 2.0]])
        self.path_v = np.zeros((3, 2))
        self.marks = marks


def test_images_figure_hides_unobserved_pixels():
    """Reference: the mask itself; hidden pixels must be NaN (blank) in the measured panel only."""
    x = np.linspace(-1, 1, 32 * 32).reshape(32, 32)
    mask = np.zeros((32, 32), bool)
    mask[:16] = True
    fig = tf.images_figure(x, mask, -x)
    truth, measured, recon = (np.asarray(t.z, float) for t in fig.data)
    np.testing.assert_allclose(truth, (x + 1) / 2)
    assert np.isnan(measured[16:]).all() and np.allclose(measured[:16], truth[:16])
    np.testing.assert_allclose(recon, (-x + 1) / 2)
    assert [a.text for a in fig.layout.annotations] == ["ground truth", "measured y = A x", "reconstruction G(ẑ)"]


def test_curve_figure_one_trace_per_restart_on_log_axis():
    """Reference: the input array, column by column; the kept restart is the thick one."""
    J = np.array([[4.0, 3.0], [1.0, 2.0], [0.0, 1.0]])
    fig = tf.curve_figure(J, best=0)
    assert len(fig.data) == 2 and fig.layout.yaxis.type == "log"
    assert fig.data[0].line.width > fig.data[1].line.width and "kept" in fig.data[0].name
    np.testing.assert_allclose(fig.data[1].y, J[:, 1])
    assert fig.data[0].y[-1] > 0   # J = 0 is floored for the log axis


def test_slices_figure_draws_contours_paths_and_marks():
    """Reference: the hand-made slices; per slice one contour, two traces per restart, one trace of marks."""
    s1 = _Slice("plane through 0, z*, −z*", {"z*": (1.0, 0.0), "ẑ": (1.0, 0.0), "−z*": (-1.0, 0.0), "0": (0.0, 0.0)})
    s2 = _Slice("random plane through z*", {"z*": (0.0, 0.0), "ẑ": (0.0, 0.0)})
    fig = tf.slices_figure([s1, s2], best=1)
    assert [t.type for t in fig.data].count("contour") == 2
    assert len(fig.data) == 2 * (1 + 2 * 2 + 1)
    np.testing.assert_allclose(fig.data[1].x, s1.path_u[:, 0])
    assert list(fig.data[5].text) == ["z*", "ẑ", "−z*", "0"]
    np.testing.assert_allclose(fig.data[0].z, np.log10(s1.J + 1e-12 * 14))


GOOD = ("mnist", "generated", 3, "0", "random", "0.5", "lbfgs", "0.1", "1.0", [], "500")


def _c(**k):
    names = ("generator", "source", "label", "seed", "mask", "rate", "method", "lr", "damping", "negate", "steps")
    d = dict(zip(names, GOOD))
    d.update(k)
    return tuple(d[n] for n in names)


@pytest.mark.parametrize("change, field", [
    (dict(seed="x"), "seed"), (dict(seed="-1"), "seed"), (dict(rate="0"), "rate"), (dict(rate="abc"), "rate"),
    (dict(label=None), "label"), (dict(label=11), "label"), (dict(generator="foo"), "generator"),
    (dict(source=None), "source"), (dict(mask="half"), "mask"), (dict(method="sgd"), "method"),
    (dict(lr="0"), "lr"), (dict(damping="-1"), "damping"), (dict(steps="99999"), "steps"),
    (dict(negate="yes"), "negate")])
def test_parse_controls_names_the_field(change, field):
    """Reference: the field names of the page's controls and their documented ranges."""
    with pytest.raises(ConfigError) as e:
        inpainting.parse_controls(*_c(**change))
    assert e.value.field == field
    a = inpainting.parse_controls(*_c(seed=" 12 ", rate="0.25", negate=["on"]))
    assert (a["seed"], a["rate"], a["negate"]) == (12, 0.25, True)


def test_random_draw_gives_a_valid_class_and_seed():
    """Reference: the control ranges (class 0..9, a seed parse_controls accepts)."""
    label, seed = inpainting.random_draw(1)
    assert 0 <= label <= 9 and inpainting.parse_controls(*_c(label=label, seed=seed))["seed"] == int(seed)


@needs_assets
def test_inpainting_compute_recovers_a_generated_digit():
    """Reference: core.trained.demo's own ground truth z*; a random 50% mask should be recovered exactly."""
    from core.trained.demo import inpaint_example
    images, curve, slices, summary = inpainting.compute(*GOOD)
    ex = inpaint_example("mnist", "generated", 3, 0, "random", 0.5, restarts=inpainting.RESTARTS)
    assert ex.latent_error <= 1e-3 and "diagnosis: recovered" in summary and "class 3" in summary
    assert len(curve.data) == 1 and len(images.data) == 3
    # the z* mark of the first slice sits at (‖z*‖, 0), −z* at (−‖z*‖, 0)
    s = ex.slices[0]
    np.testing.assert_allclose(s.marks["z*"], (np.linalg.norm(ex.z_star), 0), atol=1e-12)
    np.testing.assert_allclose(s.marks["−z*"], (-np.linalg.norm(ex.z_star), 0), atol=1e-12)
    assert s.J.shape == (41, 41) and s.J.min() >= 0


@needs_assets
def test_inpainting_with_adam_is_the_papers_recipe():
    """Reference: inpaint_example with the paper's Adam (lr 0.1, 500 iterations) called directly."""
    from core.trained.demo import inpaint_example
    _, curve, _, summary = inpainting.compute(*_c(method="adam"))
    ex = inpaint_example("mnist", "generated", 3, 0, "random", 0.5, restarts=inpainting.RESTARTS, method="adam")
    np.testing.assert_allclose(np.asarray(curve.data[0].y), np.maximum(ex.J_path[:, 0], 1e-30))
    assert "Adam iteration" in curve.layout.xaxis.title.text


def test_histograms_figure_overlays_the_fitted_gaussian():
    """Reference: the closed-form N(0, σ²) density of core.trained.stats.LayerStats.gaussian."""
    from core.trained.stats import layer_stats
    rng = np.random.default_rng(0)
    stats = [layer_stats("W1", rng.normal(0, 0.02, (20, 128, 4, 4))), layer_stats("W2", rng.normal(0, 0.05, (128, 64, 4, 4)))]
    fig = tf.histograms_figure(stats)
    bars = [t for t in fig.data if t.type == "bar"]
    lines = [t for t in fig.data if t.type == "scatter"]
    assert len(bars) == len(lines) == 2
    np.testing.assert_allclose(bars[1].y, stats[1].density)
    w = np.asarray(lines[0].x)
    np.testing.assert_allclose(lines[0].y, np.exp(-0.5 * (w / stats[0].sigma) ** 2) / (stats[0].sigma * np.sqrt(2 * np.pi)))
    assert "KS = " in fig.layout.annotations[0].text
    rows = tf.table_rows(stats)
    assert rows[0]["layer"] == "W1" and rows[0]["shape"] == "20×128×4×4" and set(rows[0]) == set(tf.TABLE_COLUMNS)


@needs_assets
def test_weights_compute_on_the_shipped_generator():
    """Reference: the architecture in the model card: four layers, the first 20×128×4×4."""
    fig, rows = weights.compute("mnist")
    assert [r["layer"] for r in rows] == ["W1", "W2", "W3", "W4"] and rows[0]["shape"] == "20×128×4×4"


def test_pages_register_in_a_scratch_app_with_prefixed_ids():
    """Reference: the integration contract (layout(), register_callbacks(app), ids prefixed by page)."""
    import dash
    for page, prefix in ((inpainting, "inpaint-"), (weights, "weights-")):
        app = dash.Dash(__name__)
        app.layout = page.layout()
        page.register_callbacks(app)
        assert [v for k, v in vars(ids).items() if k.isupper() and isinstance(v, str) and v.startswith(prefix)]
        found = set()

        def walk(c):
            if getattr(c, "id", None):
                found.add(c.id)
            for ch in (c.children if isinstance(getattr(c, "children", None), list) else
                       [c.children] if getattr(c, "children", None) is not None and not isinstance(c.children, str) else []):
                walk(ch)
        walk(app.layout)
        assert found and all(i.startswith(prefix) for i in found)
        assert len(app.callback_map) >= 1


@needs_assets
def test_the_critical_points_of_a_dcgan_scan_the_ray_once(monkeypatch):
    """Through the MNIST DCGAN there is neither ρ_d nor an interior ray minimum, so the search near
    −ρ_d z* has no centre: the ray's 1,501-point scan (most of the search's time) runs once, and the
    answer is the one near_negative_critical gives the caller (its ValueError's reason, ρ̂ = NaN as
    ray_minimum computes it)."""
    import dataclasses

    from core import critical
    from dashboard import logic, state

    cfg = state.BASE.replace(generator="mnist", grid=21, z_star=())
    p64 = logic._problem(logic.problem_key(cfg), "float64")
    p64 = dataclasses.replace(p64, cfg=p64.cfg.replace(tol=cfg.tol, eps=cfg.eps))
    ref_rho = critical.ray_minimum(p64)
    with pytest.raises(ValueError) as why:
        critical.near_negative_critical(p64, grid=logic.NEAR_SEARCH[0], steps=logic.NEAR_SEARCH[1])
    real, scans = critical.ray_minimum, []
    monkeypatch.setattr(critical, "ray_minimum", lambda *a, **k: scans.append(1) or real(*a, **k))
    monkeypatch.setattr(logic, "ray_minimum", critical.ray_minimum)
    logic._near.cache_clear()
    out = logic.near_for(cfg)
    assert len(scans) == 1
    assert out["near"] is None and out["why"] == str(why.value)
    assert np.isnan(ref_rho) and np.isnan(out["rho_hat"])
