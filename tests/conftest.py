import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test: small batched kernels gain little from threads, and on a
    shared 2-core machine extra threads cost many times more than they bring."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def threads_seen(monkeypatch):
    """``spy(owner, name)`` wraps ``owner.name`` so that each call records ``(name, intra-op torch
    threads at that moment)`` in ``spy.seen``; the test runs with two threads set by the caller, and
    the caller's count before the test is restored after it."""
    seen = []

    def spy(owner, name):
        f = getattr(owner, name)

        def wrapped(*a, **k):
            seen.append((name, torch.get_num_threads()))
            return f(*a, **k)
        monkeypatch.setattr(owner, name, wrapped)

    spy.seen = seen
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield spy
    torch.set_num_threads(before)
