"""The kernel library: TOML kernel files, the places they are looked for, and the entries built from them.

Override order (later wins): the built-in ``kernels.toml``, the user's file in the platform's config
folder (``~/.config/convcli/kernels.toml`` on Linux), the files listed in ``CONVCLI_KERNELS``
(separated by ``:``, ``;`` on Windows), then each ``--kernels FILE``.

A kernel file has three kinds of table::

    [kernels.NAME]  weights = [[...]] | row + col | generator = "gaussian" (+ its parameters)
                    scale | divisor | normalize, bias, flip, map, anchor = [row, column], description
    [banks.NAME]    kernels = ["a", "b"] | base = "k" + rotations = 4 | 8; combine, map, description
    [chains.NAME]   kernels = ["a", "b", ...]; map, description
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from convcli.errors import KernelError, did_you_mean
from convcli.kernels.composite import Bank, Chain
from convcli.kernels.entry import Entry
from convcli.kernels.generators import GENERATORS, generate
from convcli.kernels.kernel import BUILTIN_SOURCE, NAME_PATTERN, NAME_RULE, Kernel, as_matrix, rotations

KERNEL_KEYS = ("description", "weights", "row", "col", "generator", "scale", "divisor", "normalize", "bias",
               "map", "flip", "anchor")


BANK_KEYS = ("description", "kernels", "base", "rotations", "combine", "map")


CHAIN_KEYS = ("description", "kernels", "map")


TABLES = ("kernels", "banks", "chains")


ENV_VAR = "CONVCLI_KERNELS"


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
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2 ** 1023:
        raise KernelError(f"{where}: a number of {len(str(abs(value)))} digits is larger than floating point holds")
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
        collect.add(error.message)
        weights = np.ones((1, 1))  # a stand-in, so that the other keys are still checked
    try:
        weights = _scaled(weights, table, where)
    except KernelError as error:
        collect.add(error.message)
    try:
        description = table.get("description", "")
        if not isinstance(description, str):
            raise KernelError(f"{where}: description must be a string")
        kernel = Kernel(name=name, weights=weights, description=description, bias=table.get("bias", 0.0),
                        flip=table.get("flip", False), map=table.get("map"), source=source,
                        anchor=table.get("anchor"))
    except KernelError as error:
        collect.add(error.message)
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
    if path.exists() and not path.is_file():
        problems.add(f"{source}: not a regular file (a named pipe or a device?)")
        return result
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
    except RecursionError:
        problems.add(f"{source}: not a kernel file: its arrays or tables are nested too deeply")
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
                problems.add(f"{source}: name '{name}' must {NAME_RULE}")
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


# Long because it reports every problem of a table at once (each check adds one and goes on), which
# `kernels check` promises.
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
        if entry.kind == "chain" and kind == "chains":
            return list(entry.sequence())
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
            problems.add(error.message)
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
        problems.add(error.message)
        return None


def builtin_kernel_file() -> Path:
    """Where the built-in ``kernels.toml`` is: inside the installed package, or at the repository root."""
    packaged = resources.files("convcli").joinpath("kernels.toml")
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "kernels.toml"


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
    return _library(kernel_sources(extra_files))


def builtin_library() -> Library:
    """The built-in kernels alone, whatever the user's files hold."""
    return _library([(builtin_kernel_file(), BUILTIN_SOURCE)])


def _library(sources: list[tuple[Path, str]]) -> Library:
    problems = Problems()
    files = [read_kernel_file(path, problems, label) for path, label in sources]
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
