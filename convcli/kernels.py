"""Kernels as validated data, the TOML kernel library, and the ``-k`` forms that name a kernel.

Built-in kernels (``kernels.toml``), user TOML files, inline matrices and ``.npy`` files all end in
the same :class:`Kernel` constructor, so every kernel is checked by one piece of code and every error
names where the kernel came from.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from convcli.errors import KernelError
from convcli.mapping import MAPS

#: Largest kernel side accepted; a bigger one is almost always a mistake (a whole image as kernel).
MAX_KERNEL_SIDE = 1025
#: Kernel names end up in file names, so they are kept to letters, digits, ``_`` and ``-``.
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
#: The keys a ``[kernels.NAME]`` table may hold.
TOML_KEYS = ("description", "weights", "row", "col", "scale", "divisor", "normalize", "bias", "map", "flip")
BUILTIN_SOURCE = "built-in"


@dataclass(frozen=True, eq=False)
class Kernel:
    """A named 2-D kernel: its weights and how it likes to be applied.

    The weights are stored as a read-only float64 array; ``bias`` is added after the sum (in the
    engine's [0, 1] units), ``flip`` asks for true convolution and ``map`` is the preferred output
    mapping. ``source`` says where the kernel was defined and is part of every error message.
    """

    name: str
    weights: np.ndarray
    description: str = ""
    bias: float = 0.0
    flip: bool = False
    map: str | None = None
    source: str = BUILTIN_SOURCE
    _sum: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):
            raise KernelError(
                f"{self.source}: kernel name {self.name!r} must start with a letter or _ and hold only "
                "letters, digits, _ and -"
            )
        weights = _as_matrix(self.weights, self._where("weights"))
        weights.setflags(write=False)
        object.__setattr__(self, "weights", weights)
        if not isinstance(self.bias, (int, float)) or isinstance(self.bias, bool) or not np.isfinite(self.bias):
            raise KernelError(f"{self._where('bias')}: must be a finite number, got {self.bias!r}")
        object.__setattr__(self, "bias", float(self.bias))
        if not isinstance(self.flip, bool):
            raise KernelError(f"{self._where('flip')}: must be true or false, got {self.flip!r}")
        if self.map is not None and self.map not in MAPS[1:]:
            raise KernelError(f"{self._where('map')}: must be one of {', '.join(MAPS[1:])}, got {self.map!r}")
        object.__setattr__(self, "_sum", float(weights.sum()))

    def _where(self, key: str | None = None) -> str:
        where = f"{self.source}: kernel '{self.name}'"
        return f"{where}: {key}" if key else where

    @property
    def shape(self) -> tuple[int, int]:
        """``(kh, kw)``."""
        return self.weights.shape

    @property
    def sum(self) -> float:
        """The sum of the weights."""
        return self._sum

    @property
    def zero_sum(self) -> bool:
        """True when the weights sum to zero (an edge or gradient detector)."""
        return abs(self._sum) <= 1e-9 * max(1.0, float(np.abs(self.weights).sum()))


def _as_matrix(values: object, where: str) -> np.ndarray:
    """Check that ``values`` is a non-empty, rectangular, finite, numeric 2-D matrix."""
    if isinstance(values, np.ndarray):
        array = values
    else:
        rows = values if isinstance(values, (list, tuple)) else None
        if not rows or not all(isinstance(row, (list, tuple)) for row in rows):
            raise KernelError(f"{where}: must be a non-empty list of rows, e.g. [[0, 1], [1, 0]]")
        for number, row in enumerate(rows, start=1):
            if not row:
                raise KernelError(f"{where}: row {number} is empty")
            if len(row) != len(rows[0]):
                raise KernelError(f"{where}: row {number} has {len(row)} values, row 1 has {len(rows[0])}")
            for value in row:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise KernelError(f"{where}: row {number} holds {value!r}, which is not a number")
        array = np.array(rows, dtype=np.float64)
    if array.dtype.kind not in "biuf":
        raise KernelError(f"{where}: must hold numbers, got dtype {array.dtype}")
    if array.ndim != 2 or 0 in array.shape:
        raise KernelError(f"{where}: must be a non-empty 2-D matrix, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise KernelError(f"{where}: holds NaN or infinite values")
    if max(array.shape) > MAX_KERNEL_SIDE:
        raise KernelError(
            f"{where}: {array.shape[0]}x{array.shape[1]} is larger than the limit of "
            f"{MAX_KERNEL_SIDE} on a side"
        )
    return np.array(array, dtype=np.float64)


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def kernel_from_table(name: str, table: dict, source: str) -> Kernel:
    """Build a :class:`Kernel` from one ``[kernels.NAME]`` TOML table."""
    where = f"{source}: kernel '{name}'"
    if not isinstance(table, dict):
        raise KernelError(f"{where}: must be a table of keys such as weights = [[...]]")
    for key in table:
        if key not in TOML_KEYS:
            raise KernelError(f"{where}: unknown key '{key}'{_did_you_mean(key, TOML_KEYS)}")
    if "weights" in table and ("row" in table or "col" in table):
        raise KernelError(f"{where}: give either weights or row and col, not both")
    if "weights" in table:
        weights = _as_matrix(table["weights"], f"{where}: weights")
    elif "row" in table and "col" in table:
        row = _as_matrix([table["row"]], f"{where}: row")
        col = _as_matrix([table["col"]], f"{where}: col")
        weights = np.outer(col, row)  # separable form: weights = outer(col, row)
    elif "row" in table or "col" in table:
        missing = "col" if "row" in table else "row"
        raise KernelError(f"{where}: the separable form needs both row and col; {missing} is missing")
    else:
        raise KernelError(f"{where}: needs weights (or row and col)")

    scaling = [key for key in ("scale", "divisor", "normalize") if key in table]
    if len(scaling) > 1:
        raise KernelError(f"{where}: give at most one of scale, divisor and normalize (got {', '.join(scaling)})")
    if "scale" in table:
        weights = weights * _number(table["scale"], f"{where}: scale")
    elif "divisor" in table:
        divisor = _number(table["divisor"], f"{where}: divisor")
        if divisor == 0:
            raise KernelError(f"{where}: divisor must not be 0")
        weights = weights / divisor
    elif table.get("normalize") is True:
        total = weights.sum()
        if abs(total) <= 1e-12 * np.abs(weights).sum():
            raise KernelError(f"{where}: normalize = true needs a kernel whose weights do not sum to 0")
        weights = weights / total
    elif "normalize" in table and table["normalize"] is not False:
        raise KernelError(f"{where}: normalize must be true or false, got {table['normalize']!r}")

    description = table.get("description", "")
    if not isinstance(description, str):
        raise KernelError(f"{where}: description must be a string")
    return Kernel(
        name=name,
        weights=weights,
        description=description,
        bias=table.get("bias", 0.0),
        flip=table.get("flip", False),
        map=table.get("map"),
        source=source,
    )


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise KernelError(f"{where}: must be a finite number, got {value!r}")
    return float(value)


def load_kernel_file(path: Path | str, source: str | None = None) -> dict[str, Kernel]:
    """Read every ``[kernels.NAME]`` table of a TOML file into :class:`Kernel` values."""
    path = Path(path)
    source = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KernelError(f"{source}: no such kernel file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KernelError(f"{source}: cannot read kernel file ({error})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise KernelError(f"{source}: not valid TOML: {error}") from None
    unknown = [key for key in document if key != "kernels"]
    if unknown:
        raise KernelError(f"{source}: unknown table '{unknown[0]}'{_did_you_mean(unknown[0], ['kernels'])}; "
                          "kernels go in [kernels.NAME] tables")
    tables = document.get("kernels", {})
    return {name: kernel_from_table(name, table, source) for name, table in tables.items()}


def builtin_kernel_file() -> Path:
    """Where the built-in ``kernels.toml`` is: inside the installed package, or at the repository root."""
    packaged = resources.files("convcli").joinpath("kernels.toml")
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "kernels.toml"


def load_library(extra_files: list[Path] | tuple[Path, ...] = ()) -> dict[str, Kernel]:
    """The built-in kernels, overridden by each of ``extra_files`` in turn."""
    library = load_kernel_file(builtin_kernel_file(), source=BUILTIN_SOURCE)
    for path in extra_files:
        library.update(load_kernel_file(path))
    return library


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_INLINE = re.compile(rf"\s*{_NUMBER}(?:[\s,;]+{_NUMBER})*[\s,;]*")


def parse_inline(spec: str, name: str = "inline") -> Kernel:
    """Parse an inline matrix: rows split by ``;``, values by ``,`` or spaces (``"0,-1,0; -1,5,-1; 0,-1,0"``)."""
    rows = []
    for text in spec.strip().strip(";").split(";"):
        values = [value for value in re.split(r"[\s,]+", text.strip()) if value]
        try:
            rows.append([float(value) for value in values])
        except ValueError:
            raise KernelError(f"inline kernel {spec!r}: {text.strip()!r} is not a list of numbers") from None
    return Kernel(name=name, weights=rows, source=f"inline kernel {spec!r}")


def load_npy_kernels(path: Path) -> list[Kernel]:
    """Load a ``.npy`` kernel: a 2-D matrix, or a 3-D bank ``N x kh x kw`` (one kernel per slice)."""
    source = str(path)
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise KernelError(f"{source}: no such kernel file") from None
    except (OSError, ValueError) as error:
        raise KernelError(f"{source}: not a readable .npy array ({error})") from None
    stem = re.sub(r"[^A-Za-z0-9_\-]", "_", path.stem)
    if not NAME_PATTERN.fullmatch(stem):
        stem = f"k_{stem}"
    if array.ndim == 3:
        if array.shape[0] == 0:
            raise KernelError(f"{source}: the bank holds no kernels")
        return [Kernel(name=f"{stem}_{index}", weights=plane, source=source) for index, plane in enumerate(array)]
    if array.ndim != 2:
        raise KernelError(
            f"{source}: a .npy kernel must be 2-D (kh x kw) or 3-D (N x kh x kw), got shape {array.shape}")
    return [Kernel(name=stem, weights=array, source=source)]


def resolve_kernels(specs: list[str], library: dict[str, Kernel]) -> list[Kernel]:
    """Turn every ``-k`` value into kernels: a library name, an inline matrix or a ``.npy`` file.

    Kernels get distinct names (they name the output files): inline kernels are called
    ``inline1``, ``inline2``, ... by their position among the inline ones.
    """
    kernels: list[Kernel] = []
    inline_count = 0
    for spec in specs:
        text = spec.strip()
        if text.lower().endswith(".npy"):
            kernels.extend(load_npy_kernels(Path(text)))
        elif text in library:
            kernels.append(library[text])
        elif _INLINE.fullmatch(text):
            inline_count += 1
            kernels.append(parse_inline(text, name=f"inline{inline_count}"))
        elif re.search(r"\d", text) and re.search(r"[;,]", text):
            parse_inline(text)  # a matrix with a typo: raises the message that points at it
        else:
            raise KernelError(f"unknown kernel '{text}'{_did_you_mean(text, library)}")
    seen: set[str] = set()
    for kernel in kernels:
        if kernel.name in seen:
            raise KernelError(f"kernel '{kernel.name}' is given twice")
        seen.add(kernel.name)
    return kernels
