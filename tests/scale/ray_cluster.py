"""A real Ray cluster for the scale-out tests (the ``cluster`` fixture of conftest.py):
a head and a worker node, each its own
`ray start` process with one CPU, on this machine; stopped at the end whatever happens.

Each node gets its own free ports (other Ray clusters may run on the machine) and the
cluster a short temp dir (Ray's socket paths have a length limit). The workers inherit
``KOBE_SCALE_KILL_ONCE`` (kobe.scale.ray_executor's test hook): the path of a marker
file that only the kill test creates.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

RAY = str(Path(os.environ.get("VIRTUAL_ENV", Path(__file__).resolve().parents[2] / ".venv")) / "bin" / "ray")
if not Path(RAY).exists():
    RAY = shutil.which("ray") or "ray"


@dataclass(frozen=True)
class Cluster:
    address: str          # host:port of the head's GCS, as `--ray` takes it
    port: int
    temp_dir: Path
    kill_marker: Path     # create it: the next task's worker kills itself


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_ports() -> list[str]:
    """The ports a node listens on, all free, so two nodes (and other clusters) never clash."""
    return ["--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
            "--metrics-export-port", str(free_port()), "--runtime-env-agent-port", str(free_port())]


def wait_for_cpus(address: str, cpus: int, env: dict[str, str]) -> None:
    """Until the cluster reports ``cpus`` CPUs (the worker node has joined)."""
    probe = ("import ray,sys; ray.init(address=sys.argv[1], log_to_driver=False); "
             "print(int(ray.cluster_resources().get('CPU', 0)))")
    python = str(Path(RAY).parent / "python")
    for _ in range(60):
        out = subprocess.run([python, "-c", probe, address], check=False, capture_output=True, text=True, env=env,
                             timeout=120)
        if out.stdout.strip().splitlines()[-1:] == [str(cpus)]:
            return
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster at {address} never reached {cpus} CPUs")


def start_cluster() -> Iterator[Cluster]:
    """The cluster, up, for as long as the generator is not closed; then stopped."""
    temp = Path(tempfile.mkdtemp(prefix="kr", dir="/tmp"))
    marker = temp / "kill-once"
    # No token authentication (for the nodes and this driver alike): the cluster lives
    # for this module, on this machine only.
    patch = pytest.MonkeyPatch()
    patch.setenv("RAY_AUTH_MODE", "disabled")
    env = {**os.environ, "KOBE_SCALE_KILL_ONCE": str(marker), "RAY_USAGE_STATS_ENABLED": "0"}
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    try:
        subprocess.run([RAY, "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
                        "--temp-dir", str(temp), "--include-dashboard", "false",
                        "--ray-client-server-port", str(free_port()), *common, *node_ports()],
                       check=True, env=env, capture_output=True, timeout=180)
        subprocess.run([RAY, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common,
                        *node_ports()], check=True, env=env, capture_output=True, timeout=180)
        wait_for_cpus(address, 2, env)
        yield Cluster(address, port, temp, marker)
    finally:
        stop_cluster(temp, port)
        shutil.rmtree(temp, ignore_errors=True)
        patch.undo()


def _processes() -> dict[int, tuple[int, str]]:
    """Every process: pid -> (parent pid, command line), from /proc."""
    out: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out[int(entry.name)] = (ppid, cmdline)
    return out


def cluster_pids(temp: Path, port: int) -> set[int]:
    """This cluster's processes: those whose command line names its temp dir (the GCS,
    the raylets, their agents) or its GCS port (the Ray client server), and all their
    descendants (the workers, whose titles are rewritten to ``ray::...``)."""
    procs = _processes()
    gcs = re.compile(rf"\d+\.\d+\.\d+\.\d+:{port}\b")
    found = {pid for pid, (_, cmd) in procs.items()
             if (str(temp) in cmd or gcs.search(cmd)) and pid != os.getpid()}
    while True:
        more = {pid for pid, (ppid, _) in procs.items() if ppid in found} - found - {os.getpid()}
        if not more:
            return found
        found |= more


def stop_cluster(temp: Path, port: int) -> None:
    """Stop this cluster's processes only (:func:`cluster_pids`): ``ray stop`` would stop
    every Ray on the machine, other users' too."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    for signal in (15, 9):
        pids = cluster_pids(temp, port)
        for pid in pids:
            try:
                os.kill(pid, signal)
            except ProcessLookupError:
                pass
        for _ in range(20):
            if not cluster_pids(temp, port):
                return
            time.sleep(0.5)
