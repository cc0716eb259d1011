"""The dashboard's meta-model calibration card: what the runner's live calibration of
meta_prob (kobe.research.ml.live) says, in a line, and always present."""

from __future__ import annotations

import pytest

from kobe.monitor.dashboard import calibration_text, view

CASES = [
    pytest.param({}, "no strategy filters on meta_prob", id="no-meta-filter"),
    pytest.param({"donchian_breakout": {"trades": 0}}, "donchian_breakout: no closed trade yet", id="no-trade-yet"),
    pytest.param({"donchian_breakout": {"trades": 3, "error": "no model for donchian_breakout"}},
                 "donchian_breakout: no model for donchian_breakout", id="model-refused"),
    pytest.param({"donchian_breakout": {"trades": 14, "brier": 0.2311, "mean_prob": 0.5625, "win_rate": 0.5}},
                 "donchian_breakout: Brier 0.231 over 14 trades, mean P 56.25%, won 50.00%", id="scored"),
    pytest.param({"a": {"trades": 2, "brier": 0.25, "mean_prob": 0.5, "win_rate": 0.5}, "b": {"trades": 0}},
                 "a: Brier 0.250 over 2 trades, mean P 50.00%, won 50.00%; b: no closed trade yet", id="two"),
]


@pytest.mark.parametrize(("calibration", "shown"), CASES)
def test_the_calibration_card_says_it_in_a_line(calibration: dict, shown: str) -> None:
    assert calibration_text(calibration) == shown
    (card,) = [c for c in view({"meta_calibration": calibration})["cards"] if c["id"] == "meta-calibration"]
    assert card["label"] == "Meta-model calibration" and card["value"] == shown
