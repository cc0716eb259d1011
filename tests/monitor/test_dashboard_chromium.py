"""The dashboard in Debian's Chromium, headless, driven by Playwright against the served
app: every chart draws data, the tables have human headers and formatted values, and
the page follows the status without reloading."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from test_health import status

from kobe.monitor.dashboard import render
from kobe.monitor.health import serve_health

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHARTS = ("chart-equity", "chart-pnl", "chart-strategies")
HISTORY = [{"time": f"2026-11-{d}T{h}:00+00:00", "session": f"2026-11-{d}", "equity": e}
           for (d, h), e in zip([("23", "14:35"), ("23", "20:55"), ("24", "14:35"), ("24", "20:55"),
                                 ("25", "14:35")], [100000.0, 100040.0, 99980.0, 100012.5, 100030.0], strict=True)]
EXPECTED = {"start": "2026-11-23", "through": "2026-11-24", "initial_cash": 100000.0,
            "points": [{"session": "2026-11-23", "time": "2026-11-23T16:00:00-05:00", "pnl": 25.0},
                       {"session": "2026-11-24", "time": "2026-11-24T16:00:00-05:00", "pnl": 30.0}],
            "strategies": {"donchian_breakout": 30.0}}
POSITIONS = [{"symbol": "AAPL", "strategy": "donchian_breakout", "qty": 10, "avg_cost": 150.0, "realized_pnl": 0.0,
              "last_price": 152.5, "unrealized_pnl": 25.0, "stop_price": 145.0, "stop_distance_pct": 4.92}]
STRATEGIES = {"donchian_breakout": {"realized": 12.5, "unrealized": 25.0, "trades": 4, "wins": 3}}
ALERTS = [{"level": "error", "message": "no trading: the bars are not fresh", "count": 30,
           "first": "2026-11-25T15:00:00+00:00", "last": "2026-11-25T15:04:50+00:00"}]


def full_status(**changes: Any) -> dict[str, Any]:
    return status(**{"equity_history": HISTORY, "expected": EXPECTED, "positions": POSITIONS,
                     "strategies": STRATEGIES, "alerts_folded": ALERTS, "now": "2026-11-25T15:05:00+00:00",
                     "spent_today_usd": 1525.0, "daily_budget_usd": 5000.0, **changes})


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (.ci/run installs it)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def charts_drawn(page: Page) -> None:
    page.wait_for_function("""ids => ids.every(id => {
        const div = document.getElementById(id);
        return div && div.data && div.data.some(t => (t.y || []).length > 0) && div.querySelector('.main-svg');
    })""", arg=list(CHARTS), timeout=15000)


def headers(page: Page, table: str) -> list[str]:
    return page.locator(f"#{table} th").all_inner_texts()


def column(page: Page, table: str, header: str) -> list[str]:
    index = headers(page, table).index(header)
    return page.locator(f"#{table} tbody tr td:nth-child({index + 1})").all_inner_texts()


def test_dashboard_draws_charts_and_human_tables(browser: Browser, tmp_path: Path) -> None:
    errors: list[str] = []
    with serve_health(lambda: full_status(), port=0, dashboard=render) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(url + "/")
        charts_drawn(page)
        traces = page.evaluate("ids => ids.map(id => document.getElementById(id).data.map(t => t.y.length))",
                               list(CHARTS))
        assert traces == [[5], [5, 2], [1, 1]]        # equity; live and backtest P&L; live and backtest bars
        assert headers(page, "positions")[:7] == ["Symbol", "Strategy", "Side", "Qty", "Avg cost", "Last price",
                                                  "Market value"]
        assert column(page, "positions", "Avg cost") == ["$150.00"]
        assert column(page, "positions", "Unrealized P&L") == ["+$25.00"]
        assert column(page, "positions", "Stop") == ["$145.00"] and column(page, "positions", "To stop") == ["4.92%"]
        assert column(page, "strategies", "Win rate") == ["75.00%"]
        assert column(page, "strategies", "Backtest P&L") == ["+$30.00"]
        assert column(page, "alerts", "Times") == ["×30"]
        assert column(page, "shadow-rows", "Expected") == ["yes", "yes"]
        assert column(page, "shadow-rows", "Limit") == ["—", "$45.84"]
        assert page.inner_text("#card-equity b") == "$100,012.50"
        assert page.inner_text("#card-spent-today b") == "$1,525.00 of $5,000.00"
        text = page.inner_text("body")
        assert "avg_cost" not in text and "True" not in text and "False" not in text and "None" not in text
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert not errors


def test_the_page_follows_the_status_without_reloading(browser: Browser) -> None:
    current = {"status": full_status()}
    with serve_health(lambda: current["status"], port=0, dashboard=render) as url:
        page = browser.new_page()
        page.goto(url + "/")
        charts_drawn(page)
        page.evaluate("window.__kobeMarker = 'same page'")
        moved = [*HISTORY, {"time": "2026-11-25T20:55:00+00:00", "session": "2026-11-25", "equity": 123456.78}]
        current["status"] = full_status(equity=123456.78, equity_history=moved,
                                        positions=[{**POSITIONS[0], "last_price": 160.0, "unrealized_pnl": 100.0}])
        page.wait_for_function("document.querySelector('#card-equity b').textContent === '$123,456.78'",
                               timeout=20000)
        assert page.evaluate("window.__kobeMarker") == "same page"      # no reload: the window survived
        assert column(page, "positions", "Last price") == ["$160.00"]
        assert page.evaluate("document.getElementById('chart-equity').data[0].y.slice(-1)[0]") == 123456.78
        assert "live, updated" in page.inner_text("#poll-state")


def test_the_page_works_with_a_token_in_its_address(browser: Browser) -> None:
    # Beyond loopback the browser's only way to present the token is the address: the page
    # passes it on to its script, Plotly and its polls.
    with serve_health(lambda: full_status(), port=0, dashboard=render, token="t0ken") as url:
        page = browser.new_page()
        refused = page.goto(url + "/")
        assert refused is not None and refused.status == 401
        page.goto(url + "/?token=t0ken")
        charts_drawn(page)
        page.wait_for_function("document.getElementById('poll-state').textContent.startsWith('live, updated')",
                               timeout=20000)
