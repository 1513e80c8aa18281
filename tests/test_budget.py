"""Budget curves (core.budget) against direct recomputations.

References: the fraction recovered is recomputed from the iterates of a second solve that keeps
its paths (``core.solvers.solve(keep_path=True)``), one ‖z_t − z*‖ at a time; the time curve by
a per-point loop over the recorded times; the stable step from the dense Jacobian of a linear
generator written out by finite differences (numpy's eigenvalues), where fixed-step gradient
descent on the quadratic J converges below 2/L and diverges above.
"""
import numpy as np
import pytest
import torch

from core import build_problem, from_preset
from core.budget import budget_curves, recovered_by_time, suggested_step
from core.descent import radius_of, random_starts
from core.diagnosis import LABELS
from core.solvers import METHODS, solve


@pytest.fixture(scope="module")
def fig4():
    torch.set_num_threads(1)
    return build_problem(from_preset("paper-fig4"))


def test_recovered_fraction_equals_a_recount_from_the_kept_paths(fig4):
    starts = random_starts(2, 12, 3)
    steps = 60
    d = budget_curves(fig4, starts, steps=steps)
    assert list(d["methods"]) == list(METHODS)
    zs = fig4.z_star.double().numpy()
    z0 = torch.as_tensor(np.asarray(starts), dtype=fig4.dtype)
    for k, m in enumerate(METHODS):
        res = solve(fig4.objective(), z0, method=m, steps=steps, lr=fig4.cfg.lr, damping=fig4.cfg.damping,
                    radius=radius_of(fig4), keep_path=True)
        P = res.paths                                        # (T' + 1, S, n0)
        ref = np.zeros(steps + 1)
        for t in range(steps + 1):
            zt = P[min(t, P.shape[0] - 1)]                   # a finished solve stays at its end
            ref[t] = np.mean([np.linalg.norm(z - zs) / np.linalg.norm(zs) <= fig4.cfg.tol for z in zt])
        np.testing.assert_array_equal(d["recovered"][k], ref)
        assert d["iterations_used"][k] == P.shape[0] - 1
    assert d["recovered"].shape == d["seconds"].shape == (len(METHODS), steps + 1)
    assert np.all(np.diff(d["seconds"], axis=1) >= 0)
    assert np.all(d["counts"].sum(1) == 12) and d["counts"].shape == (len(METHODS), len(LABELS))
    assert np.array_equal(d["final"], d["recovered"][:, -1])


def test_time_curve_is_the_step_function_of_the_recorded_times():
    seconds = np.array([0.0, 0.1, 0.25, 0.25, 0.7])
    rec = np.array([0.0, 0.2, 0.5, 0.6, 1.0])
    time = np.array([-1.0, 0.0, 0.05, 0.1, 0.2, 0.25, 0.3, 5.0])
    ref = []
    for tau in time:                                          # the last iteration finished by tau
        done = [t for t in range(seconds.size) if seconds[t] <= tau]
        ref.append(rec[done[-1]] if done else 0.0)
    np.testing.assert_array_equal(recovered_by_time(seconds, rec, time), ref)


def test_curves_on_the_common_time_axis(fig4):
    d = budget_curves(fig4, random_starts(2, 5, 0), methods=("adam", "lbfgs"), steps=20, time_points=16,
                      diagnose_ends=False)
    assert d["time"].shape == (16,) and np.all(np.diff(d["time"]) > 0)
    for k in range(2):
        np.testing.assert_array_equal(d["recovered_time"][k],
                                      recovered_by_time(d["seconds"][k], d["recovered"][k], d["time"]))
    assert "diagnosis" not in d


def test_bad_arguments_name_their_parameter(fig4):
    with pytest.raises(ValueError, match="methods"):
        budget_curves(fig4, random_starts(2, 2, 0), methods=("newton",))
    with pytest.raises(ValueError, match="starts"):
        budget_curves(fig4, np.zeros((2, 3)), steps=2)


def test_suggested_step_is_one_over_the_largest_curvature_of_a_linear_generator():
    """Identity activation: A G(z) = M z is linear, J = ½‖y − M z‖² has Hessian MᵀM exactly."""
    torch.set_num_threads(1)
    p = build_problem(from_preset("paper-fig4", activation="identity", dtype="float64"))
    f = lambda z: p.op.A(p.G(torch.as_tensor(z[None], dtype=torch.float64)))[0].numpy()  # noqa: E731
    h = 1e-6
    M = np.stack([(f(h * e) - f(-h * e)) / (2 * h) for e in np.eye(2)], axis=1)      # (m, 2)
    L = np.linalg.eigvalsh(M.T @ M).max()
    starts = random_starts(2, 4, 1).numpy()
    assert suggested_step(p, starts) == pytest.approx(1 / L, rel=1e-6)
    z0 = torch.as_tensor(starts, dtype=torch.float64)
    below = solve(p.objective(), z0, method="gd", lr=1.9 / L, steps=3000, safeguard=False, radius=1e6)
    above = solve(p.objective(), z0, method="gd", lr=2.1 / L, steps=3000, safeguard=False, radius=1e6)
    assert np.all(np.isin(below.stop, ("fit", "gradient", "step")))
    assert np.all(above.stop == "diverged")
