"""What every kernel entry can do: the protocol that kernels, banks, chains and layers share.

An *entry* is what one ``-k`` value or one TOML table names: a :class:`~convcli.kernels.kernel.Kernel`,
a :class:`~convcli.kernels.composite.Bank`, a :class:`~convcli.kernels.composite.Chain`, a
:class:`~convcli.kernels.layer.Layer` channel or a :class:`~convcli.kernels.layer.Depthwise`
convolution. Code that handles entries asks them (``entry.apply(...)``, ``entry.flat()``,
``entry.auto_map``) instead of testing which kind each one is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from convcli.engine.settings import Settings
    from convcli.kernels.kernel import Kernel


class Convolve(Protocol):
    """The configured engine an entry applies itself with (see :class:`convcli.pipeline.convolver.Convolver`)."""

    settings: Settings

    def __call__(self, image: np.ndarray, weights: np.ndarray, own_flip: bool = False) -> np.ndarray:
        """Correlate ``image`` with ``weights`` (``kh x kw`` or a bank) under :attr:`settings`, mirrored
        when exactly one of the run and the kernel (``own_flip``) asks for true convolution."""


@dataclass
class Filtered:
    """The float feature map of one entry on one picture (before mapping to pixels)."""

    color: np.ndarray
    alpha: np.ndarray | None
    note: str = ""


@dataclass(frozen=True)
class Summary:
    """An entry in a few words, for the library's table: size, sum, verdict and separable rank."""

    size: str
    total: str
    verdict: str
    rank: str


class Entry(ABC):
    """The protocol of every entry, with the defaults of a single thing (overridden where that differs).

    Subclasses are frozen dataclasses with at least ``name``, ``description`` and ``source``.
    """

    name: str
    description: str
    source: str
    kind = "entry"

    @property
    def members(self) -> tuple[Kernel, ...]:
        """The kernels it is made of: a bank's, a chain's steps, a depthwise's; none for a kernel."""
        return ()

    @property
    def structure(self) -> str:
        """How the members work together, in words (``""`` for a single kernel)."""
        return ""

    @property
    def flip(self) -> bool:
        """Whether it asks for true convolution of its own (a kernel's ``flip = true``)."""
        return False

    @property
    def per_channel(self) -> bool:
        """Whether it filters each channel on its own (a layer channel and a depthwise convolution mix them)."""
        return all(member.per_channel for member in self.members)

    @property
    @abstractmethod
    def auto_map(self) -> str:
        """What ``--map auto`` becomes for it: its own ``map``, else ``abs`` when its results are signed
        about zero, else ``clip``."""

    @abstractmethod
    def flat(self) -> tuple[Kernel, ...]:
        """The 2-D kernels it applies side by side at stride 1 (a chain: its folded kernel)."""

    def sequence(self) -> tuple[Entry, ...]:
        """The entries it applies one after another (a chain's steps; itself otherwise)."""
        return (self,)

    def expand(self) -> tuple[Entry, ...]:
        """What naming it with ``-k`` stands for: a bank without ``combine`` stands for its kernels."""
        return (self,)

    def row_stages(self, settings: Settings) -> tuple[int, ...] | None:
        """The height of each convolution it applies one after another (at ``settings``' stride each),
        for filtering a band of rows at a time; None when an output depends on more than the rows these
        reach. The default: its members side by side (the tallest at each step), when they step alike."""
        stages = [member.row_stages(settings) for member in self.flat()]
        if any(stage is None for stage in stages) or len({len(stage) for stage in stages}) != 1:
            return None
        if len(set(stages)) > 1 and settings.padding != "same":  # the members' maps would be cut unlike
            return None
        return tuple(max(column) for column in zip(*stages))

    @abstractmethod
    def apply(self, color: np.ndarray, alpha: np.ndarray | None, convolve: Convolve) -> Filtered:
        """Filter a picture (``color`` ``H x W`` or ``H x W x C``, its ``alpha`` or None)."""

    @abstractmethod
    def describe(self) -> dict:
        """What decides its output, for a run's manifest: weights (hashed), settings, members."""

    @abstractmethod
    def summary(self) -> Summary:
        """Size, sum, verdict and rank, for the library's table."""


class Composite(Entry):
    """An entry made of kernels (a bank, a chain, a depthwise convolution): ``self.kernels`` are its members."""

    kernels: tuple[Kernel, ...]

    @property
    def members(self) -> tuple[Kernel, ...]:
        return self.kernels

    @property
    def flip(self) -> bool:
        return self.kernels[0].flip


def sha256(array: np.ndarray) -> str:
    """The SHA-256 of an array's float64 values, for fingerprints."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float64).tobytes()).hexdigest()
