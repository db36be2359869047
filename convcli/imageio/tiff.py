"""TIFF through tifffile: every page, 8- and 16-bit or float, gray or colour, with alpha.

Pillow reads 8-bit TIFFs (and 16-bit and float gray) well, but holds no 16-bit or float colour; those
files are read here, and every TIFF convcli writes is written here: one page per frame, deflate
compressed, with the ICC profile and the resolution of its input. BigTIFF is written when the pages
would pass the 4 GB of a classic TIFF.

A large page need not be read or written whole: :class:`PageRows` reads the strips or tiles a band of
rows touches (an uncompressed page, straight from its offset), and :func:`write_strips` writes a page
from strips compressed as they come (see :mod:`convcli.pipeline.bands`).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from convcli.errors import ConvcliError, InputError, OutputError

_ORIENTATION, _X_RESOLUTION, _Y_RESOLUTION, _RESOLUTION_UNIT, _ICC = 274, 282, 283, 296, 34675
_MINISWHITE, _RGB, _PALETTE, _YCBCR = 0, 2, 3, 6
_JPEG = 7
_ASSOCIATED_ALPHA = 1  # ExtraSamples: premultiplied
_CLASSIC_LIMIT = 2**32 - 2**25  # bytes of pixels past which a classic TIFF's 32-bit offsets may not reach
_UNASSOCIATED_ALPHA = 2

#: A page is read in pieces when its strips (or rows of tiles) are at most this many rows; an uncompressed
#: page always is. A page of one large compressed strip must be decoded whole.
STREAM_SEGMENT_ROWS = 1024

#: Deflate level of the TIFFs written in pieces: level 1 of libdeflate (imagecodecs) compresses feature
#: maps within 1% of level 6's size, at four times the speed.
STRIP_LEVEL = 1


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


@dataclass(frozen=True, eq=False)
class StreamedPage:
    """A page that can be read a band of rows at a time: its rows (:class:`PageRows`) and what it says."""

    rows: PageRows
    alpha: bool
    premultiplied: bool
    icc_profile: bytes | None
    dpi: tuple[float, float] | None


def stream_page(path: Path, name: str, *, pillow_reads: bool) -> StreamedPage | None:
    """The one page of the TIFF at ``path``, to be read in pieces; None when it cannot be: several pages,
    planes apart, a colour space or orientation that needs the whole page, packed bits, one large
    compressed strip. ``pillow_reads``: Pillow would read the file, so read only what it reads alike
    (no premultiplied or unspecified alpha)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if len(tif.pages) != 1:
                return None
            page = tif.pages[0]
            channels = page.samplesperpixel
            extras = tuple(int(v) for v in page.extrasamples)
            colour = 3 if channels >= 3 else 1
            alpha = channels == colour + 1
            streamable = (
                int(page.photometric) in (1, _RGB) and (channels == 1 or int(page.planarconfig) == 1)
                and channels <= colour + 1 and int(_tag(page, _ORIENTATION, 1) or 1) == 1
                and page.bitspersample in (8, 16, 32, 64) and page.dtype is not None and page.dtype.kind in "uf"
                and (page.dtype.kind == "f" or page.dtype.itemsize * 8 == page.bitspersample)
                and (page.dtype.kind != "u" or page.dtype.itemsize <= 2)
                and not (pillow_reads and alpha and (not extras or extras[0] != _UNASSOCIATED_ALPHA))
                and ((page.is_contiguous and int(page.compression) == 1)
                     or (page.tilelength or page.rowsperstrip) <= STREAM_SEGMENT_ROWS)
            )
            if not streamable:
                return None
            rows = PageRows(path, page, tif.byteorder, name)
            return StreamedPage(rows, alpha, alpha and bool(extras) and extras[0] == _ASSOCIATED_ALPHA,
                                _tag(page, _ICC), _dpi(page))
    except Exception:  # any codec's or file's error: the whole-page reader reports it
        return None


class PageRows:
    """A TIFF page's samples (``H x W`` or ``H x W x S``), read from the file a band of rows at a time:
    the strips or tiles a band touches are read and decoded; a few are kept for the next band's halo."""

    KEEP_BYTES = 1 << 25  # decoded strips (or rows of tiles) kept, at most (two at least)

    def __init__(self, path: Path, page, byteorder: str, name: str):
        self.name, self._path = name, path
        height, width, channels = page.imagelength, page.imagewidth, page.samplesperpixel
        self.shape = (height, width) if channels == 1 else (height, width, channels)
        self.dtype = np.dtype(page.dtype).newbyteorder("=")
        self._stored = np.dtype(page.dtype).newbyteorder(byteorder)
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)
        self._contiguous = page.dataoffsets[0] if page.is_contiguous and int(page.compression) == 1 else None
        self._offsets, self._counts = page.dataoffsets, page.databytecounts
        self._decode, self._tables = page.decode, page.jpegtables
        self._tiled = bool(page.is_tiled)
        self._segment_rows = page.tilelength if self._tiled else min(page.rowsperstrip, height)
        self._across = -(-width // page.tilewidth) if self._tiled else 1
        self._tile_width = page.tilewidth
        self._kept: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __reduce__(self):  # sent to another process (a Dask worker), it opens the file there
        return _reopen, (self._path, self.name)

    def __getitem__(self, rows: slice) -> np.ndarray:
        try:
            return self._read(rows)
        except Exception as error:  # tifffile's and each codec's own errors, as read_pages reports them
            raise InputError(f"{self.name}: corrupt or unreadable TIFF ({type(error).__name__}: {error})") from None

    def _read(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        if self._contiguous is not None:
            row_bytes = self._stored.itemsize * int(np.prod(self.shape[1:]))
            data = os.pread(self._fd, (stop - start) * row_bytes, self._contiguous + start * row_bytes)
            return np.frombuffer(data, self._stored).reshape((stop - start, *self.shape[1:])).astype(self.dtype)
        first, last = start // self._segment_rows, (stop - 1) // self._segment_rows
        pieces = [self._segment(index) for index in range(first, last + 1)]
        block = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        offset = first * self._segment_rows
        return block[start - offset:stop - offset]

    def _segment(self, index: int) -> np.ndarray:
        """Strip ``index`` (or row ``index`` of tiles), decoded, ``rows x W [x S]``."""
        with self._lock:
            if index in self._kept:
                self._kept.move_to_end(index)
                return self._kept[index]
        rows = min(self._segment_rows, self.shape[0] - index * self._segment_rows)
        parts = []
        for position in range(index * self._across, (index + 1) * self._across):
            data = os.pread(self._fd, self._counts[position], self._offsets[position]) if self._counts[position] \
                else None
            if data is None:  # an empty segment: zeros
                part = np.zeros((rows, self._tile_width if self._tiled else self.shape[1], *self.shape[2:]),
                                self.dtype)
            else:
                decoded, _, _ = self._decode(data, position, jpegtables=self._tables)
                part = decoded.reshape(decoded.shape[1:])[:rows]
                part = part if part.shape[-1] != 1 or len(self.shape) == 3 else part[..., 0]
            parts.append(part)
        segment = (np.concatenate(parts, axis=1)[:, :self.shape[1]] if len(parts) > 1 else parts[0][:, :self.shape[1]])
        segment = np.ascontiguousarray(segment, dtype=self.dtype)
        with self._lock:
            self._kept[index] = segment
            while len(self._kept) > 2 and sum(kept.nbytes for kept in self._kept.values()) > self.KEEP_BYTES:
                self._kept.popitem(last=False)
        return segment


def _reopen(path: Path, name: str) -> PageRows:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return PageRows(path, tif.pages[0], tif.byteorder, name)


def write_strips(handle: BinaryIO, shape: tuple[int, ...], dtype: np.dtype, strips: Iterator[bytes], *,
                 rows_per_strip: int, icc_profile: bytes | None = None, dpi: tuple[float, float] | None = None,
                 compress: bool = True, path: Path) -> None:
    """Write one page of ``shape`` (as :func:`write_pages` takes) from ``strips``, each
    :func:`encode_strip` of ``rows_per_strip`` rows (the last one fewer), without the whole page in memory."""
    import tifffile

    channels = 1 if len(shape) == 2 else shape[2]
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    try:
        with tifffile.TiffWriter(handle, bigtiff=size > _CLASSIC_LIMIT) as tiff:
            tiff.write(
                strips, shape=shape, dtype=dtype, photometric="rgb" if channels >= 3 else "minisblack",
                planarconfig="contig", extrasamples=["unassalpha"] if channels in (2, 4) else None,
                compression="zlib" if compress else None, rowsperstrip=rows_per_strip, iccprofile=icc_profile,
                resolution=dpi, resolutionunit="inch" if dpi else None, metadata=None, software=False)
    except ConvcliError:  # filtering a band failed while its strip was awaited: not the writing
        raise
    except (ValueError, TypeError, OSError) as error:
        raise OutputError(f"{path}: cannot write TIFF ({error})") from None


def encode_strip(samples: np.ndarray, compress: bool = True) -> bytes:
    """Rows of samples as one TIFF strip, deflate compressed unless not ``compress`` (in this machine's
    byte order, as tifffile writes)."""
    import imagecodecs

    samples = np.ascontiguousarray(samples)
    return imagecodecs.deflate_encode(samples, level=STRIP_LEVEL) if compress else samples.tobytes()


def uncompressed(source: Path | BinaryIO) -> bool:
    """Whether every page of a TIFF is stored uncompressed (its maps are then written so too)."""
    import tifffile

    try:
        with tifffile.TiffFile(source) as tif:
            return all(int(page.compression) == 1 for page in tif.pages)
    except Exception:
        return False


def write_pages(handle: BinaryIO, pages: list[np.ndarray], *, icc_profile: bytes | None = None,
                dpi: tuple[float, float] | None = None, description: str | None = None, compress: bool = True,
                path: Path) -> None:
    """Write ``pages`` (``H x W`` gray, ``H x W x 2`` gray and alpha, ``H x W x 3`` RGB, ``H x W x 4`` RGBA;
    uint8, uint16 or float32) to ``handle`` as one TIFF, deflate compressed unless not ``compress``."""
    import tifffile

    bigtiff = sum(page.nbytes for page in pages) > _CLASSIC_LIMIT
    try:
        with tifffile.TiffWriter(handle, bigtiff=bigtiff) as tiff:
            for index, page in enumerate(pages):
                channels = 1 if page.ndim == 2 else page.shape[2]
                tiff.write(
                    page, photometric="rgb" if channels >= 3 else "minisblack", planarconfig="contig",
                    extrasamples=["unassalpha"] if channels in (2, 4) else None,
                    compression="zlib" if compress else None,
                    iccprofile=icc_profile, resolution=dpi,
                    resolutionunit="inch" if dpi else None, metadata=None, software=False,
                    description=description if index == 0 else None)
    except (ValueError, TypeError, OSError) as error:
        raise OutputError(f"{path}: cannot write TIFF ({error})") from None
