"""Every numeric option of the data commands (kobe data ..., kobe universe build) is
finite and in its range, or refused cleanly (click's usage error, exit 2) before anything
runs: `--jump-pct nan` used to switch the suspicious-jump check off, `--top 1e20` ended in
an OverflowError."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kobe.cli import main

NOWHERE = "none.yaml"
FETCH = ["data", "fetch", "--config", NOWHERE, "--provider", "embedded", "--start", "2016-01-04"]

REFUSED = [
    pytest.param(["data", "check", "--jump-pct", "nan"], "--jump-pct", id="check-jump-nan"),
    pytest.param(["data", "check", "--jump-pct", "inf"], "--jump-pct", id="check-jump-inf"),
    pytest.param(["data", "check", "--jump-pct", "1e400"], "--jump-pct", id="check-jump-overflows-to-inf"),
    pytest.param(["data", "check", "--jump-pct", "-inf"], "--jump-pct", id="check-jump-minus-inf"),
    pytest.param(["data", "check", "--jump-pct", "0"], "--jump-pct", id="check-jump-zero"),
    pytest.param(["data", "check", "--jump-pct", "-5"], "--jump-pct", id="check-jump-negative"),
    pytest.param(["data", "check", "--jump-pct", "1e9"], "--jump-pct", id="check-jump-absurd"),
    pytest.param(["universe", "build", "--top", "100000000000000000000"], "--top", id="build-top-overflows"),
    pytest.param(["universe", "build", "--top", "0"], "--top", id="build-top-zero"),
    pytest.param(["universe", "build", "--min-adv", "nan"], "--min-adv", id="build-min-adv-nan"),
    pytest.param(["universe", "build", "--min-adv", "inf"], "--min-adv", id="build-min-adv-inf"),
    pytest.param(["universe", "build", "--min-adv", "-1"], "--min-adv", id="build-min-adv-negative"),
    pytest.param(["universe", "build", "--min-price", "nan"], "--min-price", id="build-min-price-nan"),
    pytest.param(["universe", "build", "--min-price", "-1"], "--min-price", id="build-min-price-negative"),
    pytest.param(["universe", "build", "--min-price", "1e400"], "--min-price", id="build-min-price-inf"),
    pytest.param(["universe", "build", "--min-history-years", "nan"], "--min-history-years",
                 id="build-history-nan"),
    pytest.param(["universe", "build", "--min-history-years", "1e400"], "--min-history-years",
                 id="build-history-inf"),
    pytest.param(["universe", "build", "--min-history-years", "-1"], "--min-history-years",
                 id="build-history-negative"),
    pytest.param(["universe", "build", "--adv-days", "0"], "--adv-days", id="build-adv-days-zero"),
    pytest.param(["universe", "build", "--adv-days", "100000000000000000000"], "--adv-days",
                 id="build-adv-days-overflows"),
    pytest.param(["data", "synth", "--symbols", "100000000000000000000"], "--symbols", id="synth-symbols-absurd"),
    pytest.param(["data", "synth", "--years", "100000000"], "--years", id="synth-years-absurd"),
    pytest.param(["data", "synth", "--seed", "-1"], "--seed", id="synth-seed-negative"),
    pytest.param([*FETCH, "--workers", "0"], "--workers", id="fetch-workers-zero"),
    pytest.param([*FETCH, "--workers", "100000000000000000000"], "--workers", id="fetch-workers-absurd"),
    pytest.param(["data", "repair", "--workers", "0"], "--workers", id="repair-workers-zero"),
]


@pytest.mark.parametrize(("args", "option"), REFUSED)
def test_a_number_out_of_range_is_refused_before_anything_runs(tmp_path: Path, args: list[str], option: str) -> None:
    out = tmp_path / "out.csv"
    extra = ["--out", str(out)] if args[:2] in (["universe", "build"], ["data", "synth"]) else []
    result = CliRunner().invoke(main, [*args, *extra])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert isinstance(result.exception, SystemExit)
    assert f"Invalid value for '{option}'" in result.output, result.output
    assert not out.exists()


ACCEPTED = [
    pytest.param(["data", "check", "--jump-pct", "30"], 0, id="check-jump-30"),
    pytest.param(["data", "check", "--jump-pct", "0.5"], 1, id="check-jump-tiny-stops"),
    pytest.param(["universe", "build", "--top", "5", "--min-adv", "0", "--min-price", "0",
                  "--min-history-years", "0", "--adv-days", "1"], 0, id="build-at-the-floors"),
]


@pytest.mark.parametrize(("args", "code"), ACCEPTED)
def test_a_number_in_range_is_used(tmp_path: Path, args: list[str], code: int) -> None:
    extra = ["--out", str(tmp_path / "out.csv")] if args[0] == "universe" else []
    result = CliRunner().invoke(main, [*args, *extra])
    assert result.exit_code == code and "Traceback" not in result.output, result.output
    if args[0] == "universe":
        assert len((tmp_path / "out.csv").read_text().splitlines()) == 6


def test_the_limits_are_the_bars_own() -> None:
    """The CLI repeats two limits of kobe.data.quality (importing it would load polars
    with every command): they must stay equal."""
    from kobe.cli import data as cli
    from kobe.config.limits import MAX_BARS
    from kobe.data.quality import MAX_VOLUME, PRICE_RANGE

    assert (cli.MAX_PRICE, cli.MAX_ADV) == (PRICE_RANGE[1], PRICE_RANGE[1] * MAX_VOLUME)
    build = cli.universe.commands["build"]
    adv_days = next(p for p in build.params if p.name == "adv_days")
    assert isinstance(adv_days.type, click.IntRange) and adv_days.type.max == MAX_BARS
