"""Missing values (NaN, infinities, or a ``nodata`` value) and the three ways the engine treats them.

Float TIFFs from GIS and microscopy mark "no data" with NaN or with a value of their own. Summed as they
are, one NaN reaches every output of an FFT tile and a whole block of a separable pass; here it reaches
exactly the outputs that read it, on every path:

``propagate`` (the default)
    An output is missing when one of its non-zero taps reads a missing input; every other output is the
    plain filter of the image, exactly. Without ``nodata`` a missing output holds what IEEE arithmetic
    gives the sum: NaN, or +inf / -inf when it reads infinities of one sign only. With ``nodata`` it
    holds ``nodata``.
``ignore``
    Normalised convolution (astropy.convolution's ``nan_treatment="interpolate"``): missing inputs are
    left out and the weights of the others rescaled by the *coverage*, the share of ``|k|`` that reads
    present inputs. This is the mathematics of the alpha path (:mod:`convcli.engine.alpha`) with the
    mask of present inputs as alpha::

        coverage = 1 - conv(missing, |k|) / sum(|k|)
        out      = conv(x with missing inputs as 0, k) / coverage

    For a blur (non-negative ``k`` summing to 1) that is ``conv(x * m, k) / conv(m, k)``, ``m`` the mask
    of present inputs. Outputs that read no missing input are the plain filter, exactly; where every
    non-zero tap reads a missing input the output is missing (NaN, or ``nodata``). The ``zero`` and
    ``constant`` boundaries' values outside the image count as present; the other modes repeat the
    image's missing values as they repeat the rest.
``fill``
    Missing inputs are replaced by ``cval`` before filtering.

Without ``nodata``, a float image is first filtered as it is, each tile of outputs checked for
finiteness as soon as it is written (:class:`FiniteWatch`, while it is in cache): a missing input
read by a non-zero tap always makes its output non-finite (NaN or infinity times a non-zero weight,
plus anything, is not finite), so when every output is finite nothing was missing where it mattered
and the plain result stands. Otherwise the image is searched for its missing values, one pass, and
filtered again: as above when it has some, plainly when it has none (finite values overflowed; this
run warns as the caller's ``np.errstate`` says). With ``nodata``, or a non-zero weight that rounds to 0
in the working dtype (which the paths skip), the search comes first. An integer image without
``nodata`` has no missing values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convcli.engine.geometry import Tile
from convcli.engine.settings import Settings

#: ``values(image)``: the run's own kernels and path on ``image`` (``H x W x C``), ``N x rows x cols x C``.
Values = Callable[[np.ndarray], np.ndarray]
#: ``masks(image, bank)``: another bank through the same geometry, with nothing missing outside the image.
Masks = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Values looked at per step while searching for missing ones (keeps the search's scratch small).
CHUNK_VALUES = 1 << 20


def find_missing(image: np.ndarray, nodata: float | None) -> np.ndarray | None:
    """The mask of ``image``'s missing values (non-finite, or equal to ``nodata``), or None when it has none.

    ``image`` is the array as given, before any cast: ``nodata`` is compared in its own dtype, so that
    an integer beyond float32's precision, or a float16 value, is found exactly where it is.
    """
    if not _can_hold(image.dtype, nodata):
        nodata = None
    step = max(1, CHUNK_VALUES // max(1, image[0].size))
    for start in range(0, len(image), step):
        chunk = image[start:start + step]
        if not _all_finite(chunk) or (nodata is not None and (chunk == nodata).any()):
            missing = ~np.isfinite(image)
            if nodata is not None:
                missing |= image == nodata
            return missing
    return None


class FiniteWatch:
    """Whether every output a path wrote is finite, checked tile by tile right after each tile is written."""

    def __init__(self) -> None:
        self.finite = True  # only ever set to False, so the threads need no lock

    def tiles_of(self, out: np.ndarray) -> Callable[[Tile], None]:
        """The check of ``out`` (``N x rows x cols x C``) to call on each tile (the ``after`` of
        :func:`~convcli.engine.threads.run_tiles`)."""
        def check(tile: Tile) -> None:
            if self.finite and not _all_finite(out[:, tile.y0:tile.y1, tile.x0:tile.x1]):
                self.finite = False
        return check


def _all_finite(values: np.ndarray) -> bool:
    """Whether every one of ``values`` (at least 2-D) is finite. Float32 and float64 values are summed
    first, in one BLAS product with ones along each row (several times faster than NumPy's sum): a
    non-finite value makes the sum non-finite, and only then (or when finite values overflow it) is every
    value looked at."""
    if values.dtype in (np.float32, np.float64) and values.size:
        rows = values.reshape(*values.shape[:-2], -1)  # a view when each row's pixels are contiguous
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.add.reduce(rows @ np.ones(rows.shape[-1], values.dtype), axis=None)):
                return True
    return bool(np.isfinite(values).all())


def _can_hold(dtype: np.dtype, nodata: float | None) -> bool:
    """Whether an array of ``dtype`` can hold the value ``nodata`` at all (else nothing matches it)."""
    if nodata is None or np.isnan(nodata):
        return False  # NaN is missing anyway
    if dtype.kind == "f":
        return not np.isfinite(nodata) or abs(nodata) <= float(np.finfo(dtype).max)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return float(nodata).is_integer() and info.min <= nodata <= info.max
    return nodata in (0, 1)  # bool


def treat(work: np.ndarray, missing: np.ndarray, bank: np.ndarray, settings: Settings, values: Values,
          masks: Masks) -> np.ndarray:
    """Filter ``work`` (``H x W x C``) with ``bank``, its ``missing`` values treated as ``settings.nan`` says."""
    if settings.nan == "fill":
        return values(np.where(missing, work.dtype.type(settings.cval), work))
    out = values(np.where(missing, work.dtype.type(0), work))
    lost = settings.nodata if settings.nodata is not None else np.nan
    if settings.nan == "ignore":
        return _rescale(out, missing, bank, masks, lost)
    footprint = (bank != 0).astype(np.float32)
    if settings.nodata is not None or not np.isinf(work[missing]).any():  # every missing output alike
        out[masks(missing.astype(np.float32), footprint) > 0.5] = lost
        return out
    return _as_ieee(out, work, bank, masks)


def _rescale(out: np.ndarray, missing: np.ndarray, bank: np.ndarray, masks: Masks, lost: float) -> np.ndarray:
    """``nan="ignore"``: divide the outputs that read missing inputs by their coverage (in float64)."""
    footprint, magnitude = (bank != 0).astype(np.float64), np.abs(bank)
    counts = masks(missing.astype(np.float64), np.concatenate([footprint, magnitude]))
    read, share = counts[:len(bank)], counts[len(bank):]
    taps = footprint.sum(axis=(1, 2)).reshape(-1, 1, 1, 1)
    totals = magnitude.sum(axis=(1, 2)).reshape(-1, 1, 1, 1)
    coverage = 1.0 - np.divide(share, totals, out=np.zeros_like(share), where=totals > 0)
    gone = (read > taps - 0.5) & (taps > 0)  # every non-zero tap reads a missing input
    partial = (read > 0.5) & ~gone
    out[partial] = out[partial] / coverage[partial]
    out[gone] = lost
    return out


def _as_ieee(out: np.ndarray, work: np.ndarray, bank: np.ndarray, masks: Masks) -> np.ndarray:
    """IEEE's sums: reading a NaN, or infinities of both signs, gives NaN; infinities of one sign give it."""
    channels, n = work.shape[2], len(bank)
    classes = np.concatenate([np.isnan(work), work == np.inf, work == -np.inf], axis=2).astype(np.float32)
    signs = np.concatenate([bank > 0, bank < 0]).astype(np.float32)
    reads = masks(classes, signs) > 0.5  # 2N x rows x cols x 3C
    by_positive, by_negative = reads[:n], reads[n:]
    nan = by_positive[..., :channels] | by_negative[..., :channels]
    plus = by_positive[..., channels:2 * channels] | by_negative[..., 2 * channels:]
    minus = by_negative[..., channels:2 * channels] | by_positive[..., 2 * channels:]
    out[plus] = np.inf
    out[minus] = -np.inf
    out[nan | (plus & minus)] = np.nan
    return out
