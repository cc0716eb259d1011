"""Options commands: ``kobe options price``, ``iv``, ``cone`` and ``chain`` (docs/options.md).

Thin: each parses options, calls :mod:`kobe.options`, prints. Numbers are checked by
click (a NaN, an infinity or an out-of-range value is a usage error naming the option,
exit 2); what only the model can judge (a price outside the no-arbitrage bounds, the
at-the-money kink at expiry) is a :class:`KobeError`, exit 2, no traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kobe.cli.common import CALL_SECONDS, FiniteRange, fail_cleanly, parse_date, table
from kobe.options.pricing import MAX_PRICE, MAX_RATE, MAX_VOL, MAX_YEARS

KIND = click.Choice(["call", "put"])
PRICE = FiniteRange(0, MAX_PRICE, low_open=True)
RATE = FiniteRange(-MAX_RATE, MAX_RATE)
FIGURES = ("price", "delta", "gamma", "vega", "theta", "theta_per_day", "rho")
UNITS = {"vega": "per 1.00 of volatility", "theta": "per year", "theta_per_day": "per calendar day, theta / 365",
         "rho": "per 1.00 of rate"}


def _market(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every pricing command shares."""
    for option in reversed([
        click.option("--type", "kind", type=KIND, required=True, help="call or put."),
        click.option("--spot", type=PRICE, required=True, help="The underlying's price (> 0)."),
        click.option("--strike", type=PRICE, required=True, help="The strike (> 0)."),
        click.option("--rate", type=RATE, default=0.0, show_default=True,
                     help="Risk-free rate per year, continuously compounded (-1 .. 1)."),
        click.option("--dividend", type=RATE, default=0.0, show_default=True,
                     help="Dividend yield per year, continuously compounded (-1 .. 1)."),
        click.option("--expiry-years", "years", type=FiniteRange(0, MAX_YEARS), required=True,
                     help="Time to expiry in years (0 .. 100; 30 calendar days is 30/365 = 0.0822)."),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
    ]):
        func = option(func)
    return func


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


@click.group()
def options() -> None:
    """European options on US equities: Black-Scholes-Merton prices, Greeks, implied vol, chains."""


@options.command()
@_market
@click.option("--vol", type=FiniteRange(0, MAX_VOL), required=True, help="Volatility per year (0.2 is 20 %; 0 .. 10).")
@fail_cleanly
def price(kind: str, spot: float, strike: float, rate: float, dividend: float, years: float, vol: float,
          as_json: bool) -> None:
    """The Black-Scholes-Merton price and every Greek (vega per 1.00 vol, theta per year and per day)."""
    from kobe.options.pricing import Inputs, greeks

    g = greeks(Inputs(kind, spot, strike, rate, dividend, vol, years))  # type: ignore[arg-type]
    if as_json:
        click.echo(json.dumps({"type": kind, "spot": spot, "strike": strike, "rate": rate, "dividend": dividend,
                               "vol": vol, "expiry_years": years, **g.as_dict()}, indent=2))
        return
    for name in FIGURES:
        unit = f"  ({UNITS[name]})" if name in UNITS else ""
        click.echo(f"{name:<14}{getattr(g, name):.10g}{unit}")


@options.command()
@_market
@click.option("--price", "price_", type=FiniteRange(0, MAX_PRICE), required=True, help="The option's price.")
@fail_cleanly
def iv(kind: str, spot: float, strike: float, rate: float, dividend: float, years: float, price_: float,
       as_json: bool) -> None:
    """The implied volatility of a price, or why it has none (the no-arbitrage bounds)."""
    from kobe.options.pricing import implied_vol

    vol = implied_vol(kind, price_, spot, strike, rate, dividend, years)  # type: ignore[arg-type]
    if as_json:
        click.echo(json.dumps({"type": kind, "price": price_, "implied_vol": vol}, indent=2))
    else:
        click.echo(f"implied_vol   {vol:.10g}")


def _bars(strategies: Path, source: str | None) -> tuple[Any, dict[str, Any], Path]:
    """The bars (``--data``, else the project's data source, else the embedded sample),
    the rule definitions (the project's rules/, else the shipped ones) and the project's
    folder."""
    from importlib import resources

    from kobe.data.bars import read_bars
    from kobe.project import load_definitions, load_project
    from kobe.scaffold import TEMPLATE

    root = strategies.parent
    bars = load_project(strategies).bars(source) if strategies.exists() else read_bars(source)
    # No rules/ beside the config: the shipped ones (the estimators of features.kobe).
    rules_root = root if (root / "rules").is_dir() else Path(str(resources.files("kobe").joinpath(TEMPLATE)))
    definitions, _, problems = load_definitions(rules_root)
    if problems:
        from kobe.config.errors import KobeError

        raise KobeError(problems)
    return bars, definitions, root


data_options = [
    click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml",
                 show_default=True, help="The project: its data source and rules/ (the estimators)."),
    click.option("--data", "source", default=None,
                 help="Bars file, folder or lake (default: the config's data source, else the embedded sample)."),
    click.option("--date", "day", default=None, help="As of this date (default: the symbol's last bar)."),
    click.option("--estimator", type=click.Choice(["close", "parkinson", "garman_klass", "rogers_satchell",
                                                    "yang_zhang"]), default="close", show_default=True,
                 help="The realized-volatility estimator of rules/features.kobe."),
]


def _with(options_: list[Callable[..., Any]]) -> Callable[..., Any]:
    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options_):
            func = option(func)
        return func
    return apply


@options.command()
@click.argument("symbol")
@_with(data_options)
@click.option("--windows", default="10,20,60,120,252", show_default=True, help="Windows in sessions, comma-separated.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@fail_cleanly
def cone(symbol: str, strategies: Path, source: str | None, day: str | None, estimator: str, windows: str,
         as_json: bool) -> None:
    """The volatility cone: percentiles of annualised realized volatility by window."""
    from kobe.options.volatility import PERCENTILES, realized
    from kobe.options.volatility import cone as build_cone

    try:
        sizes = [int(w) for w in windows.split(",") if w.strip()]
    except ValueError:
        raise click.BadParameter(f"{windows!r} is not a list of whole numbers", param_hint="--windows") from None
    bars, definitions, _ = _bars(strategies, source)
    series = realized(bars, symbol.upper(), definitions, estimator=estimator, windows=sizes, end=parse_date(day))
    rows = build_cone(series, sizes)
    if as_json:
        click.echo(json.dumps({"symbol": symbol.upper(), "estimator": estimator, "as_of": str(series["date"][-1]),
                               "windows": [{"window": r.window, "count": r.count, "latest": _num(r.latest),
                                            "percentiles": {f"{p:g}": v for p, v in r.percentiles.items()}}
                                           for r in rows]}, indent=2))
        return
    header = ("window", *(f"p{round(p * 100)}" for p in PERCENTILES), "latest", "values")
    click.echo(f"{symbol.upper()} realized volatility ({estimator}, annualised) up to {series['date'][-1]}")
    click.echo(table([(r.window, *(f"{r.percentiles[p]:.4f}" if r.percentiles else "-" for p in PERCENTILES),
                       "-" if r.latest is None else f"{r.latest:.4f}", r.count) for r in rows], header))


@options.command()
@click.argument("symbol")
@_with(data_options)
@click.option("--type", "kind", type=KIND, default="call", show_default=True)
@click.option("--delta", type=FiniteRange(0, 1, low_open=True), default=0.3, show_default=True,
              help="Target |delta| (0.3: the +0.30 call or the -0.30 put).")
@click.option("--dte", type=click.IntRange(1, 3650), default=30, show_default=True,
              help="Pick the expiry nearest this many calendar days.")
@click.option("--rate", type=RATE, default=0.0, show_default=True, help="Risk-free rate per year, continuous.")
@click.option("--dividend", type=RATE, default=0.0, show_default=True, help="Dividend yield per year, continuous.")
@click.option("--vol-window", type=click.IntRange(2, 10_000), default=20, show_default=True,
              help="Sessions of realized volatility used as the pricing volatility.")
@click.option("--timeout", type=CALL_SECONDS, default=10.0, show_default=True, help="Seconds per broker call.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@fail_cleanly
def chain(symbol: str, strategies: Path, source: str | None, day: str | None, estimator: str, kind: str,
          delta: float, dte: int, rate: float, dividend: float, vol_window: int, timeout: float,
          as_json: bool) -> None:
    """Price the broker's chain of SYMBOL at the bars' realized volatility and pick the strike nearest --delta."""
    import polars as pl

    from kobe.config.errors import Diagnostic, KobeError
    from kobe.options.broker import option_chain
    from kobe.options.strikes import pick
    from kobe.options.volatility import latest_vol
    from kobe.secrets import read_env

    symbol = symbol.upper()
    bars, definitions, root = _bars(strategies, source)
    end = parse_date(day)
    closes = bars.filter(pl.col("symbol") == symbol)
    if end is not None:
        closes = closes.filter(pl.col("date") <= end)
    last = closes.sort("date").select("date", "close").tail(1).collect()
    if last.height == 0:
        raise KobeError(Diagnostic(f"no bars for {symbol}" + (f" up to {end}" if end else ""), file=source))
    today: dt.date = end or last["date"][0]
    spot = float(last["close"][0])
    vol = latest_vol(bars, symbol, definitions, window=vol_window, estimator=estimator, end=today)
    env = read_env(root / ".env")
    contracts = option_chain(env, symbol, today + dt.timedelta(days=1), today + dt.timedelta(days=max(2 * dte, dte + 45)),
                             timeout=timeout)
    if not contracts:
        raise KobeError(Diagnostic(f"the broker lists no {symbol} options expiring within {max(2 * dte, dte + 45)} "
                                   f"days of {today}", hint="a symbol with options (`kobe universe build "
                                                            "--optionable`), or a --date near the broker's"))
    best, quotes = pick(contracts, kind, today, days=dte, delta=delta, spot=spot,  # type: ignore[arg-type]
                        rate=rate, dividend=dividend, vol=vol)
    if as_json:
        def row(q: Any) -> dict[str, Any]:
            return {"symbol": q.contract.symbol, "expiry": q.contract.expiry.isoformat(), "type": q.contract.kind,
                    "strike": q.contract.strike, "days": q.days, **q.greeks.as_dict()}
        click.echo(json.dumps({"underlying": symbol, "as_of": today.isoformat(), "spot": spot, "vol": vol,
                               "estimator": estimator, "vol_window": vol_window, "rate": rate, "dividend": dividend,
                               "pick": row(best), "contracts": [row(q) for q in quotes]}, indent=2))
        return
    click.echo(f"{symbol} {today}: spot {spot:g}, vol {vol:.4f} ({estimator}, {vol_window} sessions, annualised); "
               f"{kind}s expiring {best.contract.expiry} ({best.days} days)")
    click.echo(table([("*" if q is best else "", q.contract.symbol, f"{q.contract.strike:g}", f"{q.greeks.price:.4f}",
                       f"{q.greeks.delta:+.4f}", f"{q.greeks.gamma:.5f}", f"{q.greeks.vega:.4f}",
                       f"{q.greeks.theta_per_day:.4f}") for q in quotes],
                     ("", "contract", "strike", "price", "delta", "gamma", "vega", "theta/day")))
    click.echo(f"pick: {best.contract.symbol} (delta {best.greeks.delta:+.4f}, target {delta:g})")


COMMANDS: list[click.Command] = [options]
