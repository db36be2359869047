"""Choosing the engine path for a problem, once: the cost model's answer, recorded with the reason.

:func:`plan` works out where the outputs sit (:class:`~convcli.engine.geometry.AxisPlan` per axis),
factorises the kernels when the separable path may run, asks the cost model
(:mod:`convcli.engine.costmodel`) and returns a :class:`Choice` that :func:`convcli.engine.conv.execute`
then runs without deciding anything again.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from convcli.engine import costmodel
from convcli.engine import fft as fft_path
from convcli.engine import separable as separable_path
from convcli.engine.geometry import default_anchor, plan_axis
from convcli.engine.settings import Settings
from convcli.engine.threads import default_workers
from convcli.errors import ParameterError

#: ``method="auto"`` leaves the direct path, which sums the products as written, only when the cost
#: model expects another path to save at least this many milliseconds.
DIRECT_MARGIN_MS = 1.0

#: The paths whose every output is summed in an order its tile does not change, so that a band of
#: rows gives bit for bit what the whole image gives. The FFT path rounds relative to each tile's
#: transform, and the GEMM path's products by their shape: a band cannot reproduce those
#: (:class:`TileDependent`). The direct path's row products are BLAS too, but each output is one dot
#: product of a kernel column with ``kh`` inputs, in a fixed order whatever the product's width; the
#: separable path gives every product one shape wherever it is (see :mod:`convcli.engine.separable`).
#: Both are tested band against whole in test_bands.py (and row products across strip sizes in
#: test_paths.py).
BAND_EXACT_PATHS = ("direct", "separable")

#: Output bytes per row strip of the direct and separable paths (row products and GEMM take 4x and 8x this):
#: measured fastest on 12 MP images; smaller strips pay more per-call overhead, larger ones miss the cache.
STRIP_BYTES = 1 << 21


class TileDependent(Exception):
    """The whole image's path rounds by tile (FFT): a band of it cannot be computed bit for bit alike."""


@dataclass(frozen=True)
class Choice:
    """The path :func:`convcli.conv2d` runs and why: ``reason`` is one line for a report.

    ``problem`` holds what the path needs (the axis plans, the bank as correlation kernels, the
    factors of a separable kernel, the threads), so running it decides nothing again.
    """

    path: str
    reason: str
    estimates: dict[str, float] = field(repr=False)  # the cost model's milliseconds for every path
    problem: costmodel.Problem = field(repr=False)

    @property
    def factors(self) -> tuple[separable_path.Factors, ...] | None:
        return self.problem.factors

    def __iter__(self):  # unpacks as (path, reason)
        return iter((self.path, self.reason))


def check_kernel(kernel: object) -> np.ndarray:
    """``kernel`` as an array, when it is a non-empty finite ``kh x kw`` or ``N x kh x kw`` of numbers."""
    if isinstance(kernel, str):  # a name or a -k form: the API above the engine resolves those
        raise ParameterError(f"`kernel` must be an array of weights; got the string {kernel!r}: convcli.kernel"
                             f"({kernel!r}) gives its weights, and convcli.filter_image takes it as it is")
    array = np.asarray(kernel)
    if array.dtype.kind not in "biuf":
        raise ParameterError(f"`kernel` must hold real numbers; got dtype {array.dtype}")
    if array.ndim not in (2, 3):
        raise ParameterError(f"`kernel` must be kh x kw or a bank N x kh x kw; got shape {array.shape}")
    if 0 in array.shape:
        raise ParameterError(f"`kernel` is empty; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ParameterError("`kernel` holds NaN or infinite values")
    return array


def plan(image_shape: tuple[int, ...], kernel: np.ndarray, settings: Settings, dtype: np.dtype,
         *, known: bool = True, whole_shape: tuple[int, ...] | None = None, workers: int | None = None) -> Choice:
    """Choose the path for ``kernel`` (checked, ``kh x kw`` or ``N x kh x kw``) on an image of ``image_shape``.

    ``known=False`` treats the kernel as of full rank without looking at its values (no SVD).

    ``whole_shape`` says that the image is a band of rows of a larger one of that shape: the path is
    the one the whole image would take (with its reason), run on the band, so that the band's outputs
    are the whole image's bit for bit; :class:`TileDependent` when that path cannot promise it.
    ``workers`` overrides the threads (a band already runs on one of the pipeline's).
    """
    known = known and settings.method in ("auto", "separable")
    if whole_shape is None:
        problem = _problem(tuple(image_shape), kernel, settings, np.dtype(dtype), known=known)
        if workers is not None:
            problem = dataclasses.replace(problem, workers=workers)
        return _choose(problem, settings.method)
    whole_problem, whole = _whole_choice(tuple(whole_shape), kernel.tobytes(), kernel.shape, kernel.dtype.str,
                                         settings, np.dtype(dtype).str, known)
    if whole.path not in BAND_EXACT_PATHS:
        raise TileDependent(whole.reason)
    rows = whole_problem.rows
    band_rows = plan_axis(image_shape[0], rows.taps, anchor=rows.anchor, stride=rows.stride, dilation=rows.dilation,
                          padding=settings.padding)
    if band_rows.count == 0:
        raise TileDependent("the band leaves no output")
    problem = dataclasses.replace(whole_problem, rows=band_rows, workers=workers or whole_problem.workers)
    return Choice(whole.path, whole.reason, whole.estimates, problem)


@functools.lru_cache(maxsize=32)
def _whole_choice(whole_shape: tuple[int, ...], kernel: bytes, shape: tuple[int, ...], kernel_dtype: str,
                  settings: Settings, dtype: str, known: bool) -> tuple[costmodel.Problem, Choice]:
    """The whole image's problem and choice, planned once for all of its bands."""
    weights = np.frombuffer(kernel, dtype=kernel_dtype).reshape(shape)
    problem = _problem(whole_shape, weights, settings, np.dtype(dtype), known=known)
    return problem, _choose(problem, settings.method)


def choose_method(image_shape: tuple[int, ...], kernel, *, dtype=np.float32, **settings) -> Choice:
    """Which path :func:`convcli.conv2d` runs for these arguments, and why.

    ``kernel`` is the kernel or bank itself (its SVD rank decides whether the separable path applies)
    or only its shape (then it is taken to be of full rank); ``settings`` are the keyword options of
    :func:`convcli.conv2d`. The result unpacks as ``path, reason = choose_method(...)``; it also carries
    the cost model's estimate for every path.

    Examples
    --------
    >>> gaussian = np.exp(-np.linspace(-3, 3, 15) ** 2)
    >>> path, reason = choose_method((3000, 4000, 3), np.outer(gaussian, gaussian))
    >>> path, reason.split(";")[0]
    ('separable', 'separable: SVD rank 1, error 0e+00')
    >>> choose_method((3000, 4000, 3), (3, 3), method="fft").reason
    'fft: forced by method=fft'
    """
    settings = Settings(**settings)
    known = not (isinstance(kernel, tuple) and all(isinstance(n, (int, np.integer)) for n in kernel))
    if known:
        kernel = check_kernel(kernel)
    else:
        if len(kernel) not in (2, 3) or min(kernel) < 1:
            raise ParameterError(f"`kernel` must be kh x kw or a bank N x kh x kw; got shape {kernel}")
        # Values unknown: distinct taps of full rank, the direct path's worst case.
        kernel = np.arange(1, math.prod(kernel) + 1, dtype=np.float64).reshape(kernel) ** 1.5
    if len(image_shape) not in (2, 3) or min(image_shape) < 1:
        raise ParameterError(f"`image` must be H x W or H x W x C; got shape {tuple(image_shape)}")
    return plan(image_shape, kernel, settings, dtype, known=known)


def _problem(image_shape: tuple[int, ...], kernel: np.ndarray, settings: Settings, dtype: np.dtype,
             known: bool) -> costmodel.Problem:
    bank = kernel.astype(np.float64).reshape((-1,) + kernel.shape[-2:])
    kh, kw = bank.shape[1:]
    anchor = default_anchor((kh, kw))
    if settings.flip:
        # True convolution is correlation with the mirrored kernel, anchored at the mirrored anchor.
        bank = bank[:, ::-1, ::-1]
        anchor = (kh - 1 - anchor[0], kw - 1 - anchor[1])
    stride, dilation, padding = settings.stride, settings.dilation, settings.padding
    rows = plan_axis(image_shape[0], kh, anchor=anchor[0], stride=stride, dilation=dilation, padding=padding)
    cols = plan_axis(image_shape[1], kw, anchor=anchor[1], stride=stride, dilation=dilation, padding=padding)
    if rows.count == 0 or cols.count == 0:
        raise ParameterError(
            f"`padding`={padding!r} leaves no output: the kernel ({kh}x{kw}, dilation {dilation}) "
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
        if all(f.exact for f in problem.factors) and ranks[-1] > 1:  # separable.factorize's row-by-row split
            return f"separable: line by line (rank {rank}), exact"
        return f"separable: SVD rank {rank}, error {max(f.error for f in problem.factors):.0e}"
    kernels = f"bank of {n} {kh}x{kw} kernels" if n > 1 else f"{kh}x{kw} kernel"
    if path == "fft":
        shape = fft_path.tile_shape(problem.rows, problem.cols, problem.channels, problem.itemsize)
        return f"fft: {kernels}, {shape.fft_rows}x{shape.fft_cols} transforms"
    if path == "gemm":
        return f"gemm: {kernels}, one matrix product per row strip"
    taps = int(np.count_nonzero(problem.bank)) // n
    way = ", by row products" if costmodel.direct_rows(problem) else ""
    return f"direct: {kernels}" + (f", {taps} non-zero taps" if taps < kh * kw else "") + way


def _choose(problem: costmodel.Problem, method: str) -> Choice:
    estimates = costmodel.estimates(problem)
    if problem.factors is None:
        estimates.pop("separable")
    if method != "auto":
        what = f"{_describe(method, problem)}; " if method == "separable" and problem.factors else f"{method}: "
        return Choice(method, f"{what}forced by method={method}", estimates, problem)
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
    return Choice(path, reason, estimates, problem)
