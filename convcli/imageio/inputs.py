"""Turning the ``INPUT...`` arguments (files, folders, quoted globs) into the images to process.

Each image keeps its path relative to the argument it came from, so that the output folder can
mirror the input tree: ``photos/2024/a.jpg`` found under the argument ``photos`` is written to
``OUT/2024/a_edge.jpg``. The argument ``-`` is an image read from standard input, named ``stdin``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from convcli.errors import ParameterError
from convcli.imageio.reading import STDIN, readable_extensions

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class InputImage:
    """An image to process and where it sits under the argument that named it."""

    path: Path
    relative: Path  # mirrored under the output folder
    data: bytes | None = field(default=None, repr=False, compare=False)  # standard input's image


@dataclass
class Inputs:
    """The images found, and the files passed over in folders because they are not images."""

    images: list[InputImage]
    skipped: list[Path] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        return [image.path for image in self.images]


def _glob_root(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard: ``photos/*/x*.jpg`` -> ``photos``."""
    parts = Path(pattern).parts
    fixed = [part for part in parts[:next((i for i, p in enumerate(parts) if _GLOB_CHARS & set(p)), len(parts))]]
    return Path(*fixed) if fixed else Path(".")


def _glob(root: Path, pattern: str) -> list[Path]:
    """The files ``pattern`` matches under ``root``, sorted: ``**`` recurses without following a link to
    a folder round a loop (pathlib's walk), and hidden files and folders are left out, as the shell does."""
    relative = Path(pattern).relative_to(root) if Path(pattern).is_absolute() or root != Path(".") else Path(pattern)
    matches = []
    for match in root.glob(str(relative)):
        if not any(part.startswith(".") for part in match.relative_to(root).parts):
            matches.append(match)
    return sorted(matches)


def _from_folder(folder: Path, recursive: bool, found: Inputs) -> None:
    walk = folder.rglob("*") if recursive else folder.iterdir()
    for path in sorted(walk):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if path.suffix.lower() in readable_extensions():
            found.images.append(InputImage(path, relative))
        else:
            found.skipped.append(path)


def read_stdin(stream=None) -> bytes:
    """The image piped to standard input; a :class:`ParameterError` when nothing is piped."""
    stream = stream or sys.stdin
    if stream is None or stream.isatty():
        raise ParameterError("INPUT - reads an image from standard input, but it is a terminal; pipe an image in "
                             "(cat photo.png | convcli apply - ...)")
    data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read()
    if not data:
        raise ParameterError("INPUT - reads an image from standard input, but nothing came")
    return data


_FLAG_WORDS = {"true", "false", "yes", "no", "on", "off"}


def expand_inputs(arguments: list[str | Path], *, recursive: bool = False) -> Inputs:
    """Expand files, folders and globs, in order.

    A file named outright is kept whatever its extension (Pillow recognises images by content) and
    mirrors as its name alone. In folders (and, with ``recursive``, their sub-folders, hidden ones
    left out) and in globs (``**`` recurses), files with an image extension are taken and the others
    counted in :attr:`Inputs.skipped`. An image found twice is kept once; ``-`` (standard input) may
    be given once.
    """
    found = Inputs([])
    if sum(str(argument) == STDIN for argument in arguments) > 1:
        raise ParameterError("INPUT - (standard input) may be given once")
    for argument in arguments:
        text = str(argument)
        path = Path(text)
        if text == STDIN:
            found.images.append(InputImage(path, Path("stdin"), read_stdin()))
        elif path.is_dir():
            _from_folder(path, recursive, found)
        elif path.exists():
            if not path.is_file():
                raise ParameterError(f"INPUT {text} is not a regular file (a named pipe or a device?); pipe it "
                                     "into - instead")
            found.images.append(InputImage(path, Path(path.name)))
        elif _GLOB_CHARS & set(text):
            root = _glob_root(text)
            for match in _glob(root, text):
                if not match.is_file():
                    continue
                if match.suffix.lower() in readable_extensions():
                    found.images.append(InputImage(match, match.relative_to(root)))
                else:
                    found.skipped.append(match)
        else:
            # `--gray true` reads true as an INPUT: say why, rather than only that there is no such file.
            flag = " (on/off flags such as `gray` take no value)" if text.lower() in _FLAG_WORDS else ""
            raise ParameterError(f"no such file or folder: {text}{flag}")
    seen: set[Path] = set()
    unique = []
    for image in found.images:
        key = image.path if image.data is not None else image.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(image)
    found.images = unique
    if not found.images:
        what = ", ".join(str(a) for a in arguments)
        folders = any(Path(str(a)).is_dir() for a in arguments)
        hint = " (`recursive` looks in sub-folders)" if folders and not recursive else ""
        raise ParameterError(f"no images found in {what}{hint}")
    return found
