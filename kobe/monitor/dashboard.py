"""The dashboard: one page that keeps itself up to date without reloading.

:func:`view` turns a status snapshot (the dict ``/health`` returns) into what a person
reads: cards, tables with human headers and formatted cells (money with ``$`` and
commas, percents, yes/no badges), and Plotly figures. :func:`render` fills the Jinja2
template (``templates/dashboard.html``, autoescaped) with it, so the first paint is
complete without a script; ``static/dashboard.js`` then polls ``/dashboard.json`` (the
same :func:`view`) every few seconds and updates the tables in place and the charts with
``Plotly.react``. Formatting lives here alone: the script only copies text.

Plotly's JS comes from the installed ``plotly`` package through the health server
(``/static/plotly.min.js``): no CDN, so the page works offline.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from kobe.monitor.alerts import Alert, fold

POLL_SECONDS = 5
NEAR_STOP_PCT = 2.0        # a price this close to its stop (in %) is shown in red
NEW_YORK = ZoneInfo("America/New_York")
TEMPLATES = Path(__file__).parent / "templates"

Cell = dict[str, str]
Table = dict[str, Any]


# -- formats ---------------------------------------------------------------------------

def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def money(value: Any) -> str:
    number = _number(value)
    if number is None:
        return "—"
    return f"-${-number:,.2f}" if number < 0 else f"${number:,.2f}"


def signed_money(value: Any) -> str:
    """P&L: a sign always, so a gain reads as one."""
    number = _number(value)
    if number is None:
        return "—"
    return f"+${number:,.2f}" if number > 0 else money(number)


def percent(value: Any, signed: bool = False) -> str:
    """``value`` in percent already (2.5 is 2.5%)."""
    number = _number(value)
    if number is None:
        return "—"
    return f"{number:+,.2f}%" if signed else f"{number:,.2f}%"


def quantity(value: Any) -> str:
    number = _number(value)
    if number is None:
        return "—"
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.4g}"


def bps(value: Any) -> str:
    number = _number(value)
    return "—" if number is None else f"{number:+,.1f} bps"


def when(value: Any) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS UTC``; anything else as given."""
    if not value:
        return "—"
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return moment.isoformat(sep=" ", timespec="seconds")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def text(value: Any) -> str:
    return "—" if value is None or value == "" else str(value)


def words(value: Any) -> str:
    """A code word (``partially_filled``) as words."""
    return "—" if not value else str(value).replace("_", " ")


def _tone(value: Any) -> str:
    number = _number(value)
    return "" if not number else ("ok" if number > 0 else "bad")


def cell(value: str, cls: str = "") -> Cell:
    return {"text": value, "cls": cls}


def num(value: str, tone: str = "") -> Cell:
    return cell(value, f"num {tone}".strip())


def badge(flag: Any, yes: str = "yes", no: str = "no") -> Cell:
    return cell(yes if flag else no, "badge " + ("yes" if flag else "no"))


def table(headers: Sequence[str], rows: Iterable[Sequence[Cell]], empty: str) -> Table:
    return {"headers": list(headers), "rows": [list(r) for r in rows], "empty": empty}


# -- tables ----------------------------------------------------------------------------

def positions_table(positions: Sequence[Mapping[str, Any]]) -> Table:
    rows = []
    for p in positions:
        qty = _number(p.get("qty")) or 0.0
        last, distance = _number(p.get("last_price")), _number(p.get("stop_distance_pct"))
        rows.append([
            cell(text(p.get("symbol")), "strong"), cell(text(p.get("strategy"))),
            cell("Short" if qty < 0 else "Long"), num(quantity(qty)), num(money(p.get("avg_cost"))),
            num(money(last)), num(money(None if last is None else qty * last)),
            num(signed_money(p.get("unrealized_pnl")), _tone(p.get("unrealized_pnl"))),
            num(signed_money(p.get("realized_pnl")), _tone(p.get("realized_pnl"))),
            num(money(p.get("stop_price"))),
            num(percent(distance), "bad" if distance is not None and distance < NEAR_STOP_PCT else ""),
        ])
    return table(("Symbol", "Strategy", "Side", "Qty", "Avg cost", "Last price", "Market value", "Unrealized P&L",
                  "Realized P&L", "Stop", "To stop"), rows, "no open positions")


def strategies_table(strategies: Mapping[str, Mapping[str, Any]], expected: Mapping[str, Any] | None) -> Table:
    backtest = (expected or {}).get("strategies") or {}
    rows = []
    for name in sorted(set(strategies) | set(backtest)):
        s = strategies.get(name, {})
        realized, unrealized = _number(s.get("realized")) or 0.0, _number(s.get("unrealized")) or 0.0
        wins, trades = s.get("wins") or 0, s.get("trades") or 0
        rows.append([
            cell(name, "strong"), num(signed_money(realized), _tone(realized)),
            num(signed_money(unrealized), _tone(unrealized)),
            num(signed_money(realized + unrealized), _tone(realized + unrealized)),
            num(signed_money(backtest.get(name)), _tone(backtest.get(name))),
            num(quantity(trades)), num(percent(100 * wins / trades) if trades else "—"),
        ])
    return table(("Strategy", "Realized P&L", "Unrealized P&L", "Live P&L", "Backtest P&L", "Closed trades",
                  "Win rate"), rows, "no strategy has traded yet")


def orders_table(orders: Sequence[Mapping[str, Any]]) -> Table:
    rows = [[
        cell(text(o.get("client_order_id")), "mono"), cell(text(o.get("strategy"))), cell(text(o.get("symbol")), "strong"),
        cell(words(o.get("side")).capitalize()), cell(words(o.get("order_type")) if o.get("order_type") else "limit"),
        num(quantity(o.get("qty"))), num(money(o.get("limit_price"))), num(money(o.get("stop_price"))),
        cell(words(o.get("status")), "status " + str(o.get("status") or "")),
        num(quantity(o.get("filled_qty"))), num(money(o.get("filled_avg_price"))),
    ] for o in orders]
    return table(("Order", "Strategy", "Symbol", "Side", "Type", "Qty", "Limit", "Stop", "Status", "Filled",
                  "Avg fill"), rows, "no orders today")


def folded_alerts(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The folded alerts of the status, or the raw ones folded here."""
    if status.get("alerts_folded") is not None:
        return list(status["alerts_folded"])
    return [f.__dict__ for f in fold(Alert(str(a.get("time")), str(a.get("level")), str(a.get("message")))
                                     for a in status.get("alerts") or [])]


def alerts_table(alerts: Sequence[Mapping[str, Any]]) -> Table:
    rows = [[
        cell(text(a.get("level")), f"badge level-{a.get('level')}"), cell(text(a.get("message"))),
        num(f"×{a.get('count')}" if (a.get("count") or 1) > 1 else "once"),
        cell(when(a.get("first"))), cell(when(a.get("last"))),
    ] for a in alerts]
    return table(("Level", "Message", "Times", "First seen", "Last seen"), rows, "no alerts")


def shadow_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    return table(("Strategy", "Symbol", "Expected", "Outcome", "Backtest qty", "Qty", "Limit", "Fill",
                  "Backtest fill", "Vs limit", "Vs backtest", "Reason"), ([
        cell(text(r.get("strategy"))), cell(text(r.get("symbol")), "strong"), badge(r.get("expected")),
        cell(words(r.get("outcome"))), num(quantity(r.get("backtest_qty"))), num(quantity(r.get("qty"))),
        num(money(r.get("limit_price"))), num(money(r.get("fill_price"))), num(money(r.get("backtest_fill"))),
        num(bps(r.get("slippage_limit_bps"))), num(bps(r.get("slippage_backtest_bps"))), cell(text(r.get("reason"))),
    ] for r in rows), "nothing expected, nothing sent")


def shadow_summary(shadow: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not shadow:
        return None
    c = shadow.get("counts") or {}
    figures = (f"session {shadow.get('session')}: {c.get('expected', 0)} expected, {c.get('sent', 0)} sent, "
               f"{c.get('filled', 0)} filled, {c.get('missed', 0)} missed, {c.get('not_sent', 0)} not sent, "
               f"{c.get('unexpected', 0)} unexpected; slippage against the backtest {bps(c.get('slippage_bps'))}")
    return {"figures": figures, "breaches": list(shadow.get("breaches") or [])}


def drift_table(drift: Mapping[str, Any] | None) -> Table:
    strategies = (drift or {}).get("strategies") or {}
    return table(("Strategy", "Live trades", "Backtest trades", "Verdict", "In alarm"), ([
        cell(name, "strong"), num(quantity(v.get("live_trades"))), num(quantity(v.get("backtest_trades"))),
        cell(text(v.get("verdict")), "badge " + ("no" if v.get("verdict") == "alarm" else "yes"
                                                 if v.get("verdict") == "ok" else "muted")),
        cell("; ".join(c["detail"] for c in v.get("checks", []) if c.get("alarm")) or "—"),
    ] for name, v in strategies.items()), "no drift check yet (after the first session)")


# -- charts ----------------------------------------------------------------------------

COLORS = {"live": "#2563eb", "expected": "#9ca3af", "gain": "#13795b", "loss": "#b42318"}


def _layout(**more: Any) -> dict[str, Any]:
    # The caption above each chart names it: no axis titles; automargin keeps the date
    # ticks and dollar labels inside the figure.
    return {"margin": {"l": 10, "r": 10, "t": 28, "b": 10}, "height": 260,
            "xaxis": {"automargin": True, "type": "date"},
            "yaxis": {"automargin": True, "tickprefix": "$", "tickformat": ",.0f", "zeroline": True},
            "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
            "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "#fff", "hovermode": "x unified", **more}


def chart_time(value: Any) -> str | None:
    """An ISO time as Plotly reads it: no offset (Plotly ignores them), in New York time,
    the exchange's, so a session's cycles fall on its date."""
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(NEW_YORK).replace(tzinfo=None)
    return moment.isoformat(sep=" ", timespec="seconds")


def _history(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    points = [p for p in status.get("equity_history") or [] if _number(p.get("equity")) is not None]
    if not points and _number(status.get("equity")) is not None:
        points = [{"time": status.get("now"), "equity": status["equity"]}]     # no history yet: where it stands
    return points


def charts(status: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures: equity over time; P&L over time, live against the backtest's
    expectation of the same sessions; P&L per strategy, live against the backtest."""
    history = _history(status)
    times = [chart_time(p.get("time")) for p in history]
    equity = [_number(p["equity"]) for p in history]
    base = equity[0] if equity else None
    live_pnl = [None if e is None or base is None else round(e - base, 2) for e in equity]
    expected = status.get("expected") or {}
    points = expected.get("points") or []
    pnl_traces = [{"type": "scatter", "mode": "lines+markers", "name": "Live P&L", "x": times, "y": live_pnl,
                   "line": {"color": COLORS["live"], "width": 2}}]
    if points:
        pnl_traces.append({"type": "scatter", "mode": "lines+markers", "name": "Backtest expectation",
                           "x": [chart_time(p.get("time")) for p in points], "y": [p["pnl"] for p in points],
                           "line": {"color": COLORS["expected"], "dash": "dash", "width": 2}})
    strategies = status.get("strategies") or {}
    backtest = expected.get("strategies") or {}
    names = sorted(set(strategies) | set(backtest))
    live = [round((_number(strategies.get(n, {}).get("realized")) or 0.0)
                  + (_number(strategies.get(n, {}).get("unrealized")) or 0.0), 2) for n in names]
    bars = [{"type": "bar", "name": "Live", "x": names, "y": live,
             "marker": {"color": [COLORS["gain"] if v >= 0 else COLORS["loss"] for v in live]}}]
    if backtest:
        bars.append({"type": "bar", "name": "Backtest", "x": names, "y": [backtest.get(n) for n in names],
                     "marker": {"color": COLORS["expected"]}})
    return {
        "equity": {"data": [{"type": "scatter", "mode": "lines+markers", "name": "Equity", "x": times, "y": equity,
                             "line": {"color": COLORS["live"], "width": 2}}],
                   "layout": _layout(showlegend=False)},
        "pnl": {"data": pnl_traces, "layout": _layout()},
        "strategies": {"data": bars, "layout": _layout(barmode="group", hovermode="closest",
                                                       xaxis={"automargin": True, "type": "category"})},
    }


# -- the page ----------------------------------------------------------------------------

def cards(status: Mapping[str, Any]) -> list[dict[str, str]]:
    beat = status.get("heartbeat") or {}
    fresh, killed = status.get("heartbeat_fresh"), status.get("kill_switch")
    metrics = status.get("metrics") or {}
    realized, unrealized = metrics.get("pnl_realized_usd"), metrics.get("pnl_unrealized_usd")
    win_rate = _number(metrics.get("win_rate"))
    return [
        {"id": "mode", "label": "Mode", "value": text(status.get("mode")).capitalize(), "cls": ""},
        {"id": "heartbeat", "label": "Heartbeat", "value": when(beat.get("time")), "cls": "ok" if fresh else "bad"},
        {"id": "kill-switch", "label": "Kill switch", "cls": "bad" if killed else "ok",
         "value": "SET: " + text((killed or {}).get("reason")) if killed else "off"},
        {"id": "equity", "label": "Equity", "value": money(status.get("equity")), "cls": ""},
        {"id": "spent-today", "label": "Spent today",
         "value": f"{money(status.get('spent_today_usd'))} of {money(status.get('daily_budget_usd'))}", "cls": ""},
        {"id": "realized-pnl", "label": "Realized P&L", "value": signed_money(realized), "cls": _tone(realized)},
        {"id": "unrealized-pnl", "label": "Unrealized P&L", "value": signed_money(unrealized),
         "cls": _tone(unrealized)},
        {"id": "win-rate", "label": "Win rate", "cls": "",
         "value": "—" if win_rate is None else f"{percent(100 * win_rate)} of "
                                               f"{(metrics.get('win_count') or 0) + (metrics.get('loss_count') or 0)}"},
        {"id": "meta-calibration", "label": "Meta-model calibration", "cls": "",
         "value": calibration_text(status.get("meta_calibration") or {})},
    ]


def calibration_text(calibration: Mapping[str, Any]) -> str:
    """The live meta_prob's calibration in a line: per strategy that filters on it, its
    Brier score over the closed trades scored, their mean probability and win rate (a
    calibrated model has the two close). Always a card, so that the page's updates find it."""
    if not calibration:
        return "no strategy filters on meta_prob"
    parts = []
    for name, c in calibration.items():
        if c.get("error"):
            parts.append(f"{name}: {c['error']}")
        elif not c.get("trades") or c.get("brier") is None:
            parts.append(f"{name}: no closed trade yet")
        else:
            parts.append(f"{name}: Brier {c['brier']:.3f} over {c['trades']} trades, "
                         f"mean P {percent(100 * c['mean_prob'])}, won {percent(100 * c['win_rate'])}")
    return "; ".join(parts)


def view(status: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the page shows, formatted (``/dashboard.json``)."""
    fresh, killed = status.get("heartbeat_fresh"), status.get("kill_switch")
    drift = status.get("drift")
    expected = status.get("expected") or {}
    return {
        "headline": {"text": "running" if fresh else "not running", "cls": "ok" if fresh and not killed else "bad"},
        "cards": cards(status),
        "tables": {
            "positions": positions_table(status.get("positions") or []),
            "strategies": strategies_table(status.get("strategies") or {}, expected),
            "orders": orders_table(status.get("orders") or []),
            "alerts": alerts_table(folded_alerts(status)),
            "shadow": shadow_table((status.get("shadow") or {}).get("rows") or []),
            "drift": drift_table(drift),
        },
        "shadow": shadow_summary(status.get("shadow")),
        "drift_session": f"after {drift.get('session')}" if drift else "",
        "expected_note": (f"backtest of the same strategies over {expected.get('start')} to {expected.get('through')}"
                          if expected else "no backtest expectation yet (after the first cycle with bars)"),
        "charts": charts(status),
        "footer": f"config {text(status.get('config_sha256'))} · read-only · updates every {POLL_SECONDS} s",
        "as_of": when(status.get("now")),
    }


@functools.cache
def _templates() -> jinja2.Environment:
    # Autoescape everything: every value on the page comes from files and brokers.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined)


def render(status: Mapping[str, Any], *, token_query: str = "") -> str:
    """The page for a status snapshot (the same dict ``/health`` returns), complete
    before any script runs; ``token_query`` (``?token=...``, when the server asks for a
    token) goes on the page's own requests: its script, style and polls."""
    return _templates().get_template("dashboard.html").render(
        view=view(status), poll_ms=POLL_SECONDS * 1000, query=token_query)
