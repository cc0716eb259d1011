"""Market-data commands: ``kobe data check``, ``fetch``, ``refresh``, ``status``, ``synth``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from kobe.cli.common import fail_cleanly, parse_date

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


@click.group()
def data() -> None:
    """Market data: quality checks, synthetic bars."""


def _project(strategies: Path):
    """The project when its strategies file exists (for its ``data:`` settings), else None."""
    from kobe.project import load_project

    return load_project(strategies) if strategies.exists() else None


@data.command()
@click.option("--config", "strategies", type=click.Path(path_type=Path), default="strategies.yaml",
              show_default=True, help="Its data: section gives the source and the quality policy, when it exists.")
@click.option("--data", "source", default=None, help="Bars file, folder or lake (default: the config's data source).")
@click.option("--as-of", "as_of", default=None, help="Judge staleness as of this date (default: the latest bar).")
@click.option("--jump-pct", type=float, default=None, help="Suspicious overnight/close move, percent (default 25).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@fail_cleanly
def check(strategies: Path, source: str | None, as_of: str | None, jump_pct: float | None, as_json: bool) -> None:
    """Run the data-quality gate and list every finding (symbol, date, rule, action).

    Exits 1 when the verdict is STOP.
    """
    from dataclasses import replace

    from kobe.data.bars import read_bars
    from kobe.data.quality import QualityPolicy, check_bars

    project = _project(strategies)
    policy = project.quality_policy() if project else QualityPolicy()
    if jump_pct is not None:
        policy = replace(policy, jump_pct=jump_pct)
    bars = project.bars(source) if project else read_bars(source)
    report = check_bars(bars, policy, as_of=parse_date(as_of))
    if as_json:
        click.echo(json.dumps({
            "verdict": report.verdict(), "stop": report.stop, "symbols": report.symbols,
            "excluded": sorted(report.excluded), "counts": report.counts(),
            "findings": [{"rule": f.rule, "symbol": f.symbol, "date": f.date.isoformat() if f.date else None,
                          "detail": f.detail, "action": f.action} for f in report.findings],
        }, indent=2))
    else:
        for finding in report.findings:
            click.echo(finding.describe())
        counts = ", ".join(f"{rule} {n}" for rule, n in sorted(report.counts().items()))
        click.echo(f"{report.symbols} symbols; {len(report.findings)} findings ({counts or 'none'}); "
                   f"verdict: {report.verdict()}")
    if report.stop:
        raise SystemExit(1)


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
    every symbol of the universe has it. Exits 1 when they are not fresh."""
    from kobe.data.refresh import refresh as run_refresh
    from kobe.project import load_project

    report = run_refresh(load_project(strategies), parse_now(now_text))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.message)
        for symbol, reason in sorted(report.failed.items()):
            click.echo(f"{'refused' if symbol in report.refused else 'failed'}: {reason}", err=True)
    if not report.fresh:
        raise SystemExit(1)


@data.command()
@click.option("--lake", "lake_dir", type=click.Path(path_type=Path), default=Path("state/lake"), show_default=True)
@click.option("--now", "now_text", default=None, help=NOW_HELP)
@click.option("--json", "as_json", is_flag=True)
@fail_cleanly
def status(lake_dir: Path, now_text: str | None, as_json: bool) -> None:
    """Coverage of the lake per symbol (the first and last session received), rows,
    provider, fetch time, and which symbols lack the last session closed at --now."""
    from dataclasses import asdict

    from kobe.cli.common import table
    from kobe.data.calendar import last_closed_session
    from kobe.data.lake import Lake

    entries = Lake(lake_dir).manifest()
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


@data.command()
@click.option("--symbols", type=click.IntRange(min=1), default=900, show_default=True)
@click.option("--years", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
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
@click.option("--data", "source", default=None, help="Bars file (CSV or Parquet); default: the embedded sample.")
@click.option("--min-price", type=float, default=5.0, show_default=True, help="Last close at least this.")
@click.option("--min-adv", "min_adv", type=float, default=1e6, show_default=True,
              help="Average daily dollar volume (close x volume) at least this.")
@click.option("--adv-days", type=click.IntRange(min=1), default=20, show_default=True, help="Bars in that average.")
@click.option("--min-history-years", type=float, default=1.0, show_default=True)
@click.option("--top", type=click.IntRange(min=1), default=None, help="Keep the K most liquid.")
@click.option("--as-of", "as_of", default=None, help="Judge as of this date (default: the latest bar).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("universe/liquid.csv"), show_default=True)
@fail_cleanly
def build(source: str | None, min_price: float, min_adv: float, adv_days: int, min_history_years: float,
          top: int | None, as_of: str | None, out: Path) -> None:
    """Derive a liquid universe from the bars; the CSV keeps the figures that qualified each symbol."""
    from kobe.data.bars import read_bars
    from kobe.data.universe import build_universe
    from kobe.files import write_atomic

    table = build_universe(read_bars(source), min_price=min_price, min_adv_usd=min_adv, adv_days=adv_days,
                           min_history_years=min_history_years, top=top, as_of=parse_date(as_of))
    write_atomic(out, table.write_csv())
    click.echo(f"{table.height} symbols qualified; written to {out}")


COMMANDS: list[click.Command] = [data, universe]
