"""Commands of the local stand-in exchange: ``kobe exchange``."""

from __future__ import annotations

import datetime as dt
import json
import signal
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import FrameType

import click

from kobe.cli.common import fail_cleanly
from kobe.config.errors import Diagnostic, KobeError

DEFAULT_STATE = Path("state") / "exchange.sqlite"


def parse_start(value: str | None) -> dt.date | dt.datetime | None:
    """``YYYY-MM-DD`` (that session's open) or ``YYYY-MM-DDTHH:MM[:SS][offset]``, New York
    time when no offset is given."""
    if value is None:
        return None
    try:
        if "T" not in value and " " not in value:
            return dt.date.fromisoformat(value)
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither YYYY-MM-DD nor YYYY-MM-DDTHH:MM") from None
    if instant.tzinfo is None:
        from kobe.data.calendar import NEW_YORK

        instant = instant.replace(tzinfo=NEW_YORK)
    return instant


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port; 0 picks a free one.")
@click.option("--data", default=None, help="Bars file (CSV or Parquet); default: the embedded sample.")
@click.option("--date", "date", default=None,
              help="Start at this session's open (YYYY-MM-DD) or at an instant (YYYY-MM-DDTHH:MM, New York time "
                   "unless an offset is given); default: the data's last session, or where --state left off.")
@click.option("--state", type=click.Path(path_type=Path), default=DEFAULT_STATE, show_default=True,
              help="SQLite file of the account, orders, fills and positions; kept across restarts.")
@click.option("--closed-speed", type=click.FloatRange(min=0), default=None,
              help="Exchange seconds per real second while the market is closed (default: --speed).")
@click.option("--speed", type=float, default=1.0, show_default=True,
              help="Exchange seconds per real second; 0 freezes the clock (move it with POST /admin/clock).")
@click.option("--key-id", default=None, help="Require this Alpaca key id (APCA-API-KEY-ID); default: any key.")
@click.option("--secret-key", default=None, help="Require this Alpaca secret key (APCA-API-SECRET-KEY).")
@click.option("--polygon-key", default=None, help="Require this Polygon key (Authorization: Bearer).")
@click.option("--cash", default="100000", show_default=True, help="Starting cash of a new account.")
@click.option("--spread-bps", type=float, default=10.0, show_default=True, help="Quoted spread around the mid.")
@click.option("--depth", type=float, default=1e-5, show_default=True,
              help="Displayed size per side, as a share of the day's volume.")
@click.option("--page-size", type=int, default=None, help="Cap data pages below the vendors' maxima.")
@click.option("--latency", type=float, default=0.0, help="Fault: seconds added to every answer.")
@click.option("--error-rate", type=float, default=0.0, help="Fault: share of requests answered --error-status.")
@click.option("--error-status", type=int, default=500, show_default=True, help="Status of injected errors.")
@click.option("--timeout-rate", type=float, default=0.0, help="Fault: share of requests never answered.")
@click.option("--drop-rate", type=float, default=0.0,
              help="Fault: share of order submissions carried out but never answered.")
@click.option("--fill-delay", type=float, default=0.0, help="Fault: exchange seconds an order stays `new`.")
@click.option("--reject-rate", type=float, default=0.0, help="Fault: share of accepted orders that end `rejected`.")
@click.option("--rate-limit", type=int, default=None, help="Fault: requests per minute, then 429 with Retry-After.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the faults' random draws.")
@click.option("--request-timeout", type=float, default=None,
              help="Seconds a request may take to arrive in full (default 30); slower ones are cut off.")
@click.option("--max-body", type=int, default=None, help="Largest request body in bytes (default 1 MiB); 413 beyond.")
@click.option("--shorting", is_flag=True,
              help="Let the account sell short: a sell with no shares held opens a short (shorting_enabled).")
@click.option("--not-shortable", default=None, metavar="SYM[,SYM]", help="Assets served with shortable false.")
@click.option("--hard-to-borrow", default=None, metavar="SYM[,SYM]",
              help="Assets served with easy_to_borrow false (they cannot be opened short).")
@click.option("--json", "as_json", is_flag=True, help="Print the startup line as JSON.")
@fail_cleanly
def exchange(host: str, port: int, data: str | None, date: str | None, state: Path, closed_speed: float | None,
             speed: float, key_id: str | None, secret_key: str | None, polygon_key: str | None, cash: str, spread_bps: float,
             depth: float, page_size: int | None, latency: float, error_rate: float, error_status: int,
             timeout_rate: float, drop_rate: float, fill_delay: float, reject_rate: float,
             rate_limit: int | None, seed: int, request_timeout: float | None, max_body: int | None,
             shorting: bool, not_shortable: str | None, hard_to_borrow: str | None, as_json: bool) -> None:
    """Run the local stand-in for Alpaca and Polygon until Ctrl-C.

    Point alpaca-py (url_override) and massive (base) at the printed URL; any keys work
    unless --key-id/--secret-key/--polygon-key are given. Numbers out of range (a NaN or
    infinite --speed, a negative rate) are refused before it starts. See docs/exchange.md.
    """
    from kobe.broker.exchange import ExchangeConfig, ExchangeServer, FaultPlan
    from kobe.broker.exchange.admin_api import clock_state
    from kobe.broker.exchange.assets import symbols

    try:
        starting_cash = Decimal(cash)
    except InvalidOperation:
        raise click.BadParameter(f"{cash!r} is not an amount", param_hint="--cash") from None
    try:
        faults = FaultPlan(latency=latency, error_rate=error_rate, error_status=error_status,
                           timeout_rate=timeout_rate, drop_rate=drop_rate, fill_delay=fill_delay,
                           reject_rate=reject_rate, rate_limit=rate_limit, seed=seed)
    except ValueError as err:
        raise KobeError(Diagnostic(str(err), hint="see the fault options in kobe exchange --help")) from None
    config = ExchangeConfig(data=data, start=parse_start(date), state=state, host=host, port=port, key_id=key_id,
                            secret_key=secret_key, polygon_key=polygon_key, cash=starting_cash,
                            spread_bps=spread_bps, depth=depth, speed=speed, closed_speed=closed_speed,
                            page_size=page_size, faults=faults,
                            request_timeout=ExchangeConfig.request_timeout if request_timeout is None else request_timeout,
                            max_body=ExchangeConfig.max_body if max_body is None else max_body,
                            shorting=shorting, not_shortable=symbols(not_shortable),
                            hard_to_borrow=symbols(hard_to_borrow))
    server = ExchangeServer(config)
    clock = clock_state(server.exchange)
    if as_json:
        click.echo(json.dumps({"url": server.url, "state": str(state), "data": server.exchange.history.source,
                               "clock": clock}))
    else:
        click.echo(f"kobe exchange: serving {server.url}")
        click.echo(f"  data:  {server.exchange.history.source} ({len(server.exchange.history.symbols)} symbols, "
                   f"{server.exchange.history.first_date} .. {server.exchange.history.last_date})")
        resumed = " (resumed)" if server.exchange.resumed_from else ""
        click.echo(f"  clock: {clock['now']}{resumed}, market {'open' if clock['is_open'] else 'closed'}, "
                   f"speed {speed:g}" + (f", {closed_speed:g} while closed" if closed_speed is not None else ""))
        click.echo(f"  state: {state}")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


COMMANDS: list[click.Command] = [exchange]
