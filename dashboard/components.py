"""Small pieces of layout shared by the main views and the pages."""
from __future__ import annotations

from dash import dcc


def loading(child, kind: str = "dot", delay_show: int = 300) -> dcc.Loading:
    """``child`` with a spinner while a callback that writes it is running.

    The spinner shows only after ``delay_show`` ms, so quick updates (patches, playback, most
    control changes) do not flash it, and never at page load (``show_initially=False``): shown
    initially, the page's spinners animated from React's first render until the first contour was
    drawn, and beside a busy process those frames' compositing took the first contour from 1.67 to
    1.51 s (``benchmarks/NOTES.md``).
    """
    return dcc.Loading(child, type=kind, delay_show=delay_show, show_initially=False)
