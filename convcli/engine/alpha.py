"""Filtering images with an alpha channel without bleeding colour out of transparent pixels.

A transparent pixel's colour is meaningless (often black, sometimes garbage), so it must not reach
the opaque pixels around it. convcli premultiplies colour by alpha, so transparent pixels contribute
nothing, and divides by the *coverage*: the alpha under the kernel, weighted by ``|k|`` and
normalised to ``[0, 1]``::

    coverage = conv(alpha, |k|) / sum(|k|)
    colour   = conv(colour * alpha, k) / coverage      (0 where coverage is 0)
    alpha'   = coverage

Where every pixel under the kernel is opaque the coverage is 1 and the result is exactly the plain
filter. For a non-negative kernel (a blur) this is the classic premultiply / un-premultiply and the
new alpha is the blurred alpha. For signed kernels (edges, sharpen) the transparent taps simply drop
out and the rest are rescaled, so the result stays bounded by ``sum(|k|)`` times the largest colour.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Convolve = Callable[[np.ndarray, np.ndarray], np.ndarray]


def conv2d_with_alpha(color: np.ndarray, alpha: np.ndarray, kernel: np.ndarray,
                      convolve: Convolve) -> tuple[np.ndarray, np.ndarray]:
    """Filter ``color`` (``H x W`` or ``H x W x C``) whose opacity is ``alpha`` (``H x W``).

    ``convolve(image, kernel)`` is the configured engine call (stride, padding, boundary ...), so
    colour and alpha go through exactly the same geometry. Returns ``(color, alpha)``.
    """
    weight = alpha if color.ndim == 2 else alpha[..., None]
    magnitude = np.abs(kernel)
    if not magnitude.any():  # an all-zero kernel: zero colour, fully opaque
        zeros = convolve(color, kernel)
        return zeros, np.ones(zeros.shape[:2], dtype=zeros.dtype)
    coverage = convolve(alpha, magnitude) / magnitude.sum()
    np.clip(coverage, 0.0, 1.0, out=coverage)
    # A transparent pixel contributes nothing, even when its colour is NaN (0 x NaN would be NaN).
    premultiplied = convolve(np.where(weight > 0, color * weight, 0).astype(color.dtype, copy=False), kernel)
    divisor = coverage if color.ndim == 2 else coverage[..., None]
    out = np.divide(premultiplied, divisor, out=np.zeros_like(premultiplied), where=divisor > 1e-6)
    return out, coverage
