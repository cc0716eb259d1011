"""How a Diagnostic reads: at its file, line and column when it has them; an error of
no file starts with its severity, never a made-up file name."""

from __future__ import annotations

import pytest

from kobe.config.errors import Diagnostic


@pytest.mark.parametrize(("diagnostic", "first_line"), [
    pytest.param(Diagnostic("bad", file="strategies.yaml", line=3, col=5), "strategies.yaml:3:5: error: bad",
                 id="file-line-col"),
    pytest.param(Diagnostic("bad", file="risk.yaml"), "risk.yaml: error: bad", id="file-only"),
    pytest.param(Diagnostic("2030-01-02 is outside the NYSE calendar's range"),
                 "error: 2030-01-02 is outside the NYSE calendar's range", id="no-file"),
    pytest.param(Diagnostic("stale", severity="warning"), "warning: stale", id="no-file-warning"),
])
def test_the_first_line_names_the_place_only_when_there_is_one(diagnostic: Diagnostic, first_line: str) -> None:
    assert diagnostic.render().splitlines()[0] == first_line
