"""Every server callback runs inside :func:`guarded`: a bad or forged input never becomes an HTTP 500.

A callback's inputs come from the browser, so they are checked as if a hostile client had sent
them (bad JSON, out-of-range numbers, wrong types). What the checks reject arrives here as a
:class:`~core.config.ConfigError` naming the field and its allowed range; it is shown in the
banner at the top of the page (``dash.set_props``) and the callback's outputs stay as they are.
Anything else that escapes a callback is shown the same way, in one line, instead of a traceback.
"""
from __future__ import annotations

import functools
import logging

from dash import no_update, set_props
from dash.exceptions import PreventUpdate

from core import ConfigError

from . import ids

log = logging.getLogger(__name__)


def message_of(e: Exception) -> str:
    """One line naming what to change: a ConfigError's own message, else the exception's type and text."""
    if isinstance(e, ConfigError):
        return str(e)
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"request refused ({type(e).__name__}{': ' + text[:300] if text else ''})"


def report(e: Exception, where: str) -> str:
    """The banner's line for ``e``, raised in callback ``where``; logged with its traceback unless it
    is a refused input."""
    if not isinstance(e, (ConfigError, ValueError, TypeError, KeyError)):
        log.error("callback %s failed", where, exc_info=e)
    return message_of(e)


def guarded(fn):
    """Wrap a callback body: errors go to the banner, the outputs are left unchanged."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PreventUpdate:
            raise
        except Exception as e:   # noqa: BLE001 — the last line of defence against a 500
            set_props(ids.BANNER, {"children": report(e, fn.__name__)})
            return no_update
    return wrapper


def callback(app, *args, **kwargs):
    """``app.callback(*args, **kwargs)`` for a :func:`guarded` body."""
    def register(fn):
        return app.callback(*args, **kwargs)(guarded(fn))
    return register
