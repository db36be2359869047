"""Kernels of several channels: one output channel of a trained layer, and a depthwise-separable convolution.

Both apply to every channel of a picture at once, so both need as many channels as they have kernels.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from convcli.engine.layers import cnn_layer, factorised_weights, pointwise, separable_cost, standard_cost
from convcli.errors import KernelError, ParameterError
from convcli.kernels.entry import Composite, Convolve, Entry, Filtered, Summary, sha256
from convcli.kernels.kernel import BUILTIN_SOURCE, MAX_KERNEL_SIDE, Kernel, check_name

if TYPE_CHECKING:
    from convcli.engine.settings import Settings


def _channels(color: np.ndarray) -> list[np.ndarray]:
    return [color] if color.ndim == 2 else [color[..., c] for c in range(color.shape[2])]


@dataclass(frozen=True, eq=False)
class Layer(Entry):
    """One output channel of a trained convolution layer: ``I x kh x kw`` weights, one kernel per input
    channel, whose maps are summed (PyTorch's ``conv2d`` for that channel)."""

    name: str
    weights: np.ndarray
    description: str = ""
    source: str = BUILTIN_SOURCE

    def __post_init__(self) -> None:
        check_name(self.name, self.source)
        weights = np.asarray(self.weights)
        where = f"{self.source}: layer channel '{self.name}'"
        if weights.ndim != 3 or 0 in weights.shape or weights.dtype.kind not in "biuf":
            raise KernelError(f"{where}: must be I x kh x kw numbers, got shape {weights.shape}")
        if not np.all(np.isfinite(weights)):
            raise KernelError(f"{where}: holds NaN or infinite values")
        if max(weights.shape[1:]) > MAX_KERNEL_SIDE:
            raise KernelError(f"{where}: {weights.shape[1]}x{weights.shape[2]} kernels are larger than the limit "
                              f"of {MAX_KERNEL_SIDE} on a side")
        weights = np.array(weights, dtype=np.float64)
        weights.setflags(write=False)
        object.__setattr__(self, "weights", weights)

    @property
    def shape(self) -> tuple[int, int]:
        return self.weights.shape[1:]

    @property
    def zero_sum(self) -> bool:
        return abs(self.weights.sum()) <= 1e-9 * max(1.0, float(np.abs(self.weights).sum()))


    kind = "layer"
    per_channel = False

    @property
    def auto_map(self) -> str:
        return "abs" if self.zero_sum else "clip"

    def row_stages(self, settings: Settings) -> tuple[int, ...]:
        return (self.shape[0],)

    def flat(self) -> tuple[Kernel, ...]:
        raise KernelError(f"{self.source}: layer channel '{self.name}' is {self.weights.shape[0]} kernels summed "
                          "over the input channels, not one 2-D kernel")

    def apply(self, color: np.ndarray, alpha: np.ndarray | None, convolve: Convolve) -> Filtered:
        """Each input channel correlated with its own kernel, the maps summed (alpha-weighted like a kernel)."""
        channels = _channels(color)
        weights = self.weights
        if len(channels) != weights.shape[0]:
            raise ParameterError(f"{self.source}: layer channel '{self.name}' has {weights.shape[0]} input "
                                 f"channel{'s' * (weights.shape[0] != 1)}; the image has {len(channels)}"
                                 + (" (`gray` makes it one)" if weights.shape[0] == 1 else ""))
        if alpha is not None:  # premultiplied, like every other kernel: transparent colour never counts
            channels = [channel * alpha for channel in channels]
        total = sum(convolve(channel, kernel) for channel, kernel in zip(channels, weights))
        if alpha is not None and weights.any():
            magnitude = np.abs(weights).sum(axis=0)
            coverage = np.clip(convolve(alpha, magnitude) / magnitude.sum(), 0.0, 1.0)
            total = np.divide(total, coverage, out=np.zeros_like(total), where=coverage > 1e-6)
            alpha = coverage
        return Filtered(total, alpha, note=f"{self.source}: each map sums {weights.shape[0]} input channels, "
                                           "each correlated with its own kernel (PyTorch's conv2d)")

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "source": self.source, "shape": list(self.weights.shape),
                "sha256": sha256(self.weights)}

    def summary(self) -> Summary:
        inputs, height, width = self.weights.shape
        return Summary(f"{inputs} x {height}x{width}", f"{self.weights.sum():.4g}", "layer channel", "")

def _size(kernel: Kernel) -> str:
    size = f"{kernel.name} {kernel.summary().size}"
    if kernel.anchored:
        size += f" anchored at row {kernel.anchor[0]}, column {kernel.anchor[1]}"
    return size


@dataclass(frozen=True, eq=False)
class Depthwise(Composite):
    """A depthwise-separable convolution: one kernel per input channel, then (optionally) a ``O x C``
    pointwise matrix mixing the channels."""

    name: str
    kernels: tuple[Kernel, ...]
    pointwise: np.ndarray | None = None
    description: str = ""
    source: str = BUILTIN_SOURCE

    def __post_init__(self) -> None:
        check_name(self.name, self.source)
        if not self.kernels:
            raise KernelError(f"{self.source}: depthwise '{self.name}': holds no kernels")
        if len({k.shape for k in self.kernels}) > 1:  # as applied: of one size as given and one anchor
            shapes = ", ".join(_size(k) for k in self.kernels)
            what = "one size and anchor" if any(k.anchored for k in self.kernels) else "one size"
            raise KernelError(f"`depthwise` needs kernels of {what}, one per channel; got {shapes}")
        if self.pointwise is not None and self.pointwise.shape[1] != len(self.kernels):
            raise KernelError(f"the pointwise matrix is {self.pointwise.shape[0]}x{self.pointwise.shape[1]}: it "
                              f"needs one column per depthwise kernel ({len(self.kernels)})")

    kind = "depthwise"
    per_channel = False

    @property
    def structure(self) -> str:
        mix = f", then a {self.pointwise.shape[0]}x{self.pointwise.shape[1]} pointwise mix" \
            if self.pointwise is not None else ""
        return f"depthwise: one kernel per channel{mix}"

    @property
    def auto_map(self) -> str:
        signed = self.pointwise is None and all(k.signed for k in self.kernels)
        return "abs" if signed else "clip"

    def flat(self) -> tuple[Kernel, ...]:
        return self.kernels

    def row_stages(self, settings: Settings) -> None:
        return None  # its report times the full convolution it factorises, on the whole image

    def apply(self, color: np.ndarray, alpha: np.ndarray | None, convolve: Convolve) -> Filtered:
        """One kernel per channel, then the pointwise mix; timed against the full convolution it factorises."""
        channels = _channels(color)
        if len(channels) != len(self.kernels):
            raise ParameterError(f"`depthwise` needs one kernel per channel: the image has {len(channels)}, "
                                 f"{len(self.kernels)} kernels were given")
        started = time.perf_counter()
        results = [kernel.apply(channel, alpha, convolve) for channel, kernel in zip(channels, self.kernels)]
        maps = np.stack([result.color for result in results], axis=-1)
        middle = time.perf_counter()
        matrix = self.pointwise if self.pointwise is not None else np.eye(len(channels))
        mixed = pointwise(maps, matrix) if self.pointwise is not None else maps
        separable_ms = (time.perf_counter() - started) * 1e3
        depthwise_ms = (middle - started) * 1e3
        # The equivalent full convolution, for the report: O x C kernels, each a depthwise kernel scaled.
        weights = factorised_weights(np.stack([k.weights for k in self.kernels]), matrix)
        full_started = time.perf_counter()
        cnn_layer(np.dstack(channels), weights, **asdict(convolve.settings))
        full_ms = (time.perf_counter() - full_started) * 1e3
        positions = mixed.shape[0] * mixed.shape[1]
        kh, kw = self.kernels[0].given_weights.shape  # the layer's size: an anchor's zeros are not weights
        separable = separable_cost(len(channels), matrix.shape[0], (kh, kw), positions)
        standard = standard_cost(len(channels), matrix.shape[0], (kh, kw), positions)
        out = mixed[..., 0] if mixed.shape[2] == 1 else mixed
        note = (f"depthwise {len(channels)} x {kh}x{kw} ({depthwise_ms:.1f} ms)"
                + (f" + pointwise {len(channels)}→{matrix.shape[0]}" if self.pointwise is not None else "")
                + f": {separable.weights} weights, {separable.macs:,} multiply-adds, {separable_ms:.1f} ms; the full "
                f"convolution: {standard.weights} weights, {standard.macs:,} multiply-adds, {full_ms:.1f} ms")
        return Filtered(out, results[0].alpha, note=note)

    def describe(self) -> dict:
        described = {"name": self.name, "kind": self.kind, "combine": None,
                     "members": [k.describe() for k in self.kernels]}
        if self.pointwise is not None:
            described["pointwise_sha256"] = sha256(self.pointwise)
        return described

    def summary(self) -> Summary:
        height, width = self.kernels[0].given_weights.shape
        return Summary(f"{len(self.kernels)} x {height}x{width}", "", "depthwise", "")
