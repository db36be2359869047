"""A still image's stored samples, and the float rows convcli computes with, made a band at a time.

A file is decoded (or, for a TIFF of strips or tiles, read in pieces: :mod:`~convcli.imageio.tiff`) into
its stored samples, 8- or 16-bit or float, channels last with alpha last. :meth:`Samples.rows` turns any
band of rows into what a :class:`~convcli.imageio.reading.Picture` holds: float32 colour in [0, 1] and
its alpha apart, with ``nodata`` marked and colour made gray when asked. The whole picture is the band
of all rows, so a band is, value for value, those rows of the whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from convcli.pixels.colormaps import to_gray


class Rows(Protocol):
    """Stored samples that can be read a band of rows at a time: an array, or a file read in pieces."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def __getitem__(self, rows: slice) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class Samples:
    """One still image's samples as stored (``H x W`` or ``H x W x S``, alpha last when ``alpha``)."""

    pixels: Rows
    top: float  # the stored value of white: 255, 65535, or 1 for float and bilevel samples
    alpha: bool
    bit_depth: int  # 8, 16, or 32 for float
    mode: str
    premultiplied: bool = False  # the colour was stored multiplied by the alpha
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    streamed: bool = False  # read from the file in pieces, never whole

    def __post_init__(self) -> None:
        object.__setattr__(self, "_shape", tuple(self.pixels.shape))

    def release(self) -> None:
        """Let the samples go (the last output of an input, before it is encoded); the sizes remain."""
        object.__setattr__(self, "pixels", None)

    @property
    def height(self) -> int:
        return self._shape[0]

    @property
    def width(self) -> int:
        return self._shape[1]

    @property
    def channels(self) -> int:
        """Colour channels: 1 (gray) or 3."""
        stored = 1 if len(self._shape) == 2 else self._shape[2]
        return stored - self.alpha

    def rows(self, start: int, stop: int, *, gray: bool = False,
             nodata: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows ``start .. stop - 1`` as ``(colour, alpha)``: float32 in [0, 1] (float samples as they are),
        colour ``h x W`` or ``h x W x 3``, alpha ``h x W`` or None. ``nodata`` (in the file's units) becomes
        NaN, before ``gray`` reduces colour to luminance."""
        stored = np.asarray(self.pixels[start:stop])
        if self.top != 1.0:  # one pass: the samples are cast to float32 inside the division (exactly)
            values = np.divide(stored, np.float32(self.top), dtype=np.float32)
        else:
            values = stored.astype(np.float32)
        alpha = None
        if self.alpha:
            color, alpha = np.ascontiguousarray(values[..., :-1]), np.ascontiguousarray(values[..., -1])
            if color.shape[2] == 1:
                color = color[..., 0]
            if self.premultiplied:
                weight = alpha if color.ndim == 2 else alpha[..., None]
                np.divide(color, weight, out=color, where=weight > 0)
        elif values.ndim == 3 and values.shape[2] == 1:
            color = np.ascontiguousarray(values[..., 0])
        else:
            color = values
        if nodata is not None:
            color = mark_nodata(color, self.bit_depth, nodata)
        return (to_gray(color) if gray else color), alpha


def mark_nodata(color: np.ndarray, bit_depth: int, nodata: float) -> np.ndarray:
    """``color`` (in [0, 1] units) with NaN where the file held ``nodata`` (in its own units: 0..255,
    0..65535, or the float itself). The value is scaled exactly as the samples were."""
    top = {8: 255, 16: 65535}.get(bit_depth, 1)
    value = np.float32(nodata) / np.float32(top)
    found = color == value
    if not found.any():
        return color
    return np.where(found, np.float32(np.nan), color)
