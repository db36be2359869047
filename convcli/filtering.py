"""Applying a kernel, a bank or a chain to a picture: alpha, bias, stacks, chains and ``--verify``."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from convcli.alpha import conv2d_with_alpha
from convcli.depthwise import cnn_layer, factorised_weights, pointwise, separable_cost, standard_cost
from convcli.engine import Choice, choose_method, conv2d
from convcli.errors import ParameterError, VerificationError
from convcli.imageio import Picture
from convcli.kernels import Chain, Depthwise, Entry, Kernel, Layer
from convcli.mapping import resolve_map
from convcli.stacks import combine


class Engine:
    """:func:`conv2d` with a run's settings; with ``verify`` it checks every call against scipy.signal."""

    def __init__(self, *, stride: int, padding, boundary: str, cval: float, dilation: int, method: str,
                 verify: bool = False):
        self.kwargs = dict(stride=stride, padding=padding, boundary=boundary, cval=cval, dilation=dilation,
                           method=method)
        self.verify = verify
        self.max_diff: float | None = 0.0 if verify else None
        self.verify_ms = 0.0
        self.choices: list[Choice] = []  # the engine path of every call, with the cost model's reason

    def __call__(self, image: np.ndarray, kernel: np.ndarray, flip: bool) -> np.ndarray:
        options = {k: v for k, v in self.kwargs.items() if k not in ("boundary", "cval", "method")}
        choice = choose_method(image.shape, np.asarray(kernel), method=self.kwargs["method"], flip=flip,
                               dtype=np.float64 if image.dtype == np.float64 else np.float32, **options)
        self.choices.append(choice)
        out = conv2d(image, kernel, flip=flip, **{**self.kwargs, "method": choice.path})
        if self.verify:
            from convcli.verify import reference_conv2d

            started = time.perf_counter()
            options = {k: v for k, v in self.kwargs.items() if k != "method"}
            reference = reference_conv2d(image, kernel, flip=flip, **options)
            diff = float(np.max(np.abs(out - reference)))
            # float32 sums of many taps: allow a few ulps of the largest possible |sum|.
            scale = float(np.abs(kernel).sum() * max(1.0, np.max(np.abs(image))))
            tolerance = scale * (1e-5 if out.dtype == np.float32 else 1e-12)
            if not diff <= tolerance:
                raise VerificationError(f"result differs from scipy.signal by {diff:.3g} (tolerance {tolerance:.3g})")
            self.max_diff = max(self.max_diff, diff)
            self.verify_ms += (time.perf_counter() - started) * 1e3
        return out


@dataclass
class Filtered:
    """The float feature map of one entry on one picture (before mapping to pixels)."""

    color: np.ndarray
    alpha: np.ndarray | None
    note: str = ""


def _channels(color: np.ndarray) -> list[np.ndarray]:
    return [color] if color.ndim == 2 else [color[..., c] for c in range(color.shape[2])]


def _apply_layer(picture: Picture, layer: Layer, engine: Engine, flip: bool) -> Filtered:
    """A trained layer's output channel: each input channel correlated with its kernel, summed."""
    channels = _channels(picture.color)
    if len(channels) != layer.weights.shape[0]:
        raise ParameterError(f"{layer.source}: layer channel '{layer.name}' has {layer.weights.shape[0]} input "
                             f"channel{'s' * (layer.weights.shape[0] != 1)}; the image has {len(channels)}"
                             + (" (--gray makes it one)" if layer.weights.shape[0] == 1 else ""))
    weights = layer.weights
    alpha = picture.alpha
    if alpha is not None:  # premultiplied, like every other kernel: transparent colour never counts
        channels = [channel * alpha for channel in channels]
    total = sum(engine(channel, kernel, flip) for channel, kernel in zip(channels, weights))
    if alpha is not None and weights.any():
        magnitude = np.abs(weights).sum(axis=0)
        coverage = np.clip(engine(alpha, magnitude, flip) / magnitude.sum(), 0.0, 1.0)
        total = np.divide(total, coverage, out=np.zeros_like(total), where=coverage > 1e-6)
        alpha = coverage
    return Filtered(total, alpha, note=f"{layer.source}: each map sums {weights.shape[0]} input channels, "
                                       "each correlated with its own kernel (PyTorch's conv2d)")


def _apply_depthwise(picture: Picture, entry: Depthwise, engine: Engine, flip: bool) -> Filtered:
    """One kernel per channel, then the pointwise mix; timed against the full convolution it factorises."""
    channels = _channels(picture.color)
    if len(channels) != len(entry.kernels):
        raise ParameterError(f"--depthwise needs one kernel per channel: the image has {len(channels)}, "
                             f"{len(entry.kernels)} kernels were given")
    started = time.perf_counter()
    results = [_apply_kernel(channel, picture.alpha, kernel, engine, flip)
               for channel, kernel in zip(channels, entry.kernels)]
    maps = np.stack([color for color, _ in results], axis=-1)
    middle = time.perf_counter()
    matrix = entry.pointwise if entry.pointwise is not None else np.eye(len(channels))
    mixed = pointwise(maps, matrix) if entry.pointwise is not None else maps
    separable_ms = (time.perf_counter() - started) * 1e3
    depthwise_ms = (middle - started) * 1e3
    # The equivalent full convolution, for the report: O x C kernels, each a depthwise kernel scaled.
    weights = factorised_weights(np.stack([k.weights for k in entry.kernels]), matrix)
    full_started = time.perf_counter()
    cnn_layer(np.dstack(channels), weights, flip=flip, **engine.kwargs)
    full_ms = (time.perf_counter() - full_started) * 1e3
    positions = mixed.shape[0] * mixed.shape[1]
    kh, kw = entry.kernels[0].shape
    separable = separable_cost(len(channels), matrix.shape[0], (kh, kw), positions)
    standard = standard_cost(len(channels), matrix.shape[0], (kh, kw), positions)
    color = mixed[..., 0] if mixed.shape[2] == 1 else mixed
    note = (f"depthwise {len(channels)} x {kh}x{kw} ({depthwise_ms:.1f} ms)"
            + (f" + pointwise {len(channels)}→{matrix.shape[0]}" if entry.pointwise is not None else "")
            + f": {separable.weights} weights, {separable.macs:,} multiply-adds, {separable_ms:.1f} ms; the full "
            f"convolution: {standard.weights} weights, {standard.macs:,} multiply-adds, {full_ms:.1f} ms")
    return Filtered(color, results[0][1], note=note)


def filter_many(picture: Picture, entries: list[Entry], engine: Engine, *, flip: bool = False) -> list[Filtered]:
    """:func:`filter_picture` for each entry; plain kernels of one shape and direction on an opaque
    picture go to the engine as one bank, which its GEMM path computes far faster than one by one."""
    plain = [e for e in entries if isinstance(e, Kernel) and not e.note]
    if picture.alpha is None and len(plain) == len(entries) > 1 and len({(k.shape, k.flip) for k in plain}) == 1:
        stack = engine(picture.color, np.stack([k.weights for k in plain]), flip != plain[0].flip)
        results = []
        for kernel, color in zip(plain, stack):
            if kernel.bias:
                color += np.asarray(kernel.bias, dtype=color.dtype)
            results.append(Filtered(color, None))
        return results
    return [filter_picture(picture, entry, engine, flip=flip) for entry in entries]


def preferred_map(entry: Entry, policy: str, *, flip: bool = False) -> str:
    """Resolve ``--map auto`` for a kernel, a bank (by its combine) or a chain (by its folded kernel).

    A zero-sum kernel with a bias (a relief centred on mid-grey) counts as signed no longer: clip.
    """
    if isinstance(entry, Chain):
        entry = entry.fold(flip)
    if isinstance(entry, Kernel):
        return resolve_map(policy, preferred=entry.map, zero_sum=_signed(entry, flip))
    if isinstance(entry, Layer):
        return resolve_map(policy, preferred=None, zero_sum=entry.zero_sum)
    if isinstance(entry, Depthwise):
        return resolve_map(policy, preferred=None, zero_sum=entry.pointwise is None and all(
            _signed(k, flip) for k in entry.kernels))
    if entry.combine == "argmax":  # kernel indices 0 .. N-1: stretch them to 0 .. 1
        return resolve_map(policy, preferred=entry.map or "minmax", zero_sum=False)
    signed = entry.combine in ("sum", "max", None) and all(_signed(member, flip) for member in entry.kernels)
    return resolve_map(policy, preferred=entry.map, zero_sum=signed)


def _signed(entry: Entry, flip: bool) -> bool:
    """Whether an entry's results are signed around zero (a zero-sum kernel without a bias)."""
    if isinstance(entry, Chain):
        entry = entry.fold(flip)
    return isinstance(entry, Kernel) and entry.zero_sum and not entry.bias


def _apply_kernel(color: np.ndarray, alpha: np.ndarray | None, kernel: Kernel, engine: Engine,
                  flip: bool) -> tuple[np.ndarray, np.ndarray | None]:
    flip = flip != kernel.flip
    if alpha is None:
        color = engine(color, kernel.weights, flip)
    else:
        color, alpha = conv2d_with_alpha(color, alpha, kernel.weights, lambda x, k: engine(x, k, flip))
    if kernel.bias:
        color += np.asarray(kernel.bias, dtype=color.dtype)
    return color, alpha


def filter_picture(picture: Picture, entry: Entry, engine: Engine, *, flip: bool = False) -> Filtered:
    """Apply ``entry`` to ``picture`` (alpha-aware, with biases); ``flip`` is the run's ``--flip``.

    A chain is folded into one kernel at stride 1 and applied step by step otherwise (each step
    strides, so folding would not be equivalent); a bank's maps are reduced by its ``combine``.
    """
    if isinstance(entry, Kernel):
        return Filtered(*_apply_kernel(picture.color, picture.alpha, entry, engine, flip), note=entry.note)
    if isinstance(entry, Layer):
        return _apply_layer(picture, entry, engine, flip)
    if isinstance(entry, Depthwise):
        return _apply_depthwise(picture, entry, engine, flip)
    if isinstance(entry, Chain):
        if engine.kwargs["stride"] == 1:
            folded = entry.fold()
            return Filtered(*_apply_kernel(picture.color, picture.alpha, folded, engine, flip), note=folded.note)
        color, alpha = picture.color, picture.alpha
        for kernel in entry.kernels:
            color, alpha = _apply_kernel(color, alpha, kernel, engine, flip)
        names = " → ".join(k.name for k in entry.kernels)
        return Filtered(color, alpha, note=f"chain {names} applied step by step (stride {engine.kwargs['stride']})")
    maps = filter_many(picture, list(entry.kernels), engine, flip=flip)
    how = entry.combine or "sum"
    notes = [m.note for m in maps if m.note and not m.note.startswith("bank of")]
    return Filtered(combine([m.color for m in maps], how), maps[0].alpha,
                    note="; ".join([f"bank of {len(maps)} kernels combined by {how}", *notes]))
