"""The generic generator path (core.generators.generic, core.generators.user) against independent references.

References: (1) a per-point loop that calls the generator on one code at a time and takes
J, ∇J and the Jacobian of A G(z) with ``torch.autograd.functional.jacobian`` (reverse mode, no
batching, no forward-mode duals); (2) central finite differences of A G(z) in float64; (3) the
hand-written Engine of the random family, where it exists.
"""
import math
import pathlib
import subprocess
import sys
import uuid

import numpy as np
import pytest
import torch

from core.config import Config, ConfigError
from core.descent import descend, random_starts
from core.diagnosis import LABELS, diagnose
from core.generators import build_generator
from core.generators.conv_family import ConvGenerator
from core.generators.engine import Engine
from core.generators.generic import GenericEvaluator
from core.generators.protocol import ModuleGenerator
from core.masks import make_operator
from core.problem import build_problem
from core.solvers import solve

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLE = "examples.own_generator:build"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def loop_reference(G, op, z, target, weight, labels=None):
    """J, ∇J, r and ∂r/∂z of ``r = w ⊙ (A G(z) − t)``, one point at a time (reverse-mode jacobian)."""
    Js, gs, rs, Jacs = [], [], [], []
    for i in range(z.shape[0]):
        lab = None if labels is None else labels[i:i + 1]

        def AG(zi):
            x = G(zi[None], lab) if lab is not None else G(zi[None])
            return op.A(x)[0]

        zi = z[i].detach()
        x = AG(zi)
        r = weight[i] * (x - target[i])
        jac = weight[i][:, None] * torch.autograd.functional.jacobian(AG, zi)     # (m, n0)
        Js.append(0.5 * (r * r).sum())
        gs.append(jac.T @ r)
        rs.append(r)
        Jacs.append(jac)
    return torch.stack(Js), torch.stack(gs), torch.stack(rs), torch.stack(Jacs)


def fd_jacobian(f, z, h=1e-6):
    """Central differences of f: (n0,) → (m,) at z: (m, n0), float64."""
    cols = []
    for k in range(z.numel()):
        e = torch.zeros_like(z)
        e[k] = h
        cols.append((f(z + e) - f(z - e)) / (2 * h))
    return torch.stack(cols, 1)


def rows_of(op, B, seed):
    """Per-row targets (B, m) and 0/1 weights (B, m), seeded."""
    g = _gen(seed)
    target = 0.3 * torch.randn(B, op.m, generator=g, dtype=torch.float64)
    weight = (torch.rand(B, op.m, generator=g, dtype=torch.float64) < 0.6).double()
    return target, weight


def example_generator(spec=EXAMPLE):
    return build_generator(Config(generator=spec), dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# the generic evaluator against the per-point loop, finite differences and the Engine
# ---------------------------------------------------------------------------------------------
def test_generic_on_example_matches_per_point_loop_and_finite_differences():
    """Generic J, ∇J, r, ∂r/∂z on the example module == a per-point autograd loop (with per-row
    target and weight); ∂r/∂z == central finite differences of w ⊙ A G(z) (float64, h = 1e-6)."""
    G = example_generator()
    op = make_operator("random", G.output_shape, rate=0.5, seed=3, dtype=torch.float64)
    z_star = torch.randn(G.latent_dim, generator=_gen(0), dtype=torch.float64)
    ev = GenericEvaluator(G, op, op.A(G(z_star[None]))[0])
    z = torch.randn(5, G.latent_dim, generator=_gen(1), dtype=torch.float64)
    target, weight = rows_of(op, 5, 2)
    J_ref, g_ref, r_ref, jac_ref = loop_reference(G, op, z, target, weight)

    J, g = ev.J_and_grad(z, target=target, weight=weight)
    r, jac = ev.residual_and_jacobian(z, target=target, weight=weight)
    torch.testing.assert_close(J, J_ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(ev.J_many(z, target=target, weight=weight), J_ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(r, r_ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(jac, jac_ref, rtol=1e-10, atol=1e-12)
    for i in range(2):
        fd = fd_jacobian(lambda zi: weight[i] * op.A(G(zi[None]))[0], z[i])
        torch.testing.assert_close(jac[i], fd, rtol=1e-6, atol=1e-8)
        # ∇J by finite differences of J itself
        fJ = lambda zi: ev.J_many(zi[None], target=target[i:i + 1], weight=weight[i:i + 1])  # noqa: E731
        torch.testing.assert_close(g[i], fd_jacobian(fJ, z[i])[0], rtol=1e-6, atol=1e-8)


def test_generic_chunks_give_the_same_numbers():
    """Small chunks (3 rows) == one chunk: chunking changes nothing but memory."""
    G = example_generator()
    op = make_operator("random", G.output_shape, rate=0.5, seed=3, dtype=torch.float64)
    ev = GenericEvaluator(G, op, torch.zeros(op.m, dtype=torch.float64))
    z = torch.randn(11, G.latent_dim, generator=_gen(4), dtype=torch.float64)
    target, weight = rows_of(op, 11, 5)
    whole = (ev.J_and_grad(z, target=target, weight=weight), ev.residual_and_jacobian(z, target=target, weight=weight))
    ev.chunk = 3
    parts = (ev.J_and_grad(z, target=target, weight=weight), ev.residual_and_jacobian(z, target=target, weight=weight))
    for a, b in zip(whole, parts):
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(ev.J_many(z, chunk=4, target=target, weight=weight), whole[0][0], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("net", [
    dict(channels=(2, 16, 1), kernel=(5,), stride=(3,), activation="relu"),
    dict(channels=(3, 6, 4, 1), kernel=(3,), stride=(2,), padding=(0, 1, 0), activation="tanh"),
    dict(dim=1, channels=(4, 5, 2), kernel=(4,), stride=(2,), activation="leaky_relu"),
])
def test_generic_on_random_family_agrees_with_engine(net):
    """On the random family the generic (autograd) path == the hand-written Engine == the per-point
    loop: J, ∇J and residual_and_jacobian, with per-row targets and weights."""
    cfg = Config(**net, mask="random", rate=0.5, weight_std="paper")
    G = ConvGenerator(cfg, dtype=torch.float64)
    op = make_operator("random", G.output_shape, rate=0.5, seed=1, dtype=torch.float64)
    y = op.A(G(torch.randn(1, cfg.n0, generator=_gen(0), dtype=torch.float64)))[0]
    eng, gen = Engine(G, op, y), GenericEvaluator(G, op, y)
    z = torch.randn(6, cfg.n0, generator=_gen(7), dtype=torch.float64)
    target, weight = rows_of(op, 6, 8)
    J_ref, g_ref, r_ref, jac_ref = loop_reference(G, op, z, target, weight)
    for ev in (eng, gen):
        J, g = ev.J_and_grad(z, target=target, weight=weight)
        r, jac = ev.residual_and_jacobian(z, target=target, weight=weight)
        torch.testing.assert_close(J, J_ref, rtol=1e-11, atol=1e-13)
        torch.testing.assert_close(ev.J_many(z, target=target, weight=weight), J_ref, rtol=1e-11, atol=1e-13)
        torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(r, r_ref, rtol=1e-11, atol=1e-13)
        torch.testing.assert_close(jac, jac_ref, rtol=1e-10, atol=1e-12)
    # no target/weight: the evaluator's own y
    torch.testing.assert_close(gen.J_and_grad(z)[1], eng.J_and_grad(z)[1], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gen.residual_and_jacobian(z)[1], eng.residual_and_jacobian(z)[1], rtol=1e-10, atol=1e-12)


def test_generic_on_shipped_conditional_dcgan_with_labels():
    """The shipped conditional DCGAN through the generic path with one label per row == the per-point
    loop on ``G(z, c)`` with that row's class (and different labels give different J)."""
    G = build_generator(Config(generator="mnist"), dtype=torch.float64)
    assert G.conditional and G.latent_dim == 10
    op = make_operator("random", G.output_shape, rate=0.3, seed=0, dtype=torch.float64)
    ev = GenericEvaluator(G, op, torch.zeros(op.m, dtype=torch.float64))
    z = torch.randn(4, 10, generator=_gen(3), dtype=torch.float64)
    labels = torch.tensor([0, 7, 3, 7])
    target, weight = rows_of(op, 4, 9)
    J_ref, g_ref, r_ref, jac_ref = loop_reference(G, op, z, target, weight, labels)
    J, g = ev.J_and_grad(z, target=target, weight=weight, labels=labels)
    r, jac = ev.residual_and_jacobian(z, target=target, weight=weight, labels=labels)
    torch.testing.assert_close(J, J_ref, rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(ev.J_many(z, target=target, weight=weight, labels=labels), J_ref, rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(r, r_ref, rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(jac, jac_ref, rtol=1e-10, atol=1e-12)
    other = ev.J_many(z, target=target, weight=weight, labels=torch.tensor([1, 2, 4, 5]))
    assert bool((other != J).all())


@pytest.mark.parametrize("name", ["mnist", "fashion-info"])
def test_inference_generator_is_the_generator(name):
    """The rewritten module that inversions use (batch norm folded, first layer a product, channels-last)
    gives the eval-mode Generator's outputs and input gradients, every class, in float64."""
    import copy

    from core.trained.dcgan import InferenceGenerator, shipped_generator

    G = copy.deepcopy(shipped_generator(name)).double().eval()
    H = InferenceGenerator.from_generator(G)
    z = torch.randn(30, 10, generator=_gen(3), dtype=torch.float64, requires_grad=True)
    labels = torch.arange(30) % 10
    x_ref = G(z, labels)
    x = H(z, labels)
    torch.testing.assert_close(x, x_ref, rtol=1e-12, atol=1e-13)
    w = torch.randn_like(x_ref)
    (g_ref,) = torch.autograd.grad((x_ref * w).sum(), z)
    (g,) = torch.autograd.grad((x * w).sum(), z)
    torch.testing.assert_close(g, g_ref, rtol=1e-11, atol=1e-12)
    # the shipped Generator was left as it is
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in G.net)


def test_fixed_class_wrapper_equals_shipped_generator_with_label():
    """``examples.conditional:digit_seven`` (a user wrapper with the class fixed) gives the numbers of
    ``--generator mnist --label 7`` (the project's own class fixing)."""
    P_user = build_problem(Config(generator="examples.conditional:digit_seven", z_seed=4), dtype="float64")
    P_ship = build_problem(Config(generator="mnist", label=7, z_seed=4), dtype="float64")
    # to rounding: a user module runs channels-last, so its sums go in another order
    torch.testing.assert_close(P_user.x_star, P_ship.x_star, rtol=1e-12, atol=1e-15)
    z = torch.randn(3, 10, generator=_gen(5), dtype=torch.float64)
    torch.testing.assert_close(P_user.evaluator.J_and_grad(z)[1], P_ship.evaluator.J_and_grad(z)[1], rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# SPECs: TorchScript file == module:callable; bad SPECs are one-line ConfigErrors
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    """The example exported by examples/export_torchscript.py (run as a user would run it)."""
    path = tmp_path_factory.mktemp("ts") / "own_generator.pt"
    subprocess.run([sys.executable, str(ROOT / "examples" / "export_torchscript.py"), "--out", str(path)],
                   check=True, cwd=ROOT, capture_output=True)
    return path


def test_torchscript_file_and_module_callable_give_the_same_numbers(scripted):
    """The exported TorchScript file and ``examples.own_generator:build`` give the same G(z*), y, J,
    ∇J and Jacobian (and the file keeps ``latent_dim`` and ``output_range``)."""
    P_mod = build_problem(Config(generator=EXAMPLE, z_seed=2), dtype="float64")
    P_ts = build_problem(Config(generator=str(scripted), z_seed=2), dtype="float64")
    assert P_ts.n0 == P_mod.n0 == 8 and P_ts.G.output_range == (-1.0, 1.0)
    torch.testing.assert_close(P_ts.x_star, P_mod.x_star, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(P_ts.y, P_mod.y, rtol=1e-13, atol=1e-14)
    z = torch.randn(4, 8, generator=_gen(6), dtype=torch.float64)
    for a, b in zip(P_ts.evaluator.J_and_grad(z) + P_ts.evaluator.residual_and_jacobian(z),
                    P_mod.evaluator.J_and_grad(z) + P_mod.evaluator.residual_and_jacobian(z)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_float32_problem_matches_float64_problem():
    """The same SPEC in float32 and float64: the same draws (y differs only by rounding)."""
    P32 = build_problem(Config(generator=EXAMPLE), dtype="float32")
    P64 = build_problem(Config(generator=EXAMPLE), dtype="float64")
    assert P32.dtype == torch.float32 and P64.dtype == torch.float64
    torch.testing.assert_close(P32.y.double(), P64.y, rtol=1e-5, atol=1e-6)


def _module_file(tmp_path, monkeypatch, body: str) -> str:
    """Write ``body`` as a fresh module in tmp_path (importable from the cwd, as the loader promises)."""
    name = f"user_gen_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text("import torch\nfrom torch import nn\n" + body)
    monkeypatch.chdir(tmp_path)
    return name


BAD_MODULES = {
    "needs arguments": ("def build(width):\n    return nn.Linear(2, width)\n", "no arguments"),
    "not a module": ("def build():\n    return lambda z: z\n", "must return a torch.nn.Module"),
    "raises": ("def build():\n    raise RuntimeError('boom')\n", "boom"),
    "import error": ("raise ImportError('missing dependency xyz')\ndef build():\n    pass\n", "cannot import"),
    "tuple output": ("class M(nn.Module):\n    latent_dim = 3\n    def forward(self, z):\n        return z, z\n"
                     "def build():\n    return M()\n", "must map z"),
    "batch lost": ("class M(nn.Module):\n    latent_dim = 3\n    def forward(self, z):\n        return z.sum(0)\n"
                   "def build():\n    return M()\n", "must map z"),
    "integer output": ("class M(nn.Module):\n    latent_dim = 3\n    def forward(self, z):\n"
                       "        return (z > 0).long().reshape(-1, 1, 3)\ndef build():\n    return M()\n", "floating"),
    "NaN output": ("class M(nn.Module):\n    latent_dim = 3\n    def forward(self, z):\n        return z / 0 * 0\n"
                   "def build():\n    return M()\n", "not finite"),
    "forward fails": ("class M(nn.Module):\n    latent_dim = 3\n    def __init__(self):\n        super().__init__()\n"
                      "        self.l = nn.Linear(5, 4)\n    def forward(self, z):\n        return self.l(z)\n"
                      "def build():\n    return M()\n", "failed"),
    "too many dims": ("class M(nn.Module):\n    latent_dim = 2\n    def forward(self, z):\n"
                      "        return z.reshape(-1, 1, 1, 1, 2)\ndef build():\n    return M()\n", "not supported"),
}


def _assert_one_line(err, field="generator", *words):
    msg = str(err.value)
    assert err.value.field == field, msg
    assert msg.startswith(field + ": ") and "\n" not in msg and len(msg) < 600, msg
    for w in words:
        assert w in msg, msg


@pytest.mark.parametrize("case", sorted(BAD_MODULES))
def test_bad_module_specs_are_one_line_config_errors(case, tmp_path, monkeypatch):
    """Each broken user module → ConfigError naming ``generator`` in one line that says what is wrong."""
    body, words = BAD_MODULES[case]
    name = _module_file(tmp_path, monkeypatch, body)
    with pytest.raises(ConfigError) as err:
        build_problem(Config(generator=f"{name}:build"))
    _assert_one_line(err, "generator", words)


def test_module_without_latent_dim_needs_latent_dim(tmp_path, monkeypatch):
    """No ``latent_dim`` attribute → ConfigError naming ``latent_dim``; giving it makes the module load;
    a contradicting value is refused."""
    name = _module_file(tmp_path, monkeypatch, "def build():\n    return nn.Sequential(nn.Linear(3, 12), nn.Softplus())\n")
    with pytest.raises(ConfigError) as err:
        build_problem(Config(generator=f"{name}:build"))
    _assert_one_line(err, "latent_dim", "latent")
    P = build_problem(Config(generator=f"{name}:build", latent_dim=3))
    assert P.n0 == 3 and P.G.output_shape == (1, 12)
    with pytest.raises(ConfigError) as err:
        build_problem(Config(generator=EXAMPLE, latent_dim=5))
    _assert_one_line(err, "latent_dim", "8", "5")


def test_missing_module_and_missing_callable(tmp_path, monkeypatch):
    """A module that does not exist, and an attribute that is not there or not callable."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        build_problem(Config(generator="no_such_module_qq:build"))
    _assert_one_line(err, "generator", "cannot import")
    for spec in ("examples.own_generator:nothing_here", "examples.own_generator:__doc__"):
        with pytest.raises(ConfigError) as err:
            build_generator(Config(generator=spec))
        _assert_one_line(err, "generator", "no callable")


def test_bad_file_specs_are_one_line_config_errors(tmp_path, scripted):
    """A missing file, a text file, a truncated and a corrupted TorchScript file, a pickled module
    (never unpickled: weights_only=True) and a state dict of another architecture."""
    text = tmp_path / "notes.txt"
    text.write_text("this is not a network\n")
    data = scripted.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    corrupted = tmp_path / "corrupted.pt"
    corrupted.write_bytes(data[:200] + bytes(len(data) - 400) + data[-200:])
    pickled = tmp_path / "pickled.pt"
    torch.save(torch.nn.Linear(2, 3), pickled)
    other = tmp_path / "other_state.pt"
    torch.save(torch.nn.Linear(2, 3).state_dict(), other)
    cases = {str(tmp_path / "missing.pt"): "existing file", str(text): "not a zip", str(truncated): "",
             str(corrupted): "", str(pickled): "", str(other): "state dict"}
    for spec, word in cases.items():
        with pytest.raises(ConfigError) as err:
            build_generator(Config(generator=spec))
        _assert_one_line(err, "generator", word)
        assert spec in str(err.value) or repr(spec) in str(err.value)


def test_pickled_module_is_never_unpickled(tmp_path):
    """A pickle whose loading would run code is refused without running it (weights_only=True)."""
    marker = tmp_path / "ran.txt"

    class Evil:
        def __reduce__(self):
            return (pathlib.Path.write_text, (marker, "ran"))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(ConfigError) as err:
        build_generator(Config(generator=str(path)))
    _assert_one_line(err, "generator")
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# the whole pipeline on a user module
# ---------------------------------------------------------------------------------------------
def test_build_problem_solve_descend_diagnose_on_the_example():
    """build_problem / solve / descend / diagnose on ``examples.own_generator:build``: the start at z*
    is recovered; every end point's J equals a direct forward pass (per-point loop); each label is one
    of core.diagnosis.LABELS."""
    P = build_problem(Config(generator=EXAMPLE, steps=300))
    assert isinstance(P.G, ModuleGenerator) and isinstance(P.evaluator, GenericEvaluator)
    assert P.n0 == 8 and P.y.shape == (128,) and P.floor == 0.0
    starts = torch.cat([P.z_star[None].double(), random_starts(8, 5, seed=1)])
    d = descend(P, starts)
    assert d.paths.shape[1:] == (6, 8) and d.label[0] == "recovered"
    assert set(d.label) <= set(LABELS)
    for zi, Ji in zip(d.paths[-1], d.J_path[-1]):
        x = P.op.A(P.G(torch.as_tensor(zi, dtype=P.dtype)[None]))[0]
        assert math.isclose(Ji, 0.5 * float(((x - P.y) ** 2).sum()), rel_tol=1e-4, abs_tol=1e-9)
    res = solve(P.objective(), starts.to(P.dtype), method="gauss_newton", steps=100)
    diag = diagnose(P.objective(), res)
    assert diag.label[0] == "recovered" and set(diag.label) <= set(LABELS)
    assert np.isfinite(res.J).all()


def test_state_dict_of_the_dcgan_architecture_loads_as_the_shipped_generator(tmp_path):
    """A plain state dict of the DCGAN architecture (loaded weights_only=True) == the shipped generator
    whose weights it holds, class for class."""
    from core.trained.dcgan import shipped_generator

    path = tmp_path / "my_dcgan.pt"
    torch.save(shipped_generator("fashion").state_dict(), path)
    P_file = build_problem(Config(generator=str(path), label=2, z_seed=1), dtype="float64")
    P_ship = build_problem(Config(generator="fashion", label=2, z_seed=1), dtype="float64")
    assert P_file.label == 2 and P_file.n0 == 10
    torch.testing.assert_close(P_file.x_star, P_ship.x_star, rtol=1e-12, atol=1e-15)   # to rounding (channels-last)


class _OldStyleSoftplus(torch.autograd.Function):
    """softplus as an old-style autograd.Function (no setup_context): dual numbers and autograd accept
    it, torch.func refuses it."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.x = x
        return torch.nn.functional.softplus(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.sigmoid(x)

    @staticmethod
    def jvp(ctx, t):
        return t * torch.sigmoid(ctx.x)


class _OldStyleModule(torch.nn.Module):
    latent_dim = 3

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 10)

    def forward(self, z):
        return _OldStyleSoftplus.apply(self.lin(z)).reshape(-1, 1, 10)


def test_jacobian_falls_back_to_dual_numbers_for_modules_torch_func_refuses():
    """A module torch.func refuses (an old-style autograd.Function): residual_and_jacobian falls back to
    dual numbers and still
    equals the per-point autograd loop (and it says so: ``_use_func`` is off)."""
    torch.manual_seed(0)
    G = ModuleGenerator(_OldStyleModule().double(), 3, (1, 10))
    op = make_operator("random", (1, 10), rate=0.7, seed=0, dtype=torch.float64)
    ev = GenericEvaluator(G, op, torch.zeros(op.m, dtype=torch.float64))
    z = torch.randn(4, 3, generator=_gen(0), dtype=torch.float64)
    target, weight = rows_of(op, 4, 1)
    _, _, r_ref, jac_ref = loop_reference(G, op, z, target, weight)
    r, jac = ev.residual_and_jacobian(z, target=target, weight=weight)
    assert ev._use_func is False
    torch.testing.assert_close(r, r_ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(jac, jac_ref, rtol=1e-10, atol=1e-12)


def test_a_withdrawn_request_stops_a_grid_evaluation_between_chunks():
    """Inside core.stop.stop_when map_chunks asks the flag before each chunk the calling thread takes
    (the engine's J_many, and the generic J_many's pieces of 4 rows of 40): set from the 3rd question
    on, both raise Cancelled at the caller's 3rd chunk; with the flag unset they return J."""
    from core import from_preset
    from core.problem import build_problem
    from core.stop import Cancelled, stop_when

    G = example_generator()
    op = make_operator("random", G.output_shape, rate=0.5, seed=3, dtype=torch.float64)
    ev = GenericEvaluator(G, op, torch.zeros(op.m, dtype=torch.float64))
    z = torch.randn(40, G.latent_dim, generator=_gen(4), dtype=torch.float64)
    P = build_problem(from_preset("paper-fig4", dtype="float64"))
    zz = torch.randn(200_000, 2, generator=_gen(5), dtype=torch.float64)
    for run in (lambda: ev.J_many(z, chunk=4), lambda: P.evaluator.J_many(zz)):
        asked = [0]

        def flag():
            asked[0] += 1
            return asked[0] >= 3

        with stop_when(flag), pytest.raises(Cancelled):
            run()
        assert asked[0] == 3
        with stop_when(lambda: False):
            assert torch.isfinite(run()).all()
