"""How float feature maps become pixel values (the contract's ``--map`` policies)."""

from __future__ import annotations

import numpy as np

from convcli.errors import ParameterError

#: Every policy a user may name; ``auto`` defers to the kernel (see :func:`resolve_map`).
MAPS = ("auto", "clip", "abs", "offset", "minmax", "global", "raw")


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


def stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``low..high`` linearly onto ``0..1`` (clipped); a flat range maps to 0."""
    if high <= low:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def map_values(values: np.ndarray, policy: str, *,
               global_range: tuple[float, float] | None = None) -> np.ndarray:
    """Turn a float map into values in ``[0, 1]`` by ``policy`` (``raw`` returns it unchanged).

    ``minmax`` stretches the map's own range (all channels together, so colours keep their balance);
    ``global`` stretches ``global_range``, the range shared by every map of a run.

    Examples
    --------
    >>> v = np.array([-0.5, 0.0, 0.25, 1.5])
    >>> map_values(v, "clip").tolist(), map_values(v, "abs").tolist()
    ([0.0, 0.0, 0.25, 1.0], [0.5, 0.0, 0.25, 1.0])
    >>> map_values(v, "offset").tolist(), map_values(v, "minmax").tolist()
    ([0.0, 0.5, 0.75, 1.0], [0.0, 0.25, 0.375, 1.0])
    """
    policy = check_map(policy)
    if policy == "raw":
        return values
    if policy == "clip":
        return np.clip(values, 0.0, 1.0)
    if policy == "abs":
        return np.clip(np.abs(values), 0.0, 1.0)
    if policy == "offset":
        return np.clip(values + 0.5, 0.0, 1.0)
    if policy == "minmax":
        return stretch(values, *value_range(values))
    if policy == "global":
        if global_range is None:
            raise ParameterError("map 'global' needs the range shared by the whole run")
        return stretch(values, *global_range)
    raise ParameterError(f"map {policy!r} needs a kernel to resolve it")
