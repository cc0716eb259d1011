"""`kobe ml train --ray` on a real Ray cluster (tests/scale/conftest.py: a head and a
worker node): the folds' and the final model's fits run as Ray tasks and give the local
run's model file and receipt, byte for byte (kobe.research.ml.train: every fit's
model is pickled by its task and unpickled by the driver, whichever executor ran it)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner, Result
from ray_cluster import Cluster

from kobe.cli import main
from kobe.research.ml import store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml"))
from ml_synthetic import make_project  # type: ignore[import-not-found]

pytest.importorskip("ray")

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


class _Clock(dt.datetime):
    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> _Clock:  # type: ignore[override]
        return cls.fromtimestamp(NOW.timestamp(), tz)


def run(args: list[str]) -> Result:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_ml_train_on_the_cluster_writes_the_local_model_file(tmp_path: Path, cluster: Cluster,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path / "edge", edge=True, symbols=3, days=300)
    monkeypatch.chdir(root)
    # The receipt's trained_at is the clock's: one instant for both runs (the store's
    # own name for the datetime module, not the module itself).
    monkeypatch.setattr(store, "dt", SimpleNamespace(datetime=_Clock, UTC=dt.UTC))
    model, receipt = root / "state" / "models" / "planted.joblib", root / "state" / "models" / "planted.json"
    args = ["ml", "train", "planted", "--folds", "3", "--json"]
    local = run(args)
    local_model, local_receipt = model.read_bytes(), receipt.read_bytes()
    model.unlink()
    receipt.unlink()
    on_ray = run([*args, "--ray", cluster.address])
    assert on_ray.stdout == local.stdout
    assert receipt.read_bytes() == local_receipt
    assert model.read_bytes() == local_model
    assert b'"trained_at": "2026-01-02T03:04:05+00:00"' in local_receipt
