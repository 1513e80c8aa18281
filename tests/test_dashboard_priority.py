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
