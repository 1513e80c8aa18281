"""First views first: follow-up work waits while a view that someone is waiting for is computed.

The server runs callbacks in threads, one torch thread each, on however many cores the machine
has. After a control change, a tab's contour arrives and its follow-ups start (the 3-D surface,
the critical points: several times the contour's CPU). With two tabs (or two users) changing at
once, one tab's follow-ups would run beside the other tab's contour and slow it down. A
:class:`Gate` orders them: :meth:`Gate.foreground` marks a computation someone is waiting for,
:meth:`Gate.background` waits until none is running and the last one ended ``grace`` seconds ago,
the time its page takes to draw what it was sent (at most ``max_wait`` seconds in all, so a steady
stream of changes never starves the follow-ups): the first tab's surface, drawn by software WebGL,
otherwise lands on the second tab's contour draw.

One gate per app (``dashboard.callbacks.register_callbacks`` makes it); it holds a counter, no
user's state.
"""
from __future__ import annotations

import contextlib
import threading
import time


class Gate:
    """A counter of foreground computations that background ones wait on."""

    def __init__(self, max_wait: float = 2.0, grace: float = 0.15):
        if not max_wait >= 0:
            raise ValueError(f"max_wait: must be ≥ 0 seconds, got {max_wait!r}")
        if not 0 <= grace <= 10:
            raise ValueError(f"grace: must be in [0, 10] seconds, got {grace!r}")
        self.max_wait, self.grace = float(max_wait), float(grace)
        self._cv = threading.Condition()
        self._running = 0
        self._ended = -float("inf")

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
                self._ended = time.monotonic()
                if self._running == 0:
                    self._cv.notify_all()

    def background(self) -> bool:
        """Wait until no foreground computation runs and the last one ended ``grace`` seconds ago (the
        time its page takes to draw what it sent: True), or ``max_wait`` passed (False)."""
        deadline = time.monotonic() + self.max_wait
        with self._cv:
            while True:
                now = time.monotonic()
                if self._running == 0 and now - self._ended >= self.grace:
                    return True
                if now >= deadline:
                    return False
                wait = deadline - now if self._running else min(deadline - now, self._ended + self.grace - now)
                self._cv.wait(timeout=max(wait, 1e-3))
