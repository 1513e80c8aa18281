"""First views first: follow-up work waits while a view that someone is waiting for is computed.

The server runs callbacks in threads, one torch thread each, on however many cores the machine
has. After a control change, a tab's contour arrives and its follow-ups start (the 3-D surface,
the critical points: several times the contour's CPU). With two tabs (or two users) changing at
once, one tab's follow-ups would run beside the other tab's contour and slow it down. A
:class:`Gate` orders them: :meth:`Gate.foreground` marks a computation someone is waiting for,
:meth:`Gate.background` waits until none is running, the last one ended ``grace`` seconds ago and
every tab sent a contour (:meth:`Gate.sent`) has painted it (:meth:`Gate.painted`: its follow-ups'
first request, which the browser sends once the contour is on the screen, says so; a tab that
never says so is waited for ``paint_wait`` seconds at most). In all the wait lasts ``max_wait``
seconds at most, so a steady stream of changes never starves the follow-ups. Without it the first
tab's follow-ups (their server work, then the surface drawn by software WebGL) landed on the second
tab's contour draw: the server's ``grace`` alone ends before a second tab, beside a busy process,
has drawn what it was sent.

One gate per app (``dashboard.callbacks.register_callbacks`` makes it); it holds a counter and, per
tab waited for, its random id and a time: no user's state.

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
    """A counter of foreground computations, and the tabs whose contour is not painted yet, that
    background computations wait on."""

    def __init__(self, max_wait: float = 2.0, grace: float = 0.15, paint_wait: float = 1.0, tabs: int = 64):
        if not max_wait >= 0:
            raise ValueError(f"max_wait: must be ≥ 0 seconds, got {max_wait!r}")
        if not 0 <= grace <= 10:
            raise ValueError(f"grace: must be in [0, 10] seconds, got {grace!r}")
        if not 0 <= paint_wait <= 10:
            raise ValueError(f"paint_wait: must be in [0, 10] seconds, got {paint_wait!r}")
        if not (isinstance(tabs, int) and tabs >= 1):
            raise ValueError(f"tabs: must be a positive integer, got {tabs!r}")
        self.max_wait, self.grace, self.paint_wait, self.tabs = float(max_wait), float(grace), float(paint_wait), tabs
        self._cv = threading.Condition()
        self._running = 0
        self._ended = -float("inf")
        self._unpainted: OrderedDict[str, float] = OrderedDict()   # tab → when its contour was sent

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

    @property
    def unpainted(self) -> tuple:
        """The tabs sent a contour they have not said they painted (at most ``paint_wait`` ago)."""
        with self._cv:
            now = time.monotonic()
            return tuple(t for t, at in self._unpainted.items() if now - at < self.paint_wait)

    def sent(self, tab) -> None:
        """A contour for tab ``tab`` was sent: until that tab says it has painted it (:meth:`background`
        with its id), or ``paint_wait`` seconds pass, other tabs' follow-ups wait."""
        tab = tab_id(tab)
        if tab is None:
            return
        with self._cv:
            self._unpainted[tab] = time.monotonic()
            self._unpainted.move_to_end(tab)
            while len(self._unpainted) > self.tabs:
                self._unpainted.popitem(last=False)

    def painted(self, tab) -> None:
        """Tab ``tab`` has painted the contour it was sent (its follow-ups' requests say so)."""
        tab = tab_id(tab)
        if tab is None:
            return
        with self._cv:
            if self._unpainted.pop(tab, None) is not None:
                self._cv.notify_all()

    def _held_until(self, now: float) -> float | None:
        """When the wait may end (None: it may now), under the lock."""
        for tab, t in list(self._unpainted.items()):
            if now - t >= self.paint_wait:
                del self._unpainted[tab]
        if self._running:
            return float("inf")
        until = self._ended + self.grace
        if self._unpainted:
            until = max(until, min(self._unpainted.values()) + self.paint_wait)
        return until if until > now else None

    def background(self, tab=None) -> bool:
        """Wait until no foreground computation runs, the last one ended ``grace`` seconds ago (the
        time its page takes to draw what it sent) and every other tab has painted the contour it was
        last sent (True), or ``max_wait`` passed (False). ``tab``: the id of the tab asking, whose
        follow-ups come once it has painted its own contour."""
        self.painted(tab)
        deadline = time.monotonic() + self.max_wait
        with self._cv:
            while True:
                now = time.monotonic()
                until = self._held_until(now)
                if until is None:
                    return True
                if now >= deadline:
                    return False
                self._cv.wait(timeout=max(min(deadline, until) - now, 1e-3))


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
