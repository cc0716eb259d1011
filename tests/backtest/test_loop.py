"""The compiled account loop (kobe.backtest.loop) against its Python twin in
kobe.backtest.portfolio.simulate: the same books, bit for bit, on random accounts; its
rules compiled from their home modules' functions (not re-stated); and its sizing, gates
and costs against kobe.decide's and kobe.backtest.costs' Python API on random inputs."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_invariants import symbol_bars

from kobe.backtest import costs, loop, tier
from kobe.backtest.exits import _search_levels
from kobe.config.model import Sizing
from kobe.decide import exits as exit_rules
from kobe.decide import gates as gate_rules
from kobe.decide import sizing as sizing_rules
from kobe.decide.exits import AT_CLOSE, AT_OPEN, OPEN
from kobe.decide.gates import (
    EntryContext,
    LiquidityGate,
    PolicyGate,
    PositionLimits,
    first_block,
)
from kobe.decide.sizing import shares, whole_shares

RISK = """\
per_order_budget_usd: {order}
daily_budget_usd: {daily}
min_adv_usd: {min_adv}
adv_window_days: 3
max_spread_pct: 0.5
max_order_pct_adv: 1
max_open_positions: 10
kill_switch_file: state/KILL_SWITCH
"""


def books(result) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    account = result.strategies[0]
    return account.trades.vstack(account.open_trades), account.equity, account.skipped


@st.composite
def liquid_bars(draw: st.DrawFn, length: int) -> list[tuple[float, float, float, float, int]]:
    """:func:`symbol_bars` with the signal codes as thousands of shares: an ADV of about
    $100,000, which the gates' limits below may or may not block."""
    return [(o, h, lo, c, code * 1000) for o, h, lo, c, code in draw(symbol_bars(length))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bars=st.fixed_dictionaries({s: liquid_bars(length) for s, length in (("AAA", 30), ("BBB", 25), ("CCC", 30))}),
       exits=st.sampled_from(["stop: entry_price * 0.97\ntarget: entry_price * 1.04", "time_stop_bars: 3",
                              "exit: volume == 3000", 'trailing_stop: "2"\ntime_stop_bars: 6']),
       sizing=st.sampled_from(["method: all_cash", "method: fixed_dollars\namount_usd: 60",
                               "method: fixed_dollars\namount_usd: 300"]),
       side=st.sampled_from(["long", "short", "both"]), fill=st.sampled_from(["next_open", "close"]),
       slots=st.integers(1, 3),
       costs=st.sampled_from(["", "\nslippage_bps: 10\ncommission_per_share: 0.01\ncommission_bps: 2",
                              ("\nspread_bps: 30\ncommission_per_share: 0.005\ncommission_min_usd: 1\n"
                               "borrow_bps_per_year: 300")]),
       # risk.yaml's budgets and minimum ADV: as good as none, the budgets binding, the ADV binding.
       gates=st.sampled_from([(1e6, 1e9, 0), (300, 400, 0), (300, 650, 0), (1000, 1e9, 1e5)]))
def test_the_compiled_loop_keeps_the_books_of_the_python_loop(backtest, tmp_path: Path, monkeypatch, bars, exits,
                                                              sizing, side, fill, slots, costs, gates) -> None:
    order, daily, min_adv = gates
    (tmp_path / "risk.yaml").write_text(RISK.format(order=order, daily=daily, min_adv=min_adv))

    def run():
        return backtest(bars, exits=exits, sizing=sizing, side=side, fill=fill, rank="close", entry="volume >= 2000",
                        short_entry="volume == 1000" if side == "both" else None,
                        settings=f"initial_cash: 10000\nmax_open_positions: {slots}{costs}")

    with monkeypatch.context() as patch:
        patch.setattr(tier.TIER, "compiled", True)
        compiled = books(run())
    with monkeypatch.context() as patch:
        patch.setattr(tier.TIER, "compiled", False)
        patch.setattr(tier, "COMPILE_AFTER", math.inf)     # every account through the Python loop
        python = books(run())
    assert compiled[0].equals(python[0])
    assert compiled[1].equals(python[1])
    assert compiled[2] == python[2]


def test_the_tiers_pick_the_loop(backtest, monkeypatch) -> None:
    """The patches above reach each loop: a kernel that takes nothing leaves no trade in
    the compiled tier only; the Python tier moves to it after COMPILE_AFTER seconds."""
    calls = []
    monkeypatch.setattr(loop, "account_kernel", lambda *a: calls.append(a) or 0)
    flat_signal = [(100.0, 101.0, 99.0, 100.0, 2), *[(100.0, 101.0, 99.0, 100.0, 1)] * 3]
    monkeypatch.setattr(tier.TIER, "compiled", False)
    monkeypatch.setattr(tier.TIER, "python_seconds", 0.0)
    monkeypatch.setattr(tier, "COMPILE_AFTER", math.inf)
    assert books(backtest({"AAA": flat_signal}))[0].height == 1 and not calls
    assert tier.TIER.python_seconds > 0
    monkeypatch.setattr(tier, "COMPILE_AFTER", 0.0)
    assert books(backtest({"AAA": flat_signal}))[0].is_empty() and calls
    assert tier.TIER.compiled          # and it stays there


def test_the_kernel_reads_the_exit_moment_of_kobe_decide() -> None:
    assert loop.AT_OPEN_CODE == AT_OPEN


def test_gate_plan_knows_the_backtest_chain_and_refuses_other_gates() -> None:
    chain = [PolicyGate(75, 1000), LiquidityGate(1e5, 0.5, 1.0)]
    plan = loop.gate_plan(chain)
    assert plan is not None and plan.kinds.tolist() == [loop.POLICY, loop.LIQUIDITY]
    assert (plan.per_order_usd, plan.daily_usd, plan.min_adv_usd, plan.max_spread_pct,
            plan.max_order_pct_adv) == (75, 1000, 1e5, 0.5, 1.0)
    assert loop.gate_plan([PositionLimits(10), *chain]) is None     # the positions gate: the Python loop's

    class Stricter(PolicyGate):
        pass

    assert loop.gate_plan([Stricter(75, 1000)]) is None


@pytest.mark.parametrize(("compiled", "home"), [
    (loop._floor_shares, sizing_rules.floor_shares), (loop._sized_count, sizing_rules.sized_count),
    (loop._all_cash_wanted, sizing_rules.all_cash_wanted), (loop._policy_block, gate_rules.policy_block),
    (loop._liquidity_block, gate_rules.liquidity_block), (loop._fill, costs.fill_price),
    (loop._commission, costs.commission_fee), (loop._affordable, costs.affordable_shares),
    (loop._unit_cost, costs.unit_cost_of), (loop._quote, costs.quote_prices), (loop._borrow_fee, costs.borrow_fee),
    (loop._stop_in_force, exit_rules.stop_in_force), (loop._level_touches, exit_rules.level_touches),
    (loop._trailing_binds, exit_rules.trailing_binds), (loop._advance_best, exit_rules.advance_best)])
def test_the_loop_compiles_the_home_modules_rules(compiled, home) -> None:
    """One rule, one place: the compiled rules are the home modules' own code, not a copy."""
    assert compiled.py_func.__code__ is home.__code__


def test_an_edited_rule_makes_the_compiled_caches_stale() -> None:
    """numba stamps a cache with its function's own file: the kernels that inline a home
    module's rule are stamped with the home modules' contents too."""
    homes = {hashlib.sha256(Path(m.__file__).read_bytes()).hexdigest()
             for m in (loop, costs, sizing_rules, gate_rules, exit_rules)}
    for dispatcher in (loop.account_kernel, loop.search_levels, loop._fill, loop._sized_count, loop._whole_shares):
        assert homes <= set(dispatcher._cache._cache_file._source_stamp[1])


prices = st.floats(0.01, 5000, allow_nan=False)
dollars = st.one_of(st.floats(-10, 1e7, allow_nan=False), st.just(math.inf), st.just(math.nan))


@settings(max_examples=1000, deadline=None)
@given(dollars=dollars, price=prices, whole=st.booleans(), cents=st.booleans())
def test_the_compiled_whole_shares_are_python_s(dollars, price, whole, cents) -> None:
    """Bit for bit, near a whole number too: there the compiled loop calls the exact
    decimal division back (0.3 / 0.1 is 2.999... in floats, 3 shares)."""
    if cents:
        price = round(price, 2)
        assume(price > 0)
    if whole and math.isfinite(dollars):
        dollars = float(round(dollars / price)) * price
    assert loop._whole_shares(dollars, price) == whole_shares(dollars, price)


def test_the_compiled_whole_shares_divide_exactly() -> None:
    for dollars, price, expected in [(0.3, 0.1, 3), (75.0, 25.0, 3), (75.0, 25.01, 2), (0.7, 0.1, 7)]:
        assert loop._floor_shares(dollars, price) in (sizing_rules.NEAR_WHOLE, expected)
        assert loop._whole_shares(dollars, price) == whole_shares(dollars, price) == expected


@settings(max_examples=500, deadline=None)
@given(price=prices, direction=st.sampled_from([costs.BUY, costs.SELL]), quantity=st.floats(-1e5, 1e5),
       setting=st.tuples(st.floats(0, 50), st.floats(0, 0.05), st.floats(0, 20), st.floats(0, 100), st.floats(0, 5)),
       cash=dollars)
def test_the_compiled_costs_are_python_s(price, direction, quantity, setting, cash) -> None:
    cost = costs.Costs(*setting)
    half, slip = cost.spread_bps / 20_000, cost.slippage_bps / 1e4
    fill = cost.fill(price, direction)
    assert loop._fill(price, direction, half, slip) == fill
    assert loop._commission(quantity, fill, cost.commission_per_share, cost.commission_bps,
                            cost.commission_min_usd) == cost.commission(quantity, fill)
    assert loop._quote(price, half) == cost.quote(price)
    assert loop._unit_cost(fill, cost.commission_per_share, cost.commission_bps) == cost.unit_cost(fill)
    expected = cost.affordable(cash, fill)
    got = loop._affordable(cash, fill, cost.unit_cost(fill), cost.commission_min_usd)
    assert got == expected or (math.isnan(got) and math.isnan(expected))


@settings(max_examples=500, deadline=None)
@given(method=st.sampled_from(["fixed_dollars", "all_cash"]), amount=st.floats(0, 1e5), fill=prices,
       cash=dollars, commission=st.sampled_from([(0.0, 0.0), (0.005, 0.0), (0.0, 2.0), (0.01, 3.5)]),
       cap=st.one_of(st.none(), st.floats(0, 1e5)), whole=st.booleans())
def test_the_kernel_sizes_as_kobe_decide(method, amount, fill, cash, commission, cap, whole) -> None:
    per_share, bps = commission
    if whole:       # a cap of exactly whole shares: the decimal division's case
        fill = round(fill, 2)
        assume(fill > 0)
        cap = fill * 3 if cap is None else float(round(cap / fill)) * fill
    unit = fill * (1 + bps / 1e4) + per_share
    sizing = Sizing(method=method, amount_usd=amount)
    expected = shares(sizing, price=fill, fill=fill, stop=None, equity=0.0, cash=cash, unit_cost=unit, cap_usd=cap)
    got = loop.shares_kernel(loop.FIXED_DOLLARS if method == "fixed_dollars" else loop.ALL_CASH, amount, fill, cash,
                             unit, cap is not None, cap if cap is not None else 0.0)
    assert got == expected


@settings(max_examples=500, deadline=None)
@given(order=st.one_of(st.floats(-10, 1e5), st.just(math.nan), st.just(math.inf)), spent=st.floats(0, 1e4),
       adv=st.one_of(st.floats(0, 1e7), st.just(math.nan), st.just(math.inf)), price=prices,
       spread=st.sampled_from([0.0, 10.0, 30.0, 60.0, 100.0, 200.0]),
       limits=st.tuples(st.floats(0, 1e4), st.floats(0, 1e5), st.floats(0, 1e6), st.floats(0, 2), st.floats(0, 100)),
       kinds=st.sampled_from([[loop.POLICY, loop.LIQUIDITY], [loop.LIQUIDITY, loop.POLICY], [loop.POLICY],
                              [loop.LIQUIDITY], []]))
def test_the_kernel_gates_as_kobe_decide(order, spent, adv, price, spread, limits, kinds) -> None:
    per_order, daily, min_adv, max_spread, max_pct = limits
    gates = {loop.POLICY: PolicyGate(per_order, daily), loop.LIQUIDITY: LiquidityGate(min_adv, max_spread, max_pct)}
    bid, ask = price * (1 - spread / 20_000), price * (1 + spread / 20_000)
    decision = first_block([gates[k] for k in kinds], EntryContext("AAA", order, spent,
                                                                   None if math.isnan(adv) else adv, bid=bid, ask=ask))
    got = loop.gate_kernel(np.array(kinds, dtype=np.int64), per_order, daily, min_adv, max_spread, max_pct, order,
                           spent, adv, bid, ask)
    expected = loop.ALLOWED if decision.allowed else {"policy": loop.POLICY, "liquidity": loop.LIQUIDITY}[decision.gate]
    assert got == expected



@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), side=st.sampled_from([1, -1]))
def test_the_compiled_level_search_finds_the_lockstep_exits(monkeypatch, seed, side) -> None:
    """loop.search_levels against exits._search_levels in numpy, on random bars and levels
    (gaps, stops, targets and trailing stops, some missing)."""
    rng = np.random.default_rng(seed)
    n_rows, n = 200, 60
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.03, n_rows)))
    opened = close * (1 + rng.normal(0, 0.02, n_rows))
    high = np.maximum(opened, close) * (1 + rng.uniform(0, 0.03, n_rows))
    low = np.minimum(opened, close) * (1 - rng.uniform(0, 0.03, n_rows))
    market = SimpleNamespace(open=opened, high=high, low=low)
    first = rng.integers(1, n_rows - 1, n)
    entry = opened[first]

    def levels(scale: float) -> np.ndarray:
        return np.where(rng.random(n) < 0.4, np.nan, entry * (1 + scale * rng.uniform(0.01, 0.08, n)))

    candidates = SimpleNamespace(first_held=first, entry_price=entry, stop=levels(-side), target=levels(side),
                                 trailing_stop=np.where(rng.random(n) < 0.5, np.nan, rng.uniform(0.5, 4, n)))
    bound = np.minimum(first + rng.integers(0, 30, n), n_rows - 1)

    def search(compiled: bool) -> tuple[np.ndarray, ...]:
        out = (np.full(n, -1, dtype=np.int64), np.full(n, np.nan), np.full(n, AT_CLOSE, dtype=np.int8),
               np.full(n, OPEN, dtype=np.int8))
        monkeypatch.setattr(tier.TIER, "compiled", compiled)
        monkeypatch.setattr(tier, "COMPILE_AFTER", math.inf)
        _search_levels(market, candidates, side, bound, *out)
        return out

    for got, expected in zip(search(True), search(False)):
        assert np.array_equal(got, expected, equal_nan=True)


@pytest.mark.parametrize("seed", range(5))
def test_held_shares_are_the_cumulative_sums(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_sessions, n_symbols, n = 40, 7, 60
    symbol = rng.integers(0, n_symbols, n)
    start = rng.integers(0, n_sessions, n)
    stop = np.where(rng.random(n) < 0.2, 2**60, start + rng.integers(0, 15, n))
    signed = rng.integers(-500, 500, n).astype(float)
    dense = np.zeros((n_sessions + 1, n_symbols))
    np.add.at(dense, (start, symbol), signed)
    np.add.at(dense, (np.minimum(stop, n_sessions), symbol), -signed)
    expected = np.cumsum(dense, axis=0)[:n_sessions]
    assert np.array_equal(loop.held_shares(n_sessions, n_symbols, symbol, start, stop, signed), expected)
