"""The convolution engine: :func:`conv2d`, the choice of path, and the geometry it is built on.

Four paths compute the same thing (see ``convcli/paths``): ``direct`` adds a shifted view of the input
per kernel tap; ``separable`` runs a low-rank kernel (found by SVD) as pairs of 1-D passes; ``fft``
multiplies spectra tile by tile; ``gemm`` turns a bank of kernels into one matrix product per row
strip. All work on tiles: a tile reads a view of the image, or near its edges a small copy with the
boundary mode applied, so no path pads or unfolds the whole image. ``method="auto"`` asks the cost
model (:mod:`convcli.costmodel`) which path is cheapest for the shapes at hand.

The conventions are those of the contract (``shared/CONTRACT.md``): correlation by default, with the
anchor ``((kh - 1) // 2, (kw - 1) // 2)``; ``flip=True`` mirrors the offsets about the anchor, which
is true convolution and matches ``scipy.signal.convolve2d``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from convcli import costmodel
from convcli.errors import ParameterError
from convcli.geometry import AxisPlan, Window, plan_axis
from convcli.options import METHODS
from convcli.paths import default_workers
from convcli.paths import direct as direct_path
from convcli.paths import fft as fft_path
from convcli.paths import gemm as gemm_path
from convcli.paths import separable as separable_path

__all__ = [
    "BOUNDARIES",
    "BOUNDARY_ALIASES",
    "METHODS",
    "PADDINGS",
    "STRIP_BYTES",
    "AxisPlan",
    "Choice",
    "choose_method",
    "conv2d",
    "output_shape",
    "plan_axis",
    "resolve_boundary",
    "resolve_method",
    "resolve_padding",
]

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

#: ``method="auto"`` leaves the direct path, which sums the products as written, only when the cost
#: model expects another path to save at least this many milliseconds.
DIRECT_MARGIN_MS = 1.0

#: Output bytes per row strip of the direct path (the separable and GEMM paths take 2x and 8x this):
#: measured fastest on 12 MP images; smaller strips pay more per-call overhead, larger ones miss the cache.
STRIP_BYTES = 1 << 21


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


def _method_key(method: str) -> str:
    key = str(method).strip().lower()
    if key not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return key


@dataclass(frozen=True)
class Choice:
    """The path :func:`conv2d` runs and why: ``reason`` is one line for a report."""

    path: str
    reason: str
    estimates: dict[str, float] = field(repr=False)  # the cost model's milliseconds for every path
    factors: tuple[separable_path.Factors, ...] | None = field(default=None, repr=False)

    def __iter__(self):  # unpacks as (path, reason)
        return iter((self.path, self.reason))


def choose_method(image_shape: tuple[int, ...], kernel, *, method: str = "auto", stride: int = 1,
                  padding: str | int = "same", dilation: int = 1, flip: bool = False,
                  dtype=np.float32) -> Choice:
    """Which path :func:`conv2d` runs for these arguments, and why.

    ``kernel`` is the kernel or bank itself (its SVD rank decides whether the separable path applies)
    or only its shape (then it is taken to be of full rank). The result unpacks as
    ``path, reason = choose_method(...)``; it also carries the cost model's estimate for every path.

    Examples
    --------
    >>> gaussian = np.exp(-np.linspace(-3, 3, 15) ** 2)
    >>> path, reason = choose_method((3000, 4000, 3), np.outer(gaussian, gaussian))
    >>> path, reason.split(";")[0]
    ('separable', 'separable: SVD rank 1, error 0e+00')
    >>> choose_method((3000, 4000, 3), (3, 3), method="fft").reason
    'fft: forced by method=fft'
    """
    key = _method_key(method)
    if isinstance(kernel, tuple) and all(isinstance(n, (int, np.integer)) for n in kernel):
        if len(kernel) not in (2, 3) or min(kernel) < 1:
            raise ParameterError(f"kernel must be kh x kw or a bank N x kh x kw; got shape {kernel}")
        # Values unknown: distinct taps of full rank, the direct path's worst case.
        kernel = np.arange(1, math.prod(kernel) + 1, dtype=np.float64).reshape(kernel) ** 1.5
        known = False
    else:
        kernel = _check_kernel(kernel)
        known = True
    if len(image_shape) not in (2, 3) or min(image_shape) < 1:
        raise ParameterError(f"image must be H x W or H x W x C; got shape {tuple(image_shape)}")
    problem = _problem(tuple(image_shape), kernel, stride=_positive_int("stride", stride),
                       padding=resolve_padding(padding), dilation=_positive_int("dilation", dilation),
                       flip=bool(flip), dtype=np.dtype(dtype), known=known)
    return _choose(problem, key)


def resolve_method(method: str, kernel_shape: tuple[int, ...], image_shape: tuple[int, ...] = (3000, 4000, 3)) -> str:
    """The path :func:`conv2d` would run for ``method`` on a kernel of this shape (see :func:`choose_method`)."""
    return choose_method(image_shape, tuple(kernel_shape), method=method).path


def _problem(image_shape: tuple[int, ...], kernel: np.ndarray, *, stride: int, padding: str | int,
             dilation: int, flip: bool, dtype: np.dtype, known: bool) -> costmodel.Problem:
    bank = kernel.astype(np.float64).reshape((-1,) + kernel.shape[-2:])
    kh, kw = bank.shape[1:]
    anchor = ((kh - 1) // 2, (kw - 1) // 2)
    if flip:
        # True convolution is correlation with the mirrored kernel, anchored at the mirrored anchor.
        bank = bank[:, ::-1, ::-1]
        anchor = (kh - 1 - anchor[0], kw - 1 - anchor[1])
    rows = plan_axis(image_shape[0], kh, anchor=anchor[0], stride=stride, dilation=dilation, padding=padding)
    cols = plan_axis(image_shape[1], kw, anchor=anchor[1], stride=stride, dilation=dilation, padding=padding)
    if rows.count == 0 or cols.count == 0:
        raise ParameterError(
            f"padding={padding!r} leaves no output: the kernel ({kh}x{kw}, dilation {dilation}) "
            f"does not fit the image ({image_shape[0]}x{image_shape[1]})"
        )
    channels = image_shape[2] if len(image_shape) == 3 else 1
    factors = None
    if known:
        tolerance = separable_path.tolerance(dtype)
        factors = tuple(separable_path.factorize(k, tolerance=tolerance) for k in bank)
    # Small problems run on the calling thread: starting threads would cost more than it saves.
    small = rows.count * cols.count * channels * len(bank) * dtype.itemsize <= STRIP_BYTES
    workers = 1 if small else default_workers()
    return costmodel.Problem(rows, cols, channels, bank, dtype.itemsize, factors, workers, STRIP_BYTES)


def _describe(path: str, problem: costmodel.Problem) -> str:
    n, kh, kw = problem.bank.shape
    if path == "separable" and problem.factors:
        ranks = sorted({f.rank for f in problem.factors})
        rank = "/".join(map(str, ranks))
        return f"separable: SVD rank {rank}, error {max(f.error for f in problem.factors):.0e}"
    kernels = f"bank of {n} {kh}x{kw} kernels" if n > 1 else f"{kh}x{kw} kernel"
    if path == "fft":
        shape = fft_path.tile_shape(problem.rows, problem.cols, problem.channels, problem.itemsize)
        return f"fft: {kernels}, {shape.fft_rows}x{shape.fft_cols} transforms"
    if path == "gemm":
        return f"gemm: {kernels}, one matrix product per row strip"
    taps = int(np.count_nonzero(problem.bank)) // n
    return f"direct: {kernels}" + (f", {taps} non-zero taps" if taps < kh * kw else "")


def _choose(problem: costmodel.Problem, method: str) -> Choice:
    estimates = costmodel.estimates(problem)
    if problem.factors is None:
        estimates.pop("separable")
    if method != "auto":
        what = f"{_describe(method, problem)}; " if method == "separable" and problem.factors else f"{method}: "
        return Choice(method, f"{what}forced by method={method}", estimates, problem.factors)
    ranked = sorted(estimates, key=estimates.get)
    path, runner_up = ranked[0], ranked[1]
    note = ""
    if path != "direct" and estimates["direct"] - estimates[path] < DIRECT_MARGIN_MS:
        # The other paths round differently (transforms relative to the largest values, BLAS in its
        # own order); where they save next to nothing, the products are summed as written.
        path, runner_up = "direct", path
        note = f"; direct preferred when the saving is under {DIRECT_MARGIN_MS:g} ms"
    source = costmodel.load_coefficients().source
    reason = (f"{_describe(path, problem)}; cost model: {estimates[path]:.3g} ms vs {runner_up} "
              f"{estimates[runner_up]:.3g} ms ({source}){note}")
    return Choice(path, reason, estimates, problem.factors)


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
        ``auto`` (the cost model picks, see :func:`choose_method`), or force a path: ``direct``
        (shifted views per tap), ``separable`` (SVD rank-1 terms as 1-D passes), ``fft`` (overlap-save
        tiles) or ``gemm`` (a bank as one matrix product per row strip). Every path gives the same
        result to float32 rounding.

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
    if not isinstance(flip, (bool, np.bool_)):
        raise ParameterError(f"flip must be True or False; got {flip!r}")
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
    key = _method_key(method)

    dtype = _working_dtype(image)
    problem = _problem(image.shape, kernel, stride=stride, padding=padding, dilation=dilation, flip=flip,
                       dtype=dtype, known=key in ("auto", "separable"))
    choice = _choose(problem, key)
    work = image.astype(dtype, copy=False)
    work = work[:, :, None] if work.ndim == 2 else work
    window = Window(work, problem.rows, problem.cols, boundary, cval)
    bank = problem.bank.astype(dtype)
    out = np.empty((len(bank), problem.rows.count, problem.cols.count, work.shape[2]), dtype=dtype)
    workers = problem.workers
    if choice.path == "direct":
        direct_path.run(window, bank, out, workers=workers, budget=problem.budget("direct"))
    elif choice.path == "separable":
        separable_path.run(window, list(choice.factors), out, workers=workers, budget=problem.budget("separable"))
    elif choice.path == "fft":
        shape = fft_path.tile_shape(problem.rows, problem.cols, work.shape[2], dtype.itemsize)
        fft_path.run(window, bank, out, workers=workers, shape=shape)
    else:
        gemm_path.run(window, bank, out, workers=workers, budget=problem.budget("gemm"))
    out = out[..., 0] if image.ndim == 2 else out
    return out if kernel.ndim == 3 else out[0]
