"""Fuzzing `kobe validate`: a located error or success, never an exception.

Two properties, run at a modest size in CI and at any size on demand::

    KOBE_FUZZ_EXAMPLES=10000 .venv/bin/pytest tests/config/test_fuzz_validate.py

- seeded hostile edits of the shipped project (:mod:`tests.config.hostile`), each
  validated; an accepted project also runs every strategy on bars, where a window or
  lag validation let through would fail;
- random token strings as a rule expression, parsed and checked with the shipped
  definitions and params.

"Located" means a file, and a line wherever the file has lines.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import hostile
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kobe.config.errors import KobeError
from kobe.config.model import ExprSource
from kobe.dsl.check import Checker
from kobe.dsl.parse import parse_expr
from kobe.dsl.types import Type
from kobe.project import load_definitions

EXAMPLES = int(os.environ.get("KOBE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=dt.timedelta(seconds=20), derandomize="KOBE_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], database=None)


@pytest.fixture(scope="module")
def bars() -> pl.LazyFrame:
    """Two symbols of the embedded sample: enough for every strategy's plan to run."""
    from kobe.data.bars import read_bars

    return read_bars(None).filter(pl.col("symbol").is_in(["AAPL", "MSFT"])).collect().lazy()


@FUZZ
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_hostile_edits_give_located_errors(seed: int, tmp_path_factory: pytest.TempPathFactory,
                                           monkeypatch: pytest.MonkeyPatch, bars: pl.LazyFrame) -> None:
    root = hostile.copy_project(tmp_path_factory.mktemp("fuzz"))
    what = hostile.mutate(root, seed)
    with monkeypatch.context() as patch:
        patch.chdir(root)
        try:
            outcome = hostile.run_validate(root, bars)
        except AssertionError as err:
            raise AssertionError(f"seed {seed} ({what}): {err}") from None
    assert outcome in ("ok", "error")


TOKENS = [
    "close", "open", "high", "low", "volume", "channel_bars", "stop_atr", "sma", "ema", "atr", "highest",
    "lowest", "donchian_high", "prior_low_age", "ibs", "abs", "(", ")", "[", "]", ",", "+", "-", "*", "/", ">",
    "<", ">=", "==", "!=", "and", "or", "not", "true", "false", "0", "1", "2.5", "20", "1e300", "1e999",
    "9223372036854775808", "-1", "n=", "entry_price", "x", "'", "#", "\n", "\u00e9", "=", "&", ".",
]
PARAMS = {"channel_bars": 20.0, "stop_atr": 2.0}


@pytest.fixture(scope="module")
def definitions() -> dict[str, object]:
    table, _, problems = load_definitions(hostile.REPO)
    assert not problems
    return table  # type: ignore[return-value]


@FUZZ
@given(tokens=st.lists(st.sampled_from(TOKENS), min_size=1, max_size=60),
       nest=st.integers(min_value=0, max_value=300), wrap=st.sampled_from(["(", "abs(", "-", "not "]))
def test_random_expressions_check_or_fail_located(tokens: list[str], nest: int, wrap: str,
                                                  definitions: dict[str, object]) -> None:
    text = wrap * nest + " ".join(tokens) + (")" * nest if wrap.endswith("(") else "")
    source = ExprSource(text, "strategies.yaml", ((7, 12, "    entry: " + text.split("\n")[0]),))
    checker = Checker(definitions)  # type: ignore[arg-type]
    try:
        node = parse_expr(source)
    except KobeError as err:
        assert all(d.file == "strategies.yaml" and d.line is not None for d in err.diagnostics)
        return
    result = checker.check(source, node, Type.BOOL, PARAMS, allow_entry_price=True)
    if result is None:
        assert checker.diagnostics
        assert all(d.file == "strategies.yaml" and d.line is not None for d in checker.diagnostics)


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed-{s}") for s in (0, 7, 42)])
def test_mutations_are_seeded(tmp_path: Path, seed: int) -> None:
    """The same seed makes the same edit, so a failing case can be replayed."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    hostile.copy_project(a), hostile.copy_project(b)
    assert hostile.mutate(a, seed) == hostile.mutate(b, seed)
    for name in ("strategies.yaml", "risk.yaml"):
        left, right = a / name, b / name
        assert left.is_file() == right.is_file()
        if left.is_file():
            assert left.read_bytes() == right.read_bytes()
