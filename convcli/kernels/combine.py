"""Stacks of feature maps (one per kernel of a bank) and how they reduce to one map."""

from __future__ import annotations

import numpy as np

from convcli.choices import COMBINES
from convcli.errors import ParameterError


def combine(maps: list[np.ndarray], how: str) -> np.ndarray:
    """Reduce same-shaped maps to one: ``magnitude`` (square root of the sum of squares), ``max``,
    ``sum``, or ``argmax`` (the index of the strongest map at each pixel, for orientation maps).

    >>> a, b = np.array([3.0, -1.0]), np.array([4.0, 2.0])
    >>> combine([a, b], "magnitude").tolist(), combine([a, b], "argmax").tolist()
    ([5.0, 2.23606797749979], [1.0, 1.0])
    """
    shapes = {m.shape[:2] for m in maps}
    if len(shapes) > 1:  # a stride, with padding other than same, can leave maps a row apart
        listed = ", ".join(f"{rows}x{columns}" for rows, columns in sorted(shapes))
        raise ParameterError(f"`combine` {how} needs maps of one size; these kernels give {listed} here (use "
                             "`padding` same, or `stack` to keep the maps side by side)")
    stack = np.stack(maps)
    if how == "magnitude":
        return np.sqrt(np.einsum("i...,i...->...", stack, stack))
    if how == "max":
        return stack.max(axis=0)
    if how == "sum":
        return stack.sum(axis=0)
    if how == "argmax":  # (argmax takes a NaN for the largest: a missing output stays missing)
        index = stack.argmax(axis=0).astype(stack.dtype)
        return np.where(np.isnan(stack).any(axis=0), np.nan, index) if stack.dtype.kind == "f" else index
    raise ParameterError(f"combine must be one of {', '.join(COMBINES)}; got {how!r}")
