"""The separable path: a kernel of SVD rank ``r`` runs as ``r`` pairs of 1-D passes.

A rank-1 kernel (Gaussian, box, Sobel, an axis-aligned motion blur) is ``outer(col, row)``: a vertical
pass with ``col`` then a horizontal pass with ``row`` costs ``kh + kw`` taps per output instead of
``kh * kw``. Each 1-D pass over a strip is one batched matrix product: a small banded Toeplitz matrix
(a block of a few outputs by the inputs they read) times the stack of overlapping views, one per whole
block, and one more product for the outputs left over.
BLAS does the multiply-adds many times faster than NumPy's element-wise passes, which pays for the zeros
in the band. The horizontal matrix treats each channel on its own, so the pixels need no transposing.
Stride is applied inside both passes, so dropped rows and columns are never computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from convcli.engine.geometry import Tile, Window
from convcli.engine.threads import run_tiles

#: Output rows per Toeplitz block of the vertical pass, and output values (pixels x channels) per block
#: of the horizontal one. Small bands waste few multiply-adds on their zeros, and one batched product per
#: strip keeps the calls few: measured on 12 MP gray and RGB images with 3 to 31 taps, these ran 2-3x
#: faster than blocks of 16 rows and 32 pixels.
#:
#: BLAS sums an output in an order that can depend on the shape of the product it is part of: with a
#: shorter band for a strip's last outputs, a narrower strip or a single row, a 7-tap Gaussian at
#: dilation 2 on a 1200 x 900 image gave about 3,100 samples one ulp apart. So every product has the
#: shape it has anywhere: the last outputs of a strip take a whole block (reading zero columns past its
#: ends), a strip's columns are cut alike however few its rows, a lone row is multiplied as two, and the
#: blocks sit at multiples of the block from the image's first output row and column. Every output is
#: then the same sum in any strip, and a band of rows gives the whole image's bits (given the band's
#: first row, see :func:`run`; tested in test_bands.py).
VERTICAL_BLOCK = 2
HORIZONTAL_VALUES = 16


def horizontal_block(channels: int) -> int:
    """Output pixels per Toeplitz block of the horizontal pass (whose matrix repeats each tap per channel)."""
    return max(1, HORIZONTAL_VALUES // channels)


@dataclass(frozen=True)
class Factors:
    """``kernel ~ sum_t outer(cols[t], rows[t])``, with ``error = sum |kernel - that sum|``.

    ``error`` is the largest change the truncation can make to an output for pixel values in [0, 1];
    :func:`factorize` bounds the change of each tap relative to the tap.
    """

    cols: np.ndarray  # rank x kh, the vertical filters
    rows: np.ndarray  # rank x kw, the horizontal filters
    error: float
    exact: bool = False  # split along a tap or row by row (error 0 up to one rounding) rather than by SVD

    @property
    def rank(self) -> int:
        return len(self.cols)


def factorize(kernel: np.ndarray, *, tolerance: float) -> Factors:
    """The fewest rank-1 terms that keep every tap of ``kernel`` within ``tolerance`` of itself.

    Each tap is kept relative to its own size (a zero tap relative to the smallest non-zero one), so a
    kernel whose taps span many orders of magnitude loses none of its small ones. A kernel that is
    exactly rank 1 is split along its largest tap, which keeps integer kernels such as Sobel's exact:
    ``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]`` is ``[1, 2, 1]`` by ``[-1, 0, 1]``. Otherwise the SVD's
    terms are tried from rank 1 up; when none below the full rank keeps every tap, the kernel is split
    row by row (or column by column), which is exact: a term per row, a 1-tap vertical filter by that row.

    Examples
    --------
    >>> f = factorize(np.outer([1, 2, 1], [-1, 0, 1]), tolerance=1e-12)
    >>> f.rank, f.error, f.cols.tolist(), f.rows.tolist()
    (1, 0.0, [[-1.0, -2.0, -1.0]], [[1.0, -0.0, -1.0]])
    >>> factorize(np.array([[1e8, 1e-8], [2e-8, 3e-8]]), tolerance=1e-7).rank   # no tap is dropped
    2
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    i, j = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
    if kernel[i, j] != 0:
        col, row = kernel[:, j], kernel[i, :] / kernel[i, j]
        if _keeps_every_tap(kernel, np.outer(col, row), tolerance):
            return Factors(col[None], row[None], float(np.abs(kernel - np.outer(col, row)).sum()), exact=True)
    u, s, vt = np.linalg.svd(kernel)
    for rank in range(1, min(kernel.shape)):
        scale = np.sqrt(s[:rank])
        cols, rows = (u[:, :rank] * scale).T, vt[:rank] * scale[:, None]
        if _keeps_every_tap(kernel, cols.T @ rows, tolerance):
            return Factors(cols, rows, float(np.abs(kernel - cols.T @ rows).sum()))
    return _split_exactly(kernel)


def _keeps_every_tap(kernel: np.ndarray, approximation: np.ndarray, tolerance: float) -> bool:
    """Whether every tap of ``approximation`` is within ``tolerance`` of the kernel's, relative to that tap
    (for a zero tap, to the smallest non-zero one)."""
    size = np.abs(kernel)
    nonzero = size[size > 0]
    if not nonzero.size:
        return not approximation.any()
    return bool(np.all(np.abs(kernel - approximation) <= tolerance * np.maximum(size, nonzero.min())))


def _split_exactly(kernel: np.ndarray) -> Factors:
    """``kernel`` as a sum of its rows (each a 1-tap vertical filter by the row), or of its columns when it
    has fewer of them: exact, and left without its all-zero rows."""
    transposed = kernel.shape[1] < kernel.shape[0]
    lines = kernel.T if transposed else kernel
    kept = [n for n in range(len(lines)) if lines[n].any()] or [0]
    units, taps = np.eye(len(lines))[kept], lines[kept]
    cols, rows = (taps, units) if transposed else (units, taps)
    return Factors(cols, rows, 0.0, exact=True)


def toeplitz(taps: np.ndarray, outputs: int, *, stride: int, dilation: int) -> np.ndarray:
    """The ``outputs x length`` band whose row ``y`` holds ``taps``, ``dilation`` apart, from column ``y * stride``."""
    length = (outputs - 1) * stride + (len(taps) - 1) * dilation + 1
    matrix = np.zeros((outputs, length), dtype=taps.dtype)
    y = np.arange(outputs)[:, None]
    matrix[y, y * stride + np.arange(len(taps)) * dilation] = taps
    return matrix


def use_matrix(taps: np.ndarray) -> bool:
    """Whether a 1-D pass with ``taps`` runs as Toeplitz matrix products (else as shifted views).

    Measured on 12 MP images, products beat shifted views from three taps on, on both axes, gray or
    RGB: BLAS runs its multiply-adds at several times the rate of NumPy's element-wise passes, which
    pays for the band's zeros. A single non-zero tap is just a scaled view.
    """
    return np.count_nonzero(taps) > 1


class _Pass:
    """One 1-D filter along rows or columns, prepared for the tiles' sizes."""

    def __init__(self, taps: np.ndarray, *, stride: int, dilation: int, channels: int, horizontal: bool):
        self.stride = stride
        self.span = (len(taps) - 1) * dilation
        self.matrix = use_matrix(taps)
        self.block = horizontal_block(channels) if horizontal else VERTICAL_BLOCK
        self.nonzero = [(i * dilation, w) for i, w in enumerate(taps) if w != 0]
        if self.matrix:
            band = toeplitz(taps, self.block, stride=stride, dilation=dilation)
            if horizontal:
                # Each channel on its own: M[(l, c), (t, c)] = band[t, l].
                eye = np.eye(channels, dtype=taps.dtype)
                band = np.einsum("tl,cd->lctd", band, eye).reshape(band.shape[1] * channels, -1)
            # Row-major: OpenBLAS rounded a column-ordered matrix (what einsum gives for one channel)
            # differently for products of different heights.
            self.band = np.ascontiguousarray(band)

    @property
    def slack(self) -> int:
        """Input samples a horizontal pass may read beyond either end of a strip's own: its first and last
        blocks may reach up to a block, less one output, outside the strip."""
        return (self.block - 1) * self.stride

    def vertical(self, block: np.ndarray, outputs: int, *, slack: int) -> np.ndarray:
        """``outputs`` rows (a multiple of the block) filtered down the columns of ``block`` (``rows x cols
        x C``), between zero columns, ``slack`` on each side (for :meth:`horizontal_into`)."""
        rows, cols, channels = block.shape
        wide = np.empty((outputs, cols + 2 * slack, channels), dtype=block.dtype)
        wide[:, :slack] = 0
        wide[:, slack + cols:] = 0
        inside = wide[:, slack:slack + cols]
        if not self.matrix:
            inside[...] = self._shifted(block, outputs, axis=0)
            return wide
        flat = block.reshape(rows, cols * channels)
        step, size = flat.strides[0], flat.itemsize
        whole = outputs // self.block
        windows = as_strided(flat, shape=(whole, self.band.shape[1], flat.shape[1]),
                             strides=(self.block * self.stride * step, step, flat.strides[1]), writeable=False)
        into = as_strided(inside, shape=(whole, self.block, cols * channels),
                          strides=(self.block * inside.strides[0], inside.strides[0], size))
        np.matmul(self.band, windows, out=into)
        return wide

    def horizontal_into(self, source: np.ndarray, target: np.ndarray, *, start: int, accumulate: bool) -> None:
        """Filter ``source`` (as :meth:`vertical` gives it, :attr:`slack` zero columns on each side) along
        its rows into ``target`` (``rows x outputs x C``), whose first output is the image's column ``start``."""
        rows, outputs, channels = target.shape
        slack = self.slack
        if not self.matrix:
            result = self._shifted(source[:, slack:source.shape[1] - slack], outputs, axis=1)
            if accumulate:
                target += result
            else:
                target[...] = result
            return
        if rows == 1:  # one row would be a matrix-vector product, summed in another order: make it two
            source = np.concatenate([source, np.zeros_like(source)])
            padded = np.zeros((2, *target.shape[1:]), target.dtype)
            if accumulate:
                padded[0] = target[0]
            self.horizontal_into(source, padded, start=start, accumulate=accumulate)
            target[0] = padded[0]
            return
        width = source.shape[1]
        flat = np.ascontiguousarray(source).reshape(rows, width * channels)
        size, step, block = flat.itemsize, flat.strides[0], self.block
        values = block * channels
        # Outputs start .. start + outputs - 1 in blocks from a multiple of the block: a lead (the end of
        # a block that began before the strip), whole blocks, and a tail (the start of one).
        lead = min(outputs, (-start) % block)
        whole = (outputs - lead) // block
        tail = outputs - lead - whole * block
        pieces = [(first, 1, count) for first, count in ((0, lead), (lead + whole * block, tail)) if count]
        if whole:
            pieces.append((lead, whole, None))
        for first, blocks, count in pieces:
            skip = (start + first) % block  # outputs of the first block before `first`
            begin = (slack + (first - skip) * self.stride) * channels
            windows = as_strided(flat.reshape(-1)[begin:], shape=(blocks, rows, self.band.shape[0]),
                                 strides=(values * self.stride * size, step, size), writeable=False)
            span = blocks * block if count is None else count
            head = target[:, first:first + span]
            if count is None and not accumulate and head.strides[1:] == (channels * size, size):
                into = as_strided(head, shape=(blocks, rows, values), strides=(values * size, head.strides[0], size))
                np.matmul(windows, self.band, out=into)
                continue
            result = np.matmul(windows, self.band)  # blocks x rows x values: put back in row order
            result = result.reshape(blocks, rows, block, channels).transpose(1, 0, 2, 3)
            result = result.reshape(rows, blocks * block, channels)[:, skip:skip + span]
            if accumulate:
                head += result
            else:
                head[...] = result

    def _shifted(self, block: np.ndarray, outputs: int, *, axis: int) -> np.ndarray:
        extent = (outputs - 1) * self.stride + 1
        index = [slice(None)] * block.ndim
        result = scratch = None
        for offset, weight in self.nonzero:
            index[axis] = slice(offset, offset + extent, self.stride)
            view = block[tuple(index)]
            if result is None:
                result = np.multiply(view, weight)
            else:
                if scratch is None:
                    scratch = np.empty_like(result)
                np.multiply(view, weight, out=scratch)
                result += scratch
        if result is None:  # every tap zero
            index[axis] = slice(0, extent, self.stride)
            result = np.zeros_like(block[tuple(index)])
        return result


def run(window: Window, factors: list[Factors], out: np.ndarray, *, workers: int, budget: int,
        after: Callable[[Tile], None] | None = None, first_row: int = 0) -> None:
    """Fill ``out`` (``N x rows x cols x C``): kernel ``n`` is ``factors[n]``, a sum of rank-1 terms;
    ``after`` as in :func:`~convcli.engine.threads.run_tiles`. ``first_row``: the whole image's output
    row that the first row of ``out`` is (for a band of rows; the blocks sit at multiples from row 0)."""
    rows, cols, channels = window.rows, window.cols, window.channels
    dtype = out.dtype
    passes = [[(_Pass(f.cols[t].astype(dtype), stride=rows.stride, dilation=rows.dilation, channels=channels,
                      horizontal=False),
                _Pass(f.rows[t].astype(dtype), stride=cols.stride, dilation=cols.dilation, channels=channels,
                      horizontal=True))
               for t in range(f.rank)] for f in factors]
    uses_blas = any(p.matrix for pairs in passes for pair in pairs for p in pair)

    def work(tile: Tile) -> None:
        # The vertical blocks sit at multiples of VERTICAL_BLOCK from the image's first row: the tile's
        # rows are computed with the rest of their first and last blocks.
        above = (first_row + tile.y0) % VERTICAL_BLOCK
        below = -(first_row + tile.y1) % VERTICAL_BLOCK
        rows_read = Tile(tile.y0 - above, tile.y1 + below, tile.x0, tile.x1)
        block = window.block(rows_read)
        for plane, pairs in zip(out, passes):
            target = plane[tile.y0:tile.y1, tile.x0:tile.x1]
            for t, (down, across) in enumerate(pairs):
                middle = down.vertical(block, rows_read.shape[0], slack=across.slack)
                across.horizontal_into(middle[above:above + tile.shape[0]], target, start=tile.x0,
                                       accumulate=t > 0)

    # The columns are cut alike however few the rows (a band): a product's width changes its sums too.
    tiles = window.tiles(budget, channels * out.itemsize, pieces=True)
    run_tiles(work, tiles, workers=workers, blas=uses_blas, after=after)


def tolerance(dtype: np.dtype) -> float:
    """The error of a tap, relative to the tap, below which a low-rank split counts as exact for ``dtype``."""
    return 1e-7 if np.dtype(dtype).itemsize <= 4 else 1e-13

