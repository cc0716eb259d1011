"""Scale-out: run a command's independent pieces of work locally or on a Ray cluster.

A long command (a sweep's grid points, a walk-forward's train sweeps, Monte Carlo's
batches of paths) is cut into :class:`Task` objects by the command itself; an
:class:`Executor` runs them and hands the results back **in the order the tasks were
given**, whatever order they finish in, so the assembled answer is the single-process
one byte for byte (docs/scale.md).

- :class:`LocalExecutor` runs the tasks one after another in this process, exactly as
  the commands always did (one task per natural unit, the progress per step inside it).
- :class:`~kobe.scale.ray_executor.RayExecutor` (``--ray [ADDRESS]`` or ``compute:
  {executor: ray}``) submits them as Ray tasks: the large inputs (the bars' market, the
  project, the compiled grid) go to the object store once (:meth:`Executor.share`) and
  every task reads them from there; Ray retries a task whose worker was lost; Ctrl-C
  cancels what is still running.

Ray is optional (``pip install 'kobe[ray]'``): this module never imports it; only
:func:`executor_for` does, when a Ray executor is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kobe.config.errors import Diagnostic, KobeError

T = TypeVar("T")

Progress = Callable[[int, int], None]
"""Told ``(units done, units in all)``: the same callback the commands' progress bars take."""

LOCAL = "local"
"""``--ray`` given without an address: start a Ray runtime on this machine's cores."""

INSTALL_HINT = "install it with: pip install 'kobe[ray]'"


@dataclass(frozen=True)
class Task:
    """One independent piece of work: ``fn(*args, step=...)``.

    ``fn`` is a module-level function (Ray ships it by reference); ``label`` names the
    work in an error (``sweep point channel_bars=20``), so a failure is reported with its
    parameters, not a traceback from a remote worker; ``weight`` is the units of
    progress it stands for (points, paths), and ``fn`` calls ``step()`` once per unit
    when it runs locally (``step(n)`` for n units at once); remotely ``step`` is None.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    label: str
    weight: int = 1


class Executor(Protocol):
    """Runs :class:`Task` objects; results in task order."""

    name: str

    def workers(self) -> int:
        """CPUs the tasks may run on at once: how finely to split the work."""
        ...

    def share(self, value: T) -> T:
        """``value`` as tasks should receive it: itself locally, an object-store
        reference on Ray (Ray passes a reference given as a task argument to the task as
        the value, so task code never sees the difference)."""
        ...

    def map(self, tasks: Sequence[Task], progress: Progress | None = None) -> list[Any]:
        """Every task's result, in the order of ``tasks``."""
        ...


class LocalExecutor:
    """The tasks one after another in this process: today's single-process run."""

    name = LOCAL

    def workers(self) -> int:
        return 1

    def share(self, value: T) -> T:
        return value

    def map(self, tasks: Sequence[Task], progress: Progress | None = None) -> list[Any]:
        total = sum(t.weight for t in tasks)
        done = [0]

        def step(units: int = 1) -> None:
            done[0] += units
            if progress is not None:
                progress(done[0], total)

        return [task.fn(*task.args, step=step) for task in tasks]


def blocks(n: int, parts: int) -> list[range]:
    """``range(n)`` cut into at most ``parts`` contiguous, nearly equal blocks.

    Contiguous because neighbouring grid points share indicator columns (the grid's
    last param varies fastest), so a block computes each shared column once.
    """
    parts = max(1, min(n, parts))
    size, extra = divmod(n, parts)
    out, lo = [], 0
    for k in range(parts):
        hi = lo + size + (1 if k < extra else 0)
        out.append(range(lo, hi))
        lo = hi
    return [b for b in out if len(b)]


# Tasks per worker CPU: more than one, so a slow block does not leave the other CPUs
# idle at the end, and few enough that each task's fixed cost (reading the market,
# computing its block's shared columns) stays small beside its work.
TASKS_PER_WORKER = 4


def split(executor: Executor, n: int) -> list[range]:
    """How to cut ``n`` units for ``executor``: one block locally (today's run), else
    :data:`TASKS_PER_WORKER` blocks per worker CPU."""
    if executor.name == LOCAL:
        return [range(n)] if n else []
    return blocks(n, executor.workers() * TASKS_PER_WORKER)


def ray_address(option: str | None, compute: Any | None) -> str | None:
    """The Ray address a command runs on: ``--ray`` (:data:`LOCAL` without an address)
    first, else the config's ``compute:`` section; ``None``: run locally."""
    if option is not None:
        return option
    if compute is not None and getattr(compute, "executor", LOCAL) == "ray":
        return getattr(compute, "address", None) or LOCAL
    return None


@contextmanager
def executor_for(address: str | None) -> Iterator[Executor]:
    """The executor for ``address`` (:func:`ray_address`): local for ``None``, else a
    Ray executor, connected (or its local runtime started) for the block and always
    disconnected (or stopped) after it, Ctrl-C included."""
    if address is None:
        yield LocalExecutor()
        return
    try:
        import ray  # noqa: F401
    except ImportError:
        raise KobeError(Diagnostic("--ray needs Ray, which is not installed", hint=INSTALL_HINT)) from None
    from kobe.scale.ray_executor import RayExecutor

    executor = RayExecutor(None if address == LOCAL else address)
    try:
        executor.start()
        yield executor
    finally:
        executor.stop()
