"""Helpers shared by the tests."""

from __future__ import annotations

from pathlib import Path

from convcli.kernels.library import Problems, build_library, read_kernel_file


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
