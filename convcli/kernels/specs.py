"""The forms a ``-k`` value takes: a library name, a generator call, an inline matrix, a ``.npy`` or ``.mat`` file."""

from __future__ import annotations

import numbers
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from convcli.errors import KernelError, ParameterError
from convcli.kernels.composite import Bank, Chain
from convcli.kernels.entry import Entry
from convcli.kernels.generators import GENERATORS, generate, parse_call
from convcli.kernels.kernel import NAME_PATTERN, Kernel
from convcli.kernels.layer import Layer
from convcli.kernels.library import Library, did_you_mean

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


_INLINE = re.compile(rf"\s*{_NUMBER}(?:[\s,;]+{_NUMBER})*[\s,;]*")


#: An ImageMagick kernel string: a geometry (``3x3``, ``3``, ``3x3+0+0``), a colon, the values.
_MAGICK = re.compile(r"\s*(?P<geometry>\d[^:]*):(?P<values>.*)", re.DOTALL)
_GEOMETRY = re.compile(r"(?P<width>\d+)(?:x(?P<height>\d+))?(?:(?P<x>[+-]\d+)(?P<y>[+-]\d+))?")


def _divided(spec: str) -> tuple[str, str | None]:
    """Split a trailing ``/ N`` or ``/ sum`` off a matrix: ``("1,2,1", "4")`` from ``"1,2,1 / 4"``."""
    body, slash, divisor = spec.rpartition("/")
    return (body, divisor.strip()) if slash else (spec, None)


def _divide(weights: np.ndarray, divisor: str | None, source: str) -> np.ndarray:
    """``weights / N`` for ``/ N``, ``weights / weights.sum()`` for ``/ sum`` (refused when they sum to 0),
    then :func:`_check_taps`. Overflow is checked here, not warned about by NumPy."""
    if divisor is None:
        return _check_taps(weights, weights, source)
    if divisor.lower() == "sum":
        with np.errstate(over="ignore", invalid="ignore"):
            total, magnitude = weights.sum(), np.abs(weights).sum()
        if not np.isfinite(magnitude):
            raise KernelError(f"{source}: / sum divides by the sum of the weights, and these are too large to add "
                              "up in floating point; give smaller weights, or divide by a number: / N")
        if abs(total) <= 1e-12 * magnitude:
            raise KernelError(f"{source}: / sum divides by the sum of the weights, and these sum to 0 (an edge "
                              "or gradient kernel); drop / sum, or divide by a number: / N")
        value = float(total)
    elif not re.fullmatch(_NUMBER, divisor):
        raise KernelError(f"{source}: after / give a number or sum, got {divisor!r}")
    else:
        value = float(divisor)
        if value == 0:
            raise KernelError(f"{source}: / {divisor} divides by zero; give a number other than 0")
        if not np.isfinite(value):
            raise KernelError(f"{source}: / {divisor} is more than floating point holds; give a smaller number")
    with np.errstate(over="ignore", under="ignore"):
        divided = weights / value
    if not np.all(np.isfinite(divided)):
        raise KernelError(f"{source}: / {divisor} makes weights larger than floating point holds; divide by a "
                          "larger number")
    return _check_taps(divided, weights, source, f"/ {divisor}")


def _check_taps(weights: np.ndarray, given: np.ndarray, source: str, division: str = "") -> np.ndarray:
    """Refuse a typed kernel without a tap other than 0: it would write black images."""
    if np.any(weights):
        return weights
    if np.any(given):  # every weight underflowed
        raise KernelError(f"{source}: {division} makes every weight 0 (smaller than floating point holds); divide "
                          "by a smaller number")
    raise KernelError(f"{source}: every weight is 0, so every output would be 0; give at least one weight "
                      "other than 0")


def _number(text: str, source: str) -> float:
    value = float(text)
    if not np.isfinite(value):
        raise KernelError(f"{source}: {text!r} is more than floating point holds")
    return value


def parse_inline(spec: str, name: str = "inline") -> Kernel:
    """Parse an inline matrix: rows split by ``;``, values by ``,`` or spaces (``"0,-1,0; -1,5,-1; 0,-1,0"``),
    optionally divided: ``"1,2,1; 2,4,2; 1,2,1 / 16"`` by a number, ``"... / sum"`` by the weights' sum."""
    source = f"inline kernel {spec!r}"
    body, divisor = _divided(spec)
    rows = []
    for text in body.strip().strip(";").split(";"):
        values = [value for value in re.split(r"[\s,]+", text.strip()) if value]
        try:
            rows.append([_number(value, source) for value in values])
        except ValueError:
            raise KernelError(f"{source}: {text.strip()!r} is not a list of numbers") from None
    if not all(rows) or len({len(row) for row in rows}) > 1:  # the Kernel says which row is wrong
        return Kernel(name=name, weights=rows, source=source)
    return Kernel(name=name, weights=_divide(np.array(rows), divisor, source), source=source)


def parse_magick(spec: str, name: str = "inline") -> Kernel:
    """Parse an ImageMagick kernel string: ``"WxH: values"`` or ``"WxH+X+Y: values"``.

    W columns by H rows (``W`` alone is W x W), the values row by row, split by commas or spaces;
    ``nan`` or ``-`` marks a tap that is not part of the kernel, which a convolution reads as 0. ``+X+Y``
    anchors the kernel at column X, row Y (ImageMagick's default, like convcli's, is the centre,
    ``((W - 1) // 2, (H - 1) // 2)``). A trailing ``/ N`` or ``/ sum`` divides the weights, as for an
    inline matrix.

    >>> kernel = parse_magick("3x2+0+1: 1,2,3 4,5,6")
    >>> kernel.given_weights.tolist(), kernel.anchor
    ([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], (1, 0))
    """
    source = f"ImageMagick kernel {spec!r}"
    match = _MAGICK.fullmatch(spec)
    geometry = _GEOMETRY.fullmatch(match["geometry"].strip()) if match else None
    if geometry is None:
        shown = match["geometry"].strip() if match else spec.strip()
        raise KernelError(f"{source}: {shown!r} is not a kernel size: give WxH (or W for W x W), then +X+Y for "
                          "the anchor's column and row if it is not the centre, then a colon and the values")
    width = int(geometry["width"])
    height = int(geometry["height"] or width)
    if not width or not height:
        raise KernelError(f"{source}: a {width}x{height} kernel has no taps")
    if ";" in match["values"]:
        raise KernelError(f"{source}: ; separates ImageMagick's lists of kernels; give each kernel on its own (or "
                          "join them with | to apply one after another)")
    body, divisor = _divided(match["values"])
    values = []
    for text in filter(None, re.split(r"[\s,]+", body.strip())):
        if text.lower() == "nan" or text == "-":
            values.append(0.0)
        elif re.fullmatch(_NUMBER, text):
            values.append(_number(text, source))
        else:
            raise KernelError(f"{source}: {text!r} is not a number (the values are numbers, or nan or - for a tap "
                              "that is not part of the kernel)")
    if len(values) != width * height:
        raise KernelError(f"{source}: {width}x{height} needs {width * height} values ({height} rows of {width}), "
                          f"got {len(values)}")
    anchor = None
    if geometry["x"] is not None:
        x, y = int(geometry["x"]), int(geometry["y"])
        if not (0 <= x < width and 0 <= y < height):
            raise KernelError(f"{source}: {geometry['x']}{geometry['y']} puts the anchor outside the kernel: X is "
                              f"its column, 0 to {width - 1}, and Y its row, 0 to {height - 1}")
        anchor = (y, x)
    if not any(values):
        raise KernelError(f"{source}: every tap is 0 or not part of the kernel (nan, -), so every output would be 0; "
                          "give at least one weight other than 0")
    weights = _divide(np.array(values).reshape(height, width), divisor, source)
    return Kernel(name=name, weights=weights, source=source, anchor=anchor)


def parse_anchor(text: str) -> tuple[int, int]:
    """``anchor`` ``"ROW,COL"`` -> ``(row, column)``, counted from 0 at the top left.

    >>> parse_anchor("0, 2")
    (0, 2)
    """
    parts = [part.strip() for part in str(text).split(",")]
    if len(parts) != 2 or not all(part.isdecimal() for part in parts):
        raise ParameterError(f"`anchor` must be ROW,COL, two whole numbers from 0 (0,0 is the top left), e.g. "
                             f"0,0; got {text!r}")
    return int(parts[0]), int(parts[1])


def as_anchor(value: object) -> tuple[int, int]:
    """``anchor`` given as a pair ``(row, column)`` of whole numbers from 0, as the Python API takes it.

    >>> as_anchor((0, 2))
    (0, 2)
    """
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0 for v in value)):
        return int(value[0]), int(value[1])
    raise ParameterError(f"`anchor` must be (row, column), two whole numbers from 0 ((0, 0) is the top left); "
                         f"got {value!r}")


def with_anchor(entries: list[Entry], anchor: tuple[int, int]) -> list[Entry]:
    """Every kernel of ``entries`` (a combined bank's members too) anchored at ``anchor``, ``(row, column)``
    of the weights as given, in place of its own anchor; a chain or a layer is refused."""
    def anchored(kernel: Kernel) -> Kernel:
        kh, kw = kernel.given_weights.shape
        if not (anchor[0] < kh and anchor[1] < kw):
            raise ParameterError(f"`anchor` {anchor[0]},{anchor[1]} is outside kernel '{kernel.name}', which is "
                                 f"{kh}x{kw} (rows 0 to {kh - 1}, columns 0 to {kw - 1})")
        note = "" if kernel.note == kernel.anchor_note else kernel.note  # the new anchor gets its own
        return replace(kernel, weights=kernel.given_weights, anchor=anchor, note=note)

    result: list[Entry] = []
    for entry in entries:
        if entry.kind == "kernel":
            result.append(anchored(entry))
        elif entry.kind == "bank":
            result.append(replace(entry, kernels=tuple(anchored(k) for k in entry.kernels)))
        else:
            what = f"a chain of {len(entry.members)} kernels" if entry.kind == "chain" else f"a {entry.kind}"
            raise ParameterError(f"`anchor` anchors single kernels; '{entry.name}' is {what} (anchor its kernels "
                                 "in their TOML tables, or as ImageMagick WxH+X+Y: strings)")
    return result


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


def load_npy_kernels(path: Path) -> list[Kernel | Bank | Layer]:
    """Load a ``.npy`` kernel: a 2-D matrix, a 3-D bank ``N x kh x kw`` (a :class:`Bank` without
    ``combine``, a kernel per slice, even of one slice), or 4-D layer weights ``O x I x kh x kw`` in
    PyTorch's layout (one summed map per output channel)."""
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
        return [Bank(name=stem, source=source, description=f"{array.shape[0]} kernels of {source}",
                     kernels=tuple(Kernel(name=f"{stem}_{index}", weights=plane, source=source)
                                   for index, plane in enumerate(array)))]
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


class _Numbering:
    """Names the inline kernels of one ``resolve_kernels`` call ``inline1``, ``inline2``, ... in order."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return f"inline{self.count}"


def _entries(text: str, library: Library, inline: _Numbering) -> list[Entry]:
    """What one ``-k`` form names, before a bank is expanded into its kernels."""
    lowered = text.lower()
    if lowered.endswith(".npy"):
        return list(load_npy_kernels(Path(text)))
    if lowered.endswith(".mat"):
        return [load_mat_kernel(Path(text))]
    if text in library:
        return [library[text]]
    if _MAGICK.fullmatch(text):
        return [parse_magick(text, name=inline.next())]
    if ":" in text or text in GENERATORS:
        return [generated_kernel(text)]
    if _INLINE.fullmatch(_divided(text)[0]):
        return [parse_inline(text, name=inline.next())]
    if re.search(r"\d", text) and re.search(r"[;,]", text):
        parse_inline(text)  # a matrix with a typo: raises the message that points at it
    hint = did_you_mean(text, library.names()) or "; 'convcli kernels list' shows them all"
    if "/" in text:
        hint += "; / N and / sum divide an inline matrix or an ImageMagick WxH: kernel"
    raise KernelError(f"unknown kernel '{text}'{hint}")


def _chain(text: str, library: Library, inline: _Numbering) -> Chain:
    """``"blur | edge"``: each element any other ``-k`` form, applied one after another (a TOML chain's
    steps), named by its elements' names joined by ``+`` (``blur+edge``)."""
    source = f"kernel chain {text!r}"
    steps: list[Kernel] = []
    names = []
    for number, element in enumerate((part.strip() for part in text.split("|")), start=1):
        if not element:
            raise KernelError(f"{source}: element {number} is empty; put a kernel between every two |")
        try:
            found = _entries(element, library, inline)
        except KernelError as error:
            raise KernelError(f"{source}: {error.message}") from None
        if len(found) == 1 and isinstance(found[0], Kernel):
            steps.append(found[0])
        elif len(found) == 1 and isinstance(found[0], Chain):
            steps.extend(found[0].sequence())
        else:
            what = f"{len(found)} kernels" if len(found) > 1 else f"a {found[0].kind}"
            if isinstance(found[0], Bank):
                count = len(found[0].members)
                what = f"a bank of {count} kernel{'s' * (count != 1)}"
            raise KernelError(f"{source}: '{element}' is {what}; a chain is made of kernels and chains")
        names.append(found[0].name)
    return Chain(name="+".join(names), kernels=tuple(steps), source=source)


def resolve_kernels(specs: list[str], library: Library, *, unique: bool = True, expand: bool = True) -> list[Entry]:
    """Turn every ``-k`` value into kernels, banks or chains.

    A ``-k`` may be a library name, a generator call (``gaussian:size=9,sigma=2``), an inline matrix
    (``"1,2,1; 2,4,2; 1,2,1 / 16"``), an ImageMagick kernel string (``"3x3+0+0: ..."``), a ``.npy`` file,
    a libvips ``.mat`` matrix file, or several of these joined by ``|``, a chain applied one after
    another (``"blur | edge"``, named ``blur+edge``). A bank without ``combine`` stands for its
    kernels, each giving its own map. Inline and ImageMagick kernels are named ``inline1``,
    ``inline2``, ... by their position among the inline ones; with ``unique`` every name must be unique
    (they name the output files; a depthwise convolution may use one kernel on several channels).
    Without ``expand`` a bank stays one entry, for a caller that asks what was named.
    """
    return [entry for _, entries in resolve_given(specs, library, unique=unique, expand=expand) for entry in entries]


def resolve_given(specs: list[str], library: Library, *, unique: bool = True,
                  expand: bool = True) -> list[tuple[str, list[Entry]]]:
    """Each ``-k`` value as :func:`resolve_kernels` turns it into entries, with the name of what it names
    (a bank's for its kernels; a ``.npy`` bank's stem), which the report rolls their warnings up under."""
    given: list[tuple[str, list[Entry]]] = []
    inline = _Numbering()
    for spec in specs:
        text = spec.strip()
        if "|" in text:
            chain = _chain(text, library, inline)
            given.append((chain.name, [chain]))
            continue
        found = _entries(text, library, inline)
        name = found[0].name if len(found) == 1 else _safe_stem(Path(text))
        given.append((name, [entry for each in found for entry in (each.expand() if expand else (each,))]))
    names = [entry.name for _, entries in given for entry in entries]
    twice = [name for number, name in enumerate(names) if name in names[:number]]
    if unique and twice:
        raise KernelError(f"kernel '{twice[0]}' is given twice")
    return given
