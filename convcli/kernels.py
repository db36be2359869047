"""Kernels as validated data: a :class:`Kernel`, a :class:`Bank` of them, a :class:`Chain` of them.

Every kernel, whether built in, from a user's TOML file, inline, generated or loaded from ``.npy``,
goes through the :class:`Kernel` constructor, so one piece of code checks them all and every error
names where the kernel came from. Where kernels come from is :mod:`convcli.library`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from convcli.errors import KernelError
from convcli.mapping import MAPS
from convcli.stacks import COMBINES

#: Largest kernel side accepted; a bigger one is almost always a mistake (a whole image as kernel).
MAX_KERNEL_SIDE = 1025
#: Kernel names end up in file names, so they are kept to letters, digits, ``_`` and ``-``.
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
BUILTIN_SOURCE = "built-in"


def check_name(name: object, source: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise KernelError(f"{source}: kernel name {name!r} must start with a letter or _ and hold only "
                          "letters, digits, _ and -")
    return name


def as_matrix(values: object, where: str) -> np.ndarray:
    """Check that ``values`` is a non-empty, rectangular, finite, numeric 2-D matrix; return float64."""
    if isinstance(values, np.ndarray):
        array = values
    else:
        rows = values if isinstance(values, (list, tuple)) else None
        if not rows or not all(isinstance(row, (list, tuple)) for row in rows):
            raise KernelError(f"{where}: must be a non-empty list of rows, e.g. [[0, 1], [1, 0]]")
        for number, row in enumerate(rows, start=1):
            if not row:
                raise KernelError(f"{where}: row {number} is empty")
            if len(row) != len(rows[0]):
                raise KernelError(f"{where}: row {number} has {len(row)} values, row 1 has {len(rows[0])}")
            for value in row:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise KernelError(f"{where}: row {number} holds {value!r}, which is not a number")
        array = np.array(rows, dtype=np.float64)
    if array.dtype.kind not in "biuf":
        raise KernelError(f"{where}: must hold numbers, got dtype {array.dtype}")
    if array.ndim != 2 or 0 in array.shape:
        raise KernelError(f"{where}: must be a non-empty 2-D matrix, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise KernelError(f"{where}: holds NaN or infinite values")
    if max(array.shape) > MAX_KERNEL_SIDE:
        raise KernelError(f"{where}: {array.shape[0]}x{array.shape[1]} is larger than the limit of "
                          f"{MAX_KERNEL_SIDE} on a side")
    return np.array(array, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Kernel:
    """A named 2-D kernel: its weights and how it likes to be applied.

    The weights are stored as a read-only float64 array; ``bias`` is added after the sum (in the
    engine's [0, 1] units), ``flip`` asks for true convolution and ``map`` is the preferred output
    mapping. ``source`` says where the kernel was defined and starts every error message; ``note``
    says how it was made when that is worth reporting (a folded chain).
    """

    name: str
    weights: np.ndarray
    description: str = ""
    bias: float = 0.0
    flip: bool = False
    map: str | None = None
    source: str = BUILTIN_SOURCE
    note: str = ""
    _sum: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_name(self.name, self.source)
        weights = as_matrix(self.weights, self._where("weights"))
        weights.setflags(write=False)
        object.__setattr__(self, "weights", weights)
        if not isinstance(self.bias, (int, float)) or isinstance(self.bias, bool) or not np.isfinite(self.bias):
            raise KernelError(f"{self._where('bias')}: must be a finite number, got {self.bias!r}")
        object.__setattr__(self, "bias", float(self.bias))
        if not isinstance(self.flip, bool):
            raise KernelError(f"{self._where('flip')}: must be true or false, got {self.flip!r}")
        if self.map is not None and self.map not in MAPS[1:]:
            raise KernelError(f"{self._where('map')}: must be one of {', '.join(MAPS[1:])}, got {self.map!r}")
        object.__setattr__(self, "_sum", float(weights.sum()))

    def _where(self, key: str | None = None) -> str:
        where = f"{self.source}: kernel '{self.name}'"
        return f"{where}: {key}" if key else where

    @property
    def shape(self) -> tuple[int, int]:
        """``(kh, kw)``."""
        return self.weights.shape

    @property
    def sum(self) -> float:
        """The sum of the weights."""
        return self._sum

    @property
    def zero_sum(self) -> bool:
        """True when the weights sum to zero (an edge or gradient detector)."""
        return abs(self._sum) <= 1e-9 * max(1.0, float(np.abs(self.weights).sum()))

    @property
    def verdict(self) -> str:
        """``normalized`` (sums to 1), ``zero-sum``, or ``sum N``."""
        if self.zero_sum:
            return "zero-sum"
        if abs(self._sum - 1.0) <= 1e-9:
            return "normalized"
        return f"sum {self._sum:.6g}"

    @property
    def rank(self) -> int:
        """The matrix rank: 1 means separable into a column times a row."""
        singular = np.linalg.svd(self.weights, compute_uv=False)
        return int(np.sum(singular > 1e-9 * singular[0])) if singular[0] > 0 else 0

    def effective(self, flip: bool = False) -> tuple[np.ndarray, tuple[int, int]]:
        """The correlation that applying this kernel performs: ``(weights, anchor)``.

        Flipping (the kernel's own ``flip`` xor ``flip``) mirrors the weights and the anchor.
        """
        kh, kw = self.shape
        anchor = ((kh - 1) // 2, (kw - 1) // 2)
        if self.flip != flip:
            return self.weights[::-1, ::-1], (kh - 1 - anchor[0], kw - 1 - anchor[1])
        return self.weights, anchor


def rotations(kernel: Kernel, count: int, name: str, source: str = BUILTIN_SOURCE) -> tuple[Kernel, ...]:
    """``kernel`` turned anticlockwise in ``count`` equal steps: 4 (90 degrees) or 8 (45, 3x3 only).

    Members are named ``{name}_{angle}``: ``kirsch_0``, ``kirsch_45``, ...; ``name`` and ``source``
    are the bank's, for messages.
    """
    weights = kernel.weights
    if count == 4:
        turned = [np.rot90(weights, k) for k in range(4)]
    elif count == 8:
        if weights.shape != (3, 3):
            raise KernelError(f"{source}: bank '{name}': rotations = 8 needs a 3x3 base kernel, "
                              f"'{kernel.name}' is {weights.shape[0]}x{weights.shape[1]}")
        ring = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]  # clockwise
        turned = []
        current = weights.copy()
        for _ in range(8):
            turned.append(current)
            nxt = current.copy()
            for i, cell in enumerate(ring):  # each value moves one place anticlockwise
                nxt[cell] = current[ring[(i + 1) % 8]]
            current = nxt
    else:
        raise KernelError(f"{source}: bank '{name}': rotations must be 4 or 8, got {count!r}")
    step = 360 // count
    return tuple(Kernel(name=f"{name}_{i * step}", weights=w, description=f"{kernel.name} turned {i * step} degrees",
                        bias=kernel.bias, flip=kernel.flip, map=kernel.map, source=kernel.source)
                 for i, w in enumerate(turned))


@dataclass(frozen=True, eq=False)
class Bank:
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


@dataclass(frozen=True, eq=False)
class Chain:
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

    def fold(self, flip: bool = False) -> Kernel:
        """The one kernel equivalent to the chain at stride 1 (exact away from the image borders).

        Correlating with ``a`` and then ``b`` is correlating with their full convolution, anchored at
        the sum of their anchors; zero rows or columns are added so that the contract's anchor rule
        lands on that anchor. Biases carry through: ``bias = bias_a * sum(b) + bias_b``. The preferred
        map is the chain's own, else that of its last kernel.
        """
        weights, anchor = self.kernels[0].effective(flip)
        bias = self.kernels[0].bias
        for kernel in self.kernels[1:]:
            step, step_anchor = kernel.effective(flip)
            weights = _full_convolve(weights, step)
            anchor = (anchor[0] + step_anchor[0], anchor[1] + step_anchor[1])
            bias = bias * kernel.sum + kernel.bias
        weights = _reanchor(weights, anchor)
        names = " → ".join(k.name for k in self.kernels)
        return Kernel(name=self.name, weights=weights, description=self.description or names, bias=bias,
                      map=self.map or self.kernels[-1].map, source=self.source,
                      note=f"chain {names} folded into one {weights.shape[0]}x{weights.shape[1]} kernel")


def _full_convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``c[m, n] = sum a[i, j] * b[m - i, n - j]``, the full 2-D convolution (small kernels only)."""
    out = np.zeros((a.shape[0] + b.shape[0] - 1, a.shape[1] + b.shape[1] - 1))
    for (i, j), value in np.ndenumerate(a):
        out[i:i + b.shape[0], j:j + b.shape[1]] += value * b
    return out


def _reanchor(weights: np.ndarray, anchor: tuple[int, int]) -> np.ndarray:
    """Pad with zeros until ``((kh - 1) // 2, (kw - 1) // 2)`` is the cell at ``anchor``."""
    for axis in (0, 1):
        position = anchor[axis]
        while (weights.shape[axis] - 1) // 2 != position:
            zeros = np.zeros_like(np.take(weights, [0], axis=axis))
            if (weights.shape[axis] - 1) // 2 < position:
                weights = np.concatenate([weights, zeros], axis=axis)
            else:
                weights = np.concatenate([zeros, weights], axis=axis)
                position += 1
    return weights


@dataclass(frozen=True, eq=False)
class Layer:
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


@dataclass(frozen=True, eq=False)
class Depthwise:
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
        if len({k.shape for k in self.kernels}) > 1:
            shapes = ", ".join(f"{k.name} {k.shape[0]}x{k.shape[1]}" for k in self.kernels)
            raise KernelError(f"--depthwise needs kernels of one size, one per channel; got {shapes}")
        if self.pointwise is not None and self.pointwise.shape[1] != len(self.kernels):
            raise KernelError(f"the pointwise matrix is {self.pointwise.shape[0]}x{self.pointwise.shape[1]}: it "
                              f"needs one column per depthwise kernel ({len(self.kernels)})")


Entry = Kernel | Bank | Chain | Layer | Depthwise
