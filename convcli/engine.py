"""The convolution engine: :func:`conv2d` and the geometry it is built on.

Everything here is plain NumPy. The output is cut into strips of rows; for each strip a band of
input rows is gathered with the boundary mode applied, and each kernel tap adds a (strided) shifted
view of the band, scaled by the tap's weight, into the strip. Python loops run over strips and taps,
never over pixels; strips run on a thread per core.

The conventions are those of the contract (``shared/CONTRACT.md``): correlation by default, with the
anchor ``((kh - 1) // 2, (kw - 1) // 2)``; ``flip=True`` mirrors the offsets about the anchor, which
is true convolution and matches ``scipy.signal.convolve2d``.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from convcli.errors import ParameterError

#: Canonical boundary names and every alias the contract accepts for them.
BOUNDARY_ALIASES: dict[str, str] = {
    "zero": "zero",
    "fill": "zero",
    "constant": "constant",
    "edge": "edge",
    "replicate": "edge",
    "nearest": "edge",
    "clamp": "edge",
    "symmetric": "symmetric",
    "reflect": "symmetric",
    "symm": "symmetric",
    "mirror": "mirror",
    "reflect101": "mirror",
    "reflect_101": "mirror",
    "wrap": "wrap",
    "circular": "wrap",
    "periodic": "wrap",
    "tile": "wrap",
}
BOUNDARIES = ("zero", "constant", "edge", "symmetric", "mirror", "wrap")
PADDINGS = ("same", "valid", "full")
METHODS = ("auto", "direct")

# np.pad's name for each boundary mode ("zero" and "constant" differ only in the fill value).
_NUMPY_PAD_MODE = {
    "zero": "constant",
    "constant": "constant",
    "edge": "edge",
    "symmetric": "symmetric",
    "mirror": "reflect",
    "wrap": "wrap",
}


def resolve_boundary(boundary: str) -> str:
    """Return the canonical name of a boundary mode or alias (``"reflect101"`` -> ``"mirror"``)."""
    key = str(boundary).strip().lower()
    if key not in BOUNDARY_ALIASES:
        raise ParameterError(
            f"boundary must be one of {', '.join(BOUNDARIES)} (or an alias such as "
            f"replicate, reflect, reflect101, circular); got {boundary!r}"
        )
    return BOUNDARY_ALIASES[key]


def resolve_padding(padding: str | int) -> str | int:
    """Return ``"same"``, ``"valid"``, ``"full"`` or a non-negative integer padding."""
    if isinstance(padding, (bool, np.bool_)):
        raise ParameterError(f"padding must be same, valid, full or an integer >= 0; got {padding!r}")
    if isinstance(padding, (int, np.integer)):
        value = int(padding)
    else:
        text = str(padding).strip().lower()
        if text in PADDINGS:
            return text
        try:
            value = int(text)
        except ValueError:
            raise ParameterError(
                f"padding must be same, valid, full or an integer >= 0; got {padding!r}"
            ) from None
    if value < 0:
        raise ParameterError(f"padding must be same, valid, full or an integer >= 0; got {padding!r}")
    return value


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"{name} must be an integer >= 1; got {value!r}")
    if value < 1:
        raise ParameterError(f"{name} must be an integer >= 1; got {value!r}")
    return int(value)


@dataclass(frozen=True)
class AxisPlan:
    """Where the outputs along one axis sit on the input.

    Output ``y`` is centred (anchored) on input position ``start + y * stride``; tap ``i`` of the
    kernel reads input position ``start + y * stride + (i - anchor) * dilation``.
    """

    size: int  # input length
    taps: int  # kernel length
    anchor: int
    stride: int
    dilation: int
    start: int
    count: int

    @property
    def pad_before(self) -> int:
        """How many samples the boundary mode must supply before the first input sample."""
        return max(0, self.anchor * self.dilation - self.start)

    @property
    def pad_after(self) -> int:
        """How many samples the boundary mode must supply after the last input sample."""
        last = self.start + (self.count - 1) * self.stride
        return max(0, last + (self.taps - 1 - self.anchor) * self.dilation - (self.size - 1))


def plan_axis(size: int, taps: int, *, anchor: int, stride: int, dilation: int,
              padding: str | int) -> AxisPlan:
    """Work out the output positions along one axis (see the contract's padding rules)."""
    span = dilation * (taps - 1)  # extent of the dilated kernel, minus one
    if padding == "same":
        start, count = 0, -(-size // stride)
    elif padding == "valid":
        start, count = anchor * dilation, (size - span - 1) // stride + 1
    elif padding == "full":
        start, count = -(taps - 1 - anchor) * dilation, (size + span - 1) // stride + 1
    else:
        start, count = anchor * dilation - padding, (size + 2 * padding - span - 1) // stride + 1
    return AxisPlan(size, taps, anchor, stride, dilation, start, max(count, 0))


def output_shape(image_shape: tuple[int, ...], kernel_shape: tuple[int, int], *, stride: int = 1,
                 padding: str | int = "same", dilation: int = 1) -> tuple[int, int]:
    """Return ``(rows, cols)`` of the feature map :func:`conv2d` would produce.

    Examples
    --------
    >>> output_shape((3000, 4000), (3, 3), stride=2)
    (1500, 2000)
    >>> output_shape((32, 32), (5, 5), padding=1)  # PyTorch's floor((H + 2P - d(k - 1) - 1) / s) + 1
    (30, 30)
    """
    padding = resolve_padding(padding)
    return tuple(
        plan_axis(n, k, anchor=(k - 1) // 2, stride=stride, dilation=dilation, padding=padding).count
        for n, k in zip(image_shape[:2], kernel_shape)
    )


def resolve_method(method: str, kernel_shape: tuple[int, ...]) -> str:
    """Return the engine path that :func:`conv2d` runs for ``method`` on this kernel."""
    key = str(method).strip().lower()
    if key not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return "direct"


def _working_dtype(image: np.ndarray) -> np.dtype:
    return np.dtype(np.float64) if image.dtype == np.float64 else np.dtype(np.float32)


def _check_image(image: object) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype.kind not in "biuf":
        raise ParameterError(f"image must hold real numbers; got dtype {array.dtype}")
    if array.ndim not in (2, 3):
        raise ParameterError(f"image must be H x W or H x W x C; got shape {array.shape}")
    if 0 in array.shape:
        raise ParameterError(f"image is empty; got shape {array.shape}")
    return array


def _check_kernel(kernel: object) -> np.ndarray:
    array = np.asarray(kernel)
    if array.dtype.kind not in "biuf":
        raise ParameterError(f"kernel must hold real numbers; got dtype {array.dtype}")
    if array.ndim not in (2, 3):
        raise ParameterError(f"kernel must be kh x kw or a bank N x kh x kw; got shape {array.shape}")
    if 0 in array.shape:
        raise ParameterError(f"kernel is empty; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ParameterError("kernel holds NaN or infinite values")
    return array


def source_indices(plan: AxisPlan, boundary: str) -> np.ndarray:
    """For each position of the padded axis, the input index it reads (-1: the fill value).

    The padded axis runs from ``pad_before`` samples before the image to ``pad_after`` after it;
    np.pad on the index ramp applies the boundary mode, however far the padding reaches.
    """
    ramp = np.arange(plan.size)
    widths = (plan.pad_before, plan.pad_after)
    if boundary in ("zero", "constant"):
        return np.pad(ramp, widths, mode="constant", constant_values=-1)
    return np.pad(ramp, widths, mode=_NUMPY_PAD_MODE[boundary])


#: Output bytes per strip: with its input band and scratch this stays within a core's L2 cache.
STRIP_BYTES = 1 << 20


class _DirectPlan:
    """Row strips of the output, each filled from a small padded band of input rows.

    Padding the whole image would copy it; gathering each strip's band (boundary applied through
    :func:`source_indices`) keeps the working set in cache and memory at one image plus the output.
    """

    def __init__(self, image: np.ndarray, rows: AxisPlan, cols: AxisPlan, boundary: str, cval: float):
        self.image, self.rows, self.cols = image, rows, cols
        self.fill = cval if boundary == "constant" else 0.0
        self.row_src = source_indices(rows, boundary)
        col_src = source_indices(cols, boundary)
        # First padded row / column read by output 0's tap 0.
        self.row0 = rows.start - rows.anchor * rows.dilation + rows.pad_before
        self.col0 = cols.start - cols.anchor * cols.dilation + cols.pad_before
        # Only the columns the taps can reach are gathered.
        last_col = self.col0 + (cols.count - 1) * cols.stride + (cols.taps - 1) * cols.dilation
        self.col_src = col_src[self.col0:last_col + 1]
        # The gathered columns that are the image itself, in order (copied as one slice); the rest
        # come from the boundary mode.
        lo = max(0, cols.pad_before - self.col0)
        hi = min(len(self.col_src), cols.pad_before + cols.size - self.col0)
        self.middle = slice(lo, max(lo, hi))
        self.middle_src = slice(self.col_src[lo], self.col_src[hi - 1] + 1) if hi > lo else slice(0, 0)
        self.outer = np.r_[0:lo, max(lo, hi):len(self.col_src)]
        row_bytes = cols.count * image.itemsize * (image.size // (image.shape[0] * image.shape[1]))
        self.step = max(1, STRIP_BYTES // max(row_bytes, 1))

    def strips(self) -> range:
        return range(0, self.rows.count, self.step)

    def band(self, y0: int, y1: int) -> np.ndarray:
        """The padded input rows that output rows ``y0:y1`` read, restricted to the reachable columns."""
        rows = self.rows
        first = self.row0 + y0 * rows.stride
        last = self.row0 + (y1 - 1) * rows.stride + (rows.taps - 1) * rows.dilation
        src = self.row_src[first:last + 1]
        band = np.empty((len(src), len(self.col_src)) + self.image.shape[2:], dtype=self.image.dtype)
        picked = self.image.take(np.maximum(src, 0), axis=0)
        band[:, self.middle] = picked[:, self.middle_src]
        outer = self.outer
        if outer.size:
            band[:, outer] = picked.take(np.maximum(self.col_src[outer], 0), axis=1)
            band[:, outer[self.col_src[outer] < 0]] = self.fill
        band[src < 0] = self.fill
        return band

    def run(self, bank: np.ndarray, out: np.ndarray, workers: int) -> None:
        """Fill ``out`` (``N x rows x cols [x C]``) with every kernel of ``bank``, strip by strip."""
        rows, cols = self.rows, self.cols
        col_stop = (cols.count - 1) * cols.stride + 1
        taps = [[(i * rows.dilation, j * cols.dilation, kernel[i, j]) for i, j in zip(*np.nonzero(kernel))]
                for kernel in bank]

        def strip(y0: int) -> None:
            y1 = min(y0 + self.step, rows.count)
            band = self.band(y0, y1)
            height = (y1 - y0 - 1) * rows.stride + 1
            scratch = np.empty_like(out[0, y0:y1])
            for plane, kernel_taps in zip(out, taps):
                target = plane[y0:y1]
                if not kernel_taps:
                    target.fill(0)
                for n, (di, dj, weight) in enumerate(kernel_taps):
                    view = band[di:di + height:rows.stride, dj:dj + col_stop:cols.stride]
                    if n == 0:
                        np.multiply(view, weight, out=target)
                    else:
                        np.multiply(view, weight, out=scratch)
                        target += scratch

        starts = self.strips()
        if workers > 1 and len(starts) > 1:
            with ThreadPoolExecutor(min(workers, len(starts))) as pool:
                list(pool.map(strip, starts))  # NumPy releases the GIL inside each strip's arithmetic
        else:
            for y0 in starts:
                strip(y0)


def conv2d(image, kernel, *, stride: int = 1, padding: str | int = "same", boundary: str = "symmetric",
           cval: float = 0.0, dilation: int = 1, flip: bool = False, method: str = "auto") -> np.ndarray:
    """Slide ``kernel`` over ``image`` and sum the products at every position.

    Parameters
    ----------
    image : array_like
        ``H x W`` or ``H x W x C`` real array; every channel is filtered on its own.
    kernel : array_like
        ``kh x kw`` weights, or a bank ``N x kh x kw`` (the output then gets a leading ``N`` axis).
        Any size works, odd or even, square or not, larger than the image or not.
    stride : int
        Step between output positions, in input pixels (>= 1).
    padding : {"same", "valid", "full"} or int
        ``same``: one output per ``stride``-th input pixel; ``valid``: only where the dilated kernel
        lies inside the image; ``full``: wherever it overlaps the image; an integer ``P``: pad ``P``
        on every side, then ``valid`` (PyTorch's rule).
    boundary : str
        Where values outside the image come from: ``zero``, ``constant`` (``cval``), ``edge``,
        ``symmetric`` (cba|abc), ``mirror`` (cb|abc) or ``wrap``, or one of their aliases.
    cval : float
        The value outside the image for ``boundary="constant"``.
    dilation : int
        Spacing between kernel taps (>= 1).
    flip : bool
        ``False`` (default) applies the kernel as written (correlation, like PyTorch ``conv2d``);
        ``True`` mirrors it about the anchor (true convolution, like ``scipy.signal.convolve2d``).
    method : str
        ``auto`` or ``direct``.

    Returns
    -------
    numpy.ndarray
        float64 when ``image`` is float64, float32 otherwise.

    Raises
    ------
    ParameterError
        When an argument is out of range; the message names it and its value.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((3, 3)); image[1, 1] = 1.0
    >>> conv2d(image, [[1, 2, 3]], boundary="zero")[1]   # correlation: the kernel reads as written
    array([3., 2., 1.])
    >>> conv2d(image, [[1, 2, 3]], boundary="zero", flip=True)[1]
    array([1., 2., 3.])
    """
    image = _check_image(image)
    kernel = _check_kernel(kernel)
    stride = _positive_int("stride", stride)
    dilation = _positive_int("dilation", dilation)
    padding = resolve_padding(padding)
    boundary = resolve_boundary(boundary)
    try:
        cval = float(cval)
    except (TypeError, ValueError):
        raise ParameterError(f"cval must be a number; got {cval!r}") from None
    if not math.isfinite(cval):
        raise ParameterError(f"cval must be finite; got {cval!r}")
    resolve_method(method, kernel.shape)

    dtype = _working_dtype(image)
    bank = kernel.astype(dtype, copy=False).reshape((-1,) + kernel.shape[-2:])
    kh, kw = bank.shape[1:]
    anchor = ((kh - 1) // 2, (kw - 1) // 2)
    if flip:
        # True convolution is correlation with the mirrored kernel, anchored at the mirrored anchor.
        bank = bank[:, ::-1, ::-1]
        anchor = (kh - 1 - anchor[0], kw - 1 - anchor[1])
    rows = plan_axis(image.shape[0], kh, anchor=anchor[0], stride=stride, dilation=dilation, padding=padding)
    cols = plan_axis(image.shape[1], kw, anchor=anchor[1], stride=stride, dilation=dilation, padding=padding)
    if rows.count == 0 or cols.count == 0:
        raise ParameterError(
            f"padding={padding!r} leaves no output: the kernel ({kh}x{kw}, dilation {dilation}) "
            f"does not fit the image ({image.shape[0]}x{image.shape[1]})"
        )

    out = np.empty((len(bank), rows.count, cols.count) + image.shape[2:], dtype=dtype)
    plan = _DirectPlan(image.astype(dtype, copy=False), rows, cols, boundary, cval)
    plan.run(bank, out, workers=os.cpu_count() or 1)
    return out if kernel.ndim == 3 else out[0]
