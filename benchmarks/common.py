"""What every benchmark script shares: the machine's matmul rate, best-of timing, one busy process.

Every script prints two columns in the same run: "idle" (the machine as it is; the load average is
printed beside it) and "1 busy" (one busy-looping process started by :class:`Busy` beside it), as a
real machine is never idle.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import torch


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """The float32 matmul rate of this process (torch's current thread count), GFLOP/s, best of ``repeats``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def best_time(fn, repeats: int) -> float:
    """The fastest of ``repeats`` calls of ``fn`` after one warm-up call, in seconds."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def load_average() -> float:
    return os.getloadavg()[0]


class Busy:
    """One busy-looping process beside the benchmark while the block runs (stopped by its pid).

    It runs in a session of its own, as work started elsewhere (a training run, another user's
    job) would: with the kernel's autogroup scheduling a process of the benchmark's own session
    shares that session's CPU share with the benchmark, the browser and the server, and took less
    of the machine than another session's would (benchmarks/NOTES.md, "Two tabs, a fourth look").
    """

    def __enter__(self):
        self.p = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.p.terminate()
        self.p.wait()


COLUMNS = ("idle", "1 busy")


def columns(fn, busy: bool = True) -> dict:
    """``{"idle": fn(), "1 busy": fn()}``, the second with one :class:`Busy` process beside it."""
    out = {"idle": fn()}
    if busy:
        with Busy():
            out["1 busy"] = fn()
    return out


def timings(fn, repeats: int, warmup=None) -> list:
    """Wall seconds of ``repeats`` calls of ``fn``, after one untimed call of ``warmup`` (default ``fn``;
    pass ``False`` for none). The spread of the list is part of the result on a shared machine."""
    if warmup is not False:
        (warmup or fn)()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def spread(values) -> tuple:
    """(median, min, max) of ``values``."""
    v = sorted(values)
    n = len(v)
    med = v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])
    return med, v[0], v[-1]


def print_table(title: str, rows, headers=("idle", "1 busy", "target")) -> None:
    """``rows``: (name, cell, cell, …) strings; the first column is left-aligned, the others right."""
    rows = [tuple(str(c) for c in r) for r in rows]
    w = [max(len(r[i]) for r in rows + [("",) + tuple(headers)]) for i in range(len(headers) + 1)]
    print(title)
    line = f"{'':<{w[0]}}" + "".join(f"  {h:>{w[i + 1]}}" for i, h in enumerate(headers))
    print(line)
    print("-" * len(line))
    for r in rows:
        print(f"{r[0]:<{w[0]}}" + "".join(f"  {c:>{w[i + 1]}}" for i, c in enumerate(r[1:])))
