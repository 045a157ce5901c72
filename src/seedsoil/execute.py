"""Executors (core): run tasks in this process, in local worker processes, or on Dask.

One interface: ``executor.run(fn, tasks)`` yields ``(task, result)`` as tasks
finish, in any order. Results never depend on the executor: every patient's
randomness is keyed by (seed, patient index), not by worker or chunk.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator


class InProcess:
    """Run tasks one after the other in this process (debugging, one core)."""

    workers = 1

    def run(self, fn: Callable, tasks: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        for task in tasks:
            yield task, fn(*task)

    def close(self) -> None:
        pass


class LocalProcesses:
    """A pool of worker processes on this machine (default: all cores)."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or multiprocessing.cpu_count()
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def run(self, fn: Callable, tasks: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        tasks = list(tasks)
        pending = {}
        it = iter(tasks)
        # keep a bounded number of tasks in flight so memory stays flat
        for task in it:
            pending[self._pool.submit(fn, *task)] = task
            if len(pending) >= 2 * self.workers:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                task = pending.pop(fut)
                yield task, fut.result()
                nxt = next(it, None)
                if nxt is not None:
                    pending[self._pool.submit(fn, *nxt)] = nxt

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class DaskExecutor:
    """A Dask cluster: an existing scheduler (``address``) or a LocalCluster started here.

    Lost tasks (a worker that dies) are rerun by the Dask scheduler; since each
    chunk is a pure function of its inputs, the rerun gives the same rows.
    """

    def __init__(self, address: str | None = None, workers: int | None = None):
        from distributed import Client, LocalCluster

        self._cluster = None
        if address:
            self.client = Client(address)
        else:
            self._cluster = LocalCluster(n_workers=workers or multiprocessing.cpu_count(), threads_per_worker=1,
                                         processes=True, dashboard_address=None)
            self.client = Client(self._cluster)
        self.workers = len(self.client.scheduler_info().get("workers", {})) or (workers or 1)

    def run(self, fn: Callable, tasks: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        from distributed import as_completed

        tasks = list(tasks)
        futures = {}
        window = max(4 * self.workers, 4)
        it = iter(tasks)
        for task in it:
            futures[self.client.submit(fn, *task, pure=False, retries=2)] = task
            if len(futures) >= window:
                break
        ac = as_completed(list(futures))
        for fut in ac:
            task = futures.pop(fut)
            result = fut.result()
            fut.release()
            yield task, result
            nxt = next(it, None)
            if nxt is not None:
                new = self.client.submit(fn, *nxt, pure=False, retries=2)
                futures[new] = nxt
                ac.add(new)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(kind: str = "local", *, workers: int | None = None, scheduler: str | None = None):
    if kind == "local":
        if workers == 1:
            return InProcess()
        return LocalProcesses(workers)
    if kind == "dask":
        return DaskExecutor(scheduler, workers)
    raise ValueError(f"executor = {kind!r}: must be 'local' or 'dask'")
