"""Plotly figures in Kobe's offline HTML pages (the backtest report, the screen's report,
reflection's report): one way to put a chart into a page and Plotly's JavaScript into
its head, inlined, never loaded from a CDN, so a page opens offline and years later.
A fixed ``div_id`` per chart keeps the same page the same bytes."""

from __future__ import annotations

from typing import Any

import plotly.io as pio  # type: ignore[import-untyped]


def chart_div(fig: Any, div_id: str, height: str = "420px") -> str:
    """``fig`` as an HTML fragment that needs :func:`plotly_script` once in the page."""
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id, default_height=height,
                       config={"displaylogo": False, "responsive": True})


def plotly_script() -> str:
    """Plotly's JavaScript (about 4.8 MB) inlined in a script tag."""
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    return f'<script type="text/javascript">{get_plotlyjs()}</script>'
