"""A job's step cancelled while it runs, as two requests of the dashboard's server would do it."""
import threading


def cancel_in_flight(monkeypatch, module, step_name: str, inflight, tick, cancel):
    """Run ``tick()`` in a thread of its own, its step (``module.step_name``) held at entry until
    ``cancel()`` has been called from this thread → (what cancel returned, what tick returned, how
    many steps ``inflight`` held while the step was inside). The hold ends before the real step
    starts, so its first solver iteration already sees the Cancel; the real step is put back."""
    entered, cancelled = threading.Event(), threading.Event()
    real = getattr(module, step_name)

    def held(job, k):
        entered.set()
        assert cancelled.wait(30)
        return real(job, k)

    monkeypatch.setattr(module, step_name, held)
    out = {}
    th = threading.Thread(target=lambda: out.update(r=tick()))
    th.start()
    try:
        assert entered.wait(30)
        inside = inflight.count()
        now = cancel()
    finally:
        cancelled.set()
        th.join(60)
    monkeypatch.setattr(module, step_name, real)
    return now, out["r"], inside
