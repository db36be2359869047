"""An independent recomputation of :func:`convcli.conv2d` with ``scipy.signal``, for ``--verify``.

The image is padded with ``np.pad`` by the boundary mode, the kernel is dilated by inserting zeros,
and ``scipy.signal.correlate`` (or ``convolve`` for ``flip``) in ``valid`` mode does the sums by FFT; the
stride then picks every s-th result. None of the engine's code is used, only its documented rules.
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
                     cval: float = 0.0, dilation: int = 1, flip: bool = False) -> np.ndarray:
    """The contract's formula, computed in float64 with ``scipy.signal`` (slow but independent)."""
    from scipy import signal

    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim == 3:
        return np.stack([reference_conv2d(image, k, stride=stride, padding=padding, boundary=boundary,
                                          cval=cval, dilation=dilation, flip=flip) for k in kernel])
    # Only the settings' names are resolved (aliases, padding keywords); the sums share nothing with the engine.
    settings = Settings(stride=stride, padding=padding, boundary=boundary, cval=cval, dilation=dilation, flip=flip)
    boundary, padding = settings.boundary, settings.padding
    kh, kw = kernel.shape
    # The anchor: correlation reads rows ai*d above and (kh-1-ai)*d below; flip mirrors that.
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
    padded = boundaries.pad(image, pads, boundary, cval)
    taps = dilate(kernel, dilation)
    if image.ndim == 3:
        taps = taps[..., None]
    run = signal.convolve if flip else signal.correlate
    # FFT: fast on photos, and a computation that shares nothing with the engine's shift-and-add.
    return run(padded, taps, mode="valid", method="fft")[::stride, ::stride]
