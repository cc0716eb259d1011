"""risk.yaml's optional advanced: section (VaR, Kelly, correlation): off unless written,
defaults for what is left out, every mistake at its file:line:col."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kobe.config.errors import KobeError
from kobe.config.load import load_risk
from kobe.config.model import AdvancedRisk, CorrelationSettings, KellySettings, VaRSettings

REPO = Path(__file__).resolve().parents[2]

# 12 lines; the advanced: section starts at line 13.
RISK = """\
per_order_budget_usd: 75
daily_budget_usd: 1000
min_adv_usd: 100000
adv_window_days: 20
max_spread_pct: 0.5
max_order_pct_adv: 1.0
max_open_positions: 10
kill_switch_file: state/KILL_SWITCH
limit_price:
  reference: best_ask
  multiplier: 1.001
# the advanced limits follow
"""


def load(block: str) -> AdvancedRisk:
    Path("risk.yaml").write_text(RISK + block)
    return load_risk(Path("risk.yaml")).advanced


def test_absent_section_leaves_every_piece_off(project: Path) -> None:
    assert load("") == AdvancedRisk(None, None, None)
    assert load("advanced: {}\n") == AdvancedRisk(None, None, None)


def test_a_piece_written_is_on_with_defaults_for_the_rest(project: Path) -> None:
    advanced = load("advanced:\n  var:\n    max_usd: 40\n  kelly: {}\n  correlation: {max: 0.7}\n")
    assert advanced.var == VaRSettings(max_usd=40, confidence=0.95, horizon_days=1, lookback_days=250,
                                       method="normal")
    assert advanced.kelly == KellySettings(fraction=0.5, cap_pct=10, min_trades=20)
    assert advanced.correlation == CorrelationSettings(max=0.7, lookback_days=60)
    assert load("advanced:\n  kelly: {fraction: 0.25}\n") == AdvancedRisk(kelly=KellySettings(fraction=0.25))


def test_shipped_file_has_them_off_and_its_commented_example_is_valid(tmp_path: Path) -> None:
    shipped = (REPO / "risk.yaml").read_text()
    (tmp_path / "risk.yaml").write_text(shipped)
    assert load_risk(tmp_path / "risk.yaml").advanced == AdvancedRisk()
    # Uncommenting the example, as its comment tells a trader to, gives a valid file.
    uncommented, n = re.subn(r"^# (advanced:|  .*)$", r"\1", shipped, flags=re.MULTILINE)
    assert n == 14                     # advanced:, var (6 lines), kelly (4), correlation (3)
    (tmp_path / "risk.yaml").write_text(uncommented)
    advanced = load_risk(tmp_path / "risk.yaml").advanced
    assert advanced.var == VaRSettings(max_usd=50, confidence=0.99, horizon_days=1, lookback_days=250,
                                       method="normal")
    assert advanced.kelly == KellySettings(fraction=0.5, cap_pct=10, min_trades=20)
    assert advanced.correlation == CorrelationSettings(max=0.8, lookback_days=60)


# (the advanced: block, location, message, hint)
ERRORS = [
    pytest.param("advanced:\n  var:\n    max_usd: 50\n    confidence: 99\n",
                 "risk.yaml:16:17", "confidence: must be less than 1, got 99", None, id="confidence-as-percent"),
    pytest.param("advanced:\n  var:\n    max_usd: 50\n    confidence: 0.3\n",
                 "risk.yaml:16:17", "confidence: must be at least 0.5, got 0.3", None, id="confidence-too-low"),
    pytest.param("advanced:\n  var:\n    max_usd: 50\n    confidense: 0.99\n",
                 "risk.yaml:16:5", "unknown key 'confidense'", "did you mean 'confidence'?", id="unknown-var-key"),
    pytest.param("advanced:\n  kely: {}\n",
                 "risk.yaml:14:3", "unknown key 'kely'", "did you mean 'kelly'?", id="unknown-piece"),
    pytest.param("advanced:\n  var:\n    confidence: 0.99\n",
                 "risk.yaml:15:5", "'max_usd' is required", None, id="var-needs-max-usd"),
    pytest.param("advanced:\n  var:\n    max_usd: 50\n    method: historic\n",
                 "risk.yaml:16:13", "expected one of normal, historical", "did you mean 'historical'?",
                 id="unknown-method"),
    pytest.param("advanced:\n  kelly:\n    cap_pct: 0\n",
                 "risk.yaml:15:14", "cap_pct: must be greater than 0, got 0", None, id="kelly-cap-zero"),
    pytest.param("advanced:\n  kelly:\n    fraction: 2\n",
                 "risk.yaml:15:15", "fraction: must be at most 1, got 2", None, id="kelly-over-full"),
    pytest.param("advanced:\n  correlation:\n    lookback_days: 5\n",
                 "risk.yaml:15:20", "lookback_days: must be at least 20, got 5", None, id="short-lookback"),
]


@pytest.mark.parametrize(("block", "where", "message", "hint"), ERRORS)
def test_mistakes_are_reported_at_file_line_col(project: Path, block: str, where: str, message: str,
                                                hint: str | None) -> None:
    with pytest.raises(KobeError) as caught:
        load(block)
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.location(), diagnostic.hint) == (where, hint), diagnostic.render()
    assert message in diagnostic.message
