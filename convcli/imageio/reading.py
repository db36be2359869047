"""Reading images into float arrays: a :class:`Picture` with colour in [0, 1] and alpha apart.

Inside convcli a picture is float32 in [0, 1]: 8-bit 255 and 16-bit 65535 both map to 1.0. Colour
images are ``H x W x 3`` RGB, grayscale ones ``H x W``; alpha, when there is one, travels separately
so that the filter can treat it properly (see :mod:`convcli.engine.alpha`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from convcli.choices import DEFAULT_MAX_PIXELS
from convcli.errors import InputError
from convcli.pixels.colormaps import to_gray

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


def readable_extensions() -> set[str]:
    """Every file extension Pillow can open, lower-case with the dot."""
    Image.init()
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}




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
                                 f"`max_pixels` limit of {max_pixels / 1e6:.0f} MP (a decompression bomb?)")
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
