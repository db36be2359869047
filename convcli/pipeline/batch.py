"""Running a planned batch: every input processed on its own, by the executor asked for.

Whatever runs the work (:mod:`convcli.pipeline.executors`), a bad file fails alone, outputs are
written atomically, memory is bounded by the number of workers, and Ctrl-C stops the workers, removes
their temporary files and returns what was finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from convcli.choices import EXECUTORS
from convcli.errors import ParameterError
from convcli.imageio.atomic import STDOUT, orphans, run_leftovers, run_token
from convcli.imageio.writing import output_format
from convcli.pipeline.executors import ClusterLost, Job, make_executor
from convcli.pipeline.options import ApplyOptions
from convcli.pipeline.planning import Target
from convcli.pipeline.process import SourceResult, by_source, find_global_range, write_montage
from convcli.pipeline.results import RunResult


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs (not what it computes: that is :class:`~convcli.pipeline.options.ApplyOptions`)."""

    workers: int = 1
    executor: str = "local"
    scheduler: str | None = None
    skip_existing: bool = False
    montage: Path | None = None

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ParameterError(f"`workers` must be an integer >= 1; got {self.workers!r}")
        if self.executor not in EXECUTORS:
            raise ParameterError(f"`executor` must be one of {', '.join(EXECUTORS)}; got {self.executor!r}")
        if self.scheduler and self.executor != "dask":
            raise ParameterError("`scheduler` goes with `executor` dask")
        if self.montage is not None:
            output_format(Path(self.montage))  # a format it can be written in, before any work


@dataclass
class BatchProgress:
    """How far a batch has got, for a progress bar."""

    done: int
    failed: int
    total: int
    source: Path | None = None
    stopping: bool = False  # after Ctrl-C, while the inputs that cannot be stopped finish


Progress = Callable[[BatchProgress], None]


def skip_existing(targets: list[Target]) -> tuple[list[Target], list[Target]]:
    """Split ``targets`` into those still to write and those whose output already exists, and remove the
    temporary files that killed runs left beside them."""
    def written(target: Target) -> bool:
        return target.output != STDOUT and target.output.exists()

    for target in targets:
        if target.output != STDOUT:
            for leftover in orphans(target.output):
                leftover.unlink(missing_ok=True)
    return [t for t in targets if not written(t)], [t for t in targets if written(t)]


def remove_partial_files(targets: list[Target], token: str | None = None) -> int:
    """Remove the temporary files that this run's interrupted or killed workers (``token``, default this
    process's run) left next to the outputs; another run's are left alone."""
    leftovers = run_leftovers([t.output for t in targets if t.output != STDOUT], token or run_token())
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return len(leftovers)


def run(targets: list[Target], options: ApplyOptions, batch: BatchOptions = BatchOptions(),
        progress: Progress | None = None, not_images: list[Path] | None = None) -> RunResult:
    """Process every input of ``targets`` and return what happened.

    Outputs that exist are left alone with ``batch.skip_existing``. A failing input is recorded and
    the batch goes on; Ctrl-C (KeyboardInterrupt) stops it, removes partial files, and returns the
    finished part with :attr:`RunResult.interrupted` set.
    """
    started = time.perf_counter()
    if batch.executor == "dask" and any(t.output == STDOUT or t.data is not None for t in targets):
        raise ParameterError("`executor` dask runs on other machines: it cannot read standard input or write "
                             "standard output; name files")
    todo, existing = skip_existing(targets) if batch.skip_existing else (targets, [])
    global_range = find_global_range(targets, options) if any("global" in t.maps for t in targets) else None
    jobs = [Job(i, source, tuple(group), options, global_range, batch.montage is not None, run_token())
            for i, (source, group) in enumerate(by_source(todo).items())]
    result = RunResult([], [], 0.0, global_range, existing=[t.output for t in existing],
                       not_images=list(not_images or []), pending=[job.source for job in jobs])
    outcomes: dict[int, SourceResult] = {}
    executor = make_executor(batch.executor, workers=batch.workers, scheduler=batch.scheduler, jobs=len(jobs))
    failed = 0

    def record(index: int, outcome: SourceResult, stopping: bool = False) -> None:
        nonlocal failed
        if index in outcomes:  # handed back again after Ctrl-C (see Executor.interrupt)
            return
        outcomes[index] = outcome
        failed += bool(outcome.failures)
        if progress:
            progress(BatchProgress(len(outcomes), failed, len(jobs), jobs[index].source, stopping))

    try:
        executor.start(jobs)
        for index, outcome in executor.results():
            record(index, outcome)
    except KeyboardInterrupt:
        result.interrupted = True
        if progress:
            progress(BatchProgress(len(outcomes), failed, len(jobs), stopping=True))
        try:  # what runs on a cluster's workers cannot be stopped: it finishes, and is counted
            for index, outcome in executor.interrupt():
                record(index, outcome, stopping=True)
        except KeyboardInterrupt:  # pressed again: leave it (its temporary files are removed below)
            pass
    except ClusterLost as lost:
        result.stopped = str(lost)
    finally:
        executor.stop()
        # Interrupted, or a worker killed in mid-write (a Dask task is then run again elsewhere): the
        # temporary files this run left behind.
        remove_partial_files(todo)
    rows = []
    for index in sorted(outcomes):  # report in input order, however the work was scheduled
        outcome = outcomes[index]
        result.maps += outcome.maps
        result.failures += outcome.failures
        rows += [outcome.tiles] if outcome.tiles else []
    result.pending = [job.source for job in jobs if job.index not in outcomes]
    if batch.montage is not None and rows and not result.interrupted:
        write_montage(batch.montage, rows, result)
    result.total_ms = (time.perf_counter() - started) * 1e3
    return result
