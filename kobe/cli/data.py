"""Market-data commands: ``kobe data check``, ``fetch``, ``refresh``, ``repair``, ``status``, ``synth``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kobe.cli.common import FiniteRange, fail_cleanly, parse_date
from kobe.config.limits import MAX_BARS

if TYPE_CHECKING:
    from kobe.project import Project

NOW_HELP = ("Judge which sessions have closed as of this instant (YYYY-MM-DDTHH:MM, New York time unless an "
            "offset is given; default: the wall clock). Give the exchange's clock when fetching from a replay.")


def parse_now(value: str | None) -> dt.datetime:
    """``--now``: an instant, New York time when it has no offset; the wall clock if ``None``."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not YYYY-MM-DDTHH:MM", param_hint="--now") from None
    if instant.tzinfo is None:
        from kobe.data.calendar import NEW_YORK

        instant = instant.replace(tzinfo=NEW_YORK)
    return instant.astimezone(dt.UTC)


JUMP_PCT = FiniteRange(0, 10_000, low_open=True)
"""A move of more than 100x is no threshold: beyond it the check would be off."""
MAX_PRICE = 1e9
"""kobe.data.quality.PRICE_RANGE's top (not imported: it would load polars with the CLI)."""
MAX_ADV = MAX_PRICE * 1e15
"""The dearest price times kobe.data.quality.MAX_VOLUME: no bar's dollar volume is more."""


@click.group()
def data() -> None:
    """Market data: quality checks, synthetic bars."""


def _project(strategies: Path) -> Project | None:
    """The project when its strategies file exists (for its ``data:`` settings), else None."""
    from kobe.project import load_project

    return load_project(strategies) if strategies.exists() else None


def _lake_of(project: Project | None, source: str | None) -> Path | None:
    """The lake the bars are read from (``--data`` or the config's), or None when they
    are not read from a lake."""
    from kobe.data.refresh import LAKE_PROVIDERS

    if source is not None:
        path = Path(source)
        return path if path.is_dir() and (path / "manifest.json").exists() else None
    if project is None or project.config.data.provider not in LAKE_PROVIDERS:
        return None
    lake = project.root / project.config.data.lake
    return lake if (lake / "manifest.json").exists() else None


@data.command()
@click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml",
              show_default=True, help="Its data: section gives the source and the quality policy, when it exists.")
@click.option("--data", "source", default=None, help="Bars file, folder or lake (default: the config's data source).")
@click.option("--as-of", "as_of", default=None, help="Judge staleness as of this date (default: the latest bar).")
@click.option("--jump-pct", type=JUMP_PCT, default=None,
              help="Suspicious overnight/close move, percent, above 0 and at most 10,000 (default 25).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@fail_cleanly
def check(strategies: Path, source: str | None, as_of: str | None, jump_pct: float | None, as_json: bool) -> None:
    """Run the data-quality gate and list every finding (symbol, date, rule, action).

    When the bars come from a lake, first check that each file is the one fetched (its
    SHA256 is the manifest's; without a hash, checked as a bars file is) and name every
    missing, altered, unreadable or set-aside file and every manifest entry that is not
    one Kobe writes. Exits 1 when the verdict is STOP or a symbol of the lake is damaged.
    """
    from dataclasses import replace

    from kobe.data.bars import read_bars
    from kobe.data.lake import Lake
    from kobe.data.quality import QualityPolicy, bars_as_of, check_bars

    project = _project(strategies)
    policy = project.quality_policy() if project else QualityPolicy()
    if jump_pct is not None:
        policy = replace(policy, jump_pct=jump_pct)
    lake_dir = _lake_of(project, source)
    damages = []
    if lake_dir is not None:
        lake = Lake(lake_dir)
        damages = lake.verify()
        unhashed = sorted(s for s, e in lake.manifest().items() if e.sha256 is None)
        bars = lake.scan(damaged="skip")     # the damaged files are reported below, the others checked
    else:
        unhashed = []
        bars = project.bars(source) if project else read_bars(source)
    day = parse_date(as_of)
    if day is not None:
        bars = bars_as_of(bars, day)
    report = check_bars(bars, policy, as_of=day)
    if as_json:
        click.echo(json.dumps({
            "verdict": report.verdict(), "stop": report.stop, "symbols": report.symbols,
            "excluded": sorted(report.excluded), "counts": report.counts(),
            "findings": [{"rule": f.rule, "symbol": f.symbol, "date": f.date.isoformat() if f.date else None,
                          "detail": f.detail, "action": f.action, "acknowledged": f.acknowledged}
                         for f in report.findings],
            "damaged": [{"symbol": d.symbol, "file": str(d.path), "kind": d.kind, "detail": d.detail}
                        for d in damages],
            "unhashed": unhashed,
        }, indent=2))
    else:
        for finding in report.findings:
            click.echo(finding.describe())
        counts = ", ".join(f"{rule} {n}" for rule, n in sorted(report.counts().items()))
        click.echo(f"{report.symbols} symbols; {len(report.findings)} findings ({counts or 'none'}); "
                   f"verdict: {report.verdict()}")
        if unhashed:
            click.echo(f"no hash recorded (a manifest of an older Kobe) for {', '.join(unhashed)}: each file is "
                       f"checked as a bars file is at every read; its next fetch records the hash")
        for damage in damages:
            click.echo(damage.diagnostic().render(), err=True)
        if damages:
            click.echo(f"{len(damages)} symbol(s) of the lake damaged (a file, or its manifest entry): not read, not "
                       f"traded; `kobe data repair` fetches them again", err=True)
    if report.stop or damages:
        raise SystemExit(1)


@data.command()
@click.argument("symbol")
@click.argument("day", metavar="DATE")
@click.argument("rule")
@click.option("--reason", required=True, help="Why the flagged bar is right (kept with the acknowledgement).")
@click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml",
              show_default=True, help="The project whose bars and lake hold the finding.")
@fail_cleanly
def ack(symbol: str, day: str, rule: str, reason: str, strategies: Path) -> None:
    """Acknowledge a data finding (SYMBOL DATE RULE, as `kobe data check` lists it) as a
    true market event: the gate then warns about it instead of excluding the symbol.

    Recorded in the lake's acknowledged.json and in the audit trail. Only
    suspicious_jump, zero_volume and missing_session findings can be acknowledged, and
    only one the project's bars have.
    """
    from kobe.cli.trade import _audit
    from kobe.config.errors import Diagnostic, KobeError
    from kobe.data.acks import Acknowledgement, check_ack, record_ack
    from kobe.data.lake import Lake
    from kobe.data.quality import QualityPolicy, check_bars
    from kobe.project import load_project, shown

    date = parse_date(day)
    assert date is not None
    check_ack(symbol, rule, reason)
    project = load_project(strategies)
    lake_dir = _lake_of(project, None)
    bars = Lake(lake_dir).scan(damaged="skip") if lake_dir is not None else project.bars(None)
    policy = QualityPolicy.from_settings(project.config.data.quality)     # the findings before any note
    found = [f for f in check_bars(bars, policy).findings if (f.symbol, f.date, f.rule) == (symbol, date, rule)]
    if not found:
        raise KobeError(Diagnostic(f"the bars have no {rule} finding for {symbol} on {date.isoformat()}",
                                   hint="`kobe data check` lists the findings (SYMBOL DATE RULE as it shows them)"))
    at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    path = record_ack(project.lake_dir(), Acknowledgement(symbol, date, rule, reason.strip(), at))
    _audit(project.root).event("data.acknowledged", symbol=symbol, date=date.isoformat(), rule=rule,
                               reason=reason.strip(), detail=found[0].detail)
    click.echo(f"acknowledged {rule} {symbol} {date.isoformat()} ({found[0].detail}): {reason.strip()}")
    click.echo(f"the gate now warns about it instead of excluding {symbol}; recorded in {shown(path)}")


@data.command()
@click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml",
              show_default=True, help="Its data: section gives the defaults of the options below, when it exists.")
@click.option("--provider", type=click.Choice(["polygon", "alpaca", "files", "embedded"]), default=None,
              help="Default: the config's data.provider.")
@click.option("--base-url", default=None, help="Vendor base URL (e.g. a running `kobe exchange`).")
@click.option("--path", "files_path", default=None, help="For --provider files: a file or folder of CSV/Parquet.")
@click.option("--universe", "universe_file", type=click.Path(path_type=Path), default=Path("universe/default.csv"),
              show_default=True)
@click.option("--start", required=True, help="First date (YYYY-MM-DD).")
@click.option("--end", default=None, help="Last date (default: the New York date of --now).")
@click.option("--now", "now_text", default=None, help=NOW_HELP)
@click.option("--lake", "lake_dir", type=click.Path(path_type=Path), default=None,
              help="Default: the config's data.lake (state/lake).")
@click.option("--workers", type=click.IntRange(1, 16), default=4, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@fail_cleanly
def fetch(strategies: Path, provider: str | None, base_url: str | None, files_path: str | None, universe_file: Path,
          start: str, end: str | None, now_text: str | None, lake_dir: Path | None, workers: int,
          as_json: bool) -> None:
    """Fetch daily bars into the lake: every session closed since the last one received,
    nothing of a session still trading; resumable, never half-written. A vendor answer
    that is empty, short, duplicated, out of order or holds an unclosed bar is refused
    for its symbol (exit 1), the others go on."""
    from kobe.data.calendar import trading_date
    from kobe.data.lake import Lake
    from kobe.data.lake import fetch as run_fetch
    from kobe.data.providers import make_provider
    from kobe.data.universe import load_universe

    project = _project(strategies)
    settings = project.config.data if project else None
    provider = provider or (settings.provider if settings and settings.provider in ("polygon", "alpaca") else "polygon")
    base_url = base_url or (settings.base_url if settings else None)
    lake_dir = lake_dir or (project.root / settings.lake if project and settings else Path("state/lake"))
    symbols = load_universe(universe_file)
    lake = Lake(lake_dir)
    now = parse_now(now_text)
    first, last = parse_date(start), parse_date(end) or trading_date(now)
    assert first is not None
    source = make_provider(provider, base_url=base_url, path=files_path)
    with click.progressbar(length=len(symbols), label=f"fetching {len(symbols)} symbols", file=None,
                           hidden=as_json) as bar:
        report = run_fetch(lake, source, symbols, first, last, now=now, workers=workers,
                           on_done=lambda _: bar.update(1))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif report.nothing_to_do:
        through = f"through {report.due}" if report.due and report.due >= first else "in that range"
        click.echo(f"nothing fetched: the lake holds every session closed {through} as of {now:%Y-%m-%dT%H:%M}Z")
    else:
        click.echo(f"{len(report.requested)} requests, {report.fetched_rows:,} bars written to {lake_dir} "
                   f"(sessions closed through {report.due})")
    if not as_json:
        for symbol, reason in sorted(report.failed.items()):
            click.echo(f"{'refused' if symbol in report.refused else 'failed'}: {reason}"
                       if reason.startswith(f"{symbol}:") else f"failed: {symbol}: {reason}", err=True)
    if report.failed:
        raise SystemExit(1)


@data.command()
@click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml",
              show_default=True, help="The project: its data: section and the enabled strategies' universes.")
@click.option("--now", "now_text", default=None, help=NOW_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@fail_cleanly
def refresh(strategies: Path, now_text: str | None, as_json: bool) -> None:
    """What runs before every scan: bring the bars up to the last session closed at
    --now (polygon, alpaca; embedded and files are read as they are) and say whether
    every symbol of the universe has it. A symbol whose lake file is damaged is set
    aside (not read, not traded) until `kobe data repair`. Exits 1 when the bars are not
    fresh or a symbol is set aside."""
    from kobe.data.refresh import refresh as run_refresh
    from kobe.project import load_project

    report = run_refresh(load_project(strategies), parse_now(now_text))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.message)
        for symbol, reason in sorted(report.failed.items()):
            label = "refused" if symbol in report.refused else "set aside" if symbol in report.damaged else "failed"
            click.echo(f"{label}: {symbol}: {reason}" if not reason.startswith(f"{symbol}:") else f"{label}: {reason}",
                       err=True)
    if not report.fresh or report.damaged:
        raise SystemExit(1)


@data.command()
@click.argument("symbols", nargs=-1)
@click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml",
              show_default=True, help="Its data: section gives the lake, the provider and its base URL, when it exists.")
@click.option("--lake", "lake_dir", type=click.Path(path_type=Path), default=None,
              help="Default: the config's data.lake (state/lake).")
@click.option("--provider", type=click.Choice(["polygon", "alpaca", "files", "embedded"]), default=None,
              help="Default: the config's data.provider (polygon or alpaca), else the one each file was fetched from.")
@click.option("--base-url", default=None, help="Vendor base URL (e.g. a running `kobe exchange`).")
@click.option("--path", "files_path", default=None, help="For --provider files: a file or folder of CSV/Parquet.")
@click.option("--now", "now_text", default=None, help=NOW_HELP)
@click.option("--workers", type=click.IntRange(1, 16), default=4, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@fail_cleanly
def repair(symbols: tuple[str, ...], strategies: Path, lake_dir: Path | None, provider: str | None,
           base_url: str | None, files_path: str | None, now_text: str | None, workers: int, as_json: bool) -> None:
    """Fetch again every damaged lake file (missing, or not the file that was fetched:
    its SHA256 is not the manifest's) and every symbol a refresh set aside, or only
    SYMBOLS, over the range its manifest entry records; record the new hashes. The
    answers are checked like any fetch's. Exits 1 when one could not be repaired."""
    from collections import Counter

    from kobe.data.lake import FetchReport, Lake, unfetchable
    from kobe.data.lake import repair as run_repair
    from kobe.data.providers import make_provider

    project = _project(strategies)
    settings = project.config.data if project else None
    lake_dir = lake_dir or (project.root / settings.lake if project and settings else Path("state/lake"))
    lake = Lake(lake_dir)
    damages = lake.verify([s.upper() for s in symbols] or None)
    if not damages:
        message = "nothing to repair: every file of the lake is the file that was fetched"
        click.echo(json.dumps({**FetchReport().to_dict(), "repaired": []}, indent=2) if as_json else message)
        return
    entries = lake.manifest()
    chosen = provider or (settings.provider if settings and settings.provider in ("polygon", "alpaca") else None)
    # An entry Kobe cannot read names no provider: the one most of the lake came from.
    usual = Counter(e.provider for e in entries.values()).most_common(1)
    now = parse_now(now_text)
    total = FetchReport(now=now)
    by_provider: dict[str, list[str]] = {}
    for damage in damages:
        entry = entries.get(damage.symbol)
        if (why := unfetchable(damage.symbol)) is not None:
            total.failed[damage.symbol] = why
        elif chosen or entry or usual:
            by_provider.setdefault(chosen or (entry.provider if entry else usual[0][0]), []).append(damage.symbol)
        else:
            total.failed[damage.symbol] = f"{damage.symbol}: no provider is known for it: give --provider"
    for name, group in sorted(by_provider.items()):
        source = make_provider(name, base_url=base_url or (settings.base_url if settings else None), path=files_path)
        report = run_repair(lake, source, group, now=now, workers=workers)
        total.requested += report.requested
        total.fetched_rows += report.fetched_rows
        total.failed.update(report.failed)
        total.refused.update(report.refused)
    repaired = sorted({s for s, _, _ in total.requested} - set(total.failed))
    if as_json:
        click.echo(json.dumps({**total.to_dict(), "repaired": repaired}, indent=2))
    else:
        for damage in damages:
            click.echo(f"{damage.symbol}: {damage.detail}")
        if repaired:
            click.echo(f"repaired {len(repaired)} symbol(s), {total.fetched_rows:,} bars written to {lake_dir}, "
                       f"their hashes recorded: {', '.join(repaired)}")
        for symbol, reason in sorted(total.failed.items()):
            click.echo(f"{'refused' if symbol in total.refused else 'failed'}: {reason}"
                       if reason.startswith(f"{symbol}:") else f"failed: {symbol}: {reason}", err=True)
    if total.failed or len(repaired) < len(damages):
        raise SystemExit(1)


@data.command()
@click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml",
              show_default=True, help="Its data.lake is the lake shown, when it exists.")
@click.option("--lake", "lake_dir", type=click.Path(path_type=Path), default=None,
              help="The lake folder (default: the config's data.lake, else state/lake).")
@click.option("--now", "now_text", default=None, help=NOW_HELP)
@click.option("--json", "as_json", is_flag=True)
@fail_cleanly
def status(strategies: Path, lake_dir: Path | None, now_text: str | None, as_json: bool) -> None:
    """Coverage of the lake per symbol (the first and last session received), rows,
    provider, fetch time, and which symbols lack the last session closed at --now."""
    from dataclasses import asdict

    from kobe.cli.common import table
    from kobe.data.calendar import last_closed_session
    from kobe.data.lake import Lake

    if lake_dir is None:
        project = _project(strategies)
        lake_dir = project.lake_dir() if project else Path("state/lake")
    lake = Lake(lake_dir)
    entries = lake.manifest()
    if as_json:
        click.echo(json.dumps({s: asdict(e) for s, e in entries.items()}, indent=2))
        return
    if not entries:
        click.echo(f"the lake at {lake_dir} is empty; run `kobe data fetch`")
        return
    click.echo(table([(e.symbol, e.covered_from, e.covered_to, e.rows, e.provider, e.fetched_at)
                      for e in entries.values()], ("symbol", "first", "last", "rows", "provider", "fetched (UTC)")))
    due = last_closed_session(parse_now(now_text)).isoformat()
    stale = [e.symbol for e in entries.values() if (e.covered_to or "") < due]
    click.echo(f"{len(entries)} symbols; last closed session {due}; "
               + (f"without it: {', '.join(stale)}" if stale else "all have it"))
    damages = lake.verify()
    if damages:
        click.echo(f"damaged, not read: {', '.join(f'{d.symbol} ({d.kind})' for d in damages)}; "
                   f"`kobe data check` says why, `kobe data repair` fetches them again")


@data.command()
@click.option("--symbols", type=click.IntRange(1, 10_000), default=900, show_default=True)
@click.option("--years", type=click.IntRange(1, 100), default=10, show_default=True, help="From 2010-01-04.")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=1, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("state/synth.parquet"), show_default=True)
def synth(symbols: int, years: int, seed: int, out: Path) -> None:
    """Write synthetic bars (random walks with jumps) for scale tests and benchmarks."""
    import io

    from kobe.data.synth import synth_bars
    from kobe.files import write_atomic

    bars = synth_bars(symbols, years, seed)
    buffer = io.BytesIO()
    bars.write_parquet(buffer, compression="zstd")
    write_atomic(out, buffer.getvalue())
    click.echo(f"{bars.height:,} bars of {symbols} symbols over {years} years (seed {seed}) in {out}")


@click.group()
def universe() -> None:
    """Universes: CSV files of tickers under universe/."""


@universe.command()
@click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml",
              show_default=True, help="Its data: source gives the bars, when it exists.")
@click.option("--data", "source", default=None,
              help="Bars file, folder or lake (default: the config's data source, else the embedded sample).")
@click.option("--min-price", type=FiniteRange(0, MAX_PRICE), default=5.0, show_default=True,
              help="Last close at least this (0 .. 1e9).")
@click.option("--min-adv", "min_adv", type=FiniteRange(0, MAX_ADV), default=1e6,
              show_default=True, help="Average daily dollar volume (close x volume) at least this (0 .. 1e24).")
@click.option("--adv-days", type=click.IntRange(1, MAX_BARS), default=20, show_default=True,
              help="Bars in that average (1 .. 10,000).")
@click.option("--min-history-years", type=FiniteRange(0, 400), default=1.0, show_default=True, help="0 .. 400.")
@click.option("--top", type=click.IntRange(1, 1_000_000), default=None,
              help="Keep the K most liquid (1 .. 1,000,000).")
@click.option("--as-of", "as_of", default=None, help="Judge as of this date (default: the latest bar).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("universe/liquid.csv"), show_default=True)
@click.option("--optionable", is_flag=True,
              help="Keep only symbols with listed options: the broker's assets with the attribute options_enabled "
                   "(alpaca-py at ALPACA_BASE_URL, keys from the environment or .env; docs/options.md).")
@fail_cleanly
def build(strategies: Path, source: str | None, min_price: float, min_adv: float, adv_days: int,
          min_history_years: float, top: int | None, as_of: str | None, out: Path, optionable: bool) -> None:
    """Derive a liquid universe from the bars; the CSV keeps the figures that qualified each symbol."""
    import polars as pl

    from kobe.data.bars import read_bars
    from kobe.data.universe import build_universe
    from kobe.files import write_atomic

    project = _project(strategies)
    bars = project.bars(source) if project else read_bars(source)
    if optionable:
        from kobe.options.broker import optionable_symbols
        from kobe.secrets import read_env

        # Before --top: the K most liquid of the optionable symbols.
        listed = optionable_symbols(read_env(strategies.parent / ".env"))
        bars = bars.filter(pl.col("symbol").is_in(sorted(listed)))
    table = build_universe(bars, min_price=min_price, min_adv_usd=min_adv, adv_days=adv_days,
                           min_history_years=min_history_years, top=top, as_of=parse_date(as_of))
    write_atomic(out, table.write_csv())
    click.echo(f"{table.height} symbols qualified; written to {out}")


COMMANDS: list[click.Command] = [data, universe]
