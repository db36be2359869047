"""The forms a ``-k`` value takes: a library name, a generator call, an inline matrix, a ``.npy`` or ``.mat`` file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from convcli.errors import KernelError
from convcli.kernels.entry import Entry
from convcli.kernels.generators import GENERATORS, generate, parse_call
from convcli.kernels.kernel import NAME_PATTERN, Kernel
from convcli.kernels.layer import Layer
from convcli.kernels.library import Library, did_you_mean

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


def _regular(path: Path | str) -> None:
    """Refuse a kernel file that is a named pipe or a device: reading one could wait for ever."""
    if Path(path).exists() and not Path(path).is_file():
        raise KernelError(f"{path}: not a regular file (a named pipe or a device?)")


_MAX_NPY_VALUES = 1 << 26  # 64 Mi weights (512 MB): more than any bank or layer of kernels needs


def read_npy(path: Path | str) -> np.ndarray:
    """``np.load`` without pickles, every failure a :class:`KernelError` naming the file."""
    _regular(path)
    try:
        with open(path, "rb") as handle:
            if handle.read(6) == b"\x93NUMPY":  # the header says the shape: refuse a huge one before loading it
                handle.seek(0)
                major, _ = np.lib.format.read_magic(handle)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else \
                    np.lib.format.read_array_header_2_0
                shape, _, _ = read_header(handle)
                size = int(np.prod(shape, dtype=object))
                if size > _MAX_NPY_VALUES:
                    raise KernelError(f"{path}: an array of shape {shape} holds more weights than a kernel, a bank "
                                      f"or a layer can (at most {_MAX_NPY_VALUES:,})")
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise KernelError(f"{path}: no such kernel file") from None
    except (OSError, ValueError, EOFError) as error:
        raise KernelError(f"{path}: not a readable .npy array ({error})") from None
    if not isinstance(array, np.ndarray):  # np.load opens an .npz (a zip) whatever its name
        array.close()
        raise KernelError(f"{path}: an .npz archive, not an .npy array; save one array with numpy.save")
    return array


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
    _regular(path)
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
    if (len(header) not in (2, 3, 4) or not all(np.isfinite(header)) or header[0] != int(header[0])
            or header[1] != int(header[1])):
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
            entries.extend(entry.expand())
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
