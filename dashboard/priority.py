"""First views first: follow-up work waits while a view that someone is waiting for is computed.

The server runs callbacks in threads, one torch thread each, on however many cores the machine
has. After a control change, a tab's contour arrives and its follow-ups start (the 3-D surface,
the critical points: several times the contour's CPU). With two tabs (or two users) changing at
once, one tab's follow-ups would run beside the other tab's contour and slow it down. A
:class:`Gate` orders them: :meth:`Gate.foreground` marks a computation someone is waiting for,
:meth:`Gate.background` waits until none is running (at most ``max_wait`` seconds, so a steady
stream of changes never starves the follow-ups).

One gate per app (``dashboard.callbacks.register_callbacks`` makes it); it holds a counter, no
user's state.
"""
from __future__ import annotations

import contextlib
import threading


class Gate:
    """A counter of foreground computations that background ones wait on."""

    def __init__(self, max_wait: float = 2.0):
        if not max_wait >= 0:
            raise ValueError(f"max_wait: must be ≥ 0 seconds, got {max_wait!r}")
        self.max_wait = float(max_wait)
        self._cv = threading.Condition()
        self._running = 0

    @property
    def running(self) -> int:
        """How many foreground computations run now."""
        with self._cv:
            return self._running

    @contextlib.contextmanager
    def foreground(self):
        """Mark the block as a computation someone is waiting for."""
        with self._cv:
            self._running += 1
        try:
            yield
        finally:
            with self._cv:
                self._running -= 1
                if self._running == 0:
                    self._cv.notify_all()

    def background(self) -> bool:
        """Wait until no foreground computation runs (True), or ``max_wait`` passed (False)."""
        with self._cv:
            return self._cv.wait_for(lambda: self._running == 0, timeout=self.max_wait)
