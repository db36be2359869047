"""Writing feature maps in the format of the output's extension: images, float TIFFs, ``.npy`` and ``.npz``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from convcli.errors import OutputError, ParameterError
from convcli.imageio.atomic import atomic_write

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


def output_format(path: Path) -> str:
    """The format written for ``path``'s extension, or a :class:`ParameterError` listing the choices."""
    suffix = path.suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise ParameterError(
            f"unsupported output extension '{path.suffix}' in {path}; use one of {', '.join(WRITE_FORMATS)}"
        )
    return WRITE_FORMATS[suffix]


def check_format(path: Path, *, raw: bool = False, stack: bool = False) -> str:
    """The format ``path`` is written as, when it can hold what is asked: float maps (``raw``), several
    maps in one file (``stack``). Checked before any work, and again by the writers."""
    fmt = output_format(path)
    if stack and fmt not in STACK_FORMATS:
        raise ParameterError(f"`stack` writes one file per input: use .npz, .npy or .tif, not {path.suffix}")
    if raw and fmt not in FLOAT_FORMATS:
        raise ParameterError(f"`map` raw keeps floats: write .npy, .npz or .tif, not {path.suffix}")
    return fmt


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


# One function per file written: each format's branch is short, and splitting them would pass the
# same eight arguments around.
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
    fmt = check_format(path, raw=raw)
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
        if color.ndim != 2 or alpha is not None:
            raise OutputError(f"{path}: a float TIFF holds one channel; use `gray` or write .npy or .npz")
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
    fmt = check_format(path, raw=raw, stack=True)
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
                raise OutputError(f"{path}: a float TIFF page holds one channel; use `gray` or write .npz")
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
