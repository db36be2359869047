"""The GEMM path: a bank of kernels as one matrix product per row strip (im2col on strips, never the image).

For a strip of outputs, row ``t`` of the column matrix holds what tap ``t`` reads for every output
of the strip (a strided, dilated view of the input, copied once); the bank, ``N x taps``, times that
matrix gives all ``N`` feature maps of the strip at once, written straight into the output. A tap that
is zero in every kernel of the bank is left out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convcli.engine.geometry import Tile, Window, pixels
from convcli.engine.threads import run_tiles


def bank_taps(bank: np.ndarray) -> list[tuple[int, int]]:
    """The tap positions ``(i, j)`` that are non-zero in at least one kernel of the bank."""
    used = np.any(bank != 0, axis=0)
    if not used.any():
        used[0, 0] = True  # an all-zero bank still needs one (zero) column
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(used))]


def run(window: Window, bank: np.ndarray, out: np.ndarray, *, workers: int, budget: int,
        after: Callable[[Tile], None] | None = None) -> None:
    """Fill ``out`` (``N x rows x cols x C``) with the correlation of the image with each kernel of ``bank``;
    ``after`` as in :func:`~convcli.engine.threads.run_tiles`."""
    rows, cols, channels = window.rows, window.cols, window.channels
    taps = bank_taps(bank)
    weights = np.ascontiguousarray(np.stack([bank[:, i, j] for i, j in taps], axis=1))  # N x taps

    bytes_per_output = len(taps) * channels * out.itemsize
    tiles = window.tiles(budget, bytes_per_output, full_width=True)

    def work(tile: Tile) -> None:
        ty, tx = tile.shape
        columns = np.empty((len(taps), ty, tx, channels), dtype=out.dtype)
        # A lone small tile is read as one padded block; strips read views inside and copies at the sides.
        for piece in [tile] if len(tiles) == 1 else window.column_pieces(tile):
            block = window.block(piece)
            height, width = (ty - 1) * rows.stride + 1, (piece.x1 - piece.x0 - 1) * cols.stride + 1
            # Whole pixels are copied at once: float by float, a strided RGB copy runs at half speed.
            source = pixels(block) if channels > 1 else block
            for row, (i, j) in zip(columns, taps):
                di, dj = i * rows.dilation, j * cols.dilation
                target = pixels(row) if channels > 1 else row
                target[:, piece.x0 - tile.x0:piece.x1 - tile.x0] = source[di:di + height:rows.stride,
                                                                           dj:dj + width:cols.stride]
        # The strip spans every column, so each map's rows of it are one contiguous run of out.
        target = out[:, tile.y0:tile.y1].reshape(len(out), -1)
        np.matmul(weights, columns.reshape(len(taps), -1), out=target)

    run_tiles(work, tiles, workers=workers, blas=True, after=after)
