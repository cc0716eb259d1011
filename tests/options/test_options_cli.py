"""`kobe options price | iv | cone | chain` and `kobe universe build --optionable` through
click's CliRunner; chain and --optionable against a served `kobe exchange`, read with
alpaca-py as the commands read a real broker."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from kobe.broker.exchange import ExchangeConfig, serve_exchange
from kobe.cli import main
from kobe.data.bars import read_bars
from kobe.data.calendar import NEW_YORK
from kobe.options.pricing import Inputs, greeks, implied_vol
from kobe.options.volatility import cone, realized
from kobe.project import load_definitions

REPO = Path(__file__).resolve().parents[2]
OPEN = dt.datetime(2017, 6, 5, 9, 30, tzinfo=NEW_YORK)
MARKET = ["--type", "put", "--spot", "100", "--strike", "95", "--rate", "0.03", "--dividend", "0.01",
          "--expiry-years", "0.25"]


def run(args: list[str]):
    return CliRunner().invoke(main, args)


def test_price_prints_the_price_and_every_greek() -> None:
    result = run(["options", "price", *MARKET, "--vol", "0.3", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    expected = greeks(Inputs("put", 100, 95, 0.03, 0.01, 0.3, 0.25)).as_dict()
    assert {k: shown[k] for k in expected} == expected
    text = run(["options", "price", *MARKET, "--vol", "0.3"]).output
    for name in ("price", "delta", "gamma", "vega", "theta", "theta_per_day", "rho"):
        assert text.count(f"\n{name} ") + text.startswith(f"{name} ") == 1, name
    assert "per 1.00 of volatility" in text and "per calendar day" in text


def test_iv_inverts_price() -> None:
    p = greeks(Inputs("put", 100, 95, 0.03, 0.01, 0.3, 0.25)).price
    result = run(["options", "iv", *MARKET, "--price", repr(p), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["implied_vol"] == pytest.approx(0.3, rel=1e-10)


@pytest.mark.parametrize(("args", "where"), [
    (["options", "price", *MARKET, "--vol", "nan"], "--vol"),
    (["options", "price", *MARKET, "--vol", "-0.2"], "--vol"),
    (["options", "price", *MARKET[:3], "0", *MARKET[4:], "--vol", "0.2"], "--spot"),
    (["options", "price", "--type", "straddle", *MARKET[2:], "--vol", "0.2"], "--type"),
    (["options", "price", *MARKET], "--vol"),
    (["options", "iv", *MARKET, "--price", "200"], "--price"),       # above the put's upper bound 95 e^(-rT)
    (["options", "iv", *MARKET, "--price", "inf"], "--price"),
    (["options", "price", "--type", "call", "--spot", "100", "--strike", "100", "--vol", "0.2",
      "--expiry-years", "0"], "--expiry-years"),                      # the kink at expiry
    (["options", "cone", "AAPL", "--windows", "20,x"], "--windows"),
    (["options", "cone", "AAPL", "--windows", "1"], "--windows"),
    (["options", "cone", "NOPE"], "NOPE"),
])
def test_bad_input_is_located_exit_2_no_traceback(args: list[str], where: str) -> None:
    result = run(args)
    assert result.exit_code == 2, result.output
    assert where in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_cone_is_the_rule_language_s_estimator() -> None:
    """The 20-session close-to-close cone is features.kobe's vol_cc_20 annualised, and
    that is numpy's sample stdev of log returns: no second implementation."""
    definitions, _, problems = load_definitions(REPO)
    assert not problems
    series = realized(read_bars(None), "KO", definitions, windows=[20, 60])
    close = read_bars(None).filter(pl.col("symbol") == "KO").sort("date").collect()["close"].to_numpy()
    logs = np.diff(np.log(close))
    assert series["20"][-1] == pytest.approx(np.std(logs[-20:], ddof=1) * math.sqrt(252), rel=1e-9)
    rows = cone(series, [20, 60])
    values = series["60"].drop_nulls().to_numpy()
    assert rows[1].percentiles[0.5] == pytest.approx(np.percentile(values, 50), rel=1e-12)
    assert rows[1].count == len(close) - 60
    result = run(["options", "cone", "KO", "--windows", "20,60", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["windows"][0]["latest"] == pytest.approx(series["20"][-1])


def test_chain_prices_the_broker_s_contracts_and_picks_the_delta(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with serve_exchange(ExchangeConfig(start=OPEN, state=tmp_path / "x.sqlite")) as url:
        monkeypatch.setenv("ALPACA_BASE_URL", url)
        monkeypatch.setenv("ALPACA_API_KEY_ID", "PKTESTKEY")
        monkeypatch.setenv("ALPACA_API_SECRET_KEY", "test-secret")
        result = run(["options", "chain", "AAPL", "--date", "2017-06-02", "--dte", "45", "--delta", "0.25",
                      "--type", "put", "--json"])
        assert result.exit_code == 0, result.output
        out = json.loads(result.output)
        assert out["pick"]["expiry"] == "2017-07-21"      # 49 days away; June 16 is 14
        deltas = [c["delta"] for c in out["contracts"]]
        best = min(deltas, key=lambda d: abs(abs(d) - 0.25))
        assert out["pick"]["delta"] == best and out["pick"]["type"] == "put"
        # Priced at the bars' 20-session close-to-close volatility, from the spot of 2017-06-02.
        p = out["pick"]
        again = greeks(Inputs("put", out["spot"], p["strike"], 0.0, 0.0, out["vol"], p["days"] / 365))
        assert p["price"] == again.price
        assert implied_vol("put", p["price"], out["spot"], p["strike"], 0, 0, p["days"] / 365) == \
            pytest.approx(out["vol"], rel=1e-8)
        text = run(["options", "chain", "AAPL", "--date", "2017-06-02"])
        assert text.exit_code == 0 and "pick: AAPL170616C" in text.output, text.output
    # The broker gone: a located error, exit 2.
    down = run(["options", "chain", "AAPL", "--date", "2017-06-02", "--timeout", "2"])
    assert down.exit_code == 2 and "ALPACA_BASE_URL" in down.output and "test-secret" not in down.output


def test_universe_build_optionable_keeps_the_listed(tmp_path: Path, monkeypatch) -> None:
    """A penny stock (closes under $3) has no options at the exchange: --optionable drops it."""
    sample = read_bars(None).collect()
    penny = sample.filter(pl.col("symbol") == "KO").with_columns(
        pl.lit("PENY").alias("symbol"), *(pl.col(c) / 20 for c in ("open", "high", "low", "close")),
        pl.col("volume") * 100)
    data = tmp_path / "bars.parquet"
    pl.concat([sample, penny]).write_parquet(data)
    monkeypatch.chdir(tmp_path)
    common = ["universe", "build", "--data", str(data), "--min-price", "0", "--min-adv", "0", "--as-of",
              "2017-06-02"]
    every = run([*common, "--out", "all.csv"])
    assert every.exit_code == 0, every.output
    assert "PENY" in pl.read_csv(tmp_path / "all.csv")["symbol"].to_list()
    with serve_exchange(ExchangeConfig(data=data, start=OPEN, state=tmp_path / "x.sqlite")) as url:
        monkeypatch.setenv("ALPACA_BASE_URL", url)
        monkeypatch.setenv("ALPACA_API_KEY_ID", "PKTESTKEY")
        monkeypatch.setenv("ALPACA_API_SECRET_KEY", "test-secret")
        result = run([*common, "--optionable", "--out", "opt.csv"])
        assert result.exit_code == 0, result.output
    kept = pl.read_csv(tmp_path / "opt.csv")["symbol"].to_list()
    assert "PENY" not in kept
    assert sorted(kept) == sorted(s for s in pl.read_csv(tmp_path / "all.csv")["symbol"] if s != "PENY")
    monkeypatch.delenv("ALPACA_API_KEY_ID")
    missing = run([*common, "--optionable", "--out", "no.csv"])
    assert missing.exit_code == 2 and "ALPACA_API_KEY_ID" in missing.output
