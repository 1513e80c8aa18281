"""The batched solvers and the diagnosis, each against an independent reference."""
import numpy as np
import pytest
import torch
from scipy.optimize import least_squares, minimize

from core import Config, build_problem, from_preset
from core.descent import descend, random_starts
from core.diagnosis import continue_unconverged, diagnose, refine_in_float64
from core.problem import Objective
from core.solvers import METHODS, solve

SMOOTH = dict(channels=(2, 6, 1), kernel=(4,), stride=(2,), activation="tanh", weight_std="paper",
              mask="random", rate=0.6, z_star=(0.7, -0.4), dtype="float64")


def _scipy_fun(P):
    """r(z) and J(z) evaluated one point at a time through G.forward (not the engine)."""
    def r(z):
        zt = torch.tensor(np.asarray(z)[None], dtype=torch.float64)
        with torch.no_grad():
            return (P.op.A(P.G(zt)) - P.y).numpy()[0]
    return r


@pytest.mark.parametrize("method", ["lbfgs", "gauss_newton"])
def test_solvers_reach_the_minimiser_scipy_finds(method):
    """From the same starts, scipy.optimize.least_squares (trust region) and L-BFGS / Gauss–Newton
    end at the same point of a smooth (tanh) net, to 1e-6."""
    P = build_problem(Config(**SMOOTH))
    z0 = random_starts(2, 6, seed=3, scale=0.5)
    res = solve(P.objective(), z0, method=method, steps=300)
    r = _scipy_fun(P)
    for s in range(6):
        ref = least_squares(r, z0[s].numpy(), xtol=1e-15, ftol=1e-15, gtol=1e-15)
        np.testing.assert_allclose(res.z[s], ref.x, atol=1e-6)
        assert res.J[s] == pytest.approx(0.5 * float((ref.fun ** 2).sum()), abs=1e-12)


def test_gd_and_adam_agree_with_scipy_minimize_on_the_minimum():
    """GD (Armijo) and Adam end within their tolerance of scipy's BFGS minimiser from the same start."""
    P = build_problem(Config(**SMOOTH))
    r = _scipy_fun(P)
    z0 = random_starts(2, 4, seed=5, scale=0.5)
    for method, tol in (("gd", 1e-4), ("adam", 1e-3)):
        res = solve(P.objective(), z0, method=method, steps=3000)
        for s in range(4):
            ref = minimize(lambda z: 0.5 * float((r(z) ** 2).sum()), z0[s].numpy(), method="BFGS", tol=1e-14)
            np.testing.assert_allclose(res.z[s], ref.x, atol=tol)


def test_lbfgs_first_iterate_equals_torch_optim_lbfgs():
    """The first L-BFGS iteration (direction −∇J, step min(1, 1/‖∇J‖₁), strong-Wolfe search)
    equals one iteration of torch.optim.LBFGS(line_search_fn="strong_wolfe"); the end points agree."""
    P = build_problem(Config(**SMOOTH))
    z0 = random_starts(2, 3, seed=7, scale=0.8)
    one = solve(P.objective(), z0, method="lbfgs", steps=1, keep_path=True)
    full = solve(P.objective(), z0, method="lbfgs", steps=200)
    for s in range(3):
        z = z0[s:s + 1].clone().requires_grad_(True)
        opt = torch.optim.LBFGS([z], lr=1, max_iter=1, line_search_fn="strong_wolfe", history_size=10)

        def closure():
            opt.zero_grad()
            J = P.evaluator.J(z).sum()
            J.backward()
            return J
        opt.step(closure)
        np.testing.assert_allclose(one.paths[1, s], z.detach().numpy()[0], rtol=1e-9, atol=1e-12)
        z = z0[s:s + 1].clone().requires_grad_(True)
        opt = torch.optim.LBFGS([z], lr=1, max_iter=500, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-14, tolerance_change=1e-16)
        opt.step(closure)
        np.testing.assert_allclose(full.z[s], z.detach().numpy()[0], atol=1e-7)


def test_gauss_newton_solves_a_linear_generator_in_one_step():
    """Identity activations: G(z) = M z. Undamped Gauss–Newton lands on the closed-form least-squares
    solution (numpy lstsq on M written out column by column) after one iteration, with noisy y."""
    cfg = Config(activation="identity", dtype="float64", z_star=(0.4, -0.7), mask="random", rate=0.5,
                 noise="gaussian:0.3", noise_seed=2)
    P = build_problem(cfg)
    with torch.no_grad():
        M = torch.stack([P.op.A(P.G(torch.eye(2, dtype=torch.float64)[k:k + 1]))[0] for k in range(2)], 1).numpy()
    z_ls = np.linalg.lstsq(M, P.y.numpy(), rcond=None)[0]
    res = solve(P.objective(), torch.tensor([[3.0, 2.0], [-1.0, 0.5]], dtype=torch.float64),
                method="gauss_newton", damping=0.0, steps=1)
    np.testing.assert_allclose(res.z, np.stack([z_ls, z_ls]), rtol=1e-10, atol=1e-12)
    assert not np.allclose(z_ls, [0.4, -0.7], atol=1e-3)     # the noise moved it: the test can fail


def test_gd_never_increases_J_and_fixed_step_gd_diverges():
    """Armijo GD: J_path is non-increasing for every start. Plain GD with a huge step runs away and is
    labelled diverged (stopped, with no NaN written as a result)."""
    P = build_problem(from_preset("paper-fig4", dtype="float64"))
    starts = random_starts(2, 50, seed=0, scale=2.0)
    d = descend(P, starts, method="gd", lr=10.0, steps=200)
    assert np.all(np.diff(d.J_path, axis=0) <= 1e-12 * d.J_path[:-1] + 1e-300)
    assert d.counts["diverged"] == 0 and d.success_rate >= 0.95
    bad = descend(P, starts, method="gd", lr=10.0, steps=200, safeguard=False)
    assert bad.counts["diverged"] == 50
    assert set(bad.solve.stop) == {"diverged"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("method", METHODS)
def test_every_solver_recovers_paper_fig4(method, dtype):
    """Fig. 4 (ReLU): from 200 random starts every solver recovers z* (≥ 99 %) and none diverges."""
    P = build_problem(from_preset("paper-fig4", dtype=dtype))
    d = descend(P, random_starts(2, 200, seed=1, scale=2.0), method=method, keep_path=False)
    assert d.success_rate >= 0.99, d.counts
    assert d.counts["diverged"] == 0


def test_diagnosis_other_fit_on_mode_collapse():
    """U[0, 1] weights: the solvers end on codes ẑ ≠ z* with G(ẑ) = G(z*) (checked by an independent
    forward pass through G): other_fit, the witnesses of non-injectivity."""
    P = build_problem(from_preset("mode-collapse", dtype="float64"))
    d = descend(P, random_starts(2, 40, seed=0, scale=2.0), keep_path=False)
    fit = d.label == "other_fit"
    assert fit.sum() >= 30, d.counts
    z = torch.tensor(d.paths[-1][fit])
    with torch.no_grad():
        x = P.G(z)
    assert float((x - P.x_star).abs().max()) <= 1e-6
    assert np.all(np.linalg.norm(d.paths[-1][fit] - d.z_star, axis=1) > 1e-3 * np.linalg.norm(d.z_star))


def test_diagnosis_unconverged_on_a_tiny_budget():
    """Five GD steps from far away: J still falling (negative log-J slope: GD's Armijo line search makes
    every step lower J, so the slope's sign is known in advance), not recovered: unconverged."""
    P = build_problem(from_preset("paper-fig4", dtype="float64"))
    d = descend(P, random_starts(2, 20, seed=0, scale=3.0), method="gd", steps=5, keep_path=False)
    assert np.all(np.diff(d.J_path, axis=0) <= 0)          # the premise: J never rises along a GD path
    un = d.label == "unconverged"
    assert un.all(), d.counts
    assert np.all(d.diagnosis.log_slope[un] < 0)
    assert set(d.solve.stop) == {"budget"}


def test_diagnosis_critical_at_a_kink_minimum_of_authors_code():
    """The authors' net with its 10 % strip has a spurious minimum near (−0.162, 0.174): a dense grid
    (independent of the solver) shows J there is the minimum of its ±0.03 window. A solve started
    next to it ends there and is labelled critical (kink); its distance to the ray {−t z*} (written
    out here) is below ε‖z*‖, so it is flagged near that ray."""
    P = build_problem(from_preset("authors-code", dtype="float64"))
    c = np.array([-0.162, 0.174])
    g = np.linspace(-0.03, 0.03, 121)
    U, V = np.meshgrid(g, g)
    Z = np.stack([c[0] + U, c[1] + V], -1).reshape(-1, 2)
    with torch.no_grad():
        J = P.evaluator.J_many(torch.tensor(Z)).numpy()
    zmin = Z[J.argmin()]
    assert np.abs(zmin - c).max() < 0.01 and J.min() > 1e-6 * P.scale     # a minimum, and not a fit
    d = descend(P, np.array([c + [0.004, -0.003]]), keep_path=False)
    assert d.label[0] == "critical" and d.diagnosis.hessian[0] == "kink", (d.counts, d.solve.stop)
    assert np.abs(d.paths[-1][0] - zmin).max() < 2 * (g[1] - g[0])
    z, zs = d.paths[-1][0], d.z_star
    e = -zs / np.linalg.norm(zs)
    dist = np.linalg.norm(z - (z @ e) * e)
    assert z @ e > 0 and dist < 0.15 * np.linalg.norm(zs)
    assert d.diagnosis.near_negative[0]


def test_diagnosis_origin_is_a_critical_point_but_not_a_minimum():
    """ReLU: ∇J(0) = 0 (every pre-activation is 0), so a start at 0 stops at once; the paper says 0 is
    never a minimum (D_z J(0) < 0 along some direction): the Hessian class is not 'minimum'."""
    P = build_problem(from_preset("paper-fig4", dtype="float64"))
    d = descend(P, np.zeros((1, 2)), keep_path=False)
    assert d.label[0] == "critical" and d.diagnosis.hessian[0] in ("saddle", "maximum"), d.diagnosis
    assert d.solve.stop[0] == "gradient"


def test_negation_restart_keeps_the_better_end():
    """negate=True: every start that did not fit was solved again from −ẑ; J never gets worse, and
    the rows marked negated are exactly those where the second solve was lower."""
    P = build_problem(from_preset("authors-code", dtype="float64"))
    starts = random_starts(2, 100, seed=0, scale=2.0)
    a = solve(P.objective(), starts, method="lbfgs", steps=200)
    b = solve(P.objective(), starts, method="lbfgs", steps=200, negate=True)
    assert np.all(b.J <= a.J + 1e-15)
    assert b.negated.any() and np.all(b.J[b.negated] < a.J[b.negated])
    np.testing.assert_array_equal(b.z[~b.negated], a.z[~b.negated])


def test_many_problems_in_one_batch_equal_separate_solves():
    """An Objective over three problems (own y and own mask per row) gives the same ends as three
    separate single-problem solves."""
    base = Config(**{**SMOOTH, "mask": "identity", "z_star": ()})
    P = build_problem(base)
    full = P.evaluator
    singles, targets, weights, zs = [], [], [], []
    for k in range(3):
        Pk = build_problem(base.replace(mask="random", mask_seed=k, z_seed=k, rate=0.5))
        x = Pk.x_star.reshape(-1)
        w = Pk.op.mask.reshape(-1).double()
        targets.append(x)
        weights.append(w)
        zs.append(Pk.z_star)
        singles.append(solve(Pk.objective(), random_starts(2, 4, seed=k), method="lbfgs", steps=200))
    obj = Objective(full, 2, group=torch.arange(3).repeat_interleave(4), target=torch.stack(targets),
                    weight=torch.stack(weights), scale=torch.tensor([0.5 * float((t * w) @ (t * w))
                                                                      for t, w in zip(targets, weights)]),
                    z_star=torch.stack(zs))
    starts = torch.cat([random_starts(2, 4, seed=k) for k in range(3)])
    res = solve(obj, starts, method="lbfgs", steps=200)
    np.testing.assert_allclose(res.z, np.concatenate([s.z for s in singles]), atol=1e-8)


def test_budget_curve_data_is_recorded():
    """error_path: ‖z_t − z*‖/‖z*‖ along the solve, recomputed from the kept paths; seconds grows."""
    P = build_problem(from_preset("paper-fig4", dtype="float64"))
    res = solve(P.objective(), random_starts(2, 8, seed=0, scale=2.0), method="gauss_newton", keep_path=True)
    zs = P.z_star.numpy()
    ref = np.linalg.norm(res.paths - zs, axis=2) / np.linalg.norm(zs)
    np.testing.assert_allclose(res.error_path, ref, rtol=1e-12)
    assert np.all(np.diff(res.seconds) >= 0)


def test_restarts_stop_at_the_first_fit_and_keep_the_lowest_J():
    """solve_restarts against a loop over restarts with separate solves: a trial ends at its first
    restart that fits; a trial with no fit keeps the restart of lowest J."""
    from core.solvers import solve_restarts

    P = build_problem(from_preset("authors-code", dtype="float64"))
    T, R = 200, 3
    starts = random_starts(2, T * R, seed=4, scale=2.0).reshape(T, R, 2)
    obj = Objective(P.evaluator, 2, group=torch.zeros(T, dtype=torch.int64),
                    scale=torch.tensor([P.scale]), floor=torch.zeros(1), z_star=P.z_star[None])
    run = solve_restarts(obj, starts, method="lbfgs", steps=200)
    per = [solve(P.objective(), starts[:, k], method="lbfgs", steps=200) for k in range(R)]
    for t in range(T):
        fits = [k for k in range(R) if per[k].stop[t] == "fit"]
        want = fits[0] if fits else int(np.argmin([per[k].J[t] for k in range(R)]))
        assert run.restart[t] == want and run.used[t] == (want + 1 if fits else R)
        np.testing.assert_allclose(run.best.z[t], per[want].z[t], atol=1e-12)
    assert (run.used > 1).any()


def test_continue_unconverged_equals_a_per_row_continuation():
    """Five GD steps from far away leave every start unconverged; continue_unconverged solves them on,
    up to three more budgets. Reference: a per-row loop that runs solve() and diagnose() on one row at
    a time from its end point, again while it is unconverged (same settings, same radius)."""
    from core.descent import radius_of, solver_settings

    P = build_problem(from_preset("paper-fig4", dtype="float64"))
    obj, radius, cfg = P.objective(), radius_of(P), P.cfg
    settings = {**solver_settings(cfg), "method": "gd", "steps": 5}
    z0 = torch.as_tensor(random_starts(2, 16, seed=0, scale=3.0))
    res = solve(obj, z0, radius=radius, keep_path=False, record=False, **settings)
    diag = diagnose(obj, res, tol=cfg.tol, eps=cfg.eps, radius=radius)
    assert (diag.label == "unconverged").all(), diag.label          # the premise
    got, gdiag, ran = continue_unconverged(obj, res, diag, radius, settings, rounds=3, tol=cfg.tol, eps=cfg.eps)
    for i in range(16):
        z, label, its, k = res.z[i:i + 1], "unconverged", int(res.iterations[i]), 0
        while label == "unconverged" and k < 3:
            r = solve(obj, torch.tensor(z), radius=radius, keep_path=False, record=False, **settings)
            z, label, its, k = r.z, str(diagnose(obj, r, tol=cfg.tol, eps=cfg.eps, radius=radius).label[0]), \
                its + int(r.iterations[0]), k + 1
        assert ran[i] == k and gdiag.label[i] == label and got.iterations[i] == its
        np.testing.assert_allclose(got.z[i], z[0], rtol=1e-9, atol=1e-12)
    assert (gdiag.label == "recovered").sum() > 0 and (ran > 1).any()   # it mattered, over several rounds
    with pytest.raises(ValueError, match="rounds"):
        continue_unconverged(obj, res, diag, radius, settings, rounds=-1)
    with pytest.raises(ValueError, match="rounds"):
        continue_unconverged(obj, res, diag, radius, settings, rounds=True)


def test_lbfgs_rows_still_converging_are_handed_to_gauss_newton_when_asked():
    """escalate=True: after its L-BFGS rounds a row still ``unconverged`` gets as many Gauss–Newton
    budgets of steps // (n0 + 1) iterations. Reference: a per-row loop, solve() and diagnose() one row at a
    time, first with L-BFGS, then with Gauss–Newton, while it is unconverged; without escalate the L-BFGS rounds alone, and Adam is
    never handed on (the paper's recipe stays itself). A linear generator (identity activations), where
    Gauss–Newton's step is nearly the least-squares solution and two L-BFGS steps are not."""
    from core.descent import radius_of, solver_settings

    P = build_problem(Config(activation="identity", dtype="float64", z_star=(0.4, -0.7), mask="random", rate=0.5))
    obj, radius, cfg = P.objective(), radius_of(P), P.cfg
    settings = {**solver_settings(cfg), "method": "lbfgs", "steps": 2}
    res = solve(obj, torch.as_tensor(random_starts(2, 12, seed=3, scale=4.0)), radius=radius, keep_path=False,
                record=False, **settings)
    diag = diagnose(obj, res, tol=cfg.tol, eps=cfg.eps, radius=radius)
    assert (diag.label == "unconverged").all() and (np.asarray(res.stop) == "budget").all()   # the premise
    got, gdiag, ran = continue_unconverged(obj, res, diag, radius, settings, rounds=1, tol=cfg.tol, eps=cfg.eps,
                                           escalate=True)
    plain, pdiag, _ = continue_unconverged(obj, res, diag, radius, settings, rounds=1, tol=cfg.tol, eps=cfg.eps)
    handed = 0
    for i in range(12):
        z, label, k = res.z[i:i + 1], "unconverged", 0
        for method in ("lbfgs", "gauss_newton"):
            if label != "unconverged":
                break
            gn = {"negate": False, "steps": max(1, settings["steps"] // 3)}      # n0 + 1 = 3: the work of one budget
            r = solve(obj, torch.tensor(z), radius=radius, keep_path=False, record=False,
                      **{**settings, "method": method, **(gn if method == "gauss_newton" else {})})
            z, label, k = r.z, str(diagnose(obj, r, tol=cfg.tol, eps=cfg.eps, radius=radius).label[0]), k + 1
            if method == "lbfgs":
                assert pdiag.label[i] == label
                np.testing.assert_allclose(plain.z[i], z[0], rtol=1e-9, atol=1e-12)
        handed += k == 2
        assert ran[i] == k and gdiag.label[i] == label
        np.testing.assert_allclose(got.z[i], z[0], rtol=1e-9, atol=1e-12)
    assert handed > 0 and (pdiag.label == "unconverged").sum() > (gdiag.label == "unconverged").sum()
    adam = {**settings, "method": "adam"}
    _, adiag, aran = continue_unconverged(obj, res, diag, radius, adam, rounds=1, tol=cfg.tol, eps=cfg.eps, escalate=True)
    assert aran.max() <= 1


def test_a_stalled_row_goes_on_from_the_lowest_point_of_the_probe(monkeypatch):
    """A row whose solver stopped before its budget (no step it could take) while the probe saw J fall
    starts its next round from the probe's lowest point; a row the budget stopped starts where it ended.
    Reference: the probe written out by hand (the 2 n0 axis directions, 32 unit vectors from
    torch.randn seeded 0, −∇J/‖∇J‖ and ±ẑ/‖ẑ‖, at 1e-4 and 1e-3 × (1 + ‖ẑ‖)), J at each of its points
    by the generator's plain forward pass, and the lowest taken."""
    import dataclasses

    import core.solvers as solvers
    from core.descent import radius_of, solver_settings

    P = build_problem(from_preset("paper-fig4", dtype="float64"))
    obj, radius, cfg = P.objective(), radius_of(P), P.cfg
    settings = {**solver_settings(cfg), "method": "gd", "steps": 5}
    res = solve(obj, torch.as_tensor(random_starts(2, 6, seed=1, scale=3.0)), radius=radius, keep_path=False,
                record=False, **settings)
    diag = diagnose(obj, res, tol=cfg.tol, eps=cfg.eps, radius=radius)
    assert (diag.label == "unconverged").all()
    stop = np.asarray(res.stop).astype(object)
    stop[[1, 4]] = "stalled"
    res = dataclasses.replace(res, stop=stop.astype(str))
    seen = []
    real = solvers.solve
    monkeypatch.setattr(solvers, "solve", lambda o, z0, **kw: seen.append(z0.clone()) or real(o, z0, **kw))
    continue_unconverged(obj, res, diag, radius, settings, rounds=1, tol=cfg.tol, eps=cfg.eps)
    z0 = seen[0].numpy()

    def J_by_hand(z):
        with torch.no_grad():
            return 0.5 * ((P.op.A(P.G(torch.as_tensor(z))) - P.y) ** 2).sum(1).numpy()

    R = torch.randn(32, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy()
    R /= np.linalg.norm(R, axis=1, keepdims=True)
    for i in range(6):
        z = res.z[i]
        if i not in (1, 4):
            np.testing.assert_array_equal(z0[i], z)
            continue
        _, g = P.evaluator.J_and_grad(torch.as_tensor(z[None]))
        g = g[0].numpy()
        U = np.concatenate([np.eye(2), -np.eye(2), R, [-g / np.linalg.norm(g)], [z / np.linalg.norm(z)],
                            [-z / np.linalg.norm(z)]])
        pts = np.concatenate([z + h * (1 + np.linalg.norm(z)) * U for h in (1e-4, 1e-3)])
        Jp = J_by_hand(pts)
        assert Jp.min() < J_by_hand(z[None])[0]
        np.testing.assert_allclose(z0[i], pts[np.argmin(Jp)], rtol=0, atol=1e-12)


def test_refine_in_float64_continues_rows_still_converging_there_when_asked():
    """Five float32 GD steps: the rows stop on their budget, so float64 only judges them again where
    they are (unconverged). With rounds, those rows get more float64 budgets. Reference:
    continue_unconverged run on the rounds=0 result, on a float64 objective built by hand with the
    same evaluator, scale, floor and z*."""
    from core.descent import radius_of, solver_settings

    P = build_problem(from_preset("paper-fig4", dtype="float32"))
    ev64 = build_problem(from_preset("paper-fig4", dtype="float64")).evaluator
    obj, radius, cfg = P.objective(), radius_of(P), P.cfg
    settings = {**solver_settings(cfg), "method": "gd", "steps": 5}
    res = solve(obj, torch.as_tensor(random_starts(2, 12, seed=0, scale=3.0), dtype=torch.float32),
                radius=radius, keep_path=False, record=False, **settings)
    diag = diagnose(obj, res, tol=cfg.tol, eps=cfg.eps, radius=radius)
    r0, d0, _ = refine_in_float64(obj, ev64, res, diag, radius, settings, tol=cfg.tol, eps=cfg.eps)
    un = d0.label == "unconverged"
    assert un.sum() >= 8 and np.array_equal(r0.iterations, res.iterations)   # the premise: judged only
    r3, d3, _ = refine_in_float64(obj, ev64, res, diag, radius, settings, tol=cfg.tol, eps=cfg.eps, rounds=3)
    assert np.all(r3.iterations[un] > r0.iterations[un]) and (d3.label[un] == "recovered").any()
    assert np.array_equal(r3.z[~un], r0.z[~un]) and np.array_equal(d3.label[~un], d0.label[~un])
    twin = Objective(ev64, obj.n0, scale=obj.scale, floor=obj.floor, z_star=obj.z_star.double())
    ref, dref, _ = continue_unconverged(twin, r0, d0, radius, settings, rounds=3, tol=cfg.tol, eps=cfg.eps)
    assert np.array_equal(d3.label, dref.label) and np.array_equal(r3.iterations, ref.iterations)
    np.testing.assert_allclose(r3.z, ref.z, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_solves_and_diagnoses_run_one_intra_op_thread_and_restore_the_callers(method, threads_seen):
    """Every J and gradient a solve or a diagnosis asks for is computed with one intra-op torch thread
    (a second one waits at every small kernel's barrier when another process holds a core: 1,000
    Adam descents took 5.5 s instead of 1.2 s beside a busy process), whatever the caller set, and
    the caller's count is back afterwards. Reference: torch.get_num_threads() read inside the
    objective's own calls."""
    P = build_problem(from_preset("paper-fig4", dtype="float64"))
    obj = P.objective()
    for name in ("J_and_grad", "J", "residual_and_jacobian"):
        if getattr(obj, name, None) is not None:
            threads_seen(obj, name)
    res = solve(obj, torch.as_tensor(random_starts(2, 8, 0).numpy()), method=method, steps=30)
    diagnose(obj, res)
    assert torch.get_num_threads() == 2
    assert threads_seen.seen and {t for _, t in threads_seen.seen} == {1}


def _fd_jacobian(P, z, h=1e-6):
    """∂(A G(z))/∂z by central differences through G.forward and the operator, float64 (m, n0)."""
    cols = []
    for k in range(z.size):
        e = np.zeros(z.size)
        e[k] = h
        with torch.no_grad():
            f = [P.op.A(P.G(torch.tensor((z + s * e)[None]))).numpy()[0] for s in (1, -1)]
        cols.append((f[0] - f[1]) / (2 * h))
    return np.stack(cols, 1)


@pytest.mark.parametrize("rate", [0.5, 0.004])
def test_rows_still_unconverged_carry_the_condition_of_the_observed_jacobian(rate):
    """continue_unconverged with ``escalate`` gives every row still ``unconverged`` the condition
    number of A ∂G/∂z at its end point, and whether it lies in a valley flat to the precision
    (½ (σ_min tol ‖z*‖)² ≤ 1e-14 · ½‖y‖² in float64); without it, or on the other rows, NaN and False.
    Reference: numpy's SVD of the Jacobian by central differences through G.forward; with one observed
    pixel for two unknowns (rate 0.004 of 17 × 17) σ_min is 0, the condition infinite and every such
    row flat, and the budget note says how many."""
    from core.descent import radius_of, solver_settings
    from core.diagnosis import budget_note

    P = build_problem(from_preset("paper-fig4", dtype="float64", rate=rate))
    obj, radius, cfg = P.objective(), radius_of(P), P.cfg
    settings = {**solver_settings(cfg), "method": "gd", "steps": 5}
    res = solve(obj, torch.as_tensor(random_starts(2, 8, seed=0, scale=3.0)), radius=radius, keep_path=False,
                record=False, **settings)
    diag = diagnose(obj, res, tol=cfg.tol, eps=cfg.eps, radius=radius)
    un = diag.label == "unconverged"
    assert un.sum() >= 4 and np.isnan(diag.end_cond).all() and not diag.flat.any()      # the premise
    _, plain, _ = continue_unconverged(obj, res, diag, radius, settings, rounds=0)
    assert np.isnan(plain.end_cond).all() and not plain.flat.any()
    _, d, _ = continue_unconverged(obj, res, diag, radius, settings, rounds=0, escalate=True, tol=cfg.tol)
    half_y2 = 0.5 * float((P.y ** 2).sum())
    for i in range(8):
        s = np.linalg.svd(_fd_jacobian(P, res.z[i]), compute_uv=False)
        smin = s[-1] if P.op.m >= 2 else 0.0
        if not un[i]:
            assert np.isnan(d.end_cond[i]) and not d.flat[i]
            continue
        assert d.end_cond[i] == (pytest.approx(s[0] / smin, rel=1e-5) if smin else np.inf)
        assert d.flat[i] == (0.5 * (smin * cfg.tol * np.linalg.norm(P.z_star.numpy())) ** 2 <= 1e-14 * half_y2)
    n = int(un.sum())
    assert d.n_flat == int(d.flat.sum()) == (n if P.op.m < 2 else 0)
    note = budget_note({"unconverged": n}, 0, d.n_flat)
    if P.op.m < 2:     # all flat: the note says so and no longer blames the budget
        assert note.startswith(f"{n} unconverged in a valley of J flat to the precision") and "raise the steps" not in note
    else:
        assert note.startswith(f"{n} unconverged: J was still falling") and "flat" not in note
    mixed = budget_note({"unconverged": 5}, None, 2)
    assert mixed.startswith("3 unconverged: J was still falling") and "; 2 unconverged in a valley of J flat" in mixed
    a = d.arrays()
    assert np.array_equal(a["end_cond"], d.end_cond, equal_nan=True) and np.array_equal(a["flat"], d.flat)


@pytest.mark.parametrize("method", METHODS)
def test_a_withdrawn_request_stops_the_solve_at_its_next_iteration(method):
    """Inside stop_when(flag) the solve asks the flag before every iteration (and its evaluations
    before every chunk): set once iteration 3 has ended (its progress callback), the solve raises
    Cancelled before iteration 4 ends. Outside the block, and in another thread inside it, the
    flag is not asked and the same solve runs its budget."""
    import threading

    from core.solvers import Cancelled, stop_when

    P = build_problem(Config(**SMOOTH))
    z0 = random_starts(2, 4, seed=3, scale=0.5) * 4
    stop, iters, asked = [False], [], [0]

    def flag():
        asked[0] += 1
        return stop[0]

    def progress(t, n):
        iters.append(t)
        stop[0] = t >= 3

    with stop_when(flag), pytest.raises(Cancelled):
        solve(P.objective(), z0, method=method, steps=50, progress=progress)
    assert iters == [1, 2, 3] and asked[0] >= 4
    asked[0], stop[0] = 0, True
    with stop_when(flag):
        out = {}
        th = threading.Thread(target=lambda: out.update(r=solve(P.objective(), z0, method=method, steps=5)))
        th.start()
        th.join()
    iters.clear()
    solve(P.objective(), z0, method=method, steps=5, progress=lambda t, n: iters.append(t))
    assert asked[0] == 0 and out["r"].iterations.max() >= 1 and iters[-1] >= 1
