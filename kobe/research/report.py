"""The screen's report: one HTML file that opens from disk, with no network
(``kobe research screen --report screen.html``).

Top to bottom: the period, universe and folds; the ranked table the terminal prints; each
alpha's mean IC in each fold at the shortest horizon (a heat map); for each horizon the cumulative daily IC of every alpha over the whole screen period (the
fold boundaries drawn, so a slope that changes at a fold shows), and the mean forward
return of each quintile of every alpha out of sample; then the IC of each alpha across
the horizons (its decay). Plotly's JavaScript is inlined once in the head, as in the
backtest report (:mod:`kobe.backtest.report`), and the figures get fixed element ids,
so the same screen gives the same bytes.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import plotly.graph_objects as go  # type: ignore[import-untyped]
import polars as pl

from kobe.charts import chart_div, plotly_script
from kobe.files import write_atomic
from kobe.research.screen import QUINTILES, ScreenResult

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1200px; color: #1f2933; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 32px; }
.meta { color: #52606d; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e4e7eb; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f5f7fa; }
.chart { height: 460px; }
"""
QUINTILE_COLOURS = ("#b42318", "#f79009", "#98a2b3", "#47b881", "#067647")


def _chart(fig: go.Figure, div_id: str) -> str:
    return chart_div(fig, div_id, "460px")


def cumulative_ic_figure(result: ScreenResult, horizon: int) -> go.Figure:
    """The running sum of each alpha's daily IC: a steady slope is a steady edge."""
    dates = result.daily["date"].to_list()
    fig = go.Figure()
    for item in result.alphas:
        ic = result.daily[f"ic|{item.name}|{horizon}"].cast(pl.Float64).fill_null(0.0).to_numpy()
        fig.add_trace(go.Scatter(x=dates, y=np.round(np.cumsum(ic), 4).tolist(), mode="lines", name=item.name))
    for fold in result.folds[1:]:
        fig.add_vline(x=fold.start.isoformat(), line={"dash": "dot", "color": "#7b8794", "width": 1})
    fig.update_layout(margin={"t": 20, "r": 10}, yaxis_title=f"cumulative IC, {horizon}-session returns",
                      hovermode="x unified", legend={"font": {"size": 11}})
    return fig


def quintile_figure(result: ScreenResult, horizon: int) -> go.Figure:
    """Out of sample: the mean forward return of each quintile, alphas in the table's order."""
    rows = [r for r in result.rows if r["horizon"] == horizon]
    fig = go.Figure()
    for k in range(QUINTILES):
        values = [r["quintile_returns"][k] for r in rows]
        fig.add_trace(go.Bar(x=[r["alpha"] for r in rows], y=[None if v is None else 100 * v for v in values],
                             name=f"Q{k + 1}" + (" (top)" if k == QUINTILES - 1 else " (bottom)" if k == 0 else ""),
                             marker_color=QUINTILE_COLOURS[k]))
    fig.update_layout(barmode="group", margin={"t": 20, "r": 10},
                      yaxis_title=f"mean {horizon}-session return, %", legend={"orientation": "h", "y": -0.25})
    return fig


def folds_figure(result: ScreenResult, horizon: int) -> go.Figure:
    """Each alpha's mean IC in each fold (rows in the table's order): a steady edge is one
    colour across."""
    rows = [r for r in result.rows if r["horizon"] == horizon]
    z = [[f["ic_mean"] for f in r["folds"]] for r in rows]
    labels = [f"{f.index}: {f.start.isoformat()}" for f in result.folds]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=[r["alpha"] for r in rows], colorscale="RdBu", zmid=0,
                               colorbar={"title": "IC"}, hovertemplate="%{y}, fold %{x}: IC %{z:.4f}<extra></extra>"))
    fig.update_layout(margin={"t": 20, "r": 10}, yaxis={"autorange": "reversed"},
                      xaxis_title=f"fold (first session); {horizon}-session returns")
    return fig


def decay_figure(result: ScreenResult) -> go.Figure:
    """Each alpha's out-of-sample mean IC at each horizon."""
    fig = go.Figure()
    for item in result.alphas:
        rows = [r for r in result.rows if r["alpha"] == item.name]
        fig.add_trace(go.Scatter(x=[r["horizon"] for r in rows], y=[r["ic_mean"] for r in rows],
                                 mode="lines+markers", name=item.name))
    fig.update_layout(margin={"t": 20, "r": 10}, xaxis={"title": "horizon, sessions", "type": "category"},
                      yaxis_title="mean IC (out of sample)")
    return fig


def _cell(value: float | None, scale: float = 1.0, digits: int = 4, suffix: str = "") -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}{suffix}"


def _summary_table(result: ScreenResult) -> str:
    header = ("alpha", "h", "IC", "IC IR", "t", "hit", "Q5-Q1", "turnover", "decay", "sign kept", "IC all folds",
              "description")
    body = []
    for r in result.rows:
        cells = (r["alpha"], str(r["horizon"]), _cell(r["ic_mean"]), _cell(r["ic_ir"], digits=3),
                 _cell(r["t_stat"], digits=2), _cell(r["hit_rate"], 100, 0, "%"),
                 _cell(r["quintile_spread"], 100, 2, "%"), _cell(r["turnover"], 100, 0, "%"),
                 _cell(r["decay"], digits=2), _cell(r["sign_kept"], 100, 0, "%"), _cell(r["all_folds"]["ic_mean"]),
                 r["description"])
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _folds_table(result: ScreenResult) -> str:
    rows = "".join(f"<tr><td>{f.index}</td><td>{f.start.isoformat()}</td><td>{f.end.isoformat()}</td>"
                   f"<td>{f.last - f.first + 1}</td><td>{'out of sample' if f.index > 1 else 'the first past'}</td></tr>"
                   for f in result.folds)
    return ("<table><thead><tr><th>fold</th><th>first session</th><th>last session</th><th>sessions</th><th></th>"
            f"</tr></thead><tbody>{rows}</tbody></table>")


def render_report(result: ScreenResult) -> str:
    esc = html.escape
    sections = []
    for h in result.horizons:
        sections.append(f"<h2>Cumulative IC, {h}-session forward returns</h2>\n"
                        f'<div class="chart">{_chart(cumulative_ic_figure(result, h), f"cumulative-ic-{h}")}</div>')
        sections.append(f"<h2>Quintile returns, {h}-session forward returns (out of sample)</h2>\n"
                        f'<div class="chart">{_chart(quintile_figure(result, h), f"quintiles-{h}")}</div>')
    charts = "\n".join(sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Kobe alpha screen</title>
<style>{_STYLE}</style>
{plotly_script()}
</head>
<body>
<h1>Alpha screen</h1>
<p class="meta">{esc(result.start.isoformat())} .. {esc(result.end.isoformat())}, {len(result.daily):,} sessions,
{result.symbols:,} symbols, {len(result.alphas)} alphas, horizons {esc(", ".join(map(str, result.horizons)))} sessions.
Forward returns from the next session's open; IC: Spearman rank correlation across the symbols of a session.
The table's figures are out of sample (folds 2..{len(result.folds)}), alphas ranked by their mean IC at the
shortest horizon; docs/research.md explains each figure.</p>
<h2>Folds</h2>
{_folds_table(result)}
<h2>Alphas</h2>
{_summary_table(result)}
<h2>IC by fold, {result.horizons[0]}-session forward returns</h2>
<div class="chart">{_chart(folds_figure(result, result.horizons[0]), "ic-by-fold")}</div>
{charts}
<h2>IC by horizon</h2>
<div class="chart">{_chart(decay_figure(result), "ic-by-horizon")}</div>
</body>
</html>
"""


def write_report(path: Path, result: ScreenResult) -> None:
    """Write :func:`render_report` to ``path`` atomically."""
    write_atomic(path, render_report(result))
