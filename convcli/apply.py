"""Applying kernels to image files: planning the outputs, running them, and measuring each stage.

This is the library behind ``convcli apply``. It never prints: :func:`run` returns a
:class:`~convcli.results.RunResult` holding every timing, warning and failure, and the CLI renders it.
The work is cut per input (:func:`process_source`), so that inputs can be processed independently.
"""

from __future__ import annotations

import os
import string
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convcli.colormaps import COLORMAPS, apply_colormap, overlay
from convcli.engine import conv2d, resolve_boundary, resolve_padding
from convcli.errors import ConvcliError, ParameterError
from convcli.filtering import Engine, Filtered, filter_many, filter_picture, preferred_map
from convcli.imageio import (
    FLOAT_FORMATS,
    STACK_FORMATS,
    WRITE_FORMATS,
    Picture,
    load_image,
    output_format,
    save_image,
    save_stack,
    to_gray,
)
from convcli.inputs import InputImage
from convcli.kernels import Bank, Entry, Kernel, Layer
from convcli.mapping import apply_map, check_map, value_range
from convcli.options import DEFAULT_MAX_PIXELS, DEFAULT_NAME
from convcli.results import CLIP_WARNING, Failure, MapResult, RunResult, make_folder
from convcli.stacks import COMBINES

NAME_FIELDS = ("stem", "kernel", "ext")
#: The ``{kernel}`` of a --stack file's name.
STACK_NAME = "stack"


@dataclass(frozen=True)
class ApplyOptions:
    """How every kernel of a run is applied and written; validated on creation."""

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
    colormap: str | None = None
    overlay: bool = False
    quality: int = 95
    stack: bool = False
    combine: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS

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
        if self.colormap is not None and self.colormap not in COLORMAPS:
            raise ParameterError(f"colormap must be one of {', '.join(COLORMAPS)}; got {self.colormap!r}")
        if self.overlay and (self.stride != 1 or self.padding != "same"):
            raise ParameterError("--overlay needs each map the size of its input: stride 1 and padding same")
        if any(part in ("..", "") for part in Path(self.name).parts[:-1]) or Path(self.name).is_absolute():
            raise ParameterError(f"name template {self.name!r} must stay inside the -o folder")
        if self.map == "raw" and (self.colormap or self.overlay):
            raise ParameterError("--map raw keeps floats; --colormap and --overlay need pixels (another --map)")
        if isinstance(self.quality, bool) or not isinstance(self.quality, int) or not 1 <= self.quality <= 100:
            raise ParameterError(f"quality must be an integer from 1 to 100; got {self.quality!r}")
        if self.combine is not None and self.combine not in COMBINES:
            raise ParameterError(f"combine must be one of {', '.join(COMBINES)}; got {self.combine!r}")
        if isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, int) or self.max_pixels < 1:
            raise ParameterError(f"max-pixels must be a whole number >= 1; got {self.max_pixels!r}")
        if self.combine and self.stack:
            raise ParameterError("--stack keeps every map and --combine reduces them to one: choose one")

    def engine(self) -> Engine:
        """A fresh :class:`~convcli.filtering.Engine` with these settings (it records verify results)."""
        return Engine(stride=self.stride, padding=self.padding, boundary=self.boundary, cval=self.cval,
                      dilation=self.dilation, method=self.method, verify=self.verify)


@dataclass(frozen=True)
class Target:
    """One output file: ``entries`` applied to ``source`` (several only for a --stack file)."""

    source: Path
    entries: tuple[Entry, ...]
    output: Path
    maps: tuple[str, ...]  # the map policy of each entry, ``auto`` resolved

    @property
    def name(self) -> str:
        return "+".join(entry.name for entry in self.entries)


def _default_ext(source: Path, policy: str, stack: bool) -> str:
    if stack:
        return "npz"
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


def plan(inputs: list[Path | InputImage], entries: list[Entry], output: Path | str,
         options: ApplyOptions) -> list[Target]:
    """Decide every output file: ``output`` is one file for a single output, else a folder.

    ``output`` names a file when it has an extension and is not an existing folder; several outputs
    go into the folder ``output``, named by ``options.name``, in sub-folders mirroring where each input
    was found (:class:`~convcli.inputs.InputImage`). With ``options.combine`` the kernels become one
    bank reduced to one map; with ``options.stack`` each input's maps share one file. No output may
    be one of the inputs, and no two outputs may share a name.
    """
    images = [item if isinstance(item, InputImage) else InputImage(Path(item), Path(Path(item).name))
              for item in inputs]
    sources = [image.path for image in images]
    output = Path(output)
    if options.combine:
        entries = [Bank(options.combine, tuple(entries), combine=options.combine,
                        description=f"{options.combine} of {', '.join(e.name for e in entries)}")]
    groups = [tuple(entries)] if options.stack else [(entry,) for entry in entries]
    count = len(sources) * len(groups)
    single_file = bool(output.suffix) and not output.is_dir()
    if single_file and count > 1:
        raise ParameterError(
            f"-o {output} names one file, but this run writes {count} outputs "
            f"({_count(len(sources), 'input')} x {_count(len(groups), 'kernel')}); give a folder"
        )
    targets = []
    for image in images:
        source = image.path
        for group in groups:
            policies = tuple(preferred_map(entry, options.map, flip=options.flip) for entry in group)
            if single_file:
                path = output
            else:
                kernel = STACK_NAME if options.stack else group[0].name
                path = output / image.relative.parent / options.name.format(
                    stem=source.stem, kernel=kernel, ext=_default_ext(source, policies[0], options.stack))
            fmt = output_format(path)
            if options.stack and fmt not in STACK_FORMATS:
                raise ParameterError(f"--stack writes one file per input: use .npz, .npy or .tif, not {path.suffix}")
            if "raw" in policies and fmt not in FLOAT_FORMATS:
                raise ParameterError(f"--map raw keeps floats: write .npy, .npz or .tif, not {path.suffix}")
            targets.append(Target(source, group, path, policies))

    seen: dict[Path, Target] = {}
    for target in targets:
        key = target.output.resolve()
        if key in seen:
            other = seen[key]
            raise ParameterError(
                f"{other.source} [{other.name}] and {target.source} [{target.name}] would both "
                f"write {target.output}; use --name to tell them apart"
            )
        seen[key] = target
        for source in sources:
            if _same_file(target.output, source):
                raise ParameterError(f"output {target.output} is one of the inputs; refusing to overwrite it")
    return targets


@dataclass
class SourceResult:
    """What processing one input gave: its outputs, failures and montage tiles."""

    maps: list[MapResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    tiles: list = field(default_factory=list)  # (label, PIL image) for --montage


def _load(source: Path, options: ApplyOptions) -> tuple[Picture, float]:
    started = time.perf_counter()
    picture = load_image(source, gray=options.gray, max_pixels=options.max_pixels)
    return picture, (time.perf_counter() - started) * 1e3


def find_global_range(targets: list[Target], options: ApplyOptions) -> tuple[float, float]:
    """First pass of ``--map global``: the min..max over every map of the run (failures are left to
    the second pass to report)."""
    low, high = np.inf, -np.inf
    for source, group in _by_source(targets).items():
        try:
            picture, _ = _load(source, options)
        except ConvcliError:
            continue
        for target in group:
            for entry, policy in zip(target.entries, target.maps):
                if policy != "global":
                    continue
                try:
                    color = filter_picture(picture, entry, options.engine(), flip=options.flip).color
                except ConvcliError:
                    continue
                lo, hi = value_range(color)
                low, high = min(low, lo), max(high, hi)
    return (float(low), float(high)) if low <= high else (0.0, 0.0)


def _by_source(targets: list[Target]) -> dict[Path, list[Target]]:
    groups: dict[Path, list[Target]] = {}
    for target in targets:
        groups.setdefault(target.source, []).append(target)
    return groups


def write_montage(path: Path, rows: list, result: RunResult) -> None:
    """Lay the tiles out and write them; a failure to write is recorded like any other."""
    from convcli.montage import build_montage

    try:
        make_folder(path.parent)
        sheet = np.asarray(build_montage(rows), dtype=np.float32) / 255
        save_image(path, sheet)
        result.montage = path
    except ConvcliError as error:
        result.failures.append(Failure(path, str(error), "montage"))


def process_source(source: Path, targets: list[Target], options: ApplyOptions,
                   global_range: tuple[float, float] | None = None, tiles: bool = False) -> SourceResult:
    """Load ``source`` once and write each of its ``targets``; never raises a :class:`ConvcliError`."""
    outcome = SourceResult()
    try:
        picture, load_ms = _load(source, options)
    except ConvcliError as error:
        outcome.failures.append(Failure(source, str(error)))
        return outcome
    if tiles:
        from convcli.montage import thumbnail

        outcome.tiles.append((source.name, thumbnail(picture.color, picture.alpha)))
    for target in targets:
        try:
            result, pixels = _write_target(picture, target, options, load_ms, global_range)
        except ConvcliError as error:
            outcome.failures.append(Failure(source, str(error), target.name))
            continue
        outcome.maps.append(result)
        if tiles:
            from convcli.montage import thumbnail

            outcome.tiles += [(name, thumbnail(values, alpha)) for name, values, alpha in pixels]
    return outcome


def _render(picture: Picture, filtered: Filtered, policy: str, options: ApplyOptions,
            global_range: tuple[float, float] | None):
    """Map a float result to pixels: the map policy, then the colour map and the overlay."""
    # The float result is ours alone: map it in place rather than hold a second copy of the image.
    mapped = apply_map(filtered.color, policy, global_range=global_range, in_place=True)
    values = mapped.values
    if options.colormap or options.overlay:
        strength = to_gray(values) if values.ndim == 3 else values
        values = apply_colormap(strength, options.colormap or "inferno")
        if options.overlay:
            if strength.shape != picture.color.shape[:2]:
                raise ParameterError(
                    f"--overlay needs a map the size of its input ({picture.width}x{picture.height}); this one is "
                    f"{strength.shape[1]}x{strength.shape[0]}: use stride 1 and padding same")
            values = overlay(picture.color, strength, values)
    return mapped, values


def _write_target(picture: Picture, target: Target, options: ApplyOptions, load_ms: float,
                  global_range: tuple[float, float] | None) -> tuple[MapResult, list]:
    engine = options.engine()
    t0 = time.perf_counter()
    results = filter_many(picture, list(target.entries), engine, flip=options.flip)
    t1 = time.perf_counter()
    layers, low, high, count = [], 0, 0, 0
    for entry, policy, filtered in zip(target.entries, target.maps, results):
        mapped, values = _render(picture, filtered, policy, options, global_range)
        layers.append((entry.name, values, filtered.alpha))
        low, high, count = low + mapped.clipped_low, high + mapped.clipped_high, count + mapped.values.size
    t2 = time.perf_counter()
    make_folder(target.output.parent)
    raw = "raw" in target.maps
    depth = 8 if (options.colormap or options.overlay) else picture.bit_depth
    first_values = layers[0][1]
    if options.stack:
        warnings = save_stack(target.output, layers, bit_depth=depth, raw=raw)
    else:
        dpi = None
        if picture.dpi:
            # Keep the physical size: a stride shrinks the pixel grid, so the density shrinks with it.
            dpi = (picture.dpi[0] * first_values.shape[1] / picture.width,
                   picture.dpi[1] * first_values.shape[0] / picture.height)
        name, values, alpha = layers[0]
        icc = picture.icc_profile if not (options.colormap or options.overlay) else None
        warnings = save_image(target.output, values, alpha, bit_depth=depth, raw=raw, name=name,
                              icc_profile=icc, dpi=dpi, quality=options.quality)
    t3 = time.perf_counter()
    warnings = list(picture.warnings) + warnings
    if count and (low + high) / count > CLIP_WARNING:
        warnings.append(f"{target.output.name}: {100 * (low + high) / count:.1f}% of the values were clipped "
                        f"({100 * low / count:.1f}% low, {100 * high / count:.1f}% high); "
                        "--map minmax or offset keeps them")
    kernel = target.entries[0]
    while not isinstance(kernel, (Kernel, Layer)):  # a bank, chain or depthwise: report by its first kernel
        kernel = kernel.kernels[0]
    flipped = options.flip != getattr(kernel, "flip", False)
    paths = list(dict.fromkeys(choice.path for choice in engine.choices))
    reasons = list(dict.fromkeys(choice.reason for choice in engine.choices))
    result = MapResult(
        source=target.source, kernel=target.name, output=target.output,
        input_size=(picture.height, picture.width, picture.channels + (picture.alpha is not None)),
        output_size=tuple(first_values.shape[:2]), map="+".join(dict.fromkeys(target.maps)),
        method="+".join(paths), method_reason=reasons[0] if reasons else "",
        convention="convolution" if flipped else "correlation",
        boundary=options.boundary, padding=options.padding, stride=options.stride,
        dilation=options.dilation, load_ms=load_ms, convolve_ms=(t1 - t0) * 1e3 - engine.verify_ms,
        map_ms=(t2 - t1) * 1e3, save_ms=(t3 - t2) * 1e3, values=count, clipped_low=low, clipped_high=high,
        max_diff=engine.max_diff, verify_ms=engine.verify_ms if options.verify else None,
        note="; ".join(filter(None, (r.note for r in results))), warnings=warnings,
    )
    return result, layers
