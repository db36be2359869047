"""The least-squares kernel that maps one image to another: what training learns, in closed form.

Every position where a ``kh x kw`` kernel fits inside BEFORE gives one linear equation,
``sum_ij k[i, j] * before[y + i - ai, x + j - aj] = after[y, x]`` (the contract's correlation, so the
fitted kernel is applied as written, without ``--flip``). Stacking the windows as rows (im2col) gives
an over-determined system ``A k = b``; :func:`fit_kernel` solves it by least squares, the same answer
gradient descent on the mean squared error converges to for a single linear layer. Colour images
share one kernel across their channels (each channel adds its own equations). The rows are reduced
strip by strip with QR, as accurate as ``numpy.linalg.lstsq`` on the whole matrix (even for a smooth
BEFORE, whose windows are nearly collinear), so a large photo never needs its im2col matrix in memory.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convcli.engine.layers import as_channels
from convcli.errors import ParameterError
from convcli.imageio.atomic import atomic_write
from convcli.imageio.reading import load_image
from convcli.kernels.kernel import MAX_KERNEL_SIDE, check_table_name

__all__ = ["Fit", "check_target", "describe", "fit_images", "fit_kernel", "kernel_toml", "write_kernel_toml"]

#: Design-matrix values per strip (float64, about 1 MB: the QR of a strip stays in cache).
STRIP_VALUES = 1 << 17


@dataclass(frozen=True, eq=False)
class Fit:
    """A fitted kernel and how well it explains AFTER.

    ``weights`` is applied as written (correlation) with the contract's anchor; ``bias`` is the fitted
    constant (0 unless asked for). The residual is ``after - fitted`` over every equation (every valid
    position and channel); ``r_squared`` is the share of AFTER's variance the kernel explains.
    """

    weights: np.ndarray
    bias: float
    equations: int
    unknowns: int
    rank: int
    residual_rms: float
    target_rms: float  # RMS of AFTER about its mean, over the same positions
    channels: int
    image_shape: tuple[int, int]

    @property
    def shape(self) -> tuple[int, int]:
        return self.weights.shape

    @property
    def r_squared(self) -> float:
        if self.target_rms == 0:
            return 1.0 if self.residual_rms == 0 else 0.0
        return 1.0 - (self.residual_rms / self.target_rms) ** 2

    @property
    def determined(self) -> bool:
        """True when BEFORE pins down every weight (the windows span all ``kh·kw`` directions)."""
        return self.rank == self.unknowns


def _as_channels(image: object, name: str) -> np.ndarray:
    array = as_channels(image, name)
    if not np.all(np.isfinite(array)):
        raise ParameterError(f"{name} holds NaN or infinite values")
    return array.astype(np.float64, copy=False)


def _kernel_shape(size: int | tuple[int, int]) -> tuple[int, int]:
    shape = (size, size) if isinstance(size, int) and not isinstance(size, bool) else tuple(size)
    if len(shape) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) for n in shape):
        raise ParameterError(f"size must be an integer or (kh, kw); got {size!r}")
    if not all(1 <= n <= MAX_KERNEL_SIDE for n in shape):
        raise ParameterError(f"size must be from 1 to {MAX_KERNEL_SIDE}; got {size!r}")
    return shape


# Half of it is the numpydoc docstring with a doctest; the computation is the strip-by-strip QR.
def fit_kernel(before, after, size: int | tuple[int, int], *, bias: bool = False) -> Fit:
    """Find the ``size x size`` kernel (and optionally a bias) that best maps ``before`` to ``after``.

    Parameters
    ----------
    before, after : array_like
        Two images of the same size: ``H x W`` or ``H x W x C`` (the kernel is shared by the channels).
    size : int or (int, int)
        The kernel side, or ``(kh, kw)``.
    bias : bool
        Also fit a constant added after the sum.

    Returns
    -------
    Fit
        The kernel, the residual RMS, the rank of the problem and more.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> before = rng.random((20, 20))
    >>> after = 0.5 * before + 0.25 * np.roll(before, -1, axis=1)   # right neighbour, weight 1/4
    >>> fit = fit_kernel(before, after, 3)
    >>> (fit.weights.round(6) + 0.0).tolist(), fit.residual_rms < 1e-12   # + 0.0 turns -0.0 into 0.0
    ([[0.0, 0.0, 0.0], [0.0, 0.5, 0.25], [0.0, 0.0, 0.0]], True)
    """
    kh, kw = _kernel_shape(size)
    before = _as_channels(before, "before")
    after = _as_channels(after, "after")
    if before.shape[:2] != after.shape[:2]:
        raise ParameterError(f"before is {before.shape[0]}x{before.shape[1]} but after is "
                             f"{after.shape[0]}x{after.shape[1]}: fit needs two images of the same size")
    if before.shape[2] != after.shape[2]:
        raise ParameterError(f"before has {before.shape[2]} channels but after has {after.shape[2]}: fit needs "
                             "the same channels in both (convert both to gray)")
    height, width, channels = before.shape
    if kh > height or kw > width:
        raise ParameterError(f"size {kh}x{kw} is larger than the images ({height}x{width}): the kernel must fit "
                             "inside them at least once")
    rows, cols = height - kh + 1, width - kw + 1
    unknowns = kh * kw + bool(bias)
    equations = rows * cols * channels
    if equations < unknowns:
        raise ParameterError(f"a {kh}x{kw} kernel{' and a bias' if bias else ''} has {unknowns} unknowns but the "
                             f"{height}x{width} images give only {equations} equations (one per position where "
                             "the kernel fits, per channel); use a smaller size or larger images")
    ai, aj = (kh - 1) // 2, (kw - 1) // 2
    windows = sliding_window_view(before, (kh, kw), axis=(0, 1))  # rows x cols x C x kh x kw, a view
    targets = after[ai:ai + rows, aj:aj + cols]  # the output each window's anchor sits on
    # Tall-skinny QR of [A | b], strip by strip: R of every row so far stacked on the next strip. Strips
    # of a few thousand rows stay in cache, where Householder QR is fast.
    step = max(1, max(4 * unknowns, STRIP_VALUES // (unknowns + 1)) // (cols * channels))
    r_factor = np.zeros((unknowns + 1, unknowns + 1))
    total = total_sq = 0.0
    for y in range(0, rows, step):
        block = windows[y:y + step].reshape(-1, kh * kw)
        target = targets[y:y + step].reshape(-1, 1)
        columns = [block, np.ones((len(block), 1)), target] if bias else [block, target]
        strip_r = np.linalg.qr(np.vstack([r_factor, np.hstack(columns)]), mode="r")
        r_factor[:] = 0.0
        r_factor[:len(strip_r)] = strip_r
        total += float(target.sum())
        total_sq += float(np.sum(target * target))
    # A = Q R and [A | b] = Q [R | Q^T b]: solving R x = Q^T b is lstsq on A, and for any x
    # |A x - b| = |R_aug [x; -1]|.
    solution, _, rank, _ = np.linalg.lstsq(r_factor[:unknowns, :unknowns], r_factor[:unknowns, unknowns],
                                           rcond=None)
    squares = float(np.sum((r_factor @ np.append(solution, -1.0)) ** 2))
    mean = total / equations
    return Fit(weights=solution[:kh * kw].reshape(kh, kw), bias=float(solution[-1]) if bias else 0.0,
               equations=equations, unknowns=unknowns, rank=int(rank), residual_rms=math.sqrt(squares / equations),
               target_rms=math.sqrt(max(0.0, total_sq / equations - mean * mean)), channels=channels,
               image_shape=(height, width))


def fit_images(before: Path | str, after: Path | str, size: int | tuple[int, int], *, gray: bool = False,
               bias: bool = False) -> Fit:
    """:func:`fit_kernel` on two image files, read with :func:`convcli.imageio.reading.load_image` (alpha is ignored).

    Float TIFFs are used as they are, so a pair of float maps can be fitted without rounding.
    """
    first, second = load_image(before, gray=gray), load_image(after, gray=gray)
    if first.color.shape[:2] != second.color.shape[:2]:
        raise ParameterError(f"{before} is {first.height}x{first.width} but {after} is {second.height}x"
                             f"{second.width}: fit needs two images of the same size")
    if first.channels != second.channels:
        raise ParameterError(f"{before} has {first.channels} channel{'s' * (first.channels != 1)} but {after} has "
                             f"{second.channels}; add `gray` to fit on luminance")
    return fit_kernel(first.color, second.color, size, bias=bias)


def describe(fit: Fit, before: Path | str, after: Path | str) -> str:
    """A description for the TOML table: what was fitted to what, and how well."""
    kh, kw = fit.shape
    return (f"least-squares {kh}x{kw} fit mapping {Path(before).name} to {Path(after).name}; "
            f"residual RMS {fit.residual_rms:.3g}")


def _number(value: float) -> str:
    """A float as TOML that reads back as exactly the same float."""
    text = repr(float(value))
    return "0.0" if text == "-0.0" else text


def kernel_toml(name: str, fit: Fit, *, description: str = "") -> str:
    """A ``[kernels.NAME]`` table holding the fitted kernel; loading it gives back the same float64 weights.

    >>> fit = Fit(np.array([[0.5, 0.25]]), 0.0, 10, 2, 2, 0.0, 1.0, 1, (5, 5))
    >>> print(kernel_toml("half", fit, description="demo"), end="")
    [kernels.half]
    description = "demo"
    weights = [
      [0.5, 0.25],
    ]
    """
    check_table_name(name, "fit")
    lines = [f"[kernels.{name}]"]
    if description:
        lines.append(f"description = {_toml_string(description)}")
    lines.append("weights = [")
    lines += ["  [" + ", ".join(_number(v) for v in row) + "]," for row in fit.weights]
    lines.append("]")
    if fit.bias:
        lines.append(f"bias = {_number(fit.bias)}")
    return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def check_target(path: Path | str | None, name: str) -> None:
    """Raise before any work when ``name`` is not a valid kernel name or ``path`` cannot take it (see
    :func:`write_kernel_toml`)."""
    check_table_name(name, "fit")
    if path is not None:
        _existing(Path(path), name)


def _existing(path: Path, name: str) -> str:
    """The text of the kernel file at ``path`` ("" when there is none), checked to take a new ``name``."""
    if not path.exists():
        return ""
    try:
        old = path.read_text(encoding="utf-8")
        document = tomllib.loads(old)
    except (OSError, UnicodeDecodeError) as error:
        raise ParameterError(f"{path}: cannot read the kernel file to append to ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise ParameterError(f"{path}: not valid TOML, so the kernel cannot be appended: {error}") from None
    for kind, tables in document.items():
        if isinstance(tables, dict) and name in tables:
            raise ParameterError(f"{path} already defines '{name}' (in [{kind}]); choose another `kernel_name`")
    return old


def write_kernel_toml(path: Path | str, name: str, text: str) -> bool:
    """Write a ``[kernels.NAME]`` table to ``path``: a new file, or appended to an existing kernel file.

    Returns True when it was appended. An existing file must be valid TOML and must not define
    ``name`` already (in any table), so nothing of the user's is overwritten.
    """
    path = Path(path)
    old = _existing(path, name)
    if old:
        old += "\n" if old.endswith("\n") else "\n\n"
    atomic_write(path, lambda handle: handle.write((old + text).encode("utf-8")))
    return bool(old)
