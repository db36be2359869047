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
            self.band = band

    def length(self, outputs: int) -> int:
        """Input samples read by ``outputs`` consecutive outputs."""
        return (outputs - 1) * self.stride + self.span + 1

    def vertical(self, block: np.ndarray, outputs: int) -> np.ndarray:
        """``outputs`` rows filtered down the columns of ``block`` (``rows x cols x C``)."""
        if not self.matrix:
            return self._shifted(block, outputs, axis=0)
        rows, cols, channels = block.shape
        flat = block.reshape(rows, cols * channels)
        result = np.empty((outputs, cols * channels), dtype=block.dtype)
        whole = outputs // self.block
        if whole:
            step = flat.strides[0]
            windows = as_strided(flat, shape=(whole, self.band.shape[1], flat.shape[1]),
                                 strides=(self.block * self.stride * step, step, flat.strides[1]), writeable=False)
            np.matmul(self.band, windows, out=result[:whole * self.block].reshape(whole, self.block, -1))
        rest = outputs - whole * self.block
        if rest:
            first = whole * self.block * self.stride
            np.matmul(self.band[:rest, :self.length(rest)], flat[first:first + self.length(rest)],
                      out=result[whole * self.block:])
        return result.reshape(outputs, cols, channels)

    def horizontal_into(self, source: np.ndarray, target: np.ndarray, *, accumulate: bool) -> None:
        """Filter ``source`` (``rows x cols x C``) along its rows into ``target`` (``rows x outputs x C``)."""
        outputs = target.shape[1]
        if not self.matrix:
            result = self._shifted(source, outputs, axis=1)
            if accumulate:
                target += result
            else:
                target[...] = result
            return
        rows, cols, channels = source.shape
        flat = np.ascontiguousarray(source).reshape(rows, cols * channels)
        values, size = self.block * channels, flat.itemsize
        whole = outputs // self.block
        if whole:
            # Block b of every row at once: a (whole x rows x band) stack of views times the band.
            windows = as_strided(flat, shape=(whole, rows, self.band.shape[0]),
                                 strides=(values * self.stride * size, flat.strides[0], size), writeable=False)
            head = target[:, :whole * self.block]
            if accumulate or head.strides[1:] != (channels * size, size):
                result = np.matmul(windows, self.band)  # whole x rows x values: put back in row order
                result = result.reshape(whole, rows, self.block, channels).transpose(1, 0, 2, 3)
                result = result.reshape(head.shape)
                if accumulate:
                    head += result
                else:
                    head[...] = result
            else:
                into = as_strided(head, shape=(whole, rows, values), strides=(values * size, head.strides[0], size))
                np.matmul(windows, self.band, out=into)
        rest = outputs - whole * self.block
        if rest:
            first = whole * self.block * self.stride * channels
            part = flat[:, first:first + self.length(rest) * channels]
            result = (part @ self.band[:self.length(rest) * channels, :rest * channels]).reshape(rows, rest, channels)
            if accumulate:
                target[:, whole * self.block:] += result
            else:
                target[:, whole * self.block:] = result

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
        after: Callable[[Tile], None] | None = None) -> None:
    """Fill ``out`` (``N x rows x cols x C``): kernel ``n`` is ``factors[n]``, a sum of rank-1 terms;
    ``after`` as in :func:`~convcli.engine.threads.run_tiles`."""
    rows, cols, channels = window.rows, window.cols, window.channels
    dtype = out.dtype
    passes = [[(_Pass(f.cols[t].astype(dtype), stride=rows.stride, dilation=rows.dilation, channels=channels,
                      horizontal=False),
                _Pass(f.rows[t].astype(dtype), stride=cols.stride, dilation=cols.dilation, channels=channels,
                      horizontal=True))
               for t in range(f.rank)] for f in factors]
    uses_blas = any(p.matrix for pairs in passes for pair in pairs for p in pair)

    def work(tile: Tile) -> None:
        block = window.block(tile)
        for plane, pairs in zip(out, passes):
            target = plane[tile.y0:tile.y1, tile.x0:tile.x1]
            for t, (down, across) in enumerate(pairs):
                middle = down.vertical(block, tile.shape[0])
                across.horizontal_into(middle, target, accumulate=t > 0)

    bytes_per_output = channels * out.itemsize
    run_tiles(work, window.tiles(budget, bytes_per_output), workers=workers, blas=uses_blas, after=after)


def tolerance(dtype: np.dtype) -> float:
    """The error of a tap, relative to the tap, below which a low-rank split counts as exact for ``dtype``."""
    return 1e-7 if np.dtype(dtype).itemsize <= 4 else 1e-13

