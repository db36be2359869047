"""Turning the ``INPUT...`` arguments (files, folders, quoted globs) into a list of image files."""

from __future__ import annotations

import glob
from pathlib import Path

from convcli.errors import ParameterError
from convcli.imageio import readable_extensions

_GLOB_CHARS = set("*?[")


def _images_in(folder: Path, extensions: set[str]) -> list[Path]:
    return sorted(
        path for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in extensions
    )


def expand_inputs(arguments: list[str | Path]) -> list[Path]:
    """Expand files, folders (their image files, by extension, not recursing) and globs, in order.

    A file named outright is kept whatever its extension (Pillow recognises images by content); in
    folders and globs only files with an image extension are taken. Duplicates are dropped.
    """
    extensions = readable_extensions()
    found: list[Path] = []
    for argument in arguments:
        text = str(argument)
        path = Path(text)
        if path.is_dir():
            found.extend(_images_in(path, extensions))
        elif path.exists():
            found.append(path)
        elif _GLOB_CHARS & set(text):
            matches = [Path(match) for match in sorted(glob.glob(text))]
            found.extend(m for m in matches if m.is_file() and m.suffix.lower() in extensions)
        else:
            raise ParameterError(f"no such file or folder: {text}")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise ParameterError(f"no images found in {', '.join(str(a) for a in arguments)}")
    return unique
