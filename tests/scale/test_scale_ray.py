"""Scale-out on a real Ray cluster (tests/scale/conftest.py: a head and a worker node):
sweep, walk-forward and Monte Carlo give the local run's bytes; a worker killed
mid-run is retried to the same answer; an unreachable address, another Kobe on the
cluster and a task that raises are clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from ray_cluster import Cluster, cluster_pids, free_port

from kobe.cli import main
from kobe.config.errors import Diagnostic, KobeError
from kobe.scale import Task
from kobe.scale import ray_executor as rx

ray = pytest.importorskip("ray")
# The failing tasks below are this module's functions: shipped by value, since the
# workers cannot import a test module.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

FIXED = "      channel_bars: 20\n      trend_bars: 200\n      atr_bars: 14\n      stop_atr: 2\n      hold_bars: 5\n"
GRID = "      channel_bars: [10, 20]\n      trend_bars: 200\n      atr_bars: 14\n      stop_atr: [1, 2.5]\n" \
       "      hold_bars: {from: 3, to: 5, step: 2}\n"


@pytest.fixture
def swept(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository's config with an 8-point grid on donchian_breakout, as the cwd."""
    path = project_dir / "strategies.yaml"
    path.write_text(path.read_text().replace(FIXED, GRID, 1))
    monkeypatch.chdir(project_dir)
    return project_dir


def run(args: list[str]) -> Result:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def same_locally_and_on_ray(args: list[str], address: str, folder: Path) -> tuple[str, dict[str, bytes]]:
    """The command's --json summary and written files, checked byte-identical between a
    local run and a run on the cluster (the same --out, so the receipts' commands agree)."""
    local = run([*args, "--json"])
    local_files = files(folder)
    on_ray = run([*args, "--json", "--ray", address])
    assert on_ray.stdout == local.stdout
    assert files(folder) == local_files
    return local.stdout, local_files


def test_sweep_on_the_cluster_is_the_local_sweep(swept: Path, cluster: Cluster) -> None:
    summary, _ = same_locally_and_on_ray(["sweep", "--metric", "total_return", "--out", "sw"], cluster.address,
                                         swept / "sw")
    assert '"rank": 1' in summary


def test_walkforward_on_the_cluster_is_the_local_one(swept: Path, cluster: Cluster) -> None:
    same_locally_and_on_ray(["walkforward", "--start", "2014-01-02", "--train-months", "12", "--test-months", "12",
                             "--out", "wf"], cluster.address, swept / "wf")


def test_montecarlo_on_the_cluster_is_the_local_one(swept: Path, cluster: Cluster) -> None:
    # 2,500 paths: three batches per method, so the cluster splits each method's batches.
    _, written = same_locally_and_on_ray(["montecarlo", "--strategy", "donchian_breakout", "--runs", "2500",
                                          "--seed", "7", "--out", "mc"], cluster.address, swept / "mc")
    assert written["runs.csv"].count(b"\n") == 5_001


def test_a_worker_killed_mid_run_is_retried_to_the_same_result(swept: Path, cluster: Cluster) -> None:
    args = ["sweep", "--metric", "sharpe", "--out", "sw", "--json"]
    local = run(args)
    cluster.kill_marker.write_text("")      # the next task's worker kills itself (SIGKILL)
    try:
        again = run([*args, "--ray", cluster.address])
    finally:
        killed = not cluster.kill_marker.exists()
        cluster.kill_marker.unlink(missing_ok=True)
    assert killed, "no worker took the marker: nothing was killed"
    assert again.stdout == local.stdout


def test_an_unreachable_address_is_a_clear_error(swept: Path) -> None:
    out = CliRunner().invoke(main, ["sweep", "--out", "sw", "--ray", f"127.0.0.1:{free_port()}"])
    assert out.exit_code != 0 and "cannot reach the Ray cluster at 127.0.0.1:" in out.stderr
    assert "Traceback" not in out.output


def test_another_kobe_on_the_cluster_is_refused(swept: Path, cluster: Cluster,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # The driver pretends to be another Kobe; the nodes report their real one.
    monkeypatch.setattr(rx, "code_fingerprint", lambda: "0.0.0+000000000000")
    out = CliRunner().invoke(main, ["sweep", "--out", "sw", "--ray", cluster.address])
    assert out.exit_code != 0 and "the Ray cluster runs another Kobe" in out.stderr
    assert out.stderr.count(") has 0.1.0+") == 2 and "; this one is 0.0.0+000000000000" in out.stderr


def explode(x: int, *, step: object) -> int:
    if x == 2:
        error = ValueError("channel too short")
        error.add_note("at the sweep point channel_bars=2")
        raise error
    return x


def refuse(x: int, *, step: object) -> int:
    raise KobeError(Diagnostic("a bad window", hint="use a whole number"))


def test_a_task_that_raises_is_reported_at_its_point(cluster: Cluster) -> None:
    executor = rx.RayExecutor(cluster.address)
    executor.start()
    try:
        assert executor.map([Task(explode, (x,), f"point {x}") for x in (3, 1)]) == [3, 1]
        with pytest.raises(KobeError) as caught:
            executor.map([Task(explode, (x,), f"point {x}") for x in (1, 2, 3)])
        [problem] = caught.value.diagnostics
        assert problem.message == "a task failed: ValueError: channel too short"
        assert problem.hint == "at the sweep point channel_bars=2"
        with pytest.raises(KobeError) as caught:
            executor.map([Task(refuse, (1,), "sweep points a=1 .. a=4")])
        [problem] = caught.value.diagnostics
        assert (problem.message, problem.hint) == ("a bad window", "sweep points a=1 .. a=4; use a whole number")
    finally:
        executor.stop()
    assert not ray.is_initialized()


def test_the_cluster_fixture_finds_its_processes(cluster: Cluster) -> None:
    # What the teardown stops: the head's and the worker's processes, never this one.
    pids = cluster_pids(cluster.temp_dir, cluster.port)
    assert len(pids) >= 4 and all(pid > 1 for pid in pids)


INTERRUPTED = """
import sys, time
from kobe.scale import Task
from kobe.scale.ray_executor import RayExecutor

def nap(seconds, *, step):
    time.sleep(seconds)
    return seconds

executor = RayExecutor(sys.argv[1])
executor.start()
print("started", file=sys.__stdout__, flush=True)   # the executor sends stdout to stderr
try:
    executor.map([Task(nap, (120,), "nap") for _ in range(4)])
finally:
    executor.stop()
"""


def test_ctrl_c_cancels_the_tasks_and_leaves_nothing_running(cluster: Cluster, tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED)
    driver = subprocess.Popen([sys.executable, str(script), cluster.address], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert driver.stdout is not None and driver.stdout.readline().strip() == "started"
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            for _ in range(60):            # both CPUs busy with the naps
                if ray.available_resources().get("CPU", 0) == 0:
                    break
                time.sleep(0.5)
            else:
                pytest.fail("the naps never started")
            driver.send_signal(signal.SIGINT)
            _, err = driver.communicate(timeout=60)
            assert driver.returncode != 0 and "KeyboardInterrupt" in err
            for _ in range(60):            # the cancelled tasks' workers are gone: both CPUs free
                if ray.available_resources().get("CPU", 0) == 2:
                    break
                time.sleep(0.5)
            else:
                pytest.fail(f"still busy after Ctrl-C: {ray.available_resources()}")
        finally:
            ray.shutdown()
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()

