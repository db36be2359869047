"""The direct path: every output is the sum of its taps' products, computed in one of two ways.

**Taps** (:func:`run_taps`): every kernel tap adds a shifted (strided, dilated) view of the input
block. Zero taps are skipped, and three or more taps that share a weight are summed before one
multiplication (a box or a Laplacian needs far fewer passes).

**Row products** (:func:`run_rows`): for each output row, one small matrix product (BLAS) combines the
kernel's rows: ``V[j] = sum_i k[i, j] * x[y + i]`` for every kernel column ``j``, over the whole width
at once; the output is then the sum of the ``V[j]`` shifted by ``j``, one add per kernel column. A 3x3
kernel makes one product and two adds instead of 17 array passes. It runs at column stride 1.

:func:`run` takes the one the cost model prices lower. Python loops run over tiles, taps and kernel
columns, never over pixels. Tiles are row strips: tap by tap, small enough for the block, the output
strip and a scratch strip to stay in cache; by row products, larger (fewer calls, each batching more
output rows: about 8 MB of products ran fastest, see :meth:`~convcli.engine.costmodel.Problem.budget`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convcli.engine.geometry import Tile, Window, pixels, unpixels
from convcli.engine.threads import run_tiles

Tap = tuple[int, int]


def tap_groups(kernel: np.ndarray, dilation: int) -> list[tuple[float, list[Tap]]]:
    """The non-zero taps as ``(weight, [(row offset, col offset), ...])`` in reading order.

    Taps sharing a weight with at least two others (a box, a Gaussian's corners, a Laplacian's ring)
    form one group, summed before one multiplication; the rest stay single, so a kernel without such
    groups is summed tap by tap in reading order.
    """
    counts: dict[float, int] = {}
    for i, j in zip(*np.nonzero(kernel)):
        counts[kernel[i, j]] = counts.get(kernel[i, j], 0) + 1
    groups: list[tuple[float, list[Tap]]] = []
    grouped: dict[float, list[Tap]] = {}
    for i, j in zip(*np.nonzero(kernel)):
        weight, tap = kernel[i, j], (int(i) * dilation, int(j) * dilation)
        if counts[weight] < 3:
            groups.append((weight, [tap]))
        elif weight in grouped:
            grouped[weight].append(tap)
        else:
            grouped[weight] = [tap]
            groups.append((weight, grouped[weight]))
    return groups


def passes(kernel: np.ndarray) -> int:
    """Array passes per output the direct path makes for ``kernel`` (used by the cost model)."""
    groups = tap_groups(kernel, 1)
    if not groups:
        return 1
    return sum(len(taps) + 1 for _, taps in groups) - 1


def used_columns(kernel: np.ndarray) -> list[int]:
    """The kernel columns with a non-zero tap: each is one matrix row and one add of the row products."""
    return [int(j) for j in np.flatnonzero(np.any(kernel != 0, axis=0))]


def run(window: Window, bank: np.ndarray, out: np.ndarray, *, workers: int, budget: int, rows: bool,
        after: Callable[[Tile], None] | None = None) -> None:
    """Fill ``out`` (``N x rows x cols x C``) with the correlation of the image with each kernel of ``bank``,
    by row products when ``rows`` (the cost model's choice, :func:`~convcli.engine.costmodel.direct_rows`),
    else tap by tap; ``after`` as in :func:`~convcli.engine.threads.run_tiles`."""
    if rows:
        run_rows(window, bank, out, workers=workers, budget=budget, after=after)
    else:
        run_taps(window, bank, out, workers=workers, budget=budget, after=after)


def run_rows(window: Window, bank: np.ndarray, out: np.ndarray, *, workers: int, budget: int,
             after: Callable[[Tile], None] | None = None) -> None:
    """:func:`run` by row products (at column stride 1: they compute every column of a row)."""
    rows, cols, channels = window.rows, window.cols, window.channels
    kh, d = bank.shape[1], rows.dilation
    columns = [used_columns(kernel) for kernel in bank]
    # One matrix for the bank: a row per (kernel, used column), holding that column's taps top to bottom.
    weights = np.array([bank[n, :, j] for n, used in enumerate(columns) for j in used], dtype=out.dtype)
    weights = weights.reshape(-1, kh)
    first = np.cumsum([0] + [len(used) for used in columns])  # kernel n's rows of `weights` start here

    def work(tile: Tile) -> None:
        block = window.block(tile)
        if block.strides[1] != channels * block.itemsize:  # (a view that skips pixels) rows must be runs
            block = np.ascontiguousarray(block)
        ty, tx = tile.shape
        width = block.shape[1] * channels
        # Output row y reads block rows y * stride + i * dilation, i < kh: a (kh x width) matrix, as a view.
        row_bytes = block.strides[0]
        inputs = np.lib.stride_tricks.as_strided(block, shape=(ty, kh, width),
                                                 strides=(row_bytes * rows.stride, row_bytes * d, block.itemsize))
        products = np.matmul(weights, inputs)  # ty x (kernel, column) x width
        products = products.reshape(ty, len(weights), block.shape[1], channels)
        for n, used in enumerate(columns):
            target = out[n, tile.y0:tile.y1, tile.x0:tile.x1]
            if not used:
                target.fill(0)
                continue
            shifted = [products[:, first[n] + m, j * cols.dilation:j * cols.dilation + tx] for m, j in enumerate(used)]
            if len(shifted) == 1:
                target[...] = shifted[0]
                continue
            np.add(shifted[0], shifted[1], out=target)
            for view in shifted[2:]:
                target += view

    # The products of a strip are (kernel columns) times its outputs: size the strips by them.
    bytes_per_output = max(1, len(weights)) * channels * out.itemsize
    run_tiles(work, window.tiles(budget, bytes_per_output), workers=workers, blas=True, after=after)


def run_taps(window: Window, bank: np.ndarray, out: np.ndarray, *, workers: int, budget: int,
             after: Callable[[Tile], None] | None = None) -> None:
    """:func:`run` tap by tap."""
    rows, cols = window.rows, window.cols
    groups = [tap_groups(kernel, rows.dilation) for kernel in bank]
    column_phases = {dj % cols.stride for kernel_groups in groups for _, taps in kernel_groups for _, dj in taps}

    def work(tile: Tile) -> None:
        block = window.block(tile)
        ty, tx = tile.shape
        height, width = (ty - 1) * rows.stride + 1, (tx - 1) * cols.stride + 1

        if cols.stride > 1:
            # Views every s-th column apart would step through memory pixel by pixel; split the block
            # into its column phases once, and every tap reads a contiguous run of one of them.
            whole = pixels(block)
            phase = {b: unpixels(np.ascontiguousarray(whole[:, b::cols.stride]), block.dtype, block.shape[2])
                     for b in column_phases}

            def view(tap: Tap) -> np.ndarray:
                di, dj = tap
                q, b = divmod(dj, cols.stride)
                return phase[b][di:di + height:rows.stride, q:q + tx]
        else:
            def view(tap: Tap) -> np.ndarray:
                di, dj = tap
                return block[di:di + height:rows.stride, dj:dj + width]

        scratch = None
        for plane, kernel_groups in zip(out, groups):
            target = plane[tile.y0:tile.y1, tile.x0:tile.x1]
            if not kernel_groups:
                target.fill(0)
                continue
            for n, (weight, taps) in enumerate(kernel_groups):
                if n == 0:
                    # The first group initialises the target: sum its views there, then scale once.
                    if len(taps) == 1:
                        np.multiply(view(taps[0]), weight, out=target)
                        continue
                    np.add(view(taps[0]), view(taps[1]), out=target)
                    for tap in taps[2:]:
                        target += view(tap)
                    target *= weight
                    continue
                if scratch is None:
                    scratch = np.empty(target.shape, target.dtype)
                if len(taps) == 1:
                    np.multiply(view(taps[0]), weight, out=scratch)
                else:
                    np.add(view(taps[0]), view(taps[1]), out=scratch)
                    for tap in taps[2:]:
                        scratch += view(tap)
                    scratch *= weight
                target += scratch

    # Size strips by the input block they read: with a stride it is larger than the output strip.
    bytes_per_output = out.shape[-1] * out.itemsize * rows.stride * cols.stride
    run_tiles(work, window.tiles(budget, bytes_per_output), workers=workers, after=after)
