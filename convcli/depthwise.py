"""Multi-channel layers as deep learning builds them: full (CNN), depthwise and pointwise convolutions.

A standard convolution layer with weights ``O x I x kh x kw`` (PyTorch's layout) makes each of its
``O`` output maps by correlating every one of the ``I`` input channels with its own ``kh x kw``
kernel and summing the ``I`` results (:func:`cnn_layer`). Its *depthwise-separable* factorisation
(MobileNet) splits that in two: a depthwise step, one ``kh x kw`` kernel per channel and no mixing
(:func:`depthwise_conv2d`), then a pointwise step, a ``1 x 1`` convolution that mixes the channels
with an ``O x I`` matrix (:func:`pointwise`). The two agree exactly when the full weights are
``W[o, i] = M[o, i] * D[i]`` (:func:`factorised_weights`), and the factorised form needs
``kh·kw·I + I·O`` weights instead of ``kh·kw·I·O`` (:func:`standard_cost`, :func:`separable_cost`).

Every function here takes the options of :func:`convcli.conv2d` (stride, padding, boundary, cval,
dilation, flip, method) as keywords and applies them to each 2-D correlation it runs.
"""

from __future__ import annotations

import io
import re
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convcli.engine import conv2d
from convcli.errors import KernelError, ParameterError
from convcli.imageio import atomic_write
from convcli.kernels import MAX_KERNEL_SIDE, Bank, Chain, Depthwise, Entry, Kernel
from convcli.library import read_npy

__all__ = [
    "Cost",
    "Export",
    "SeparableRun",
    "cnn_layer",
    "compare_separable",
    "dense_cost",
    "depthwise_conv2d",
    "entry_kernels",
    "factorised_weights",
    "load_pointwise",
    "load_pytorch_weights",
    "parse_pointwise",
    "pointwise",
    "pointwise_matrix",
    "pytorch_bank",
    "separable_cost",
    "standard_cost",
    "write_pytorch_bank",
]


# --- checking arguments -------------------------------------------------------------------------------


def as_channels(image: object, name: str = "image") -> np.ndarray:
    """An ``H x W x C`` real array (``H x W`` becomes one channel)."""
    array = np.asarray(image)
    if array.dtype.kind not in "biuf":
        raise ParameterError(f"{name} must hold real numbers; got dtype {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or 0 in array.shape:
        raise ParameterError(f"{name} must be H x W or H x W x C; got shape {np.shape(image)}")
    return array


def _weights(weights: object, name: str, layout: str) -> np.ndarray:
    """A finite float64 array with one axis per letter group of ``layout`` (e.g. ``"O x I x kh x kw"``)."""
    array = np.asarray(weights)
    ndim = layout.count(" x ") + 1
    if array.dtype.kind not in "biuf":
        raise ParameterError(f"{name} must hold real numbers; got dtype {array.dtype}")
    if array.ndim != ndim or 0 in array.shape:
        raise ParameterError(f"{name} must be {layout}; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ParameterError(f"{name} holds NaN or infinite values")
    return array.astype(np.float64, copy=False)


def _result_dtype(image: np.ndarray) -> np.dtype:
    return np.dtype(np.float64) if image.dtype == np.float64 else np.dtype(np.float32)


# --- the three layers ---------------------------------------------------------------------------------


def depthwise_conv2d(image, bank, **options) -> np.ndarray:
    """Filter channel ``c`` of ``image`` with ``bank[c]`` alone: no mixing between channels.

    Parameters
    ----------
    image : array_like
        ``H x W x C`` (an ``H x W`` image is one channel).
    bank : array_like
        ``C x kh x kw``: one kernel per channel (PyTorch's ``groups=C`` weights without their
        singleton second axis).
    **options
        Passed to :func:`convcli.conv2d` for every channel (stride, padding, boundary, dilation, flip ...).

    Returns
    -------
    numpy.ndarray
        ``H' x W' x C``, float32 unless ``image`` is float64.

    Examples
    --------
    >>> image = np.zeros((3, 3, 2)); image[1, 1] = 1.0
    >>> out = depthwise_conv2d(image, [[[0, 0, 0], [0, 2, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 0], [0, 0, 3]]],
    ...                        boundary="zero")
    >>> out[..., 0].tolist(), out[0, 0, 1]
    ([[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]], np.float64(3.0))
    """
    image = as_channels(image)
    bank = _weights(bank, "bank", "C x kh x kw")
    channels = image.shape[2]
    if bank.shape[0] != channels:
        raise ParameterError(f"bank must hold one kernel per channel: the image has {channels} channel"
                             f"{'s' * (channels != 1)}, the bank {bank.shape[0]} kernel{'s' * (bank.shape[0] != 1)}")
    return np.stack([conv2d(image[:, :, c], bank[c], **options) for c in range(channels)], axis=-1)


def pointwise(maps, matrix) -> np.ndarray:
    """Mix the channels of ``maps``: a ``1 x 1`` convolution, ``out[..., o] = sum_c M[o, c] maps[..., c]``.

    Parameters
    ----------
    maps : array_like
        ``H x W x C`` (an ``H x W`` array is one channel).
    matrix : array_like
        ``O x C``; a flat list of ``C`` numbers is one output (``1 x C``), e.g. Rec. 601 luminance
        ``[0.299, 0.587, 0.114]``.

    Returns
    -------
    numpy.ndarray
        ``H x W x O``, float32 unless ``maps`` is float64.

    Examples
    --------
    >>> rgb = np.ones((2, 2, 3)) * [1.0, 0.5, 0.0]
    >>> pointwise(rgb, [0.299, 0.587, 0.114])[..., 0].round(4).tolist()
    [[0.5925, 0.5925], [0.5925, 0.5925]]
    """
    maps = as_channels(maps, "maps")
    if np.ndim(matrix) == 1:
        matrix = np.asarray(matrix)[None, :]
    matrix = _weights(matrix, "pointwise matrix", "O x C")
    if matrix.shape[1] != maps.shape[2]:
        raise ParameterError(f"pointwise matrix must have one column per channel: the maps have {maps.shape[2]} "
                             f"channels, the matrix is {matrix.shape[0]}x{matrix.shape[1]}")
    dtype = _result_dtype(maps)
    return (maps.astype(dtype, copy=False) @ matrix.T.astype(dtype)).astype(dtype, copy=False)


def cnn_layer(image, weights, *, bias=None, **options) -> np.ndarray:
    """A convolution layer as PyTorch's ``conv2d``: output map ``o`` is ``sum_i correlate(image[..., i], W[o, i])``.

    Parameters
    ----------
    image : array_like
        ``H x W x I`` (an ``H x W`` image is one channel).
    weights : array_like
        ``O x I x kh x kw``, PyTorch's layout (``layer.weight.detach().numpy()``).
    bias : array_like, optional
        ``O`` values added to the output maps.
    **options
        Passed to :func:`convcli.conv2d` (stride, padding, boundary, dilation ...). PyTorch's
        ``Conv2d(padding=P)`` is ``padding=P, boundary="zero"`` here.

    Returns
    -------
    numpy.ndarray
        ``O x H' x W'``: one feature map per output channel, float32 unless ``image`` is float64.

    Examples
    --------
    >>> image = np.zeros((3, 3, 2)); image[1, 1] = [1.0, 10.0]
    >>> weights = np.zeros((1, 2, 1, 1)); weights[0, :, 0, 0] = [2.0, 0.5]
    >>> cnn_layer(image, weights)[0, 1, 1]
    np.float64(7.0)
    """
    image = as_channels(image)
    weights = _weights(weights, "weights", "O x I x kh x kw")
    outputs, inputs = weights.shape[:2]
    if inputs != image.shape[2]:
        raise ParameterError(f"weights of shape {'x'.join(map(str, weights.shape))} (O x I x kh x kw) need {inputs} "
                             f"input channel{'s' * (inputs != 1)}; the image has {image.shape[2]}")
    out = conv2d(image[:, :, 0], weights[:, 0], **options)
    for i in range(1, inputs):  # one bank of O kernels per input channel, summed
        out += conv2d(image[:, :, i], weights[:, i], **options)
    if bias is not None:
        bias = _weights(np.ravel(bias), "bias", "O")
        if len(bias) != outputs:
            raise ParameterError(f"bias must hold one value per output channel ({outputs}); got {len(bias)}")
        out += bias.astype(out.dtype)[:, None, None]
    return out


def factorised_weights(bank, matrix) -> np.ndarray:
    """The ``O x C x kh x kw`` weights of the full convolution that depthwise ``bank`` + pointwise ``matrix`` equal.

    ``W[o, c] = matrix[o, c] * bank[c]``: :func:`cnn_layer` with these weights gives the same maps as
    ``pointwise(depthwise_conv2d(image, bank), matrix)`` (channels first instead of last).

    >>> factorised_weights([[[1, 2]], [[3, 4]]], [[1, 10]]).tolist()
    [[[[1.0, 2.0]], [[30.0, 40.0]]]]
    """
    bank = _weights(bank, "bank", "C x kh x kw")
    if np.ndim(matrix) == 1:
        matrix = np.asarray(matrix)[None, :]
    matrix = _weights(matrix, "pointwise matrix", "O x C")
    if matrix.shape[1] != bank.shape[0]:
        raise ParameterError(f"pointwise matrix must have one column per depthwise kernel ({bank.shape[0]}); "
                             f"it is {matrix.shape[0]}x{matrix.shape[1]}")
    return matrix[:, :, None, None] * bank[None]


# --- what they cost -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    """What one way of computing a layer costs: its learned parameters and its multiply-adds.

    ``weights`` and ``biases`` count parameters as PyTorch's ``sum(p.numel() for p in layer.parameters())``
    does with ``bias=True``; ``macs`` counts one multiply-add per weight and output position.
    ``weights_formula`` and ``macs_formula`` say how, in symbols.
    """

    name: str
    weights: int
    biases: int
    macs: int
    weights_formula: str
    macs_formula: str

    @property
    def parameters(self) -> int:
        """Weights plus biases."""
        return self.weights + self.biases

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.name, self.weights + other.weights, self.biases + other.biases, self.macs + other.macs,
                    self.weights_formula, self.macs_formula)


def standard_cost(in_channels: int, out_channels: int, kernel_shape: tuple[int, int], out_positions: int) -> Cost:
    """A full convolution ``C -> N`` with ``kh x kw`` kernels: ``kh·kw·C·N`` weights, ``N`` biases.

    >>> cost = standard_cost(3, 64, (3, 3), 224 * 224)
    >>> cost.parameters, cost.macs   # VGG-16's first layer
    (1792, 86704128)
    """
    kh, kw = kernel_shape
    weights = kh * kw * in_channels * out_channels
    return Cost("standard", weights, out_channels, out_positions * weights, "kh·kw·C·N", "H'·W'·kh·kw·C·N")


def separable_cost(in_channels: int, out_channels: int, kernel_shape: tuple[int, int], out_positions: int) -> Cost:
    """Depthwise ``kh x kw`` per channel, then pointwise ``C -> N``: ``kh·kw·C + C·N`` weights, ``C + N`` biases.

    >>> cost = separable_cost(3, 64, (3, 3), 224 * 224)
    >>> cost.parameters, cost.macs
    (286, 10988544)
    """
    kh, kw = kernel_shape
    weights = kh * kw * in_channels + in_channels * out_channels
    return Cost("depthwise-separable", weights, in_channels + out_channels, out_positions * weights,
                "kh·kw·C + C·N", "H'·W'·(kh·kw·C + C·N)")


def dense_cost(inputs: int, outputs: int) -> Cost:
    """A fully connected layer from every input value to every output value: ``inputs·outputs`` weights.

    >>> dense_cost(4 * 4 * 1, 2 * 2 * 1).parameters
    68
    """
    return Cost("fully connected", inputs * outputs, outputs, inputs * outputs, "(H·W·C)·(H'·W'·N)",
                "(H·W·C)·(H'·W'·N)")


@dataclass(frozen=True)
class SeparableRun:
    """A depthwise + pointwise run next to the full convolution it factorises, timed.

    ``maps`` is the factorised result (``H' x W' x O``); ``max_diff`` the largest difference from
    the full convolution with :func:`factorised_weights`.
    """

    maps: np.ndarray
    depthwise_ms: float
    pointwise_ms: float
    full_ms: float
    separable: Cost
    standard: Cost
    max_diff: float

    @property
    def separable_ms(self) -> float:
        return self.depthwise_ms + self.pointwise_ms

    @property
    def speedup(self) -> float:
        """How many times faster the factorised form ran than the full convolution."""
        return self.full_ms / max(self.separable_ms, 1e-9)


def compare_separable(image, bank, matrix, **options) -> SeparableRun:
    """Run depthwise ``bank`` then pointwise ``matrix`` on ``image``, and the equivalent full convolution.

    Returns the factorised maps with both timings, both costs and the largest difference between them
    (float32 rounding). The options are those of :func:`convcli.conv2d`.
    """
    image = as_channels(image)
    weights = factorised_weights(bank, matrix)
    started = time.perf_counter()
    depthwise = depthwise_conv2d(image, bank, **options)
    middle = time.perf_counter()
    maps = pointwise(depthwise, np.atleast_2d(matrix))
    finished = time.perf_counter()
    full = cnn_layer(image, weights, **options)
    full_ms = (time.perf_counter() - finished) * 1e3
    positions = maps.shape[0] * maps.shape[1]
    channels, outputs = image.shape[2], weights.shape[0]
    return SeparableRun(
        maps=maps, depthwise_ms=(middle - started) * 1e3, pointwise_ms=(finished - middle) * 1e3, full_ms=full_ms,
        separable=separable_cost(channels, outputs, weights.shape[2:], positions),
        standard=standard_cost(channels, outputs, weights.shape[2:], positions),
        max_diff=float(np.max(np.abs(np.moveaxis(full, 0, -1) - maps))))


# --- pointwise matrices from the command line ---------------------------------------------------------

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_pointwise(spec: str) -> np.ndarray:
    """An inline pointwise matrix: rows (output channels) split by ``;``, values by ``,`` or spaces.

    >>> parse_pointwise("0.299,0.587,0.114").tolist()
    [[0.299, 0.587, 0.114]]
    >>> parse_pointwise("1 0 0; 0 0 1").shape
    (2, 3)
    """
    rows = []
    for text in str(spec).strip().strip(";").split(";"):
        values = [value for value in re.split(r"[\s,]+", text.strip()) if value]
        if not values or not all(re.fullmatch(_NUMBER, value) for value in values):
            raise ParameterError(f"pointwise {spec!r}: {text.strip()!r} is not a list of numbers")
        rows.append([float(value) for value in values])
    if len({len(row) for row in rows}) != 1:
        raise ParameterError(f"pointwise {spec!r}: every row needs one value per channel; got rows of "
                             f"{', '.join(str(len(row)) for row in rows)} values")
    return _weights(rows, f"pointwise {spec!r}", "O x C")


def load_pointwise(path: Path | str) -> np.ndarray:
    """A pointwise matrix from a file: ``.npy`` (``O x C`` or ``C``) or TOML with ``matrix = [[...]]``.

    The TOML form is one top-level key ``matrix`` (rows of numbers, or one flat row) and an optional
    ``description``::

        description = "Rec. 601 luminance"
        matrix = [[0.299, 0.587, 0.114]]
    """
    path = Path(path)
    source = str(path)
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise KernelError(f"{source}: no such pointwise file") from None
        except (OSError, ValueError) as error:
            raise KernelError(f"{source}: not a readable .npy array ({error})") from None
    else:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KernelError(f"{source}: no such pointwise file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise KernelError(f"{source}: cannot read pointwise file ({error})") from None
        except tomllib.TOMLDecodeError as error:
            raise KernelError(f"{source}: not valid TOML: {error}") from None
        unknown = sorted(set(document) - {"matrix", "description"})
        if unknown:
            raise KernelError(f"{source}: unknown key '{unknown[0]}'; a pointwise file holds matrix = [[...]] "
                              "and an optional description")
        if "matrix" not in document:
            raise KernelError(f"{source}: needs matrix = [[...]] (one row of channel weights per output)")
        array = document["matrix"]
        if isinstance(array, list) and array and not isinstance(array[0], list):
            array = [array]
        if not isinstance(array, list) or not all(isinstance(row, list) for row in array) \
                or len({len(row) for row in array}) != 1 \
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for row in array for v in row):
            raise KernelError(f"{source}: matrix must be rows of numbers, all of the same length")
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[None, :]
    try:
        return _weights(array, "matrix", "O x C")
    except ParameterError as error:
        raise KernelError(f"{source}: {error}") from None


def pointwise_matrix(spec: str) -> np.ndarray:
    """``--pointwise`` as given: a ``.toml`` or ``.npy`` file, or an inline matrix (see :func:`parse_pointwise`)."""
    text = str(spec).strip()
    if text.lower().endswith((".toml", ".npy")):
        return load_pointwise(Path(text))
    return parse_pointwise(text)


# --- PyTorch weight files -----------------------------------------------------------------------------


def load_pytorch_weights(path: Path | str) -> np.ndarray:
    """Load ``O x I x kh x kw`` layer weights from ``.npy`` (e.g. ``np.save(f, conv.weight.detach().numpy())``).

    Returns a float64 array; every problem is a :class:`~convcli.errors.KernelError` naming the file.
    """
    source = str(path)
    array = read_npy(path)
    if array.ndim != 4:
        raise KernelError(f"{source}: layer weights must be 4-D, O x I x kh x kw (PyTorch's layout); got shape "
                          f"{array.shape}")
    if array.dtype.kind not in "biuf":
        raise KernelError(f"{source}: must hold numbers, got dtype {array.dtype}")
    if 0 in array.shape:
        raise KernelError(f"{source}: holds no weights (shape {array.shape})")
    if not np.all(np.isfinite(array)):
        raise KernelError(f"{source}: holds NaN or infinite values")
    if max(array.shape[2:]) > MAX_KERNEL_SIDE:
        raise KernelError(f"{source}: {array.shape[2]}x{array.shape[3]} kernels are larger than the limit of "
                          f"{MAX_KERNEL_SIDE} on a side")
    return array.astype(np.float64)


def entry_kernels(entries: Sequence[Entry]) -> list[Kernel]:
    """The 2-D kernels behind library entries: a kernel itself, a bank's members, a chain folded at stride 1."""
    kernels: list[Kernel] = []
    for entry in entries:
        if isinstance(entry, Bank):
            kernels.extend(entry.kernels)
        elif isinstance(entry, Chain):
            kernels.append(entry.fold())
        else:
            kernels.append(entry)
    return kernels


def depthwise_entry(entries: Sequence[Entry], pointwise_spec: str | None = None) -> Depthwise:
    """The ``--depthwise`` entry: the ``-k`` kernels (banks expanded, chains folded) one per channel,
    then the ``--pointwise`` matrix, when one is given."""
    kernels = tuple(entry_kernels(entries))
    matrix = pointwise_matrix(pointwise_spec) if pointwise_spec else None
    names = ", ".join(k.name for k in kernels)
    return Depthwise(name="separable" if matrix is not None else "depthwise", kernels=kernels, pointwise=matrix,
                     description=f"depthwise {names}" + (" then pointwise" if matrix is not None else ""),
                     source="--depthwise")


def pytorch_bank(kernels: Sequence[Kernel]) -> np.ndarray:
    """Kernels as one ``O x 1 x kh x kw`` float32 array: the weights of a ``Conv2d(1, O, (kh, kw))``.

    Each kernel is written as the correlation it performs (a kernel marked ``flip = true`` mirrored),
    because PyTorch's ``conv2d`` correlates. All kernels must have the same size.
    """
    if not kernels:
        raise KernelError("no kernels to export")
    shapes = {k.shape for k in kernels}
    if len(shapes) > 1:
        sizes = ", ".join(f"{k.name} is {k.shape[0]}x{k.shape[1]}" for k in kernels)
        raise KernelError(f"kernels of one O x I x kh x kw array must share a size: {sizes}")
    return np.stack([k.effective()[0] for k in kernels])[:, None].astype(np.float32)


@dataclass(frozen=True)
class Export:
    """What :func:`write_pytorch_bank` wrote: the file, its shape, the kernels in order, and notes."""

    path: Path
    shape: tuple[int, int, int, int]
    names: tuple[str, ...]
    notes: tuple[str, ...]


def write_pytorch_bank(path: Path | str, kernels: Sequence[Kernel]) -> Export:
    """Write ``kernels`` to ``path`` as ``.npy`` in PyTorch's ``O x I x kh x kw`` layout (``I = 1``, float32).

    ``torch.nn.Conv2d(1, O, (kh, kw), bias=False)`` with ``layer.weight.data = torch.from_numpy(np.load(path))``
    then computes what ``convcli apply`` computes with these kernels on a gray image (``boundary="zero"``
    and an integer padding on both sides). Biases are not part of the array; the notes name any that
    are dropped.
    """
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise ParameterError(f"export file must end in .npy; got {str(path)!r}")
    array = pytorch_bank(kernels)
    notes = tuple(f"'{k.name}' has bias {k.bias:g}, which the weights array cannot hold (PyTorch keeps it in "
                  "Conv2d.bias)" for k in kernels if k.bias)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()))
    return Export(path, tuple(array.shape), tuple(k.name for k in kernels), notes)
