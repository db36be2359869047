"""How float feature maps become pixel values (the contract's ``--map`` policies)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convcli.errors import ParameterError
from convcli.options import MAPS


def check_map(policy: str) -> str:
    """Return ``policy`` lower-cased, or raise :class:`ParameterError` naming the bad value."""
    key = str(policy).strip().lower()
    if key not in MAPS:
        raise ParameterError(f"map must be one of {', '.join(MAPS)}; got {policy!r}")
    return key


def resolve_map(policy: str, *, preferred: str | None, zero_sum: bool) -> str:
    """Resolve ``auto``: the kernel's own preference, else ``abs`` for zero-sum kernels, else ``clip``.

    Examples
    --------
    >>> resolve_map("auto", preferred=None, zero_sum=True)
    'abs'
    >>> resolve_map("offset", preferred="abs", zero_sum=True)
    'offset'
    """
    policy = check_map(policy)
    if policy != "auto":
        return policy
    if preferred is not None:
        return check_map(preferred)
    return "abs" if zero_sum else "clip"


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
    policy = check_map(policy)
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
            raise ParameterError("map 'global' needs the range shared by the whole run")
        scaled = _stretch(values, *global_range)
    else:
        raise ParameterError(f"map {policy!r} needs a kernel to resolve it")
    low, high = int(np.count_nonzero(scaled < 0)), int(np.count_nonzero(scaled > 1))
    if scaled is values and not in_place:  # leave the caller's array alone
        return Mapped(np.clip(scaled, 0.0, 1.0), low, high)
    return Mapped(np.clip(scaled, 0.0, 1.0, out=scaled), low, high)


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``low..high`` linearly onto ``0..1``; a flat range maps to 0."""
    if high <= low:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def map_values(values: np.ndarray, policy: str, *,
               global_range: tuple[float, float] | None = None) -> np.ndarray:
    """:func:`apply_map`'s values alone.

    Examples
    --------
    >>> v = np.array([-0.5, 0.0, 0.25, 1.5])
    >>> map_values(v, "clip").tolist(), map_values(v, "abs").tolist()
    ([0.0, 0.0, 0.25, 1.0], [0.5, 0.0, 0.25, 1.0])
    >>> map_values(v, "offset").tolist(), map_values(v, "minmax").tolist()
    ([0.0, 0.5, 0.75, 1.0], [0.0, 0.25, 0.375, 1.0])
    """
    return apply_map(values, policy, global_range=global_range).values
