"""An independent recomputation of :func:`convcli.conv2d` with SciPy, for ``--verify``.

The image is padded with ``np.pad`` by the boundary mode, the kernel is dilated by inserting zeros,
and the ``valid`` sums are done by ``scipy.ndimage.correlate`` (directly, tap by tap) when they are few,
or by ``scipy.signal.correlate`` (or ``convolve`` for ``flip``) by FFT when they are many; the stride then
picks every s-th result. None of the engine's code is used, only its documented rules.
"""

from __future__ import annotations

import numpy as np

from convcli.choices import DEFAULT_BOUNDARY
from convcli.engine import boundary as boundaries
from convcli.engine.settings import Settings


def dilate(kernel: np.ndarray, dilation: int) -> np.ndarray:
    """Insert ``dilation - 1`` zeros between the taps of a 2-D kernel."""
    kh, kw = kernel.shape
    out = np.zeros(((kh - 1) * dilation + 1, (kw - 1) * dilation + 1), dtype=kernel.dtype)
    out[::dilation, ::dilation] = kernel
    return out


def reference_conv2d(image, kernel, *, stride: int = 1, padding="same", boundary: str = DEFAULT_BOUNDARY,
                     cval: float = 0.0, dilation: int = 1, flip: bool = False, nan: str = "propagate",
                     nodata: float | None = None) -> np.ndarray:
    """The contract's formula, computed in float64 with ``scipy.signal`` (slow but independent).

    Missing inputs (non-finite, or ``nodata``) follow the definitions of :mod:`convcli.engine.missing`:
    for ``propagate`` the sum runs literally over the non-zero taps (NaN and infinities then do what
    IEEE arithmetic does); for ``ignore`` the coverage comes from ``scipy.signal`` on the mask.
    """
    given = np.asarray(image)
    image = given.astype(np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    options = dict(stride=stride, padding=padding, boundary=boundary, cval=cval, dilation=dilation, flip=flip)
    if kernel.ndim == 3:
        return np.stack([reference_conv2d(given, k, nan=nan, nodata=nodata, **options) for k in kernel])
    missing = ~np.isfinite(image)
    if nodata is not None:
        with np.errstate(over="ignore"):
            missing |= given == nodata  # in the array's own dtype, as given
    if not missing.any():
        return _correlate(image, kernel, **options)
    if nan == "fill":
        return _correlate(np.where(missing, cval, image), kernel, **options)
    masks = {**options, "cval": 0.0}  # nothing is missing outside the image
    lost = np.nan if nodata is None else nodata
    if nan == "ignore":
        out = _correlate(np.where(missing, 0.0, image), kernel, **options)
        read = _correlate(missing.astype(float), (kernel != 0).astype(float), **masks)
        coverage = 1 - _correlate(missing.astype(float), np.abs(kernel), **masks) / np.abs(kernel).sum()
        taps = np.count_nonzero(kernel)
        gone = (read > taps - 0.5) & (taps > 0)
        partial = (read > 0.5) & ~gone
        out[partial] /= coverage[partial]
        out[gone] = lost
        return out
    marked = np.where(missing, np.nan, image) if nodata is not None else image
    padded, taps = _padded(marked, kernel, **options)
    rows, cols = padded.shape[0] - taps.shape[0] + 1, padded.shape[1] - taps.shape[1] + 1
    if flip:
        taps = taps[::-1, ::-1]
    out = np.zeros((rows, cols) + image.shape[2:])
    with np.errstate(invalid="ignore"):  # inf - inf is NaN, as it should be
        for i, j in zip(*np.nonzero(taps)):
            out += taps[i, j] * padded[i:i + rows, j:j + cols]
    out = out[::stride, ::stride]
    if nodata is not None:
        out[np.isnan(out)] = nodata
    return out


def _padded(image: np.ndarray, kernel: np.ndarray, *, stride, padding, boundary, cval, dilation, flip):
    """The image padded by the boundary mode for ``valid`` sums, and the dilated kernel."""
    # Only the settings' names are resolved (aliases, padding keywords); the sums share nothing with the engine.
    settings = Settings(stride=stride, padding=padding, boundary=boundary, cval=cval, dilation=dilation, flip=flip)
    boundary, padding = settings.boundary, settings.padding
    kh, kw = kernel.shape
    # The anchor: correlation reads rows ai*d above and (kh-1-ai)*d below; flip mirrors that. The contract's
    # formula is written out, not taken from geometry.default_anchor: a slip there must not pass --verify.
    ai, aj = (kh - 1) // 2, (kw - 1) // 2
    above, left = (kh - 1 - ai, kw - 1 - aj) if flip else (ai, aj)
    above, left = above * dilation, left * dilation
    below, right = (kh - 1) * dilation - above, (kw - 1) * dilation - left
    if padding == "same":
        pads = [(above, below), (left, right)]
    elif padding == "valid":
        pads = [(0, 0), (0, 0)]
    elif padding == "full":
        pads = [(above + below,) * 2, (left + right,) * 2]  # wherever the kernel overlaps the image
    else:
        pads = [(padding, padding), (padding, padding)]
    pads += [(0, 0)] * (image.ndim - 2)
    return boundaries.pad(image, pads, boundary, cval), dilate(kernel, dilation)


#: Up to this many multiply-adds (non-zero taps x outputs) the sums are done by ``scipy.ndimage``, about
#: 0.5 ns each, whose import costs 0.1 s where ``scipy.signal``'s costs 0.6 s; beyond, the FFT's is paid back.
DIRECT_LIMIT = 1e9


def _correlate(image: np.ndarray, kernel: np.ndarray, **options) -> np.ndarray:
    padded, taps = _padded(image, kernel, **options)
    stride = options["stride"]
    rows, cols = padded.shape[0] - taps.shape[0] + 1, padded.shape[1] - taps.shape[1] + 1
    channels = image.shape[2] if image.ndim == 3 else 1
    if image.ndim == 3:
        taps = taps[..., None]
    if rows > 0 and cols > 0 and np.count_nonzero(taps) * rows * cols * channels <= DIRECT_LIMIT:
        from scipy import ndimage

        if options["flip"]:
            taps = taps[::-1, ::-1]
        # ndimage centres the kernel on tap k // 2: the valid sum at (y, x) is its output at (y + kh // 2, ...).
        top, left = taps.shape[0] // 2, taps.shape[1] // 2
        sums = ndimage.correlate(padded, taps, mode="constant")
        return sums[top:top + rows:stride, left:left + cols:stride]
    from scipy import signal

    run = signal.convolve if options["flip"] else signal.correlate
    # FFT: fast on photos, and a computation that shares nothing with the engine's shift-and-add.
    return run(padded, taps, mode="valid", method="fft")[::stride, ::stride]
