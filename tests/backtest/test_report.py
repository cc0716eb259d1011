"""The HTML report: self-contained, reproducible, and what headless Chromium makes of it.

The page tests drive Debian's Chromium (``/usr/bin/chromium``; the README's test command
installs it) through Playwright, with name resolution switched off and every request
that is not the file itself refused, so the page can only draw what it carries inline.
Without Chromium they fail: an unrendered report must not pass unseen.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from PIL import Image
from playwright.sync_api import Browser, Page, Route, sync_playwright

from kobe.backtest.metrics import rolling_sharpe, sharpe
from kobe.backtest.report import CHART_IDS, SYMBOL_CHART_ID, render_report, symbol_data
from kobe.cli import main

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
TRADE_COLUMNS = ["strategy", "symbol", "side", "signal", "entry", "entry price", "exit", "exit price", "shares",
                 "P&L", "return", "exit reason", "bars"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], pl.DataFrame]:
    """A report of both seed strategies on the embedded sample, written by the CLI, its
    summary, and its trades (closed and open) as the CSV files hold them."""
    root = tmp_path_factory.mktemp("project")
    for name in ("strategies.yaml", "risk.yaml"):
        shutil.copy(REPO / name, root / name)
    for folder in ("rules", "universe"):
        shutil.copytree(REPO / folder, root / folder)
    result = CliRunner().invoke(main, ["backtest", str(root / "strategies.yaml"), "--out", str(root / "out"),
                                       "--report", str(root / "report.html"), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    trades = pl.concat([pl.read_csv(root / "out" / "trades.csv", try_parse_dates=True),
                        pl.read_csv(root / "out" / "open_trades.csv", try_parse_dates=True)], how="diagonal_relaxed")
    return root / "report.html", json.loads(result.output), trades


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is needed to check the report renders: apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def loaded(browser: Browser, report) -> Iterator[tuple[Page, list[str], list[str]]]:
    """The report, opened once for the module (loading it takes seconds), once Plotly has
    drawn every chart; with the errors of its scripts and the requests it made elsewhere."""
    path = report[0]
    page = browser.new_page(viewport={"width": 1280, "height": 2400})
    errors: list[str] = []
    elsewhere: list[str] = []

    def only_the_file(route: Route) -> None:
        if route.request.url == path.as_uri():
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_file)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot').length >= {len(CHART_IDS) + 1}",
                           timeout=60_000)
    yield page, errors, elsewhere
    page.close()


@pytest.fixture
def page(loaded) -> Iterator[Page]:
    """The opened report; a test that filters or rescales puts it back. Errors of the page's
    scripts and requests elsewhere fail the test during which they happened."""
    page, errors, elsewhere = loaded
    yield page
    assert not errors, errors
    assert not elsewhere, f"the page asked for {elsewhere}"


def points(trace: dict[str, Any]) -> int:
    """The data points of a Plotly trace, gaps (null) left out."""
    for key in ("z", "y", "x", "close"):
        if trace.get(key) is not None:
            values = trace[key]
            flat = [v for row in values for v in row] if values and isinstance(values[0], list) else values
            return sum(v is not None for v in flat)
    return 0


def rows(page: Page, column: int) -> list[str]:
    """The shown trade rows' sort key (``data-v``, else the text) of ``column``, top to bottom."""
    return page.eval_on_selector_all(
        "#trade-table tbody tr:not([hidden])",
        f"rows => rows.map(r => r.cells[{column}].getAttribute('data-v') ?? r.cells[{column}].textContent)")


def test_the_report_is_self_contained(report) -> None:
    path, data, _ = report
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", text), "a script loaded from elsewhere"
    assert not re.search(r"<link[^>]*\bhref=", text), "a stylesheet loaded from elsewhere"
    assert "Plotly" in text and len(text) > 3_000_000          # plotly.js itself is inlined
    assert data["receipt"]["config_sha256"] in text
    for chart in (*CHART_IDS, SYMBOL_CHART_ID):
        assert f'id="{chart}"' in text


def test_the_same_backtest_gives_the_same_report(report, project_dir: Path) -> None:
    from kobe.backtest import run_backtest
    from kobe.backtest.outputs import summary
    from kobe.backtest.receipt import make_receipt
    from kobe.data.bars import read_bars
    from kobe.project import load_project

    project = load_project(project_dir / "strategies.yaml")
    pages = []
    for _ in range(2):
        result = run_backtest(project, read_bars(), strategy="donchian_breakout")
        receipt = make_receipt(command="kobe backtest", config_sha256="c" * 64, bars=result.market.bars,
                               data_source="embedded")
        pages.append(render_report(result, summary(result, receipt), receipt))
    assert pages[0] == pages[1]


def test_every_chart_is_drawn_with_data(page: Page, report) -> None:
    _, data, _ = report
    for chart in (*CHART_IDS, SYMBOL_CHART_ID):
        assert page.eval_on_selector(f"#{chart}", "d => d.classList.contains('js-plotly-plot')"), chart
        assert page.locator(f"#{chart} svg.main-svg").count() > 0, f"{chart}: no SVG"
        traces = page.evaluate(f"document.getElementById('{chart}').data")
        assert traces, f"{chart} has no trace"
        for trace in traces:
            assert points(trace) > 0, f"{chart}: trace {trace.get('name')} has no points"
    accounts = [*data["strategies"], "combined"]
    for chart in ("equity-chart", "drawdown-chart", "sharpe-chart"):
        names = [t["name"] for t in page.evaluate(f"document.getElementById('{chart}').data")]
        assert names == [*accounts, "buy & hold"], chart        # the benchmark's drawdown included
    histograms = page.evaluate("document.getElementById('returns-chart').data")
    assert [(t["type"], t["name"]) for t in histograms] == [("histogram", name) for name in data["strategies"]]
    assert sum(len(t["x"]) for t in histograms) == data["combined"]["metrics"]["trades"]


def test_the_return_chart_switches_to_a_log_scale(page: Page) -> None:
    axis = "document.getElementById('equity-chart').layout.yaxis"
    assert page.evaluate(f"{axis}.type") == "linear"
    first = page.evaluate("document.getElementById('equity-chart').data[0].y[0]")
    page.locator("#equity-chart .updatemenu-button", has_text="log").click()
    page.wait_for_function(f"() => {axis}.type === 'log'")
    # On the log axis the lines are the growth of 1: a return of r% is 1 + r / 100.
    assert page.evaluate("document.getElementById('equity-chart').data[0].y[0]") == pytest.approx(1 + first / 100)
    assert "0%" in page.evaluate(f"{axis}.ticktext")
    page.locator("#equity-chart .updatemenu-button", has_text="linear").click()
    page.wait_for_function(f"() => {axis}.type === 'linear'")


def test_the_return_chart_shows_the_gain_on_capital_at_risk(page: Page, report) -> None:
    """Each strategy's last point is its return on capital at risk (summary.json), the
    benchmark's its total return."""
    _, data, _ = report
    page.locator("#equity-chart .updatemenu-button", has_text="on capital at risk").click()
    page.wait_for_function("() => document.getElementById('equity-chart').data[0].y[0] !== null")
    traces = {t["name"]: t["y"] for t in page.evaluate("document.getElementById('equity-chart').data")}
    for name, account in data["strategies"].items():
        assert traces[name][-1] == pytest.approx(account["metrics"]["return_on_capital_at_risk"] * 100, abs=1e-3)
    bench = data["strategies"][next(iter(data["strategies"]))]["benchmark"]["total_return"]
    assert traces["buy & hold"][-1] == pytest.approx(bench * 100, abs=1e-3)
    page.locator("#equity-chart .updatemenu-button", has_text="linear").click()


def test_the_trade_table_sorts(page: Page, report) -> None:
    _, data, _ = report
    pnl, entry = TRADE_COLUMNS.index("P&L"), TRADE_COLUMNS.index("entry")
    before = rows(page, pnl)
    assert len(before) == data["combined"]["metrics"]["trades"] + data["combined"]["metrics"]["open_trades"]
    header = page.locator("#trade-table thead tr").first.locator("th", has_text="P&L")
    header.click()
    ascending = [float(v) for v in rows(page, pnl)]
    assert ascending == sorted(ascending) and ascending != [float(v) for v in before]
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = [float(v) for v in rows(page, pnl)]
    assert descending == sorted(ascending, reverse=True)
    page.locator("#trade-table thead tr").first.locator("th", has_text=re.compile("^entry$")).click()
    days = [int(v) for v in rows(page, entry)]
    assert days == sorted(days)


def test_the_trade_table_filters(page: Page, report) -> None:
    _, data, trades = report
    total = trades.height
    symbol = trades["symbol"].value_counts(sort=True)["symbol"][0]
    box = page.locator(f"#trade-table thead input[data-col='{TRADE_COLUMNS.index('symbol')}']")
    box.fill(symbol)
    shown = rows(page, TRADE_COLUMNS.index("symbol"))
    assert shown and set(shown) == {symbol}
    assert len(shown) == trades.filter(pl.col("symbol") == symbol).height < total
    assert page.inner_text("#trade-count") == f"{len(shown):,}"
    box.fill("")
    strategy = min(data["strategies"], key=lambda name: data["strategies"][name]["metrics"]["trades"])
    page.fill("#trade-filter", strategy)
    assert set(rows(page, 0)) == {strategy}
    assert len(rows(page, 0)) == trades.filter(pl.col("strategy") == strategy).height
    page.fill("#trade-filter", "")
    assert len(rows(page, 0)) == total


def test_a_click_on_a_trade_charts_its_symbol(page: Page, report) -> None:
    _, _, trades = report
    shown = page.input_value("#symbol-picker")
    row = page.locator(f"#trade-table tbody tr:not([data-symbol='{shown}'])").first
    symbol = row.get_attribute("data-symbol")
    entry = row.get_attribute("data-from")
    row.click()
    page.wait_for_function(f"() => document.getElementById('symbol-picker').value === '{symbol}'")
    traces = {t["name"]: t for t in page.evaluate(f"document.getElementById('{SYMBOL_CHART_ID}').data")}
    candles = traces[symbol]
    assert candles["type"] == "candlestick" and len(candles["close"]) > 0
    assert len(candles["x"]) == len(candles["open"]) == len(candles["high"]) == len(candles["low"])
    theirs = trades.filter(pl.col("symbol") == symbol).sort("entry_date", "strategy")
    assert sorted(traces["entries"]["x"]) == sorted(str(d) for d in theirs["entry_date"])
    assert sorted(traces["exits"]["x"]) == sorted(str(d) for d in theirs["exit_date"])
    assert entry in traces["entries"]["x"]
    # Each trade's stop level at the entry, drawn from its entry to its exit.
    levels = [y for y in traces["stop at entry"]["y"] if y is not None]
    assert sorted(set(levels)) == pytest.approx(sorted(set(theirs["stop_price"].cast(pl.Float64).round(4).to_list())), abs=1e-4)
    # Zoomed on the trade: its entry is in view.
    start, end = page.evaluate(f"document.getElementById('{SYMBOL_CHART_ID}').layout.xaxis.range")
    assert start[:10] <= entry <= end[:10]
    # A symbol of the per-symbol table charts the whole period.
    other = page.locator("#by-symbol tbody tr").last
    name = other.get_attribute("data-symbol")
    other.click()
    page.wait_for_function(f"() => document.getElementById('{SYMBOL_CHART_ID}').data[0].name === '{name}'")


def test_the_screenshot_shows_charts(page: Page, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    page.evaluate("window.scrollTo({top: 0, behavior: 'instant'})")    # a click on a trade scrolls down
    page.wait_for_function("() => window.scrollY === 0")
    page.screenshot(path=str(shot))
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    # Measured: the drawn report's first 2,400 pixels are about 35% non-white and 3.5%
    # coloured (strong colours: the lines, the heat map); the same page with its charts
    # purged (text and tables only) about 1.6% and 0%.
    non_white = (pixels.min(axis=2) < 240).mean()
    coloured = ((pixels.max(axis=2) - pixels.min(axis=2)) > 60).mean()
    assert non_white > 0.15, f"only {non_white:.1%} of the page is not white"
    assert coloured > 0.015, f"only {coloured:.1%} of the page is coloured: no charts?"


def test_the_symbol_chart_gets_the_traded_symbols_bars_and_stops(report, project_dir: Path) -> None:
    from kobe.backtest import run_backtest
    from kobe.data.bars import read_bars
    from kobe.project import load_project

    result = run_backtest(load_project(project_dir / "strategies.yaml"), read_bars(), strategy="donchian_breakout",
                          start=dt.date(2016, 1, 4))
    trades = result.strategies[0].trades
    chart = symbol_data(result, trades)
    assert sorted(chart["bars"]) == sorted(set(trades["symbol"].to_list())) != []
    assert chart["dates"][0] == "2016-01-04"                       # the period, not the warm-up
    symbol = next(iter(chart["bars"]))
    bars = chart["bars"][symbol]
    frame = result.market.bars.filter((pl.col("symbol").cast(pl.String) == symbol) & (pl.col("date") >= result.start))
    assert len(bars["c"]) == frame.height
    assert bars["c"] == pytest.approx(frame["close"].to_list(), abs=0.005)
    # Each trade's stop, as the trades table records it (set at the entry), is drawn.
    mine = trades.filter(pl.col("symbol") == symbol)
    assert [t[9] for t in chart["trades"][symbol]] == pytest.approx(mine["stop_price"].to_list(), abs=1e-4)
    assert all(t[9] is not None and t[9] < t[3] for t in chart["trades"][symbol])      # long: below the entry
    # Trades without a level get none.
    bare = symbol_data(result, trades.drop("stop_price"))
    assert all(t[9] is None for t in bare["trades"][symbol])


def test_the_rolling_sharpe_is_the_sharpe_of_each_window() -> None:
    daily = np.random.default_rng(7).normal(0.0005, 0.01, 200)
    daily[120:190] = 0.0                                              # flat: undefined
    ratio = rolling_sharpe(daily, 63)
    assert np.isnan(ratio[:62]).all()
    assert ratio[62] == pytest.approx(sharpe(daily[:63]))
    assert ratio[100] == pytest.approx(sharpe(daily[38:101]))
    assert np.isnan(ratio[185])
