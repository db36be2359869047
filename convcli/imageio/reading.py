"""Reading images into float arrays: :class:`Frames` of :class:`Picture` with colour in [0, 1] and alpha apart.

Inside convcli a picture is float32 in [0, 1]: 8-bit 255 and 16-bit 65535 both map to 1.0. Colour
images are ``H x W x 3`` RGB, grayscale ones ``H x W``; alpha, when there is one, travels separately
so that the filter can treat it properly (see :mod:`convcli.engine.alpha`).

Pillow opens the files and reads what it can hold; the rest goes to a codec made for it: 16-bit colour
PNG to :mod:`~convcli.imageio.png16`, TIFFs with pages of more than 8 bits or float samples (and those
Pillow cannot open) to :mod:`~convcli.imageio.tiff`. Every frame of an animation and every page of a TIFF
is read. What a library warns of while reading becomes a warning of the report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import logging
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from convcli.choices import DEFAULT_MAX_PIXELS
from convcli.errors import InputError
from convcli.imageio import png16, tiff
from convcli.imageio.file_warnings import FileWarning
from convcli.imageio.frames import FrameSelection, Timing, gif_plays, pick_frames
from convcli.imageio.samples import Rows, Samples
from convcli.pixels.colormaps import to_gray

_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}

_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}

#: Formats whose frames play as an animation, with durations (the others' frames are pages).
ANIMATED_FORMATS = {"GIF", "PNG", "WEBP", "FLI"}

#: Formats whose further images are not frames of one picture (a stereo pair or previews, layers).
_FIRST_IMAGE_ONLY = {"MPO", "PSD"}

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

#: The name of standard input, as an INPUT and in messages.
STDIN = "-"


@dataclass(frozen=True, eq=False)
class Picture:
    """An image (one frame of a file) as convcli computes with it."""

    color: np.ndarray  # float32, H x W (gray) or H x W x 3 (RGB), in [0, 1]
    alpha: np.ndarray | None  # float32 H x W in [0, 1], or None when the image is opaque
    bit_depth: int  # 8, 16, or 32 for float images
    mode: str  # the Pillow mode it was read from (``RGB;16``, ``RGB;F``: what Pillow has no mode for)
    icc_profile: bytes | None = None  # kept only while it still describes ``color``
    dpi: tuple[float, float] | None = None
    warnings: tuple[FileWarning, ...] = ()  # what reading lost

    @property
    def height(self) -> int:
        return self.color.shape[0]

    @property
    def width(self) -> int:
        return self.color.shape[1]

    @property
    def channels(self) -> int:
        return 1 if self.color.ndim == 2 else self.color.shape[2]

    def grayed(self) -> Picture:
        """This picture as luminance, without the colour profile that no longer applies; gray as it is."""
        if self.color.ndim == 2:
            return self
        return dataclasses.replace(self, color=to_gray(self.color), icc_profile=None)


@dataclass(frozen=True, eq=False)
class Frames:
    """The frames read from one file (all of them, or those ``--frame`` picks), in order."""

    pictures: tuple[Picture, ...]
    total: int  # frames in the file
    format: str  # the file's format as Pillow names it: PNG, GIF, TIFF ...
    timing: Timing | None = None  # how an animation plays; None for stills and pages
    warnings: tuple[FileWarning, ...] = ()
    uncompressed: bool = False  # a TIFF of uncompressed pages (its maps are written uncompressed too)

    @property
    def first(self) -> Picture:
        return self.pictures[0]


#: Extensions of formats Pillow opens but registers under another name (MPO through JPEG) or none:
#: SPIDER, XV thumbnails (.p7), IM Tools (.imt, and the .im1 .. .im32 of its samples), McIDAS areas (.ara).
_MORE_EXTENSIONS = {".mpo", ".spi", ".spider", ".p7", ".imt", ".im1", ".im8", ".im24", ".im32", ".ara", ".area"}


#: The formats tried first, in this order: each has a signature no other reader takes for its own, and
#: loading these few readers costs a few ms where Pillow's 50 cost 30 (a start-up a shell loop pays per file).
_COMMON = ("PNG", "JPEG", "TIFF", "GIF", "WEBP", "BMP", "PPM")


@functools.cache
def _common_codecs() -> tuple[str, ...]:
    """Load the readers of :data:`_COMMON` (those this Pillow has) and return their names."""
    from PIL import BmpImagePlugin, GifImagePlugin, JpegImagePlugin, PngImagePlugin, PpmImagePlugin, TiffImagePlugin

    del BmpImagePlugin, GifImagePlugin, JpegImagePlugin, PngImagePlugin, PpmImagePlugin, TiffImagePlugin

    with contextlib.suppress(ImportError):
        from PIL import WebPImagePlugin  # noqa: F401
    return tuple(name for name in _COMMON if name in Image.OPEN)


def init_codecs() -> tuple[str, ...]:
    """Load every Pillow plugin; return the order their readers are tried in: the common ones, then the
    others by name. Pillow tries them in the order it loaded them (it loads a file's extension's reader
    first), so without a fixed order the reader that claims a file could depend on which files a process
    met before (a TGA reader accepting an ICO header)."""
    common = _common_codecs()
    Image.init()
    return common + tuple(sorted(set(Image.OPEN) - set(common)))


def open_image(source) -> Image.Image:
    """``Image.open(source)``, trying the common formats' readers before loading all of Pillow's."""
    try:
        return Image.open(source, formats=_common_codecs())
    except UnidentifiedImageError:
        if hasattr(source, "seek"):
            source.seek(0)
        return Image.open(source, formats=init_codecs())


@functools.cache
def readable_extensions() -> frozenset[str]:
    """Every file extension Pillow can open, lower-case with the dot."""
    init_codecs()
    opened = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}
    return frozenset(opened | _MORE_EXTENSIONS)


def display_name(path: Path) -> str:
    """How messages name an input: its path, or "standard input"."""
    return "standard input" if str(path) == STDIN else str(path)


_PILLOW_LIMIT = threading.RLock()  # Image.MAX_IMAGE_PIXELS is process-wide: one read sets it at a time


@contextlib.contextmanager
def _pillow_limit(pixels: int | None):
    """Pillow's own pixel limit set to ``pixels`` (None: off) while the block runs."""
    with _PILLOW_LIMIT:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def megapixels(pixels: int) -> str:
    """``pixels`` for a message: ``179 MP``, ``2.5 MP``, or ``1961 pixels`` under a tenth of a megapixel."""
    if pixels < 100_000:
        return f"{pixels} pixels"
    return f"{pixels / 1e6:.1f} MP" if pixels < 10_000_000 else f"{pixels / 1e6:.0f} MP"


def refuse_bomb(name: str, width: int, height: int, max_pixels: int, *, pieces: bool = False) -> None:
    """Refuse an image of more than ``max_pixels`` from its header. ``pieces``: it could be read in pieces
    (a TIFF of strips or tiles), which passes the limit when the output is written in pieces too."""
    if width * height > max_pixels:
        how = ("; filtered in pieces to a .tif it may be larger, or raise `max_pixels`" if pieces
               else "; raise `max_pixels` if the file is trusted")
        raise InputError(f"{name}: refused: {width}x{height} is {megapixels(width * height)}, over the "
                         f"`max_pixels` limit of {megapixels(max_pixels)} (a decompression bomb?){how}")


class _PixelBudget:
    """The pixels of one input's frames together, held to the limit: many pages of a few megapixels each
    are as large as one page of their sum."""

    def __init__(self, name: str, max_pixels: int):
        self.name, self.max_pixels, self.used, self.frames = name, max_pixels, 0, 0

    def __call__(self, width: int, height: int) -> None:
        refuse_bomb(self.name, width, height, self.max_pixels)
        self.used += width * height
        self.frames += 1
        if self.used > self.max_pixels:
            raise InputError(f"{self.name}: refused: {self.frames} frames hold {megapixels(self.used)} together, "
                             f"over the `max_pixels` limit of {megapixels(self.max_pixels)}; raise it, or pick "
                             "frames with `frame`")


@contextlib.contextmanager
def _reading(name: str):
    """Turn what reading a file may raise into an :class:`InputError` naming it."""
    try:
        yield
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a folder, not an image") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except UnidentifiedImageError:
        raise InputError(f"{name}: not an image Pillow can read") from None
    except NotImplementedError as error:  # a pixel format or compression a Pillow plugin does not decode
        raise InputError(f"{name}: a kind of image Pillow does not decode ({error})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InputError(f"{name}: corrupt or truncated image ({error})") from None


def _source(path: Path, data: bytes | None):
    return io.BytesIO(data) if data is not None else path


#: An ICO's first bytes: Pillow decodes its image (a PNG or a BMP, of any size) as it opens it.
_ICO_MAGIC = b"\x00\x00\x01\x00"


def _magic(path: Path, data: bytes | None) -> bytes:
    if data is not None:
        return data[:4]
    with open(path, "rb") as handle:
        return handle.read(4)


def _is_tiff(path: Path, data: bytes | None) -> bool:
    return _magic(path, data) in _TIFF_MAGIC


def _open(path: Path, data: bytes | None) -> Image.Image | None:
    """The file opened by Pillow (its header read), or None for a TIFF Pillow cannot hold."""
    # Pillow's limit is off for the header alone, so that the refusal of an image too large is convcli's,
    # with its sizes; but not for an ICO, which Pillow decodes at once: the limit must hold for its image.
    decodes = _magic(path, data) == _ICO_MAGIC
    with contextlib.nullcontext() if decodes else _pillow_limit(None):
        try:
            return open_image(_source(path, data))
        except UnidentifiedImageError:
            if _is_tiff(path, data):
                return None
            raise


def _deep_png(opened: Image.Image) -> bool:
    """Whether Pillow would read this PNG's colour (or gray and alpha) with 8 of its 16 bits."""
    return opened.mode in ("RGB", "RGBA", "LA") and any(";16" in str(tile.args) for tile in opened.tile)


@contextlib.contextmanager
def _library_warnings(name: str, into: list[FileWarning]):
    """Collect what Pillow (Python warnings) and tifffile (its log) warn of while reading, as report
    warnings naming the file, instead of raw lines on stderr; each once (Pillow 13 warns that IM is
    deprecated at every header field it reads)."""
    def add(message: str) -> None:
        if FileWarning(name, message) not in into:
            into.append(FileWarning(name, message))

    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: add(record.getMessage())
    logger = logging.getLogger("tifffile")
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        for warning in caught:
            add(str(warning.message))


@functools.lru_cache(maxsize=4)  # planning asks once per output name it makes; standard input is one image
def stream_format(data: bytes) -> str:
    """The format of an image given as bytes, as Pillow names it ('' when Pillow does not know it)."""
    try:
        opened = _open(Path(STDIN), data)
    except Exception:
        return ""
    if opened is None:
        return "TIFF"
    with opened:
        return opened.format or ""


def count_frames(path: Path | str, data: bytes | None = None) -> int:
    """How many frames :func:`load_frames` reads from the file by default; 1 when it cannot tell."""
    path = Path(path)
    try:
        opened = _open(path, data)
        if opened is None:
            return tiff.count_pages(_source(path, data)) or 1
        with opened:
            return 1 if opened.format in _FIRST_IMAGE_ONLY else getattr(opened, "n_frames", 1)
    except Exception:
        return 1


def load_frames(path: Path | str, *, data: bytes | None = None, gray: bool = False,
                max_pixels: int = DEFAULT_MAX_PIXELS, frames: FrameSelection | None = None) -> Frames:
    """Read the frames of ``path`` (or of ``data``, its bytes, for standard input) that ``frames`` picks
    (default: all), each with its EXIF orientation applied.

    Palette images become RGB (RGBA when they have a transparent colour), CMYK and other colour
    spaces become RGB, ``1`` becomes gray; 16-bit and float images keep their precision, gray or
    colour. With ``gray=True`` colour is reduced to luminance and alpha is kept. A frame of more than
    ``max_pixels`` is refused from its header, before anything is decoded.
    """
    path = Path(path)
    name = display_name(path)
    noticed: list[FileWarning] = []
    with _guarded(name, max_pixels, noticed):
        read = _load(path, data, name, gray, max_pixels, frames)
    plain = read.format == "TIFF" and tiff.uncompressed(_source(path, data))
    return Frames(read.pictures, read.total, read.format, read.timing, read.warnings + tuple(noticed), plain)


@contextlib.contextmanager
def _guarded(name: str, max_pixels: int, noticed: list[FileWarning]):
    """Reading ``name``: its errors as :class:`InputError`, its libraries' warnings into ``noticed``, and
    Pillow's pixel limit at ``max_pixels`` while decoding."""
    with _reading(name), _library_warnings(name, noticed), _pillow_limit(max_pixels):
        # While decoding, Pillow's limit is convcli's: an image inside a container (an ICNS's JPEG 2000,
        # an ICO's PNG) is refused when Pillow opens it, and a warning of one is a refusal too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            found = re.search(r"\((\d+) pixels\)", str(error))  # Pillow's "Image size (N pixels) exceeds ..."
            size = f" of {megapixels(int(found[1]))}" if found else ""
            raise InputError(f"{name}: refused: an image inside it{size} is over the `max_pixels` limit of "
                             f"{megapixels(max_pixels)} (a decompression bomb?)") from None


@dataclass(frozen=True, eq=False)
class Still:
    """A file of one still image, as its samples (see :func:`load_still`)."""

    samples: Samples
    format: str
    warnings: tuple[FileWarning, ...] = ()
    uncompressed: bool = False  # as :attr:`Frames.uncompressed`


def load_still(path: Path | str, *, data: bytes | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
               frames: FrameSelection | None = None, pieces_beyond_limit: bool = False) -> Still | None:
    """The samples of ``path`` (or ``data``) when it holds one still image, for filtering a band of rows
    at a time; None when it holds several frames (:func:`load_frames` reads those).

    Pillow decodes most formats whole: their 8- or 16-bit samples are then the only image-sized buffer. A
    TIFF of strips or tiles (or uncompressed) is read in pieces as the bands need them, never whole; with
    ``pieces_beyond_limit`` such a file may pass ``max_pixels``, which still refuses every other one
    from its header.
    """
    path = Path(path)
    name = display_name(path)
    noticed: list[FileWarning] = []
    with _guarded(name, max_pixels, noticed):
        found = _still(path, data, name, max_pixels, frames, pieces_beyond_limit)
    if found is None:
        return None
    plain = found[1] == "TIFF" and tiff.uncompressed(_source(path, data))
    return Still(found[0], found[1], tuple(noticed), plain)


def _still(path: Path, data: bytes | None, name: str, max_pixels: int, frames: FrameSelection | None,
           beyond_limit: bool) -> tuple[Samples, str] | None:
    opened = _open(path, data)
    if opened is None or opened.format == "TIFF":
        pillow_reads = opened is not None and not tiff.needs_tifffile(_source(path, data))
        if opened is not None:
            opened.close()
        if data is None:
            page = tiff.stream_page(path, name, pillow_reads=pillow_reads)
            if page is not None:
                height, width = page.rows.shape[:2]
                if not beyond_limit:
                    refuse_bomb(name, width, height, max_pixels, pieces=True)
                pick_frames(frames, 1, name)
                samples = array_samples(page.rows, alpha=page.alpha, premultiplied=page.premultiplied,
                                        icc=page.icc_profile, dpi=_dpi(page.dpi), name=name, streamed=True)
                return samples, "TIFF"
        if not pillow_reads:
            read = _tiff_frames_samples(path, data, name, max_pixels, frames)
            return None if read is None else (read, "TIFF")
        opened = _open(path, data)
    with opened:
        refuse_bomb(name, *opened.size, max_pixels)
        if getattr(opened, "n_frames", 1) != 1:
            return None
        pick_frames(frames, 1, name)
        if _deep_png(opened) and opened.format == "PNG":
            return _deep_png_samples(opened, path, data, name), "PNG"
        opened.load()
        image = ImageOps.exif_transpose(opened, in_place=True) or opened
        return pillow_samples(image), opened.format


def _load(path: Path, data: bytes | None, name: str, gray: bool, max_pixels: int,
          frames: FrameSelection | None) -> Frames:
    check_size = _PixelBudget(name, max_pixels)
    opened = _open(path, data)
    if opened is None or (opened.format == "TIFF" and tiff.needs_tifffile(_source(path, data))):
        if opened is not None:
            opened.close()
        return _tiff_frames(path, data, name, gray, check_size, frames)
    with opened:
        refuse_bomb(name, *opened.size, max_pixels)  # the header's size, before anything else is read
        total = getattr(opened, "n_frames", 1)
        warned = ()
        if opened.format in _FIRST_IMAGE_ONLY and total > 1 and frames is None:
            warned = (FileWarning(name, f"holds {total} images ({opened.format}); the first is filtered "
                                  "(`frame` picks others)"),)
            picked = (0,)
        else:
            picked = pick_frames(frames, total, name)
        if _deep_png(opened) and opened.format == "PNG" and total == 1:
            return _deep_png_frames(opened, path, data, name, gray)
        if _deep_png(opened):
            warned += (FileWarning(Path(name).name, "16-bit colour frames are read with 8 bits per channel "
                                   "(Pillow has no 16-bit RGB mode), so its outputs are 8-bit"),)
        return _pillow_frames(opened, picked, total, gray, check_size, warned)


def load_image(path: Path | str, *, data: bytes | None = None, gray: bool = False,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """The first frame of ``path`` as a :class:`Picture` (see :func:`load_frames`); its warnings say
    when the file holds more."""
    read = load_frames(path, data=data, gray=gray, max_pixels=max_pixels, frames=FrameSelection.parse("0"))
    more = ()
    if read.total > 1:
        more = (FileWarning(display_name(Path(path)), f"holds {read.total} frames; frame 0 is read"),)
    first = read.first
    return Picture(first.color, first.alpha, first.bit_depth, first.mode, first.icc_profile, first.dpi,
                   warnings=read.warnings + more)


def _pillow_frames(opened: Image.Image, picked: tuple[int, ...], total: int, gray: bool, check_size,
                   warned: tuple[FileWarning, ...]) -> Frames:
    pictures, durations = [], []
    for index in picked:
        if total > 1:
            opened.seek(index)
        check_size(*opened.size)  # each page of a TIFF has its own size, and all count together
        opened.load()
        if total == 1:
            image = ImageOps.exif_transpose(opened, in_place=True) or opened  # no copy when nothing turns
        else:
            image = ImageOps.exif_transpose(opened)
        pictures.append(_from_pillow(image, gray))
        durations.append(opened.info.get("duration"))
    animated = opened.format in ANIMATED_FORMATS and total > 1
    timing = None
    if animated:
        opened.seek(0)
        hidden = bool(opened.info.get("default_image")) and picked[0] == 0
        loop = opened.info.get("loop")
        plays = gif_plays(loop) if opened.format == "GIF" else int(loop or 0)
        timing = Timing(tuple(None if d is None else int(d) for d in durations), plays, hidden)
    return Frames(tuple(pictures), total, opened.format, timing, warned)


def _from_pillow(image: Image.Image, gray: bool) -> Picture:
    return picture_of(pillow_samples(image), gray)


def pillow_samples(image: Image.Image) -> Samples:
    """A decoded Pillow image's samples: 16-bit and float as they are, the rest as 8-bit gray or RGB
    (with alpha when it has some: a transparent palette colour too)."""
    mode = image.mode
    icc = image.info.get("icc_profile")
    dpi = _dpi(image.info.get("dpi"))
    if mode in _SIXTEEN_BIT_MODES:
        return Samples(_as_array(image), 65535.0, False, 16, mode, icc_profile=icc, dpi=dpi)
    if mode == "F":
        return Samples(_as_array(image), 1.0, False, 32, mode, icc_profile=icc, dpi=dpi)
    has_alpha = mode in _ALPHA_MODES or "transparency" in image.info
    if mode in {"1", "L", "LA", "La"}:
        target = "LA" if has_alpha else "L"
    else:
        target = "RGBA" if has_alpha else "RGB"
    if mode != target:
        image = image.convert(target)
        if mode not in {"RGB", "RGBA", "L", "LA", "1", "P", "PA"}:
            icc = None  # a CMYK (or Lab...) profile no longer describes the converted pixels
    return Samples(_as_array(image), 255.0, has_alpha, 8, mode, icc_profile=icc, dpi=dpi)


#: Bytes of the pieces :func:`_as_array` copies a Pillow image in.
_PIECE_BYTES = 1 << 22


def _as_array(image: Image.Image) -> np.ndarray:
    """``np.asarray(image)``, copied a few rows at a time: Pillow's own conversion goes through one bytes
    object of the whole image, joined from pieces, which is twice the image again at its peak."""
    width, height = image.size
    first = np.asarray(image.crop((0, 0, width, 1)))
    rows = max(1, _PIECE_BYTES // max(1, first.nbytes))
    if rows >= height:
        return np.asarray(image)
    out = np.empty((height, *first.shape[1:]), first.dtype)
    for start in range(0, height, rows):
        out[start:start + rows] = np.asarray(image.crop((0, start, width, min(height, start + rows))))
    return out


def picture_of(samples: Samples, gray: bool = False, nodata: float | None = None) -> Picture:
    """The whole of ``samples`` as a :class:`Picture` (its rows, all of them: see :meth:`Samples.rows`)."""
    color, alpha = samples.rows(0, samples.height, nodata=nodata)
    picture = Picture(color=color, alpha=alpha, bit_depth=samples.bit_depth, mode=samples.mode,
                      icc_profile=samples.icc_profile, dpi=samples.dpi)
    return picture.grayed() if gray else picture


def _dpi(dpi) -> tuple[float, float] | None:
    """The resolution as two floats, or None when the file gave none or one no file can hold back (a
    camera's EXIF of 4294967295 dots per inch)."""
    try:
        x, y = (float(v) for v in dpi)
    except (TypeError, ValueError):
        return None
    return (x, y) if all(0 < v < 1e6 for v in (x, y)) else None


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """``pixels`` (rows first) turned upright from EXIF ``orientation`` 1-8, as Pillow's ``exif_transpose``."""
    turns = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    return turns[orientation](pixels) if orientation in turns else pixels


def _from_array(pixels: np.ndarray, *, alpha: bool, premultiplied: bool = False, orientation: int = 1,
                icc: bytes | None, dpi: tuple[float, float] | None, gray: bool, name: str) -> Picture:
    """A :class:`Picture` of stored samples (channels last, alpha last), 8- or 16-bit or float."""
    return picture_of(array_samples(pixels, alpha=alpha, premultiplied=premultiplied, orientation=orientation,
                                    icc=icc, dpi=dpi, name=name), gray)


def array_samples(pixels: Rows, *, alpha: bool, premultiplied: bool = False, orientation: int = 1,
                  icc: bytes | None, dpi: tuple[float, float] | None, name: str, streamed: bool = False) -> Samples:
    """:class:`Samples` of stored samples (channels last, alpha last), 8- or 16-bit or float, turned
    upright from their EXIF ``orientation``."""
    if pixels.dtype == np.uint8 or pixels.dtype == np.bool_:
        depth, top = 8, 255.0 if pixels.dtype == np.uint8 else 1.0
    elif pixels.dtype == np.uint16:
        depth, top = 16, 65535.0
    elif pixels.dtype.kind == "f":
        depth, top = 32, 1.0
    else:
        raise InputError(f"{name}: samples of type {pixels.dtype} are not read; convcli reads 8- and 16-bit "
                         "unsigned and float images")
    channels = 1 if len(pixels.shape) == 2 else pixels.shape[2]
    kind = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels} channels")
    mode = f"{kind};{'F' if depth == 32 else depth}"
    if orientation != 1:
        pixels = orient(np.asarray(pixels), orientation)
    return Samples(pixels, top, alpha, depth, mode, premultiplied=premultiplied and alpha, icc_profile=icc, dpi=dpi,
                   streamed=streamed)


def _deep_png_frames(opened: Image.Image, path: Path, data: bytes | None, name: str, gray: bool) -> Frames:
    return Frames((picture_of(_deep_png_samples(opened, path, data, name), gray),), 1, "PNG")


def _deep_png_samples(opened: Image.Image, path: Path, data: bytes | None, name: str) -> Samples:
    data = data if data is not None else path.read_bytes()
    pixels = png16.decode(data, name)
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    has_alpha = channels in (2, 4)
    transparent = opened.info.get("transparency")
    if not has_alpha and isinstance(transparent, (tuple, int)):  # tRNS: one colour is transparent
        key = np.asarray(transparent, dtype=pixels.dtype)
        opaque = pixels != key if pixels.ndim == 2 else np.any(pixels != key, axis=-1)
        plane = (opaque * np.iinfo(pixels.dtype).max).astype(pixels.dtype)
        pixels = np.dstack([pixels, plane])
        has_alpha = True
    exif = png16.exif(data)  # before or after the pixels: Pillow finds the latter only by decoding them
    orientation = Image.Exif()
    if exif:
        orientation.load(exif)
    orientation = orientation.get(0x0112, 1)
    return array_samples(pixels, alpha=has_alpha, orientation=orientation, icc=opened.info.get("icc_profile"),
                         dpi=_dpi(opened.info.get("dpi")), name=name)


def _tiff_frames_samples(path: Path, data: bytes | None, name: str, max_pixels: int,
                         frames: FrameSelection | None) -> Samples | None:
    """The one page of a TIFF read whole by tifffile; None when it has several."""
    if tiff.count_pages(_source(path, data)) != 1:
        return None
    _, pages = tiff.read_pages(_source(path, data), name, lambda count: pick_frames(frames, count, name),
                               _PixelBudget(name, max_pixels))
    page = pages[0]
    return array_samples(page.pixels, alpha=page.alpha, premultiplied=page.premultiplied,
                         orientation=page.orientation, icc=page.icc_profile, dpi=_dpi(page.dpi), name=name)


def _tiff_frames(path: Path, data: bytes | None, name: str, gray: bool, check_size,
                 frames: FrameSelection | None) -> Frames:
    total, pages = tiff.read_pages(_source(path, data), name, lambda count: pick_frames(frames, count, name),
                                   check_size)
    pictures = tuple(_from_array(page.pixels, alpha=page.alpha, premultiplied=page.premultiplied,
                                 orientation=page.orientation, icc=page.icc_profile, dpi=_dpi(page.dpi), gray=gray,
                                 name=name) for page in pages)
    return Frames(pictures, total, "TIFF")
