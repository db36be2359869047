"""What a convolution layer does to shapes and costs, worked out with the numbers filled in.

:func:`explain` takes an input size, its channels, the number of kernels per layer and one or more
layers (kernel sizes, applied one after another with the same stride, padding and dilation, as in a
CNN) and returns an :class:`Explanation`: every output size with its formula, the receptive field of
the stack, and the parameters and multiply-adds of a standard convolution next to its
depthwise-separable factorisation and a fully connected layer on the same input. Nothing is quoted:
the figures are computed, and the output sizes agree with :func:`convcli.output_shape` (tested).

Output size per axis, for input ``H``, kernel ``k``, stride ``s``, dilation ``d``:

- an integer padding ``P``: PyTorch's ``floor((H + 2P - d(k - 1) - 1) / s) + 1``;
- ``valid``: the same with ``P = 0``; ``full``: with ``P = d(k - 1)``;
- ``same``: ``ceil(H / s)`` (TensorFlow's ``SAME``; PyTorch's ``padding="same"`` allows stride 1 only).

Receptive field of a stack: ``r = 1 + sum_l (k_l - 1)·d·j_l``, where ``j_l`` (the jump) is the product
of the strides of the layers before layer ``l``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from convcli.engine.geometry import plan_axis
from convcli.engine.layers import Cost, dense_cost, separable_cost, standard_cost
from convcli.engine.settings import positive_int, resolve_padding
from convcli.errors import ParameterError
from convcli.kernels.kernel import Kernel
from convcli.kernels.library import Library
from convcli.kernels.specs import resolve_kernels

__all__ = ["AxisShape", "Explanation", "Layer", "LayerKernel", "explain", "layer_kernels", "parse_size"]

_SIZE = re.compile(r"\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*")
_SHAPE = re.compile(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*")


def parse_size(text: str, name: str = "size", example: str = "224x224") -> tuple[int, int]:
    """``"224x224"`` -> ``(224, 224)`` (height x width); one number is a square.

    >>> parse_size("32x48"), parse_size("7")
    ((32, 48), (7, 7))
    """
    match = _SIZE.fullmatch(str(text))
    if not match:
        raise ParameterError(f"`{name}` must be HxW, e.g. {example}, or one number for a square; got {text!r}")
    height, width = int(match[1]), int(match[2] or match[1])
    if height < 1 or width < 1:
        raise ParameterError(f"`{name}` must be at least 1x1; got {text!r}")
    return height, width


@dataclass(frozen=True)
class LayerKernel:
    """A layer's kernel as far as shapes and costs go: a name and ``(kh, kw)``."""

    name: str
    shape: tuple[int, int]


def layer_kernels(specs: Sequence[str], library: Library) -> list[LayerKernel]:
    """The layers named by ``-k`` values, in order.

    A value is a bare size such as ``3x3`` or ``7x1``, or anything ``-k`` takes (see
    :func:`convcli.kernels.specs.resolve_kernels`): a kernel is one layer, a chain one layer per kernel,
    a bank one layer of its (equal-sized) kernels.
    """
    layers: list[LayerKernel] = []
    for spec in specs:
        match = _SHAPE.fullmatch(spec)
        if match:
            shape = (int(match[1]), int(match[2]))
            if min(shape) < 1:
                raise ParameterError(f"kernel size must be at least 1x1; got {spec!r}")
            layers.append(LayerKernel(f"{shape[0]}x{shape[1]}", shape))
            continue
        entries = [library[spec]] if spec in library else resolve_kernels([spec], library)
        members: list[Kernel] = []
        for entry in entries:
            steps = entry.sequence()
            if len(steps) > 1:  # a chain: one layer per step
                layers.extend(LayerKernel(k.name, k.shape) for k in steps)
            else:
                members.extend(entry.flat())
        if members:
            shapes = {k.shape for k in members}
            if len(shapes) > 1:
                raise ParameterError(f"kernel {spec!r}: a bank is one layer only when its kernels share a size; "
                                     f"got {', '.join(f'{h}x{w}' for h, w in sorted(shapes))}")
            layers.append(LayerKernel(spec if len(members) > 1 else members[0].name, shapes.pop()))
    return layers


@dataclass(frozen=True)
class AxisShape:
    """One axis of one layer: the input length, the output length and the formula that links them."""

    size: int
    taps: int
    stride: int
    dilation: int
    padding: str | int
    pad_before: int  # values the boundary supplies before the first input sample
    pad_after: int
    out: int
    formula: str  # in symbols, e.g. "floor((H + 2P - d·(kh - 1) - 1) / s) + 1"
    filled: str  # with the numbers, ending in "= out"


def _axis(size: int, taps: int, *, stride: int, dilation: int, padding: str | int, symbol: str,
          tap_symbol: str) -> AxisShape:
    d, s, k = dilation, stride, taps
    plan = plan_axis(size, taps, anchor=(taps - 1) // 2, stride=stride, dilation=dilation, padding=padding)
    if padding == "same":
        out = -(-size // s)
        formula, filled = f"ceil({symbol} / s)", f"ceil({size} / {s}) = {out}"
    else:
        span = d * (k - 1)
        if padding == "valid":
            out = (size - span - 1) // s + 1
            formula = f"floor(({symbol} - d·({tap_symbol} - 1) - 1) / s) + 1"
            filled = f"floor(({size} - {d}·({k} - 1) - 1) / {s}) + 1"
        elif padding == "full":
            out = (size + span - 1) // s + 1
            formula = f"floor(({symbol} + d·({tap_symbol} - 1) - 1) / s) + 1"
            filled = f"floor(({size} + {d}·({k} - 1) - 1) / {s}) + 1"
        else:
            out = (size + 2 * padding - span - 1) // s + 1
            formula = f"floor(({symbol} + 2P - d·({tap_symbol} - 1) - 1) / s) + 1"
            filled = f"floor(({size} + 2·{padding} - {d}·({k} - 1) - 1) / {s}) + 1"
        filled += f" = {out}"
    return AxisShape(size, taps, stride, dilation, padding, plan.pad_before, plan.pad_after, out, formula, filled)


@dataclass(frozen=True)
class Layer:
    """One convolution layer of the stack: shapes in and out, and three ways to compute it."""

    index: int  # 1-based
    kernel: LayerKernel
    in_shape: tuple[int, int, int]  # H, W, C
    out_shape: tuple[int, int, int]  # H', W', N
    rows: AxisShape
    cols: AxisShape
    receptive_field: tuple[int, int]  # input pixels one output of this layer depends on, through the layers before
    standard: Cost
    separable: Cost
    dense: Cost


@dataclass(frozen=True)
class Explanation:
    """Everything ``convcli explain`` prints; see :func:`explain`."""

    size: tuple[int, int]
    channels: int
    out_channels: int
    stride: int
    padding: str | int
    dilation: int
    layers: tuple[Layer, ...]
    receptive_field: tuple[int, int]
    receptive_filled: tuple[str, str]  # rows, cols: "1 + (3 - 1)·1·1 = 3"

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return self.layers[-1].out_shape

    def total(self, kind: str) -> Cost:
        """The ``standard``, ``separable`` or ``dense`` cost summed over the layers."""
        costs = [getattr(layer, kind) for layer in self.layers]
        total = costs[0]
        for cost in costs[1:]:
            total = total + cost
        return total

    @property
    def mac_saving(self) -> float:
        """How many times fewer multiply-adds the depthwise-separable form needs."""
        return self.total("standard").macs / self.total("separable").macs

    @property
    def saving_formula(self) -> str | None:
        """``1 / (1/N + 1/(kh·kw)) = ...``: the multiply-add saving of every layer, when they share a kernel size.

        Per layer, ``kh·kw·C·N / (kh·kw·C + C·N) = 1 / (1/N + 1/(kh·kw))``: it does not depend on ``C``.
        """
        shapes = {layer.kernel.shape for layer in self.layers}
        if len(shapes) != 1:
            return None
        kh, kw = shapes.pop()
        n = self.out_channels
        return f"1 / (1/{n} + 1/{kh * kw}) = {1 / (1 / n + 1 / (kh * kw)):.2f}"


def _receptive(layers: Sequence[LayerKernel], axis: int, stride: int, dilation: int) -> tuple[int, str]:
    field, jump, terms = 1, 1, []
    for layer in layers:
        k = layer.shape[axis]
        field += (k - 1) * dilation * jump
        terms.append(f"({k} - 1)·{dilation}·{jump}")
        jump *= stride
    return field, f"1 + {' + '.join(terms)} = {field}"


def explain(size: tuple[int, int], layers: Sequence[LayerKernel], *, channels: int = 3, out_channels: int = 64,
            stride: int = 1, padding: str | int = "same", dilation: int = 1) -> Explanation:
    """Work out shapes, receptive field and costs of a stack of convolution layers.

    Parameters
    ----------
    size : (int, int)
        The input's height and width.
    layers : sequence of LayerKernel
        The kernels, one per layer, applied one after another (see :func:`layer_kernels`).
    channels : int
        Input channels ``C`` of the first layer; later layers take the ``out_channels`` maps before them.
    out_channels : int
        Kernels per layer: the output channels ``N``.
    stride, padding, dilation
        As in :func:`convcli.conv2d`, the same for every layer.

    Examples
    --------
    >>> ex = explain((224, 224), [LayerKernel("3x3", (3, 3))], channels=3, out_channels=64, padding=1)
    >>> ex.out_shape, ex.layers[0].rows.filled
    ((224, 224, 64), 'floor((224 + 2·1 - 1·(3 - 1) - 1) / 1) + 1 = 224')
    >>> ex.total("standard").parameters, ex.total("separable").parameters, round(ex.mac_saving, 2)
    (1792, 286, 7.89)
    """
    height, width = size
    positive_int("height", height)
    positive_int("width", width)
    channels = positive_int("channels", channels)
    out_channels = positive_int("out_channels", out_channels)
    stride = positive_int("stride", stride)
    dilation = positive_int("dilation", dilation)
    padding = resolve_padding(padding)
    if not layers:
        raise ParameterError("explain needs at least one kernel (-k 3x3, -k sobel_x, ...)")
    built: list[Layer] = []
    shape = (height, width, channels)
    for index, kernel in enumerate(layers, start=1):
        kh, kw = kernel.shape
        options = dict(stride=stride, dilation=dilation, padding=padding)
        rows = _axis(shape[0], kh, symbol="H", tap_symbol="kh", **options)
        cols = _axis(shape[1], kw, symbol="W", tap_symbol="kw", **options)
        if rows.out < 1 or cols.out < 1:
            raise ParameterError(
                f"padding {padding!r} leaves no output at layer {index}: the {kh}x{kw} kernel '{kernel.name}' "
                f"(dilation {dilation}) does not fit its {shape[0]}x{shape[1]} input")
        out = (rows.out, cols.out, out_channels)
        positions = rows.out * cols.out
        field = (_receptive(layers[:index], 0, stride, dilation)[0], _receptive(layers[:index], 1, stride, dilation)[0])
        built.append(Layer(
            index=index, kernel=kernel, in_shape=shape, out_shape=out, rows=rows, cols=cols, receptive_field=field,
            standard=standard_cost(shape[2], out_channels, (kh, kw), positions),
            separable=separable_cost(shape[2], out_channels, (kh, kw), positions),
            dense=dense_cost(shape[0] * shape[1] * shape[2], positions * out_channels)))
        shape = out
    field_rows, filled_rows = _receptive(layers, 0, stride, dilation)
    field_cols, filled_cols = _receptive(layers, 1, stride, dilation)
    return Explanation(size=(height, width), channels=channels, out_channels=out_channels, stride=stride,
                       padding=padding, dilation=dilation, layers=tuple(built),
                       receptive_field=(field_rows, field_cols), receptive_filled=(filled_rows, filled_cols))
