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

:class:`Latest` stops what a tab no longer waits for: each page gets a random tab id with its first
sync, the sync notes the config the tab now shows, and a follow-up of an older config stops at its
solver's or Newton search's next iteration (``core.stop.stop_when``). Dash drops the late answer
anyway; without this the server finished it (a shipped DCGAN's critical points take seconds).
"""
from __future__ import annotations

import contextlib
import re
import secrets
import threading
import time
from collections import OrderedDict

TAB_ID = re.compile(r"[0-9a-f]{32}")


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


def new_tab_id() -> str:
    """A page's random id (what :class:`Latest` keys its tabs by)."""
    return secrets.token_hex(16)


def tab_id(value) -> str | None:
    """``value`` if it is a tab id (32 hexadecimal digits), else None: a forged or missing id
    just leaves the tab's follow-ups unstoppable."""
    return value if isinstance(value, str) and TAB_ID.fullmatch(value) else None


class Latest:
    """The key of the view each tab shows now; the follow-ups of a key the tab has left stop.

    Holds at most ``tabs`` tabs (the least recently noted go first): a tab it forgot runs its
    follow-ups to the end, as every tab did before.
    """

    def __init__(self, tabs: int = 512):
        if not (isinstance(tabs, int) and tabs >= 1):
            raise ValueError(f"tabs: must be a positive integer, got {tabs!r}")
        self.tabs = tabs
        self._lock = threading.Lock()
        self._now: OrderedDict[str, tuple[str, threading.Event]] = OrderedDict()

    def note(self, tab, key: str) -> None:
        """Tab ``tab`` now shows ``key``: the follow-ups of any other key of it stop."""
        tab = tab_id(tab)
        if tab is None:
            return
        with self._lock:
            old = self._now.get(tab)
            if old is not None and old[0] == key:
                self._now.move_to_end(tab)
                return
            self._now[tab] = (key, threading.Event())
            self._now.move_to_end(tab)
            while len(self._now) > self.tabs:
                self._now.popitem(last=False)
        if old is not None:
            old[1].set()

    def flag(self, tab, key: str):
        """The stop flag (a callable) of a follow-up of ``key`` in ``tab``; None when the tab has
        already left ``key`` (nothing to compute)."""
        tab = tab_id(tab)
        with self._lock:
            now = self._now.get(tab) if tab is not None else None
        if now is None:
            return lambda: False
        if now[0] != key:
            return None
        return now[1].is_set
