"""The backtest report: one HTML file a trader opens from disk, with no network.

``kobe backtest --report report.html`` writes it beside the other outputs. It shows, top
to bottom: the period and the receipt's hashes (config, data), the metrics table (the
same one the terminal prints), the equity of every account against the buy-and-hold
benchmark, the drawdown of every account, a heat map of the monthly returns of the
combined account (the strategy's own when only one ran), the signals each account did
not take and why (risk gates included), and the trade list.

The charts are Plotly figures. Plotly's JavaScript (about 4.8 MB) is inlined once in the
page's head, never loaded from a CDN, so the report works offline and years later; the
figures get fixed element ids, so the same backtest gives the same bytes.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
from plotly.offline import get_plotlyjs

from kobe.backtest.engine import BacktestResult, StrategyResult
from kobe.backtest.metrics import drawdowns, monthly_returns
from kobe.backtest.outputs import metrics_rows
from kobe.backtest.receipt import Receipt
from kobe.files import write_atomic

MAX_TRADE_ROWS = 5_000   # beyond this the page gets slow to open; trades.csv has them all
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CHART_IDS = ("equity-chart", "drawdown-chart", "monthly-chart")

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1200px; color: #1f2933; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 32px; }
.meta { color: #52606d; font-size: 13px; } .meta code { font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e4e7eb; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f5f7fa; position: sticky; top: 0; }
.scroll { max-height: 520px; overflow: auto; border: 1px solid #e4e7eb; }
.chart { height: 420px; }
.neg { color: #b42318; } .pos { color: #067647; }
"""


def _account_names(result: BacktestResult) -> list[StrategyResult]:
    """The accounts charted: each strategy, then the combined one when there are several."""
    return [*result.strategies, result.combined] if len(result.strategies) > 1 else list(result.strategies)


def _main(result: BacktestResult) -> StrategyResult:
    return result.combined if len(result.strategies) > 1 else result.strategies[0]


def equity_figure(result: BacktestResult) -> go.Figure:
    """Each account's equity and the main account's buy-and-hold benchmark, in dollars."""
    fig = go.Figure()
    for account in _account_names(result):
        fig.add_trace(go.Scatter(x=account.equity["date"].to_list(), y=account.equity["equity"].to_list(),
                                 mode="lines", name=account.name))
    main = _main(result)
    fig.add_trace(go.Scatter(x=main.equity["date"].to_list(), y=main.equity["benchmark"].to_list(), mode="lines",
                             name="buy & hold", line={"dash": "dot", "color": "#7b8794"}))
    fig.update_layout(title="Equity (USD, at each session's close)", margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.15}, hovermode="x unified")
    return fig


def drawdown_figure(result: BacktestResult) -> go.Figure:
    """Each account's fall from its running peak, in percent."""
    fig = go.Figure()
    for account in _account_names(result):
        depth = drawdowns(account.equity["equity"].to_numpy(), account.settings.initial_cash) * 100
        fig.add_trace(go.Scatter(x=account.equity["date"].to_list(), y=depth.round(4).tolist(), mode="lines",
                                 name=account.name, fill="tozeroy"))
    fig.update_layout(title="Drawdown (% below the running peak)", yaxis={"ticksuffix": "%"},
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.15},
                      hovermode="x unified")
    return fig


def monthly_figure(account: StrategyResult) -> go.Figure:
    """Heat map of monthly returns: a row per year, a column per month, in percent."""
    months = monthly_returns(account.equity, account.settings.initial_cash)
    years = sorted(set(months["year"].to_list()))
    grid = np.full((len(years), 12), np.nan)
    for year, month, value in months.iter_rows():
        grid[years.index(year), month - 1] = value * 100
    z = [[None if np.isnan(v) else round(float(v), 4) for v in row] for row in grid]
    text = [["" if v is None else f"{v:.2f}%" for v in row] for row in z]   # months outside the period: blank
    fig = go.Figure(go.Heatmap(z=z, x=list(MONTHS), y=[str(y) for y in years], colorscale="RdYlGn", zmid=0,
                               text=text, texttemplate="%{text}", hovertemplate="%{y} %{x}: %{text}<extra></extra>",
                               colorbar={"ticksuffix": "%"}))
    fig.update_layout(title=f"Monthly returns, {account.name} (%)", yaxis={"autorange": "reversed", "type": "category"},
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


def _chart(fig: go.Figure, div_id: str) -> str:
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id, default_height="420px",
                       config={"displaylogo": False, "responsive": True})


def _table(header: list[str], rows: list[list[str]], *, signed: frozenset[int] = frozenset()) -> str:
    """An HTML table; cells of the ``signed`` columns are coloured by their sign."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            css = ""
            if i in signed and cell.strip().startswith("-") and cell.strip() != "-":
                css = ' class="neg"'
            elif i in signed and cell.strip() not in ("", "-", "0", "0.00", "0.00%"):
                css = ' class="pos"'
            cells.append(f"<td{css}>{html.escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _skips_table(data: dict[str, Any]) -> str:
    accounts = list(data["strategies"].items())
    if len(accounts) > 1:
        accounts.append(("combined", data["combined"]))
    causes = list(accounts[0][1]["skipped"])
    header = ["account", "signals", "trades", "open at end", *[c.replace("_", " ") for c in causes], "risk gates"]
    rows = [[name, f"{a['signals']:,}", f"{a['metrics']['trades']:,}", f"{a['metrics']['open_trades']:,}",
             *[f"{a['skipped'][c]:,}" for c in causes], "on" if a["gates"] else "off"] for name, a in accounts]
    return _table(header, rows)


def _trades_table(result: BacktestResult) -> tuple[str, int]:
    trades = pl.concat([*(r.trades for r in result.strategies), *(r.open_trades for r in result.strategies)])
    trades = trades.sort("entry_date", "strategy", "symbol", maintain_order=True)
    total = trades.height
    header = ["strategy", "symbol", "side", "signal", "entry", "entry price", "exit", "exit price", "shares",
              "P&L", "return", "exit reason", "bars"]
    rows = [[t["strategy"], t["symbol"], t["side"], str(t["signal_date"]), str(t["entry_date"]),
             f"{t['entry_price']:,.2f}", str(t["exit_date"]), f"{t['exit_price']:,.2f}", f"{t['quantity']:,}",
             f"{t['pnl']:,.2f}", f"{t['return'] * 100:,.2f}%", t["exit_reason"], str(t["bars_held"])]
            for t in trades.head(MAX_TRADE_ROWS).iter_rows(named=True)]
    return _table(header, rows, signed=frozenset({9, 10})), total


def render_report(result: BacktestResult, data: dict[str, Any], receipt: Receipt) -> str:
    """The report's HTML. ``data`` is the backtest's :func:`~kobe.backtest.outputs.summary`."""
    header, rows = metrics_rows(data)
    trades_html, total = _trades_table(result)
    shown = "" if total <= MAX_TRADE_ROWS else (f"<p class=meta>The first {MAX_TRADE_ROWS:,} of {total:,} trades; "
                                                 "trades.csv and open_trades.csv hold them all.</p>")
    names = ", ".join(html.escape(r.name) for r in result.strategies)
    period = data["period"]
    esc = html.escape
    receipt_json = esc(json.dumps(receipt.to_dict(), indent=2))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Kobe backtest: {names}</title>
<style>{_STYLE}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<h1>Backtest: {names}</h1>
<p class="meta">{esc(period['start'])} .. {esc(period['end'])}, {period['sessions']:,} sessions,
{result.market.rows:,} bars, {len(result.market.symbols):,} symbols<br>
config sha256 <code id="config-sha256">{esc(receipt.config_sha256)}</code><br>
data sha256 <code>{esc(receipt.data_sha256)}</code><br>
kobe {esc(receipt.kobe_version)}: <code>{esc(receipt.command)}</code></p>
<h2>Metrics</h2>
{_table(header, rows)}
<h2>Equity</h2>
<div class="chart">{_chart(equity_figure(result), CHART_IDS[0])}</div>
<h2>Drawdown</h2>
<div class="chart">{_chart(drawdown_figure(result), CHART_IDS[1])}</div>
<h2>Monthly returns</h2>
<div class="chart">{_chart(monthly_figure(_main(result)), CHART_IDS[2])}</div>
<h2>Signals not taken</h2>
{_skips_table(data)}
<h2>Trades ({total:,})</h2>
{shown}<div class="scroll" id="trades">{trades_html}</div>
<h2>Receipt</h2>
<pre class="meta">{receipt_json}</pre>
</body>
</html>
"""


def write_report(path: Path, result: BacktestResult, data: dict[str, Any], receipt: Receipt) -> None:
    """Write :func:`render_report` to ``path`` atomically."""
    write_atomic(path, render_report(result, data, receipt))
