"""The engine's paths (direct, separable, fft, gemm) and the thread pool they share.

Each path module has a ``run(window, ..., out, *, workers, budget)`` that fills ``out``
(``N x rows x cols x C``) tile by tile. Tiles run on a thread per core: NumPy, BLAS and scipy.fft
release the GIL inside their loops.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence

import numpy as np

from convcli.engine.geometry import Tile


@functools.cache
def _blas_local_threads() -> tuple[Callable[[int], int], ...]:
    """OpenBLAS's per-thread ``openblas_set_num_threads_local`` for every OpenBLAS NumPy loaded (may be none).

    Two of our threads each running a small matrix product on a two-thread BLAS pool oversubscribe
    the cores and run several times slower; with this, each of our threads asks for a one-thread BLAS.
    """
    import ctypes
    from pathlib import Path

    import numpy

    found = []
    candidates = []
    maps = Path("/proc/self/maps")
    if maps.exists():
        candidates += [line.split()[-1] for line in maps.read_text().splitlines() if "openblas" in line.lower()]
    root = Path(numpy.__file__).parent
    for folder in (root.parent / "numpy.libs", root / ".dylibs"):
        if folder.is_dir():
            candidates += [str(p) for p in folder.iterdir() if "openblas" in p.name.lower()]
    for path in dict.fromkeys(candidates):
        try:
            setter = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        setter.restype, setter.argtypes = ctypes.c_int, [ctypes.c_int]
        found.append(setter)
    return tuple(found)


def _one_blas_thread() -> None:
    share_blas(1)


def share_blas(threads: int) -> None:
    """Let the calling thread's BLAS products use ``threads`` threads: a batch worker's share of the cores.

    Two worker processes, each running its tiles on its main thread with a BLAS pool of every core, ran
    a separable Gaussian over a folder of photos 2.2x slower than one process alone.
    """
    for setter in _blas_local_threads():
        setter(threads)


#: Set by a batch's worker processes so that, together, their engines use each core once.
THREADS_VARIABLE = "CONVCLI_THREADS"


def default_workers() -> int:
    """Threads to use: ``$CONVCLI_THREADS`` when set, else the cores this process may run on."""
    if os.environ.get(THREADS_VARIABLE, "").isdigit() and int(os.environ[THREADS_VARIABLE]) > 0:
        return int(os.environ[THREADS_VARIABLE])
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def run_tiles(work: Callable[[Tile], None], tiles: Sequence[Tile], *, workers: int, blas: bool = False,
              after: Callable[[Tile], None] | None = None) -> None:
    """Call ``work`` on every tile, on up to ``workers`` threads.

    ``blas``: the work multiplies matrices. Its threads then use a one-thread BLAS each; where that
    cannot be arranged (no OpenBLAS found) the tiles run on the calling thread and BLAS threads itself.
    ``after``: called on each tile right after ``work``, on the same thread, while its outputs are in cache.
    The threads run under the caller's ``np.errstate`` and error callback (NumPy keeps them per thread).
    """
    if blas and workers > 1 and not _blas_local_threads():
        workers = 1
    if workers <= 1 or len(tiles) <= 1:
        for tile in tiles:
            work(tile)
            if after is not None:
                after(tile)
        return
    from concurrent.futures import ThreadPoolExecutor  # imported here: `convcli --help` needs no threads

    errors, callback = np.geterr(), np.geterrcall()

    def each(tile: Tile) -> None:
        with np.errstate(call=callback, **errors):
            work(tile)
            if after is not None:
                after(tile)

    initializer = _one_blas_thread if blas else None
    with ThreadPoolExecutor(min(workers, len(tiles)), initializer=initializer) as pool:
        for _ in pool.map(each, tiles):  # re-raises the first error
            pass
