"""The FFT path: overlap-save tiles through ``scipy.fft``, in the image's precision (float32 stays float32).

Each tile of outputs reads a block of the input (boundary applied by the window); the block is
zero-padded to a fast FFT size, multiplied by the kernel's spectrum and transformed back, and the
outputs that saw no wrap-around are kept. Memory stays at a few tile buffers per thread however large
the image is. A bank shares each tile's forward transforms.

A stride ``s`` is not computed and thrown away: the block is split into its ``s x s`` polyphase
components (every ``s``-th row and column from each offset), each correlated at stride 1 with the
taps that fall on it, and the component spectra are summed before one inverse transform of the
strided outputs only. Components no tap falls on are skipped.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from convcli.engine.geometry import AxisPlan, Tile, Window
from convcli.engine.threads import run_tiles

#: Bytes of one tile's real buffer (all channels): small enough for a core's L2 cache, where a
#: measured 96 x 512 x 3 float32 tile ran about twice as fast as 1024 x 1024 ones. On 12 MP gray and
#: RGB images with 15x15 to 63x63 kernels, 1 MB ran 5-25% faster than 640 KB and as fast as 1.5 MB.
TILE_BYTES = 1 << 20


def next_fast_length(n: int) -> int:
    """The smallest ``2^a 3^b 5^c >= n`` (lengths pocketfft transforms fastest).

    >>> next_fast_length(97), next_fast_length(1025)
    (100, 1080)
    """
    best = 1 << max(0, (n - 1).bit_length())
    five = 1
    while five < best:
        odd = five
        while odd < best:
            length = odd
            while length < n:
                length *= 2
            best = min(best, length)
            odd *= 3
        five *= 5
    return best


def phase_taps(plan: AxisPlan) -> int:
    """Taps of one polyphase component along an axis: the dilated kernel's span, in strides."""
    return plan.span // plan.stride + 1


def phases(plan: AxisPlan) -> list[int]:
    """The offsets ``0 .. stride - 1`` that some tap of the (dilated) kernel falls on."""
    return sorted({(i * plan.dilation) % plan.stride for i in range(plan.taps)})


@dataclass(frozen=True)
class TileShape:
    """A ``fft_rows x fft_cols`` transform yielding ``rows x cols`` outputs."""

    fft_rows: int
    fft_cols: int
    rows: int
    cols: int

    def transforms(self, plan_rows: AxisPlan, plan_cols: AxisPlan) -> int:
        """How many tiles cover the outputs."""
        return -(-plan_rows.count // self.rows) * -(-plan_cols.count // self.cols)


@functools.cache
def _smooth_lengths(limit: int = 1 << 14) -> tuple[int, ...]:
    """Every ``2^a 3^b 5^c`` up to ``limit``, in order."""
    found = {1}
    for factor in (2, 3, 5):
        for n in sorted(found):
            while n * factor <= limit:
                n *= factor
                found.add(n)
    return tuple(sorted(found))


def _lengths(plan: AxisPlan) -> list[int]:
    """Candidate transform lengths along one axis: fast lengths from just past the kernel to the whole axis."""
    taps = phase_taps(plan)
    top = next_fast_length(plan.count + taps - 1)
    smooth = _smooth_lengths()
    lo, hi = bisect.bisect_left(smooth, taps + 1), bisect.bisect_left(smooth, top)
    return [*smooth[lo:hi], top]


#: Fixed cost of one tile, in the units of transform work (points x log2 points): the Python and
#: scipy calls around it, about 30 microseconds.
TILE_OVERHEAD = 250_000


@functools.lru_cache(maxsize=64)
def tile_shape(rows: AxisPlan, cols: AxisPlan, channels: int, itemsize: int) -> TileShape:
    """The tile needing the least transform work per output, within :data:`TILE_BYTES` when the kernel allows."""
    n = np.array(_lengths(rows))[:, None]
    m = np.array(_lengths(cols))[None, :]
    ty = np.minimum(n - phase_taps(rows) + 1, rows.count)
    tx = np.minimum(m - phase_taps(cols) + 1, cols.count)
    tiles = -(-rows.count // ty) * -(-cols.count // tx)
    transforms = len(phases(rows)) * len(phases(cols)) + 1
    # The + 4: padding, multiplying and copying out, per point.
    cost = tiles * (transforms * n * m * (np.log2(n * m) + 4) + TILE_OVERHEAD)
    over = n * m * channels * itemsize > TILE_BYTES
    if not over.all():
        cost = np.where(over, np.inf, cost)
    i, j = np.unravel_index(np.argmin(cost), cost.shape)
    return TileShape(int(n[i, 0]), int(m[0, j]), int(ty[i, 0]), int(tx[0, j]))


def component_spectra(bank: np.ndarray, rows: AxisPlan, cols: AxisPlan, shape: TileShape,
                      dtype: np.dtype) -> list[tuple[int, int, np.ndarray]]:
    """``(row offset, col offset, spectra)`` per polyphase component some tap falls on.

    Component ``(a, b)`` holds tap ``(i, j)`` at ``((i * d) // s, (j * d) // s)`` when
    ``(i * d) % s == a`` and ``(j * d) % s == b``; ``spectra`` (``N x fft_rows x fft_cols // 2 + 1``) is
    its kernels flipped (correlation is convolution with the flipped kernel) and transformed.
    """
    from scipy import fft

    n, kh, kw = bank.shape
    qr, qc = phase_taps(rows), phase_taps(cols)
    row_at, col_at = np.arange(kh) * rows.dilation, np.arange(kw) * cols.dilation
    complex_type = np.complex64 if np.dtype(dtype).itemsize <= 4 else np.complex128
    found = []
    for a in phases(rows):
        for b in phases(cols):
            i, j = np.nonzero(row_at % rows.stride == a)[0], np.nonzero(col_at % cols.stride == b)[0]
            component = np.zeros((n, qr, qc))
            component[:, (row_at[i] // rows.stride)[:, None], (col_at[j] // cols.stride)[None, :]] = bank[:, i][:, :, j]
            if component.any():
                spectra = fft.rfft2(component[:, ::-1, ::-1], s=(shape.fft_rows, shape.fft_cols))
                found.append((a, b, spectra.astype(complex_type)))
    return found


def run(window: Window, bank: np.ndarray, out: np.ndarray, *, workers: int, shape: TileShape,
        after: Callable[[Tile], None] | None = None) -> None:
    """Fill ``out`` (``N x rows x cols x C``) with the correlation of the image with each kernel of ``bank``;
    ``after`` as in :func:`~convcli.engine.threads.run_tiles`."""
    from scipy import fft

    rows, cols, channels = window.rows, window.cols, window.channels
    components = component_spectra(bank, rows, cols, shape, out.dtype)
    if not components:  # every kernel all zeros
        out.fill(0)
        return
    n, m = shape.fft_rows, shape.fft_cols
    qr, qc = phase_taps(rows), phase_taps(cols)

    def work(tile: Tile) -> None:
        block = window.block(tile)
        spectra = []
        for a, b, _ in components:
            part = block[a::rows.stride, b::cols.stride]
            buffer = np.zeros((channels, n, m), dtype=out.dtype)
            buffer[:, :part.shape[0], :part.shape[1]] = part.transpose(2, 0, 1)
            spectra.append(fft.rfft2(buffer, overwrite_x=True))
        ty, tx = tile.shape
        for k, plane in enumerate(out):
            total = spectra[0] * components[0][2][k]
            for spectrum, (_, _, kernel_spectra) in zip(spectra[1:], components[1:]):
                total += spectrum * kernel_spectra[k]
            result = fft.irfft2(total, s=(n, m), overwrite_x=True)
            # Convolution with the flipped component kernels: output y sits qr - 1 samples in.
            kept = result[:, qr - 1:qr - 1 + ty, qc - 1:qc - 1 + tx]
            plane[tile.y0:tile.y1, tile.x0:tile.x1] = kept.transpose(1, 2, 0)

    run_tiles(work, window.grid(shape.rows, shape.cols), workers=workers, after=after)
