"""A page's controls in the URL: ``?…&phase.rates=0.02:0.6:8`` reproduces the page as it was.

Each page registers its URL sync with :func:`register_url_sync`: when the page's own keys in the URL
change (a link is opened, the browser goes back) it sets the page's controls from them; when a
control changes it writes them back into the URL, next to the main view's keys (which
:func:`dashboard.state.query_from_state` keeps in the same way). Values from a link are text and are
validated by the page like typed ones.

The main view rewrites the URL on every control change. A clientside callback (``urlSlice`` in
``assets/clientside.js``, called for every page by the one ``shown`` callback that
:mod:`dashboard.callbacks` registers) compares the page's slice of the URL (its own items, as they
stand) with the slice its controls agree with (a store), and the server hears of a URL change only
when they differ: three pages each sent a round trip after every main-view change, for nothing, before.
"""
from __future__ import annotations

from urllib.parse import unquote_plus

from dash import Input, Output, State, ctx, dcc, no_update, set_props

from core import ConfigError

from .. import ids, state
from ..guard import callback


def slice_store(prefix: str) -> dcc.Store:
    """The store of the page's slice of the URL (in the page's layout)."""
    return dcc.Store(id=ids.url_slice(prefix), data="")


def _typed(text, default):
    """A URL value in the type of the control's default (the text itself where it does not parse)."""
    if isinstance(default, bool):
        return text
    if isinstance(default, int):
        try:
            return int(text)
        except (TypeError, ValueError):
            return text
    return text


def _check_value(control_id: str, value, default):
    """A control's value as the browser sent it, of its default's kind (text, a number, a list of
    texts; an emptied text field, None, is ""), or ConfigError naming the control: a forged value is
    never written into the URL."""
    if value is None and isinstance(default, str):
        return ""
    if isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(x, str) for x in value)
        kind = "a list of texts"
    elif isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, (int, float)):
        ok = isinstance(value, (int, float, str)) and not isinstance(value, bool)
        kind = "a number"
    else:
        ok, kind = isinstance(value, str), "text"
    if not ok:
        raise ConfigError(control_id, f"expected {kind}, got {type(value).__name__}")
    return value


def url_slice(search: str | None, prefix: str) -> str:
    """The page's items of ``search`` as they stand (``phase.a=1&phase.b=2``, in order), exactly as
    ``urlSlice`` in ``assets/clientside.js`` cuts them from ``location.search``."""
    items = [kv for kv in (search or "").lstrip("?").split("&") if unquote_plus(kv.split("=")[0]).startswith(prefix)]
    return "&".join(items)


def register_url_sync(app, prefix: str, controls: dict) -> None:
    """URL ↔ the controls ``{name: (component id, default value)}`` under ``prefix``.

    The slice store holds the page's slice of the URL that the controls agree with: the server
    writes it with every URL it writes, and the browser sets it (``shown``, with set_props), which
    sends it to the server, only when the URL's slice differs from it (a link, the browser's back
    and forward).
    """
    names = list(controls)
    defaults = {n: controls[n][1] for n in names}
    store = ids.url_slice(prefix)   # set in the browser by ``shown`` (dashboard.callbacks)

    # No initial call: the store starts empty, and a URL that holds the page's keys fills it on load.
    # The URL is written with set_props, not as a declared output: declared, it closed a cycle in the
    # callback graph (this page → URL → the main view's sync → the page), and the browser's renderer
    # walks everything downstream of each pending callback several times a change (it reached all
    # 129 outputs from here). The URL's listeners still run when it changes.
    @callback(app, [Output(controls[n][0], "value", allow_duplicate=True) for n in names]
              + [Output(store, "data")],
              Input(store, "data"), [Input(controls[n][0], "value") for n in names], State(ids.URL, "search"),
              prevent_initial_call=True)
    def _url_sync(_slice, *values_and_search):
        *values, search = values_and_search
        if search is not None and not isinstance(search, str):
            raise ConfigError("url", "the query must be text")
        if ctx.triggered_id in (None, store):
            got = state.page_values(search, prefix, defaults)
            new = [_typed(got[n], defaults[n]) if not isinstance(defaults[n], list) else got[n] for n in names]
            return [x if x != v else no_update for x, v in zip(new, values)] + [no_update]
        values = [_check_value(controls[n][0], v, defaults[n]) for n, v in zip(names, values)]
        q = state.page_search(search, prefix, dict(zip(names, values)), defaults)
        if q == (search or ""):
            return [no_update] * (len(names) + 1)
        set_props(ids.URL, {"search": q})
        return [no_update] * len(names) + [url_slice(q, prefix)]
