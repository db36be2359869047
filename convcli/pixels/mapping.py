"""How float feature maps become pixel values: the contract's ``--map`` policies, in one place.

A policy is checked once (:func:`check_map`), resolved for each kernel entry (:func:`resolve_map`:
``auto`` asks the entry), and applied to its float map (:func:`apply_map`), which counts what had to
be clipped (:func:`clip_warning`). ``minmax`` and ``global`` need a range: a map's own, or one shared
by the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convcli.choices import MAPS
from convcli.errors import ParameterError

#: More than this fraction of an output's values clipped gets a warning.
CLIP_WARNING = 0.01
#: Values within this of [0, 1] are rounding, not clipped: they are clipped but not counted.
CLIP_SLACK = 1e-6


def check_map(policy: str) -> str:
    """Return ``policy`` lower-cased, or raise :class:`ParameterError` naming the bad value."""
    key = str(policy).strip().lower()
    if key not in MAPS:
        raise ParameterError(f"`map` must be one of {', '.join(MAPS)}; got {policy!r}")
    return key


def resolve_map(policy: str, entry) -> str:
    """What ``policy`` (already checked) becomes for ``entry``: ``auto`` defers to the entry's own
    preference (:attr:`convcli.kernels.entry.Entry.auto_map`), any other policy stands.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> edge = SimpleNamespace(auto_map="abs")  # what a zero-sum kernel prefers
    >>> resolve_map("auto", edge), resolve_map("offset", edge)
    ('abs', 'offset')
    """
    return entry.auto_map if policy == "auto" else policy


def clip_warning(output_name: str, low: int, high: int, count: int) -> str | None:
    """A warning when more than :data:`CLIP_WARNING` of an output's ``count`` values were clipped."""
    if not count or (low + high) / count <= CLIP_WARNING:
        return None
    return (f"{output_name}: {100 * (low + high) / count:.1f}% of the values were clipped "
            f"({100 * low / count:.1f}% low, {100 * high / count:.1f}% high); `map` minmax or offset keeps them")


def value_range(values: np.ndarray) -> tuple[float, float]:
    """Return the finite ``(min, max)`` of ``values``, ``(0.0, 0.0)`` when nothing is finite."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


@dataclass(frozen=True)
class Mapped:
    """A map turned into [0, 1] values, with how many values had to be clipped at either end."""

    values: np.ndarray
    clipped_low: int = 0
    clipped_high: int = 0

    @property
    def clipped_fraction(self) -> float:
        return (self.clipped_low + self.clipped_high) / max(self.values.size, 1)


def apply_map(values: np.ndarray, policy: str, *, global_range: tuple[float, float] | None = None,
              in_place: bool = False) -> Mapped:
    """Turn a float map into values in ``[0, 1]`` by ``policy`` (``raw`` returns it unchanged).

    ``minmax`` stretches the map's own range (all channels together, so colours keep their balance);
    ``global`` stretches ``global_range``, the range shared by every map of a run. The counts say how
    many values fell below 0 or above 1 before clipping (NaN counts as neither). With ``in_place``
    ``values`` (a float array) may be overwritten, which saves a copy of a whole map.

    Examples
    --------
    >>> m = apply_map(np.array([-0.5, 0.0, 0.25, 1.5]), "clip")
    >>> m.values.tolist(), m.clipped_low, m.clipped_high
    ([0.0, 0.0, 0.25, 1.0], 1, 1)
    """
    if policy == "raw":
        return Mapped(values)
    if policy == "clip":
        scaled = values
    elif policy == "abs":
        scaled = np.abs(values, out=values if in_place else None)
    elif policy == "offset":
        scaled = np.add(values, 0.5, out=values if in_place else None)
    elif policy == "minmax":
        scaled = _stretch(values, *value_range(values))
    elif policy == "global":
        if global_range is None:
            raise ParameterError("`map` global needs the range shared by the whole run")
        scaled = _stretch(values, *global_range)
    else:
        raise ValueError(f"apply_map takes a resolved policy, not {policy!r}")
    # Float rounding is not clipping: a normalised Gaussian's blur of white is 1.0000001 here and there.
    low, high = int(np.count_nonzero(scaled < -CLIP_SLACK)), int(np.count_nonzero(scaled > 1 + CLIP_SLACK))
    if scaled is values and not in_place:  # leave the caller's array alone
        return Mapped(np.clip(scaled, 0.0, 1.0), low, high)
    return Mapped(np.clip(scaled, 0.0, 1.0, out=scaled), low, high)


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``low..high`` linearly onto ``0..1``; a flat range maps to 0."""
    if high <= low:
        return np.zeros_like(values)
    return (values - low) / (high - low)
