"""Writing feature maps in the format of the output's extension (or of ``--format``): images, animations
and page stacks, float TIFFs, ``.npy`` and ``.npz``.

Pillow writes 8-bit images and animations (GIF, APNG, WebP); 16-bit PNG goes through
:mod:`~convcli.imageio.png16` and every TIFF through :mod:`~convcli.imageio.tiff`. A file of several
frames is written in one go, whole or not at all (:mod:`~convcli.imageio.atomic`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from convcli.errors import OutputError, ParameterError, did_you_mean
from convcli.imageio import png16, tiff
from convcli.imageio.atomic import STDOUT, atomic_write
from convcli.imageio.file_warnings import FileWarning
from convcli.imageio.frames import Timing, gif_loop

#: Output extensions and what they are written as.
WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".npy": "NPY",
    ".npz": "NPZ",
}

#: The extension each format is written with, when the name is made for it.
FORMAT_EXTENSIONS = {fmt: ext[1:] for ext, fmt in reversed(WRITE_FORMATS.items())}

ALPHA_FORMATS = {"PNG", "TIFF", "WEBP", "GIF", "NPY", "NPZ"}  # formats that keep an alpha channel (GIF: on or off)

FLOAT_FORMATS = {"TIFF", "NPY", "NPZ"}  # formats that can hold raw float maps

ARRAY_FORMATS = {"NPY", "NPZ"}

DEEP_FORMATS = {"PNG", "TIFF"}  # formats convcli writes 16-bit images to, gray or colour

#: Formats that hold several frames (animations: with their durations) or pages.
FRAME_FORMATS = {"GIF", "PNG", "WEBP", "TIFF", "NPY", "NPZ"}

TIMED_FORMATS = {"GIF", "PNG", "WEBP"}  # those that also keep each frame's duration and the loop count

#: Formats that hold a whole stack of maps in one file.
STACK_FORMATS = {"NPZ", "NPY", "TIFF"}


def output_format(path: Path, fmt: str | None = None) -> str:
    """The format written for ``path``'s extension, or ``fmt`` (an extension such as ``png``) when
    given; a :class:`ParameterError` listing the choices otherwise."""
    suffix = f".{fmt.lower().lstrip('.')}" if fmt else path.suffix.lower()
    if suffix not in WRITE_FORMATS:
        what = f"`format` {fmt}" if fmt else f"output extension '{path.suffix}' in {path}"
        hint = did_you_mean(suffix, WRITE_FORMATS) if suffix != "." else ""
        raise ParameterError(f"unsupported {what}; use one of {', '.join(WRITE_FORMATS)}{hint}")
    return WRITE_FORMATS[suffix]


def check_format(path: Path, *, fmt: str | None = None, raw: bool = False, stack: bool = False) -> str:
    """The format ``path`` is written as, when it can hold what is asked: float maps (``raw``), several
    maps in one file (``stack``). Checked before any work, and again by the writers."""
    fmt = output_format(path, fmt)
    if stack and fmt not in STACK_FORMATS:
        raise ParameterError(f"`stack` writes one file per input: use .npz, .npy or .tif, not .{_ext(fmt)}")
    if raw and fmt not in FLOAT_FORMATS:
        raise ParameterError(f"`map` raw keeps floats: write .npy, .npz or .tif, not .{_ext(fmt)}")
    return fmt


def _label(path: Path) -> str:
    """How warnings name an output: its file name, or "standard output"."""
    return "standard output" if path == STDOUT else path.name


def _ext(fmt: str) -> str:
    return FORMAT_EXTENSIONS[fmt]


def _quantise(values: np.ndarray, depth: int, *, in_place: bool = False, within: bool = False) -> np.ndarray:
    """Round [0, 1] floats to 8 or 16 bits (NaN as 0, beyond the ends clipped), a band of rows at a time
    (no full-size float copy); ``in_place`` may overwrite ``values``, saving even the band's copy.
    ``within``: every value is known to be in [0, 1] and none NaN (:attr:`Mapped.within`), so none is clipped."""
    top = 65535 if depth == 16 else 255
    out = np.empty(values.shape, dtype=np.uint16 if depth == 16 else np.uint8)
    rows = max(1, (1 << 22) // max(1, values[0].size * values.itemsize))
    for start in range(0, values.shape[0], rows):
        band = values[start:start + rows]
        if within:
            band = np.multiply(band, top, out=band if in_place else None)
        else:
            band = np.fmax(band, 0.0, out=band if in_place else None)  # fmax and fmin take the number over NaN
            np.fmin(band, 1.0, out=band)
            band *= top
        np.rint(band, out=band)
        out[start:start + rows] = band
    return out


@dataclass(frozen=True)
class Encoding:
    """How a file's frames are written: what its format can hold of what the maps are."""

    fmt: str
    bit_depth: int = 8  # of the input: above 8, written with 16 bits where the format can hold them
    raw: bool = False
    name: str = "map"  # the array's key in .npz
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    quality: int = 95
    compress: bool = True  # a TIFF is deflate compressed, unless its input TIFF was not
    timing: Timing | None = None


Frame = tuple[np.ndarray, "np.ndarray | None"]  # (colour in [0, 1], alpha or None)


def save_image(path: Path | str, color: np.ndarray, alpha: np.ndarray | None = None, *, bit_depth: int = 8,
               raw: bool = False, name: str = "map", icc_profile: bytes | None = None,
               dpi: tuple[float, float] | None = None, quality: int = 95, fmt: str | None = None) -> list[FileWarning]:
    """Write a feature map to ``path`` in the format of its extension (or ``fmt``); return any warnings.

    ``color`` is ``H x W`` or ``H x W x 3`` in [0, 1] (any floats when ``raw``). Maps of 16-bit or
    float inputs (``bit_depth`` above 8) are written as 16-bit PNG or TIFF, gray or colour, with their
    alpha; ``raw`` maps as float32 TIFF (every channel, and the alpha), ``.npy`` (``H x W`` for gray,
    ``H x W x C`` otherwise: the map alone) or ``.npz`` (the same array under the key ``name``, and the
    alpha, when there is one, under ``name_alpha``).
    """
    return save_frames(path, [(color, alpha)], bit_depth=bit_depth, raw=raw, name=name, icc_profile=icc_profile,
                       dpi=dpi, quality=quality, fmt=fmt)


def save_frames(path: Path | str, frames: Sequence[Frame], *, timing: Timing | None = None, fmt: str | None = None,
                **encoding) -> list[FileWarning]:
    """Write several frames of one map to ``path`` as one file: an animation (GIF, APNG, WebP, with
    ``timing``), a multi-page TIFF, or arrays with a leading frame axis (``.npy``, ``.npz``); the
    keywords are :func:`save_image`'s. One frame is a still. Returns any warnings."""
    path = Path(path)
    out = Encoding(check_format(path, fmt=fmt, raw=encoding.get("raw", False)), timing=timing, **encoding)
    if len(frames) > 1 and out.fmt not in FRAME_FORMATS:
        raise OutputError(f"{path}: {out.fmt} holds one frame, not {len(frames)}; write .tif, .gif, .png or .webp")
    warnings: list[FileWarning] = []
    if timing is not None and len(frames) > 1 and out.fmt not in TIMED_FORMATS:
        warnings.append(FileWarning(_label(path), f"{out.fmt} keeps the frames but not their durations; .gif, "
                                    ".png or .webp keep both"))
    if any(alpha is not None for _, alpha in frames) and out.fmt not in ALPHA_FORMATS:
        warnings.append(FileWarning(_label(path), f"{out.fmt} has no alpha channel; transparency was dropped"))
        frames = [(color, None) for color, _ in frames]
    if len(frames) > 1:
        frames = _alike(frames, path, out.fmt)
    if out.fmt in ARRAY_FORMATS:
        _write_arrays(path, frames, out, warnings)
        return warnings
    for color, _ in frames:
        if color.ndim == 3 and color.shape[2] != 3:
            raise OutputError(f"{path}: a map with {color.shape[2]} channels can be written as .npy or .npz, not "
                              f"{path.suffix or '.' + _ext(out.fmt)}")
    if out.fmt == "TIFF":
        pages = [_samples(color, alpha, out) for color, alpha in frames]
        atomic_write(path, lambda handle: tiff.write_pages(handle, pages, icc_profile=out.icc_profile, dpi=out.dpi,
                                                          compress=out.compress, path=path))
        return warnings
    deep = out.bit_depth > 8 and out.fmt == "PNG" and len(frames) == 1
    if out.bit_depth > 8 and not deep:
        why = "an animated PNG" if out.fmt == "PNG" else out.fmt
        warnings.append(FileWarning(_label(path), f"{why} holds 8 bits per channel; the 16-bit maps were written "
                                    "with 8"))
    if deep:
        data = png16.encode(_samples(*frames[0], out), icc_profile=out.icc_profile, dpi=out.dpi)
        atomic_write(path, lambda handle: handle.write(data))
        return warnings
    _write_pillow(path, [_samples(color, alpha, out, depth=8) for color, alpha in frames], out, warnings)
    return warnings


def _alike(frames: Sequence[Frame], path: Path, fmt: str) -> list[Frame]:
    """The frames made alike for one file: alpha on all (opaque where a page had none) when any has it,
    colour on all when any is colour (gray repeated). Pages of different sizes go only to TIFF, which
    keeps each page's own size."""
    sizes = list(dict.fromkeys(color.shape[:2] for color, _ in frames))
    if len(sizes) > 1 and fmt != "TIFF":
        listed = ", ".join(f"{w}x{h}" for h, w in sizes)
        raise OutputError(f"{path}: the frames have different sizes ({listed}); write .tif, which keeps each "
                          "page's size")
    with_alpha = any(alpha is not None for _, alpha in frames) and fmt != "TIFF"
    colour = any(color.ndim == 3 for color, _ in frames) and fmt != "TIFF"
    alike = []
    for color, alpha in frames:
        if with_alpha and alpha is None:
            alpha = np.ones(color.shape[:2], np.float32)
        if colour and color.ndim == 2:
            color = np.repeat(color[..., None], 3, axis=2)
        alike.append((color, alpha))
    return alike


def sample_depth(fmt: str, bit_depth: int, frames: int = 1) -> int:
    """Bits per sample an image of ``frames`` frames is written with in ``fmt``: 16 for the maps of
    16-bit or float inputs (``bit_depth`` above 8) in TIFF and in a still PNG, 8 otherwise."""
    return 16 if bit_depth > 8 and (fmt == "TIFF" or (fmt == "PNG" and frames == 1)) else 8


def quantise(values: np.ndarray, depth: int, *, in_place: bool = False, within: bool = False) -> np.ndarray:
    """[0, 1] floats as ``depth``-bit samples (NaN as 0), as every writer stores them; ``within`` as in
    :func:`_quantise`."""
    return _quantise(values, depth, in_place=in_place, within=within)


def _samples(color: np.ndarray, alpha: np.ndarray | None, out: Encoding, depth: int | None = None) -> np.ndarray:
    """The stored samples of one frame: colour and alpha channels last, float32 (raw), uint16 or uint8.
    Colour and alpha already quantised (integers, from :func:`quantise`) are stored as they are."""
    planes = color if alpha is None else np.dstack([color, alpha])
    if out.raw:
        return np.asarray(planes, dtype=np.float32)
    depth = depth or (16 if out.bit_depth > 8 and out.fmt in DEEP_FORMATS else 8)
    if planes.dtype.kind == "u":
        if planes.dtype.itemsize * 8 != depth:
            raise ValueError(f"{planes.dtype} samples given for a {depth}-bit {out.fmt}")
        return planes
    return _quantise(planes, depth)


def _write_arrays(path: Path, frames: Sequence[Frame], out: Encoding, warnings: list[FileWarning]) -> None:
    colours = [np.asarray(color, dtype=np.float32) for color, _ in frames]
    array = colours[0] if len(colours) == 1 else np.stack(colours)
    alphas = [alpha for _, alpha in frames if alpha is not None]
    if out.fmt == "NPY":
        if alphas:
            warnings.append(FileWarning(_label(path), ".npy holds the map alone; .npz keeps the alpha too"))
        atomic_write(path, lambda handle: np.save(handle, array, allow_pickle=False))
        return
    arrays = {out.name: array}
    if alphas:
        alpha = np.asarray(alphas[0], np.float32) if len(alphas) == 1 else np.stack(alphas).astype(np.float32)
        arrays[f"{out.name}_alpha"] = alpha
    atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))


def _write_pillow(path: Path, frames: list[np.ndarray], out: Encoding, warnings: list[FileWarning]) -> None:
    if out.fmt == "GIF":  # Pillow writes gray and alpha to GIF as gray alone: give it RGBA, whose alpha it keeps
        frames = [np.dstack([frame[..., :1]] * 3 + [frame[..., 1:]]) if frame.ndim == 3 and frame.shape[2] == 2
                  else frame for frame in frames]
    images = [Image.fromarray(frame) for frame in frames]
    params: dict = {}
    if out.fmt in {"JPEG", "WEBP"}:
        params["quality"] = out.quality
    if out.icc_profile and out.fmt != "GIF":
        params["icc_profile"] = out.icc_profile
    if out.dpi and out.fmt in {"PNG", "JPEG"}:
        params["dpi"] = out.dpi
    if out.fmt == "GIF" and any(frame.ndim == 3 and frame.shape[2] in (2, 4) and
                                np.any((frame[..., -1] > 0) & (frame[..., -1] < 255)) for frame in frames):
        warnings.append(FileWarning(_label(path), "GIF transparency is on or off; partly transparent pixels were "
                                    "made opaque or clear"))
    if len(images) > 1:
        params.update(save_all=True, append_images=images[1:])
        if out.fmt == "GIF" and frames[0].ndim == 3 and frames[0].shape[2] == 4:
            params["disposal"] = 2  # each frame whole: what is clear in it must not show the one before
        if out.timing is not None:
            params["duration"] = [d or 0 for d in out.timing.durations]
            loop = gif_loop(out.timing.plays) if out.fmt == "GIF" else out.timing.plays
            if loop is not None:
                params["loop"] = loop
            if out.timing.default_image and out.fmt == "PNG":
                params["default_image"] = True
                params["duration"] = params["duration"][1:]  # Pillow times the animation's frames alone
            elif out.timing.default_image:
                warnings.append(FileWarning(_label(path), "the APNG's default image, not part of its animation, is "
                                            f"frame 0 of this {out.fmt}"))
        repeats = [i for i in range(1, len(frames)) if np.array_equal(frames[i], frames[i - 1])]
        if repeats:
            frames_named = f"frame{'s' if len(repeats) > 1 else ''} {', '.join(map(str, repeats))}"
            warnings.append(FileWarning(_label(path), f"{frames_named} repeat{'' if len(repeats) > 1 else 's'} the "
                                        f"one before after filtering; {out.fmt} stores a repeat as a longer frame"))

    def write(handle: BinaryIO) -> None:
        try:
            images[0].save(handle, format=out.fmt, **params)
        except (OSError, ValueError) as error:
            raise OutputError(f"{path}: cannot write {out.fmt} ({error})") from None

    atomic_write(path, write)


def save_stack(path: Path | str, layers: list[tuple[str, np.ndarray, np.ndarray | None]], *, bit_depth: int = 8,
               raw: bool = False, fmt: str | None = None) -> list[FileWarning]:
    """Write several maps of the same input to one file; return any warnings.

    ``layers`` are ``(name, values, alpha)``. ``.npz`` holds one array per name (and ``name_alpha``
    for its alpha); ``.npy`` one array ``N x H x W[x C]`` of the maps in layer order; ``.tif`` one page
    per layer, 8- or 16-bit (float32 with ``raw``), with its alpha, whose names are listed, as JSON,
    in the first page's ImageDescription tag.
    """
    path = Path(path)
    out = Encoding(check_format(path, fmt=fmt, raw=raw, stack=True), bit_depth=bit_depth, raw=raw)
    arrays = {name: np.asarray(color, dtype=np.float32) for name, color, _ in layers}
    if out.fmt == "NPZ":
        alphas = {f"{name}_alpha": np.asarray(alpha, np.float32) for name, _, alpha in layers if alpha is not None}
        atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays, **alphas))
        return []
    shapes = {array.shape for array in arrays.values()}
    if len(shapes) > 1:
        raise OutputError(f"{path}: the maps have different shapes ({', '.join(map(str, sorted(shapes)))}); "
                          "write the stack as .npz")
    if out.fmt == "NPY":
        stack = np.stack(list(arrays.values()))
        atomic_write(path, lambda handle: np.save(handle, stack, allow_pickle=False))
        return []
    pages = [_samples(color, alpha, out) for _, color, alpha in layers]
    description = json.dumps({"convcli": "stack", "kernels": [name for name, _, _ in layers]})
    atomic_write(path, lambda handle: tiff.write_pages(handle, pages, description=description, path=path))
    return []

