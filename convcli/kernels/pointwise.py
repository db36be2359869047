"""The ``--depthwise`` entry and its pointwise matrix, inline or from a ``.toml`` or ``.npy`` file."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from convcli.engine.layers import check_weights
from convcli.errors import KernelError, ParameterError
from convcli.kernels.entry import Entry
from convcli.kernels.layer import Depthwise

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_pointwise(spec: str) -> np.ndarray:
    """An inline pointwise matrix: rows (output channels) split by ``;``, values by ``,`` or spaces.

    >>> parse_pointwise("0.299,0.587,0.114").tolist()
    [[0.299, 0.587, 0.114]]
    >>> parse_pointwise("1 0 0; 0 0 1").shape
    (2, 3)
    """
    rows = []
    for text in str(spec).strip().strip(";").split(";"):
        values = [value for value in re.split(r"[\s,]+", text.strip()) if value]
        if not values or not all(re.fullmatch(_NUMBER, value) for value in values):
            raise ParameterError(f"pointwise {spec!r}: {text.strip()!r} is not a list of numbers")
        rows.append([float(value) for value in values])
    if len({len(row) for row in rows}) != 1:
        raise ParameterError(f"pointwise {spec!r}: every row needs one value per channel; got rows of "
                             f"{', '.join(str(len(row)) for row in rows)} values")
    return check_weights(rows, f"pointwise {spec!r}", "O x C")


def load_pointwise(path: Path | str) -> np.ndarray:
    """A pointwise matrix from a file: ``.npy`` (``O x C`` or ``C``) or TOML with ``matrix = [[...]]``.

    The TOML form is one top-level key ``matrix`` (rows of numbers, or one flat row) and an optional
    ``description``::

        description = "Rec. 601 luminance"
        matrix = [[0.299, 0.587, 0.114]]
    """
    path = Path(path)
    source = str(path)
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise KernelError(f"{source}: no such pointwise file") from None
        except (OSError, ValueError) as error:
            raise KernelError(f"{source}: not a readable .npy array ({error})") from None
    else:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KernelError(f"{source}: no such pointwise file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise KernelError(f"{source}: cannot read pointwise file ({error})") from None
        except tomllib.TOMLDecodeError as error:
            raise KernelError(f"{source}: not valid TOML: {error}") from None
        unknown = sorted(set(document) - {"matrix", "description"})
        if unknown:
            raise KernelError(f"{source}: unknown key '{unknown[0]}'; a pointwise file holds matrix = [[...]] "
                              "and an optional description")
        if "matrix" not in document:
            raise KernelError(f"{source}: needs matrix = [[...]] (one row of channel weights per output)")
        array = document["matrix"]
        if isinstance(array, list) and array and not isinstance(array[0], list):
            array = [array]
        if not isinstance(array, list) or not all(isinstance(row, list) for row in array) \
                or len({len(row) for row in array}) != 1 \
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for row in array for v in row):
            raise KernelError(f"{source}: matrix must be rows of numbers, all of the same length")
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[None, :]
    try:
        return check_weights(array, "matrix", "O x C")
    except ParameterError as error:
        raise KernelError(f"{source}: {error}") from None


def pointwise_matrix(spec: str) -> np.ndarray:
    """``--pointwise`` as given: a ``.toml`` or ``.npy`` file, or an inline matrix (see :func:`parse_pointwise`)."""
    text = str(spec).strip()
    if text.lower().endswith((".toml", ".npy")):
        return load_pointwise(Path(text))
    return parse_pointwise(text)


def depthwise_entry(entries: Sequence[Entry], pointwise_spec: str | None = None) -> Depthwise:
    """The ``--depthwise`` entry: the ``-k`` kernels (banks expanded, chains folded) one per channel,
    then the ``--pointwise`` matrix, when one is given."""
    kernels = tuple(kernel for entry in entries for kernel in entry.flat())
    matrix = pointwise_matrix(pointwise_spec) if pointwise_spec else None
    names = ", ".join(k.name for k in kernels)
    return Depthwise(name="separable" if matrix is not None else "depthwise", kernels=kernels, pointwise=matrix,
                     description=f"depthwise {names}" + (" then pointwise" if matrix is not None else ""),
                     source="depthwise")
