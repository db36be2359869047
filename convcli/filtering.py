"""Applying a kernel, a bank or a chain to a picture: alpha, bias, stacks, chains and ``--verify``."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from convcli.alpha import conv2d_with_alpha
from convcli.engine import conv2d
from convcli.errors import ConvcliError
from convcli.imageio import Picture
from convcli.kernels import Chain, Entry, Kernel
from convcli.mapping import resolve_map
from convcli.stacks import combine


class VerificationError(ConvcliError):
    """A result differs from the scipy.signal reference by more than the tolerance."""

    exit_code = 1


class Engine:
    """:func:`conv2d` with a run's settings; with ``verify`` it checks every call against scipy.signal."""

    def __init__(self, *, stride: int, padding, boundary: str, cval: float, dilation: int, method: str,
                 verify: bool = False):
        self.kwargs = dict(stride=stride, padding=padding, boundary=boundary, cval=cval, dilation=dilation,
                           method=method)
        self.verify = verify
        self.max_diff: float | None = 0.0 if verify else None
        self.verify_ms = 0.0

    def __call__(self, image: np.ndarray, kernel: np.ndarray, flip: bool) -> np.ndarray:
        out = conv2d(image, kernel, flip=flip, **self.kwargs)
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


def preferred_map(entry: Entry, policy: str, *, flip: bool = False) -> str:
    """Resolve ``--map auto`` for a kernel, a bank (by its combine) or a chain (by its folded kernel).

    A zero-sum kernel with a bias (a relief centred on mid-grey) counts as signed no longer: clip.
    """
    if isinstance(entry, Chain):
        entry = entry.fold(flip)
    if isinstance(entry, Kernel):
        return resolve_map(policy, preferred=entry.map, zero_sum=_signed(entry, flip))
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
    if isinstance(entry, Chain):
        if engine.kwargs["stride"] == 1:
            folded = entry.fold()
            return Filtered(*_apply_kernel(picture.color, picture.alpha, folded, engine, flip), note=folded.note)
        color, alpha = picture.color, picture.alpha
        for kernel in entry.kernels:
            color, alpha = _apply_kernel(color, alpha, kernel, engine, flip)
        names = " → ".join(k.name for k in entry.kernels)
        return Filtered(color, alpha, note=f"chain {names} applied step by step (stride {engine.kwargs['stride']})")
    maps = [filter_picture(picture, member, engine, flip=flip) for member in entry.kernels]
    how = entry.combine or "sum"
    notes = [m.note for m in maps if m.note and not m.note.startswith("bank of")]
    return Filtered(combine([m.color for m in maps], how), maps[0].alpha,
                    note="; ".join([f"bank of {len(maps)} kernels combined by {how}", *notes]))
