"""Where a batch's work runs: in this process, on a pool of worker processes, or on a Dask cluster.

Every executor runs the same unit, :func:`run_job` (one input, see
:func:`~convcli.pipeline.process.process_source`), behind one protocol: :meth:`Executor.start` hands
it the jobs, :meth:`Executor.results` yields ``(index, result)`` as each finishes, in any order, and
:meth:`Executor.stop` ends whatever still runs (it is always called, also after Ctrl-C). To add an
executor, implement the three and name it in :func:`make_executor` and in ``choices.EXECUTORS``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from convcli.engine.threads import THREADS_VARIABLE, default_workers, share_blas
from convcli.errors import ConvcliError, ParameterError
from convcli.imageio.atomic import RUN_VARIABLE, STDOUT, run_leftovers, run_token
from convcli.imageio.reading import display_name
from convcli.pipeline.options import ApplyOptions
from convcli.pipeline.planning import Target
from convcli.pipeline.process import SourceResult, process_source
from convcli.pipeline.results import Failure


@dataclass(frozen=True)
class Job:
    """One input's work, as sent to a worker."""

    index: int
    source: Path
    targets: tuple[Target, ...]
    options: ApplyOptions
    global_range: tuple[float, float] | None
    tiles: bool
    run: str = ""  # the run's token for temporary file names (atomic.run_token), set where the job runs


def run_job(job: Job) -> tuple[int, SourceResult]:
    """Process one input (in whichever process or cluster worker runs it)."""
    if job.run:
        os.environ[RUN_VARIABLE] = job.run
    try:
        return job.index, process_source(job.source, list(job.targets), job.options, job.global_range,
                                         tiles=job.tiles)
    except Exception as error:
        # process_source records every convcli error, so this is a bug. Some libraries' exceptions cannot
        # be rebuilt from a pickle, and a worker pool would then wait for ever: raise one that can be.
        raise RuntimeError(f"bug while processing {job.source}: {type(error).__name__}: {error}\n"
                           f"{traceback.format_exc()}") from None


class ClusterLost(ConvcliError):
    """The workers can no longer be reached (the Dask scheduler died or the connection to it broke): the
    run ends, with what was finished."""

    exit_code = 1


class Executor(Protocol):
    """Runs jobs somewhere and hands back their results as they finish."""

    def start(self, jobs: list[Job]) -> None:
        """Begin the work (it may run in the background from here on)."""

    def results(self) -> Iterator[tuple[int, SourceResult]]:
        """``(job index, result)`` for every job, in the order they finish."""

    def interrupt(self) -> Iterator[tuple[int, SourceResult]]:
        """After Ctrl-C: end the work, handing back the results of jobs that cannot be stopped and finish
        (a result already handed back may come again)."""

    def stop(self) -> None:
        """End all work still running and release the workers; safe to call at any time, more than once."""


class Serial:
    """Every job in this process, one after another."""

    def start(self, jobs: list[Job]) -> None:
        self.jobs = jobs

    def results(self) -> Iterator[tuple[int, SourceResult]]:
        for job in self.jobs:
            yield run_job(job)

    def interrupt(self) -> Iterator[tuple[int, SourceResult]]:
        return iter(())  # the job Ctrl-C stopped was this process's own

    def stop(self) -> None:
        pass


def _start_worker(threads: int, run: str) -> None:
    # The parent handles Ctrl-C and stops the pool; workers must not each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The cores are shared between the worker processes: each engine gets its part of them.
    os.environ[THREADS_VARIABLE] = str(threads)
    share_blas(threads)
    # Temporary files carry the parent's run, so that its clean-up finds them and no other run's.
    os.environ[RUN_VARIABLE] = run


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold back Ctrl-C while workers start. The processes started meanwhile inherit a signal mask that
    blocks it, so a Ctrl-C at the terminal (sent to the whole process group) cannot interrupt their imports
    with a traceback; this process notes it and raises KeyboardInterrupt once they have started (ignoring it,
    as before, lost it: the run went on to the end)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    pressed = []
    handler = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))  # for any thread that receives it
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, handler)
    if pressed:
        raise KeyboardInterrupt


#: Worker processes beyond this many per CPU only take memory (``-j 100000``).
MAX_WORKERS_PER_CPU = 4


class LocalPool:
    """Worker processes on this machine, the cores shared between their engines.

    A worker that dies (killed, or out of memory) breaks the pool: the inputs it and the others were
    working on are run again, each alone in a fresh worker, so that the one that kills its worker fails
    by itself (named in the summary) and the run always ends.
    """

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = None

    def _submit(self, jobs: list[Job], processes: int) -> dict:
        """Start a fresh pool of ``processes`` workers and hand it ``jobs``; the futures, each to its job."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        self.pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context(method),
                                        initializer=_start_worker,
                                        initargs=(max(1, default_workers() // processes), run_token()))
        # The workers (and the fork server) start at the first submit. Started with Ctrl-C ignored, they
        # inherit that, so that a Ctrl-C while they import reaches only this process, which stops them.
        with _ctrl_c_held():
            return {self.pool.submit(run_job, job): job for job in jobs}

    def start(self, jobs: list[Job]) -> None:
        self.workers = min(self.workers, len(jobs), MAX_WORKERS_PER_CPU * (os.cpu_count() or 1))
        self.futures = self._submit(jobs, self.workers)

    def results(self) -> Iterator[tuple[int, SourceResult]]:
        from concurrent.futures.process import BrokenProcessPool

        broken = yield from self._gather(self.futures)
        if broken:  # the inputs of a broken pool, again in a fresh one
            broken = yield from self._gather(self._submit(broken, min(self.workers, len(broken))))
        for job in broken:  # broken twice: each alone, so that the one that kills its worker fails by itself
            try:
                yield next(iter(self._submit([job], 1))).result()
            except BrokenProcessPool:
                yield job.index, SourceResult(failures=[Failure(
                    job.source, f"{display_name(job.source)}: its worker process died while filtering it "
                                "(killed, or out of memory?)")])
            self.stop()

    def _gather(self, futures: dict):
        """Yield each finished job's result; return the jobs of a pool that broke, in input order."""
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        broken = []
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool:
                broken.append(futures[future])
        self.stop()
        # What a killed worker was writing: no other worker is on these outputs now.
        for leftover in run_leftovers([t.output for job in broken for t in job.targets if t.output != STDOUT],
                                      run_token()):
            leftover.unlink(missing_ok=True)
        return sorted(broken, key=lambda job: job.index)

    def interrupt(self) -> Iterator[tuple[int, SourceResult]]:
        return iter(())  # stop() ends the workers, and the run removes their temporary files

    def stop(self) -> None:
        if self.pool is not None:
            # Ctrl-C: end the workers now (their files are whole or temporary), rather than wait for them.
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.terminate()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def _run_unless_stopped(job: Job, stop: str) -> tuple[int, SourceResult | None]:
    """:func:`run_job` on a Dask worker, unless the run has set its Event ``stop`` (Ctrl-C): Dask does not
    stop a task once a worker has it, so each task asks before it starts."""
    from distributed import Event

    if Event(stop).is_set():
        return job.index, None
    return run_job(job)


class DaskCluster:
    """The workers of a Dask cluster (``pip install 'convcli[dask]'``); inputs and outputs must be on
    paths every worker sees."""

    #: After Ctrl-C, how long to wait for the inputs running on workers to finish.
    FINISH_SECONDS = 60

    def __init__(self, scheduler: str | None, workers: int = 1):
        import uuid

        self.scheduler = scheduler  # None: a LocalCluster of ``workers`` processes, started for the run
        self.workers = workers
        self.cluster = None
        self.client = None
        self.futures: list = []
        self.stop_event = f"convcli-stop-{uuid.uuid4().hex}"  # set on Ctrl-C: tasks not started then skip

    def start(self, jobs: list[Job]) -> None:
        # Ctrl-C in the middle of importing Dask or of starting its client breaks them (tracebacks, then a
        # half-imported asyncio): it waits till after.
        with _ctrl_c_held():
            self._connect(jobs)

    def _connect(self, jobs: list[Job]) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ParameterError("`executor` dask needs Dask: pip install 'convcli[dask]'") from None
        import logging

        # The client's own log of a lost scheduler is tracebacks; convcli says what happened in one line.
        for name in [name for name in logging.root.manager.loggerDict if name.startswith("distributed")]:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        if self.scheduler is None:
            from distributed import LocalCluster

            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            self.scheduler = self.cluster.scheduler_address
        try:
            self.client = Client(self.scheduler, timeout="10s")
        except (OSError, ValueError, TypeError) as error:  # unreachable, or not an address ("missing port")
            raise ParameterError(f"cannot reach the Dask scheduler at {self.scheduler} ({error})") from None
        self.jobs = jobs
        self.futures = self.client.map(_run_unless_stopped, jobs, stop=self.stop_event, pure=False)

    def results(self) -> Iterator[tuple[int, SourceResult]]:
        from concurrent.futures import CancelledError

        from distributed import KilledWorker, as_completed

        jobs = dict(zip(self.futures, self.jobs))
        try:
            for future in as_completed(self.futures):
                try:
                    index, outcome = future.result()
                    if outcome is not None:  # (None: skipped, stopped by Ctrl-C)
                        yield index, outcome
                except KilledWorker:  # it killed every worker that tried it (Dask retries on others)
                    job = jobs[future]
                    yield job.index, SourceResult(failures=[Failure(
                        job.source, f"{display_name(job.source)}: the Dask workers filtering it died (killed, or "
                                    "out of memory?)")])
        except (CancelledError, OSError):  # the scheduler is gone: the futures cancelled, or the connection closed
            raise ClusterLost(f"lost the connection to the Dask scheduler at {self.scheduler}") from None

    def interrupt(self) -> Iterator[tuple[int, SourceResult]]:
        """Tell the tasks not yet started to skip, and wait (up to :attr:`FINISH_SECONDS`) for those that
        have started, which Dask cannot stop: their files would otherwise appear after the run had ended.
        Every finished job's result comes back, those the run has already recorded as well (Ctrl-C may
        have come between the two): the run keeps the first of each."""
        if self.client is None:
            return
        from concurrent.futures import CancelledError

        from distributed import Event, as_completed
        from distributed import TimeoutError as DaskTimeout

        try:
            Event(self.stop_event, client=self.client).set()
            for future in as_completed(self.futures, timeout=self.FINISH_SECONDS):
                if future.status == "finished" and (result := future.result())[1] is not None:
                    yield result
        except (DaskTimeout, TimeoutError, OSError, CancelledError):  # the scheduler is gone, or too slow
            pass

    def stop(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            try:
                with _ctrl_c_held():  # a second Ctrl-C must not break the client's close
                    client.cancel(self.futures)
                    client.close(timeout=5)
            except (OSError, RuntimeError, TimeoutError, KeyboardInterrupt):  # the scheduler or the loop is gone
                pass
        if self.cluster is not None:
            cluster, self.cluster = self.cluster, None
            with contextlib.suppress(Exception), _ctrl_c_held():
                cluster.close(timeout=10)


def make_executor(executor: str, *, workers: int, scheduler: str | None, jobs: int) -> Executor:
    """The executor named ``executor`` (see ``choices.EXECUTORS``) for ``jobs`` jobs."""
    if executor == "dask":
        return DaskCluster(scheduler, workers)
    if workers > 1 and jobs > 1:
        return LocalPool(workers)
    return Serial()
