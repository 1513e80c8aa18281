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
