"""Pictures of kernels: a heat map with the values in the cells, beside the kernel's frequency response.

Drawn with Pillow and NumPy alone. The heat map uses a diverging scale centred on zero (blue
negative, white zero, red positive, symmetric about 0 so that colours compare across cells); the
anchor cell is outlined. The frequency response is the magnitude of the kernel's 2-D FFT, zero-padded
to at least 64 x 64 and shifted so that the zero frequency (DC, the kernel's sum) is in the centre and
the edges are +-0.5 cycles per pixel: a blur is bright in the middle (it passes low frequencies), an
edge detector dark there (zero-sum: it removes flat areas). Correlation and convolution have the same
magnitude response, so the picture does not depend on ``flip``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from convcli.errors import ParameterError
from convcli.imageio.atomic import atomic_write
from convcli.kernels.entry import Entry
from convcli.kernels.kernel import Kernel

__all__ = [
    "cell_size",
    "diverging",
    "drawn_kernels",
    "frequency_response",
    "heat_map",
    "kernel_figure",
    "save_kernel_figure",
    "sequential",
]

PANEL = 256  # side of each panel, in pixels (cells grow up to 64 px for small kernels)
MARGIN = 16
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
# Blue - white - red (ColorBrewer RdBu ends) and viridis anchors for the magnitude.
_NEGATIVE = np.array([33, 102, 172], dtype=float)
_POSITIVE = np.array([178, 24, 43], dtype=float)
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=float)


def diverging(values: np.ndarray, limit: float) -> np.ndarray:
    """RGB (uint8) for ``values`` on a blue-white-red scale from ``-limit`` to ``+limit``.

    >>> diverging(np.array([-1.0, 0.0, 1.0]), 1.0).tolist()
    [[33, 102, 172], [255, 255, 255], [178, 24, 43]]
    """
    t = np.clip(np.asarray(values, dtype=float) / (limit or 1.0), -1.0, 1.0)[..., None]
    white = np.full(3, 255.0)
    rgb = np.where(t < 0, white + (-t) * (_NEGATIVE - white), white + t * (_POSITIVE - white))
    return np.rint(rgb).astype(np.uint8)


def sequential(values: np.ndarray, top: float) -> np.ndarray:
    """RGB (uint8) for ``values`` on a viridis-like scale from 0 (dark purple) to ``top`` (yellow).

    >>> sequential(np.array([0.0, 1.0]), 1.0).tolist()
    [[68, 1, 84], [253, 231, 37]]
    """
    t = np.clip(np.asarray(values, dtype=float) / (top or 1.0), 0.0, 1.0) * (len(_VIRIDIS) - 1)
    low = np.minimum(np.floor(t).astype(int), len(_VIRIDIS) - 2)
    frac = (t - low)[..., None]
    return np.rint(_VIRIDIS[low] * (1 - frac) + _VIRIDIS[low + 1] * frac).astype(np.uint8)


def frequency_response(weights, size: int = 64) -> np.ndarray:
    """``|FFT2|`` of the kernel zero-padded to ``n x n`` and shifted: the zero frequency at ``(n // 2, n // 2)``.

    ``n`` is ``size``, or the next power of two holding twice the kernel when that is larger.
    Row ``n // 2 + u`` is the vertical frequency ``u / n`` cycles per pixel, column likewise.

    >>> h = frequency_response([[1, 2, 1]], size=8)
    >>> float(h[4, 4]), float(h[4, 0])    # DC: the sum; Nyquist: 1 - 2 + 1
    (4.0, 0.0)
    """
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2 or 0 in weights.shape:
        raise ParameterError(f"kernel must be a non-empty kh x kw matrix; got shape {weights.shape}")
    n = max(size, 1 << int(np.ceil(np.log2(2 * max(weights.shape)))))
    return np.fft.fftshift(np.abs(np.fft.fft2(weights, s=(n, n))))


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_width(draw: ImageDraw.ImageDraw, text: str, font) -> float:
    return draw.textlength(text, font=font)


def _value(value: float, digits: int = 3) -> str:
    text = f"{value:.{digits}g}"
    return "0" if text in ("0", "-0") else text


def cell_size(kernel: Kernel) -> int:
    """The side of one heat-map cell: 64 pixels for small kernels, down to 4 for large ones (a panel of ~256)."""
    return max(4, min(64, PANEL // max(kernel.shape)))


def heat_map(kernel: Kernel) -> Image.Image:
    """The weights as square cells coloured by :func:`diverging`, values written in them when the cells are 28
    pixels or more, the anchor outlined. Cells are ``cell_size(kernel)`` pixels; row ``i`` starts at ``i * cell``."""
    weights = kernel.weights
    kh, kw = weights.shape
    cell = cell_size(kernel)
    image = Image.new("RGB", (kw * cell, kh * cell), BACKGROUND)
    limit = float(np.abs(weights).max())
    colours = diverging(weights, limit)
    draw = ImageDraw.Draw(image)
    font = _font(max(9, cell // 4))
    for (i, j), value in np.ndenumerate(weights):
        box = (j * cell, i * cell, (j + 1) * cell - 1, (i + 1) * cell - 1)
        draw.rectangle(box, fill=tuple(int(c) for c in colours[i, j]))
        if cell >= 28:  # three significant digits, fewer when they do not fit
            texts = [_value(value, digits) for digits in (3, 2, 1)]
            text = next((t for t in texts if _text_width(draw, t, font) <= cell - 4), None)
            if text is not None:
                light = abs(value) > 0.6 * limit
                draw.text(((j + 0.5) * cell, (i + 0.5) * cell), text, font=font, anchor="mm",
                          fill=(255, 255, 255) if light else INK)
    ai, aj = (kh - 1) // 2, (kw - 1) // 2
    width = max(1, cell // 16)
    draw.rectangle((aj * cell, ai * cell, (aj + 1) * cell - 1, (ai + 1) * cell - 1), outline=INK, width=width)
    return image


def _spectrum(kernel: Kernel, side: int) -> tuple[Image.Image, float]:
    magnitude = frequency_response(kernel.weights)
    top = float(magnitude.max())
    picture = Image.fromarray(sequential(magnitude, top))
    return picture.resize((side, side), Image.Resampling.NEAREST), top


def _row(kernel: Kernel) -> Image.Image:
    """One kernel: title, heat map, spectrum and their captions."""
    heat = heat_map(kernel)
    side = max(heat.height, 160)
    spectrum, top = _spectrum(kernel, side)
    title_font, caption_font = _font(15), _font(12)
    title_h, caption_h = 24, 34
    kh, kw = kernel.shape
    about = f" - {kernel.description}" if kernel.description else ""
    title = f"{kernel.name} ({kh}x{kw}){about}"
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max(MARGIN + max(heat.width, 150) + MARGIN * 2 + side + MARGIN,
                MARGIN * 2 + int(_text_width(measure, title, title_font)) + 1)
    row = Image.new("RGB", (width, title_h + max(heat.height, side) + caption_h), BACKGROUND)
    draw = ImageDraw.Draw(row)
    draw.text((MARGIN, 4), title, font=title_font, fill=INK)
    row.paste(heat, (MARGIN, title_h))
    left = MARGIN + max(heat.width, 150) + MARGIN * 2
    row.paste(spectrum, (left, title_h))
    draw.rectangle((left - 1, title_h - 1, left + side, title_h + side), outline=(160, 160, 160))
    low, high = float(kernel.weights.min()), float(kernel.weights.max())
    below = title_h + max(heat.height, side) + 4
    draw.text((MARGIN, below), f"weights {_value(low)} .. {_value(high)}", font=caption_font, fill=INK)
    draw.text((MARGIN, below + 15), "blue < 0 < red; anchor outlined", font=caption_font, fill=INK)
    dc = "0" if kernel.zero_sum else _value(abs(kernel.sum))
    draw.text((left, below), f"|FFT|, DC at centre = {dc}", font=caption_font, fill=INK)
    draw.text((left, below + 15), f"edges +-0.5 cycles/px; max {_value(top)}", font=caption_font, fill=INK)
    return row


def drawn_kernels(entries: Sequence[Entry]) -> list[Kernel]:
    """The kernels a picture of ``entries`` shows: a kernel; a bank's members; a chain's steps and its folded kernel."""
    return list(dict.fromkeys(kernel for entry in entries for kernel in (*entry.members, *entry.flat())))


def kernel_figure(entries: Sequence[Entry]) -> Image.Image:
    """One row per kernel (see :func:`drawn_kernels`): its heat map, values in the cells, beside its frequency response.

    >>> kernel_figure([Kernel("k", [[1, 2], [3, 4]])]).mode
    'RGB'
    """
    kernels = drawn_kernels(entries)
    if not kernels:
        raise ParameterError("no kernels to draw")
    rows = [_row(kernel) for kernel in kernels]
    figure = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows) + MARGIN), BACKGROUND)
    top = MARGIN // 2
    for row in rows:
        figure.paste(row, (0, top))
        top += row.height
    return figure


def save_kernel_figure(path: Path | str, entries: Sequence[Entry]) -> Path:
    """Draw :func:`kernel_figure` of ``entries`` and write it to ``path`` as PNG (written whole or not at all)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ParameterError(f"picture file must end in .png; got {str(path)!r}")
    buffer = io.BytesIO()
    kernel_figure(entries).save(buffer, format="PNG", optimize=True)
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()))
    return path
