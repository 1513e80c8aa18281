"""The batched engine against independent references.

References: (1) a per-point loop over ``torch.nn.functional.conv_transpose*``;
(2) a dense matrix for each layer written entry by entry from the definition of
a transposed convolution, out[co, s·i + a − p] += W[ci, co, a] · in[ci, i].
"""
import itertools

import numpy as np
import pytest
import torch

from core.config import Config
from core.generators.conv_family import ConvGenerator, activation_fn
from core.problem import build_problem

NETS = [
    dict(dim=2, channels=(2, 16, 1), kernel=(5,), stride=(3,)),
    dict(dim=2, channels=(2, 4, 8, 1), kernel=(3,), stride=(2,), padding=(0, 1, 0)),
    dict(dim=2, channels=(3, 5, 2), kernel=(4, 3), stride=(1, 2)),
    dict(dim=1, channels=(2, 6, 1), kernel=(5,), stride=(3,)),
    dict(dim=1, channels=(4, 3, 5, 2), kernel=(3, 4, 2), stride=(2, 3, 1), padding=(0, 1, 0)),
    dict(dim=2, channels=(2, 3), kernel=(4,), stride=(2,)),
]
ACTS = ["relu", "leaky_relu", "sigmoid", "tanh", "identity"]


def dense_layer(W, stride, padding, size_in, dim):
    """Matrix T (C_out·S_out^dim, C_in·S_in^dim), C-order, from the definition, by explicit loops."""
    C_in, C_out, k = W.shape[0], W.shape[1], W.shape[2]
    S_out = (size_in - 1) * stride - 2 * padding + k
    T = np.zeros((C_out,) + (S_out,) * dim + (C_in,) + (size_in,) * dim)
    Wn = W.double().numpy()
    for ci, co in itertools.product(range(C_in), range(C_out)):
        for pos in itertools.product(range(size_in), repeat=dim):
            for tap in itertools.product(range(k), repeat=dim):
                out = tuple(stride * p + a - padding for p, a in zip(pos, tap))
                if all(0 <= o < S_out for o in out):
                    T[(co,) + out + (ci,) + pos] += Wn[(ci, co) + tap]
    return T.reshape(C_out * S_out ** dim, C_in * size_in ** dim), S_out


def G_dense(cfg, Ws, z):
    """G(z) for z (B, n0) as a chain of hand-built dense matrices."""
    sig = activation_fn(cfg.activation, cfg.negative_slope)
    last = activation_fn(cfg.last, cfg.negative_slope)
    h = torch.as_tensor(z, dtype=torch.float64)
    size = 1
    for i, (W, s, p) in enumerate(zip(Ws, cfg.per_layer("stride"), cfg.per_layer("padding")), start=1):
        T, size = dense_layer(W, s, p, size, cfg.dim)
        h = h @ torch.as_tensor(T).T
        h = last(h) if i == len(Ws) else sig(h)
    return h


@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("strategy", ["auto", "dense", "col2im"])
def test_engine_matches_dense_definition_and_loop(net, strategy):
    """Engine J == J from hand-built dense matrices == J from a per-point conv_transpose loop."""
    for act, mask in zip(ACTS, ["random", "identity", "strip", "gaussian", "left"]):
        cfg = Config(**net, activation=act, mask=mask, rate=0.4, weight_std="paper", weights="gaussian")
        P = build_problem(cfg, dtype="float64", strategy=strategy)
        z = torch.randn(7, cfg.n0, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 1.5
        J_eng = P.evaluator.J(z)
        # (1) per-point loop through the reference Generator
        J_loop = torch.stack([0.5 * ((P.op.A(P.G(zi[None]))[0] - P.y) ** 2).sum() for zi in z])
        # (2) dense matrices from the definition
        x = G_dense(cfg, P.G.weights, z)
        A = P.op.to_dense().double()
        J_dense = 0.5 * ((x @ A.T - P.y) ** 2).sum(1)
        torch.testing.assert_close(J_eng, J_loop, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(J_eng, J_dense, rtol=1e-10, atol=1e-12)


def test_generator_matches_dense_definition():
    """Generator.forward (conv_transpose) == the hand-built dense chain, output by output."""
    cfg = Config(dim=2, channels=(2, 3, 2), kernel=(3,), stride=(2,), padding=(0, 1), activation="tanh")
    G = ConvGenerator(cfg, dtype=torch.float64)
    z = torch.randn(4, 2, dtype=torch.float64)
    torch.testing.assert_close(G(z).reshape(4, -1), G_dense(cfg, G.weights, z))


def test_J_nonnegative_zero_at_z_star_and_gradient_matches_finite_differences():
    """J(z*) = 0 and J ≥ 0 (definition); autograd gradient == central finite differences."""
    for act in ACTS:
        cfg = Config(channels=(3, 8, 1), kernel=(4,), stride=(2,), activation=act, weight_std="paper")
        P = build_problem(cfg, dtype="float64")
        assert float(P.evaluator.J(P.z_star[None])) == pytest.approx(0.0, abs=1e-20)
        z = torch.randn(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        assert bool((P.evaluator.J(z) >= 0).all())
        z = z[:5].clone().requires_grad_(True)
        P.evaluator.J(z).sum().backward()
        h = 1e-6
        fd = torch.zeros_like(z)
        for k in range(3):
            e = torch.zeros(3, dtype=torch.float64)
            e[k] = h
            fd[:, k] = (P.evaluator.J(z.detach() + e) - P.evaluator.J(z.detach() - e)) / (2 * h)
        torch.testing.assert_close(z.grad, fd, rtol=1e-5, atol=1e-7)


def test_float32_close_to_float64():
    """The float32 engine agrees with the float64 one to single precision."""
    cfg = Config()
    P32, P64 = build_problem(cfg), build_problem(cfg, dtype="float64")
    z = torch.randn(100, 2, dtype=torch.float64)
    J64 = P64.evaluator.J(z)
    J32 = P32.evaluator.J(z.float()).double()
    assert float(((J32 - J64).abs() / (J64.abs() + 1)).max()) < 1e-4


def test_chunking_does_not_change_values():
    """J_many with any chunk size equals one big batch."""
    P = build_problem(Config(), dtype="float64")
    z = torch.randn(1000, 2, dtype=torch.float64)
    full = P.evaluator.J(z)
    for chunk in (1, 7, 256):
        torch.testing.assert_close(P.evaluator.J_many(z, chunk=chunk), full)


@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("strategy", ["dense", "col2im"])
def test_hand_written_gradient_equals_autograd(net, strategy):
    """Engine.J_and_grad (manual backward) == torch autograd through Engine.J."""
    for act in ACTS:
        for mask in ("random", "gaussian", "identity"):
            cfg = Config(**net, activation=act, mask=mask, weight_std="paper", negative_slope=0.1)
            P = build_problem(cfg, dtype="float64", strategy=strategy)
            z = torch.randn(6, cfg.n0, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
            z.requires_grad_(True)
            P.evaluator.J(z).sum().backward()
            J, g = P.evaluator.J_and_grad(z.detach())
            torch.testing.assert_close(J, P.evaluator.J(z.detach()))
            torch.testing.assert_close(g, z.grad, rtol=1e-10, atol=1e-12)


def test_engine_on_every_device_matches_cpu_float64(device):
    """The engine on each available device (CPU, and CUDA when present) equals the CPU float64 loop."""
    cfg = Config(channels=(2, 8, 1), kernel=(4,), stride=(2,), activation="tanh", weight_std="paper")
    ref = build_problem(cfg, device="cpu", dtype="float64")
    P = build_problem(cfg, device=device, dtype="float64")
    z = torch.randn(64, 2, dtype=torch.float64)
    torch.testing.assert_close(P.evaluator.J_many(z.to(device)).cpu(), ref.evaluator.J(z))
    J, g = P.evaluator.J_and_grad(z.to(device))
    torch.testing.assert_close(g.cpu(), ref.evaluator.J_and_grad(z)[1])


# ---------------------------------------------------------------------------
# tiles and threads
# ---------------------------------------------------------------------------
TILE_NETS = NETS[:5] + [dict(dim=2, channels=(2, 4, 4, 1), kernel=(4,), stride=(2,), padding=(0, 1, 0))]


def _dense_chain(cfg, Ws):
    """The layers as hand-built dense matrices (:func:`dense_layer`, from the definition)."""
    Ts, size = [], 1
    for W, s, p in zip(Ws, cfg.per_layer("stride"), cfg.per_layer("padding")):
        T, size = dense_layer(W, s, p, size, cfg.dim)
        Ts.append(torch.as_tensor(T))
    return Ts


def _reference(cfg, Ts, A, y, z, target=None, weight=None):
    """J, ∇J, r and ∂r/∂z of ``r = w ⊙ (A G(z) − t)`` with G a chain of the dense matrices ``Ts``,
    by autograd (∇J: reverse mode; Jacobian: ``torch.func.jacfwd``): no engine, no tiles."""
    sig = activation_fn(cfg.activation, cfg.negative_slope)
    last = activation_fn(cfg.last, cfg.negative_slope)
    t = y if target is None else target
    w = torch.ones_like(t) if weight is None else weight

    def r_of(zz):
        h = zz
        for i, T in enumerate(Ts, start=1):
            h = h @ T.T
            h = last(h) if i == len(Ts) else sig(h)
        return w * (h @ A.T - t)

    zg = z.clone().requires_grad_(True)
    r = r_of(zg)
    J = 0.5 * (r * r).sum(1)
    g, = torch.autograd.grad(J.sum(), zg)
    jac = torch.func.jacfwd(r_of)(z)                       # (B, m, B, n0): rows are independent
    jac = torch.stack([jac[b, :, b] for b in range(z.shape[0])])
    return J.detach(), g, r.detach(), jac


@pytest.mark.parametrize("net", TILE_NETS)
def test_tiled_engine_equals_per_point_loop(net):
    """Every tiling (1, 2, 3 tiles per axis) gives the J, ∇J, r and Jacobian of the hand-built
    dense chain (autograd), with y or per-row targets and 0/1 weights, for every activation and
    for pixel masks that do and do not prune."""
    from core.generators.engine import Engine

    masks = ["random", "left", "top" if net.get("dim", 2) == 2 else "right", "identity", "random"]
    tiled, Ts = 0, None
    for act, mask in zip(ACTS, masks):
        cfg = Config(**net, activation=act, mask=mask, rate=0.4, weight_std="paper", negative_slope=0.1)
        P = build_problem(cfg, dtype="float64")
        Ts = Ts or _dense_chain(cfg, P.G.weights)        # the weights do not depend on σ or the mask
        A = P.op.to_dense().double()
        gen = torch.Generator().manual_seed(4)
        z = torch.randn(4, cfg.n0, dtype=torch.float64, generator=gen) * 1.5
        target = P.y + 0.1 * torch.randn(4, P.op.m, dtype=torch.float64, generator=gen)
        weight = (torch.rand(4, P.op.m, generator=gen) < 0.6).double()
        plain, masked = _reference(cfg, Ts, A, P.y, z), _reference(cfg, Ts, A, P.y, z, target, weight)
        for tiles in (1, 2, 3):
            eng = Engine(P.G, P.op, P.y, tiles=tiles)
            assert eng.tiles in (1, tiles)       # 1 where the tiles would exceed the memory caps
            tiled += eng.tiles > 1
            torch.testing.assert_close(eng.observe(z), P.op.A(P.G(z)), rtol=1e-10, atol=1e-12)
            for kw, (J, g, r, jac) in (({}, plain), (dict(target=target, weight=weight), masked)):
                torch.testing.assert_close(eng.J_many(z, **kw), J, rtol=1e-10, atol=1e-12)
                Je, ge = eng.J_and_grad(z, **kw)
                torch.testing.assert_close(Je, J, rtol=1e-10, atol=1e-12)
                torch.testing.assert_close(ge, g, rtol=1e-9, atol=1e-11)
                re, jace = eng.residual_and_jacobian(z, **kw)
                torch.testing.assert_close(re, r, rtol=1e-10, atol=1e-12)
                torch.testing.assert_close(jace, jac, rtol=1e-9, atol=1e-11)
    assert tiled > 0


def test_tiles_partition_the_observed_pixels_and_the_default_tiles_paper_fig4():
    """The tiles' outputs are the operator's pixels, each exactly once (checked against
    ``op.indices`` by counting); the cost model tiles paper-fig4 and its tiles do fewer
    multiply-adds than the untiled dense layer (5.4× the useful ones, benchmarks/NOTES.md)."""
    from core.config import from_preset

    P = build_problem(from_preset("paper-fig4"))
    eng = P.evaluator
    assert eng.tiles > 1
    sel = torch.cat([b.sel for b in eng.branches])
    assert sorted(sel.tolist()) == list(range(P.op.m))
    assert eng.macs_per_point < 58_800


def test_a_new_weight_draw_reuses_the_tiling_and_computes_with_its_own_weights():
    """The tiling is planned per architecture and mask: a second weight draw takes the cached plan
    (the same index tensors) and its J and ∇J are those of its own dense chain; a plan made afresh
    (cache emptied) picks the same tiles; another mask is planned anew."""
    from core.generators import engine

    net = dict(dim=2, channels=(2, 4, 4, 1), kernel=(4,), stride=(2,), padding=(0, 1, 0))
    engines = []
    for seed in (1, 2):
        cfg = Config(**net, mask="random", rate=0.4, weight_seed=seed, weight_std="paper")
        P = build_problem(cfg, dtype="float64")
        eng = engine.Engine(P.G, P.op, P.y, tiles=2)
        assert eng.tiles == 2
        engines.append(eng)
        z = torch.randn(5, cfg.n0, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        J, g, _, _ = _reference(cfg, _dense_chain(cfg, P.G.weights), P.op.to_dense().double(), P.y, z)
        Je, ge = eng.J_and_grad(z)
        torch.testing.assert_close(Je, J, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(ge, g, rtol=1e-9, atol=1e-11)
    a, b = engines
    assert all(x.sel is y.sel for x, y in zip(a.branches, b.branches))          # the cached plan
    assert not torch.equal(a.branches[0].M1, b.branches[0].M1)                   # with b's own weights
    engine._PLANS.clear()
    fresh = engine.Engine(P.G, P.op, P.y, tiles=2)
    assert fresh.branches[0].sel is not b.branches[0].sel
    assert [x.sel.tolist() for x in fresh.branches] == [x.sel.tolist() for x in b.branches]
    assert fresh.macs_per_point == b.macs_per_point
    other = build_problem(Config(**net, mask="left", rate=0.4, weight_seed=2, weight_std="paper"), dtype="float64")
    eng = engine.Engine(other.G, other.op, other.y, tiles=2)
    assert all(x.sel is not y.sel for x in eng.branches for y in fresh.branches)
    torch.testing.assert_close(eng.observe(z), other.op.A(other.G(z)), rtol=1e-10, atol=1e-12)


def test_memory_of_the_gradient_and_the_tangents_is_bounded_by_chunks():
    """J_and_grad and residual_and_jacobian on more rows than one chunk equal the hand-built
    dense chain (autograd) at the rows around every chunk boundary, and a chunk holds at most
    GRAD_FLOATS floats per kept tensor (3 per point: pre-, post-activation, gradient)."""
    from core.generators.engine import GRAD_FLOATS

    cfg = Config(dim=1, channels=(2, 8, 64, 1), kernel=(15, 3, 1), stride=(1, 3, 1), mask="random", rate=0.5)
    P = build_problem(cfg, dtype="float64")
    eng = P.evaluator
    c = eng.grad_chunk_size()
    assert c == 32 or c * eng.floats_per_point() * 3 <= GRAD_FLOATS
    z = torch.randn(2 * c + 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    J, g = eng.J_and_grad(z)
    r, jac = eng.residual_and_jacobian(z)
    rows = torch.tensor([0, c - 1, c, 2 * c - 1, 2 * c, 2 * c + 2])
    Jr, gr, rr, jacr = _reference(cfg, _dense_chain(cfg, P.G.weights), P.op.to_dense().double(), P.y, z[rows])
    torch.testing.assert_close(J[rows], Jr, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g[rows], gr, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(r[rows], rr, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(jac[rows], jacr, rtol=1e-9, atol=1e-11)


def test_threads_do_not_change_results_and_concurrent_callers_are_correct():
    """J_many over many chunks with 1, 2 and 3 workers is bitwise identical (every chunk runs on
    one torch thread, whichever thread takes it); four Python threads calling the same engine
    at once each get the single-threaded answer; an error in a chunk reaches the caller."""
    import threading

    from core.generators import engine as E
    from core.config import from_preset

    P = build_problem(from_preset("paper-fig4"))
    z = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(7))
    old = E.workers()
    try:
        E.set_workers(1)
        ref = P.evaluator.J_many(z, chunk=500)
        ref_g = P.evaluator.J_and_grad(z[:3000])
        for w in (2, 3):
            E.set_workers(w)
            assert torch.equal(P.evaluator.J_many(z, chunk=500), ref)
            Jg = P.evaluator.J_and_grad(z[:3000])
            assert torch.equal(Jg[0], ref_g[0]) and torch.equal(Jg[1], ref_g[1])
        E.set_workers(2)
        out = [None] * 4

        def call(i):
            out[i] = P.evaluator.J_many(z, chunk=500)

        ts = [threading.Thread(target=call, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert all(torch.equal(o, ref) for o in out)

        def bad(i):
            if i == 5:
                raise ValueError("chunk: boom")

        with pytest.raises(ValueError, match="boom"):
            E.map_chunks(bad, 10)
    finally:
        E.set_workers(old)
    assert torch.get_num_threads() >= 1


def test_one_thread_restores_the_callers_count():
    """Inside an engine call the caller runs one torch thread; afterwards its own count is back."""
    from core.generators.engine import one_thread

    n = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == n


@pytest.mark.parametrize("dim,k,stride,padding,size_in", [(2, 4, 2, 1, 5), (2, 3, 1, 0, 4), (1, 5, 3, 2, 6)])
def test_receptive_cone_matches_the_dense_layer_and_is_shared_across_weights(dim, k, stride, padding, size_in):
    """engine._cone against the dense matrix written entry by entry (test's dense_layer): input j is in
    the cone iff some needed output row has a non-zero entry in column j for all-ones weights. The cone
    is cached by shape and outputs: other weights give the same cone, and changing a returned cone
    leaves the next one intact."""
    from core.generators import engine

    C_in, C_out = 2, 3
    W = torch.ones(C_in, C_out, *([k] * dim), dtype=torch.float64)
    D, size_out = dense_layer(W, stride, padding, size_in, dim)        # (n_out, n_in), C-order
    D = torch.as_tensor(D)
    # engine indices are channels-last: position-major, channel-minor
    cl = lambda C, S: torch.arange(C * S ** dim).reshape(C, S ** dim).T.reshape(-1)  # noqa: E731
    out_cl, in_cl = cl(C_out, size_out), cl(C_in, size_in)
    rng = np.random.default_rng(0)
    for trial in range(4):
        needed = torch.as_tensor(np.sort(rng.choice(out_cl.numel(), size=1 + trial * 3, replace=False)))
        rows = out_cl[needed]                                             # the C-order rows they are
        reach = (D[rows] != 0).any(0)                                      # over C-order inputs
        expect = sorted(int(j) for j in torch.nonzero(reach[in_cl]).reshape(-1))
        got = engine._cone(W, stride, padding, size_in, dim, needed)
        assert sorted(got.tolist()) == expect
        got.fill_(-1)                                                      # a caller's change…
        other = engine._cone(torch.randn_like(W), stride, padding, size_in, dim, needed)
        assert sorted(other.tolist()) == expect                            # …never reaches the cache


@pytest.mark.parametrize("dim,k,stride,padding,size_in", [(2, 5, 3, 0, 7), (2, 4, 2, 1, 5), (2, 3, 1, 0, 4),
                                                          (1, 5, 3, 2, 6), (1, 4, 1, 1, 3)])
@pytest.mark.parametrize("plan", [True, False])
def test_unrolled_layer_equals_the_identity_pushed_through_conv_transpose(dim, k, stride, padding, size_in, plan,
                                                                          monkeypatch):
    """The dense layer matrix, written entry by entry, against torch's conv_transpose applied to every
    row of the identity (channels-last rows and columns), whole and with row and column subsets, and
    built in blocks of a few rows; from the cached plan of its entries and (``plan`` False, a plan
    limit of 0) block by block."""
    import torch.nn.functional as F

    from core.generators import engine

    if not plan:
        monkeypatch.setattr(engine, "PLAN_ENTRIES", 0)
    C_in, C_out = 3, 2
    g = torch.Generator().manual_seed(k * 10 + size_in)
    W = torch.randn(C_in, C_out, *([k] * dim), generator=g, dtype=torch.float64)
    n_in = C_in * size_in ** dim
    eye = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *([size_in] * dim), C_in)
    conv = {1: F.conv_transpose1d, 2: F.conv_transpose2d}[dim]
    out = conv(eye.permute(0, dim + 1, *range(1, dim + 1)), W, stride=stride, padding=padding)
    ref = out.permute(0, *range(2, 2 + dim), 1).reshape(n_in, -1)          # (n_in, n_out), channels-last
    layer = engine._Layer(W, stride, padding, size_in, dim)
    torch.testing.assert_close(layer.T, ref, rtol=0, atol=0)
    rng = np.random.default_rng(1)
    rows = torch.as_tensor(np.sort(rng.choice(n_in, size=max(1, n_in // 3), replace=False)))
    cols = torch.as_tensor(np.sort(rng.choice(ref.shape[1], size=max(1, ref.shape[1] // 2), replace=False)))
    sub = engine._Layer(W, stride, padding, size_in, dim, in_idx=rows, out_idx=cols)
    torch.testing.assert_close(sub.T, ref[rows][:, cols], rtol=0, atol=0)
    blocks = layer._unrolled(W, rows, cols, block_entries=2 * max(n_in, ref.shape[1]))   # two rows a block
    torch.testing.assert_close(blocks, ref[rows][:, cols], rtol=0, atol=0)
    W2 = torch.randn_like(W)       # a new draw with the same shapes: the cached plan, new weights
    out2 = conv(eye.permute(0, dim + 1, *range(1, dim + 1)), W2, stride=stride, padding=padding)
    ref2 = out2.permute(0, *range(2, 2 + dim), 1).reshape(n_in, -1)
    sub2 = engine._Layer(W2, stride, padding, size_in, dim, in_idx=rows, out_idx=cols)
    torch.testing.assert_close(sub2.T, ref2[rows][:, cols], rtol=0, atol=0)
