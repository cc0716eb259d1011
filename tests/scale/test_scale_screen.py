"""`kobe research screen --ray` on a real Ray cluster (tests/scale/conftest.py: a head and
a worker node): the alphas are evaluated in blocks on the cluster, the statistics on the
driver, and the --json bytes and the table are the local run's."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from ray_cluster import Cluster

from kobe.cli import main

pytest.importorskip("ray")

# alpha_004, alpha_038 and alpha_041 are among them: their values, evaluated alone, can
# differ in the last bit from the one-compiler run (docs/scale.md); the screen's figures
# must not.
ALPHAS = "mom_12_1,alpha_004,alpha_038,alpha_041,reversal_5d"
FAST = ["research", "screen", "--alphas", ALPHAS, "--horizons", "1,5", "--folds", "3"]


def run(args: list[str]) -> Result:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_screen_on_the_cluster_is_the_local_screen(project_dir: Path, cluster: Cluster,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project_dir)
    local = run([*FAST, "--json"])
    on_ray = run([*FAST, "--json", "--ray", cluster.address])
    assert on_ray.stdout == local.stdout
    assert '"alpha": "alpha_041"' in local.stdout
    # The table too (one block per alpha on the two CPUs: five tasks).
    assert run([*FAST, "--ray", cluster.address]).stdout == run(FAST).stdout
