"""The README's two commands: `.ci/run` runs exactly the second one (the tests), and it
says what the tests need from the system (the browser of the report's rendering tests)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def two_commands() -> list[str]:
    section = (REPO / "README.md").read_text().split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)]


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    install_and_run, tests = two_commands()
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == tests
    assert "kobe backtest strategies.yaml" in install_and_run and "\n" not in install_and_run


def test_the_test_command_installs_the_browser_the_rendering_tests_need() -> None:
    _, tests = two_commands()
    needing = [p for p in (REPO / "tests").rglob("*.py") if p.name != Path(__file__).name
               and "/usr/bin/chromium" in p.read_text()]
    assert needing, "no test needs the browser any more: drop it from the command"
    assert tests.startswith("([ -x /usr/bin/chromium ] || (apt-get update && apt-get install -y chromium)) && ")


def test_the_readmes_located_error_is_what_validate_prints(tmp_path: Path) -> None:
    """The README shows `kobe validate` on a misspelt function in the first filter: the
    same edit of the shipped project prints exactly that block, and exits 2."""
    import shutil

    from click.testing import CliRunner

    from kobe.cli import main

    for name in ("strategies.yaml", "risk.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    for folder in ("rules", "universe"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    text = (tmp_path / "strategies.yaml").read_text()
    (tmp_path / "strategies.yaml").write_text(text.replace("close > sma(close, trend_bars)",
                                                           "close > smaa(close, trend_bars)", 1))
    readme = (REPO / "README.md").read_text()
    shown = readme.split("exits 2:\n\n```text\n", 1)[1].split("```", 1)[0]
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "strategies.yaml")])
    assert result.exit_code == 2
    assert result.output.replace(str(tmp_path) + "/", "") == shown


def test_the_shipped_defaults_are_what_the_readme_says(tmp_path: Path) -> None:
    """The paragraph on the shipped defaults names the micro-budget, the account and the
    costs: the shipped files hold those values, and the first run prints the lines shown."""
    import json

    from click.testing import CliRunner

    from kobe.cli import main
    from kobe.project import load_project

    project = load_project(REPO / "strategies.yaml")
    risk = project.config.risk
    assert (risk.per_order_budget_usd, risk.daily_budget_usd, risk.max_open_positions) == (75, 1000, 10)
    readme = (REPO / "README.md").read_text()
    section = readme.split("## What the first run shows", 1)[1].split("\n## ", 1)[0]
    assert "at most $75 per order" in section and "$1,000 per trading day into at most 10 positions" in section
    for strategy in (s.config for s in project.strategies):
        assert strategy.sizing.method == "fixed_dollars" and strategy.sizing.amount_usd == 75
        assert strategy.side == "long"
    out = CliRunner().invoke(main, ["backtest", str(REPO / "strategies.yaml"), "--out", str(tmp_path), "--json"], catch_exceptions=False)
    data = json.loads(out.output)
    for account in data["strategies"].values():
        assert account["settings"]["initial_cash"] == 1000 and account["settings"]["slippage_bps"] == 5
        assert account["settings"]["commission_bps"] == 0 and account["settings"]["commission_per_share"] == 0
    shown = CliRunner().invoke(main, ["backtest", str(REPO / "strategies.yaml"), "--out", str(tmp_path)],
                               catch_exceptions=False).output.splitlines()
    example = re.findall(r"```text\n(.*?)```", section, flags=re.DOTALL)[0].strip().splitlines()
    assert all(line in shown for line in example)
