"""The gate that lets a contour someone waits for run before another tab's follow-ups."""
import threading
import time

import pytest

from dashboard.priority import Gate


def test_background_passes_at_once_when_nothing_runs():
    assert Gate(max_wait=5).background() is True


def test_background_waits_for_every_foreground_block():
    gate = Gate(max_wait=30)
    order, entered, release = [], [threading.Event(), threading.Event()], [threading.Event(), threading.Event()]

    def front(k):
        with gate.foreground():
            entered[k].set()
            release[k].wait(30)
            order.append(f"front {k} done")

    def back():
        assert gate.background() is True
        order.append("background")

    fronts = [threading.Thread(target=front, args=(k,)) for k in (0, 1)]
    for t in fronts:
        t.start()
    for e in entered:
        assert e.wait(30)
    b = threading.Thread(target=back)
    b.start()
    assert gate.running == 2
    release[0].set()
    fronts[0].join(30)
    b.join(0.2)
    assert b.is_alive() and order == ["front 0 done"]   # one foreground block still runs
    release[1].set()
    fronts[1].join(30)
    b.join(30)
    assert order == ["front 0 done", "front 1 done", "background"] and gate.running == 0


def test_background_gives_up_after_max_wait():
    gate = Gate(max_wait=0.05)
    with gate.foreground():
        t = time.monotonic()
        assert gate.background() is False
        assert time.monotonic() - t >= 0.05


def test_an_error_in_the_foreground_still_releases_the_gate():
    gate = Gate(max_wait=0.01, grace=0)
    with pytest.raises(RuntimeError):
        with gate.foreground():
            raise RuntimeError("boom")
    assert gate.running == 0 and gate.background() is True


@pytest.mark.parametrize("bad", [-1, float("nan")])
def test_max_wait_is_checked(bad):
    with pytest.raises(ValueError, match="max_wait"):
        Gate(max_wait=bad)


def test_background_waits_grace_after_the_last_foreground_block_ended():
    """Reference: the monotonic clock around the calls. Nothing ran: at once. Right after a block
    ended: not before ``grace`` has passed since its end. A grace past ``max_wait``: gives up."""
    gate = Gate(max_wait=5, grace=0.2)
    t = time.monotonic()
    assert gate.background() is True and time.monotonic() - t < 0.1
    with gate.foreground():
        pass
    ended = time.monotonic()
    assert gate.background() is True and time.monotonic() - ended >= 0.2 - 1e-3
    t = time.monotonic()
    assert gate.background() is True and time.monotonic() - t < 0.1     # the grace has passed already
    short = Gate(max_wait=0.05, grace=1.0)
    with short.foreground():
        pass
    t = time.monotonic()
    assert short.background() is False and 0.05 <= time.monotonic() - t < 0.5
    for bad in (-0.1, float("nan"), 11):
        with pytest.raises(ValueError, match="grace"):
            Gate(grace=bad)


def test_latest_stops_the_follow_ups_of_a_view_the_tab_has_left():
    """Latest: a tab's follow-up of key k1 gets a flag that turns true once the tab notes k2 (and
    the follow-ups of k1 that start after that get None); noting the same key again stops nothing;
    other tabs are untouched; a forged or unknown tab id is never stopped; the oldest tab goes
    first past the bound."""
    from dashboard.priority import Latest, new_tab_id

    latest = Latest(tabs=2)
    a, b, c = new_tab_id(), new_tab_id(), new_tab_id()
    assert len(a) == 32 and a != b
    latest.note(a, "k1")
    latest.note(b, "k1")
    fa, fb = latest.flag(a, "k1"), latest.flag(b, "k1")
    latest.note(a, "k1")
    assert not fa() and not fb()
    latest.note(a, "k2")
    assert fa() and not fb() and latest.flag(a, "k1") is None and not latest.flag(a, "k2")()
    for forged in (None, 7, "x" * 32, a.upper(), a + "0"):
        latest.note(forged, "k3")
        assert not latest.flag(forged, "k9")()
    latest.note(c, "k1")                     # past the bound of 2 the tab noted longest ago (b) is forgotten
    assert latest.flag(b, "k9")() is False and latest.flag(a, "k1") is None
    with pytest.raises(ValueError, match="tabs"):
        Latest(tabs=0)


def _waiter(gate, tab=None):
    """A thread running gate.background(tab); its result and end time land in the returned dict."""
    out = {}

    def run():
        out["ok"] = gate.background(tab)
        out["t"] = time.monotonic()

    th = threading.Thread(target=run)
    th.start()
    return th, out


def test_follow_ups_wait_until_every_other_tab_has_painted_its_contour():
    """Two tabs sent contours (``sent``): a follow-up of tab a (``background(a)``: a has painted its
    own) waits while b has not painted; b's first follow-up (``painted(b)``) releases it at once,
    long before ``paint_wait``. A follow-up with no tab id waits for both."""
    from dashboard.priority import new_tab_id

    gate = Gate(max_wait=30, grace=0, paint_wait=9)
    a, b = new_tab_id(), new_tab_id()
    gate.sent(a)
    gate.sent(b)
    th, out = _waiter(gate, a)
    th.join(0.3)
    assert th.is_alive() and not out                   # b's contour is not painted yet
    anon, anon_out = _waiter(gate)
    released = time.monotonic()
    gate.painted(b)
    th.join(5)
    anon.join(5)
    assert out["ok"] is True and anon_out["ok"] is True
    assert out["t"] - released < 1 and anon_out["t"] - released < 1
    # a's own contour was marked painted by its follow-up: b's follow-ups do not wait for a.
    t = time.monotonic()
    assert gate.background(b) is True and time.monotonic() - t < 0.5


def test_a_tab_that_never_paints_holds_others_for_paint_wait_at_most():
    """Reference: the monotonic clock. A contour sent to a tab that never asks for its follow-ups (closed,
    or on another view) holds another tab's follow-ups ``paint_wait`` seconds from when it was sent,
    no longer; past ``max_wait`` the wait gives up (False) as for a foreground block."""
    from dashboard.priority import new_tab_id

    gate = Gate(max_wait=5, grace=0, paint_wait=0.3)
    gone, here = new_tab_id(), new_tab_id()
    sent = time.monotonic()
    gate.sent(gone)
    assert gate.background(here) is True
    waited = time.monotonic() - sent
    assert 0.3 - 1e-3 <= waited < 1.5
    t = time.monotonic()
    assert gate.background(here) is True and time.monotonic() - t < 0.1   # expired: forgotten
    short = Gate(max_wait=0.05, grace=0, paint_wait=5)
    short.sent(gone)
    t = time.monotonic()
    assert short.background(here) is False and 0.05 <= time.monotonic() - t < 0.5


def test_forged_tab_ids_hold_nothing_and_the_tabs_are_bounded():
    """A forged or missing tab id is neither recorded by ``sent`` nor released by ``painted``; past
    ``tabs`` unpainted tabs the one sent longest ago is forgotten (so a flood of tab ids costs a
    bounded table and no wait beyond ``paint_wait`` of the newest)."""
    from dashboard.priority import new_tab_id

    gate = Gate(max_wait=0.2, grace=0, paint_wait=9, tabs=2)
    for forged in (None, 7, "x" * 32, "A" * 32, "0" * 33, {"tab": 1}):
        gate.sent(forged)
        gate.painted(forged)
    assert gate.background() is True
    a, b, c = new_tab_id(), new_tab_id(), new_tab_id()
    for tab in (a, b, c):
        gate.sent(tab)
    gate.painted(b)
    gate.painted(c)                              # a was forgotten past the bound of 2
    t = time.monotonic()
    assert gate.background() is True and time.monotonic() - t < 0.1
    for kw, name in (({"paint_wait": -1}, "paint_wait"), ({"paint_wait": float("nan")}, "paint_wait"),
                     ({"paint_wait": 11}, "paint_wait"), ({"tabs": 0}, "tabs"), ({"tabs": 2.5}, "tabs")):
        with pytest.raises(ValueError, match=name):
            Gate(**kw)
