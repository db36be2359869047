"""Running a planned batch: in this process, on a pool of worker processes, or on a Dask cluster.

Whatever runs the work, each input is processed on its own (:func:`convcli.apply.process_source`):
a bad file fails alone, outputs are written atomically, memory is bounded by the number of workers,
and Ctrl-C stops the workers, removes their temporary files and returns what was finished.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from convcli import __version__
from convcli.apply import ApplyOptions, SourceResult, Target, find_global_range, process_source, write_montage
from convcli.errors import ParameterError
from convcli.imageio import atomic_write
from convcli.kernels import Depthwise, Entry, Kernel, Layer
from convcli.options import EXECUTORS
from convcli.paths import THREADS_VARIABLE, default_workers
from convcli.results import RunResult, make_folder

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs (not what it computes: that is :class:`~convcli.apply.ApplyOptions`)."""

    workers: int = 1
    executor: str = "local"
    scheduler: str | None = None
    skip_existing: bool = False
    montage: Path | None = None

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ParameterError(f"workers must be an integer >= 1; got {self.workers!r}")
        if self.executor not in EXECUTORS:
            raise ParameterError(f"executor must be one of {', '.join(EXECUTORS)}; got {self.executor!r}")
        if self.executor == "dask" and not self.scheduler:
            raise ParameterError("--executor dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786)")
        if self.scheduler and self.executor != "dask":
            raise ParameterError("--scheduler goes with --executor dask")


@dataclass
class BatchProgress:
    """How far a batch has got, for a progress bar."""

    done: int
    failed: int
    total: int
    source: Path | None = None


Progress = Callable[[BatchProgress], None]


@dataclass(frozen=True)
class Job:
    """One input's work, as sent to a worker."""

    index: int
    source: Path
    targets: tuple[Target, ...]
    options: ApplyOptions
    global_range: tuple[float, float] | None
    tiles: bool


def run_job(job: Job) -> tuple[int, SourceResult]:
    """Process one input (in whichever process or cluster worker runs it)."""
    return job.index, process_source(job.source, list(job.targets), job.options, job.global_range, tiles=job.tiles)


def _start_worker(threads: int) -> None:
    # The parent handles Ctrl-C and stops the pool; workers must not each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The cores are shared between the worker processes: each engine gets its part of them.
    os.environ[THREADS_VARIABLE] = str(threads)


def _serial(jobs: list[Job]) -> Iterator[tuple[int, SourceResult]]:
    for job in jobs:
        yield run_job(job)


def _pool(jobs: list[Job], workers: int, stop: list) -> Iterator[tuple[int, SourceResult]]:
    context = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods()
                                          else "spawn")
    processes = min(workers, len(jobs))
    pool = context.Pool(processes, initializer=_start_worker, initargs=(max(1, default_workers() // processes),))
    stop.append(pool.terminate)
    try:
        yield from pool.imap_unordered(run_job, jobs)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _dask(jobs: list[Job], scheduler: str, stop: list) -> Iterator[tuple[int, SourceResult]]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ParameterError("--executor dask needs Dask: pip install 'convcli[dask]'") from None
    try:
        client = Client(scheduler, timeout="10s")
    except OSError as error:
        raise ParameterError(f"cannot reach the Dask scheduler at {scheduler} ({error})") from None
    try:
        futures = client.map(run_job, jobs, pure=False)
        stop.append(lambda: client.cancel(futures))
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()


def skip_existing(targets: list[Target]) -> tuple[list[Target], list[Target]]:
    """Split ``targets`` into those still to write and those whose output already exists."""
    todo = [t for t in targets if not t.output.exists()]
    return todo, [t for t in targets if t.output.exists()]


def remove_partial_files(targets: list[Target]) -> int:
    """Remove the temporary files that interrupted workers may have left next to the outputs."""
    removed = 0
    for target in targets:
        for leftover in target.output.parent.glob(f".{target.output.name}.*.part"):
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed


def run(targets: list[Target], options: ApplyOptions, batch: BatchOptions = BatchOptions(),
        progress: Progress | None = None, not_images: list[Path] | None = None) -> RunResult:
    """Process every input of ``targets`` and return what happened.

    Outputs that exist are left alone with ``batch.skip_existing``. A failing input is recorded and
    the batch goes on; Ctrl-C (KeyboardInterrupt) stops it, removes partial files, and returns the
    finished part with :attr:`RunResult.interrupted` set.
    """
    started = time.perf_counter()
    todo, existing = skip_existing(targets) if batch.skip_existing else (targets, [])
    global_range = find_global_range(targets, options) if any("global" in t.maps for t in targets) else None
    groups: dict[Path, list[Target]] = {}
    for target in todo:
        groups.setdefault(target.source, []).append(target)
    jobs = [Job(i, source, tuple(group), options, global_range, batch.montage is not None)
            for i, (source, group) in enumerate(groups.items())]
    result = RunResult([], [], 0.0, global_range, existing=[t.output for t in existing],
                       not_images=list(not_images or []), pending=[job.source for job in jobs])
    outcomes: dict[int, SourceResult] = {}
    stop: list = []
    if batch.executor == "dask":
        stream = _dask(jobs, batch.scheduler, stop)
    elif batch.workers > 1 and len(jobs) > 1:
        stream = _pool(jobs, batch.workers, stop)
    else:
        stream = _serial(jobs)
    failed = 0
    try:
        for index, outcome in stream:
            outcomes[index] = outcome
            failed += bool(outcome.failures)
            if progress:
                progress(BatchProgress(len(outcomes), failed, len(jobs), jobs[index].source))
    except KeyboardInterrupt:
        for halt in stop:
            halt()
        result.interrupted = True
    finally:
        stream.close()
        if result.interrupted:
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


# --- the manifest ------------------------------------------------------------------------------------

def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float64).tobytes()).hexdigest()


def _describe(entry: Entry) -> dict:
    """What decides an entry's output: its weights (hashed) and settings, its members'."""
    if isinstance(entry, Kernel):
        return {"name": entry.name, "source": entry.source, "shape": list(entry.shape), "bias": entry.bias,
                "flip": entry.flip, "map": entry.map, "sha256": _sha256(entry.weights)}
    if isinstance(entry, Layer):
        return {"name": entry.name, "kind": "layer", "source": entry.source, "shape": list(entry.weights.shape),
                "sha256": _sha256(entry.weights)}
    described = {"name": entry.name, "kind": type(entry).__name__.lower(), "combine": getattr(entry, "combine", None),
                 "members": [_describe(member) for member in entry.kernels]}
    if isinstance(entry, Depthwise) and entry.pointwise is not None:
        described["pointwise_sha256"] = _sha256(entry.pointwise)
    return described


def fingerprint(entries: list[Entry], options: ApplyOptions) -> tuple[str, dict]:
    """A SHA-256 over convcli's version, the options and every kernel's weights: the same fingerprint
    means the same outputs for the same inputs."""
    settings = {"convcli": __version__, "options": {k: (str(v) if isinstance(v, Path) else v)
                                                     for k, v in asdict(options).items()},
                "kernels": [_describe(entry) for entry in entries]}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return digest, settings


def manifest(result: RunResult, targets: list[Target], options: ApplyOptions) -> dict:
    """The manifest of a run: for each input its outputs, status, error and timings, plus the
    fingerprint of the kernels and options that made them."""
    entries = list({id(e): e for t in targets for e in t.entries}.values())
    digest, settings = fingerprint(entries, options)
    by_source: dict[Path, dict] = {}
    for target in targets:
        item = by_source.setdefault(target.source, {"source": str(target.source), "status": "written",
                                                    "outputs": [], "errors": [], "timings": {}})
        item["outputs"].append(str(target.output))
    written = {m.output: m for m in result.maps}
    for source, item in by_source.items():
        maps = [written[Path(o)] for o in item["outputs"] if Path(o) in written]
        errors = [f.message for f in result.failures if f.source == source]
        existing = [o for o in item["outputs"] if Path(o) in set(result.existing)]
        item["errors"] = errors
        if errors:
            item["status"] = "failed"
        elif source in result.pending:
            item["status"] = "interrupted"
        elif existing and len(existing) == len(item["outputs"]):
            item["status"] = "skipped"
        if maps:
            item["timings"] = {"load_ms": round(maps[0].load_ms, 3),
                               **{key: round(sum(getattr(m, key) for m in maps), 3)
                                  for key in ("convolve_ms", "map_ms", "save_ms")}}
        item["fingerprint"] = digest
    return {"version": MANIFEST_VERSION, "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "fingerprint": digest, "settings": settings, "interrupted": result.interrupted,
            "not_images": [str(p) for p in result.not_images], "inputs": list(by_source.values())}


def write_manifest(path: Path, result: RunResult, targets: list[Target], options: ApplyOptions) -> None:
    """Write :func:`manifest` as JSON, atomically."""
    text = json.dumps(manifest(result, targets, options), indent=2) + "\n"
    make_folder(path.parent)
    atomic_write(path, lambda handle: handle.write(text.encode()))



