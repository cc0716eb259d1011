"""The backtest report: one HTML file a trader opens from disk, with no network.

``kobe backtest --report report.html`` writes it beside the other outputs. It shows, top
to bottom: the period and the receipt's hashes (config, data), the metrics table (the
same one the terminal prints), the return of every account and of the buy-and-hold
benchmark from the first session (linear or log scale), the drawdown and the rolling
Sharpe ratio of each of those lines, a heat map of the monthly returns of the combined
account (the strategy's own when only one ran), the distribution of the trade returns
per strategy, the closed trades by symbol and by exit reason, the signals each account
did not take and why (risk gates included), a candlestick chart of any traded symbol
with its trades drawn on it, and the trade list, which sorts and filters.

The charts are Plotly figures. Plotly's JavaScript (about 4.8 MB) is inlined once in the
page's head, never loaded from a CDN, so the report works offline and years later; the
figures get fixed element ids, so the same backtest gives the same bytes. The symbol
chart is the one figure built in the page: its bars (the traded symbols' OHLC over the
backtest period, compact JSON) would be one figure per symbol otherwise, most never
looked at; a click on a trade or a symbol hands them to ``Plotly.newPlot``.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl

from kobe.backtest.engine import BacktestResult, StrategyResult
from kobe.backtest.metrics import drawdowns, monthly_returns, returns, rolling_sharpe
from kobe.backtest.outputs import metrics_rows
from kobe.backtest.receipt import Receipt
from kobe.charts import chart_div, plotly_script
from kobe.files import write_atomic

MAX_TRADE_ROWS = 5_000    # beyond this the page gets slow to open; trades.csv has them all
MAX_CHART_BARS = 250_000  # OHLC embedded for the symbol chart (about 30 bytes a bar): the most-traded symbols first
SHARPE_WINDOW = 63        # sessions, about a quarter
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CHART_IDS = ("equity-chart", "drawdown-chart", "sharpe-chart", "monthly-chart", "returns-chart")
SYMBOL_CHART_ID = "symbol-chart"
BENCHMARK = "buy & hold"
BENCHMARK_LINE = {"dash": "dot", "color": "#7b8794"}
STOP_REASONS = frozenset({"stop", "trailing_stop"})

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1200px; color: #1f2933; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 32px; }
.meta { color: #52606d; font-size: 13px; } .meta code { font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e4e7eb; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f5f7fa; position: sticky; top: 0; }
table.sortable thead tr:first-child th { cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: 10px; }
th[aria-sort="descending"]::after { content: " \\25BC"; font-size: 10px; }
thead input { width: 100%; min-width: 50px; box-sizing: border-box; font-size: 12px; }
thead tr.filters th { top: 25px; }
tbody tr.pick { cursor: pointer; } tbody tr.pick:hover { background: #eef2ff; }
tbody tr.chosen { background: #e0e7ff; }
.scroll { max-height: 520px; width: fit-content; max-width: 100%; overflow: auto; border: 1px solid #e4e7eb; }
.chart { height: 420px; } .chart.tall { height: 520px; }
.tools { margin: 8px 0; font-size: 13px; } .tools input, .tools select { font-size: 13px; padding: 2px 6px; }
.neg { color: #b42318; } .pos { color: #067647; }
"""

# Sorting, filtering and the symbol chart. Plain DOM calls: no library beyond Plotly.
_SCRIPT = """
(function () {
  "use strict";
  function key(cell) {
    var v = cell.getAttribute("data-v");
    return v === null ? cell.textContent : parseFloat(v);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        // Array.prototype.sort is stable: equal keys keep their previous order.
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
        });
        var frag = document.createDocumentFragment();
        rows.forEach(function (r) { frag.appendChild(r); });
        body.appendChild(frag);
      });
    });
  });

  var trades = document.getElementById("trade-table");
  var search = document.getElementById("trade-filter");
  var shownCount = document.getElementById("trade-count");
  function filterTrades() {
    var terms = search.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var columns = [];
    trades.querySelectorAll("thead input").forEach(function (input) {
      var text = input.value.trim().toLowerCase();
      if (text) columns.push([parseInt(input.getAttribute("data-col"), 10), text]);
    });
    var shown = 0;
    Array.prototype.forEach.call(trades.tBodies[0].rows, function (row) {
      var cells = Array.prototype.map.call(row.cells, function (c) { return c.textContent.toLowerCase(); });
      var keep = terms.every(function (t) { return cells.some(function (c) { return c.indexOf(t) >= 0; }); })
        && columns.every(function (c) { return cells[c[0]].indexOf(c[1]) >= 0; });
      row.hidden = !keep;
      if (keep) shown += 1;
    });
    shownCount.textContent = shown.toLocaleString("en-US");
  }
  if (trades) {
    search.addEventListener("input", filterTrades);
    trades.querySelectorAll("thead input").forEach(function (input) {
      input.addEventListener("input", filterTrades);
      input.addEventListener("click", function (e) { e.stopPropagation(); });
    });
  }

  var data = JSON.parse(document.getElementById("symbol-data").textContent);
  var picker = document.getElementById("symbol-picker");
  var SIDE = {long: "triangle-up", short: "triangle-down"};
  function segments(list, y0, y1) {
    var x = [], y = [];
    list.forEach(function (t) { x.push(t[2], t[4], null); y.push(t[y0], t[y1], null); });
    return {x: x, y: y};
  }
  function showSymbol(symbol, from, to) {
    var bars = data.bars[symbol];
    if (!bars) return;
    var dates = bars.i ? bars.i.map(function (i) { return data.dates[i]; })
                       : data.dates.slice(bars.s, bars.s + bars.c.length);
    // [strategy, side, entry date, entry price, exit date, exit price, exit reason, P&L, return, stop]
    var list = data.trades[symbol] || [];
    var label = function (t) {
      return t[0] + " " + t[1] + ", " + t[6].replace("_", " ") + ": P&L " + t[7].toFixed(2) +
        " (" + (t[8] * 100).toFixed(2) + "%)";
    };
    var wins = list.filter(function (t) { return t[7] > 0; });
    var losses = list.filter(function (t) { return t[7] <= 0; });
    var traces = [{
      type: "candlestick", name: symbol, x: dates, open: bars.o, high: bars.h, low: bars.l, close: bars.c,
      increasing: {line: {color: "#26a69a"}}, decreasing: {line: {color: "#ef5350"}}
    }];
    [[wins, "winning trades", "#067647"], [losses, "losing trades", "#b42318"]].forEach(function (g) {
      var s = segments(g[0], 3, 5);
      traces.push({type: "scatter", mode: "lines", name: g[1], x: s.x, y: s.y, hoverinfo: "skip",
                   line: {color: g[2], width: 2, dash: "dot"}});
    });
    traces.push({type: "scatter", mode: "markers", name: "entries",
                 x: list.map(function (t) { return t[2]; }), y: list.map(function (t) { return t[3]; }),
                 text: list.map(label), hovertemplate: "entry %{y:.2f}<br>%{text}<extra></extra>",
                 marker: {symbol: list.map(function (t) { return SIDE[t[1]] || "circle"; }), size: 11,
                          color: "#2563eb", line: {color: "#1f2933", width: 1}}});
    traces.push({type: "scatter", mode: "markers", name: "exits",
                 x: list.map(function (t) { return t[4]; }), y: list.map(function (t) { return t[5]; }),
                 text: list.map(label), hovertemplate: "exit %{y:.2f}<br>%{text}<extra></extra>",
                 marker: {symbol: list.map(function (t) {
                            return t[6] === "open" ? "circle-open" : (t[6] === "stop" || t[6] === "trailing_stop") ? "x" : "circle";
                          }), size: 10, color: list.map(function (t) { return t[7] > 0 ? "#067647" : "#b42318"; }),
                          line: {color: "#1f2933", width: 1}}});
    var stops = list.filter(function (t) { return t[9] !== null; });
    if (stops.length) {
      var s = segments(stops, 9, 9);
      traces.push({type: "scatter", mode: "lines", name: "stop at entry", x: s.x, y: s.y,
                   line: {color: "#b42318", width: 1.5, dash: "dash"}, hovertemplate: "stop %{y:.2f}<extra></extra>"});
    }
    var layout = {
      title: {text: symbol + ": " + list.length + " trade" + (list.length === 1 ? "" : "s")},
      margin: {l: 60, r: 20, t: 50, b: 40}, hovermode: "closest", legend: {orientation: "h", y: -0.12},
      xaxis: {type: "date", rangeslider: {visible: false}, rangebreaks: [{bounds: ["sat", "mon"]}]},
      yaxis: {title: {text: "price"}, fixedrange: false}
    };
    if (from !== undefined) {
      // Zoomed on a trade: the y range of the bars in view, as Plotly's autorange spans all of them.
      var lo = Math.max(0, dates.findIndex(function (d) { return d >= from; }) - 30);
      var hiAt = dates.findIndex(function (d) { return d > to; });
      var hi = Math.min(dates.length - 1, (hiAt < 0 ? dates.length - 1 : hiAt) + 30);
      var low = Math.min.apply(null, bars.l.slice(lo, hi + 1).filter(function (v) { return v !== null; }));
      var high = Math.max.apply(null, bars.h.slice(lo, hi + 1).filter(function (v) { return v !== null; }));
      var pad = (high - low) * 0.05 || high * 0.01;
      layout.xaxis.range = [dates[lo], dates[hi]];
      layout.yaxis.range = [low - pad, high + pad];
    }
    Plotly.newPlot("symbol-chart", traces, layout, {displaylogo: false, responsive: true});
    picker.value = symbol;
  }
  window.kobeShowSymbol = showSymbol;
  picker.addEventListener("change", function () { showSymbol(picker.value); });
  document.querySelectorAll("tr.pick").forEach(function (row) {
    row.addEventListener("click", function () {
      document.querySelectorAll("tr.chosen").forEach(function (r) { r.classList.remove("chosen"); });
      row.classList.add("chosen");
      showSymbol(row.getAttribute("data-symbol"), row.getAttribute("data-from") || undefined,
                 row.getAttribute("data-to") || undefined);
      document.getElementById("symbols").scrollIntoView({behavior: "smooth"});
    });
  });
  if (picker.value) showSymbol(picker.value);
})();
"""


@dataclass(frozen=True)
class Line:
    """One curve of the equity, drawdown and rolling Sharpe charts."""

    name: str
    dates: list[Any]
    equity: np.ndarray
    initial_cash: float
    benchmark: bool = False
    at_risk: float = 0.0    # the most held in positions at once (metrics' capital_at_risk); 0: all the cash

    def style(self) -> dict[str, Any]:
        return {"line": BENCHMARK_LINE} if self.benchmark else {}


def _accounts(result: BacktestResult) -> list[StrategyResult]:
    """The accounts charted: each strategy, then the combined one when there are several."""
    return [*result.strategies, result.combined] if len(result.strategies) > 1 else list(result.strategies)


def _main(result: BacktestResult) -> StrategyResult:
    return result.combined if len(result.strategies) > 1 else result.strategies[0]


def _lines(result: BacktestResult) -> list[Line]:
    """Every account's equity, then the main account's buy-and-hold benchmark."""
    main = _main(result)
    lines = [Line(a.name, a.equity["date"].to_list(), a.equity["equity"].to_numpy(), a.settings.initial_cash,
                  at_risk=float(a.metrics()["capital_at_risk"] or 0.0))
             for a in _accounts(result)]
    return [*lines, Line(BENCHMARK, main.equity["date"].to_list(), main.equity["benchmark"].to_numpy(),
                         main.settings.initial_cash, benchmark=True)]


def _listed(values: np.ndarray, digits: int = 4) -> list[float | None]:
    """Plotly's data: rounded (shorter, and the same text on every platform), NaN as a gap."""
    return [None if math.isnan(v) else v for v in np.round(np.asarray(values, dtype=float), digits).tolist()]


PERCENT_TICKS = (-90, -75, -50, -25, -10, -5, 0, 5, 10, 25, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10000)


def _log_ticks(growth: np.ndarray) -> tuple[list[float], list[str]]:
    """Ticks of the log axis (growth of 1) labelled as the percent returns they stand for."""
    finite = growth[np.isfinite(growth) & (growth > 0)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (1.0, 1.0)
    percents: list[float] = []
    if hi / lo < 1.5:
        # A narrow range: evenly spaced returns, a log axis there is nearly linear.
        span = max((hi - lo) * 100, 1e-9)
        step = next(s for s in (0.1, 0.2, 0.5, 1, 2, 2.5, 5, 10, 20, 25) if span / s <= 8)
        first, last = math.floor((lo - 1) * 100 / step), math.ceil((hi - 1) * 100 / step)
        percents = [round(k * step, 4) for k in range(first, last + 1)]
    else:
        # Ticks closer than a twelfth of the axis to the one below would print over it.
        gap = math.log(hi * 1.1 / (lo / 1.1)) / 12
        for p in (p for p in PERCENT_TICKS if lo / 1.1 <= 1 + p / 100 <= hi * 1.1):
            if percents and math.log((1 + p / 100) / (1 + percents[-1] / 100)) < gap:
                if p != 0:
                    continue
                percents.pop()      # 0% (the start) is the tick to keep
            percents.append(p)
    return [round(1 + p / 100, 6) for p in percents], [f"{p:g}%" for p in percents]


def equity_figure(result: BacktestResult) -> go.Figure:
    """Each account's return since the first session, and the buy-and-hold benchmark's, in
    percent; a button switches to a log scale (the growth of 1, ticks labelled in percent),
    another to the gain on the capital at risk (the benchmark's is all its cash), which
    shows the shape of a strategy whose small orders leave most of the account in cash."""
    fig = go.Figure()
    linear, log, on_risk = [], [], []
    for line in _lines(result):
        growth = line.equity / line.initial_cash
        percent = _listed((growth - 1) * 100)
        on_risk.append(_listed((line.equity - line.initial_cash) / (line.at_risk or line.initial_cash) * 100))
        fig.add_trace(go.Scatter(x=line.dates, y=percent, customdata=percent, mode="lines", name=line.name,
                                 hovertemplate="%{customdata:.2f}%", **line.style()))
        linear.append(percent)
        log.append(_listed(np.where(growth > 0, growth, np.nan), 6))   # a log axis has no place for <= 0
    growth_all = np.concatenate([np.asarray(v, dtype=float) for v in log]) if log else np.ones(1)
    tickvals, ticktext = _log_ticks(growth_all)
    buttons = [
        {"label": "linear", "method": "update",
         "args": [{"y": linear}, {"yaxis.type": "linear", "yaxis.tickmode": "auto", "yaxis.tickvals": None,
                                  "yaxis.ticktext": None, "yaxis.ticksuffix": "%", "yaxis.autorange": True}]},
        {"label": "log", "method": "update",
         "args": [{"y": log}, {"yaxis.type": "log", "yaxis.tickmode": "array", "yaxis.tickvals": tickvals,
                               "yaxis.ticktext": ticktext, "yaxis.ticksuffix": "", "yaxis.autorange": True}]},
        {"label": "on capital at risk", "method": "update",
         "args": [{"y": on_risk}, {"yaxis.type": "linear", "yaxis.tickmode": "auto", "yaxis.tickvals": None,
                                   "yaxis.ticktext": None, "yaxis.ticksuffix": "%", "yaxis.autorange": True}]},
    ]
    fig.update_layout(title="Return since the first session (%, at each session's close)",
                      yaxis={"ticksuffix": "%"}, margin={"l": 60, "r": 20, "t": 70, "b": 40},
                      legend={"orientation": "h", "y": -0.15}, hovermode="x unified",
                      updatemenus=[{"type": "buttons", "direction": "right", "buttons": buttons, "showactive": True,
                                    "active": 0, "x": 1, "xanchor": "right", "y": 1.01, "yanchor": "bottom",
                                    "pad": {"b": 2}, "font": {"size": 11}}])
    return fig


def drawdown_figure(result: BacktestResult) -> go.Figure:
    """Each line's fall from its running peak, in percent, the benchmark's included."""
    fig = go.Figure()
    for line in _lines(result):
        depth = drawdowns(line.equity, line.initial_cash) * 100
        fig.add_trace(go.Scatter(x=line.dates, y=_listed(depth), mode="lines", name=line.name,
                                 fill=None if line.benchmark else "tozeroy", hovertemplate="%{y:.2f}%",
                                 **line.style()))
    fig.update_layout(title="Drawdown (% below the running peak)", yaxis={"ticksuffix": "%"},
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.15},
                      hovermode="x unified")
    return fig


def sharpe_figure(result: BacktestResult, window: int = SHARPE_WINDOW) -> go.Figure:
    """Each line's Sharpe ratio over the trailing ``window`` sessions, annualised (sqrt(252))."""
    fig = go.Figure()
    for line in _lines(result):
        ratio = rolling_sharpe(returns(line.equity, line.initial_cash), window)
        fig.add_trace(go.Scatter(x=line.dates, y=_listed(ratio, 3), mode="lines", name=line.name,
                                 hovertemplate="%{y:.2f}", connectgaps=False, **line.style()))
    fig.update_layout(title=f"Rolling Sharpe ratio ({window} sessions, annualised)",
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


def returns_figure(result: BacktestResult) -> go.Figure:
    """Histogram of the closed trades' returns (percent of the entry cost), one per strategy:
    comparable across strategies whatever their position sizes."""
    fig = go.Figure()
    for account in result.strategies:
        if account.trades.height:
            fig.add_trace(go.Histogram(x=_listed(account.trades["return"].to_numpy() * 100), name=account.name,
                                       opacity=0.65, bingroup="trades", hovertemplate="%{x}%: %{y} trades<extra></extra>"))
    if not fig.data:
        fig.add_annotation(text="no closed trades", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.add_vline(x=0, line={"color": "#52606d", "width": 1, "dash": "dash"})
    fig.update_layout(title="Closed trades by return (%)", barmode="overlay", xaxis={"ticksuffix": "%"},
                      yaxis={"title": {"text": "trades"}}, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.15})
    return fig


def _chart(fig: go.Figure, div_id: str) -> str:
    return chart_div(fig, div_id, "420px")


Cell = str | tuple[str, float | int]
"""A table cell: its text, or its text and the number it sorts by."""


def _table(header: list[str], rows: Sequence[Sequence[Cell]], *, signed: frozenset[int] = frozenset(),
           sortable: bool = False, table_id: str | None = None, filters: bool = False,
           row_attrs: Sequence[dict[str, str]] | None = None) -> str:
    """An HTML table; cells of the ``signed`` columns are coloured by their sign.

    ``sortable``: a click on a header sorts by that column (numbers by their value);
    ``filters``: a second header row with a text box per column; ``row_attrs``: the
    ``data-*`` attributes of each row (a row with ``data-symbol`` opens its chart)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    if filters:
        boxes = "".join(f'<th><input type="search" data-col="{i}" placeholder="filter" '
                        f'aria-label="filter {html.escape(h)}"></th>' for i, h in enumerate(header))
        head = f"<tr>{head}</tr><tr class=\"filters\">{boxes}</tr>"
    else:
        head = f"<tr>{head}</tr>"
    body = []
    for n, row in enumerate(rows):
        cells = []
        for i, cell in enumerate(row):
            text, value = (cell, None) if isinstance(cell, str) else cell
            css = ""
            if i in signed and text.strip().startswith("-") and text.strip() != "-":
                css = ' class="neg"'
            elif i in signed and text.strip() not in ("", "-", "0", "0.00", "0.00%"):
                css = ' class="pos"'
            sort = "" if value is None else f' data-v="{value!r}"'
            cells.append(f"<td{css}{sort}>{html.escape(text)}</td>")
        attrs = row_attrs[n] if row_attrs is not None else {}
        extra = "".join(f' data-{k}="{html.escape(v)}"' for k, v in attrs.items())
        pick = ' class="pick"' if "symbol" in attrs else ""
        body.append(f"<tr{pick}{extra}>" + "".join(cells) + "</tr>")
    classes = ' class="sortable"' if sortable else ""
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}{classes}><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def _skips_table(data: dict[str, Any]) -> str:
    accounts = list(data["strategies"].items())
    if len(accounts) > 1:
        accounts.append(("combined", data["combined"]))
    causes = list(accounts[0][1]["skipped"])
    header = ["account", "signals", "trades", "open at end", *[c.replace("_", " ") for c in causes], "risk gates"]
    rows = [[name, f"{a['signals']:,}", f"{a['metrics']['trades']:,}", f"{a['metrics']['open_trades']:,}",
             *[f"{a['skipped'][c]:,}" for c in causes], "on" if a["gates"] else "off"] for name, a in accounts]
    return _table(header, rows)


def _all_trades(result: BacktestResult) -> pl.DataFrame:
    trades = pl.concat([*(r.trades for r in result.strategies), *(r.open_trades for r in result.strategies)],
                       how="diagonal_relaxed")
    return trades.sort("entry_date", "strategy", "symbol", maintain_order=True)


def _num(value: float, text: str) -> tuple[str, float]:
    return text, round(float(value), 6) if isinstance(value, float) else value


def _day(value: Any) -> tuple[str, int]:
    """A date cell, sorting by its day number (a string key would sort too, but as text)."""
    return str(value), value.toordinal()


def _trades_table(trades: pl.DataFrame) -> tuple[str, int]:
    total = trades.height
    header = ["strategy", "symbol", "side", "signal", "entry", "entry price", "exit", "exit price", "shares",
              "P&L", "return", "exit reason", "bars"]
    rows: list[list[Cell]] = []
    attrs = []
    for t in trades.head(MAX_TRADE_ROWS).iter_rows(named=True):
        rows.append([t["strategy"], t["symbol"], t["side"], _day(t["signal_date"]), _day(t["entry_date"]),
                     _num(t["entry_price"], f"{t['entry_price']:,.2f}"), _day(t["exit_date"]),
                     _num(t["exit_price"], f"{t['exit_price']:,.2f}"), _num(t["quantity"], f"{t['quantity']:,}"),
                     _num(t["pnl"], f"{t['pnl']:,.2f}"), _num(t["return"], f"{t['return'] * 100:,.2f}%"),
                     t["exit_reason"], _num(t["bars_held"], str(t["bars_held"]))])
        attrs.append({"symbol": t["symbol"], "from": str(t["entry_date"]), "to": str(t["exit_date"])})
    table = _table(header, rows, signed=frozenset({9, 10}), sortable=True, table_id="trade-table", filters=True,
                   row_attrs=attrs)
    return table, total


def _breakdown(trades: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """The closed trades' statistics per group: count, win rate, P&L and returns, bars held."""
    pnl = pl.col("pnl")
    return (trades.group_by(by, maintain_order=True)
            .agg(pl.len().alias("trades"), (pnl > 0).mean().alias("win_rate"), pnl.sum().alias("total"),
                 pnl.mean().alias("mean"), pl.col("return").mean().alias("mean_return"), pnl.max().alias("best"),
                 pnl.min().alias("worst"), pl.col("bars_held").mean().alias("bars"))
            .sort(by))


def _breakdown_table(trades: pl.DataFrame, by: list[str], *, pick: bool = False) -> str:
    stats = _breakdown(trades, by)
    header = [*(b.replace("_", " ") for b in by), "trades", "win rate", "total P&L", "mean P&L", "mean return",
              "best", "worst", "bars held"]
    rows: list[list[Cell]] = [
        [*(s[b] for b in by), _num(s["trades"], f"{s['trades']:,}"),
         _num(s["win_rate"], f"{s['win_rate'] * 100:.1f}%"), _num(s["total"], f"{s['total']:,.2f}"),
         _num(s["mean"], f"{s['mean']:,.2f}"), _num(s["mean_return"], f"{s['mean_return'] * 100:.2f}%"),
         _num(s["best"], f"{s['best']:,.2f}"), _num(s["worst"], f"{s['worst']:,.2f}"),
         _num(s["bars"], f"{s['bars']:.1f}")]
        for s in stats.iter_rows(named=True)]
    offset = len(by)
    attrs = [{"symbol": s["symbol"]} for s in stats.iter_rows(named=True)] if pick else None
    return _table(header, rows, signed=frozenset({offset + 2, offset + 3, offset + 4, offset + 5, offset + 6}),
                  sortable=True, row_attrs=attrs)


def _price_digits(low: float) -> int:
    """Cents for the usual stock, more below a dollar: what a chart can show, in fewer bytes."""
    return 2 if low >= 1 else 4


def symbol_data(result: BacktestResult, trades: pl.DataFrame) -> dict[str, Any]:
    """What the symbol chart draws: the backtest's session dates, and per traded symbol its
    bars over the backtest period (``s``: the index of its first date, when it has a bar
    every session from there on, else ``i``: the index of each bar's date; ``o h l c``) and its
    trades (entry, exit, reason, P&L; the stop level at entry when the trades carry one).

    The most-traded symbols come first until :data:`MAX_CHART_BARS` bars are taken."""
    start = result.start
    sessions = list(result.market.sessions[result.first_session:])
    index = {d: i for i, d in enumerate(sessions)}
    counts = trades.group_by("symbol").agg(pl.len().alias("n")).sort(["n", "symbol"], descending=[True, False])
    bars = (result.market.bars.lazy().filter(pl.col("date") >= start)
            .select(pl.col("symbol").cast(pl.String), "date", "open", "high", "low", "close")
            .filter(pl.col("symbol").is_in(counts["symbol"].to_list())).collect())
    by_symbol = bars.partition_by("symbol", as_dict=True, maintain_order=True)
    chart_bars: dict[str, Any] = {}
    taken = 0
    for symbol in counts["symbol"].to_list():
        frame = by_symbol.get((symbol,))
        if frame is None or taken + frame.height > MAX_CHART_BARS:
            continue
        taken += frame.height
        digits = _price_digits(float(np.nanmin(frame["low"].to_numpy(), initial=np.inf)))
        at = [index[d] for d in frame["date"].to_list()]
        # A symbol with a bar every session (most) needs only its first session's index.
        where = {"s": at[0]} if at[-1] - at[0] + 1 == len(at) else {"i": at}
        chart_bars[symbol] = {**where, **{k[0]: _listed(frame[k].to_numpy(), digits)
                                          for k in ("open", "high", "low", "close")}}
    has_stop = "stop_price" in trades.columns
    chart_trades: dict[str, list[list[Any]]] = {}
    for t in trades.filter(pl.col("symbol").is_in(list(chart_bars))).iter_rows(named=True):
        stop = t["stop_price"] if has_stop else None
        chart_trades.setdefault(t["symbol"], []).append([
            t["strategy"], t["side"], str(t["entry_date"]), round(t["entry_price"], 4), str(t["exit_date"]),
            round(t["exit_price"], 4), t["exit_reason"], round(t["pnl"], 4), round(t["return"], 6),
            None if stop is None or math.isnan(stop) else round(stop, 4)])
    return {"dates": [d.isoformat() for d in sessions], "bars": dict(sorted(chart_bars.items())),
            "trades": dict(sorted(chart_trades.items()))}


def _json_script(element_id: str, value: Any) -> str:
    """JSON in a script element the page parses; ``</`` escaped, so no text ends the element."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def render_report(result: BacktestResult, data: dict[str, Any], receipt: Receipt) -> str:
    """The report's HTML. ``data`` is the backtest's :func:`~kobe.backtest.outputs.summary`."""
    header, rows = metrics_rows(data)
    trades = _all_trades(result)
    trades_html, total = _trades_table(trades)
    shown = "" if total <= MAX_TRADE_ROWS else (f"<p class=meta>The first {MAX_TRADE_ROWS:,} of {total:,} trades; "
                                                 "trades.csv and open_trades.csv hold them all.</p>")
    closed = pl.concat([r.trades for r in result.strategies], how="diagonal_relaxed")
    by_reason = ["strategy", "exit_reason"] if len(result.strategies) > 1 else ["exit_reason"]
    chart_data = symbol_data(result, trades)
    symbols = list(chart_data["bars"])
    left_out = len(set(trades["symbol"].to_list())) - len(symbols)
    options = "".join(f'<option value="{html.escape(s)}">{html.escape(s)}</option>' for s in symbols)
    stop_note = ("dashed red: the stop level set at the entry" if "stop_price" in trades.columns else
                 "the trades record no stop level, so none is drawn: an exit by a stop is an ×")
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
{plotly_script()}
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
<h2>Return</h2>
<div class="chart">{_chart(equity_figure(result), CHART_IDS[0])}</div>
<h2>Drawdown</h2>
<div class="chart">{_chart(drawdown_figure(result), CHART_IDS[1])}</div>
<h2>Rolling Sharpe ratio</h2>
<div class="chart">{_chart(sharpe_figure(result), CHART_IDS[2])}</div>
<h2>Monthly returns</h2>
<div class="chart">{_chart(monthly_figure(_main(result)), CHART_IDS[3])}</div>
<h2>Trade returns</h2>
<div class="chart">{_chart(returns_figure(result), CHART_IDS[4])}</div>
<h2>Closed trades by exit reason</h2>
<div id="by-reason">{_breakdown_table(closed, by_reason)}</div>
<h2>Closed trades by symbol</h2>
<p class="meta">Click a header to sort, a symbol to chart it.</p>
<div class="scroll" id="by-symbol">{_breakdown_table(closed, ["symbol"], pick=True)}</div>
<h2>Signals not taken</h2>
{_skips_table(data)}
<h2 id="symbols">Symbol chart</h2>
<p class="tools"><label>symbol <select id="symbol-picker">{options}</select></label>
<span class="meta">Daily bars over the backtest period; ▲ entry (▼ a short's), exit ● (× by a stop, ○ still open),
green a winning trade, red a losing one; {stop_note}.{f" {left_out:,} traded symbols left out (too many bars)." if left_out else ""}</span></p>
{"" if symbols else '<p class="meta">No trades: no symbol to chart.</p>'}<div class="chart tall" id="{SYMBOL_CHART_ID}"></div>
<h2>Trades ({total:,})</h2>
{shown}<p class="tools"><label>filter <input type="search" id="trade-filter" placeholder="words in any column"
size="32"></label> <span class="meta"><span id="trade-count">{min(total, MAX_TRADE_ROWS):,}</span> shown;
click a header to sort, a trade to chart it.</span></p>
<div class="scroll" id="trades">{trades_html}</div>
<h2>Receipt</h2>
<pre class="meta">{receipt_json}</pre>
{_json_script("symbol-data", chart_data)}
<script type="text/javascript">{_SCRIPT}</script>
</body>
</html>
"""


def write_report(path: Path, result: BacktestResult, data: dict[str, Any], receipt: Receipt) -> None:
    """Write :func:`render_report` to ``path`` atomically."""
    write_atomic(path, render_report(result, data, receipt))
