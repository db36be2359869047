"""From a float feature map to the pixels written: the ``map`` policy, then a colour map or an overlay."""

from __future__ import annotations

import numpy as np

from convcli.errors import ParameterError
from convcli.pixels.colormaps import apply_colormap, overlay, to_gray
from convcli.pixels.mapping import Mapped, apply_map

#: The colour map of ``overlay`` when none is given.
OVERLAY_COLORMAP = "inferno"


def render(values: np.ndarray, policy: str, *, global_range: tuple[float, float] | None = None,
           colormap: str | None = None, base: np.ndarray | None = None) -> Mapped:
    """Map ``values`` (a float map the caller gives up: it is mapped in place) by ``policy``; then colour it
    by ``colormap`` (a colour map by its luminance) or blend it over ``base``, the input, when given.

    The clip counts and the peak are those of the map policy; the colours do not change them.
    """
    mapped = apply_map(values, policy, global_range=global_range, in_place=True)
    if colormap is None and base is None:
        return mapped
    strength = to_gray(mapped.values) if mapped.values.ndim == 3 else mapped.values
    coloured = apply_colormap(strength, colormap or OVERLAY_COLORMAP)
    if base is not None:
        if strength.shape != base.shape[:2]:
            raise ParameterError(
                f"`overlay` needs a map the size of its input ({base.shape[1]}x{base.shape[0]}); this one is "
                f"{strength.shape[1]}x{strength.shape[0]}: use `stride` 1 and `padding` same")
        coloured = overlay(base, strength, coloured)
    return Mapped(coloured, mapped.clipped_low, mapped.clipped_high, mapped.peak)
