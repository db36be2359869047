"""Kernels used together: a :class:`Bank` applied side by side, a :class:`Chain` one after another."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from convcli.choices import COMBINES
from convcli.errors import KernelError
from convcli.kernels.combine import combine
from convcli.kernels.entry import Composite, Convolve, Entry, Filtered, Summary
from convcli.kernels.kernel import BUILTIN_SOURCE, MAX_KERNEL_SIDE, Kernel, check_name, embed

if TYPE_CHECKING:
    from convcli.engine.settings import Settings

#: A chain's note names at most this many of its kernels.
NOTE_STEPS = 8


@dataclass(frozen=True, eq=False)
class Bank(Composite):
    """Several kernels applied side by side: a stack of feature maps, optionally combined into one."""

    name: str
    kernels: tuple[Kernel, ...]
    combine: str | None = None
    description: str = ""
    map: str | None = None
    source: str = BUILTIN_SOURCE

    def __post_init__(self) -> None:
        check_name(self.name, self.source)
        if not self.kernels:
            raise KernelError(f"{self.source}: bank '{self.name}': kernels: holds no kernels")
        if self.combine is not None and self.combine not in COMBINES:
            raise KernelError(f"{self.source}: bank '{self.name}': combine: must be one of "
                              f"{', '.join(COMBINES)}, got {self.combine!r}")


    kind = "bank"

    @property
    def structure(self) -> str:
        count = len(self.kernels)
        return f"bank of {count}, combined by {self.combine}" if self.combine else f"bank of {count}, one map each"

    @property
    def auto_map(self) -> str:
        if self.combine == "argmax":  # kernel indices 0 .. N-1: stretch them to 0 .. 1
            return self.map or "minmax"
        signed = self.combine in ("sum", "max", None) and all(k.signed for m in self.kernels for k in m.flat())
        return self.map or ("abs" if signed else "clip")

    def flat(self) -> tuple[Kernel, ...]:
        return self.kernels

    def expand(self) -> tuple[Entry, ...]:
        return (self,) if self.combine else self.kernels

    def apply(self, color: np.ndarray, alpha: np.ndarray | None, convolve: Convolve) -> Filtered:
        """Every kernel's map, reduced to one by :attr:`combine` (``sum`` when it has none)."""
        maps = apply_side_by_side(self.kernels, color, alpha, convolve)
        how = self.combine or "sum"
        notes = [m.note for m in maps if m.note]
        return Filtered(combine([m.color for m in maps], how), maps[0].alpha,
                        note="; ".join([f"bank of {len(maps)} kernels combined by {how}", *notes]))

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "combine": self.combine,
                "members": [k.describe() for k in self.kernels]}

    def summary(self) -> Summary:
        shapes = {k.given_weights.shape for k in self.kernels}  # as given, as a kernel's own summary
        size = f"{len(self.kernels)} x {'x'.join(map(str, next(iter(shapes))))}" if len(shapes) == 1 \
            else f"{len(self.kernels)} kernels"
        return Summary(size, "", f"bank: {self.combine or 'stack'}", "")

@dataclass(frozen=True, eq=False)
class Chain(Composite):
    """Kernels applied one after another, each to the result of the one before."""

    name: str
    kernels: tuple[Kernel, ...]
    description: str = ""
    map: str | None = None
    source: str = BUILTIN_SOURCE

    def __post_init__(self) -> None:
        check_name(self.name, self.source)
        if not self.kernels:
            raise KernelError(f"{self.source}: chain '{self.name}': kernels: holds no kernels")

    kind = "chain"

    @property
    def structure(self) -> str:
        return f"chain of {len(self.kernels)}, applied in this order"

    @property
    def auto_map(self) -> str:
        return self.fold().auto_map

    def flat(self) -> tuple[Kernel, ...]:
        return (self.fold(),)

    def sequence(self) -> tuple[Entry, ...]:
        return self.kernels

    def row_stages(self, settings: Settings) -> tuple[int, ...]:
        if settings.stride == 1:  # folded (see apply)
            return self.fold().row_stages(settings)
        return tuple(stage for kernel in self.kernels for stage in kernel.row_stages(settings))

    def apply(self, color: np.ndarray, alpha: np.ndarray | None, convolve: Convolve) -> Filtered:
        """Folded into one kernel at stride 1; step by step at a stride, where each step strides (folding
        would not be equivalent)."""
        stride = convolve.settings.stride
        if stride == 1:
            return self.fold().apply(color, alpha, convolve)
        for kernel in self.kernels:
            step = kernel.apply(color, alpha, convolve)
            color, alpha = step.color, step.alpha
        names = self.steps_named
        return Filtered(color, alpha, note=f"chain {names} applied step by step (stride {stride})")

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "combine": None,
                "members": [k.describe() for k in self.kernels]}

    def summary(self) -> Summary:
        folded = self.fold().summary()
        return Summary(folded.size, folded.total, f"chain: {folded.verdict}", folded.rank)

    @property
    def steps_named(self) -> str:
        """Its kernels' names in order, for a note: at most :data:`NOTE_STEPS` of them, so that the note
        stays one readable line however long the chain."""
        names = [k.name for k in self.kernels]
        if len(names) > NOTE_STEPS:
            names = [*names[:NOTE_STEPS - 1], "…", f"{names[-1]} ({len(names)} kernels)"]
        return " → ".join(names)

    def fold(self, flip: bool = False) -> Kernel:
        """The one kernel equivalent to the chain at stride 1 (exact away from the image borders).

        Correlating with ``a`` and then ``b`` is correlating with their full convolution, anchored at
        the sum of their anchors; zero rows or columns are added so that the contract's anchor rule
        lands on that anchor. Biases carry through: ``bias = bias_a * sum(b) + bias_b``. The preferred
        map is the chain's own, else that of its last kernel.
        """
        rows = sum(k.weights.shape[0] - 1 for k in self.kernels) + 1
        columns = sum(k.weights.shape[1] - 1 for k in self.kernels) + 1
        if max(rows, columns) > MAX_KERNEL_SIDE:  # before the work of folding
            raise KernelError(f"chain {self.name!r}: folded, its kernels make one of {rows}x{columns}, larger than "
                              f"the limit of {MAX_KERNEL_SIDE} on a side")
        weights, anchor = self.kernels[0].effective(flip)
        bias = self.kernels[0].bias
        for kernel in self.kernels[1:]:
            step, step_anchor = kernel.effective(flip)
            weights = _full_convolve(weights, step)
            anchor = (anchor[0] + step_anchor[0], anchor[1] + step_anchor[1])
            bias = bias * kernel.sum + kernel.bias
        weights, _ = embed(weights, anchor)
        names = self.steps_named
        return Kernel(name=self.name, weights=weights, description=self.description or names, bias=bias,
                      map=self.map or self.kernels[-1].map, source=self.source,
                      note=f"chain {names} folded into one {weights.shape[0]}x{weights.shape[1]} kernel")


#: Above this many multiplications, kernels are folded by FFT (exact to rounding) rather than tap by tap.
_DIRECT_FOLD = 1 << 20


def _full_convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``c[m, n] = sum a[i, j] * b[m - i, n - j]``, the full 2-D convolution: tap by tap for small
    kernels (exact), by FFT for large ones (two 1025 x 1025 kernels fold in a second, not hours)."""
    if a.size * b.size > _DIRECT_FOLD:
        from scipy.signal import fftconvolve

        return fftconvolve(a, b, mode="full")
    out = np.zeros((a.shape[0] + b.shape[0] - 1, a.shape[1] + b.shape[1] - 1))
    for (i, j), value in np.ndenumerate(a):
        out[i:i + b.shape[0], j:j + b.shape[1]] += value * b
    return out


def apply_side_by_side(entries: tuple[Entry, ...] | list[Entry], color: np.ndarray, alpha: np.ndarray | None,
                       convolve: Convolve) -> list[Filtered]:
    """Each entry's map. Plain kernels of one shape and direction on an opaque picture go to the engine
    as one bank, which its GEMM path computes far faster than one by one."""
    plain = [e for e in entries if isinstance(e, Kernel) and not e.note]
    if alpha is None and len(plain) == len(entries) > 1 and len({(k.shape, k.flip) for k in plain}) == 1:
        stack = convolve(color, np.stack([k.weights for k in plain]), plain[0].flip)
        results = []
        for kernel, maps in zip(plain, stack):
            if kernel.bias:
                maps += np.asarray(kernel.bias, dtype=maps.dtype)
            results.append(Filtered(maps, None))
        return results
    return [entry.apply(color, alpha, convolve) for entry in entries]
