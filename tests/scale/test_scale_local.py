"""kobe.scale without a cluster: the splitting, the choice of executor (option, config),
the local executor's order and progress, Monte Carlo's per-batch streams, and `--ray`
without Ray installed."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kobe.backtest.montecarlo import BATCH, path_stats, resample, resample_batches
from kobe.cli import main
from kobe.config.errors import KobeError
from kobe.config.model import ComputeConfig
from kobe.project import load_project
from kobe.scale import (
    LOCAL,
    LocalExecutor,
    Task,
    blocks,
    executor_for,
    ray_address,
    split,
)


def test_blocks_are_contiguous_nearly_equal_and_cover_every_unit() -> None:
    assert blocks(10, 4) == [range(3), range(3, 6), range(6, 8), range(8, 10)]
    assert blocks(3, 8) == [range(1), range(1, 2), range(2, 3)]
    assert blocks(0, 4) == []
    for n, parts in ((1000, 8), (7, 7), (13, 5)):
        cut = blocks(n, parts)
        assert [k for b in cut for k in b] == list(range(n))
        assert max(map(len, cut)) - min(map(len, cut)) <= 1


def test_the_local_executor_runs_one_block_in_order_with_progress() -> None:
    executor = LocalExecutor()
    assert split(executor, 9) == [range(9)] and executor.share(x := object()) is x
    seen: list[tuple[int, int]] = []

    def work(n: int, *, step: object) -> int:
        for _ in range(n):
            step()  # type: ignore[operator]
        return n * 10

    assert executor.map([Task(work, (2,), "a", weight=2), Task(work, (3,), "b", weight=3)],
                        lambda done, total: seen.append((done, total))) == [20, 30]
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_the_option_wins_over_the_config() -> None:
    assert ray_address(None, None) is None
    assert ray_address(None, ComputeConfig()) is None
    assert ray_address(None, ComputeConfig("ray")) == LOCAL
    assert ray_address(None, ComputeConfig("ray", "ray://head:10001")) == "ray://head:10001"
    assert ray_address("auto", ComputeConfig("ray", "ray://head:10001")) == "auto"
    assert ray_address(LOCAL, ComputeConfig()) == LOCAL


def test_the_compute_section_is_read_and_checked(project_dir: Path) -> None:
    path = project_dir / "strategies.yaml"
    assert load_project(path).config.compute == ComputeConfig("local", None)
    path.write_text(path.read_text() + "compute:\n  executor: ray\n  address: ray://head:10001\n")
    assert load_project(path).config.compute == ComputeConfig("ray", "ray://head:10001")
    path.write_text(path.read_text().replace("executor: ray", "executor: spark"))
    with pytest.raises(KobeError):
        load_project(path)


def test_monte_carlo_batches_draw_the_same_paths_however_split() -> None:
    pnl = np.random.default_rng(0).normal(2.0, 50.0, 120)
    runs = 3 * BATCH + 17
    whole = resample(pnl, 10_000, method="shuffle", runs=runs, seed=9)
    parts = [resample_batches(pnl, 10_000, method="shuffle", runs=runs, seed=9, batches=b)
             for b in (range(1), range(1, 3), range(3, 4))]
    assert np.array_equal(np.concatenate([p.max_drawdown for p in parts]), whole.max_drawdown)
    # Batch 0 is the method's stream of before per-batch streams: up to BATCH runs, the same numbers.
    first = np.random.default_rng([9, 1]).permuted(np.broadcast_to(pnl, (BATCH, len(pnl))), axis=1)
    assert np.array_equal(path_stats(first, 10_000).max_drawdown, whole.max_drawdown[:BATCH])


def test_ray_asked_for_without_ray_installed_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)       # import ray raises ImportError
    with pytest.raises(KobeError) as caught, executor_for(LOCAL):
        pass
    assert "pip install 'kobe[ray]'" in (caught.value.diagnostics[0].hint or "")


def test_cli_ray_without_ray_and_a_file_after_ray(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project_dir)
    monkeypatch.setitem(sys.modules, "ray", None)
    out = CliRunner().invoke(main, ["montecarlo", "--runs", "10", "--out", "mc", "--ray"])
    assert out.exit_code != 0 and "pip install 'kobe[ray]'" in out.stderr and "Traceback" not in out.output
    misplaced = CliRunner().invoke(main, ["sweep", "--ray", "strategies.yaml"])
    assert misplaced.exit_code == 2 and "put the strategies file before --ray" in misplaced.stderr
    assert "--ray [ADDRESS]" in CliRunner().invoke(main, ["walkforward", "--help"]).stdout
