"""A small read-only dashboard: one server-rendered page that refreshes itself.

No script and no external asset: it works from the health server alone, offline, and
shows the heartbeat, the kill switch, positions, today's orders, equity, recent alerts,
the last shadow check and the last drift verdicts. Every value is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}
h1{font-size:20px;margin:0 0 12px} h2{font-size:15px;margin:20px 0 6px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:18px}
.ok{color:#13795b} .bad{color:#b42318}
table{border-collapse:collapse;background:#fff;min-width:480px}
td,th{border:1px solid #dde1e7;padding:4px 8px;text-align:left} th{background:#eef1f5}
.empty{color:#6b7280;font-style:italic}
"""


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


SHADOW_COLUMNS = ("strategy", "symbol", "expected", "outcome", "backtest_qty", "qty", "limit_price", "fill_price",
                  "backtest_fill", "slippage_limit_bps", "slippage_backtest_bps", "reason")


def _shadow(shadow: Mapping[str, Any] | None) -> str:
    """The last shadow check: its figures, the bounds it broke, its rows."""
    if not shadow:
        return '<p class="empty">no shadow check yet (after the first session)</p>'
    c = shadow.get("counts") or {}
    figures = (f"session {shadow.get('session')}: {c.get('expected', 0)} expected, {c.get('sent', 0)} sent, "
               f"{c.get('filled', 0)} filled, {c.get('missed', 0)} missed, {c.get('not_sent', 0)} not sent, "
               f"{c.get('unexpected', 0)} unexpected; slippage against the backtest "
               f"{_fmt(c.get('slippage_bps'))} bps")
    breaches = "".join(f'<p class="bad">{escape(b)}</p>' for b in shadow.get("breaches") or [])
    ok = "" if breaches else '<p class="ok">within bounds</p>'
    return (f"<p>{escape(figures)}</p>{breaches}{ok}"
            f"{_table(shadow.get('rows') or [], SHADOW_COLUMNS, 'nothing expected, nothing sent')}")


def _drift(drift: Mapping[str, Any] | None) -> str:
    """The last drift verdict per strategy, with the checks in alarm."""
    strategies = (drift or {}).get("strategies") or {}
    rows = [{"strategy": name, "live trades": v.get("live_trades"), "backtest trades": v.get("backtest_trades"),
             "verdict": v.get("verdict"),
             "in alarm": "; ".join(c["detail"] for c in v.get("checks", []) if c.get("alarm")) or "-"}
            for name, v in strategies.items()]
    session = f'<p>after {escape(str(drift.get("session")))}</p>' if drift else ""
    return session + _table(rows, ("strategy", "live trades", "backtest trades", "verdict", "in alarm"),
                            "no drift check yet (after the first session)")


def render(status: Mapping[str, Any]) -> str:
    """The page for a status snapshot (the same dict ``/health`` returns)."""
    beat = status.get("heartbeat") or {}
    fresh = status.get("heartbeat_fresh")
    killed = status.get("kill_switch")
    metrics = status.get("metrics", {})
    cards = [
        ("mode", status.get("mode", "-"), ""),
        ("heartbeat", f"{beat.get('time', 'none')}", "ok" if fresh else "bad"),
        ("kill switch", "SET: " + str(killed.get("reason", "")) if killed else "off", "bad" if killed else "ok"),
        ("equity", _fmt(status.get("equity")), ""),
        ("spent today", f"{_fmt(status.get('spent_today_usd'))} of {_fmt(status.get('daily_budget_usd'))}", ""),
        ("realized P&L", _fmt(metrics.get("pnl_realized_usd")), ""),
    ]
    card_html = "".join(f'<div class="card" id="card-{escape(label.replace(" ", "-"))}">{escape(label)}'
                        f'<b class="{cls}">{escape(str(value))}</b></div>' for label, value, cls in cards)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<title>Kobe</title><style>{STYLE}</style></head><body>
<h1>Kobe <span class="{'ok' if fresh and not killed else 'bad'}">{'running' if fresh else 'not running'}</span></h1>
<div class="cards">{card_html}</div>
<h2>Positions</h2>
<div id="positions">{_table(status.get("positions", []), ("symbol", "qty", "avg_cost", "realized_pnl"),
                              "no open positions")}</div>
<h2>Today's orders</h2>
<div id="orders">{_table(status.get("orders", []), ("client_order_id", "strategy", "symbol", "side", "qty",
                                                   "limit_price", "status", "filled_qty", "filled_avg_price"),
                         "no orders today")}</div>
<h2>Recent alerts</h2>
<div id="alerts">{_table(status.get("alerts", []), ("time", "level", "message"), "no alerts")}</div>
<h2>Shadow check: the session against its backtest</h2>
<div id="shadow">{_shadow(status.get("shadow"))}</div>
<h2>Drift: live trades against the backtest's</h2>
<div id="drift">{_drift(status.get("drift"))}</div>
<p class="empty">config {escape(str(status.get("config_sha256", "-")))} · read-only · refreshes every 10 s</p>
</body></html>
"""
