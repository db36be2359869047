"""``channel``: filter only some of an image's channels and pass the others through unchanged.

As ImageMagick's ``-channel R,G``: the selected channels are filtered and mapped; every other channel is
written as it was read, sample for sample (the same bit depth; an 8- or 16-bit sample goes to float and
back exactly). A selection names channels by the image's mode (``R``, ``G``, ``B``, ``A`` for RGB and
RGBA, ``L`` for gray; CMYK images are read as RGB), by index from 0 (the colour channels, then the
alpha), or as a run of letters (``RG``, ``RGBA``). It is checked once (:meth:`ChannelSelection.parse`)
and matched against each image (:meth:`ChannelSelection.pick`), which fails for that file alone when
it has no such channel.

The selected colour channels are filtered as they are without a selection (alpha-weighted, so
transparent colour does not bleed in), and the alpha is written unchanged. A selected alpha ``A`` is
filtered as a plain channel of its own, and mapped with the selected colour channels as one map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convcli.errors import InputError, ParameterError
from convcli.kernels.composite import apply_side_by_side
from convcli.kernels.entry import Convolve, Entry, Filtered

#: Every spelling of a channel's name, lower-cased, and the name it stands for.
NAMES = {
    "r": "R", "red": "R", "g": "G", "green": "G", "b": "B", "blue": "B",
    "a": "A", "alpha": "A", "opacity": "A", "l": "L", "gray": "L", "grey": "L", "luminance": "L",
}

#: The letters of a run such as ``RGB``.
LETTERS = "RGBAL"


def channel_names(colors: int, alpha: bool) -> tuple[str, ...]:
    """The names of an image's channels, colour first, alpha last: ``L`` or ``R, G, B`` (and ``A``); the
    indices of any other number of colour channels (a TIFF of five)."""
    names = {1: ("L",), 3: ("R", "G", "B")}.get(colors, tuple(str(i) for i in range(colors)))
    return (*names, "A") if alpha else names


@dataclass(frozen=True)
class Picked:
    """What a selection picks of one image: the indices of its colour channels, and whether its alpha."""

    color: tuple[int, ...]
    alpha: bool


@dataclass(frozen=True)
class ChannelSelection:
    """The channels to filter: names (``R``, ``G``, ``B``, ``A``, ``L``) and indices, as the user gave them."""

    channels: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> ChannelSelection:
        """Read ``R,G``, ``0,2``, ``red,alpha`` or ``RGB`` (names are not case-sensitive; a comma or a space
        between items), or raise :class:`ParameterError` naming the bad item.

        Examples
        --------
        >>> str(ChannelSelection.parse("red, b"))
        'R,B'
        >>> ChannelSelection.parse("RGBA").channels
        ('R', 'G', 'B', 'A')
        """
        items = [item for item in str(text).replace(",", " ").split()]
        if not items:
            raise ParameterError(f"`channel` must name at least one channel; got {text!r}")
        found: list[str | int] = []
        for item in items:
            key = item.lower()
            if key in NAMES:
                found.append(NAMES[key])
            elif item.isdigit():
                found.append(int(item))
            elif all(letter in LETTERS for letter in item.upper()) and len(set(item.upper())) == len(item):
                found.extend(item.upper())
            else:
                raise ParameterError(f"`channel` takes channel names R, G, B, A (RGB, RGBA images) or L (gray), "
                                     f"indices from 0, or a run of letters such as RG; got {item!r}")
        return cls(tuple(dict.fromkeys(found)))

    def __str__(self) -> str:
        return ",".join(map(str, self.channels))

    def pick(self, colors: int, alpha: bool, name: str) -> Picked:
        """The channels of an image with ``colors`` colour channels (and ``alpha``) this selects; an
        :class:`InputError` naming the file ``name`` and its channels when it has no such channel."""
        names = channel_names(colors, alpha)
        chosen = set()
        for channel in self.channels:
            index = channel if isinstance(channel, int) else names.index(channel) if channel in names else None
            if index is None or index >= len(names):
                numbers = f"0-{len(names) - 1}" if len(names) > 1 else "0"
                raise InputError(f"{name}: has no channel {channel} to filter (`channel` {self}); its channels "
                                 f"are {', '.join(names)} ({numbers})")
            chosen.add(index)
        return Picked(tuple(i for i in range(colors) if i in chosen), alpha and colors in chosen)


def filter_picked(entries: tuple[Entry, ...] | list[Entry], color: np.ndarray, alpha: np.ndarray | None,
                  convolve: Convolve, picked: Picked | None) -> list[Filtered]:
    """Each entry's map of the ``picked`` channels alone (all of them when None): the colour channels picked,
    in order, filtered as without a selection, then the alpha when picked, filtered as a plain channel.
    A map of one channel is ``H x W``; of more, ``H x W x n``. Its ``alpha`` is None: :func:`restore`
    gives the alpha written."""
    if picked is None:
        return apply_side_by_side(entries, color, alpha, convolve)
    colors = None
    if picked.color:
        sub = color if color.ndim == 2 else color[..., list(picked.color)]
        colors = apply_side_by_side(entries, sub, alpha, convolve)
    alphas = apply_side_by_side(entries, alpha, None, convolve) if picked.alpha else None
    results = []
    for index in range(len(entries)):
        parts = [found[index] for found in (colors, alphas) if found is not None]
        maps = parts[0].color if len(parts) == 1 else np.dstack([part.color for part in parts])
        results.append(Filtered(maps, None, "; ".join(dict.fromkeys(p.note for p in parts if p.note))))
    return results


def restore(values: np.ndarray, color: np.ndarray, alpha: np.ndarray | None,
            picked: Picked) -> tuple[np.ndarray, np.ndarray | None]:
    """The picture written: the ``picked`` channels from ``values`` (their map, mapped), the others from
    ``color`` and ``alpha`` as they were read. Always new arrays (the writer may quantise in place)."""
    planes = values if values.ndim == 3 else values[..., None]
    count = len(picked.color)
    if color.ndim == 2:
        out = np.array(planes[..., 0] if count else color, dtype=planes.dtype)
    else:
        out = color.astype(planes.dtype, copy=True)
        out[..., list(picked.color)] = planes[..., :count]
    kept = np.array(planes[..., count], dtype=planes.dtype) if picked.alpha else \
        None if alpha is None else np.array(alpha, dtype=planes.dtype)
    return out, kept
