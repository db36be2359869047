"""Helpers shared by the tests."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from convcli.kernels.library import Problems, build_library, read_kernel_file

#: The engine's paths as tests force them (``indirect=True`` through conftest's ``method`` or ``path``
#: fixture), with the direct path's two ways of summing apart.
ENGINE_WAYS = ["direct:taps", "direct:rows", "separable", "fft", "gemm"]

#: scipy.signal's names for the boundary modes it has.
SCIPY_BOUNDARY = {"zero": "fill", "symmetric": "symm", "wrap": "wrap"}


def powers_of_two(shape) -> np.ndarray:
    """A kernel whose taps are all different (1, 2, 4, ...), with a sign pattern, so no symmetry hides a bug."""
    taps = 2.0 ** np.arange(math.prod(shape))
    taps[1::3] *= -1
    return taps.reshape(shape)


def image(shape, seed=0) -> np.ndarray:
    """A random image in [0, 1)."""
    return np.random.default_rng(seed).random(shape)


def load_kernel_file(path: Path | str) -> dict:
    """The entries of one kernel file on top of nothing (no built-ins); raises every problem found."""
    problems = Problems()
    library = build_library([read_kernel_file(path, problems)], problems)
    problems.raise_any()
    return library.entries


def stack_names(path: Path | str) -> list[str]:
    """The layer names of a stack TIFF, from the JSON in its first page's ImageDescription tag."""
    import json

    from PIL import Image

    with Image.open(path) as image:
        return json.loads(image.tag_v2.get(270, "{}")).get("kernels", [])
