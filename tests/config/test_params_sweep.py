"""Swept params in strategies.yaml: lists and ranges, the value the other commands use,
the grid, and every mistake located."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kobe.config.errors import KobeError
from kobe.config.load import load_config, param_values
from kobe.project import load_project

REPO = Path(__file__).resolve().parents[2]

TEMPLATE = """\
strategies:
  - name: breakout
    universe: default
    params:
{params}
    entry: close > donchian_high(channel_bars)
    exits:
      time_stop_bars: hold_bars
    sizing:
      method: all_cash
"""


def write(params: str) -> Path:
    shutil.copy(REPO / "risk.yaml", "risk.yaml")
    Path("strategies.yaml").write_text(TEMPLATE.format(params=params))
    return Path("strategies.yaml")


def load(params: str):
    write(params)
    return load_config(Path("strategies.yaml"), Path("risk.yaml")).strategies[0]


# id, params as written, (value used outside sweeps, swept values or None when fixed)
SHAPES = [
    pytest.param("20", (20, None), id="number"),
    pytest.param("[10, 20, 30]", (10, (10, 20, 30)), id="list-first-value"),
    pytest.param("{from: 10, to: 50, step: 10}", (10, (10, 20, 30, 40, 50)), id="range"),
    pytest.param("{from: 10, to: 45, step: 10}", (10, (10, 20, 30, 40)), id="range-to-off-step"),
    pytest.param("{from: 10, to: 50, step: 20, default: 20}", (20, (10, 30, 50)), id="range-default"),
    pytest.param("{values: [5, 3], default: 3}", (3, (5, 3)), id="values-default"),
    pytest.param("{from: 0.1, to: 0.3, step: 0.1}", (0.1, (0.1, 0.2, 0.3)), id="float-range-rounded"),
    pytest.param("[7]", (7, (7,)), id="one-value"),
]


@pytest.mark.parametrize(("written", "expected"), SHAPES)
def test_param_shapes(project: Path, written: str, expected) -> None:
    strategy = load(f"      channel_bars: {written}\n      hold_bars: 5")
    value, swept = expected
    assert strategy.params["channel_bars"] == value
    assert type(strategy.params["channel_bars"]) is type(value)
    assert strategy.sweep.get("channel_bars") == swept
    if swept is not None:
        assert [type(v) for v in swept] == [type(value)] * len(swept)


def test_grid_order_and_points(project: Path) -> None:
    strategy = load("      channel_bars: [10, 20]\n      hold_bars: {from: 3, to: 5, step: 1, default: 5}")
    assert strategy.params == {"channel_bars": 10, "hold_bars": 5}
    assert strategy.exits.time_stop_bars == 5 and strategy.exits.time_stop_param == "hold_bars"
    grid = strategy.grid()
    assert grid == [{"channel_bars": c, "hold_bars": h} for c in (10, 20) for h in (3, 4, 5)]
    point = strategy.with_params(grid[1])
    assert point.params == {"channel_bars": 10, "hold_bars": 4}
    assert point.exits.time_stop_bars == 4
    assert point.sweep == {} and point.grid() == [{}]


def test_validate_checks_the_default_point(project: Path) -> None:
    write("      channel_bars: {from: 10, to: 30, step: 10, default: 20}\n      hold_bars: [5, 10]")
    (project / "rules").mkdir()
    shutil.copy(REPO / "rules" / "channels.kobe", project / "rules")
    checked = load_project(Path("strategies.yaml")).strategy("breakout")
    assert checked.config.params == {"channel_bars": 20, "hold_bars": 5}
    assert "highest(high, 20)[1]" in checked.entry.node.to_text()


# id, params as written, (location, message fragment)
MISTAKES = [
    pytest.param("{from: 50, to: 10, step: 10}", ("strategies.yaml:5:36", "to 10 is below from 50"),
                 id="from-above-to"),
    pytest.param("{from: 10, to: 50}", ("strategies.yaml:5:21", "a range needs 'step'"), id="no-step"),
    pytest.param("{from: 10, to: 50, step: 0}", ("strategies.yaml:5:46", "step: must be greater than 0"),
                 id="zero-step"),
    pytest.param("{values: [10], from: 10, to: 20, step: 5}", ("strategies.yaml:5:21", "either values or from"),
                 id="values-and-range"),
    pytest.param("[10, 20, 10]", ("strategies.yaml:5:30", "value 10 is listed twice"), id="repeated-value"),
    pytest.param("[10, twenty]", ("strategies.yaml:5:26", "channel_bars[1]: expected a number"), id="text-in-list"),
    pytest.param("[]", ("strategies.yaml:5:21", "expected at least 1 item"), id="empty-list"),
    pytest.param("{from: 1, to: 100000, step: 1}", ("strategies.yaml:5:49", "the range has 100,000 values"),
                 id="range-too-long"),
    pytest.param("{form: 10, to: 50, step: 10}", ("strategies.yaml:5:22", "unknown key 'form'"), id="typo-key"),
    pytest.param("ten", ("strategies.yaml:5:21", "expected a number or a list of numbers or a range"),
                 id="text"),
]


@pytest.mark.parametrize(("written", "expected"), MISTAKES)
def test_mistakes_are_located(project: Path, written: str, expected) -> None:
    write(f"      channel_bars: {written}\n      hold_bars: 5")
    with pytest.raises(KobeError) as caught:
        load_config(Path("strategies.yaml"), Path("risk.yaml"))
    shown = [(d.location(), d.message) for d in caught.value.diagnostics]
    where, fragment = expected
    assert any(loc == where and fragment in msg for loc, msg in shown), shown


def test_time_stop_param_checks_every_swept_value(project: Path) -> None:
    write("      channel_bars: 20\n      hold_bars: [5, 2.5]")
    with pytest.raises(KobeError) as caught:
        load_config(Path("strategies.yaml"), Path("risk.yaml"))
    (problem,) = caught.value.diagnostics
    assert problem.location() == "strategies.yaml:9:23"
    assert "time_stop_bars names param 'hold_bars' = 2.5" in problem.message


def test_a_grid_too_large_is_refused(project: Path) -> None:
    lines = "\n".join(f"      p{i}: {{from: 1, to: 10, step: 1}}" for i in range(5))
    write(f"      channel_bars: 20\n      hold_bars: 5\n{lines}")
    with pytest.raises(KobeError) as caught:
        load_config(Path("strategies.yaml"), Path("risk.yaml"))
    (problem,) = caught.value.diagnostics
    assert problem.location() == "strategies.yaml:4:5"
    assert "100,000 combinations, at most 10,000" in problem.message


def test_param_values_of_shapes_the_checks_reject() -> None:
    assert param_values({"from": 5, "to": 1, "step": 1}) is None
    assert param_values({"values": []}) is None
    assert param_values("x") is None
    assert param_values({"from": 1, "to": 3, "step": 1}) == ([1, 2, 3], 1)


def test_a_broken_file_still_checks_expressions_with_swept_params(project: Path) -> None:
    # The unknown key stops the loader; the salvage pass must still know the swept param.
    write("      channel_bars: [10, 20]\n      hold_bars: 5\n    colour: red")
    text = Path("strategies.yaml").read_text().replace("donchian_high(channel_bars)", "smaa(close, channel_bars)")
    Path("strategies.yaml").write_text(text)
    with pytest.raises(KobeError) as caught:
        load_project(Path("strategies.yaml"))
    messages = [d.message for d in caught.value.diagnostics]
    assert any("unknown key 'colour'" in m for m in messages), messages
    assert any("unknown function 'smaa'" in m for m in messages), messages
    assert not any("channel_bars" in m for m in messages), messages
