"""Colour maps for one-channel feature maps, luminance, and overlays of a map on its input (NumPy only).

Each colour map is a handful of colour stops interpolated linearly into a 256-entry table: the
sequential ``viridis`` and ``inferno`` (brightness rises with the value) and ``gray``, and the diverging
``coolwarm`` (blue below the middle, white at 0.5, red above), meant for signed maps shown with
``--map offset`` so that zero is the middle.
"""

from __future__ import annotations

import numpy as np

from convcli.choices import COLORMAPS
from convcli.errors import ParameterError

_STOPS = {
    "gray": ["#000000", "#ffffff"],
    "viridis": ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"],
    "inferno": ["#000004", "#1b0c41", "#4a0c6b", "#781c6d", "#a52c60", "#cf4446", "#ed6925", "#fb9b06", "#f7d13d",
                "#fcffa4"],
    "coolwarm": ["#3b4cc0", "#8db0fe", "#dddddd", "#f49a7b", "#b40426"],
}
DIVERGING = ("coolwarm",)


# Rec. 601 luma weights, the ones Pillow's convert("L") uses.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_gray(color: np.ndarray) -> np.ndarray:
    """Luminance of an RGB array (Rec. 601 weights); a gray array is returned as is."""
    if color.ndim == 2:
        return color
    return (color @ LUMA).astype(np.float32)

def _rgb(hex_colour: str) -> tuple[float, float, float]:
    return tuple(int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))


def lookup_table(name: str) -> np.ndarray:
    """The ``256 x 3`` float table of a colour map."""
    if name not in _STOPS:
        raise ParameterError(f"colormap must be one of {', '.join(COLORMAPS)}; got {name!r}")
    stops = np.array([_rgb(c) for c in _STOPS[name]])
    positions = np.linspace(0.0, 1.0, len(stops))
    levels = np.linspace(0.0, 1.0, 256)
    return np.stack([np.interp(levels, positions, stops[:, c]) for c in range(3)], axis=1).astype(np.float32)


def apply_colormap(values: np.ndarray, name: str) -> np.ndarray:
    """Colour a one-channel map of values in [0, 1]: ``H x W`` in, ``H x W x 3`` out.

    >>> apply_colormap(np.array([[0.0, 1.0]]), "gray").tolist()
    [[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]]
    """
    if values.ndim != 2:
        raise ParameterError(f"a colour map needs a one-channel map; got shape {values.shape}")
    table = lookup_table(name)
    index = np.rint(np.clip(np.nan_to_num(values), 0.0, 1.0) * 255).astype(np.intp)
    return table[index]


def overlay(base: np.ndarray, strength: np.ndarray, colour: np.ndarray, opacity: float = 0.7) -> np.ndarray:
    """Blend ``colour`` over ``base`` where ``strength`` (a [0, 1] map) is high.

    ``out = base * (1 - opacity * strength) + colour * opacity * strength``; a gray base is made RGB.
    """
    if base.ndim == 2:
        base = np.repeat(base[..., None], 3, axis=2)
    weight = (opacity * np.clip(strength, 0.0, 1.0))[..., None]
    return base * (1 - weight) + colour * weight
