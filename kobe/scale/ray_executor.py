"""The Ray executor: Kobe's tasks as Ray tasks on a local runtime or a cluster.

Imported only when Ray is asked for (:func:`kobe.scale.executor_for`). Ray does the
scheduling, the object store, the retries of a task whose worker died
(:data:`MAX_RETRIES`) and the cancellation; this module only checks the cluster before
use (reachable, the same Kobe), submits, counts completions over ``ray.wait`` for the
progress bar, and turns a failed task into an error naming its parameters.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import ray
import ray.exceptions
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from kobe.config.errors import Diagnostic, KobeError
from kobe.scale import Progress, Task

T = TypeVar("T")

# Attempts after the first when a task's worker process or node dies (not when the task
# raises: a raised error is the task's answer and would raise again).
MAX_RETRIES = 3
# Seconds to wait for a cluster's port before calling it unreachable: ray.init would
# otherwise retry for about a minute.
CONNECT_TIMEOUT = 5.0
# Test hook: a worker that finds this file deletes it and kills itself (SIGKILL) at the
# start of its task, as a machine lost mid-run would; the tests use it to check Ray's
# retry gives the same answer. Its path comes from the worker's environment.
KILL_ONCE_ENV = "KOBE_SCALE_KILL_ONCE"


@cache
def code_fingerprint() -> str:
    """Kobe's version and a hash of its source files: what a worker must share with the
    driver for its results to be the driver's."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(importlib.metadata.version("kobe").encode())
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{importlib.metadata.version('kobe')}+{digest.hexdigest()[:12]}"


def _node_fingerprint() -> tuple[str, str]:
    """Run on each node: its address and its Kobe's fingerprint."""
    return ray.util.get_node_ip_address(), code_fingerprint()


def _call(fn: Any, *args: Any) -> Any:
    """The one remote function: every Kobe task is ``fn(*args)``; Ray resolves the
    object-store references among ``args`` to their values before the call."""
    marker = os.environ.get(KILL_ONCE_ENV)
    if marker:
        try:
            os.remove(marker)
        except FileNotFoundError:
            pass
        else:
            os.kill(os.getpid(), 9)
    try:
        return fn(*args, step=None)
    except KobeError as e:
        # KobeError does not survive Ray's round trip (its constructor takes diagnostics,
        # not a message): its diagnostics travel in an error that does.
        remote = RemoteKobeError(list(e.diagnostics))
        for note in getattr(e, "__notes__", []):
            remote.add_note(note)
        raise remote from None


class RemoteKobeError(Exception):
    """A task's :class:`KobeError` on its way back to the driver."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics


def _reachable(address: str) -> None:
    """Raise a clear error when ``address``'s host:port does not answer (``auto`` is
    left to ray.init, which finds a local cluster or says there is none)."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise KobeError(Diagnostic(f"--ray {address}: not an address",
                                   hint="give ray://host:10001 (Ray client), host:6379 (the head's GCS) or auto"))
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        raise KobeError(Diagnostic(f"cannot reach the Ray cluster at {address}: {e.strerror or e}",
                                   hint="is the head running (`ray start --head`)? is the port open from here?"))


class RayExecutor:
    """Tasks on Ray: a runtime started here on this machine's cores (``address`` None),
    or the cluster at ``address`` joined."""

    name = "ray"

    def __init__(self, address: str | None, num_cpus: int | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self._started = False
        self._remote: Any = None
        self._stdout = contextlib.ExitStack()

    def start(self) -> None:
        # Ray's driver threads print cluster events ("a worker died ...") to stdout, where
        # they would corrupt a command's --json output: stderr, while connected.
        self._stdout.enter_context(contextlib.redirect_stdout(sys.stderr))
        if ray.is_initialized():
            # A runtime of the caller's own (a test, a notebook): used as it is, left running.
            pass
        elif self.address is None:
            ray.init(num_cpus=self.num_cpus or os.cpu_count() or 1, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
            self._started = True
        else:
            _reachable(self.address)
            try:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, TimeoutError) as e:
                raise KobeError(Diagnostic(f"cannot join the Ray cluster at {self.address}: {e}",
                                           hint="start one with `ray start --head`, or run without --ray")) from None
            self._started = True
        self._remote = ray.remote(max_retries=MAX_RETRIES)(_call)
        self.check_versions()

    def stop(self) -> None:
        try:
            if self._started:
                ray.shutdown()
                self._started = False
        finally:
            self._stdout.close()

    def workers(self) -> int:
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def check_versions(self) -> None:
        """Every alive node runs the driver's Kobe (:func:`code_fingerprint`), else a
        clear error: a different Kobe could compute different answers."""
        probe = ray.remote(max_retries=0)(_node_fingerprint)
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote()
                for node in nodes]
        mine = code_fingerprint()
        try:
            found = ray.get(refs)
        except ray.exceptions.RayTaskError as e:
            raise KobeError(Diagnostic(f"a node of the Ray cluster cannot run Kobe: {_cause(e)}",
                                       hint="install this Kobe on every node (the same version and source)")) from None
        other = [f"node {ip} ({node['NodeID'][:8]}) has {fp}" for node, (ip, fp) in zip(nodes, found) if fp != mine]
        if other:
            raise KobeError(Diagnostic(f"the Ray cluster runs another Kobe: {'; '.join(other)}; this one is {mine}",
                                       hint="install this Kobe on every node (the same version and source)"))

    def share(self, value: T) -> T:
        # A reference stands for the value: Ray hands tasks the value itself.
        return ray.put(value)  # type: ignore[return-value]

    def map(self, tasks: Sequence[Task], progress: Progress | None = None) -> list[Any]:
        refs = [self._remote.remote(task.fn, *task.args) for task in tasks]
        index = {ref: k for k, ref in enumerate(refs)}
        results: list[Any] = [None] * len(tasks)
        total = sum(t.weight for t in tasks)
        done = 0
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    k = index[ref]
                    try:
                        results[k] = ray.get(ref)
                    except ray.exceptions.RayTaskError as e:
                        raise _task_error(tasks[k], e) from None
                    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                            ray.exceptions.ObjectLostError) as e:
                        raise KobeError(Diagnostic(f"{tasks[k].label}: its worker was lost {MAX_RETRIES + 1} times",
                                                   hint=f"{type(e).__name__}; check the cluster's nodes")) from None
                    done += tasks[k].weight
                    if progress is not None:
                        progress(done, total)
        except BaseException:
            # Ctrl-C or a failed task: nothing of this run may keep computing.
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return results


def _cause(e: ray.exceptions.RayTaskError) -> str:
    cause = e.cause if isinstance(e.cause, BaseException) else None
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(e).splitlines()[0]


def _task_error(task: Task, e: ray.exceptions.RayTaskError) -> KobeError:
    """The task's own error, located at its parameters: a Kobe error keeps its
    diagnostics (each hint naming the task), anything else is one line."""
    cause = e.cause
    # The task names the exact unit that failed in a note (a sweep point in a block).
    notes = getattr(cause, "__notes__", None) or []
    where = notes[-1] if notes else task.label
    if isinstance(cause, RemoteKobeError):
        return KobeError([replace(d, hint=where + (f"; {d.hint}" if d.hint else "")) for d in cause.diagnostics])
    return KobeError(Diagnostic(f"a task failed: {_cause(e)}", hint=where))
