"""The sector formulation of a two-dimensional latent (core.generators.sectors) against references.

References: a per-point loop through the generator (``conv_transpose``) with autograd for ∇J and
the Jacobian; the hand-built dense chain of ``tests/test_engine.py`` for the hidden activation
patterns; the engine's layer-by-layer formulations (``sectors=False``).
"""
import math
import threading

import numpy as np
import pytest
import torch

from core.config import Config
from core.generators import sectors as sectors_mod
from core.generators.engine import Engine
from core.problem import build_problem
from tests.test_engine import dense_layer

# n0 = 2 nets: depth 1 to 4, 1-D and 2-D, with padding; the first is paper-fig4's shape.
NETS = [
    dict(dim=2, channels=(2, 16, 1), kernel=(5,), stride=(3,)),
    dict(dim=2, channels=(2, 4, 8, 1), kernel=(3,), stride=(2,), padding=(0, 1, 0)),
    dict(dim=1, channels=(2, 6, 1), kernel=(5,), stride=(3,)),
    dict(dim=2, channels=(2, 3), kernel=(4,), stride=(2,)),
    dict(dim=2, channels=(2, 3, 4, 4, 1), kernel=(3,), stride=(2,)),
]
CASES = [("relu", "relu", "random"), ("leaky_relu", "leaky_relu", "strip"), ("relu", "sigmoid", "left"),
         ("leaky_relu", "tanh", "random"), ("relu", "identity", "identity")]


@pytest.fixture(autouse=True)
def any_build_cost(monkeypatch):
    """The deep test nets have more sectors than the build budget allows by default: lift it, so
    that the layer-by-layer refinement is tested on them (the budget has its own tests)."""
    monkeypatch.setattr(sectors_mod, "BUILD_ROWS", 1 << 30)


def _problem(net, act, last, mask, dtype="float64", seed=0):
    cfg = Config(**net, activation=act, last_activation=last, mask=mask, rate=0.4,
                 weight_std="paper", weights="gaussian", weight_seed=seed)
    return cfg, build_problem(cfg, dtype=dtype)


def _points(n=40, scale=1.5, seed=1):
    return torch.randn(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) * scale


def _J_loop(P, z, target=None, weight=None):
    out = []
    for i, zi in enumerate(z):
        r = P.op.A(P.G(zi[None]))[0] - (P.y if target is None else target[i])
        if weight is not None:
            r = r * weight[i]
        out.append(0.5 * (r * r).sum())
    return torch.stack(out)


def _hidden_patterns(cfg, Ws, z):
    """Signs of every hidden layer's pre-activations at z (B, 2), by the hand-built dense chain,
    with the entries too close to zero to have a sign masked out: (signs, trusted)."""
    h = torch.as_tensor(z, dtype=torch.float64)
    size, signs, trusted = 1, [torch.zeros(len(h), 0, dtype=torch.bool)], [torch.zeros(len(h), 0, dtype=torch.bool)]
    slope = cfg.negative_slope
    for W, s, p in list(zip(Ws, cfg.per_layer("stride"), cfg.per_layer("padding")))[:-1]:
        T, size = dense_layer(W, s, p, size, cfg.dim)
        pre = h @ torch.as_tensor(T).T
        signs.append(pre > 0)
        trusted.append(pre.abs() > 1e-9 * (pre.abs().max() + 1e-300))
        h = torch.relu(pre) if cfg.activation == "relu" else torch.where(pre > 0, pre, slope * pre)
    return torch.cat(signs, 1), torch.cat(trusted, 1)


@pytest.mark.parametrize("net", NETS)
def test_each_sector_has_one_activation_pattern(net):
    """Inside every sector the signs of the hidden layers (on the dense chain) and of the last
    layer's pre-activations do not change (no breakpoint missed: angles at ¼, ½ and ¾ of each
    sector), and K_s d is the last layer's pre-activation at each of them (Euler's relation of a
    homogeneous map)."""
    for act in ("relu", "leaky_relu"):
        cfg, P = _problem(net, act, act, "random")
        sec = P.evaluator.sectors
        assert sec is not None
        b = sec.breaks.double().numpy()
        lo, hi = b, np.append(b[1:], math.pi)
        keep = hi - lo > 1e-9
        lo, hi = lo[keep], hi[keep]
        Ws = [W.double() for W in P.G.weights]
        patterns = []
        for f in (0.25, 0.5, 0.75):
            th = lo + f * (hi - lo)
            d = torch.as_tensor(np.stack([np.cos(th), np.sin(th)], 1))
            pre_last = _last_pre(P, d)
            signs, trusted = _hidden_patterns(cfg, Ws, d)
            # the last activation has a kink too: its pattern is fixed per sector as well
            patterns.append((torch.cat([signs, pre_last > 0], 1),
                             torch.cat([trusted, pre_last.abs() > 1e-9 * pre_last.abs().max()], 1)))
            Kd = torch.einsum("sjm,sj->sm", sec.K[torch.as_tensor(np.flatnonzero(keep))], d)
            torch.testing.assert_close(Kd, pre_last, rtol=1e-9, atol=1e-11)
        (s0, t0), *rest = patterns
        for s, t in rest:
            both = t0 & t
            assert torch.equal(s0[both], s[both]), "a sector holds two activation patterns"
        if cfg.depth > 1:
            assert sec.S > 2                               # the hidden layers did cut the plane


def _last_pre(P, d):
    """The last layer's pre-activation at the observed pixels, through conv_transpose (float64)."""
    cfg = P.cfg
    conv = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d}[cfg.dim]
    x = d.reshape(d.shape[0], 2, *([1] * cfg.dim))
    Ws = [W.double() for W in P.G.weights]
    for i, (W, s, p) in enumerate(zip(Ws, cfg.per_layer("stride"), cfg.per_layer("padding"))):
        x = conv(x, W, stride=s, padding=p)
        if i < len(Ws) - 1:
            x = P.G.sigma(x)
    return x.reshape(d.shape[0], -1)[:, P.op.indices]


@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("act,last,mask", CASES)
def test_sector_J_grad_and_jacobian_match_the_loop(net, act, last, mask):
    """J, ∇J and ∂r/∂z through the sectors == a per-point conv_transpose loop with autograd ==
    the engine's layer-by-layer formulations, at random points, at 0 and far out."""
    cfg, P = _problem(net, act, last, mask)
    eng = P.evaluator
    assert eng.sectors is not None
    layered = Engine(P.G, P.op, P.y, sectors=False)
    assert layered.sectors is None
    z = torch.cat([_points(), torch.zeros(1, 2, dtype=torch.float64), _points(5, 40.0, seed=2)])
    J_ref = _J_loop(P, z)
    torch.testing.assert_close(eng.J_many(z), J_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(eng.J_many(z), layered.J_many(z), rtol=1e-10, atol=1e-12)

    # the origin too: every pre-activation is 0 there, σ'(0) as autograd takes it (ReLU's 0)
    zg = torch.cat([_points(12, seed=3), torch.zeros(1, 2, dtype=torch.float64)]).requires_grad_(True)
    g_ref = torch.autograd.grad(_J_loop(P, zg).sum(), zg)[0]
    J, g = eng.J_and_grad(zg.detach())
    torch.testing.assert_close(J, _J_loop(P, zg.detach()), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-10)

    r, jac = eng.residual_and_jacobian(zg.detach())
    for i, zi in enumerate(zg.detach()):
        ri = lambda v: P.op.A(P.G(v[None]))[0] - P.y   # noqa: E731
        torch.testing.assert_close(r[i], ri(zi), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(jac[i], torch.autograd.functional.jacobian(ri, zi), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("last,quadratic", [("relu", True), ("leaky_relu", True), ("identity", True),
                                            ("sigmoid", False), ("tanh", False)])
def test_quadratics_keep_their_precision_at_the_minimum(last, quadratic):
    """Where the last activation is piecewise linear J is a per-sector quadratic (J_s + ½ δᵀQδ),
    which keeps J's relative precision next to z* (J ~ 1e-14 there): the loop's J at z* + 1e-7·u
    to 1e-6 relative (the rounding of ẑ_s), and its ∇J; an expanded quadratic (½‖y‖² − yᵀLz + …) would cancel to
    1e-16·‖y‖². Sigmoid and tanh have no quadratic (their J goes through K_s z)."""
    cfg, P = _problem(NETS[0], "relu", last, "random")
    sec = P.evaluator.sectors
    assert (sec.quadratic is not None) == quadratic
    zs = torch.as_tensor(P.z_star, dtype=torch.float64).reshape(1, 2)
    z = zs + 1e-7 * _points(16, 1.0, seed=6)
    ref = _J_loop(P, z)
    assert float(ref.max()) < 1e-10
    torch.testing.assert_close(P.evaluator.J_many(z), ref, rtol=1e-6, atol=0)
    zg = z.clone().requires_grad_(True)
    g_ref = torch.autograd.grad(_J_loop(P, zg).sum(), zg)[0]
    torch.testing.assert_close(P.evaluator.J_and_grad(z)[1], g_ref, rtol=1e-6, atol=1e-18)


def test_points_on_sector_boundaries_are_continuous():
    """On the rays that bound the sectors (and a hair either side), J equals the loop's: the
    assignment of a boundary point to either sector does not change its value."""
    cfg, P = _problem(NETS[1], "relu", "relu", "random")
    b = P.evaluator.sectors.breaks.double()
    th = torch.cat([b, b + 1e-12, b - 1e-12])
    z = torch.stack([torch.cos(th), torch.sin(th)], 1) * 1.7
    torch.testing.assert_close(P.evaluator.J_many(z), _J_loop(P, z), rtol=1e-9, atol=1e-11)


def test_per_point_targets_and_weights():
    """The phase trials' per-point y and 0/1 masks through the sectors == the loop, and ∇J ==
    the layer-by-layer engine's."""
    cfg, P = _problem(NETS[0], "relu", "relu", "random")
    z = _points(9)
    gen = torch.Generator().manual_seed(4)
    target = torch.randn(9, P.op.m, dtype=torch.float64, generator=gen)
    weight = (torch.rand(9, P.op.m, generator=gen) < 0.6).double()
    assert P.evaluator.sectors is not None
    torch.testing.assert_close(P.evaluator.J_many(z, target=target, weight=weight),
                               _J_loop(P, z, target, weight), rtol=1e-10, atol=1e-12)
    layered = Engine(P.G, P.op, P.y, sectors=False)
    for a, b in zip(P.evaluator.J_and_grad(z, target=target, weight=weight),
                    layered.J_and_grad(z, target=target, weight=weight)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_float32_sectors_agree_with_float64():
    """The dashboard's default dtype: float32 sectors within float32 rounding of the float64 loop."""
    _, P64 = _problem(NETS[0], "relu", "relu", "random")
    _, P32 = _problem(NETS[0], "relu", "relu", "random", dtype="float32")
    assert P32.evaluator.sectors is not None
    z = _points(200, 2.0)
    ref = _J_loop(P64, z)
    got = P32.evaluator.J_many(z.float()).double()
    torch.testing.assert_close(got, ref, rtol=2e-5, atol=1e-5 * float(ref.max()))


@pytest.mark.parametrize("change", ["sigmoid hidden", "tanh hidden", "n0 = 3", "gaussian A", "dense strategy",
                                    "too many sectors", "build too costly"])
def test_where_sectors_do_not_apply_the_layers_answer(change, monkeypatch):
    """Non-homogeneous hidden activations, n0 ≠ 2, a Gaussian A, a forced strategy or a net past
    a bound (sectors, or the build's multiply-adds): no sector table, and J is still the loop's."""
    net, act, mask, strategy = dict(NETS[1]), "relu", "random", "auto"
    if change.endswith("hidden"):
        act = change.split()[0]
    elif change == "n0 = 3":
        net["channels"] = (3, 4, 8, 1)
    elif change == "gaussian A":
        mask = "gaussian"
    elif change == "dense strategy":
        strategy = "dense"
    elif change == "too many sectors":
        monkeypatch.setattr(sectors_mod, "MAX_SECTORS", 8)
    else:
        monkeypatch.setattr(sectors_mod, "BUILD_ROWS", 8)
    cfg = Config(**net, activation=act, mask=mask, rate=0.4, weight_std="paper", weights="gaussian")
    P = build_problem(cfg, dtype="float64", strategy=strategy)
    assert P.evaluator.sectors is None
    z = _points(6, seed=5)[:, :1].repeat(1, cfg.n0) * torch.linspace(0.5, 1.5, cfg.n0, dtype=torch.float64)
    torch.testing.assert_close(P.evaluator.J_many(z), _J_loop(P, z), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("preset,mask,used", [("paper-fig4", None, True), ("mode-collapse", None, True),
                                              ("authors-code", None, True), ("authors-code", "random", False)])
def test_the_build_budget(preset, mask, used, monkeypatch):
    """With the default budget the presets get sectors (authors-code's strip mask prunes its four
    layers to about a thousand sectors), while authors-code under a random half mask (thousands of
    sectors) keeps its layers; J is the loop's either way."""
    monkeypatch.undo()
    from core.config import from_preset
    cfg = from_preset(preset)
    if mask:
        cfg = cfg.replace(mask=mask, rate=0.5)
    P = build_problem(cfg, dtype="float64")
    assert (P.evaluator.sectors is not None) == used
    z = _points(8)
    torch.testing.assert_close(P.evaluator.J_many(z), _J_loop(P, z), rtol=1e-10, atol=1e-12)


def test_first_use_from_many_threads_builds_once(monkeypatch):
    """The table is built lazily; dashboard requests share one engine: four threads at once build
    it once and all get the loop's J."""
    builds = []
    real = sectors_mod.Sectors.build.__func__

    def counted(cls, *a, **k):
        builds.append(1)
        return real(cls, *a, **k)

    monkeypatch.setattr(sectors_mod.Sectors, "build", classmethod(counted))
    cfg, P = _problem(NETS[0], "relu", "relu", "random")
    z = _points(64)
    ref = _J_loop(P, z)
    out = [None] * 4
    barrier = threading.Barrier(4)

    def work(i):
        barrier.wait()
        out[i] = P.evaluator.J_many(z)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(builds) == 1
    for o in out:
        torch.testing.assert_close(o, ref, rtol=1e-10, atol=1e-12)


def test_least_squares_of_two_columns_against_numpy():
    """The batched two-column least squares (full rank, ill-conditioned, rank 1 and rank 0
    sectors) gives residuals orthogonal to the columns, and numpy's minimum-norm solution where
    the rank is full."""
    from core.generators.sectors import _least_squares
    gen = np.random.default_rng(7)
    y = gen.standard_normal(9)
    full = gen.standard_normal((4, 9, 2))
    ill = full.copy()
    ill[:, :, 1] = ill[:, :, 0] * 3 + 1e-6 * gen.standard_normal((4, 9))
    one = full.copy()
    one[:, :, 1] = -2.5 * one[:, :, 0]
    one[:, 3:, :] = 0.0
    zero = np.zeros((2, 9, 2))
    Lt = np.concatenate([full, ill, one, zero])
    Lt_ = torch.as_tensor(Lt)
    z = _least_squares(Lt_[:, :, 0], Lt_[:, :, 1], torch.as_tensor(y)).numpy()
    for k in range(len(Lt)):
        r = Lt[k] @ z[k] - y
        assert np.abs(Lt[k].T @ r).max() <= 1e-9 * (np.abs(Lt[k]).max() * np.abs(y).max() + 1e-300)
        if k < 8:
            np.testing.assert_allclose(z[k], np.linalg.lstsq(Lt[k], y, rcond=None)[0], rtol=1e-6 if k >= 4 else 1e-12)


def test_problem_and_sector_builds_run_one_intra_op_thread(threads_seen):
    """A problem's build (its unrolled layers, G(z*)) and the sectors' build (their tangents and
    quadratics) run with one intra-op torch thread whatever the caller set (beside a busy process,
    a paper-fig4 build took 229 ms with two against 6.4 ms with one), and the caller's count is back
    afterwards. Reference: torch.get_num_threads() read inside those calls."""
    from core.config import from_preset
    from core.generators import engine

    threads_seen(engine._Layer, "_unrolled")
    threads_seen(sectors_mod._Chain, "tangents")
    threads_seen(sectors_mod, "_quadratics")
    P = build_problem(from_preset("paper-fig4").replace(weight_seed=41))
    assert P.evaluator.sectors is not None
    eng = engine.Engine(P.G, P.op, P.y)          # built outside build_problem: its own first use
    assert eng.sectors is not None
    assert torch.get_num_threads() == 2
    names = {n for n, _ in threads_seen.seen}
    assert names == {"_unrolled", "tangents", "_quadratics"}
    assert {t for _, t in threads_seen.seen} == {1}


@pytest.mark.parametrize("net", [dict(dim=2, channels=(3, 16, 1), kernel=(5,), stride=(3,)),
                                 dict(dim=1, channels=(4, 6, 5, 1), kernel=(3,), stride=(2,), padding=(0, 1, 0))])
@pytest.mark.parametrize("act", ["relu", "leaky_relu"])
def test_a_plane_through_the_origin_of_a_wider_latent(net, act, monkeypatch):
    """n0 > 2: the landscape on the default plane (through 0, z* and a random direction) is a
    quadratic per sector of that plane, and equals the per-point loop at the lifted points, the
    origin included; a plane off the origin keeps the layers (its table is never asked for)."""
    from core.landscape import default_plane, evaluate_plane, make_plane

    cfg, P = _problem(net, act, act, "random")
    plane = default_plane(cfg, P.z_star.numpy())
    u = np.linspace(-2.0, 2.0, 13)
    v = np.linspace(-1.5, 1.5, 11)
    v[5] = 0.0
    u[6] = 0.0
    sec = P.evaluator.plane_sectors(plane.d1, plane.d2)
    assert sec is not None and sec.quadratic is not None and sec.S > 2
    J = evaluate_plane(P, plane, u, v)
    Z = torch.as_tensor(plane.lift(u[None, :], v[:, None]).reshape(-1, cfg.n0))
    np.testing.assert_allclose(J.reshape(-1), _J_loop(P, Z).numpy(), rtol=1e-10, atol=1e-12)
    asked = []
    monkeypatch.setattr(type(P.evaluator), "plane_sectors", lambda self, *a: asked.append(1))
    off = make_plane(0.3 * plane.d2, plane.d1, plane.d2)
    J_off = evaluate_plane(P, off, u, v)
    Z_off = torch.as_tensor(off.lift(u[None, :], v[:, None]).reshape(-1, cfg.n0))
    np.testing.assert_allclose(J_off.reshape(-1), _J_loop(P, Z_off).numpy(), rtol=1e-10, atol=1e-12)
    assert asked == []


@pytest.mark.parametrize("net,act,dtype", [(NETS[0], "relu", "float64"), (NETS[2], "leaky_relu", "float64"),
                                           (NETS[1], "relu", "float64"), (NETS[0], "leaky_relu", "float32")])
def test_sweep_gives_the_tangents_of_the_second_layer(net, act, dtype):
    """K by differences along the directions (one rank-one term per hidden unit that switches)
    against the tangents pushed through the layers, for directions in angular order (how the build
    asks) and shuffled (the running sum holds for any order), at 2,000 directions; on a net with a
    third layer the sweep gives the second layer's tangents (its hidden refinement)."""
    cfg, P = _problem(net, act, act, "random", dtype=dtype)
    eng = P.evaluator
    assert eng.sectors is not None
    M1, layers = eng._chain_parts
    chain = sectors_mod._Chain(M1, layers, act, cfg.negative_slope)
    assert chain.sweeps(2) and not chain.sweeps(3) and not chain.sweeps(1)
    th = np.sort(np.random.default_rng(4).uniform(-math.pi, math.pi, 2000))
    for order in (np.arange(th.size), np.random.default_rng(5).permutation(th.size)):
        dirs = torch.as_tensor(np.stack([np.cos(th[order]), np.sin(th[order])], 1), dtype=M1.dtype)
        ref = chain.tangents(dirs, 2)
        tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=1e-5)
        torch.testing.assert_close(chain.sweep(dirs), ref, **tol)
