"""Short selling at the stand-in exchange, through alpaca-py's real TradingClient and
Kobe's AlpacaBroker: the assets endpoint and its flags, sells to open, covers, and the
vendor's refusals (broker-apis.md 9 and 11).

AAPL at the open of 2017-06-05 (see test_exchange_orders): mid 154.34, ask 154.42, bid
154.26, 253 shares a side. A market buy or a short holds buying power at the ask x 1.03,
154.42 x 1.03 = 159.0526, up to the cent: 159.06.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import (
    AssetClass,
    AssetStatus,
    OrderClass,
    OrderSide,
    PositionSide,
    TimeInForce,
)
from alpaca.trading.requests import (
    GetAssetsRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)
from click.testing import CliRunner
from stand_keys import SECRET

from kobe.broker.alpaca import AlpacaBroker
from kobe.broker.base import AssetFlags
from kobe.broker.exchange import ExchangeConfig
from kobe.cli import main
from kobe.config.errors import KobeError
from kobe.risk.killswitch import KillSwitch

BID, MID = Decimal("154.26"), Decimal("154.34")
START_CASH = Decimal(100000)


def sell(qty: float, tif: TimeInForce = TimeInForce.DAY) -> MarketOrderRequest:
    return MarketOrderRequest(symbol="AAPL", qty=qty, side=OrderSide.SELL, time_in_force=tif)


def buy(qty: float) -> MarketOrderRequest:
    return MarketOrderRequest(symbol="AAPL", qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)


def filled(trading: Any, order: Any) -> Any:
    """The order as the next read shows it (fills arrive on the request after the POST)."""
    return trading.get_order_by_id(order.id)


# -- the assets endpoint ------------------------------------------------------------------

FLAG_CASES = [
    pytest.param({}, True, True, id="default-shortable-and-easy-to-borrow"),
    pytest.param({"hard_to_borrow": "AAPL"}, True, False, id="hard-to-borrow"),
    pytest.param({"not_shortable": "aapl"}, False, False, id="not-shortable-has-nothing-to-borrow"),
    pytest.param({"hard_to_borrow": "MSFT"}, True, True, id="another-symbol-listed-leaves-AAPL-alone"),
]


@pytest.mark.parametrize(("settings", "shortable", "easy"), FLAG_CASES)
def test_get_asset_parses_in_alpaca_py_with_the_configured_flags(start_exchange, settings, shortable, easy) -> None:
    asset = start_exchange(**settings).trading().get_asset("AAPL")
    assert (asset.symbol, asset.shortable, asset.easy_to_borrow) == ("AAPL", shortable, easy)
    assert asset.tradable and asset.status == AssetStatus.ACTIVE and asset.asset_class == AssetClass.US_EQUITY


def test_an_asset_is_found_by_its_id_too(exchange) -> None:
    trading = exchange.trading()
    by_symbol = trading.get_asset("AAPL")
    assert trading.get_asset(str(by_symbol.id)).symbol == "AAPL"


def test_an_unknown_asset_is_404_in_alpacas_shape(exchange) -> None:
    with pytest.raises(APIError) as refused:
        exchange.trading().get_asset("ZZZZ")
    assert refused.value.status_code == 404
    assert (refused.value.code, refused.value.message) == (40410000, "asset not found")


def test_all_assets_lists_every_symbol_of_the_bars_and_filters(start_exchange) -> None:
    trading = start_exchange(not_shortable="MSFT").trading()
    assets = trading.get_all_assets()
    symbols = [a.symbol for a in assets]
    assert symbols == sorted(symbols) and {"AAPL", "MSFT"} <= set(symbols)
    assert {a.symbol: a.shortable for a in assets if a.symbol in ("AAPL", "MSFT")} == {"AAPL": True, "MSFT": False}
    assert trading.get_all_assets(GetAssetsRequest(status=AssetStatus.INACTIVE)) == []
    assert trading.get_all_assets(GetAssetsRequest(asset_class=AssetClass.CRYPTO)) == []


def test_the_admin_api_refreshes_the_flags_as_the_vendor_does_each_morning(exchange) -> None:
    assert exchange.admin.set_asset("AAPL", easy_to_borrow=False)["easy_to_borrow"] is False
    asset = exchange.trading().get_asset("AAPL")
    assert (asset.shortable, asset.easy_to_borrow) == (True, False)
    exchange.admin.set_asset("AAPL", easy_to_borrow=True)
    assert exchange.trading().get_asset("AAPL").easy_to_borrow is True


def test_flags_for_symbols_without_bars_are_refused_before_start(start_exchange) -> None:
    with pytest.raises(KobeError, match="no bars for ZZZZ"):
        start_exchange(hard_to_borrow="AAPL,ZZZZ")


@pytest.mark.parametrize("option", ["--hard-to-borrow", "--not-shortable"])
def test_the_cli_options_reach_the_exchange_and_unknown_symbols_stop_it(tmp_path, option) -> None:
    result = CliRunner().invoke(main, ["exchange", "--port", "0", "--state", str(tmp_path / "s.sqlite"),
                                       "--shorting", option, "aapl,ZZZZ"])
    assert result.exit_code == 2
    assert "no bars for ZZZZ" in result.output


def test_the_flag_settings_take_text_or_sets() -> None:
    config = ExchangeConfig(not_shortable=" aapl, msft ", hard_to_borrow=frozenset({"gs"}))  # type: ignore[arg-type]
    assert (config.not_shortable, config.hard_to_borrow) == (frozenset({"AAPL", "MSFT"}), frozenset({"GS"}))


# -- the broker adapter ---------------------------------------------------------------------

ADAPTER_CASES = [
    pytest.param({}, "AAPL", AssetFlags("AAPL", True, True, True, False, True), id="easy-to-borrow"),
    pytest.param({"hard_to_borrow": "AAPL"}, "AAPL", AssetFlags("AAPL", True, True, False, False, True),
                 id="hard-to-borrow"),
    pytest.param({"not_shortable": "AAPL"}, "aapl", AssetFlags("AAPL", True, False, False, False, True),
                 id="not-shortable-lower-case-symbol"),
    pytest.param({}, "ZZZZ", None, id="unknown-is-none"),
]


@pytest.mark.parametrize(("settings", "symbol", "expected"), ADAPTER_CASES)
def test_alpaca_broker_reads_the_asset_flags(start_exchange, tmp_path, settings, symbol, expected) -> None:
    stand = start_exchange(**settings)
    broker = AlpacaBroker(stand.trading(), stand.data(), KillSwitch(tmp_path / "KILL_SWITCH"), secrets=[SECRET])
    found = broker.asset(symbol)
    assert found == expected
    assert found is None or found.can_open_short == (expected is not None and expected.easy_to_borrow)


def test_alpaca_broker_refuses_a_slashed_class_share_before_sending(exchange, tmp_path) -> None:
    broker = AlpacaBroker(exchange.trading(), exchange.data(), KillSwitch(tmp_path / "KILL_SWITCH"))
    with pytest.raises(ValueError, match="BRK.B"):
        broker.asset("BRK/B")
    assert exchange.requests("/v2/assets/BRK/B") == []


# -- selling short --------------------------------------------------------------------------


def test_a_sell_with_nothing_held_opens_a_short_and_buys_cover_it(start_exchange) -> None:
    trading = start_exchange(shorting=True).trading()
    assert trading.get_account().shorting_enabled is True
    opened = filled(trading, trading.submit_order(sell(10)))
    assert (opened.status, opened.filled_avg_price) == ("filled", "154.26")
    assert opened.position_intent == "sell_to_open"
    position = trading.get_open_position("AAPL")
    assert (position.side, position.qty, position.avg_entry_price) == (PositionSide.SHORT, "-10", "154.26")
    assert (position.cost_basis, position.market_value, position.qty_available) == ("-1542.60", "-1543.40", "-10")
    assert position.unrealized_pl == "-0.80"
    account = trading.get_account()
    # The proceeds are cash; the short's value counts against equity and, twice over,
    # against buying power (proceeds and collateral: no margin).
    assert (account.cash, account.short_market_value, account.equity) == ("101542.60", "-1543.40", "99999.20")
    assert account.buying_power == str(Decimal("101542.60") - 2 * Decimal("1543.40"))
    extended = filled(trading, trading.submit_order(sell(5)))
    assert extended.position_intent == "sell_to_open"
    assert trading.get_open_position("AAPL").qty == "-15"
    cover = filled(trading, trading.submit_order(buy(6)))
    assert cover.position_intent == "buy_to_close"
    position = trading.get_open_position("AAPL")
    # A cover keeps the average entry price, as a sell of a long does.
    assert (position.qty, position.avg_entry_price) == ("-9", "154.26")
    filled(trading, trading.close_position("AAPL"))
    assert trading.get_all_positions() == []
    # Flat again: a buy opens a long as before.
    assert filled(trading, trading.submit_order(buy(1))).position_intent == "buy_to_open"
    assert trading.get_open_position("AAPL").side == PositionSide.LONG


def test_a_resting_short_sale_holds_buying_power_at_its_limit(start_exchange) -> None:
    trading = start_exchange(shorting=True).trading()
    trading.submit_order(LimitOrderRequest(symbol="AAPL", qty=10, side=OrderSide.SELL, time_in_force=TimeInForce.DAY,
                                           limit_price=160))
    # max(limit 160, ask x 1.03 = 159.06) x 10; nothing has traded (the day's high is 154.45).
    assert trading.get_account().buying_power == "98400.00"


def _refusal(trading: Any, request: Any) -> tuple[int, str]:
    with pytest.raises(APIError) as refused:
        trading.submit_order(request)
    return refused.value.status_code, refused.value.message


REFUSALS = [
    pytest.param({}, None, sell(5), 403, "insufficient qty available for order (requested: 5, available: 0)",
                 id="shorting-off-keeps-the-long-only-answer"),
    pytest.param({"shorting": True, "hard_to_borrow": "AAPL"}, None, sell(5), 422,
                 "asset AAPL cannot be sold short", id="hard-to-borrow"),
    pytest.param({"shorting": True, "not_shortable": "AAPL"}, None, sell(5), 422,
                 "asset AAPL cannot be sold short", id="not-shortable"),
    pytest.param({"shorting": True}, None, sell(0.5), 422, "fractional orders cannot be sold short",
                 id="fractional"),
    pytest.param({"shorting": True, "cash": Decimal(1999)}, None, sell(1), 403, "account is not allowed to short",
                 id="equity-under-2000"),
    pytest.param({"shorting": True, "cash": Decimal(2000)}, None, sell(13), 403, "insufficient buying power",
                 id="short-beyond-buying-power"),
    pytest.param({"shorting": True}, buy(5), sell(10), 403,
                 "insufficient qty available for order (requested: 10, available: 5)", id="no-flip-long-to-short"),
    pytest.param({"shorting": True}, sell(10), buy(11), 403,
                 "insufficient qty available for order (requested: 11, available: 10)", id="no-flip-short-to-long"),
    pytest.param({"shorting": True}, None,
                 LimitOrderRequest(symbol="AAPL", qty=5, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
                                   order_class=OrderClass.OCO, take_profit=TakeProfitRequest(limit_price=170),
                                   stop_loss=StopLossRequest(stop_price=150)), 403,
                 "insufficient qty available for order (requested: 5, available: 0)", id="an-oco-never-opens"),
]


@pytest.mark.parametrize(("settings", "before", "request_", "status", "message"), REFUSALS)
def test_the_vendors_refusals(start_exchange, settings, before, request_, status, message) -> None:
    trading = start_exchange(**settings).trading()
    if before is not None:
        filled(trading, trading.submit_order(before))
    assert _refusal(trading, request_) == (status, message)


def test_the_short_is_kept_across_a_restart(start_exchange) -> None:
    first = start_exchange(shorting=True)
    order = filled(first.trading(), first.trading().submit_order(sell(3)))
    first.stop()
    again = start_exchange(shorting=True).trading()
    assert again.get_order_by_id(order.id).position_intent == "sell_to_open"
    assert again.get_open_position("AAPL").qty == "-3"
