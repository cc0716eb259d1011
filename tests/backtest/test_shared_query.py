"""The strategies of one backtest share one query (issue 12): the candidates found
through :func:`shared_candidate_queries` are those of each strategy's own query."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from kobe.backtest.candidates import candidate_query, shared_candidate_queries
from kobe.backtest.market import scoped_market
from kobe.data.bars import read_bars
from kobe.project import load_project


def test_shared_queries_find_each_strategys_own_candidates(project_dir: Path) -> None:
    project = load_project(project_dir / "strategies.yaml")
    compiled = [project.compiled(s.name) for s in project.enabled()]
    assert len(compiled) == 2
    universe = project.universe(project.enabled()[0].config)
    market = scoped_market(read_bars(symbols=universe), universe)
    for universes in ({c.name: universe for c in compiled},                           # one group
                      {compiled[0].name: universe, compiled[1].name: universe[:7]}):  # two groups
        for first in (0, 250):
            shared = pl.collect_all(shared_candidate_queries(compiled, market, universes, first))
            own = pl.collect_all([candidate_query(c, market, symbols=universes[c.name], first_session=first)
                                  for c in compiled])
            assert len(shared) == len(own) == 2
            for a, b in zip(shared, own):
                assert a.height > 0
                assert a.equals(b)
