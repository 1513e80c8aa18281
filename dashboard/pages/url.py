"""A page's controls in the URL: ``?…&phase.rates=0.02:0.6:8`` reproduces the page as it was.

Each page registers one callback with :func:`register_url_sync`: when the URL changes (a link is
opened) it sets the page's controls from the page's own keys; when a control changes it writes
them back into the URL, next to the main view's keys (which :func:`dashboard.state.query_from_state`
keeps in the same way). Values from a link are text and are validated by the page like typed ones.
"""
from __future__ import annotations

from dash import Input, Output, ctx, no_update

from .. import ids, state
from ..guard import callback


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


def register_url_sync(app, prefix: str, controls: dict) -> None:
    """One callback: URL ↔ the controls ``{name: (component id, default value)}`` under ``prefix``."""
    names = list(controls)
    defaults = {n: controls[n][1] for n in names}

    @callback(app, [Output(controls[n][0], "value", allow_duplicate=True) for n in names]
              + [Output(ids.URL, "search", allow_duplicate=True)],
              Input(ids.URL, "search"), [Input(controls[n][0], "value") for n in names],
              prevent_initial_call="initial_duplicate")
    def _url_sync(search, *values):
        if ctx.triggered_id in (None, ids.URL):
            got = state.page_values(search, prefix, defaults)
            new = [_typed(got[n], defaults[n]) if not isinstance(defaults[n], list) else got[n] for n in names]
            return [x if x != v else no_update for x, v in zip(new, values)] + [no_update]
        q = state.page_search(search, prefix, dict(zip(names, values)), defaults)
        return [no_update] * len(names) + [q if q != (search or "") else no_update]
