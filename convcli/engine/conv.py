"""The engine's entry point: :func:`conv2d` checks its arguments once, plans once, and runs the path chosen.

Four paths compute the same thing: ``direct`` sums the taps' products as written (a shifted view
of the input per tap, or one small matrix product per output row that combines the kernel's rows);
``separable`` runs a low-rank kernel (found by SVD) as pairs of 1-D passes; ``fft`` multiplies spectra
tile by tile; ``gemm`` turns a bank of kernels into one matrix product per row strip. All work on
tiles: a tile reads a view of the image, or near its edges a small copy with the boundary mode
applied (:class:`~convcli.engine.geometry.Window`), so no path pads or unfolds the whole image.

The conventions are those of the contract: correlation by default, with the anchor
``((kh - 1) // 2, (kw - 1) // 2)``; ``flip=True`` mirrors the offsets about the anchor, which is true
convolution and matches ``scipy.signal.convolve2d``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convcli.choices import DEFAULT_BOUNDARY
from convcli.engine import costmodel
from convcli.engine import direct as direct_path
from convcli.engine import fft as fft_path
from convcli.engine import gemm as gemm_path
from convcli.engine import missing as missing_values
from convcli.engine import separable as separable_path
from convcli.engine.geometry import Window, centre, plan_axis
from convcli.engine.plan import Choice, TileDependent, check_kernel, plan
from convcli.engine.settings import Settings, positive_int, resolve_padding
from convcli.errors import ParameterError


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
    stride, dilation = positive_int("stride", stride), positive_int("dilation", dilation)
    return tuple(
        plan_axis(n, k, anchor=centre(k), stride=stride, dilation=dilation, padding=padding).count
        for n, k in zip(image_shape[:2], kernel_shape)
    )


def working_dtype(image: np.ndarray) -> np.dtype:
    """The engine computes in float64 for float64 images and in float32 for everything else."""
    return np.dtype(np.float64) if image.dtype == np.float64 else np.dtype(np.float32)


def check_image(image: object) -> np.ndarray:
    """``image`` as an array, when it is a non-empty ``H x W`` or ``H x W x C`` of real numbers."""
    array = np.asarray(image)
    if array.dtype.kind not in "biuf":
        raise ParameterError(f"`image` must hold real numbers; got dtype {array.dtype}")
    if array.ndim not in (2, 3):
        raise ParameterError(f"`image` must be H x W or H x W x C; got shape {array.shape}")
    if 0 in array.shape:
        raise ParameterError(f"`image` is empty; got shape {array.shape}")
    return array


def conv2d(image, kernel, *, stride: int = 1, padding: str | int = "same", boundary: str = DEFAULT_BOUNDARY,
           cval: float = 0.0, dilation: int = 1, flip: bool = False, method: str = "auto", nan: str = "propagate",
           nodata: float | None = None) -> np.ndarray:
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
        (the products as written: shifted views per tap, or row products), ``separable`` (SVD rank-1
        terms as 1-D passes), ``fft`` (overlap-save tiles) or ``gemm`` (a bank as one matrix product
        per row strip). Every path gives the same result to float32 rounding.
    nan : {"propagate", "ignore", "fill"}
        What missing inputs (NaN, infinities, and ``nodata``) do, the same on every path (see
        :mod:`convcli.engine.missing`). ``propagate``: only the outputs whose non-zero taps read one are
        missing, the rest are exact. ``ignore``: they are left out and the other taps' weights rescaled
        (normalised convolution); an output all of whose taps read missing inputs is missing. ``fill``:
        they read as ``cval``.
    nodata : float, optional
        A value that marks missing inputs, as NaN does; missing outputs then hold it in place of NaN.

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
    >>> holed = np.ones((1, 5)); holed[0, 2] = np.nan
    >>> conv2d(holed, [[1, 1, 1]], boundary="edge")          # only the outputs that read the NaN
    array([[ 3., nan, nan, nan,  3.]])
    >>> conv2d(holed, [[1, 1, 1]], boundary="edge", nan="ignore")   # the others' weights rescaled
    array([[3., 3., 3., 3., 3.]])
    """
    settings = Settings(stride=stride, padding=padding, boundary=boundary, cval=cval, dilation=dilation, flip=flip,
                        method=method, nan=nan, nodata=nodata)
    image, kernel = check_image(image), check_kernel(kernel)
    return execute(image, kernel, settings, plan(image.shape, kernel, settings, working_dtype(image)))


def execute(image: np.ndarray, kernel: np.ndarray, settings: Settings, choice: Choice, *,
            whole_shape: tuple[int, ...] | None = None, workers: int | None = None,
            first_row: int | None = 0) -> np.ndarray:
    """Run ``choice`` (from :func:`~convcli.engine.plan.plan` with the same arguments) on checked arrays;
    ``whole_shape`` and ``workers`` as there, for the passes over the missing values' masks. ``first_row``:
    for a band of rows, the whole image's output row its first output row is (see
    :func:`convcli.engine.separable.run`); None when unknown, which the separable path refuses
    (:class:`~convcli.engine.plan.TileDependent`)."""
    dtype = working_dtype(image)
    # The paths copy a pixel's channels as one item (geometry.pixels), so they must lie side by side in
    # memory: a view that reverses or skips channels, a Fortran-ordered or a transposed channel-first
    # array is made C-ordered (once, in the working dtype). Any other view is read as it is.
    channels_apart = image.ndim == 3 and image.shape[2] > 1 and image.strides[2] != image.itemsize
    work = np.ascontiguousarray(image, dtype=dtype) if channels_apart else image.astype(dtype, copy=False)
    work = work[:, :, None] if work.ndim == 2 else work
    missing = out = None
    given = image if image.ndim == 3 else image[:, :, None]
    if settings.nodata is not None or (image.dtype.kind == "f" and _loses_taps(choice.problem.bank, dtype)):
        missing = missing_values.find_missing(given, settings.nodata)
    elif image.dtype.kind == "f":  # (integers are never NaN) filtered first, searched only if an output is not finite
        watch = missing_values.FiniteWatch()
        with np.errstate(invalid="ignore"):  # inf - inf, 0 * inf: a non-finite output is not kept as it is
            out = _run(work, settings, choice, watch=watch, first_row=first_row)
        if not watch.finite:
            missing = missing_values.find_missing(given, None)
            if missing is None:  # finite values overflowed: filtered again, to warn as the caller's errstate says
                out = None
    if missing is None:
        out = _run(work, settings, choice, first_row=first_row) if out is None else out
    else:
        out = None  # (the first run's outputs, if any, are not needed beside the masks)
        masks_settings = dataclasses.replace(settings, cval=0.0, method="auto")

        def masks(image: np.ndarray, masks_bank: np.ndarray) -> np.ndarray:
            masks_plan = plan(image.shape, masks_bank, masks_settings, image.dtype, whole_shape=whole_shape,
                              workers=workers)
            if masks_plan.path == "separable" and first_row is None:
                raise TileDependent("the missing values' masks take the separable path, off the band's own rows")
            return _run(image, masks_settings, masks_plan, first_row=first_row)

        bank = kernel if kernel.ndim == 3 else kernel[None]
        def values(image: np.ndarray) -> np.ndarray:
            return _run(image, settings, choice, first_row=first_row)

        out = missing_values.treat(work, missing, bank, settings, values, masks)
    out = out[..., 0] if image.ndim == 2 else out
    return out if kernel.ndim == 3 else out[0]


def _loses_taps(bank: np.ndarray, dtype: np.dtype) -> bool:
    """Whether a non-zero weight rounds to 0 in ``dtype``: the paths would skip it, but a missing input it
    reads still makes its output missing, so the image must be searched before it is filtered."""
    return bool(np.any((bank != 0) & (bank.astype(dtype) == 0)))


def _run(work: np.ndarray, settings: Settings, choice: Choice,
         watch: missing_values.FiniteWatch | None = None, first_row: int | None = 0) -> np.ndarray:
    """The path ``choice`` names on ``work`` (``H x W x C`` in the working dtype): ``N x rows x cols x C``,
    each tile checked by ``watch`` when given; ``first_row`` as in :func:`execute`."""
    problem, dtype = choice.problem, work.dtype
    window = Window(work, problem.rows, problem.cols, settings.boundary, settings.cval)
    bank = problem.bank.astype(dtype)
    out = np.empty((len(bank), problem.rows.count, problem.cols.count, work.shape[2]), dtype=dtype)
    workers = problem.workers
    after = watch.tiles_of(out) if watch is not None else None
    if choice.path == "direct":
        rows = costmodel.direct_rows(problem)
        direct_path.run(window, bank, out, workers=workers, budget=problem.budget("rows" if rows else "direct"),
                        rows=rows, after=after)
    elif choice.path == "separable":
        separable_path.run(window, list(problem.factors), out, workers=workers, budget=problem.budget("separable"),
                           after=after, first_row=first_row or 0)
    elif choice.path == "fft":
        shape = fft_path.tile_shape(problem.rows, problem.cols, work.shape[2], dtype.itemsize)
        fft_path.run(window, bank, out, workers=workers, shape=shape, after=after)
    else:
        gemm_path.run(window, bank, out, workers=workers, budget=problem.budget("gemm"), after=after)
    return out
