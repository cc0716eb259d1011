"""The market-data providers through the real clients against kobe exchange: paging,
injected 429/500, the lake filled from them, and keys never shown."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from kobe.broker.exchange import FaultRule
from kobe.config.errors import KobeError
from kobe.data.bars import read_bars
from kobe.data.lake import Lake, fetch
from kobe.data.providers import make_provider
from kobe.data.providers.alpaca import AlpacaProvider
from kobe.data.providers.polygon import PolygonProvider

from stand_keys import KEY_ID, POLYGON_KEY, SECRET

START, END = dt.date(2016, 1, 1), dt.date(2016, 12, 31)


def expected(symbol: str) -> pl.DataFrame:
    return read_bars(symbols=[symbol], start=START, end=END).collect()


def test_polygon_pages_through_a_year(start_exchange) -> None:
    stand = start_exchange(page_size=100)
    bars = PolygonProvider(POLYGON_KEY, base_url=stand.url, retries=0).daily_bars("AAPL", START, END)
    assert bars.equals(expected("AAPL"))
    pages = [r for r in stand.requests() if "/v2/aggs/ticker/AAPL" in r["path"]]
    assert len(pages) == 3  # 252 bars at 100 per page


def test_alpaca_pages_through_a_year(start_exchange) -> None:
    stand = start_exchange(page_size=100)
    bars = AlpacaProvider(KEY_ID, SECRET, base_url=stand.url).daily_bars("MSFT", START, END)
    assert bars.equals(expected("MSFT"))
    assert len([r for r in stand.requests() if r["path"] == "/v2/stocks/bars"]) == 3


def test_polygon_retries_429_and_500(start_exchange) -> None:
    stand = start_exchange()
    stand.admin.set_faults(rules=[FaultRule("status", path="/v2/aggs", status=429, count=1, retry_after=0),
                                  FaultRule("status", path="/v2/aggs", status=500, count=1)])
    bars = PolygonProvider(POLYGON_KEY, base_url=stand.url, retries=3).daily_bars("KO", START, END)
    assert bars.equals(expected("KO"))
    statuses = [r["status"] for r in stand.requests() if "/v2/aggs" in r["path"]]
    assert statuses[:3] == [429, 500, 200]


def test_polygon_gives_up_with_a_clear_error_and_no_key(start_exchange) -> None:
    stand = start_exchange()
    stand.admin.set_faults(rules=[FaultRule("status", path="/v2/aggs", status=500)])
    with pytest.raises(KobeError) as info:
        PolygonProvider(POLYGON_KEY, base_url=stand.url, retries=1).daily_bars("KO", START, END)
    text = info.value.render()
    assert "polygon: fetching KO failed" in text and POLYGON_KEY not in text


def test_wrong_key_is_reported_without_the_key(start_exchange) -> None:
    stand = start_exchange()
    with pytest.raises(KobeError) as info:
        AlpacaProvider("PKWRONGKEY", "SKWRONGSECRET", base_url=stand.url).daily_bars("KO", START, END)
    text = info.value.render()
    assert "alpaca: fetching KO failed" in text and "PKWRONGKEY" not in text and "SKWRONGSECRET" not in text


def test_fetch_fills_the_lake_and_a_second_fetch_is_a_no_op(start_exchange, tmp_path) -> None:
    stand = start_exchange()
    provider = make_provider("polygon", base_url=stand.url, env={"POLYGON_API_KEY": POLYGON_KEY})
    lake = Lake(tmp_path / "lake")
    report = fetch(lake, provider, ["AAPL", "KO", "XOM"], START, END, workers=3)
    assert not report.failed and report.fetched_rows == 3 * 252
    assert read_bars(tmp_path / "lake").collect().equals(
        read_bars(symbols=["AAPL", "KO", "XOM"], start=START, end=END).collect())
    before = len(stand.requests())
    again = fetch(lake, provider, ["AAPL", "KO", "XOM"], START, END)
    assert again.nothing_to_do and len(stand.requests()) == before


def test_missing_key_is_a_clear_error() -> None:
    with pytest.raises(KobeError, match="POLYGON_API_KEY is not set"):
        make_provider("polygon", env={})


def test_a_fetch_killed_midway_resumes_with_a_consistent_lake(start_exchange, tmp_path) -> None:
    import hashlib
    import os
    import signal
    import subprocess
    import sys
    import time

    stand = start_exchange()
    stand.admin.set_faults(latency=0.15)
    symbols = ["AAPL", "ADBE", "AMGN", "AMZN", "BA", "BAC", "C", "CAT", "CSCO", "CVX", "DIS", "GE"]
    (tmp_path / "u.csv").write_text("symbol\n" + "\n".join(symbols) + "\n")
    lake_dir = tmp_path / "lake"
    command = [sys.executable, "-m", "kobe.cli", "data", "fetch", "--provider", "polygon", "--base-url", stand.url,
               "--universe", str(tmp_path / "u.csv"), "--start", "2016-01-01", "--end", "2016-12-31",
               "--lake", str(lake_dir), "--workers", "1"]
    env = {**os.environ, "POLYGON_API_KEY": POLYGON_KEY}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until some, not all, symbols are in
        done = len(Lake(lake_dir).manifest()) if (lake_dir / "manifest.json").exists() else 0
        if done >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lake = Lake(lake_dir)
    entries = lake.manifest()
    assert 3 <= len(entries) < len(symbols)
    for symbol, entry in entries.items():  # every entry describes a whole file
        assert hashlib.sha256(lake.path(symbol).read_bytes()).hexdigest() == entry.sha256
    stand.admin.clear_faults()
    before = len(stand.requests())
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    asked = {r["path"].split("/")[4] for r in stand.requests()[before:] if "/v2/aggs/ticker/" in r["path"]}
    assert asked == set(symbols) - set(entries)  # only what was missing
    assert read_bars(lake_dir).collect().equals(read_bars(symbols=symbols, start=START, end=END).collect())
    assert sorted(p.name for p in (lake_dir / "bars").iterdir()) == sorted(f"{s}.parquet" for s in symbols)
