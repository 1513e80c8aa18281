"""Hostile input, fuzzed with a fixed budget: configs, API calls and CLI argument vectors.

Every case must end as a clean result (finite values) or a ConfigError / exit status 2 with one
line naming the field or flag — never another exception (a traceback), NaN written silently, or
memory beyond what the cost model promised. The references are the contracts themselves: the
field names of core.config, the flag table of core.cli, and RSS measured in a subprocess.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.cli import run as cli_run
from core.config import FIELDS, Config, ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Values a hostile user (or a forged request) might send for any field.
junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(-5, 600), max_size=12), st.lists(st.floats(-1e4, 1e4), max_size=6),
    st.sampled_from(["relu", "tanh", "gaussian", "uniform01", "random", "top", "strip", "gaussian:0.1",
                     "quantize:8", "quantize:0", "gaussian:-1", "mnist", "conv", "nope:x", "float64", "cuda",
                     "lbfgs", "gd", "1e-300,0,0", "2,16,1", "0"]),
)
# Plausible small values, so that many fuzzed configs are valid and get computed.
small = {
    "channels": st.lists(st.integers(1, 6), min_size=2, max_size=4).map(tuple),
    "kernel": st.integers(1, 5).map(lambda k: (k,)), "stride": st.integers(1, 4).map(lambda s: (s,)),
    "grid": st.integers(3, 9), "extent": st.floats(0.1, 50), "activation": st.sampled_from(
        ["relu", "leaky_relu", "sigmoid", "tanh", "identity"]),
    "weights": st.sampled_from(["gaussian", "uniform", "rademacher", "uniform01", "bernoulli01"]),
    "weight_std": st.sampled_from(["unit", "paper", "0.5", "30"]), "rate": st.floats(0.01, 1.0),
    "mask": st.sampled_from(["identity", "random", "left", "right", "border", "center", "strip", "gaussian"]),
    "noise": st.sampled_from(["none", "gaussian:0.01", "quantize:4"]), "method": st.sampled_from(
        ["lbfgs", "gauss_newton", "adam", "gd"]), "steps": st.integers(1, 20), "starts": st.integers(1, 5),
    "dtype": st.sampled_from(["float32", "float64"]),
}


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(FIELDS + ("colour",)), junk, max_size=4))
def test_any_mapping_is_a_config_or_a_config_error_naming_its_field(d):
    """Reference: the field list of core.config: a failure names one of its fields (or the unknown key)."""
    try:
        cfg = Config.from_dict(d)
    except ConfigError as e:
        assert str(e).startswith(e.field + ":") and "\n" not in str(e)
        assert e.field in FIELDS or e.field in d or e.field == "config"
        return
    assert Config.from_json(cfg.to_json()) == cfg and Config.from_query(cfg.to_query()) == cfg


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.fixed_dictionaries({}, optional=small))
def test_any_small_valid_config_gives_finite_results_or_a_named_refusal(d):
    """A config that validates is built, its landscape computed and a short descent run: the values
    are finite (or the refusal names a field) and every start gets one diagnosis label."""
    from core.cost import check
    from core.descent import descend, random_starts
    from core.landscape import landscape
    from core.problem import build_problem

    try:
        cfg = Config.from_dict(d)
        check(cfg, "landscape")
        P = build_problem(cfg)
        if P.n0 < 2:
            return
        L = landscape(P)
    except ConfigError as e:
        assert e.field in FIELDS and "\n" not in str(e)
        return
    if not np.isfinite(L.J).all():      # allowed only as a refusal by the CLI (see the CLI fuzz)
        with pytest.raises(ConfigError):
            from core.cli.common import require_finite
            require_finite(L.J)
        return
    dsc = descend(P, random_starts(P.n0, cfg.starts, 0), keep_path=False)
    assert dsc.label.shape == (cfg.starts,)
    assert set(dsc.label) <= {"recovered", "other_fit", "critical", "unconverged", "diverged"}
    ok = dsc.label != "diverged"
    assert np.isfinite(dsc.paths[-1][ok]).all()


flag_values = st.sampled_from(["", "x", "-1", "0", "1", "2", "1e309", "nan", "inf", "3,8,1", "2,-1", "1e-300,0,0",
                               "0.1:1:100000000", "99999999", "gaussian:1e9", "quantize:99", "cuda", "float16",
                               "mnist", "conv", "os:system", "/nonexistent.pt", "random", "top,top", "0.5"])
flags = st.sampled_from(["--grid", "--channels", "--kernel", "--stride", "--rate", "--z-star", "--seed",
                         "--weight-std", "--activation", "--mask", "--noise", "--generator", "--steps", "--starts",
                         "--device", "--dtype", "--extent", "--latent-dim", "--label", "--method", "--lr",
                         "--damping", "--negate", "--tol", "--threads"])
# Values each flag accepts, so that a good share of the fuzzed commands run to the end.
SAFE = {"--grid": "7", "--channels": "3,6,1", "--kernel": "3", "--stride": "2", "--rate": "0.3", "--z-star": "",
        "--seed": "3", "--weight-std": "paper", "--activation": "tanh", "--mask": "border", "--noise": "quantize:6",
        "--generator": "conv", "--steps": "4", "--starts": "2", "--device": "cpu", "--dtype": "float64",
        "--extent": "2", "--latent-dim": "0", "--label": "-1", "--method": "gauss_newton", "--lr": "0.05",
        "--damping": "0", "--negate": "1", "--tol": "0.01", "--threads": "1", "--trials": "2", "--rates": "0.2,0.6",
        "--patterns": "random,left", "--restarts": "2", "--target": "latent", "--width": "2", "--draws": "3",
        "--methods": "lbfgs,gd"}
commands = st.sampled_from(["landscape", "descend", "basins", "solvers", "phase", "invert", "expected"])
EXTRA = {"phase": ["--trials", "--rates", "--patterns", "--restarts"], "invert": ["--trials", "--restarts", "--target"],
         "expected": ["--width", "--draws"], "solvers": ["--methods"], "basins": [], "landscape": [], "descend": []}
# What every run starts from: a small, fast request, which the fuzzed flags then override.
BASE = {"landscape": ["--grid", "5"], "descend": ["--grid", "5", "--starts", "3", "--steps", "5"],
        "basins": ["--grid", "5", "--steps", "3"],
        "phase": ["--rates", "0.5", "--trials", "2", "--restarts", "1", "--steps", "5", "--patterns", "random"],
        "invert": ["--trials", "2", "--restarts", "1", "--steps", "3"],
        "expected": ["--grid", "5", "--draws", "2", "--ray-draws", "10"],
        "solvers": ["--starts", "2", "--steps", "3", "--methods", "lbfgs,adam"]}
# Hostile --out values: empty, a folder, a folder that does not exist ("{tmp}" is a fresh folder).
OUTS = ["", "{tmp}", "{tmp}/", "/nonexistent/dir/r.npz", "{tmp}/no/such/r.npz", "{tmp}/.."]


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(commands, st.lists(st.tuples(flags, flag_values), min_size=1, max_size=3), st.data())
def test_cli_exits_0_with_a_finite_file_or_2_with_one_line(tmp_path_factory, command, pairs, data):
    """Every argument vector ends with status 0 and a file of finite arrays, or status 2 and one line
    on stderr naming a flag (no other exception escapes ``core.cli.run``)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    extra = [(data.draw(st.sampled_from(EXTRA[command])), data.draw(flag_values))] if EXTRA[command] else []
    argv = [command, *BASE[command]]
    for f, v in pairs + extra:
        argv += [f, SAFE[f] if data.draw(st.booleans()) else v]
    tmp = tmp_path_factory.mktemp("cli")
    out = tmp / "r.npz"
    bad_out = data.draw(st.sampled_from([None, None, None, *OUTS]))
    argv += ["--out", str(out) if bad_out is None else bad_out.replace("{tmp}", str(tmp))]
    err = io.StringIO()
    try:
        with redirect_stderr(err), redirect_stdout(io.StringIO()):
            rc = cli_run(argv)
    except SystemExit as e:             # argparse's own one-line errors
        rc = e.code
    msg = err.getvalue().strip()
    event(f"{command}: exit {rc}")
    assert rc in (0, 2), (argv, msg)
    if bad_out is not None:             # refused before any computation (here or by another bad flag)
        assert rc == 2, (argv, msg)
    if rc == 2:
        assert len(msg.splitlines()) == 1 and msg.startswith("error:") and "--" in msg, (argv, msg)
        return
    f = np.load(out)
    for k in f.files:
        a = f[k]
        if a.dtype.kind == "f" and k not in ("J_mc_sem", "r50", "r50_actual", "r50_low", "r50_high", "width",
                                             "rho", "log_slope", "eig_min", "eig_max", "ray_t", "rel_error",
                                             "rel_bias", "rel_bias_cv",   # NaN at z* itself (0 / 0)
                                             "latent_error", "crb_rel", "psnr_hidden", "baseline_psnr_hidden",
                                             "class_baseline_psnr_hidden", "sigma_min", "cond", "z_star",
                                             "end_cond"):   # NaN where no start is still unconverged
            assert np.isfinite(a).all() or k in ("paths", "J_path", "J_end", "grad_norm", "z_hat", "J_hat"), (argv, k)
    json.loads(str(f["config"]))


RSS_CODE = ("import resource, sys; sys.argv = ['core'] + sys.argv[1:]; from core.cli import run; rc = run(sys.argv[1:]);"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")


def _peak_rss(argv, out):
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", RSS_CODE, *argv, "--out", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split()[-1]) * 1024


@pytest.fixture(scope="module")
def baseline_rss(tmp_path_factory):
    """The interpreter, torch and core with a 3 × 3 landscape: what every command pays anyway."""
    return _peak_rss(["landscape", "--grid", "3"], tmp_path_factory.mktemp("rss") / "b")


@pytest.mark.parametrize("argv, defaults, sizes", [
    (["landscape", "--dim", "1", "--channels", "2,8,512,1", "--kernel", "15,3,1", "--stride", "1,3,1", "--grid", "21"],
     None, {}),
    (["landscape", "--channels", "2,64,64,1", "--kernel", "4", "--stride", "2", "--mask", "strip", "--grid", "101"],
     None, {}),
    (["descend", "--starts", "2000", "--steps", "400", "--grid", "11"], None, {}),
    (["phase", "--channels", "2,32,1", "--trials", "200", "--restarts", "2", "--rates", "0.2,0.6", "--patterns",
      "random,top", "--steps", "20"], {"z_star": ()}, dict(trials=200, restarts=2, rates=2, patterns=2)),
    (["invert", "--preset", "paper-fig4", "--channels", "4,32,1", "--trials", "300", "--restarts", "2", "--steps", "20"],
     None, dict(trials=300, restarts=2)),
    (["expected", "--width", "8", "--grid", "9", "--draws", "300", "--ray-draws", "300"], None,
     dict(draws=300, points=81)),
])
def test_memory_stays_within_the_cost_model(tmp_path, baseline_rss, argv, defaults, sizes):
    """Reference: the peak RSS of the command in a fresh process (getrusage of the child), less that
    of a no-op run (the interpreter and torch), against core.cost.estimate for the same request."""
    rss = _peak_rss(argv, tmp_path / "r") - baseline_rss
    from core.cli import build_parser
    from core.cli.expected import widened
    from core.cli.flags import config_from_args
    from core.cost import estimate

    args = build_parser()[0].parse_args(argv + ["--out", "x"])
    cfg = config_from_args(args, defaults)
    if argv[0] == "expected":
        cfg = widened(cfg, args.width)
    c = estimate(cfg, argv[0], **sizes)
    assert rss <= c.bytes, (rss / 2**20, c.bytes / 2**20)
