"""Applying kernels to image files: planning the outputs, running them, and measuring each stage.

This is the library behind ``convcli apply``. It never prints: :func:`run` returns a
:class:`RunResult` holding every timing, warning and failure, and the CLI renders it.
"""

from __future__ import annotations

import json
import os
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convcli.engine import conv2d, resolve_boundary, resolve_method, resolve_padding
from convcli.errors import ConvcliError, OutputError, ParameterError
from convcli.filtering import Engine, filter_picture, preferred_map
from convcli.imageio import (
    FLOAT_FORMATS,
    WRITE_FORMATS,
    Picture,
    atomic_write,
    load_image,
    output_format,
    save_image,
)
from convcli.kernels import Entry, Kernel
from convcli.mapping import check_map, map_values, value_range

DEFAULT_NAME = "{stem}_{kernel}.{ext}"
NAME_FIELDS = ("stem", "kernel", "ext")


@dataclass(frozen=True)
class ApplyOptions:
    """How every kernel of a run is applied; validated on creation."""

    stride: int = 1
    padding: str | int = "same"
    boundary: str = "symmetric"
    cval: float = 0.0
    dilation: int = 1
    flip: bool = False
    method: str = "auto"
    gray: bool = False
    map: str = "auto"
    verify: bool = False
    name: str = DEFAULT_NAME

    def __post_init__(self) -> None:
        # conv2d checks stride, dilation and cval itself; resolving here gives canonical names early.
        conv2d(np.zeros((1, 1), np.float32), np.ones((1, 1)), stride=self.stride, dilation=self.dilation,
               cval=self.cval, boundary=self.boundary, method=self.method)
        object.__setattr__(self, "boundary", resolve_boundary(self.boundary))
        object.__setattr__(self, "padding", resolve_padding(self.padding))
        object.__setattr__(self, "map", check_map(self.map))
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(self.name) if name is not None]
        except ValueError as error:
            raise ParameterError(f"name template {self.name!r}: {error}") from None
        unknown = [name for name in fields if name not in NAME_FIELDS]
        if unknown or not fields:
            raise ParameterError(
                f"name template {self.name!r} may use only {{stem}}, {{kernel}} and {{ext}}"
                + (f"; got {{{unknown[0]}}}" if unknown else "")
            )

    def engine(self) -> Engine:
        """A fresh :class:`~convcli.filtering.Engine` with these settings (it records verify results)."""
        return Engine(stride=self.stride, padding=self.padding, boundary=self.boundary, cval=self.cval,
                      dilation=self.dilation, method=self.method, verify=self.verify)


@dataclass(frozen=True)
class Target:
    """One output: ``entry`` (a kernel, a combined bank or a chain) applied to ``source``, written to ``output``."""

    source: Path
    entry: Entry
    output: Path
    map: str


@dataclass
class MapResult:
    """What happened for one target, with its stage timings in milliseconds."""

    source: Path
    kernel: str
    output: Path
    input_size: tuple[int, int, int]  # height, width, channels (alpha included)
    output_size: tuple[int, int]
    map: str
    method: str
    convention: str
    boundary: str
    padding: str | int
    stride: int
    dilation: int
    load_ms: float
    convolve_ms: float
    map_ms: float
    save_ms: float
    max_diff: float | None = None
    verify_ms: float | None = None
    note: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def megapixels_per_second(self) -> float:
        """Input megapixels filtered per second of convolution."""
        pixels = self.input_size[0] * self.input_size[1]
        return pixels / 1e6 / max(self.convolve_ms / 1e3, 1e-9)

    def to_dict(self) -> dict:
        data = {key: getattr(self, key) for key in self.__dataclass_fields__}
        data.update(source=str(self.source), output=str(self.output),
                    megapixels_per_second=round(self.megapixels_per_second, 3))
        for key in ("load_ms", "convolve_ms", "map_ms", "save_ms"):
            data[key] = round(data[key], 3)
        return data


@dataclass(frozen=True)
class Failure:
    """An input (or one of its outputs) that could not be done, and why."""

    source: Path
    message: str
    kernel: str | None = None


@dataclass
class RunResult:
    """Everything a run did: the maps written, the failures, the total wall time."""

    maps: list[MapResult]
    failures: list[Failure]
    total_ms: float
    global_range: tuple[float, float] | None = None

    @property
    def exit_code(self) -> int:
        """The contract's exit code: 0 when everything was written, 1 when anything failed."""
        return 1 if self.failures else 0

    def to_dict(self) -> dict:
        return {
            "version": 1,
            "total_ms": round(self.total_ms, 3),
            "outputs": [result.to_dict() for result in self.maps],
            "failures": [{"source": str(f.source), "kernel": f.kernel, "message": f.message}
                         for f in self.failures],
            "global_range": list(self.global_range) if self.global_range else None,
        }

    def write_json(self, path: Path) -> None:
        """Write :meth:`to_dict` as JSON to ``path`` (atomically, creating its folder)."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        _make_folder(path.parent)
        atomic_write(path, lambda handle: handle.write(text.encode()))


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{folder}: cannot create the folder ({error.strerror})") from None


def _default_ext(source: Path, policy: str) -> str:
    if policy == "raw":
        return "npy"
    suffix = source.suffix.lower()
    return suffix[1:] if suffix in WRITE_FORMATS else "png"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def plan(sources: list[Path], kernels: list[Entry], output: Path | str,
         options: ApplyOptions) -> list[Target]:
    """Decide every output file: ``output`` is one file for one input and one kernel, else a folder.

    ``output`` names a file when it has an extension and is not an existing folder; several outputs
    go into the folder ``output``, named by ``options.name``. No output may be one of the inputs,
    and no two outputs may share a name.
    """
    output = Path(output)
    count = len(sources) * len(kernels)
    single_file = bool(output.suffix) and not output.is_dir()
    if single_file and count > 1:
        raise ParameterError(
            f"-o {output} names one file, but this run writes {count} outputs "
            f"({_count(len(sources), 'input')} x {_count(len(kernels), 'kernel')}); give a folder"
        )
    targets = []
    for source in sources:
        for kernel in kernels:
            policy = preferred_map(kernel, options.map, flip=options.flip)
            if single_file:
                path = output
            else:
                path = output / options.name.format(
                    stem=source.stem, kernel=kernel.name, ext=_default_ext(source, policy))
            fmt = output_format(path)
            if policy == "raw" and fmt not in FLOAT_FORMATS:
                raise ParameterError(f"--map raw keeps floats: write .npy, .npz or .tif, not {path.suffix}")
            targets.append(Target(source, kernel, path, policy))

    seen: dict[Path, Target] = {}
    for target in targets:
        key = target.output.resolve()
        if key in seen:
            other = seen[key]
            raise ParameterError(
                f"{other.source} [{other.entry.name}] and {target.source} [{target.entry.name}] would both "
                f"write {target.output}; use --name to tell them apart"
            )
        seen[key] = target
        for source in sources:
            if _same_file(target.output, source):
                raise ParameterError(f"output {target.output} is one of the inputs; refusing to overwrite it")
    return targets


Progress = Callable[[int, int, Path], None]


def _by_source(targets: list[Target]) -> dict[Path, list[Target]]:
    groups: dict[Path, list[Target]] = {}
    for target in targets:
        groups.setdefault(target.source, []).append(target)
    return groups


def _load(source: Path, options: ApplyOptions, failures: list[Failure]) -> tuple[Picture | None, float]:
    started = time.perf_counter()
    try:
        picture = load_image(source, gray=options.gray)
    except ConvcliError as error:
        failures.append(Failure(source, str(error)))
        return None, 0.0
    return picture, (time.perf_counter() - started) * 1e3


def _find_global_range(groups, options: ApplyOptions) -> tuple[float, float]:
    """First pass of ``--map global``: the min..max over every map of the run."""
    low, high = np.inf, -np.inf
    for source, targets in groups.items():
        picture, _ = _load(source, options, [])
        for target in targets if picture is not None else ():
            if target.map != "global":
                continue
            try:
                color = filter_picture(picture, target.entry, options.engine(), flip=options.flip).color
            except ConvcliError:
                continue  # the second pass reports it
            lo, hi = value_range(color)
            low, high = min(low, lo), max(high, hi)
    return (float(low), float(high)) if low <= high else (0.0, 0.0)


def run(targets: list[Target], options: ApplyOptions, progress: Progress | None = None) -> RunResult:
    """Load each input once, apply each of its kernels, map and write every output.

    A failing input or output is recorded in :attr:`RunResult.failures` and the run goes on.
    ``progress(done, total, source)`` is called after each input.
    """
    started = time.perf_counter()
    groups = _by_source(targets)
    global_range = _find_global_range(groups, options) if any(t.map == "global" for t in targets) else None
    maps: list[MapResult] = []
    failures: list[Failure] = []
    for done, (source, group) in enumerate(groups.items(), start=1):
        picture, load_ms = _load(source, options, failures)
        for target in group if picture is not None else ():
            try:
                maps.append(_apply_one(picture, target, options, load_ms, global_range))
            except ConvcliError as error:
                failures.append(Failure(source, str(error), target.entry.name))
        if progress:
            progress(done, len(groups), source)
    return RunResult(maps, failures, (time.perf_counter() - started) * 1e3, global_range)


def _apply_one(picture: Picture, target: Target, options: ApplyOptions, load_ms: float,
               global_range: tuple[float, float] | None) -> MapResult:
    entry = target.entry
    engine = options.engine()
    t0 = time.perf_counter()
    filtered = filter_picture(picture, entry, engine, flip=options.flip)
    t1 = time.perf_counter()
    mapped = map_values(filtered.color, target.map, global_range=global_range)
    t2 = time.perf_counter()
    dpi = None
    if picture.dpi:
        # Keep the physical size: a stride shrinks the pixel grid, so the density shrinks with it.
        dpi = (picture.dpi[0] * mapped.shape[1] / picture.width, picture.dpi[1] * mapped.shape[0] / picture.height)
    _make_folder(target.output.parent)
    warnings = save_image(target.output, mapped, filtered.alpha, bit_depth=picture.bit_depth,
                          raw=target.map == "raw", name=entry.name, icc_profile=picture.icc_profile, dpi=dpi)
    t3 = time.perf_counter()
    first = entry if isinstance(entry, Kernel) else entry.kernels[0]
    return MapResult(
        source=target.source, kernel=entry.name, output=target.output,
        input_size=(picture.height, picture.width, picture.channels + (picture.alpha is not None)),
        output_size=tuple(mapped.shape[:2]), map=target.map,
        method=resolve_method(options.method, first.shape),
        convention="convolution" if options.flip != first.flip else "correlation",
        boundary=options.boundary, padding=options.padding, stride=options.stride,
        dilation=options.dilation, load_ms=load_ms, convolve_ms=(t1 - t0) * 1e3 - engine.verify_ms,
        map_ms=(t2 - t1) * 1e3, save_ms=(t3 - t2) * 1e3, max_diff=engine.max_diff,
        verify_ms=engine.verify_ms if options.verify else None, note=filtered.note, warnings=warnings,
    )
