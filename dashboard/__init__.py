"""Dash dashboard over :mod:`core`: ``python -m dashboard [--host H] [--port P] [--debug]``.

Files, one job each:

- ``app.py``: :func:`build_app`, the app factory (layout + callbacks, one torch thread per request).
- ``ids.py``: every component id.
- ``layout.py``: the page (sidebar of controls, six views in tabs).
- ``callbacks.py``: one ``register_callbacks(app)``; each body calls plain functions.
- ``state.py``: controls ↔ Config ↔ URL query and the sync decision (no computation).
- ``logic.py``: bounded caches around core calls, and what each view shows.
- ``figures.py``: pure figure builders (arrays in, ``go.Figure`` out).
- ``server.py``, ``browser.py``, ``screenshots.py``: serving in a thread, headless-Chromium helpers,
  ``python -m dashboard.screenshots --out docs/``.
"""
