"""TIFF through tifffile: every page, 8- and 16-bit or float, gray or colour, with alpha.

Pillow reads 8-bit TIFFs (and 16-bit and float gray) well, but holds no 16-bit or float colour; those
files are read here, and every TIFF convcli writes is written here: one page per frame, deflate
compressed, with the ICC profile and the resolution of its input. BigTIFF is written when the pages
would pass the 4 GB of a classic TIFF.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from convcli.errors import InputError, OutputError

_ORIENTATION, _X_RESOLUTION, _Y_RESOLUTION, _RESOLUTION_UNIT, _ICC = 274, 282, 283, 296, 34675
_MINISWHITE, _RGB, _PALETTE, _YCBCR = 0, 2, 3, 6
_JPEG = 7
_ASSOCIATED_ALPHA = 1  # ExtraSamples: premultiplied
_CLASSIC_LIMIT = 2**32 - 2**25  # bytes of pixels past which a classic TIFF's 32-bit offsets may not reach


@dataclass(frozen=True, eq=False)
class Page:
    """One page as stored: ``pixels`` channels last (``H x W`` or ``H x W x S``), integer or float."""

    pixels: np.ndarray
    alpha: bool  # the last channel is alpha
    premultiplied: bool  # the colour was stored multiplied by the alpha
    orientation: int
    icc_profile: bytes | None
    dpi: tuple[float, float] | None


def _tag(page, code: int, default=None):
    tag = page.tags.get(code)
    return default if tag is None else tag.value


def _dpi(page) -> tuple[float, float] | None:
    unit = _tag(page, _RESOLUTION_UNIT, 2)
    x, y = _tag(page, _X_RESOLUTION), _tag(page, _Y_RESOLUTION)
    if x is None or y is None or int(unit) == 1 or not (x[1] and y[1]):
        return None
    scale = 2.54 if int(unit) == 3 else 1.0  # centimetres
    return x[0] / x[1] * scale, y[0] / y[1] * scale


def count_pages(source: Path | BinaryIO) -> int:
    import tifffile

    with tifffile.TiffFile(source) as tif:
        return len(tif.pages)


def needs_tifffile(source: Path | BinaryIO) -> bool:
    """Whether a TIFF holds a page Pillow cannot read whole: colour (or gray and alpha) of more than 8
    bits per sample or float, planar or not; 16-bit white-is-zero gray; float gray other than float32.
    Pillow reads the rest, with the colour spaces and old compressions it knows."""
    import tifffile

    def beyond_pillow(page) -> bool:
        deep, floating = page.bitspersample > 8, page.sampleformat == 3
        if page.samplesperpixel > 1:
            return deep or floating
        return (deep and int(page.photometric) == _MINISWHITE) or (floating and page.bitspersample != 32)

    try:
        with tifffile.TiffFile(source) as tif:
            return any(beyond_pillow(page) for page in tif.pages)
    except Exception:  # any codec's error: Pillow will say what is wrong with the file
        return False


def read_pages(source: Path | BinaryIO, name: str, pick: Callable[[int], tuple[int, ...]],
               check_size: Callable[[int, int], None]) -> tuple[int, list[Page]]:
    """The pages ``pick(total)`` chooses, read with tifffile; ``check_size(width, height)`` refuses a
    page from its header. Every failure of the file or of its codecs is an :class:`InputError`."""
    import tifffile

    try:
        with tifffile.TiffFile(source) as tif:
            if not tif.pages:
                raise InputError(f"{name}: a TIFF with no readable page (truncated?)")
            total = len(tif.pages)
            return total, [_read_page(tif.pages[index], name, check_size) for index in pick(total)]
    except InputError:
        raise
    except Exception as error:  # tifffile's and each codec's (deflate, LZW, JPEG ...) own errors
        raise InputError(f"{name}: corrupt or unreadable TIFF ({type(error).__name__}: {error})") from None


def _read_page(page, name: str, check_size: Callable[[int, int], None]) -> Page:
    check_size(page.imagewidth, page.imagelength)
    if int(page.photometric) == _YCBCR and int(page.compression) != _JPEG:
        raise InputError(f"{name}: YCbCr TIFF pages are read only JPEG-compressed; convert it to RGB first")
    pixels = page.asarray()
    axes = page.axes
    if axes.startswith("S") and pixels.ndim == 3:  # planar: samples first
        pixels = np.moveaxis(pixels, 0, -1)
    if pixels.ndim != (2 if page.samplesperpixel == 1 else 3):
        raise InputError(f"{name}: a TIFF page of shape {page.shape} ({axes}) is not an image convcli reads")
    photometric = int(page.photometric)
    if photometric == _PALETTE and page.colormap is not None:
        pixels = np.moveaxis(page.colormap[:, pixels], 0, -1)  # 16-bit RGB
    elif photometric == _MINISWHITE and pixels.dtype.kind in "ub":
        pixels = np.iinfo(pixels.dtype).max - pixels if pixels.dtype.kind == "u" else ~pixels
    elif photometric not in (1, _RGB, 6) and not (photometric == _MINISWHITE and pixels.dtype.kind == "f"):
        kind = getattr(page.photometric, "name", str(photometric))
        raise InputError(f"{name}: {kind} TIFF pages are not read; convert it to RGB first")
    extras = tuple(int(v) for v in page.extrasamples)
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    colour = 3 if channels >= 3 else 1
    if channels > colour + 1:  # extra samples beyond one alpha (or unspecified ones): keep colour and alpha
        pixels = pixels[..., :colour + 1] if extras and extras[0] in (1, 2) else pixels[..., :colour]
        channels = pixels.shape[2]
    alpha = channels == colour + 1
    premultiplied = alpha and bool(extras) and extras[0] == _ASSOCIATED_ALPHA
    return Page(pixels, alpha, premultiplied, int(_tag(page, _ORIENTATION, 1) or 1), _tag(page, _ICC), _dpi(page))


def write_pages(handle: BinaryIO, pages: list[np.ndarray], *, icc_profile: bytes | None = None,
                dpi: tuple[float, float] | None = None, description: str | None = None, path: Path) -> None:
    """Write ``pages`` (``H x W`` gray, ``H x W x 2`` gray and alpha, ``H x W x 3`` RGB, ``H x W x 4`` RGBA;
    uint8, uint16 or float32) to ``handle`` as one TIFF, deflate compressed."""
    import tifffile

    bigtiff = sum(page.nbytes for page in pages) > _CLASSIC_LIMIT
    try:
        with tifffile.TiffWriter(handle, bigtiff=bigtiff) as tiff:
            for index, page in enumerate(pages):
                channels = 1 if page.ndim == 2 else page.shape[2]
                tiff.write(
                    page, photometric="rgb" if channels >= 3 else "minisblack", planarconfig="contig",
                    extrasamples=["unassalpha"] if channels in (2, 4) else None, compression="zlib",
                    iccprofile=icc_profile, resolution=dpi,
                    resolutionunit="inch" if dpi else None, metadata=None, software=False,
                    description=description if index == 0 else None)
    except (ValueError, TypeError, OSError) as error:
        raise OutputError(f"{path}: cannot write TIFF ({error})") from None
