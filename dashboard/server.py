"""Serve an app in a background thread on a free 127.0.0.1 port (tests, benchmark, screenshots)."""
from __future__ import annotations

import contextlib
import threading

from werkzeug.serving import WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # one line per request would drown the test output
        pass


@contextlib.contextmanager
def running(app=None, host: str = "127.0.0.1"):
    """Yield the base URL of ``app`` (default: a fresh :func:`build_app`) served until the block ends."""
    if app is None:
        from .app import build_app

        app = build_app()
    srv = make_server(host, 0, app.server, threaded=True, request_handler=_QuietHandler)
    # Track request threads so server_close() waits for callbacks still computing (a basin tick):
    # killing them at interpreter exit aborts the process inside torch.
    srv.daemon_threads, srv.block_on_close = False, True
    th = threading.Thread(target=srv.serve_forever, name="dashboard-server", daemon=True)
    th.start()
    try:
        yield f"http://{host}:{srv.server_port}"
    finally:
        srv.shutdown()
        th.join(timeout=10)
        srv.server_close()
