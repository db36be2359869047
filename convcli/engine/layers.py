"""Multi-channel layers as deep learning builds them: full (CNN), depthwise and pointwise convolutions, and their costs.

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

from dataclasses import dataclass

import numpy as np

from convcli.engine.conv import conv2d
from convcli.errors import ParameterError


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


def check_weights(weights: object, name: str, layout: str) -> np.ndarray:
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
    bank = check_weights(bank, "bank", "C x kh x kw")
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
    matrix = check_weights(matrix, "pointwise matrix", "O x C")
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
    weights = check_weights(weights, "weights", "O x I x kh x kw")
    outputs, inputs = weights.shape[:2]
    if inputs != image.shape[2]:
        raise ParameterError(f"weights of shape {'x'.join(map(str, weights.shape))} (O x I x kh x kw) need {inputs} "
                             f"input channel{'s' * (inputs != 1)}; the image has {image.shape[2]}")
    out = conv2d(image[:, :, 0], weights[:, 0], **options)
    for i in range(1, inputs):  # one bank of O kernels per input channel, summed
        out += conv2d(image[:, :, i], weights[:, i], **options)
    if bias is not None:
        bias = check_weights(np.ravel(bias), "bias", "O")
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
    bank = check_weights(bank, "bank", "C x kh x kw")
    if np.ndim(matrix) == 1:
        matrix = np.asarray(matrix)[None, :]
    matrix = check_weights(matrix, "pointwise matrix", "O x C")
    if matrix.shape[1] != bank.shape[0]:
        raise ParameterError(f"pointwise matrix must have one column per depthwise kernel ({bank.shape[0]}); "
                             f"it is {matrix.shape[0]}x{matrix.shape[1]}")
    return matrix[:, :, None, None] * bank[None]


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
