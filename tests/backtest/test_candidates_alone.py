"""Candidates are found over all symbols at once, in rows sorted by symbol and date,
without a window per symbol for the fill price, the exit rule's next bar and the close
fill's next bar (issue 12). A symbol's candidates must be exactly those it has alone."""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pytest

from kobe.backtest.candidates import candidate_query, shared_candidates, symbol_chunks
from kobe.backtest.market import scoped_market
from kobe.data.bars import read_bars
from kobe.project import load_project


def strategy(root: Path, fill: str) -> Path:
    text = (root / "strategies.yaml").read_text()
    head, _ = text.split("strategies:", 1)
    lines = ["strategies:", "  - name: s", "    universe: default", "    side: both", f"    fill: {fill}",
             "    entry: close > highest(high, 10)[1]", "    short_entry: close < lowest(low, 10)[1]",
             "    exits:", "      stop: entry_price - 2 * atr(14)", "      exit: close < lowest(low, 5)[1]",
             "      time_stop_bars: 20", "    short_exits:", "      stop: entry_price + 2 * atr(14)",
             "      exit: close > highest(high, 5)[1]",
             "    rank: (close - sma(close, 20)) / atr(14)",
             "    sizing:", "      method: fixed_dollars", "      amount_usd: 75"]
    (root / "strategies.yaml").write_text(head + "\n".join(lines) + "\n")
    return root / "strategies.yaml"


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_a_symbols_candidates_are_those_it_has_alone(project_dir: Path, fill: str) -> None:
    project = load_project(strategy(project_dir, fill))
    compiled = project.compiled("s")
    universe = project.universe(project.strategy("s").config)
    bars = read_bars(symbols=universe)
    sessions = bars.select(pl.col("date").unique().sort()).collect()["date"]
    signal_on_a_last_bar = False
    for end in sessions[-12:]:
        market = scoped_market(bars, universe, end)
        together = candidate_query(compiled, market).collect()
        alone = pl.concat([candidate_query(compiled, market, symbols=[s]).collect() for s in market.symbols])
        assert together.height > 100
        assert together.equals(alone.sort("_row"))
        # The cases that read a symbol's next bar are there: exits found by the rule, and none.
        never = together.filter(pl.col("exit_rule_row") > market.rows).height
        assert 0 < never < together.height
        assert set(together["side"]) == {1, -1}
        plan = compiled.plan(market.bars.lazy()).filter(pl.col("date") == end).collect()
        signal_on_a_last_bar |= (plan["signal"] | plan["short_signal"]).any()
    assert signal_on_a_last_bar     # a signal there has no next open: no candidate


@pytest.mark.parametrize("rank", [None, "rank(close / sma(close, 20))"])
def test_candidates_found_a_chunk_of_symbols_at_a_time_are_the_same(project_dir: Path, rank: str | None) -> None:
    path = strategy(project_dir, "next_open")
    if rank is not None:      # a cross-sectional column: every symbol of a date at once
        path.write_text(path.read_text().replace("    rank: (close - sma(close, 20)) / atr(14)", f"    rank: {rank}"))
    project = load_project(path)
    compiled = [project.compiled("s")]
    universe = project.universe(project.strategy("s").config)
    market = scoped_market(read_bars(symbols=universe), universe)
    chunks = symbol_chunks(market, 5000)
    assert len(chunks) > 3 and chunks[0][0] == 0 and chunks[-1][1] == market.rows
    assert all(a < b == c for (a, b), (c, _) in itertools.pairwise(chunks))
    assert all(market.symbol[b - 1] != market.symbol[b] for _, b in chunks[:-1])   # whole symbols
    whole = shared_candidates(compiled, market, {"s": universe}, 100, chunk_rows=market.rows + 1)
    chunked = shared_candidates(compiled, market, {"s": universe}, 100, chunk_rows=5000)
    assert whole[0].height > 100
    assert chunked[0].equals(whole[0])
