"""``python -m core``, run in-process through ``core.cli.run``: what the files hold, and how bad
requests are refused.

References: the recovery criterion ‖ẑ − z*‖ ≤ tol‖z*‖ recomputed with numpy from the end points the
file itself holds (``paths``' last row, ``basin_end``), ``budget_curves``' ``final`` (computed from
the error path, not from the diagnosis), and the flag table of the subcommands' ``--help``.
"""
import json

import numpy as np
import pytest

from core.cli import run as cli_run
from core.config import Config

# Fixed-step gradient descent with a short budget: some starts recover, some do not.
SMALL = ["--grid", "5", "--method", "gd", "--steps", "15", "--seed", "1"]


def _run(argv, capsys):
    """Exit status, stdout and stderr of one command."""
    try:
        rc = cli_run(argv)
    except SystemExit as e:      # argparse's own errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out.strip(), err.strip()


def _recovered(ends, z_star, tol):
    """Reference: the recovery criterion of core.diagnosis, written out with numpy."""
    ends = np.asarray(ends, dtype=float)
    return np.linalg.norm(ends - z_star, axis=-1) <= tol * np.linalg.norm(z_star)


def test_descend_writes_one_diagnosis_per_start_consistent_with_its_end_points(tmp_path, capsys, one_torch_thread):
    """Reference: ‖paths[-1] − z*‖ ≤ tol‖z*‖ recomputed from the written path."""
    rc, _, err = _run(["descend", *SMALL, "--starts", "12", "--out", str(tmp_path / "d")], capsys)
    assert rc == 0
    f = np.load(tmp_path / "d.npz")
    n_un = int((f["diagnosis"] == "unconverged").sum())     # a path is its budget: counted on stderr
    assert (f"{n_un} unconverged" in err and "no extra budgets" in err) if n_un else err == ""
    tol = Config.from_json(str(f["config"])).tol
    S = 12
    assert f["diagnosis"].shape == (S,) and f["diagnosis"].dtype.kind == "U"
    assert f["stop"].shape == (S,) and f["stop"].dtype.kind == "U"
    assert f["paths"].shape[1:] == (S, 2)
    rec = _recovered(f["paths"][-1], f["z_star"], tol)
    assert 0 < rec.sum() < S, "the setting should give both outcomes"
    np.testing.assert_array_equal(f["diagnosis"] == "recovered", rec)


@pytest.mark.parametrize("extent", [None, "2", "6"])
def test_a_trained_generator_s_landscape_holds_z_star_and_minus_z_star(tmp_path, capsys, extent):
    """Reference: z* ~ N(0, I_10) drawn by hand from the z seed; the star plane puts z* and −z* at
    u = ±‖z*‖ (3.49 for z seed 0, beyond the default ±3). The written window is max(extent, 1.25‖z*‖)
    on each side: a smaller --extent cannot cut them out, a larger one is kept."""
    import torch

    argv = ["landscape", "--generator", "mnist", "--grid", "5", "--out", str(tmp_path / "m")]
    rc, _, _ = _run(argv + (["--extent", extent] if extent else []), capsys)
    assert rc == 0
    f = np.load(tmp_path / "m.npz")
    zs = torch.randn(10, generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy()
    np.testing.assert_allclose(f["z_star"], zs)
    assert Config.from_json(str(f["config"])).extent == float(extent or 3)
    half = max(float(extent or 3), 1.25 * np.linalg.norm(zs))
    np.testing.assert_allclose([f["u"][0], f["u"][-1], f["v"][0], f["v"][-1]], [-half, half, -half, half])
    u_star = float(np.dot(zs, f["d1"]))                 # z* on the plane: (‖z*‖, 0)
    assert u_star == pytest.approx(np.linalg.norm(zs)) and u_star < half


def test_basins_writes_the_map_and_the_same_labels_flattened_in_row_order(tmp_path, capsys, one_torch_thread):
    """Reference: ‖basin_end − z*‖ ≤ tol‖z*‖ per grid point, and numpy's row-order ravel. Three GD
    steps (and three more budgets for the starts still converging) leave some unconverged: the CLI
    counts them on stderr."""
    rc, _, err = _run(["basins", "--grid", "5", "--method", "gd", "--steps", "3", "--seed", "1",
                       "--out", str(tmp_path / "b")], capsys)
    assert rc == 0
    f = np.load(tmp_path / "b.npz")
    tol = Config.from_json(str(f["config"])).tol
    M, N = f["basin_v"].size, f["basin_u"].size
    assert f["basin_diagnosis"].shape == (M, N) and f["diagnosis"].shape == (M * N,)
    assert f["diagnosis"].dtype.kind == "U" and f["J_end"].shape == (M * N,)
    for i in range(M):
        for j in range(N):
            assert f["diagnosis"][i * N + j] == f["basin_diagnosis"][i, j]
            assert f["J_end"][i * N + j] == f["basin_J_end"][i, j]
    rec = _recovered(f["basin_end"], f["z_star"], tol)
    assert 0 < rec.sum() < M * N, "the setting should give both outcomes"
    np.testing.assert_array_equal(f["basin_diagnosis"] == "recovered", rec)
    assert float(f["success_rate"]) == pytest.approx(rec.mean())
    n_un = int((f["diagnosis"] == "unconverged").sum())
    assert n_un > 0 and err.startswith("warning: ") and f"{n_un} unconverged" in err


def test_solvers_prints_and_writes_the_final_fraction_of_each_method(tmp_path, capsys, one_torch_thread):
    """Reference: budget_curves' ``final`` (from the latent error path), against the written
    diagnosis (K, S) and against the printed summary."""
    methods = ["gd", "lbfgs", "adam"]
    rc, out, err = _run(["solvers", *SMALL, "--starts", "12", "--methods", ",".join(methods),
                         "--out", str(tmp_path / "s")], capsys)
    assert rc == 0, err
    f = np.load(tmp_path / "s.npz")
    assert list(f["methods"]) == methods
    assert f["diagnosis"].shape == (3, 12) and f["diagnosis"].dtype.kind == "U"
    np.testing.assert_allclose((f["diagnosis"] == "recovered").mean(1), f["final"])
    printed = out.split("fraction recovered at the end: ")[1].split(";")[0]
    assert printed == ", ".join(f"{m} {x:.2f}" for m, x in zip(methods, f["final"]))


# Each bad request, the flags its one line must name, and the start of what it must say.
BAD = [
    (["invert", "--trials", "10000", "--restarts", "64", "--steps", "5000"],
     ["--trials", "--restarts", "--steps"], "error: --trials: this invert needs about"),
    (["phase", "--trials", "2000", "--restarts", "10", "--rates", "0.1:1:12"],
     ["--trials", "--restarts", "--steps", "--rates", "--patterns"], "error: --trials: this phase needs about"),
    (["phase", "--trials", "2000", "--restarts", "10", "--rates", "0.1:1:64"], ["--trials"], "error: --trials:"),
    (["descend", "--starts", "10000", "--steps", "5000"], ["--steps", "--starts"], "error: --steps: this descend"),
    (["basins", "--preset", "authors-code", "--grid", "101", "--steps", "5000"], ["--grid", "--steps"],
     "error: --grid: this basins"),
    (["landscape", "--channels", "2,512,512,1", "--grid", "1001"], ["--grid"], "error: --grid: this landscape"),
    (["solvers", "--starts", "10000", "--steps", "5000"], ["--steps", "--starts"], "error: --steps: this descend"),
    (["solvers", "--grid", "5", "--methods", "lbfgs,adam,lbfgs"], ["--methods"], "error: --methods: each solver at most once"),
    (["expected", "--grid", "1000", "--draws", "4096"], ["--draws", "--grid"], "error: --draws: this expected"),
    (["expected", "--grid", "1001", "--draws", "2"], ["--grid"], "error: --grid: must be an integer in [2, 1000]"),
    (["expected", "--width", "64"], ["--width"], "error: --width: must be in [1, 32] for channels 2,16,1"),
    (["expected", "--width", "32", "--grid", "5", "--draws", "2", "--ray-draws", "2000"], ["--ray-draws"],
     "error: --ray-draws: this expected needs about"),
    (["landscape", "--grid", "5", "--out", "/nonexistent/dir/x.npz"], ["--out"], "error: --out: cannot write"),
    (["landscape", "--grid", "5", "--out", ""], ["--out"], "error: --out: needs a file name"),
    (["landscape", "--grid", "5", "--out", "{tmp}"], ["--out"], "error: --out: '{tmp}' is a folder"),
]


@pytest.mark.parametrize("argv, flags, start", BAD, ids=[" ".join(b[0][:3]) for b in BAD])
def test_bad_requests_exit_2_at_once_with_one_line_naming_the_flags(tmp_path, capsys, argv, flags, start):
    """Reference: the flag table of the subcommand (its --help); nothing is written."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "r")]
    rc, out, err = _run(argv, capsys)
    assert rc == 2 and out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(start.replace("{tmp}", str(tmp_path))), err
    for f in flags:
        assert f in err, (f, err)
    assert not (tmp_path / "r.npz").exists()
    help_text = _help(argv[0], capsys)
    for f in flags:
        assert f in help_text, f


def _help(command, capsys):
    with pytest.raises(SystemExit):
        cli_run([command, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("exc, start", [
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory: you tried to "
                  "allocate 123456789 bytes.\nmore"), "error: out of memory; lower --grid"),
    (MemoryError(), "error: out of memory; lower --grid"),
    (RuntimeError("a kernel failed\nline two"), "error: the computation failed (a kernel failed); lower --grid"),
    (OSError(5, "Input/output error"), "error: cannot read a file"),
])
def test_errors_of_the_computation_are_one_line(tmp_path, capsys, monkeypatch, exc, start):
    """Reference: the exception raised by hand inside the subcommand."""
    import core.cli.landscape

    def boom(args):
        raise exc
    monkeypatch.setattr(core.cli.landscape, "run", boom)
    rc, _, err = _run(["landscape", "--out", str(tmp_path / "r")], capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith(start), err


def test_a_write_error_names_out(tmp_path, capsys, monkeypatch):
    """Reference: PermissionError raised by hand where the file is written."""
    import core.io

    def deny(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(core.io, "write_npz", deny)
    rc, _, err = _run(["landscape", "--grid", "3", "--out", str(tmp_path / "r")], capsys)
    assert rc == 2 and err.startswith("error: --out: cannot write") and "Permission denied" in err, err


def test_the_readme_commands_are_within_the_work_bound():
    """Reference: core.cost.estimate of the README's commands against core.cli.common.CLI_MACS
    (checked without running them; the bound was set from their measured times)."""
    from core.cli import build_parser
    from core.cli.common import CLI_MACS
    from core.cli.flags import config_from_args
    from core.cost import estimate

    parser = build_parser()[0]

    def cfg_of(argv, defaults=None):
        return config_from_args(parser.parse_args(argv + ["--out", "x"]), defaults)

    assert estimate(cfg_of(["landscape", "--preset", "paper-fig4", "--grid", "1001"]), "landscape").macs \
        <= CLI_MACS["landscape"]
    assert estimate(cfg_of(["descend", "--preset", "paper-fig4", "--starts", "200", "--steps", "500"]),
                    "descend").macs <= CLI_MACS["descend"]
    assert estimate(cfg_of(["basins", "--preset", "authors-code", "--grid", "61", "--steps", "300"]), "basins",
                    grid=61).macs <= CLI_MACS["basins"]
    assert estimate(cfg_of(["phase", "--preset", "paper-fig4"], {"z_star": ()}), "phase", trials=50, restarts=4,
                    rates=12, patterns=4).macs <= CLI_MACS["phase"]
    assert estimate(cfg_of(["invert", "--generator", "mnist", "--mask", "top"]), "invert", trials=100,
                    restarts=4).macs <= CLI_MACS["invert"]
    assert estimate(cfg_of(["expected", "--preset", "paper-fig4", "--grid", "21"]), "expected", draws=200,
                    points=441).macs <= CLI_MACS["expected"]
    json.dumps(CLI_MACS)


class _Accepted(BaseException):
    """Raised where a command would start its computation: every check before it passed."""


def _readme_commands():
    """Every ``python -m core SUBCOMMAND …`` of the README: its code blocks' lines and its inline
    spans (which may wrap), split at ``&&``."""
    import re
    import shlex
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    spans = re.findall(r"`(python -m core [^`]+)`", text) + \
        re.findall(r"^(python -m core .+)$", text, flags=re.M)
    out = []
    for span in spans:
        for part in span.split("&&"):
            argv = shlex.split(" ".join(part.split()))
            if argv[:3] == ["python", "-m", "core"] and len(argv) > 3 and argv[3].isalpha() and argv[3].islower():
                out.append(argv[3:])
    return out


def test_every_readme_command_passes_its_checks(monkeypatch, tmp_path, capsys):
    """Every README command, run through the CLI up to the point where its computation would start
    (there a sentinel stops it): none may be refused — the phase example on MNIST once was, by the
    work bound. Reference: the README's own text; a command whose generator another command
    writes first (``own.pt``) is left out."""
    import core.cli.basins
    import core.cli.descend
    import core.cli.invert
    import core.cli.landscape
    import core.cli.phase
    import core.cli.solvers
    import core.expected

    def stop(*a, **k):
        raise _Accepted

    for mod in (core.cli.landscape, core.cli.descend, core.cli.basins, core.cli.solvers):
        monkeypatch.setattr(mod, "build_problem", stop)
    monkeypatch.setattr(core.cli.invert, "run_inversion", stop)
    monkeypatch.setattr(core.cli.phase, "phase_transition", stop)
    monkeypatch.setattr(core.expected, "expected_report", stop)
    commands = [c for c in _readme_commands() if "own.pt" not in c]
    assert len(commands) >= 14 and {c[0] for c in commands} >= {"landscape", "descend", "basins", "solvers", "phase",
                                                               "invert", "expected"}
    for argv in commands:
        argv = [a if not a.endswith(".npz") else str(tmp_path / "f.npz") for a in argv]
        if "--out" not in argv:
            argv += ["--out", str(tmp_path / "f.npz")]
        try:
            rc = cli_run(argv)
        except _Accepted:
            continue
        except SystemExit as e:          # argparse's own errors
            rc = e.code
        pytest.fail(f"{' '.join(argv)} exited {rc}: {capsys.readouterr().err.strip()}")


def test_phase_names_its_failed_trials_with_the_flags_of_their_landscapes(tmp_path, capsys, one_torch_thread):
    """Each named trial failed in the written file, highest rate first, and the printed flags open its
    landscape: the z* and mask there are the trial's. Reference: the trial's z* seed written out by hand
    (SeedSequence([z_seed, 0x5A53_5452])) and its mask from make_operator with the trial's mask seed."""
    import re

    import torch

    from core.config import from_preset
    from core.masks import make_operator
    from core.problem import build_problem

    rc, out, err = _run(["phase", "--preset", "paper-fig4", "--patterns", "random,top", "--rates", "0.01,0.08",
                         "--trials", "10", "--out", str(tmp_path / "p")], capsys)
    assert rc == 0, err
    f = np.load(tmp_path / "p.npz")
    named = re.findall(r"(\w+) r ([\d.]+) #(\d+) (\w+) \(([^)]*)\)", out.split("failed trials, highest rate first: ")[1])
    fails = int((~f["success"]).sum())
    assert fails > 0 and len(named) == min(3, fails)
    rates = [float(r) for _, r, _, _, _ in named]
    assert rates == sorted(rates, reverse=True)
    z_seeds = [int(s) & 0x7FFFFFFF for s in np.random.SeedSequence([0, 0x5A53_5452]).generate_state(10)]
    for pattern, rate, t, label, flags in named:
        p, r, t = list(f["patterns"]).index(pattern), list(f["rates"]).index(float(rate)), int(t)
        assert not f["success"][p, r, t] and f["diagnosis"][p, r, t] == label
        kv = dict(zip(flags.split()[::2], flags.split()[1::2]))
        assert kv["--z-seed"] == str(z_seeds[t]) and kv["--mask"] == pattern
        if pattern == "random":       # the trial's own mask seed, by hand: SeedSequence(mask_seed)
            assert kv["--mask-seed"] == str(int(np.random.SeedSequence(0).generate_state(10)[t]) & 0x7FFFFFFF)
        cfg = from_preset("paper-fig4", z_star=(), mask=pattern, rate=float(kv["--rate"]), z_seed=int(kv["--z-seed"]),
                          mask_seed=int(kv.get("--mask-seed", 0)), dtype="float64")
        P = build_problem(cfg)
        want = torch.randn(2, generator=torch.Generator().manual_seed(z_seeds[t]), dtype=torch.float64)
        assert torch.equal(P.z_star, want)
        assert torch.equal(P.op.mask, make_operator(pattern, P.op.mask.shape, rate=float(rate),
                                                    seed=int(kv.get("--mask-seed", 0))).mask)
