"""Inversion of a generator from partial measurements over many trials (the paper's Fig. 5).

Writes ``z_star``, ``z_hat`` (T, n0), ``success``, ``latent_error``, ``diagnosis`` (T,) with its
numbers, ``psnr``, ``psnr_hidden``, ``sigma_min`` and ``cond`` (the masked Jacobian at z*),
``crb_rel`` (the linearised Cramér–Rao reference under noise), ``continued`` (the extra budgets a
trial still converging got) and ``config``. Trials still ``unconverged`` after those budgets are
counted on stderr: the budget, not the landscape, ended them. The summary names the first misses
with the ``--z-seed`` (and ``--noise-seed``) whose landscape is theirs (``trial_seed``,
``trial_noise_seed``).
"""
from __future__ import annotations

import numpy as np

from ..diagnosis import CONTINUE_ROUNDS
from ..inversion import EXTRA_BUDGETS_MAX, INVERT_LIMITS, TARGETS, InvertSpec, run_inversion
from .common import budget_warning, cli_check, parse_float, parse_int
from .flags import add_config_flags, config_from_args

MISSES_SHOWN = 5    # misses named in the summary, each with the --z-seed of its landscape
HELP = "invert a generator from partial measurements over many trials (Fig. 5)"
FLAGS = {"trials": "--trials", "restarts": "--restarts", "target": "--target", "start_scale": "--start-scale",
         "extra_budgets": "--extra-budgets"}


def add(p):
    add_config_flags(p, preset=None)
    p.add_argument("--trials", default="100", help=f"number of draws T, in [1, {INVERT_LIMITS['trials']}]")
    p.add_argument("--restarts", default="4", help="random starts per draw, tried until one fits")
    p.add_argument("--target", default="latent", help=f"one of {', '.join(TARGETS)}: x = G(z*) (in range) or "
                                                      "real test images (out of range, shipped generators)")
    p.add_argument("--start-scale", default="1.0", help="starts are drawn N(0, scale^2 I)")
    p.add_argument("--extra-budgets", default=str(CONTINUE_ROUNDS),
                   help=f"more budgets, up to this many in [0, {EXTRA_BUDGETS_MAX}], for a draw still converging when "
                        "its budget ran out, then as many Gauss-Newton ones for L-BFGS's (0: exactly the budget, as "
                        "the paper's Adam-500 recipe)")
    p.add_argument("--data", default=None, help="data folder for --target real (default ../shared/data)")


def run(args):
    from ..config import ConfigError

    cfg = config_from_args(args, {} if args.preset else {"generator": "mnist"})
    if args.target not in TARGETS:
        raise ConfigError("--target", f"must be one of {', '.join(TARGETS)}; got {args.target!r}")
    spec = InvertSpec(config=cfg, trials=parse_int("--trials", args.trials, 1, INVERT_LIMITS["trials"]),
                      restarts=parse_int("--restarts", args.restarts, 1, INVERT_LIMITS["restarts"]),
                      target=args.target, start_scale=parse_float("--start-scale", args.start_scale, 1e-6, 1e4),
                      extra_budgets=parse_int("--extra-budgets", args.extra_budgets, 0, EXTRA_BUDGETS_MAX))
    cli_check(cfg, "invert", FLAGS, trials=spec.trials, restarts=spec.restarts, extra_budgets=spec.extra_budgets)
    try:
        res = run_inversion(spec, data=args.data)
    except FileNotFoundError as e:
        raise ConfigError("--data", str(e)) from None
    except OSError as e:          # the data files (IDX) of --target real
        raise ConfigError("--data", f"cannot read the test images ({e})") from None
    counts = ", ".join(f"{k} {v}" for k, v in res.diagnosis.counts.items() if v)
    if spec.target == "latent":
        summary = (f"{cfg.generator} {cfg.mask} x{spec.trials}: success {res.success_rate:.2f} ({counts}), "
                   f"median |z_hat-z*|/|z*| {np.median(res.latent_error):.2e}, median PSNR {np.median(res.psnr):.1f} dB")
        miss = np.flatnonzero(~res.success)
        if miss.size:
            noisy = cfg.noise not in ("", "none")

            def seeds(t):
                return f"--z-seed {res.trial_seed[t]}" + (f" --noise-seed {res.trial_noise_seed[t]}" if noisy else "")
            shown = ", ".join(f"#{t} {res.diagnosis.label[t]} ({seeds(t)})" for t in miss[:MISSES_SHOWN])
            more = f" and {miss.size - MISSES_SHOWN} more" if miss.size > MISSES_SHOWN else ""
            summary += f"\nmisses: {shown}{more}; a draw's landscape: `landscape` with this run's flags and the draw's in brackets"
    else:
        summary = (f"{cfg.generator} real {cfg.mask} x{spec.trials}: median PSNR hidden "
                   f"{np.nanmedian(res.psnr_hidden):.1f} dB (mean-image baseline {np.nanmedian(res.baseline_psnr_hidden):.1f} dB)")
    return res.arrays(), summary + budget_warning(res.diagnosis.label, spec.extra_budgets, res.diagnosis.n_flat)
