"""The Python API beyond :func:`convcli.conv2d`: kernels by name, images filtered as ``convcli apply`` filters
them, and a Pillow filter.

:func:`kernel` gives the weights of any ``-k`` form; :func:`filter_image` takes a PIL image or an array
and returns the same form, computed by the pipeline's own reading, alpha, mapping and quantising code,
so that ``filter_image(Image.open("a.png"), "sharpen")`` holds the pixels that
``convcli apply a.png -k sharpen -o out.png`` writes; :class:`KernelFilter` is that, as a filter for
``PIL.Image.Image.filter``.

May import: every layer below :mod:`convcli.tools` (the pipeline, image files, pixels, kernels, the
engine, the foundations); never the command line. ``import convcli`` loads this module only when one of
its names is first used.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace

import numpy as np
from PIL import Image, ImageFilter

from convcli.choices import DEFAULT_BOUNDARY
from convcli.engine.missing import find_missing
from convcli.engine.settings import Settings
from convcli.errors import KernelError, ParameterError, UnfoldableKernelError
from convcli.imageio.reading import Picture, array_samples, picture_of, pillow_samples
from convcli.imageio.writing import quantise
from convcli.kernels.composite import Bank
from convcli.kernels.entry import Entry
from convcli.kernels.kernel import Kernel, check_anchor_padding
from convcli.kernels.library import load_library
from convcli.kernels.specs import as_anchor, parse_anchor, resolve_kernels, with_anchor
from convcli.pipeline.convolver import Convolver
from convcli.pipeline.options import ApplyOptions
from convcli.pixels.mapping import resolve_map
from convcli.pixels.render import render

#: Modes Pillow converts to RGB, RGBA or LA for filtering, and back: the mode filtering gives first.
_RESTORED = {"CMYK": "RGB", "YCbCr": "RGB", "RGBX": "RGB", "HSV": "RGB", "LAB": "RGB", "RGBa": "RGBA", "La": "LA"}

#: How each 16-bit Pillow mode stores its samples.
_SIXTEEN_BIT = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2", "I;16N": "=u2", "I": "<i4"}


def _files(kernels_files) -> list[str]:
    if isinstance(kernels_files, (str, os.PathLike)):
        return [os.fspath(kernels_files)]
    return [os.fspath(path) for path in kernels_files]


def _entries(spec, kernels_files, *, expand: bool = True) -> list[Entry]:
    """What ``spec`` stands for: a ``-k`` value (a string or a path), an entry, or an array of weights;
    a bank without ``combine`` stands for its kernels unless ``expand`` is false."""
    if isinstance(spec, Entry):
        return list(spec.expand()) if expand else [spec]
    if isinstance(spec, (str, os.PathLike)):
        return resolve_kernels([os.fspath(spec)], load_library(_files(kernels_files)), unique=False, expand=expand)
    try:
        array = np.asarray(spec)
    except ValueError:  # ragged rows: the kernel's own checks say which row
        return [Kernel(name="array", weights=spec, source="kernel array")]
    if array.ndim == 3:
        bank = Bank("array", tuple(Kernel(name=f"array_{index}", weights=plane, source="kernel array")
                                   for index, plane in enumerate(array)), source="kernel array")
        return list(bank.expand()) if expand else [bank]
    if array.ndim != 2:
        raise KernelError(f"a kernel array must be kh x kw or a bank N x kh x kw; got shape {array.shape}")
    return [Kernel(name="array", weights=array, source="kernel array")]


def _flat(entry: Entry) -> tuple[Kernel, ...]:
    try:
        return entry.flat()
    except KernelError as error:
        raise UnfoldableKernelError(f"{error.message}; convcli.kernel gives the weights of a kernel, a bank or a "
                                    "chain that folds into one kernel") from None


def _stack(kernels: tuple[Kernel, ...] | list[Kernel]) -> np.ndarray:
    """The kernels' weights as given, as one ``N x kh x kw`` array: smaller ones padded with zeros about
    their anchors, so that every member's anchor is the same cell (members of one size and anchor are
    stacked as they are)."""
    shapes = [k.given_weights.shape for k in kernels]
    top, left = max(k.anchor[0] for k in kernels), max(k.anchor[1] for k in kernels)
    bottom = max(shape[0] - 1 - k.anchor[0] for k, shape in zip(kernels, shapes))
    right = max(shape[1] - 1 - k.anchor[1] for k, shape in zip(kernels, shapes))
    out = np.zeros((len(kernels), top + bottom + 1, left + right + 1))
    for plane, member, (height, width) in zip(out, kernels, shapes):
        row, column = top - member.anchor[0], left - member.anchor[1]
        plane[row:row + height, column:column + width] = member.given_weights
    return out


def kernel(spec, *, kernels_files: str | os.PathLike | Iterable[str | os.PathLike] = ()) -> np.ndarray:
    """The weights of a kernel given in any form ``convcli apply -k`` takes.

    Parameters
    ----------
    spec : str or path-like
        A name from the built-in library or a kernel file (``"sharpen"``), a generator call
        (``"gaussian:sigma=2"``), an inline matrix (``"0,-1,0; -1,5,-1; 0,-1,0"``), a chain, a ``.npy``
        or ``.mat`` file: resolved exactly as the command line resolves ``-k``, with the user's kernel
        file and ``$CONVCLI_KERNELS`` read as it reads them.
    kernels_files : path or paths, optional
        Extra TOML kernel files, as ``--kernels``; their names override the built-ins.

    Returns
    -------
    numpy.ndarray
        A new float64 array: ``kh x kw`` for one kernel (a chain folded into the one kernel it equals at
        stride 1); ``N x kh x kw`` for a bank (with or without ``combine``: its members; how they combine
        is not weights) or a ``.npy`` bank, a bank of one member included. Members of different sizes or
        anchors are padded with zeros about their anchors to the largest, which keeps each one's maps at
        padding ``same``. The weights are as written: a kernel's ``bias`` and ``flip = true`` are not in
        them, nor is an anchor off the centre (ImageMagick's ``WxH+X+Y:``, a TOML ``anchor``): the
        array is the ``H x W`` weights given, as OpenCV keeps a kernel and its anchor apart, so
        :func:`conv2d` applies it about its centre ``((kh - 1) // 2, (kw - 1) // 2)``. :func:`filter_image`
        applies all three; pass it ``anchor=(row, column)`` to anchor an array of weights.

    Raises
    ------
    KernelError
        For an unknown name (with the library's suggestion), a malformed matrix or file.
    UnfoldableKernelError
        When the entry is not one kernel or a bank: the channels of a layer (a 4-D ``.npy``), which sum
        a kernel per input channel, or a chain whose folded kernel exceeds the size limit.

    Examples
    --------
    >>> import convcli
    >>> convcli.kernel("sharpen")
    array([[ 0., -1.,  0.],
           [-1.,  5., -1.],
           [ 0., -1.,  0.]])
    >>> float(convcli.kernel("1 2 1; 2 4 2; 1 2 1").sum())
    16.0
    >>> round(float(convcli.kernel("gaussian:sigma=2").sum()), 12), convcli.kernel("gaussian:size=5,sigma=1").shape
    (1.0, (5, 5))
    >>> convcli.kernel("compass").shape  # a bank: 8 kernels of 3 x 3
    (8, 3, 3)
    >>> convcli.kernel("3x2+0+1: 1,2,3 4,5,6")  # 3 wide, 2 high, anchored at column 0, row 1: not in the array
    array([[1., 2., 3.],
           [4., 5., 6.]])
    >>> convcli.kernel("sharpn")
    Traceback (most recent call last):
    ...
    convcli.errors.KernelError: unknown kernel 'sharpn' (did you mean 'sharpen'?)
    """
    if not isinstance(spec, (str, os.PathLike, Entry)):
        raise ParameterError(f"`spec` must be a kernel as -k takes it (a string or a path); got {type(spec).__name__}")
    entries = _entries(spec, kernels_files, expand=False)
    kernels = [member for entry in entries for member in _flat(entry)]
    if len(entries) == 1 and entries[0].kind != "bank":  # one kernel, or a chain folded into one
        return np.array(kernels[0].given_weights, dtype=np.float64)
    return _stack(kernels)


class _Filtering:
    """One kernel entry with every option of :func:`filter_image`, checked once; applied to pictures."""

    def __init__(self, kernel, *, kernels_files=(), stride: int = 1, padding: str | int = "same",
                 boundary: str = DEFAULT_BOUNDARY, cval: float = 0.0, dilation: int = 1, flip: bool = False,
                 method: str = "auto", nan: str = "propagate", nodata: float | None = None, gray: bool = False,
                 map: str = "auto", combine: str | None = None, colormap: str | None = None, overlay: bool = False,
                 alpha: bool | None = None, anchor: str | tuple[int, int] | None = None,
                 verify: bool = False) -> None:
        settings = Settings(stride=stride, padding=padding, boundary=boundary, cval=cval, dilation=dilation,
                            flip=flip, method=method, nan=nan, nodata=nodata)
        if not isinstance(gray, bool):
            raise ParameterError(f"`gray` must be True or False; got {gray!r}")
        if alpha is not None and not isinstance(alpha, bool):
            raise ParameterError(f"`alpha` must be True, False or None; got {alpha!r}")
        self.options = ApplyOptions(settings, gray=gray, map=map, combine=combine, colormap=colormap,
                                    overlay=overlay, verify=verify)
        self.alpha = alpha
        entries = _entries(kernel, kernels_files)
        if anchor is not None:  # as `convcli apply --anchor`
            entries = with_anchor(entries, parse_anchor(anchor) if isinstance(anchor, str) else as_anchor(anchor))
            check_anchor_padding(entries, settings.padding)
        if combine:  # as `convcli apply --combine`: the kernels become one bank reduced to one map
            entries = [Bank(combine, tuple(entries), combine=combine,
                            description=f"{combine} of {', '.join(e.name for e in entries)}")]
        if len(entries) != 1:
            names = ", ".join(e.name for e in entries[:4]) + (", ..." if len(entries) > 4 else "")
            raise KernelError(f"kernel {_label(kernel)} gives {len(entries)} maps ({names}) and filter_image returns "
                              "one image: give `combine` (magnitude, max, sum or argmax) to reduce them to one, or "
                              "filter with each kernel")
        self.entry = entries[0]
        policy = resolve_map(self.options.map, self.entry)
        self.policy = "minmax" if policy == "global" else policy  # one map: the run's range is its own

    def apply(self, picture: Picture) -> tuple[np.ndarray, np.ndarray | None]:
        """``picture`` filtered and mapped as ``convcli apply`` does: ``(values, alpha)`` (values in [0, 1],
        NaN where a missing input was read; raw floats for ``map`` raw)."""
        settings = self.options.settings
        # nodata is NaN in the picture by now, as in the pipeline.
        convolver = Convolver(replace(settings, nodata=None), verify=self.options.verify)
        filtered = self.entry.apply(picture.color, picture.alpha, convolver)
        color = filtered.color
        if self.policy != "raw" and (settings.nodata is not None or picture.bit_depth == 32):
            missing = find_missing(color, None)
            if missing is not None:
                color = np.where(missing, np.asarray(np.nan, color.dtype), color)
        base = picture.color if self.options.overlay else None
        mapped = render(color, self.policy, colormap=self.options.colormap, base=base)
        return mapped.values, filtered.alpha

    # -- PIL images ------------------------------------------------------------------------------------

    def pil(self, image: Image.Image) -> Image.Image:
        image.load()
        samples = pillow_samples(image)
        picture = picture_of(samples, self.options.gray, self.options.settings.nodata)
        values, alpha = self.apply(picture)
        if self.policy == "raw":
            if values.ndim != 2 or alpha is not None:
                raise ParameterError("`map` raw keeps floats, which a PIL image holds in mode F alone (one channel, "
                                     "no alpha): give an array, or `gray` for an opaque image")
            return Image.fromarray(np.asarray(values, dtype=np.float32))
        drawn = self.options.pixels_drawn
        depth = 8 if drawn else picture.bit_depth
        if depth == 32:  # mode F: the mapped floats
            out = Image.fromarray(np.asarray(values, dtype=np.float32))
        elif depth == 16:  # I;16 and I: no alpha, no colour
            out = Image.fromarray(quantise(values, 16).astype(_SIXTEEN_BIT.get(image.mode, "<u2")))
        else:
            out = Image.fromarray(quantise(values if alpha is None else np.dstack([values, alpha]), 8))
        wanted = image.mode
        if not drawn and not self.options.gray and _RESTORED.get(wanted) == out.mode:
            out = out.convert(wanted)
        if picture.icc_profile and not drawn:
            out.info["icc_profile"] = picture.icc_profile
        if picture.dpi:  # the physical size kept: a stride shrinks the grid, and the density with it
            out.info["dpi"] = (picture.dpi[0] * out.width / picture.width, picture.dpi[1] * out.height / picture.height)
        return out

    # -- arrays ----------------------------------------------------------------------------------------

    def array(self, image: np.ndarray) -> np.ndarray:
        if image.dtype.kind not in "uf" or (image.dtype.kind == "u" and image.dtype not in (np.uint8, np.uint16)):
            raise ParameterError(f"`image` of dtype {image.dtype} has no white level: give uint8 (255 is white), "
                                 "uint16 (65535) or floats (1.0), or use convcli.conv2d for the plain sums")
        if image.ndim not in (2, 3) or 0 in image.shape:
            raise ParameterError(f"`image` must be a non-empty H x W or H x W x C array; got shape {image.shape}")
        channels = 1 if image.ndim == 2 else image.shape[2]
        has_alpha = channels in (2, 4) if self.alpha is None else self.alpha
        if has_alpha and channels < 2:
            raise ParameterError("`alpha` is the last channel, and the image has only one")
        if self.options.gray and channels - has_alpha not in (1, 3):
            raise ParameterError(f"`gray` takes the luminance of RGB; the image has {channels - has_alpha} colour "
                                 "channels")
        picture = _array_picture(image, has_alpha, self.options.gray, self.options.settings.nodata)
        values, alpha = self.apply(picture)
        planes = values if alpha is None else np.dstack([values, alpha])
        if image.dtype.kind == "u" and self.policy != "raw":
            depth = 16 if image.dtype == np.uint16 and not self.options.pixels_drawn else 8
            planes = quantise(planes, depth)
        if channels == 1 and image.ndim == 3:  # H x W x 1 in, H x W x 1 out
            planes = planes[..., None]
        return planes


def _array_picture(image: np.ndarray, alpha: bool, gray: bool, nodata: float | None) -> Picture:
    """An array as the pipeline reads stored samples (:func:`~convcli.imageio.reading.array_samples`); a
    float64 one kept in float64, as :func:`convcli.conv2d` keeps it."""
    if image.dtype != np.float64:
        return picture_of(array_samples(image, alpha=alpha, icc=None, dpi=None, name="image"), gray, nodata)
    color = image[..., :-1] if alpha else image
    opacity = np.ascontiguousarray(image[..., -1]) if alpha else None
    if color.ndim == 3 and color.shape[2] == 1:
        color = color[..., 0]
    color = np.array(color, dtype=np.float64)
    if nodata is not None:
        color[color == nodata] = np.nan
    if gray and color.ndim == 3:
        color = color @ np.array([0.299, 0.587, 0.114])  # Rec. 601, as pixels.colormaps.LUMA, in float64
    return Picture(color=color, alpha=opacity, bit_depth=32, mode="float64")


def _label(spec) -> str:
    return repr(os.fspath(spec)) if isinstance(spec, (str, os.PathLike)) else (
        f"'{spec.name}'" if isinstance(spec, Entry) else "array")


def filter_image(image, kernel, *, kernels_files: str | os.PathLike | Iterable[str | os.PathLike] = (),
                 stride: int = 1, padding: str | int = "same", boundary: str = DEFAULT_BOUNDARY, cval: float = 0.0,
                 dilation: int = 1, flip: bool = False, method: str = "auto", nan: str = "propagate",
                 nodata: float | None = None, gray: bool = False, map: str = "auto", combine: str | None = None,
                 colormap: str | None = None, overlay: bool = False, alpha: bool | None = None,
                 anchor: str | tuple[int, int] | None = None, verify: bool = False):
    """Filter a PIL image or an array with a kernel, as ``convcli apply`` filters a file, and return the
    same form.

    Parameters
    ----------
    image : PIL.Image.Image or array_like
        A PIL image (its current frame, its pixels as stored: call ``PIL.ImageOps.exif_transpose`` first
        for the upright picture that ``convcli apply`` reads), or an ``H x W`` or ``H x W x C`` array:
        uint8 (255 is white), uint16 (65535) or floats (1.0 is white, as in the engine).
    kernel : str, path-like or array_like
        Any ``-k`` form (see :func:`kernel`), or weights: ``kh x kw``, or a bank ``N x kh x kw`` with
        ``combine``.
    kernels_files : path or paths, optional
        Extra TOML kernel files, as ``--kernels``.
    stride, padding, boundary, cval, dilation, flip, method, nan, nodata
        As in :func:`convcli.conv2d` and ``convcli apply``; ``cval`` is in [0, 1] units, ``nodata`` in the
        image's own units (0..255 for uint8).
    gray : bool
        Filter the luminance (Rec. 601) in place of each colour channel, as ``--gray``.
    map : {"auto", "clip", "abs", "offset", "minmax", "global", "raw"}
        How the float result becomes pixels, as ``--map``; ``auto`` asks the kernel (``clip``, or
        ``abs`` for a zero-sum kernel); ``global`` is ``minmax`` for one image; ``raw`` keeps the floats
        (for a PIL image, only a one-channel result without alpha: mode F).
    combine : {"magnitude", "max", "sum", "argmax"}, optional
        Reduce a kernel that gives several maps (a bank without ``combine``, a ``.npy`` bank, an array
        bank) to one, as ``--combine``. Without it such a kernel is refused.
    colormap : {"gray", "viridis", "inferno", "coolwarm"}, optional
        Draw the map's strength in a colour map, as ``--colormap`` (an 8-bit RGB result).
    overlay : bool
        Blend the coloured map over the input, as ``--overlay``.
    alpha : bool, optional
        For arrays: whether the last channel is opacity. By default arrays of 2 and 4 channels have one
        (LA, RGBA, as ``numpy.asarray`` of a PIL image gives them); PIL images say so by their mode.
    anchor : (int, int) or str, optional
        The tap, ``(row, column)`` of the weights from 0, that lands on each output pixel, as ``--anchor``
        (default: the centre, ``((kh - 1) // 2, (kw - 1) // 2)``); with ``padding="same"`` only.
    verify : bool
        Check every correlation against SciPy, as ``--verify``.

    Returns
    -------
    PIL.Image.Image or numpy.ndarray
        For a PIL image, a PIL image of the same mode where Pillow can hold the result: L, LA, RGB and
        RGBA as given; I;16 and I with 16-bit values; F with the mapped floats; CMYK, YCbCr, HSV, LAB,
        RGBX, RGBa and La converted back from the RGB(A) or LA they are filtered in. Bilevel (1)
        images give L, palette images (P, PA) RGB or RGBA, ``gray`` L or LA, a colour map RGB or RGBA.
        The alpha is filtered as the command line filters it (no colour bleeds from transparent pixels).
        For an array, an array of the same layout: uint8 and uint16 in, the same dtype out, rounded as the
        command line writes 8- and 16-bit files (uint8 for a colour map; float32 for ``map`` raw);
        floats in, floats out (float64 for float64, float32 otherwise), mapped to [0, 1] by ``map``, with
        NaN where a missing input (NaN, ``nodata``) was read. A channel axis of 1 is kept.

    Notes
    -----
    A kernel given by name is resolved (the kernel files read) at each call; for many images, resolve it
    once with :class:`KernelFilter` (``image.filter(f)``) or pass the weights of :func:`kernel`.
    Only what the weights do is then kept: a name's ``bias``, ``flip`` and preferred ``map`` are not.

    Raises
    ------
    KernelError
        For an unknown or malformed kernel, or one that gives several maps without ``combine``.
    ParameterError
        For a bad option, or an array of a dtype with no white level (int32, bool ...).

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> import convcli
    >>> pixels = np.full((5, 5), 100, np.uint8); pixels[2, 2] = 200
    >>> sharp = convcli.filter_image(Image.fromarray(pixels), "sharpen")
    >>> sharp.mode, np.asarray(sharp)[1:4, 1:4].tolist()
    ('L', [[100, 0, 100], [0, 255, 0], [100, 0, 100]])
    >>> convcli.filter_image(pixels, "box:size=3")[2, 1:4].tolist()   # uint8 in, uint8 out
    [111, 111, 111]
    >>> edges = convcli.filter_image(pixels / 255, "laplacian")  # floats in: floats out, mapped by abs
    >>> edges.dtype, edges[2, 1:4].round(4).tolist()  # |100 / 255|, |-400 / 255| clipped to 1, |100 / 255|
    (dtype('float64'), [0.3922, 1.0, 0.3922])
    >>> raw = convcli.filter_image(pixels, "sobel_x", map="raw")  # the signed sums, uint8 in: float32 out
    >>> raw.dtype, raw[2, 1:4].astype(float).round(4).tolist()
    (dtype('float32'), [0.7843, 0.0, -0.7843])
    """
    filtering = _Filtering(kernel, kernels_files=kernels_files, stride=stride, padding=padding, boundary=boundary,
                           cval=cval, dilation=dilation, flip=flip, method=method, nan=nan, nodata=nodata, gray=gray,
                           map=map, combine=combine, colormap=colormap, overlay=overlay, alpha=alpha, anchor=anchor,
                           verify=verify)
    if isinstance(image, Image.Image):
        return filtering.pil(image)
    if isinstance(image, (str, os.PathLike)):
        raise ParameterError(f"`image` must be a PIL image or an array, not a file name ({os.fspath(image)!r}): "
                             "open the file with PIL.Image.open")
    return filtering.array(np.asarray(image))


class KernelFilter(ImageFilter.MultibandFilter):
    """A convcli kernel as a Pillow filter: ``image.filter(KernelFilter("emboss"))``.

    The kernel is resolved once, when the filter is made (an unknown name fails there); each
    ``Image.filter`` call then runs :func:`filter_image` on the image, with every channel filtered at
    once and the alpha kept as ``convcli apply`` keeps it. Unlike ``PIL.ImageFilter.Kernel`` it takes
    any size, correlates as written (``flip=True`` for true convolution), reads beyond the edges by
    ``boundary`` (symmetric by default) and does not divide by the sum unless the kernel says so.

    Parameters
    ----------
    kernel : str, path-like or array_like
        Any ``-k`` form, or weights (see :func:`filter_image`).
    **options
        The keyword options of :func:`filter_image` (``boundary``, ``stride``, ``map``, ``gray`` ...).

    Raises
    ------
    ParameterError
        When asked to filter a palette image (mode P or PA), as Pillow's own filters refuse them.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> import convcli
    >>> ramp = np.tile(np.arange(100, 150, 10, dtype=np.uint8), (4, 1))  # 100 110 120 130 140 in each row
    >>> embossed = Image.fromarray(ramp).convert("RGB").filter(convcli.KernelFilter("emboss"))
    >>> embossed.mode, np.asarray(embossed)[1, :, 0].tolist()  # -3 x left + centre + 3 x right
    ('RGB', [130, 170, 180, 190, 170])
    >>> convcli.KernelFilter("box:size=3")
    KernelFilter('box:size=3')
    """

    name = "KernelFilter"

    def __init__(self, kernel, **options) -> None:
        self._filtering = _Filtering(kernel, **options)
        self._spec = _label(kernel)

    def __repr__(self) -> str:
        return f"KernelFilter({self._spec})"

    def filter(self, image):
        """Filter ``image`` (Pillow's ``ImagingCore``, as ``Image.filter`` passes it) and return the result's."""
        if image.mode in ("P", "PA"):
            raise ParameterError(f"KernelFilter cannot filter palette images (mode {image.mode}): convert them to RGB "
                                 "or RGBA first, or use convcli.filter_image")
        return self._filtering.pil(Image.Image()._new(image)).im
