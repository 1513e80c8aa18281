"""Trained generators (core.trained): IDX reading, checked loading, seeded training, inversion, statistics.

Tests that need the MNIST files skip, with the reason, when ``../shared/data`` (relative to the
project root) is absent; tests that need the shipped weights skip when ``assets/`` lacks them.
"""
import gzip
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from core.trained import idx
from core.trained.dcgan import ASSETS, Generator, check_state_dict, load_generator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = idx.DEFAULT_DATA
needs_data = pytest.mark.skipif(not (DATA / "MNIST" / "raw").is_dir(),
                                reason=f"MNIST IDX files not found under {DATA} (../shared/data from the project root)")
needs_assets = pytest.mark.skipif(not (ASSETS / "mnist_generator.pt").is_file(),
                                  reason="assets/mnist_generator.pt not shipped yet")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- IDX files ------------------------------------------------------------------------------------
@needs_data
def test_mnist_counts_first_labels_and_pixel_stats():
    """Reference: the sanity facts in ../shared/data/README.md (label counts, first ten labels, mean/std)."""
    tr_x, tr_y = idx.load_split(DATA, "mnist", "train")
    te_x, te_y = idx.load_split(DATA, "mnist", "test")
    assert tr_x.shape == (60000, 28, 28) and te_x.shape == (10000, 28, 28)
    assert np.bincount(tr_y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(te_y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert tr_y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert te_y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    counts = np.bincount(tr_x.ravel(), minlength=256)   # exact moments from the histogram of byte values
    v = np.arange(256) / 255
    mean = counts @ v / counts.sum()
    std = math.sqrt(counts @ (v - mean) ** 2 / counts.sum())
    assert mean == pytest.approx(0.1307, abs=5e-5) and std == pytest.approx(0.3081, abs=5e-5)


@needs_data
def test_fashion_counts_and_first_labels():
    """Reference: ../shared/data/README.md (6000 per class in train, 1000 in test; first labels 9 0 0 3 0 2 7 2 5 5)."""
    _, tr_y = idx.load_split(DATA, "fashion", "train")
    _, te_y = idx.load_split(DATA, "fashion", "test")
    assert np.bincount(tr_y).tolist() == [6000] * 10 and np.bincount(te_y).tolist() == [1000] * 10
    assert tr_y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


def _write_idx(path, magic, dims, payload: bytes, compress=True):
    raw = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + payload
    path.write_bytes(gzip.compress(raw) if compress else raw)


def test_read_idx_hand_made_file(tmp_path):
    """Reference: an IDX file written byte by byte after LeCun's format description."""
    p = tmp_path / "x.gz"
    _write_idx(p, 2051, (2, 2, 3), bytes(range(12)))
    a = idx.read_idx(p, 2051)
    assert a.shape == (2, 2, 3) and a[1, 1, 2] == 11


@pytest.mark.parametrize("case, needle", [
    ("missing", "file not found"), ("not_gzip", "not a readable gzip"),
    ("magic", "magic number 2049, expected 2051"), ("truncated", "truncated or corrupt")])
def test_read_idx_errors_name_the_file_and_expectation(tmp_path, case, needle):
    """Reference: each corruption is made by hand; the message must name the file and what was expected."""
    p = tmp_path / "train-images-idx3-ubyte.gz"
    if case == "not_gzip":
        p.write_bytes(b"this is not gzip")
    elif case == "magic":
        _write_idx(p, 2049, (2, 2, 3), bytes(12))
    elif case == "truncated":
        _write_idx(p, 2051, (2, 2, 3), bytes(7))
    with pytest.raises(idx.IDXError) as e:
        idx.read_idx(p, 2051)
    assert needle in str(e.value) and str(p) in str(e.value)


def test_load_split_names_the_expected_folder(tmp_path):
    """Reference: torchvision's <root>/MNIST/raw layout; an empty root must say where it looked."""
    with pytest.raises(idx.IDXError, match=r"MNIST/raw/train-images-idx3-ubyte.gz: file not found"):
        idx.load_split(tmp_path, "mnist", "train")


def test_to_32_matches_a_hand_written_bilinear_resize():
    """Reference: bilinear interpolation with half-pixel centres (align_corners=False) written as a loop."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (1, 28, 28)).astype(np.uint8)
    got = idx.to_32(img).numpy()[0, 0]
    src = img[0] / 255.0
    ref = np.empty((32, 32))
    s = 28 / 32
    for i in range(32):
        for j in range(32):
            y, x = max((i + 0.5) * s - 0.5, 0), max((j + 0.5) * s - 0.5, 0)
            y0, x0 = int(y), int(x)
            y1, x1 = min(y0 + 1, 27), min(x0 + 1, 27)
            dy, dx = y - y0, x - x0
            ref[i, j] = ((1 - dy) * (1 - dx) * src[y0, x0] + (1 - dy) * dx * src[y0, x1]
                         + dy * (1 - dx) * src[y1, x0] + dy * dx * src[y1, x1])
    np.testing.assert_allclose(got, 2 * ref - 1, atol=1e-5)


# ---- architecture and checked loading -------------------------------------------------------------
def test_generator_architecture_is_the_papers():
    """Reference: the paper's Fig. 5 description (4 ConvT layers, BN + leaky ReLU after 3, tanh, n0 = 10)."""
    G = Generator()
    kinds = [type(m).__name__ for m in G.net]
    assert kinds == ["ConvTranspose2d", "BatchNorm2d", "LeakyReLU"] * 3 + ["ConvTranspose2d", "Tanh"]
    assert G.convs[0].in_channels == 10 + 10
    assert G.eval()(torch.zeros(2, 10), torch.tensor([0, 9])).shape == (2, 1, 32, 32)


def test_loader_rejects_wrong_keys_and_shapes(tmp_path):
    """Reference: a fresh Generator's own state dict, altered by hand (a key renamed, a tensor reshaped)."""
    good = Generator().state_dict()
    renamed = dict(good)
    renamed["net.0.kernel"] = renamed.pop("net.0.weight")
    reshaped = dict(good, **{"net.3.weight": torch.zeros(64, 64, 3, 3)})
    extra = dict(good, bonus=torch.zeros(1))
    for state, needle in ((renamed, "missing ['net.0.weight'], unexpected ['net.0.kernel']"),
                          (reshaped, "net.3.weight has shape (64, 64, 3, 3), expected (128, 64, 4, 4)"),
                          (extra, "unexpected ['bonus']")):
        p = tmp_path / "w.pt"
        torch.save(state, p)
        with pytest.raises(ValueError) as e:
            load_generator(p)
        assert needle in str(e.value)
    torch.save(good, tmp_path / "ok.pt")
    assert isinstance(load_generator(tmp_path / "ok.pt"), Generator)
    with pytest.raises(ValueError, match="expected a dict"):
        check_state_dict([1, 2], Generator())


# ---- training -----------------------------------------------------------------------------------
@needs_data
def test_tiny_seeded_training_is_reproducible():
    """Reference: a second run with the same seed (bit-identical weights and losses); a third seed differs."""
    from core.trained.train import TrainConfig, train_gan
    im, lab = idx.load_split(DATA, "mnist", "train")
    x, y = idx.to_32(im[:256]), torch.from_numpy(lab[:256].astype(np.int64))
    cfg = TrainConfig(steps=3, batch_size=16, n_train=256, calib_batches=1)
    a, b = train_gan(x, y, cfg), train_gan(x, y, cfg)
    c = train_gan(x, y, TrainConfig(steps=3, batch_size=16, n_train=256, calib_batches=1, seed=1))
    np.testing.assert_array_equal(a.loss_D, b.loss_D)
    for k, v in a.G.state_dict().items():
        assert torch.equal(v, b.G.state_dict()[k]), k
    assert not torch.equal(a.G.state_dict()["net.0.weight"], c.G.state_dict()["net.0.weight"])


# ---- shipped assets -----------------------------------------------------------------------------
@needs_assets
@pytest.mark.parametrize("name", ["mnist", "fashion"])
def test_shipped_cards_and_sizes(name):
    """Reference: the issue's card fields (architecture, data, seed, training time, script commit); a few MB."""
    card = json.loads((ASSETS / f"{name}_generator.json").read_text())
    for key in ("architecture", "data", "seed", "train_seconds", "script_commit", "script_sha256", "steps"):
        assert key in card, key
    assert (ASSETS / f"{name}_generator.pt").stat().st_size < 2_000_000
    load_generator(ASSETS / f"{name}_generator.pt", width=card["architecture"]["width"])


@needs_assets
def test_generated_digits_are_their_class():
    """Reference: the shipped classifier, trained on real MNIST only, judges 100 fresh samples per class."""
    from core.trained.classifier import generated_accuracy, load_classifier
    from core.trained.dcgan import shipped_generator
    q = generated_accuracy(shipped_generator("mnist"), load_classifier("mnist"), per_class=100, seed=123)
    assert q["accuracy"] >= 0.9 and q["classes_seen"] == list(range(10))


@needs_assets
@needs_data
def test_shipped_classifier_on_real_test_set():
    """Reference: the real MNIST test labels (t10k); a small CNN reaches ≥ 97% on them."""
    from core.trained.classifier import accuracy, load_classifier
    im, lab = idx.load_split(DATA, "mnist", "test")
    assert accuracy(load_classifier("mnist"), idx.to_32(im), torch.from_numpy(lab.astype(np.int64))) >= 0.97


# ---- weight statistics --------------------------------------------------------------------------
def test_ks_distance_against_a_naive_loop_and_scipy():
    """Reference: the KS definition evaluated by a plain loop with math.erf, and scipy.stats.kstest when installed."""
    from core.trained.stats import ks_distance
    w = np.random.default_rng(1).standard_t(5, 300) * 0.1
    sigma = float(np.sqrt(np.mean(w ** 2)))
    ws, n, D = np.sort(w), w.size, 0.0
    for i, x in enumerate(ws, start=1):
        F = 0.5 * (1 + math.erf(x / (sigma * math.sqrt(2))))
        D = max(D, i / n - F, F - (i - 1) / n)
    assert ks_distance(w, sigma) == pytest.approx(D, abs=1e-12)
    scipy_stats = pytest.importorskip("scipy.stats")
    assert ks_distance(w, sigma) == pytest.approx(scipy_stats.kstest(w, "norm", args=(0, sigma)).statistic, abs=1e-12)


def test_layer_stats_of_a_gaussian_sample():
    """Reference: theory for an exact N(0, 0.02²) sample: σ ≈ 0.02, KS below its 5% critical value, kurtosis ≈ 0."""
    from core.trained.stats import layer_stats
    w = np.random.default_rng(0).normal(0, 0.02, (64, 32, 4, 4))
    s = layer_stats("W", w)
    assert s.sigma == pytest.approx(0.02, rel=0.01) and s.ks < s.ks_crit_05
    assert abs(s.excess_kurtosis) < 0.1
    assert np.sum(s.density * np.diff(s.edges)) == pytest.approx(1.0)


# ---- purity -------------------------------------------------------------------------------------
def test_core_trained_never_imports_dash_or_plotly():
    """Reference: a fresh interpreter's sys.modules after importing every core.trained module (STYLE.md §1)."""
    code = ("import sys; import core.trained.idx, core.trained.dcgan, core.trained.train, core.trained.classifier, "
            "core.trained.stats, core.trained.demo, core.trained.report, core.inversion; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dash', 'plotly')))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_phase_table_merge_replaces_only_the_rows_run_again():
    """``report phase --merge``: rows of a (net, noise, pattern) run again replace the old ones; the others
    stay, in the table's net, noise and pattern order (reference: the lists written out by hand)."""
    from core.trained.report import merge_phase_rows

    row = lambda net, noise, pattern, r50: {"net": net, "noise": noise, "pattern": pattern, "r50": r50}  # noqa: E731
    old = [row("mnist", "noiseless", "top", 1), row("mnist", "8-bit", "top", 2), row("conv64", "noiseless", "top", 3),
           row("fashion", "noiseless", "top", 4)]
    new = [row("fashion", "8-bit", "top", 5), row("fashion", "noiseless", "top", 6)]
    got = merge_phase_rows(old, new)
    assert [(r["net"], r["noise"], r["r50"]) for r in got] == [
        ("mnist", "noiseless", 1), ("mnist", "8-bit", 2), ("fashion", "noiseless", 6), ("fashion", "8-bit", 5),
        ("conv64", "noiseless", 3)]
    # A row is (net, noise, pattern): one pattern run again replaces that row only, in the patterns' order.
    old = [row("mnist", "noiseless", "random", 1), row("mnist", "noiseless", "top", 2), row("mnist", "noiseless", "border", 3)]
    got = merge_phase_rows(old, [row("mnist", "noiseless", "top", 7)])
    assert [(r["pattern"], r["r50"]) for r in got] == [("random", 1), ("top", 7), ("border", 3)]


def test_phase_table_says_which_columns_continued_their_trials():
    """The table's note names the (net, noise) columns whose rows were run with continued trials and
    says that the others were not (reference: the sentence written out by hand)."""
    from core.trained.report import phase_markdown

    def row(net, noise, **kw):
        return {"net": net, "noise": noise, "pattern": "top", "r50": 0.1, "r50_low": float("nan"),
                "r50_high": float("nan"), "actual_rate": [0.1], "trials": 8, "restarts": 2, "steps": 500, **kw}

    mixed = phase_markdown([row("mnist", "noiseless"), row("fashion", "8-bit", continued=3)])
    assert ("got up to 3 more budgets in fashion 8-bit; the other columns were run before that." in mixed)
    assert "more budgets in" not in phase_markdown([row("mnist", "noiseless")])
    assert "got up to 3 more budgets." in phase_markdown([row("fashion", "8-bit", continued=3)])
    assert ("still converging after those got up to 3 Gauss–Newton rounds of steps ÷ (n0 + 1) iterations"
            in phase_markdown([row("fashion", "8-bit", continued=3)]))
    assert "Gauss–Newton" not in phase_markdown([row("mnist", "noiseless")])
    # Trials still unconverged: per row, with how many lie in a flat valley where the row says.
    un = phase_markdown([row("mnist", "noiseless", diagnosis={"unconverged": 4, "critical": 3}, flat=3),
                         row("fashion", "noiseless", diagnosis={"unconverged": 2}),
                         row("conv64", "noiseless", diagnosis={"recovered": 8}, flat=0)])
    assert ("Trials still unconverged after all that: mnist noiseless top: 4, 3 of them in a flat valley; "
            "fashion noiseless top: 2 (a flat valley:") in un
    assert "still unconverged" not in phase_markdown([row("mnist", "noiseless", diagnosis={"critical": 2}, flat=0)])
