"""Reading images into float arrays and writing feature maps back out, atomically.

Inside convcli a picture is float32 in [0, 1]: 8-bit 255 and 16-bit 65535 both map to 1.0. Colour
images are ``H x W x 3`` RGB, grayscale ones ``H x W``; alpha, when there is one, travels separately
so that the filter can treat it properly (see :mod:`convcli.alpha`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from convcli.errors import InputError, OutputError, ParameterError
from convcli.options import DEFAULT_MAX_PIXELS

#: Output extensions and what they are written as.
WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".npy": "NPY",
    ".npz": "NPZ",
}
ALPHA_FORMATS = {"PNG", "TIFF", "WEBP", "NPY", "NPZ"}  # formats that keep an alpha channel
FLOAT_FORMATS = {"TIFF", "NPY", "NPZ"}  # formats that can hold raw float maps
ARRAY_FORMATS = {"NPY", "NPZ"}
DEEP_FORMATS = {"PNG", "TIFF"}  # formats convcli writes 16-bit (grayscale) images to

# Rec. 601 luma weights, the ones Pillow's convert("L") uses.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}


@dataclass(frozen=True, eq=False)
class Picture:
    """An image as convcli computes with it."""

    color: np.ndarray  # float32, H x W (gray) or H x W x 3 (RGB), in [0, 1]
    alpha: np.ndarray | None  # float32 H x W in [0, 1], or None when the image is opaque
    bit_depth: int  # 8, 16, or 32 for float images
    mode: str  # the Pillow mode it was read from
    icc_profile: bytes | None = None  # kept only while it still describes ``color``
    dpi: tuple[float, float] | None = None
    warnings: tuple[str, ...] = ()  # what reading lost (16-bit colour read as 8 bits)

    @property
    def height(self) -> int:
        return self.color.shape[0]

    @property
    def width(self) -> int:
        return self.color.shape[1]

    @property
    def channels(self) -> int:
        return 1 if self.color.ndim == 2 else self.color.shape[2]


def output_format(path: Path) -> str:
    """The format written for ``path``'s extension, or a :class:`ParameterError` listing the choices."""
    suffix = path.suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise ParameterError(
            f"unsupported output extension '{path.suffix}' in {path}; use one of {', '.join(WRITE_FORMATS)}"
        )
    return WRITE_FORMATS[suffix]


def readable_extensions() -> set[str]:
    """Every file extension Pillow can open, lower-case with the dot."""
    Image.init()
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def to_gray(color: np.ndarray) -> np.ndarray:
    """Luminance of an RGB array (Rec. 601 weights); a gray array is returned as is."""
    if color.ndim == 2:
        return color
    return (color @ LUMA).astype(np.float32)


_PILLOW_LIMIT = threading.Lock()  # Image.MAX_IMAGE_PIXELS is process-wide: one load changes it at a time


def _open(path: Path, max_pixels: int) -> Image.Image:
    with _PILLOW_LIMIT:
        return _open_unlocked(path, max_pixels)


def _open_unlocked(path: Path, max_pixels: int) -> Image.Image:
    limit = Image.MAX_IMAGE_PIXELS
    try:
        # Pillow's own check would refuse before ours with a limit of its choosing: ours decides.
        Image.MAX_IMAGE_PIXELS = None
        with Image.open(path) as opened:  # reads the header only
            width, height = opened.size
            if width * height > max_pixels:
                raise InputError(f"{path}: refused: {width}x{height} is {width * height / 1e6:.0f} MP, over the "
                                 f"--max-pixels limit of {max_pixels / 1e6:.0f} MP (a decompression bomb?)")
            # Pillow has no 16-bit colour mode: such files decode to 8 bits per channel.
            opened.info["convcli_deep_colour"] = opened.mode in ("RGB", "RGBA") and any(
                ";16" in str(tile.args) for tile in opened.tile)
            opened.load()
            ImageOps.exif_transpose(opened, in_place=True)  # no copy when there is nothing to turn
            return opened
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not an image") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InputError(f"{path}: corrupt or truncated image ({error})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def load_image(path: Path | str, *, gray: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Read ``path`` with Pillow, apply its EXIF orientation and return a :class:`Picture`.

    Palette images become RGB (RGBA when they have a transparent colour), CMYK and other colour
    spaces become RGB, ``1`` becomes gray; 16-bit (``I;16``, ``I``) and float (``F``) grayscale keep
    their precision. With ``gray=True`` colour is reduced to luminance and alpha is kept. An image of
    more than ``max_pixels`` is refused from its header, before anything is decoded.
    """
    path = Path(path)
    image = _open(path, max_pixels)
    mode = image.mode
    icc = image.info.get("icc_profile")
    dpi = image.info.get("dpi")
    alpha = None
    if mode in _SIXTEEN_BIT_MODES:
        color = np.asarray(image).astype(np.float32)
        color /= 65535.0
        depth = 16
    elif mode == "F":
        color = np.asarray(image, dtype=np.float32)
        depth = 32
    else:
        depth = 8
        has_alpha = mode in _ALPHA_MODES or "transparency" in image.info
        if mode in {"1", "L", "LA", "La"}:
            target = "LA" if has_alpha else "L"
        else:
            target = "RGBA" if has_alpha else "RGB"
        if mode != target:
            image = image.convert(target)
            if mode not in {"RGB", "RGBA", "L", "LA", "1", "P", "PA"}:
                icc = None  # a CMYK (or Lab...) profile no longer describes the converted pixels
        pixels = np.asarray(image, dtype=np.float32)
        pixels /= 255.0  # in place: a 12 MP photo is 144 MB as float32
        if has_alpha:
            color, alpha = (pixels[..., 0], pixels[..., 1]) if target == "LA" else (pixels[..., :3], pixels[..., 3])
            color, alpha = np.ascontiguousarray(color), np.ascontiguousarray(alpha)
        else:
            color = pixels
    if gray and color.ndim == 3:
        color = to_gray(color)
        icc = None
    lost = (f"{path.name}: 16-bit colour is read with 8 bits per channel (Pillow has no 16-bit RGB mode), "
            "so its outputs are 8-bit",) if image.info.get("convcli_deep_colour") else ()
    return Picture(color=color, alpha=alpha, bit_depth=depth, mode=mode, icc_profile=icc,
                   dpi=tuple(float(v) for v in dpi) if dpi else None, warnings=lost)


@functools.cache
def _default_umask() -> int:
    # Read once: os.umask can only be read by setting it, which is not safe while other threads write.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through a temporary file in the same folder, renamed into place when complete.

    An interrupted run leaves no half-written output: the temporary file is removed on any error.
    """
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as error:
        raise OutputError(f"{path}: cannot write ({error.strerror})") from None
    try:
        with os.fdopen(fd, "w+b") as handle:  # read too: multi-page TIFF writers seek back
            write(handle)
        os.chmod(temporary, 0o666 & ~_default_umask())
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None
    except BaseException:
        _remove(temporary)
        raise


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _quantise(values: np.ndarray, depth: int) -> np.ndarray:
    """Round [0, 1] floats to 8 or 16 bits, a band of rows at a time (no full-size float copy)."""
    top = 65535 if depth == 16 else 255
    out = np.empty(values.shape, dtype=np.uint16 if depth == 16 else np.uint8)
    rows = max(1, (1 << 22) // max(1, values[0].size * values.itemsize))
    for start in range(0, values.shape[0], rows):
        band = np.nan_to_num(values[start:start + rows], copy=True)
        np.clip(band, 0.0, 1.0, out=band)
        band *= top
        np.rint(band, out=band)
        out[start:start + rows] = band
    return out


def save_image(path: Path | str, color: np.ndarray, alpha: np.ndarray | None = None, *, bit_depth: int = 8,
               raw: bool = False, name: str = "map", icc_profile: bytes | None = None,
               dpi: tuple[float, float] | None = None, quality: int = 95) -> list[str]:
    """Write a feature map to ``path`` in the format of its extension; return any warnings.

    ``color`` is ``H x W`` or ``H x W x 3`` in [0, 1] (any floats when ``raw``). Gray maps from 16-bit
    or float inputs (``bit_depth`` above 8) are written as 16-bit PNG or TIFF; ``raw`` maps as float32
    TIFF (one channel), ``.npy`` (``H x W`` for gray, ``H x W x C`` otherwise: the map alone) or ``.npz``
    (the same array under the key ``name``, and the alpha, when there is one, under ``name_alpha``).
    """
    path = Path(path)
    fmt = output_format(path)
    warnings: list[str] = []
    if alpha is not None and fmt not in ALPHA_FORMATS:
        warnings.append(f"{path.name}: {fmt} has no alpha channel; transparency was dropped")
        alpha = None

    if fmt in ARRAY_FORMATS:
        array = np.asarray(color, dtype=np.float32)
        if fmt == "NPY":
            if alpha is not None:
                warnings.append(f"{path.name}: .npy holds the map alone; .npz keeps the alpha too")
            atomic_write(path, lambda handle: np.save(handle, array, allow_pickle=False))
        else:
            arrays = {name: array} if alpha is None else {name: array, f"{name}_alpha": np.asarray(alpha, np.float32)}
            atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))
        return warnings

    if color.ndim == 3 and color.shape[2] != 3:
        raise OutputError(f"{path}: a map with {color.shape[2]} channels can be written as .npy or .npz, not "
                          f"{path.suffix}")
    params: dict = {}
    if raw:
        if fmt not in FLOAT_FORMATS:
            raise ParameterError(f"--map raw keeps floats: write .npy, .npz or .tif, not {path.suffix}")
        if color.ndim != 2 or alpha is not None:
            raise OutputError(f"{path}: a float TIFF holds one channel; use --gray or write .npy or .npz")
        image = Image.fromarray(np.asarray(color, dtype=np.float32))
    elif color.ndim == 2 and bit_depth > 8 and fmt in DEEP_FORMATS and alpha is None:
        image = Image.fromarray(_quantise(color, 16))
    else:
        if color.ndim == 2 and bit_depth > 8:
            reason = "with alpha" if alpha is not None else f"as {fmt}"
            warnings.append(f"{path.name}: 16-bit gray cannot be written {reason}; wrote 8 bits")
        elif color.ndim == 3 and bit_depth > 8:  # e.g. a 16-bit gray image mixed into colour by --pointwise
            warnings.append(f"{path.name}: Pillow writes colour with 8 bits per channel")
        planes = color if alpha is None else np.dstack([color, alpha])
        image = Image.fromarray(_quantise(planes, 8))
        if fmt in {"JPEG", "WEBP"}:
            params["quality"] = quality
        if icc_profile:
            params["icc_profile"] = icc_profile
    if dpi and fmt in {"PNG", "TIFF", "JPEG"}:
        params["dpi"] = dpi
    if fmt == "TIFF":
        params["compression"] = "tiff_deflate"

    def write(handle: BinaryIO) -> None:
        try:
            image.save(handle, format=fmt, **params)
        except (OSError, ValueError) as error:
            raise OutputError(f"{path}: cannot write {fmt} ({error})") from None

    atomic_write(path, write)
    return warnings


#: Formats that hold a whole stack of maps in one file.
STACK_FORMATS = {"NPZ", "NPY", "TIFF"}


def save_stack(path: Path | str, layers: list[tuple[str, np.ndarray, np.ndarray | None]], *, bit_depth: int = 8,
               raw: bool = False) -> list[str]:
    """Write several maps of the same input to one file; return any warnings.

    ``layers`` are ``(name, values, alpha)``. ``.npz`` holds one array per name (and ``name_alpha``
    for its alpha); ``.npy`` one array ``N x H x W[x C]`` of the maps in layer order; ``.tif`` one page
    per layer, 8- or 16-bit (float32 with ``raw``), whose
    names are listed, as JSON, in the first page's ImageDescription tag.
    """
    path = Path(path)
    fmt = output_format(path)
    if fmt not in STACK_FORMATS:
        raise ParameterError(f"--stack writes one file per input: use .npz, .npy or .tif, not {path.suffix}")
    arrays = {name: np.asarray(color, dtype=np.float32) for name, color, _ in layers}
    if fmt == "NPZ":
        alphas = {f"{name}_alpha": np.asarray(alpha, np.float32) for name, _, alpha in layers if alpha is not None}
        atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays, **alphas))
        return []
    shapes = {array.shape for array in arrays.values()}
    if len(shapes) > 1:
        raise OutputError(f"{path}: the maps have different shapes ({', '.join(map(str, sorted(shapes)))}); "
                          "write the stack as .npz")
    if fmt == "NPY":
        stack = np.stack(list(arrays.values()))
        atomic_write(path, lambda handle: np.save(handle, stack, allow_pickle=False))
        return []
    warnings: list[str] = []
    pages = []
    for _, color, alpha in layers:
        if raw:
            if color.ndim != 2 or alpha is not None:
                raise OutputError(f"{path}: a float TIFF page holds one channel; use --gray or write .npz")
            pages.append(Image.fromarray(np.asarray(color, dtype=np.float32)))
        elif color.ndim == 2 and bit_depth > 8 and alpha is None:
            pages.append(Image.fromarray(_quantise(color, 16)))
        else:
            pages.append(Image.fromarray(_quantise(color if alpha is None else np.dstack([color, alpha]), 8)))
    description = json.dumps({"convcli": "stack", "kernels": [name for name, _, _ in layers]})

    def write(handle: BinaryIO) -> None:
        pages[0].save(handle, format="TIFF", save_all=True, append_images=pages[1:], description=description,
                      compression="tiff_deflate")

    atomic_write(path, write)
    return warnings


def stack_names(path: Path | str) -> list[str]:
    """The layer names of a stack TIFF written by :func:`save_stack`."""
    with Image.open(path) as image:
        return json.loads(image.tag_v2.get(270, "{}")).get("kernels", [])
