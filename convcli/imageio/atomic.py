"""Files written whole or not at all: a temporary name in the same folder, renamed into place.

The output ``-`` is standard output: the file is made in memory and written there in one piece.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import io
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from convcli.errors import OutputError

#: The output that is standard output.
STDOUT = Path("-")

#: The environment variable naming the run a process writes for (its workers' temporary files carry it).
RUN_VARIABLE = "CONVCLI_RUN"


def run_token() -> str:
    """This run's part of temporary file names: ``p`` and the id of the process that started the run."""
    return os.environ.get(RUN_VARIABLE) or f"p{os.getpid()}"


def temporary_files(path: Path, token: str | None = None) -> list[Path]:
    """The temporary files left next to ``path`` by the run ``token`` (None: by any run)."""
    pattern = f".{glob.escape(path.name)}.{token or 'p*'}.*.part"
    return sorted(path.parent.glob(pattern))


def run_leftovers(paths: list[Path], token: str) -> list[Path]:
    """The temporary files of the run ``token`` next to any of ``paths``: each folder is listed once, however
    many outputs it holds."""
    names: dict[Path, set[str]] = {}
    for path in paths:
        names.setdefault(path.parent, set()).add(path.name)
    found = []
    for folder, wanted in names.items():
        for leftover in folder.glob(f".*.{glob.escape(token)}.*.part"):
            if leftover.name[1:].rsplit(".", 3)[0] in wanted:
                found.append(leftover)
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def orphans(path: Path) -> list[Path]:
    """The temporary files next to ``path`` whose run has ended without removing them (killed), on
    this machine: those of running processes are left alone."""
    found = []
    for leftover in temporary_files(path):
        token = leftover.name[len(path.name) + 2:].split(".", 1)[0]
        if token[1:].isdigit() and not _alive(int(token[1:])):
            found.append(leftover)
    return found


@functools.cache
def _default_umask() -> int:
    # Read once: os.umask can only be read by setting it, which is not safe while other threads write.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through a temporary file in the same folder, renamed into place when complete.

    An interrupted run leaves no half-written output: the temporary file is removed on any error.
    ``path`` :data:`STDOUT` writes to standard output once the whole file is made; a symbolic link is
    written through (its target replaced, the link kept), and a device or a named pipe (``/dev/stdout``)
    is written straight into.
    """
    if path.is_symlink():  # write the file it points to, and keep the link
        path = path.resolve()
    if path.exists() and not path.is_file() and not path.is_dir():  # a device or a named pipe: straight in
        try:
            with open(path, "wb") as handle:
                write(handle)
        except OSError as error:
            raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None
        return
    if path == STDOUT:
        buffer = io.BytesIO()
        write(buffer)
        try:
            sys.stdout.buffer.write(buffer.getbuffer())
            sys.stdout.buffer.flush()
        except OSError as error:  # a closed pipe
            raise OutputError(f"standard output: cannot write ({error.strerror or error})") from None
        return
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{run_token()}.", suffix=".part")
    except OSError as error:
        raise OutputError(f"{path}: cannot write ({error.strerror})") from None
    try:
        os.close(fd)
        with open(temporary, "w+b") as handle:  # by name (tifffile reads it); read too: TIFF writers seek back
            write(handle)
        os.chmod(temporary, 0o666 & ~_default_umask())
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None
    except BaseException:
        _remove(temporary)
        raise


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def make_folder(folder: Path) -> None:
    """Create ``folder`` and its parents, as an :class:`OutputError` when the file system refuses."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{folder}: cannot create the folder ({error.strerror})") from None
