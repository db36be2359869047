"""A single 2-D kernel as validated data (:class:`Kernel`), and the checks every kernel goes through.

Every kernel, whether built in, from a user's TOML file, inline, generated or loaded from ``.npy``,
goes through the :class:`Kernel` constructor, so one piece of code checks them all and every error
names where the kernel came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from convcli.choices import MAPS
from convcli.engine.alpha import conv2d_with_alpha
from convcli.engine.geometry import centre, default_anchor
from convcli.errors import KernelError, ParameterError
from convcli.kernels.entry import Convolve, Entry, Filtered, Summary, sha256

if TYPE_CHECKING:
    from convcli.engine.settings import Settings

#: Largest kernel side accepted; a bigger one is almost always a mistake (a whole image as kernel).
MAX_KERNEL_SIDE = 1025


#: Kernel names end up in file names, so they are kept to letters, digits, ``_`` and ``-``.
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


#: An entry's name: a kernel name, or several joined by ``+`` (a chain typed as ``-k "blur | edge"``).
ENTRY_NAME_PATTERN = re.compile(rf"{NAME_PATTERN.pattern}(?:\+{NAME_PATTERN.pattern})*")


BUILTIN_SOURCE = "built-in"


#: What :data:`NAME_PATTERN` allows, in words.
NAME_RULE = "start with a letter or _ and hold only letters, digits, _ and -"


def check_name(name: object, source: str) -> str:
    """``name`` as an entry's name (:data:`ENTRY_NAME_PATTERN`): a kernel name, or a chain's names joined by +."""
    if not isinstance(name, str) or not ENTRY_NAME_PATTERN.fullmatch(name):
        raise KernelError(f"{source}: kernel name {name!r} must {NAME_RULE}, or be several such names joined by + "
                          "(a chain's, as blur+edge)")
    return name


def check_table_name(name: object, source: str) -> str:
    """``name`` as the name of a TOML table (:data:`NAME_PATTERN`): one kernel name, without +."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise KernelError(f"{source}: kernel name {name!r} must {NAME_RULE}")
    return name


def as_matrix(values: object, where: str) -> np.ndarray:
    """Check that ``values`` is a non-empty, rectangular, finite, numeric 2-D matrix; return float64."""
    if isinstance(values, np.ndarray):
        array = values
    else:
        rows = values if isinstance(values, (list, tuple)) else None
        if not rows or not all(isinstance(row, (list, tuple)) for row in rows):
            raise KernelError(f"{where}: must be a non-empty list of rows, e.g. [[0, 1], [1, 0]]")
        if len(rows) > MAX_KERNEL_SIDE or len(rows[0]) > MAX_KERNEL_SIDE:  # before looking at every value
            raise KernelError(f"{where}: {len(rows)}x{len(rows[0])} is larger than the limit of {MAX_KERNEL_SIDE} "
                              "on a side")
        for number, row in enumerate(rows, start=1):
            if not row:
                raise KernelError(f"{where}: row {number} is empty")
            if len(row) != len(rows[0]):
                raise KernelError(f"{where}: row {number} has {len(row)} values, row 1 has {len(rows[0])}")
            for value in row:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise KernelError(f"{where}: row {number} holds {value!r}, which is not a number")
                if isinstance(value, int) and abs(value) > 2 ** 1023:
                    raise KernelError(f"{where}: row {number} holds a number of {len(str(abs(value)))} digits, "
                                      "larger than floating point holds")
        array = np.array(rows, dtype=np.float64)
    if array.dtype.kind not in "biuf":
        raise KernelError(f"{where}: must hold numbers, got dtype {array.dtype}")
    if array.ndim != 2 or 0 in array.shape:
        raise KernelError(f"{where}: must be a non-empty 2-D matrix, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise KernelError(f"{where}: holds NaN or infinite values")
    with np.errstate(over="ignore"):
        magnitude = np.abs(array, dtype=np.float64).sum()
    if not np.isfinite(magnitude):  # the sums of a convolution would overflow
        raise KernelError(f"{where}: too large to add up in floating point; scale them down")
    if max(array.shape) > MAX_KERNEL_SIDE:
        raise KernelError(f"{where}: {array.shape[0]}x{array.shape[1]} is larger than the limit of "
                          f"{MAX_KERNEL_SIDE} on a side")
    return np.array(array, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Kernel(Entry):
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
    anchor: tuple[int, int] | None = None
    _sum: float = field(init=False, repr=False)
    _given: tuple[int, int, int, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_name(self.name, self.source)
        weights = as_matrix(self.weights, self._where("weights"))
        given = default_anchor(weights.shape)
        anchor = given if self.anchor is None else check_anchor(self.anchor, weights.shape, self._where("anchor"))
        object.__setattr__(self, "anchor", anchor)
        object.__setattr__(self, "_given", (0, 0, *weights.shape))
        if anchor != given:
            kh, kw = weights.shape
            weights, offset = embed(weights, anchor)
            if max(weights.shape) > MAX_KERNEL_SIDE:
                raise KernelError(f"{self._where('anchor')}: anchored at row {anchor[0]}, column {anchor[1]}, its "
                                  f"{kh}x{kw} weights are applied as a {weights.shape[0]}x{weights.shape[1]} kernel, "
                                  f"larger than the limit of {MAX_KERNEL_SIDE} on a side")
            object.__setattr__(self, "_given", (*offset, kh, kw))
            if not self.note:
                object.__setattr__(self, "note", self.anchor_note)
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
        """``(kh, kw)`` of :attr:`weights`, the kernel as applied (larger than given when it is anchored
        off its centre)."""
        return self.weights.shape

    @property
    def given_weights(self) -> np.ndarray:
        """The weights as given, before an :attr:`anchor` off the centre embedded them in zeros."""
        top, left, height, width = self._given
        return self.weights[top:top + height, left:left + width]

    @property
    def anchored(self) -> bool:
        """Whether its :attr:`anchor` is not the default ``((kh - 1) // 2, (kw - 1) // 2)`` of the weights as
        given: then :attr:`weights` are those weights in a frame of zeros (:func:`embed`) whose contract anchor
        is the anchor."""
        return self.weights.shape != self._given[2:]

    @property
    def anchor_note(self) -> str:
        """The note of a kernel anchored off its centre, where its :attr:`note` does not say more."""
        (row, column), (height, width) = self.anchor, self._given[2:]
        return f"kernel '{self.name}' anchored at row {row}, column {column} of its {height}x{width} weights"

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

    @property
    def signed(self) -> bool:
        """Whether its results are signed about zero: zero-sum, without a bias (a relief centred on
        mid-grey is not)."""
        return self.zero_sum and not self.bias

    kind = "kernel"

    @property
    def auto_map(self) -> str:
        return self.map or ("abs" if self.signed else "clip")

    def flat(self) -> tuple[Kernel, ...]:
        return (self,)

    def row_stages(self, settings: Settings) -> tuple[int, ...]:
        return (self.shape[0],)

    def apply(self, color: np.ndarray, alpha: np.ndarray | None, convolve: Convolve) -> Filtered:
        """Filter ``color``, weighting by ``alpha`` when there is one (see :mod:`convcli.engine.alpha`), then
        add the bias."""
        check_anchor_padding((self,), convolve.settings.padding)
        if alpha is None:
            color = convolve(color, self.weights, self.flip)
        else:
            color, alpha = conv2d_with_alpha(color, alpha, self.weights, lambda x, k: convolve(x, k, self.flip))
        if self.bias:
            color += np.asarray(self.bias, dtype=color.dtype)
        return Filtered(color, alpha, self.note)

    def describe(self) -> dict:
        return {"name": self.name, "source": self.source, "shape": list(self.shape), "bias": self.bias,
                "flip": self.flip, "map": self.map, "sha256": sha256(self.weights)}

    def summary(self) -> Summary:
        height, width = self._given[2:]  # as given: an anchor's frame of zeros is not the kernel's size
        return Summary(f"{height}x{width}", "0" if self.zero_sum else f"{self.sum:.4g}", self.verdict, str(self.rank))

    def effective(self, flip: bool = False) -> tuple[np.ndarray, tuple[int, int]]:
        """The correlation that applying this kernel performs: ``(weights, anchor)``.

        Flipping (the kernel's own ``flip`` xor ``flip``) mirrors the weights and the anchor.
        """
        kh, kw = self.shape
        anchor = default_anchor(self.shape)
        if self.flip != flip:
            return self.weights[::-1, ::-1], (kh - 1 - anchor[0], kw - 1 - anchor[1])
        return self.weights, anchor


def check_anchor(anchor: object, shape: tuple[int, int], where: str) -> tuple[int, int]:
    """``anchor`` as ``(row, column)``: two whole numbers naming a cell of a ``kh x kw`` kernel."""
    kh, kw = shape
    if (not isinstance(anchor, (list, tuple)) or len(anchor) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in anchor)):
        raise KernelError(f"{where}: must be [row, column], two whole numbers counted from 0, got {anchor!r}")
    row, column = anchor
    if not (0 <= row < kh and 0 <= column < kw):
        raise KernelError(f"{where}: row {row}, column {column} is outside the {kh}x{kw} weights (rows 0 to "
                          f"{kh - 1}, columns 0 to {kw - 1})")
    return int(row), int(column)


def embed(weights: np.ndarray, anchor: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """``weights`` in the smallest frame of zeros whose contract anchor (:func:`default_anchor`) is the cell
    at ``anchor``, and ``(top, left)``, where the weights start in it.

    Applied with the contract's anchor, the frame is the weights anchored at ``anchor`` (its zero taps add
    nothing); mirrored (``flip``) it mirrors about that anchor too, as the contract's flip mirrors about the
    anchor for even sizes as for odd ones. An anchored kernel and a folded chain are put in their frames here.

    >>> frame, start = embed(np.arange(1.0, 10.0).reshape(3, 3), (0, 0))
    >>> frame.shape, start, default_anchor(frame.shape), float(frame[default_anchor(frame.shape)])
    ((4, 4), (1, 1), (1, 1), 1.0)
    """
    sides = []
    for taps, at in zip(weights.shape, anchor):
        if at >= centre(taps):  # zeros after the weights until the centre reaches the anchor
            sides.append((0, max(taps, 2 * at + 1)))
        else:  # zeros before them, moving the anchor down as the centre moves
            before = taps - 2 - 2 * at
            sides.append((before, taps + before))
    (top, height), (left, width) = sides
    frame = np.zeros((height, width))
    frame[top:top + weights.shape[0], left:left + weights.shape[1]] = weights
    return frame, (top, left)


def check_anchor_padding(entries: Iterable[Entry], padding: str | int) -> None:
    """Refuse a kernel anchored off its centre with ``padding`` other than ``same``: valid, full and an
    integer padding place the output by the kernel's size alone (as PyTorch does), so an anchor means
    nothing there, and the zeros that carry it would change the output's size."""
    if padding == "same":
        return
    for entry in entries:
        for kernel in entry.members or (entry,):
            if isinstance(kernel, Kernel) and kernel.anchored:
                row, column = kernel.anchor
                raise ParameterError(f"kernel '{kernel.name}' is anchored at row {row}, column {column}; an anchor "
                                     f"places a kernel for `padding` same only (with `padding` {padding} the "
                                     "output's size and place follow from the kernel's size alone); use "
                                     "`padding` same, or leave the anchor at the centre")


def rotations(kernel: Kernel, count: int, name: str, source: str = BUILTIN_SOURCE) -> tuple[Kernel, ...]:
    """``kernel`` turned anticlockwise in ``count`` equal steps: 4 (90 degrees) or 8 (45, 3x3 only).

    Members are named ``{name}_{angle}``: ``kirsch_0``, ``kirsch_45``, ...; ``name`` and ``source``
    are the bank's, for messages.
    """
    weights = kernel.given_weights
    mark = np.zeros(weights.shape)  # an anchor of its own turns with the weights (else each turn's default)
    mark[kernel.anchor] = 1.0
    if count == 4:
        turned = [(np.rot90(weights, k), np.rot90(mark, k)) for k in range(4)]
    elif count == 8:
        if weights.shape != (3, 3):
            raise KernelError(f"{source}: bank '{name}': rotations = 8 needs a 3x3 base kernel, "
                              f"'{kernel.name}' is {weights.shape[0]}x{weights.shape[1]}")
        ring = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]  # clockwise
        turned = []
        current = np.stack([weights, mark])
        for _ in range(8):
            turned.append((current[0], current[1]))
            nxt = current.copy()
            for i, cell in enumerate(ring):  # each value moves one place anticlockwise
                nxt[(slice(None), *cell)] = current[(slice(None), *ring[(i + 1) % 8])]
            current = nxt
    else:
        raise KernelError(f"{source}: bank '{name}': rotations must be 4 or 8, got {count!r}")
    step = 360 // count
    return tuple(Kernel(name=f"{name}_{i * step}", weights=w, description=f"{kernel.name} turned {i * step} degrees",
                        bias=kernel.bias, flip=kernel.flip, map=kernel.map, source=kernel.source,
                        anchor=tuple(int(v) for v in np.argwhere(m)[0]) if kernel.anchored else None)
                 for i, (w, m) in enumerate(turned))
