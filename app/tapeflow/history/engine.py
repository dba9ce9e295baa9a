"""Where per-day tasks run: this process, local processes, or a Dask cluster; results in task order.

Why Dask (``distributed``) and not Ray: both give a local cluster and a scheduler address for a
real one, but Dask's wheels are pure Python (dask + distributed about 2.5 MB, installed with
their dependencies in ~3 s on Python 3.11) against Ray's ~65 MB native wheel per platform with
its own object store and raylet daemons, which cost seconds to start and hundreds of MB on a
2-core CI machine. Determinism is ours either way: a task is a plain-value job (paths, rules,
overrides), each one a fresh pipeline, and :meth:`Engine.map` yields results in the order the
tasks were given, so the reduction is the one a single process does.

A local cluster's workers run a task as fast as this process does (see :data:`LOCAL_CLUSTER_CONFIG`):
Dask's defaults made the same per-day task cost ~1.4x the CPU in a worker, because its nanny starts
each worker with ``MALLOC_TRIM_THRESHOLD_=65536``, which also pins glibc's mmap threshold at 128 KiB,
so every batch's arrays are fresh ``mmap`` pages (~150k page faults a day against ~10k).
``benchmarks/bench_multiday.py`` prints the per-task CPU both ways.

Memory stays flat: at most ``window`` tasks are in flight and each result is handed back (and
dropped by the engine) before more are submitted, so a month of days never sits in memory.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

from tapeflow.errors import TapeflowError

T = TypeVar("T")
R = TypeVar("R")


class Engine(Protocol):
    """Runs ``fn`` over items and yields the results in item order."""

    name: str
    workers: int

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]: ...

    def close(self) -> None: ...


def _windowed(submit: Callable[[Any], Any], result: Callable[[Any], R], items: Iterable[Any],
              window: int) -> Iterator[R]:
    """Submit ahead by ``window``, hand results back in submission order."""
    pending: deque = deque()
    for item in items:
        pending.append(submit(item))
        if len(pending) >= window:
            yield result(pending.popleft())
    while pending:
        yield result(pending.popleft())


class InlineEngine:
    """One task after the other in this process (``--jobs 1``)."""

    name = "1 process"
    workers = 1

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        return (fn(i) for i in items)

    def close(self) -> None:
        pass


class ProcessEngine:
    """Local worker processes (``--jobs N``): the standard library's pool, nothing to install."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.name = f"{workers} processes"
        self._pool = ProcessPoolExecutor(max_workers=workers)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        return _windowed(lambda i: self._pool.submit(fn, i), lambda f: f.result(), items, 2 * self.workers)

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    # Dask's nanny exports MALLOC_TRIM_THRESHOLD_=65536 to its workers to hand memory back to the
    # OS; setting it also fixes glibc's mmap threshold at 128 KiB, so a pipeline that allocates
    # and frees batch arrays pays a page fault per 4 KiB of them (+40% CPU a day). Our tasks hold
    # little memory and end quickly: the workers keep glibc's defaults, like this process.
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    # The profiler samples every worker's stack each 10 ms for a dashboard we do not start (a few
    # % of a pure-Python task's CPU, on the worker's event loop).
    "distributed.worker.profile.enabled": False,
}
"""Dask settings for the local cluster this module starts (a remote cluster keeps its own)."""


class DaskEngine:
    """A Dask cluster: a local one started here (``address=None``) or the scheduler at ``address``.

    On a remote cluster the workers need Tapeflow installed and the day files at the same paths
    (a shared folder), since tasks carry paths, not data. Start its workers with the settings of
    :data:`LOCAL_CLUSTER_CONFIG` (in their Dask config file) for the same speed per task.
    """

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise TapeflowError("the distributed engine needs Dask: pip install 'dask[distributed]' "
                                "(or use --jobs N for local processes)") from None
        self._cluster = None
        try:
            if address is None:
                n = workers or os.cpu_count() or 1
                with dask.config.set(LOCAL_CLUSTER_CONFIG):  # read as the workers are made
                    self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                 dashboard_address=":0", silence_logs=logging.ERROR)
                self._client = Client(self._cluster)
                self.name = f"local Dask cluster, {n} workers"
            else:
                self._client = Client(address, timeout="10s")
                self.name = f"Dask cluster at {address}"
        except (OSError, TimeoutError) as e:
            if self._cluster is not None:
                self._cluster.close()
            raise TapeflowError(f"--cluster {address or 'local'}: cannot reach the Dask scheduler: {e}") from None
        self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        def result(fut: Any) -> R:
            try:
                return fut.result()
            finally:
                fut.release()

        return _windowed(lambda i: self._client.submit(fn, i, pure=False), result, items, 2 * self.workers)

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_engine(*, jobs: int | None = None, cluster: str | None = None, tasks: int = 2) -> Engine:
    """The engine the options ask for.

    ``cluster``: ``"local"`` for a local Dask cluster or a scheduler address (``tcp://host:8786``);
    else ``jobs``: 1 runs in this process, N in N local processes. With neither, one task runs
    here and several go to a local Dask cluster with a worker per core (the embedded default).
    """
    if jobs is not None and jobs < 1:
        raise TapeflowError(f"--jobs must be at least 1, got {jobs}")
    if cluster:
        return DaskEngine(None if cluster == "local" else cluster, jobs)
    if jobs == 1 or tasks <= 1:
        return InlineEngine()
    if jobs is not None:
        return ProcessEngine(min(jobs, tasks))
    return DaskEngine(None, min(os.cpu_count() or 1, tasks))
