"""One runner for the dashboard's long jobs (the basin map, the phase transition), cancellable between steps.

A job is a JSON dict that lives in the browser (a ``dcc.Store``); the server keeps nothing. A
one-shot ``dcc.Interval`` asks for the next step; each answered step re-arms it for exactly one
more tick, so steps never overlap however slow the machine (a free-running timer would let Dash
supersede a slow step's request with the next tick's, whose State is still the old job, and the
job would never advance). Each step does as many *units* (rows of the basin map, cells of the
phase diagram or parts of a cell) as fit in :data:`STEP_BUDGET_S`, from the measured seconds per
unit, and the work of one unit is bounded by the cost model before the job starts. Cancel and
the timer are inputs of the page's one job callback, so a Cancel pressed during a step shows at
once: Dash drops the answer of the earlier call when it comes (a browser test holds a step 3 s
and checks it). The step in flight is stopped too: each job carries a random ``token``, the app's
:class:`InFlight` knows which tokens have a step running, and a Cancel (or a new Start) sets that
step's flag, which every solver iteration inside the step asks (``core.stop.stop_when``): the
server stops within one iteration instead of finishing the step (up to ~20 s for one cell of the
Phase page's MNIST example, measured 3–23 s a cell).

A job::

    {"kind": "basins" | "phase", "key": <what it computes, JSON>, "total": units, "done": units,
     "status": "running" | "done" | "cancelled" | "failed", "message": str,
     "sec_per_unit": float or None, "seconds": float, "cancel_clicks": int, "token": 16 hex digits,
     "data": {...}}

``data`` is the kind's own partial result. Every job that comes back from the browser is checked
(:func:`validate`) as if it were forged.
"""
from __future__ import annotations

import contextlib
import math
import re
import secrets
import threading
import time

from core import ConfigError
from core.stop import Cancelled, stop_when

STATUSES = ("running", "done", "cancelled", "failed")
STEP_BUDGET_S = 0.8     # wall time one step aims for
TICK_MS = 120           # pause between a finished step and the next
MAX_UNITS = 10_000      # no job has more units than this
TOKEN = re.compile(r"[0-9a-f]{16}")


class InFlight:
    """The job steps running now, by job token: a Cancel or a new Start that arrives while its job's
    step runs sets that step's flag, and the step's solves stop at their next iteration.

    One per app (its callbacks hold it); a token is held only while its step runs.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._flags: dict[str, threading.Event] = {}

    @contextlib.contextmanager
    def running(self, token):
        """Yield the stop flag (a callable) of a step of the job ``token`` (None: never stopped)."""
        if token is None:
            yield lambda: False
            return
        ev = threading.Event()
        with self._lock:
            self._flags[token] = ev
        try:
            yield ev.is_set
        finally:
            with self._lock:
                if self._flags.get(token) is ev:
                    del self._flags[token]

    def cancel(self, token) -> bool:
        """Stop the step of job ``token`` if one runs; whether one did."""
        with self._lock:
            ev = self._flags.get(token) if isinstance(token, str) else None
        if ev is not None:
            ev.set()
        return ev is not None

    def count(self) -> int:
        """How many steps run now."""
        with self._lock:
            return len(self._flags)


def new(kind: str, key: str, total: int, data: dict, cancel_clicks: int = 0) -> dict:
    """A fresh running job of ``total`` units."""
    return {"kind": kind, "key": key, "total": int(total), "done": 0, "status": "running", "message": "",
            "sec_per_unit": None, "seconds": 0.0, "cancel_clicks": int(cancel_clicks or 0),
            "token": secrets.token_hex(8), "data": data}


def validate(job, kind: str) -> dict:
    """The job as sent back by the browser, checked field by field.

    Raises
    ------
    ConfigError
        Naming ``job`` and what is wrong with it.
    """
    if not isinstance(job, dict):
        raise ConfigError("job", f"expected a mapping, got {type(job).__name__}")
    need = {"kind": str, "key": str, "total": int, "done": int, "status": str, "cancel_clicks": int, "data": dict}
    for name, t in need.items():
        v = job.get(name)
        if not isinstance(v, t) or (t is int and isinstance(v, bool)):
            raise ConfigError("job", f"{name} must be {t.__name__}, got {v!r}")
    if job["kind"] != kind:
        raise ConfigError("job", f"kind must be {kind!r}, got {job['kind']!r}")
    if job["status"] not in STATUSES:
        raise ConfigError("job", f"status must be one of {', '.join(STATUSES)}, got {job['status']!r}")
    if not 1 <= job["total"] <= MAX_UNITS:
        raise ConfigError("job", f"total must be in [1, {MAX_UNITS}], got {job['total']}")
    if not 0 <= job["done"] <= job["total"]:
        raise ConfigError("job", f"done must be in [0, total = {job['total']}], got {job['done']}")
    token = job.get("token")
    if token is not None and not (isinstance(token, str) and TOKEN.fullmatch(token)):
        raise ConfigError("job", f"token must be 16 hexadecimal digits or absent, got {str(token)[:40]!r}")
    spu = job.get("sec_per_unit")
    if spu is not None and (isinstance(spu, bool) or not isinstance(spu, (int, float)) or not math.isfinite(spu)
                            or spu < 0):
        raise ConfigError("job", f"sec_per_unit must be a non-negative number or null, got {spu!r}")
    return job


def units_for(job: dict, budget_s: float = STEP_BUDGET_S) -> int:
    """How many units the next step does: one first, then as many as fit in ``budget_s``."""
    left = job["total"] - job["done"]
    spu = job.get("sec_per_unit")
    if not spu:
        return min(1, left)
    return int(max(1, min(left, budget_s // spu)))


def advance(job: dict, step, budget_s: float = STEP_BUDGET_S, inflight: InFlight | None = None) -> dict:
    """Run one step: ``step(job, k) → (data, units done)`` does the next k units (or fewer, when a
    unit boundary of its own comes first); errors end the job as failed. With ``inflight``, a
    Cancel that arrives meanwhile stops the step (the job comes back cancelled, its units undone)."""
    if job["status"] != "running" or job["done"] >= job["total"]:
        return job
    k = units_for(job, budget_s)
    t0 = time.perf_counter()
    try:
        with (inflight or InFlight()).running(job.get("token")) as flag, stop_when(flag):
            data, k = step(job, k)
    except Cancelled:
        return {**job, "status": "cancelled"}
    except ConfigError as e:
        return {**job, "status": "failed", "message": str(e)}
    except (ValueError, RuntimeError, MemoryError) as e:
        return {**job, "status": "failed", "message": f"{job['kind']}: {type(e).__name__}: {e}"}
    dt = time.perf_counter() - t0
    done = job["done"] + k
    return {**job, "data": data, "done": done, "sec_per_unit": dt / max(k, 1), "seconds": job.get("seconds", 0.0) + dt,
            "status": "done" if done >= job["total"] else "running"}


def drive(trigger: str | None, job: dict | None, *, start: str, cancel: str, kind: str, make, step,
          cancel_clicks: int = 0, key: str | None = None, check=None,
          inflight: InFlight | None = None) -> tuple[dict | None, bool, str]:
    """Start, cancel or advance a job → (job, still running, message).

    Parameters
    ----------
    trigger : str or None
        The id that fired: ``start``, ``cancel`` or the timer.
    job : dict or None
        The job in the browser (checked with :func:`validate`).
    make : callable
        ``make() → job`` for a Start; raises ConfigError naming the control to change.
    step : callable
        ``step(job, k) → (data, units done)`` (see :func:`advance`).
    cancel_clicks : int
        The Cancel button's count now: a tick answered after a Cancel sees it grown and stops.
    key : str, optional
        What the job must still compute; a job whose key differs (the config changed) stops.
    check : callable, optional
        ``check(job)``: the kind's own checks of a job sent back by the browser (raises ConfigError).
    inflight : InFlight, optional
        The app's running steps: a Start or Cancel stops the step of ``job`` that is still running.
    """
    cancel_clicks = cancel_clicks if isinstance(cancel_clicks, int) and not isinstance(cancel_clicks, bool) else 0
    if trigger == start:
        try:
            new = make()
        except ConfigError as e:
            return job, False, str(e)
        if inflight is not None and isinstance(job, dict):
            inflight.cancel(job.get("token"))         # the job it replaces stops computing
        return new, True, ""
    if job is None:
        return None, False, ""
    job = validate(job, kind)
    if check is not None:
        check(job)
    if job["status"] != "running":
        return job, False, job.get("message", "")
    if trigger == cancel or cancel_clicks > job["cancel_clicks"]:
        if inflight is not None:
            inflight.cancel(job.get("token"))
        return {**job, "status": "cancelled"}, False, ""
    if key is not None and job["key"] != key:
        return {**job, "status": "cancelled"}, False, f"{kind}: the settings changed; press Start again"
    job = advance(job, step, inflight=inflight)
    return job, job["status"] == "running", job.get("message", "")
