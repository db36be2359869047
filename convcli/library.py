"""Where kernels come from: TOML kernel files, the places they are looked for, and the ``-k`` forms.

Override order (later wins): the built-in ``kernels.toml``, the user's file in the platform's config
folder (``~/.config/convcli/kernels.toml`` on Linux), the files listed in ``CONVCLI_KERNELS``
(separated by ``:``, ``;`` on Windows), then each ``--kernels FILE``.

A kernel file has three kinds of table::

    [kernels.NAME]  weights = [[...]] | row + col | generator = "gaussian" (+ its parameters)
                    scale | divisor | normalize, bias, flip, map, description
    [banks.NAME]    kernels = ["a", "b"] | base = "k" + rotations = 4 | 8; combine, map, description
    [chains.NAME]   kernels = ["a", "b", ...]; map, description
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from convcli.errors import KernelError
from convcli.generators import GENERATORS, generate, parse_call
from convcli.kernels import (
    BUILTIN_SOURCE,
    NAME_PATTERN,
    Bank,
    Chain,
    Entry,
    Kernel,
    Layer,
    as_matrix,
    rotations,
)

KERNEL_KEYS = ("description", "weights", "row", "col", "generator", "scale", "divisor", "normalize", "bias",
               "map", "flip")
BANK_KEYS = ("description", "kernels", "base", "rotations", "combine", "map")
CHAIN_KEYS = ("description", "kernels", "map")
TABLES = ("kernels", "banks", "chains")
ENV_VAR = "CONVCLI_KERNELS"


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Problems:
    """Collects every problem of a file, so that one run reports them all."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(message)

    def raise_any(self) -> None:
        if self.messages:
            raise KernelError("\n".join(self.messages))


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise KernelError(f"{where}: must be a finite number, got {value!r}")
    return float(value)


def _weights(table: dict, where: str) -> np.ndarray:
    forms = [key for key in ("weights", "generator") if key in table] + (["row/col"] if {"row", "col"} & set(table)
                                                                       else [])
    if len(forms) > 1:
        raise KernelError(f"{where}: give one of weights, row and col, or generator (got {', '.join(forms)})")
    if "weights" in table:
        return as_matrix(table["weights"], f"{where}: weights")
    if "generator" in table:
        generator = GENERATORS.get(str(table["generator"]))
        accepted = (generator.parameters + tuple(generator.aliases or ())) if generator else ()
        # Unknown keys are reported on their own; the generator gets the parameters it knows.
        params = {key: value for key, value in table.items() if key not in KERNEL_KEYS and key in accepted}
        return generate(str(table["generator"]), params, f"{where}: generator")
    if "row" in table and "col" in table:
        row = as_matrix([table["row"]], f"{where}: row")
        col = as_matrix([table["col"]], f"{where}: col")
        return np.outer(col, row)  # separable form: weights = outer(col, row)
    if "row" in table or "col" in table:
        missing = "col" if "row" in table else "row"
        raise KernelError(f"{where}: the separable form needs both row and col; {missing} is missing")
    raise KernelError(f"{where}: needs weights, row and col, or generator")


def _scaled(weights: np.ndarray, table: dict, where: str) -> np.ndarray:
    scaling = [key for key in ("scale", "divisor", "normalize") if key in table]
    if len(scaling) > 1:
        raise KernelError(f"{where}: give at most one of scale, divisor and normalize (got {', '.join(scaling)})")
    if "scale" in table:
        return weights * _number(table["scale"], f"{where}: scale")
    if "divisor" in table:
        divisor = _number(table["divisor"], f"{where}: divisor")
        if divisor == 0:
            raise KernelError(f"{where}: divisor must not be 0")
        return weights / divisor
    if "normalize" in table and not isinstance(table["normalize"], bool):
        raise KernelError(f"{where}: normalize must be true or false, got {table['normalize']!r}")
    if table.get("normalize"):
        total = weights.sum()
        if abs(total) <= 1e-12 * np.abs(weights).sum():
            raise KernelError(f"{where}: normalize = true needs a kernel whose weights do not sum to 0")
        return weights / total
    return weights


def kernel_from_table(name: str, table: object, source: str, problems: Problems | None = None) -> Kernel | None:
    """Build a :class:`Kernel` from one ``[kernels.NAME]`` table.

    With ``problems``, every problem found is added to it and None is returned for a bad table;
    without, the first problem is raised.
    """
    collect = Problems()
    where = f"{source}: kernel '{name}'"
    if not isinstance(table, dict):
        collect.add(f"{where}: must be a table of keys such as weights = [[...]]")
        table = {}
    generator = GENERATORS.get(str(table.get("generator")))
    if generator or "generator" not in table:  # with an unknown generator, its keys cannot be judged
        allowed = KERNEL_KEYS + (generator.parameters + tuple(generator.aliases or ()) if generator else ())
        for key in table:
            if key not in allowed:
                collect.add(f"{where}: unknown key '{key}'{did_you_mean(key, allowed)}")
    kernel = None
    try:
        weights = _weights(table, where)
    except KernelError as error:
        collect.add(str(error))
        weights = np.ones((1, 1))  # a stand-in, so that the other keys are still checked
    try:
        weights = _scaled(weights, table, where)
    except KernelError as error:
        collect.add(str(error))
    try:
        description = table.get("description", "")
        if not isinstance(description, str):
            raise KernelError(f"{where}: description must be a string")
        kernel = Kernel(name=name, weights=weights, description=description, bias=table.get("bias", 0.0),
                        flip=table.get("flip", False), map=table.get("map"), source=source)
    except KernelError as error:
        collect.add(str(error))
    if problems is None:
        collect.messages = list(dict.fromkeys(collect.messages))
        collect.raise_any()
        return kernel
    problems.messages.extend(dict.fromkeys(collect.messages))
    return None if collect.messages else kernel


@dataclass
class KernelFile:
    """The raw tables of one kernel file, read and checked for TOML syntax and table names."""

    source: str
    tables: dict[str, tuple[str, dict]] = field(default_factory=dict)  # name -> (kind, table)


def read_kernel_file(path: Path | str, problems: Problems, source: str | None = None) -> KernelFile:
    """Parse a TOML kernel file into its named tables; problems with the file itself go to ``problems``."""
    path = Path(path)
    result = KernelFile(source or str(path))
    source = result.source
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.add(f"{source}: no such kernel file")
        return result
    except (OSError, UnicodeDecodeError) as error:
        problems.add(f"{source}: cannot read kernel file ({error})")
        return result
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        problems.add(f"{source}: not valid TOML: {error}")
        return result
    for kind, tables in document.items():
        if kind not in TABLES:
            problems.add(f"{source}: unknown table '{kind}'{did_you_mean(kind, TABLES)}; "
                         "kernels go in [kernels.NAME], [banks.NAME] or [chains.NAME] tables")
            continue
        if not isinstance(tables, dict):
            problems.add(f"{source}: '{kind}' must hold tables such as [{kind}.NAME]")
            continue
        for name, table in tables.items():
            if name in result.tables:
                problems.add(f"{source}: '{name}' is defined as both a {result.tables[name][0][:-1]} and a "
                             f"{kind[:-1]}")
                continue
            if not NAME_PATTERN.fullmatch(name):
                problems.add(f"{source}: name '{name}' must start with a letter or _ and hold only letters, "
                             "digits, _ and -")
                continue
            result.tables[name] = (kind, table)
    return result


@dataclass
class Library:
    """Every named kernel, bank and chain, with the file each came from."""

    entries: dict[str, Entry]

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def __getitem__(self, name: str) -> Entry:
        return self.entries[name]

    def names(self) -> list[str]:
        return list(self.entries)


def build_library(files: list[KernelFile], problems: Problems) -> Library:
    """Turn the tables of ``files`` (later files override earlier ones) into kernels, banks and chains."""
    tables: dict[str, tuple[str, dict, str]] = {}
    for kernel_file in files:
        for name, (kind, table) in kernel_file.tables.items():
            tables[name] = (kind, table, kernel_file.source)
    entries: dict[str, Entry] = {}
    for name, (kind, table, source) in tables.items():
        if kind == "kernels":
            kernel = kernel_from_table(name, table, source, problems)
            if kernel is not None:
                entries[name] = kernel
    resolving: list[str] = []
    failed: set[str] = set()

    def resolve(name: str) -> Entry | None:
        if name in entries:
            return entries[name]
        if name in failed:
            return None
        kind, table, source = tables[name]
        resolving.append(name)
        try:
            entry = _bank_or_chain(name, kind, table, source, tables, entries, resolving, resolve, problems)
        finally:
            resolving.pop()
        if entry is None:
            failed.add(name)
        else:
            entries[name] = entry
        return entry

    for name, (kind, _, _) in tables.items():
        if kind != "kernels":
            resolve(name)
    return Library({name: entries[name] for name in tables if name in entries})


def _bank_or_chain(name, kind, table, source, tables, entries, resolving, resolve, problems) -> Entry | None:
    what = kind[:-1]
    where = f"{source}: {what} '{name}'"
    if not isinstance(table, dict):
        problems.add(f"{where}: must be a table of keys such as kernels = [...]")
        return None
    keys = BANK_KEYS if kind == "banks" else CHAIN_KEYS
    bad = False
    for key in table:
        if key not in keys:
            problems.add(f"{where}: unknown key '{key}'{did_you_mean(key, keys)}")
            bad = True

    def member(ref: object, key: str) -> list[Kernel] | None:
        if not isinstance(ref, str):
            problems.add(f"{where}: {key}: {ref!r} is not a kernel name")
            return None
        if ref == name or ref in resolving:
            problems.add(f"{where}: {key}: '{ref}' refers back to {'itself' if ref == name else 'this ' + what}")
            return None
        if ref not in tables:
            problems.add(f"{where}: {key}: unknown kernel '{ref}'{did_you_mean(ref, tables)}")
            return None
        entry = resolve(ref)
        if entry is None:
            return None  # its own problem is reported where it is defined
        if isinstance(entry, Kernel):
            return [entry]
        if isinstance(entry, Chain) and kind == "chains":
            return list(entry.kernels)
        problems.add(f"{where}: {key}: '{ref}' is a {type(entry).__name__.lower()}; "
                     f"a {what} is made of kernels{' and chains' if kind == 'chains' else ''}")
        return None

    members: list[Kernel] = []
    if kind == "banks" and ("base" in table) == ("kernels" in table):
        problems.add(f"{where}: give either kernels = [...] or base = NAME with rotations")
        return None
    if "kernels" in table:
        refs = table["kernels"]
        if not isinstance(refs, list) or not refs:
            problems.add(f"{where}: kernels: must be a non-empty list of kernel names")
            return None
        for ref in refs:
            found = member(ref, "kernels")
            bad = bad or found is None
            members.extend(found or [])
    elif kind == "chains":
        problems.add(f"{where}: needs kernels = [...]")
        return None
    else:
        found = member(table["base"], "base")
        if found is None:
            return None
        try:
            members = list(rotations(found[0], table.get("rotations", 4), name, source))
        except KernelError as error:
            problems.add(str(error))
            return None
    if "rotations" in table and "base" not in table:
        problems.add(f"{where}: rotations needs base = NAME")
        bad = True
    if bad:
        return None
    try:
        if kind == "banks":
            return Bank(name=name, kernels=tuple(members), combine=table.get("combine"),
                        description=table.get("description", ""), map=table.get("map"), source=source)
        return Chain(name=name, kernels=tuple(members), description=table.get("description", ""),
                     map=table.get("map"), source=source)
    except KernelError as error:
        problems.add(str(error))
        return None


def builtin_kernel_file() -> Path:
    """Where the built-in ``kernels.toml`` is: inside the installed package, or at the repository root."""
    packaged = resources.files("convcli").joinpath("kernels.toml")
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "kernels.toml"


def user_kernel_file() -> Path:
    """The user's own kernel file, in the platform's config folder (it need not exist)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "convcli" / "kernels.toml"


def kernel_sources(extra_files: list[Path] | tuple[Path, ...] = ()) -> list[tuple[Path, str]]:
    """Every kernel file to read, in override order, as ``(path, source label)``."""
    sources = [(builtin_kernel_file(), BUILTIN_SOURCE)]
    user = user_kernel_file()
    if user.is_file():
        sources.append((user, str(user)))
    for item in filter(None, os.environ.get(ENV_VAR, "").split(os.pathsep)):
        sources.append((Path(item), f"{item} (from {ENV_VAR})"))
    sources.extend((Path(path), str(path)) for path in extra_files)
    return sources


def load_library(extra_files: list[Path] | tuple[Path, ...] = ()) -> Library:
    """The kernels of every source (see :func:`kernel_sources`); raises every problem found at once."""
    problems = Problems()
    files = [read_kernel_file(path, problems, label) for path, label in kernel_sources(extra_files)]
    library = build_library(files, problems)
    problems.raise_any()
    return library


def check_file(path: Path) -> tuple[Library, list[str]]:
    """Validate one user file against the built-ins: its entries and every problem, without raising."""
    problems = Problems()
    builtin = read_kernel_file(builtin_kernel_file(), problems, BUILTIN_SOURCE)
    user = read_kernel_file(path, problems)
    library = build_library([builtin, user], problems)
    mine = Library({name: library[name] for name in user.tables if name in library})
    return mine, problems.messages


def load_kernel_file(path: Path | str) -> dict[str, Entry]:
    """The entries of one file (on top of nothing); raises every problem found."""
    problems = Problems()
    library = build_library([read_kernel_file(path, problems)], problems)
    problems.raise_any()
    return library.entries


# --- the -k forms ------------------------------------------------------------------------------------

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


def _safe_stem(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_\-]", "_", path.stem)
    return stem if NAME_PATTERN.fullmatch(stem) else f"k_{stem}"


def read_npy(path: Path | str) -> np.ndarray:
    """``np.load`` without pickles, every failure a :class:`KernelError` naming the file."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise KernelError(f"{path}: no such kernel file") from None
    except (OSError, ValueError) as error:
        raise KernelError(f"{path}: not a readable .npy array ({error})") from None


def load_npy_kernels(path: Path) -> list[Kernel | Layer]:
    """Load a ``.npy`` kernel: a 2-D matrix, a 3-D bank ``N x kh x kw`` (one kernel per slice), or
    4-D layer weights ``O x I x kh x kw`` in PyTorch's layout (one summed map per output channel)."""
    source = str(path)
    array = read_npy(path)
    stem = _safe_stem(path)
    if array.ndim == 4:
        if array.shape[0] == 0:
            raise KernelError(f"{source}: the layer has no output channels")
        return [Layer(name=f"{stem}_{o}", weights=channel, source=source,
                      description=f"output channel {o} of {array.shape[0]}") for o, channel in enumerate(array)]
    if array.ndim == 3:
        if array.shape[0] == 0:
            raise KernelError(f"{source}: the bank holds no kernels")
        return [Kernel(name=f"{stem}_{index}", weights=plane, source=source) for index, plane in enumerate(array)]
    if array.ndim != 2:
        raise KernelError(f"{source}: a .npy kernel must be 2-D (kh x kw), 3-D (N x kh x kw) or 4-D layer weights "
                          f"(O x I x kh x kw), got shape {array.shape}")
    return [Kernel(name=stem, weights=array, source=source)]


def load_mat_kernel(path: Path) -> Kernel:
    """Load a libvips-style text matrix: a header ``W H [scale [offset]]``, then H rows of W numbers.

    libvips computes ``sum / scale + offset`` in pixel units; the offset is taken as 8-bit units
    (divided by 255) to become the kernel's bias.
    """
    source = str(path)
    try:
        lines = [line.split("#")[0].split() for line in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise KernelError(f"{source}: no such kernel file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KernelError(f"{source}: cannot read kernel file ({error})") from None
    lines = [line for line in lines if line]
    try:
        header = [float(value) for value in lines[0]]
        rows = [[float(value) for value in line] for line in lines[1:]]
    except (IndexError, ValueError):
        raise KernelError(f"{source}: not a matrix file: expected 'W H [scale [offset]]' then rows of numbers"
                          ) from None
    if len(header) not in (2, 3, 4) or header[0] != int(header[0]) or header[1] != int(header[1]):
        raise KernelError(f"{source}: the first line must be 'W H [scale [offset]]', got {' '.join(lines[0])!r}")
    width, height = int(header[0]), int(header[1])
    scale = header[2] if len(header) > 2 else 1.0
    offset = header[3] if len(header) > 3 else 0.0
    if len(rows) != height:
        raise KernelError(f"{source}: the header says {height} rows, the file holds {len(rows)}")
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise KernelError(f"{source}: row {number} has {len(row)} values, the header says {width}")
    if scale == 0:
        raise KernelError(f"{source}: scale must not be 0")
    return Kernel(name=_safe_stem(path), weights=np.array(rows) / scale, bias=offset / 255.0, source=source)


def generated_kernel(spec: str) -> Kernel:
    """A kernel from a generator call such as ``gaussian:size=9,sigma=2`` (parameters may be omitted)."""
    name, params = parse_call(spec)
    weights = generate(name, params, f"kernel {spec!r}")
    label = "".join(f"-{key}{_label(value)}" for key, value in params.items())
    return Kernel(name=f"{name}{label}", weights=weights, source=f"generator {spec!r}",
                  description=f"{name} generator")


def _label(value: float) -> str:
    """A number as it can stand in a file name: ``1.5`` -> ``1p5``, ``-30`` -> ``m30``."""
    return f"{value:g}".replace("-", "m").replace(".", "p").replace("+", "")


def resolve_kernels(specs: list[str], library: Library, *, unique: bool = True) -> list[Entry]:
    """Turn every ``-k`` value into kernels, banks or chains.

    A ``-k`` may be a library name, a generator call (``gaussian:size=9,sigma=2``), an inline matrix,
    a ``.npy`` file or a libvips ``.mat`` matrix file. A bank without ``combine`` stands for its
    kernels, each giving its own map. Inline kernels are named ``inline1``, ``inline2``, ... by
    their position among the inline ones; with ``unique`` every name must be unique (they name the
    output files; a depthwise convolution may use one kernel on several channels).
    """
    entries: list[Entry] = []
    inline_count = 0
    for spec in specs:
        text = spec.strip()
        lowered = text.lower()
        if lowered.endswith(".npy"):
            entries.extend(load_npy_kernels(Path(text)))
        elif lowered.endswith(".mat"):
            entries.append(load_mat_kernel(Path(text)))
        elif text in library:
            entry = library[text]
            entries.extend(entry.kernels if isinstance(entry, Bank) and entry.combine is None else [entry])
        elif ":" in text or text in GENERATORS:
            entries.append(generated_kernel(text))
        elif _INLINE.fullmatch(text):
            inline_count += 1
            entries.append(parse_inline(text, name=f"inline{inline_count}"))
        elif re.search(r"\d", text) and re.search(r"[;,]", text):
            parse_inline(text)  # a matrix with a typo: raises the message that points at it
        else:
            hint = did_you_mean(text, library.names()) or "; 'convcli kernels list' shows them all"
            raise KernelError(f"unknown kernel '{text}'{hint}")
    seen: set[str] = set()
    for entry in entries if unique else ():
        if entry.name in seen:
            raise KernelError(f"kernel '{entry.name}' is given twice")
        seen.add(entry.name)
    return entries
