"""Config: round trips, presets, reproducibility, validation and import hygiene."""
import json
import math
import subprocess
import sys

import pytest
import torch

from core.config import PRESETS, Config, ConfigError, from_preset
from core.problem import build_problem


@pytest.mark.parametrize("name", list(PRESETS))
def test_json_and_query_round_trip(name):
    """A config survives JSON and a URL query string unchanged (field-by-field equality)."""
    cfg = from_preset(name, weight_std="0.7", z_star=(0.25, -1.5), lr=0.05)
    assert Config.from_json(cfg.to_json()) == cfg
    assert Config.from_query(cfg.to_query()) == cfg
    assert Config.from_query("?" + cfg.to_query(only_changed=False)) == cfg
    assert json.loads(cfg.to_json())["stride"] == list(cfg.stride)


def test_presets_match_the_paper():
    """Preset values written out from NOTES.md (Fig. 4 and the authors' script)."""
    f4 = from_preset("paper-fig4")
    assert (f4.channels, f4.per_layer("kernel"), f4.per_layer("stride"), f4.weight_std, f4.rate, f4.mask) == \
        ((2, 16, 1), (5, 5), (3, 3), "unit", 0.5, "random")
    assert f4.output_shape() == (1, 17, 17)
    ac = from_preset("authors-code")
    assert ac.channels == (2, 4, 8, 16, 1) and ac.output_shape() == (1, 31, 31) and ac.mask == "strip"
    assert from_preset("mode-collapse").weights == "uniform01"


@pytest.mark.parametrize("bad, field", [
    (dict(channels=(2, -3, 1)), "channels"),
    (dict(kernel=(16,)), "kernel"),
    (dict(stride=(0,)), "stride"),
    (dict(rate=0.0), "rate"),
    (dict(rate=1.5), "rate"),
    (dict(z_star=(float("nan"), 1.0)), "z_star"),
    (dict(z_star=(1.0, 2.0, 3.0)), "z_star"),
    (dict(activation="softplus"), "activation"),
    (dict(weights="cauchy"), "weights"),
    (dict(weight_std="big"), "weight_std"),
    (dict(grid=100000), "grid"),
    (dict(starts=0), "starts"),
    (dict(steps=10**7), "steps"),
    (dict(dim=3), "dim"),
    (dict(padding=(5,)), "padding"),
    (dict(channels=(2, 512, 512, 512, 1), kernel=(15,), stride=(15,)), "channels"),
    (dict(grid=10.5), "grid"),
    (dict(dim=1, mask="top"), "mask"),
])
def test_bad_values_name_their_field(bad, field):
    """Each bad value raises ConfigError whose message starts with the field name."""
    with pytest.raises(ConfigError) as e:
        Config.from_dict(bad)
    assert e.value.field == field
    assert str(e.value).startswith(field + ":")


def test_unknown_key_and_wrong_type():
    with pytest.raises(ConfigError, match="^colour: unknown key"):
        Config.from_dict({"colour": "red"})
    with pytest.raises(ConfigError, match="^grid: expected integers|^grid: expected an integer"):
        Config.from_query("grid=abc")
    with pytest.raises(ConfigError, match="^preset"):
        from_preset("nope")


def test_same_seed_same_numbers():
    """Two builds from one config give identical weights, mask, z* and J; another seed differs."""
    cfg = Config(weight_seed=3, mask_seed=4, z_seed=5)
    a, b = build_problem(cfg), build_problem(cfg)
    for Wa, Wb in zip(a.G.weights, b.G.weights):
        assert torch.equal(Wa, Wb)
    assert torch.equal(a.op.mask, b.op.mask) and torch.equal(a.z_star, b.z_star)
    z = torch.randn(20, 2)
    assert torch.equal(a.evaluator.J(z), b.evaluator.J(z))
    c = build_problem(cfg.replace(weight_seed=4))
    assert not torch.equal(a.G.weights[0], c.G.weights[0])


def test_weight_laws_have_the_stated_moments():
    """Sample moments of each law against its closed form (mean, std), on a wide layer."""
    base = dict(channels=(64, 64, 1), kernel=(5,), stride=(3,))
    for law, mean, std in [("gaussian", 0, 1), ("uniform", 0, 1), ("rademacher", 0, 1),
                           ("uniform01", 0.5, math.sqrt(1 / 12)), ("bernoulli01", 0.5, 0.5)]:
        W = build_problem(Config(**base, weights=law)).G.weights[0].double()
        assert abs(float(W.mean()) - mean) < 0.02 and abs(float(W.std()) - std) < 0.02, law
    W = build_problem(Config(**base, weight_std="paper")).G.weights[0].double()
    assert float(W.std()) == pytest.approx(1 / math.sqrt(64 * 25), rel=0.02)


def test_importing_core_loads_neither_dash_nor_plotly():
    """A fresh interpreter imports every core module without pulling in dash or plotly."""
    code = ("import sys, core, core.cli, core.landscape, core.descent, core.critical, core.collapse, core.theory;"
            "bad=[m for m in sys.modules if m.split('.')[0] in ('dash','plotly')]; print(bad); sys.exit(bool(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(
        __import__("pathlib").Path(__file__).resolve().parents[1]))
    assert r.returncode == 0, r.stdout + r.stderr
