"""Boundary modes: their names, the aliases the contract accepts, and which input sample each reads.

The one home of a boundary mode. To add one, give it a canonical name in :data:`BOUNDARIES`, its
aliases in :data:`BOUNDARY_ALIASES`, the sample it reads in :func:`boundary_index`, and its spelling
for ``np.pad`` (the ``--verify`` reference) and for each peer in :data:`SPELLINGS`.
"""

from __future__ import annotations

import numpy as np

from convcli.errors import ParameterError, did_you_mean

BOUNDARIES = ("zero", "constant", "edge", "symmetric", "mirror", "wrap")

#: Every spelling the contract accepts, mapped to its canonical name.
BOUNDARY_ALIASES: dict[str, str] = {
    **{name: name for name in BOUNDARIES},
    "fill": "zero",
    "replicate": "edge",
    "nearest": "edge",
    "clamp": "edge",
    "reflect": "symmetric",
    "symm": "symmetric",
    "reflect101": "mirror",
    "reflect_101": "mirror",
    "circular": "wrap",
    "periodic": "wrap",
    "tile": "wrap",
}

#: How other libraries spell each mode (a mode missing from a table is one that library lacks).
#: ``numpy.pad`` has no entry for zero and constant: those are ``mode="constant"`` with a value.
SPELLINGS: dict[str, dict[str, str]] = {
    "numpy.pad": {"edge": "edge", "symmetric": "symmetric", "mirror": "reflect", "wrap": "wrap"},
    "scipy.ndimage": {"zero": "constant", "constant": "constant", "edge": "nearest", "symmetric": "reflect",
                      "mirror": "mirror", "wrap": "wrap"},
    # cv2.filter2D has no BORDER_WRAP.
    "cv2": {"zero": "BORDER_CONSTANT", "constant": "BORDER_CONSTANT", "edge": "BORDER_REPLICATE",
            "symmetric": "BORDER_REFLECT", "mirror": "BORDER_REFLECT_101"},
    # torch.nn.functional.pad; zero is its default "constant", and it has no symmetric mode.
    "torch": {"zero": "constant", "edge": "replicate", "mirror": "reflect", "wrap": "circular"},
}


def resolve_boundary(boundary: str) -> str:
    """Return the canonical name of a boundary mode or alias (``"reflect101"`` -> ``"mirror"``)."""
    key = str(boundary).strip().lower()
    if key not in BOUNDARY_ALIASES:
        raise ParameterError(
            f"`boundary` must be one of {', '.join(BOUNDARIES)} (or an alias such as "
            f"replicate, reflect, reflect101, circular); got {boundary!r}{did_you_mean(key, BOUNDARY_ALIASES)}"
        )
    return BOUNDARY_ALIASES[key]


def pad(array: np.ndarray, pads: list[tuple[int, int]], boundary: str, cval: float = 0.0) -> np.ndarray:
    """``np.pad`` by a canonical boundary mode (the independent reference's way of padding)."""
    if boundary in ("zero", "constant"):
        return np.pad(array, pads, mode="constant", constant_values=cval if boundary == "constant" else 0.0)
    return np.pad(array, pads, mode=SPELLINGS["numpy.pad"][boundary])


def boundary_index(positions: np.ndarray, size: int, boundary: str) -> np.ndarray:
    """The input sample each position reads under ``boundary`` (-1 where the fill value is read).

    Positions may lie any distance outside ``0 .. size - 1``: the modes repeat as the contract says
    (``symmetric`` cba|abc, ``mirror`` cb|abc, ``wrap`` abc|abc, ``edge`` aaa|abc).
    """
    positions = np.asarray(positions)
    if boundary in ("zero", "constant"):
        return np.where((positions >= 0) & (positions < size), positions, -1)
    if boundary == "edge":
        return np.clip(positions, 0, size - 1)
    if boundary == "wrap":
        return positions % size
    if boundary == "symmetric":
        folded = positions % (2 * size)
        return np.where(folded < size, folded, 2 * size - 1 - folded)
    if size == 1:  # mirror of a single sample
        return np.zeros_like(positions)
    folded = positions % (2 * size - 2)
    return np.where(folded < size, folded, 2 * size - 2 - folded)
