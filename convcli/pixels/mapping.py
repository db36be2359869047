"""How float feature maps become pixel values: the contract's ``--map`` policies, in one place.

A policy is checked once (:func:`check_map`), resolved for each kernel entry (:func:`resolve_map`:
``auto`` asks the entry), and applied to its float map (:func:`apply_map`), which counts what had to
be clipped and finds the brightest value written (the report's warnings, :mod:`convcli.pipeline.notices`,
come from these). ``minmax`` and ``global`` need a range: a map's own, or one shared by the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convcli.choices import MAPS
from convcli.errors import ParameterError

#: Values within this of [0, 1] are rounding, not clipped: they are clipped but not counted (a few float32
#: ulps at 1, where one is 1.2e-7).
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


def value_range(values: np.ndarray) -> tuple[float, float]:
    """Return the finite ``(min, max)`` of ``values``, ``(0.0, 0.0)`` when nothing is finite."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


@dataclass(frozen=True)
class Mapped:
    """A map turned into [0, 1] values, with how many values had to be clipped at either end and the
    largest finite value written (None when not measured: ``raw``, or nothing finite)."""

    values: np.ndarray
    clipped_low: int = 0
    clipped_high: int = 0
    peak: float | None = None
    within: bool = False  # every value is in [0, 1], none NaN: ready to quantise as it is

    @property
    def clipped_fraction(self) -> float:
        return (self.clipped_low + self.clipped_high) / max(self.values.size, 1)


def apply_map(values: np.ndarray, policy: str, *, global_range: tuple[float, float] | None = None,
              in_place: bool = False) -> Mapped:
    """Turn a float map into values in ``[0, 1]`` by ``policy`` (``raw`` returns it unchanged).

    ``minmax`` stretches the map's own range (all channels together, so colours keep their balance);
    ``global`` stretches ``global_range``, the range shared by every map of a run. The counts say how
    many values fell below 0 or above 1 before clipping (NaN counts as neither; nor do values within
    :data:`CLIP_SLACK` of 0 and 1, float rounding), and ``peak`` the largest value written. With
    ``in_place`` ``values`` (a float array) may be overwritten, which saves a copy of a whole map.

    Examples
    --------
    >>> m = apply_map(np.array([-0.5, 0.0, 0.25, 1.5]), "clip")
    >>> m.values.tolist(), m.clipped_low, m.clipped_high, m.peak
    ([0.0, 0.0, 0.25, 1.0], 1, 1, 1.0)
    >>> apply_map(np.array([0.2, 1.0000001, 0.01], dtype=np.float32), "clip").clipped_high  # rounding
    0
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
        clipped = np.clip(scaled, 0.0, 1.0)
    else:
        clipped = np.clip(scaled, 0.0, 1.0, out=scaled)
    top = float(clipped.max()) if clipped.size else None
    if top is None or not np.isnan(top):
        return Mapped(clipped, low, high, top, within=top is not None)
    return Mapped(clipped, low, high, _peak(clipped))


def _peak(values: np.ndarray) -> float | None:
    """The largest finite value of ``values`` (in [0, 1] by now), None when there is none."""
    if values.size == 0:
        return None
    peak = float(values.max())
    if np.isnan(peak):  # missing values are NaN until they are written as 0
        finite = values[~np.isnan(values)]
        return float(finite.max()) if finite.size else None
    return peak


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``low..high`` linearly onto ``0..1``; a flat range maps to 0."""
    if high <= low:
        return np.zeros_like(values)
    return (values - low) / (high - low)
