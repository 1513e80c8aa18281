"""``python -m core SUBCOMMAND``: headless, reproducible runs written to .npz.

============  ==================================================================
landscape     J on a grid of a latent plane
descend       batched solves from random starts, every end point diagnosed
basins        a solve from every grid point
solvers       budget curves: fraction recovered against iterations and time, per solver
phase         probability of recovery against the sampling rate, per mask pattern
invert        inversion of a generator over many trials (Fig. 5)
expected      empirical vs expected (closed form and Monte Carlo) landscape
============  ==================================================================

Every subcommand takes one flag per configuration field (:mod:`.flags`); its own flags come
after. Bad input — a flag out of range, a request the cost model refuses, a generator that does
not load, a device that is not there — exits with status 2 and one line naming the flag and what
is allowed (:func:`run`). Every file is written by :func:`core.io.write_npz` and carries the
config's JSON.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

from ..config import ConfigError
from .flags import flag_of

SUBCOMMANDS = ("landscape", "descend", "basins", "solvers", "phase", "invert", "expected")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2
        self.exit(2, f"error: {message}\n")


def build_parser():
    p = _Parser(prog="python -m core", description="Landscapes of J(z) = 1/2 |y - A G(z)|^2 (Ma, Ayaz & Karaman 2018).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    mods = {}
    for name in SUBCOMMANDS:
        mod = importlib.import_module(f"{__name__}.{name}")
        s = sub.add_parser(name, help=mod.HELP, description=mod.__doc__.split("\n")[0])
        mod.add(s)
        s.add_argument("--threads", default="1",
                       help="intra-op torch threads for the rest of the work: the landscape engine, the solvers, "
                            "the critical points, the sigma_min map and the expected landscape run one each (1, "
                            "the default, holds up best on a shared machine)")
        s.add_argument("--out", required=True, help="output .npz file ('.npz' is appended if missing)")
        mods[name] = mod
    return p, mods


_REDUCE = "lower --grid, --starts, --steps, --trials, --restarts or --draws, or the network's size"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:200]


def _fail(msg: str) -> int:
    print("error: " + " ".join(str(msg).split()), file=sys.stderr)
    return 2


def run(argv=None) -> int:
    """Parse ``argv``, run the subcommand, write its file; return the exit status (0 or 2)."""
    import torch

    from ..io import npz_path, write_npz

    parser, mods = build_parser()
    args = parser.parse_args(argv)
    mod = mods[args.command]
    extra = getattr(mod, "FLAGS", {})
    try:
        try:
            threads = int(args.threads)
        except ValueError:
            raise ConfigError("--threads", f"expected an integer, got {args.threads!r}") from None
        if not 1 <= threads <= 256:
            raise ConfigError("--threads", f"must be in [1, 256], got {threads}")
        if os.path.isdir(str(args.out)):
            raise ConfigError("--out", f"{args.out!r} is a folder; give a file name such as "
                                       f"{os.path.join(args.out, 'result.npz')!r}")
        out = npz_path(args.out)
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        try:
            arrays, summary = mod.run(args)
        finally:
            torch.set_num_threads(old)
        try:
            path = write_npz(out, arrays)
        except OSError as e:         # what core.io.write_npz does not turn into a ConfigError itself
            raise ConfigError("--out", f"cannot write {out!r} ({_first_line(e)})") from None
    except ConfigError as e:
        return _fail(f"{flag_of(e.field, extra=extra)}: {str(e).split(': ', 1)[1]}")
    except ValueError as e:          # core's own checks: "field: message"
        field, sep, msg = str(e).partition(": ")
        if sep and field.replace("_", "").isalnum():
            return _fail(f"{flag_of(field, extra=extra)}: {msg}")
        return _fail(str(e))
    except MemoryError:
        return _fail(f"out of memory; {_REDUCE}")
    except RuntimeError as e:        # torch: the allocator, a device, an operation it refuses
        what = "out of memory" if "memory" in str(e).lower() else f"the computation failed ({_first_line(e)})"
        return _fail(f"{what}; {_REDUCE}")
    except OSError as e:             # reading or writing files (--out is checked first, see core.io.npz_path)
        return _fail(f"cannot read a file ({_first_line(e)}); check --generator and --data")
    summary, _, warning = summary.partition("\nwarning: ")   # a subcommand's caveat on its own result
    print(f"{args.command}: {summary}; wrote {path} in {time.perf_counter() - t0:.2f} s")
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def main():
    sys.exit(run())
