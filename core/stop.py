"""Withdrawn requests: a caller's flag that long computations ask between their steps.

A caller that may withdraw its request (the dashboard's Cancel while a job's step runs, or a tab
that has moved to another view while its follow-ups compute) wraps the work in :func:`stop_when`.
Every iteration of :func:`core.solvers.solve`, every Newton step of the critical-point search and
every chunk of a grid evaluation in the calling thread asks the flag (:func:`check_stop`) and raises
:class:`Cancelled` once it is set. The flag lives in the calling thread's context, so other
requests served by other threads are not affected.
"""
from __future__ import annotations

import contextlib
import contextvars

_STOP: contextvars.ContextVar = contextvars.ContextVar("stop", default=None)


class Cancelled(Exception):
    """The caller withdrew the request while its computation ran (:func:`stop_when`)."""


@contextlib.contextmanager
def stop_when(flag):
    """Inside the block, the computations of this thread stop with :class:`Cancelled` once
    ``flag()`` is true."""
    token = _STOP.set(flag)
    try:
        yield
    finally:
        _STOP.reset(token)


def check_stop() -> None:
    """Raise :class:`Cancelled` if the enclosing :func:`stop_when` flag is set."""
    flag = _STOP.get()
    if flag is not None and flag():
        raise Cancelled("the request was withdrawn")
