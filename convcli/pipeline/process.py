"""Processing one input: load it once, filter it by each of its targets' entries, map, write, measure.

:func:`process_source` is the unit of work every executor runs. It never raises a convcli error: each
failure is recorded against the input (and the kernel) it belongs to, and the other outputs go on.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from convcli.engine.missing import find_missing
from convcli.engine.plan import TileDependent
from convcli.errors import ConvcliError, InputError
from convcli.imageio.atomic import STDOUT, make_folder
from convcli.imageio.file_warnings import FileWarning
from convcli.imageio.reading import Frames, Still, display_name, load_frames, load_still, picture_of, refuse_bomb
from convcli.imageio.samples import mark_nodata
from convcli.imageio.writing import output_format, save_frames, save_image, save_stack
from convcli.pipeline.bands import target_reach, value_ranges, write_in_bands
from convcli.pipeline.channels import Picked, filter_picked, restore
from convcli.pipeline.convolver import Convolver
from convcli.pipeline.notices import output_notices
from convcli.pipeline.options import ApplyOptions
from convcli.pipeline.planning import Target
from convcli.pipeline.results import Failure, MapResult, RunResult
from convcli.pixels.mapping import value_range
from convcli.pixels.render import render


@dataclass
class SourceResult:
    """What processing one input gave: its outputs, failures and montage tiles."""

    maps: list[MapResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    tiles: list = field(default_factory=list)  # (label, PIL image) for a montage


def _load(source: Path, data: bytes | None, options: ApplyOptions, still: Still | None = None
          ) -> tuple[Frames, float]:
    """The frames of ``source`` as pictures, with ``nodata`` marked; from ``still`` when it was read."""
    started = time.perf_counter()
    if still is not None:
        samples = still.samples
        if samples.streamed:  # read in pieces so far; whole, it is held to the limit
            refuse_bomb(display_name(source), samples.width, samples.height, options.max_pixels)
        picture = picture_of(samples, options.gray, options.settings.nodata)
        frames = Frames((picture,), 1, still.format, None, still.warnings, still.uncompressed)
        return frames, (time.perf_counter() - started) * 1e3
    nodata = options.settings.nodata
    frames = load_frames(source, data=data, gray=options.gray and nodata is None, max_pixels=options.max_pixels,
                         frames=options.frame_selection)
    if nodata is not None:  # found among the file's own values, before --gray mixes them
        pictures = tuple(replace(p, color=mark_nodata(p.color, p.bit_depth, nodata)) for p in frames.pictures)
        if options.gray:
            pictures = tuple(p.grayed() for p in pictures)
        frames = replace(frames, pictures=pictures)
    return frames, (time.perf_counter() - started) * 1e3


def by_source(targets: list[Target]) -> dict[Path, list[Target]]:
    """The targets grouped by their input, in order."""
    groups: dict[Path, list[Target]] = {}
    for target in targets:
        groups.setdefault(target.source, []).append(target)
    return groups


def find_global_range(targets: list[Target], options: ApplyOptions) -> tuple[float, float]:
    """First pass of ``map`` global: the min..max over every map of the run (failures are left to the
    second pass to report); a band of rows at a time where a target allows it."""
    low, high = np.inf, -np.inf
    for source, group in by_source(targets).items():
        wanted = [target for target in group if "global" in target.maps]
        try:
            still, _ = _load_still(source, wanted, options)
            frames = None if still is not None else _load(source, group[0].data, options)[0]
        except ConvcliError:
            continue
        for target in wanted:
            spans = None
            if still is not None and target_reach(target, options) is not None:
                try:
                    spans = value_ranges(still.samples, target, options, only="global")
                except (ConvcliError, TileDependent):
                    spans = None
            if spans is None:
                try:
                    frames = frames or _load(source, group[0].data, options, still)[0]
                except ConvcliError:
                    break
                spans = _whole_ranges(frames, target, options)
            for span in filter(None, spans):
                low, high = min(low, span[0]), max(high, span[1])
    return (float(low), float(high)) if low <= high else (0.0, 0.0)


def _whole_ranges(frames: Frames, target: Target, options: ApplyOptions) -> list[tuple[float, float]]:
    """The finite range of each of ``target``'s maps mapped ``global``, over every frame, filtered whole."""
    spans = []
    for entry, policy in zip(target.entries, target.maps):
        if policy != "global":
            continue
        for picture in frames.pictures:
            try:
                color = filter_picked((entry,), picture.color, picture.alpha, Convolver(options.settings),
                                      _picked(picture, options, target.source))[0].color
            except ConvcliError:
                continue
            if np.isfinite(color).any():
                spans.append(value_range(color))
    return spans


def write_montage(path: Path, rows: list, result: RunResult) -> None:
    """Lay the tiles out and write them; a failure to write is recorded like any other."""
    from convcli.pixels.montage import build_montage

    try:
        make_folder(path.parent)
        sheet = np.asarray(build_montage(rows), dtype=np.float32) / 255
        save_image(path, sheet)
        result.montage = path
    except ConvcliError as error:
        result.failures.append(Failure(path, error.message, "montage"))


def _failure(source: Path, error: Exception, kernel: str | None = None) -> Failure:
    """The failure of an input (or of one of its outputs) to whatever raised: convcli's errors say what
    went wrong; anything else is a bug of convcli or of a library, named with its type and kept with its
    traceback for the manifest, while the rest of the batch goes on."""
    if isinstance(error, ConvcliError):
        return Failure(source, error.message, kernel)
    name = "standard input" if str(source) == "-" else str(source)
    message = f"{name}: unexpected {type(error).__name__}: {error} (a bug: please report it with this file)"
    return Failure(source, message, kernel, error_type=type(error).__name__,
                   traceback=traceback.format_exc())


def _load_still(source: Path, targets: list[Target], options: ApplyOptions) -> tuple[Still | None, float]:
    """``source`` as the samples of one still image, when some of its targets can be filtered in bands
    (:mod:`convcli.pipeline.bands`); None (and no work done) otherwise, or when it holds several frames."""
    banded = [target for target in targets if target_reach(target, options) is not None]
    if not banded:
        return None, 0.0
    started = time.perf_counter()
    # A TIFF read in pieces may pass the pixel limit when every output is written in pieces too.
    pieces = len(banded) == len(targets) and all(
        output_format(t.output, t.format or None) == "TIFF" and t.output != STDOUT for t in targets)
    still = load_still(source, data=targets[0].data, max_pixels=options.max_pixels, frames=options.frame_selection,
                       pieces_beyond_limit=pieces)
    return still, (time.perf_counter() - started) * 1e3


def process_source(source: Path, targets: list[Target], options: ApplyOptions,
                   global_range: tuple[float, float] | None = None, tiles: bool = False) -> SourceResult:
    """Load ``source`` once and write each of its ``targets``; never raises (but for Ctrl-C): every
    failure is recorded (:func:`_failure`). A still image is filtered a band of rows at a time where its
    targets allow it (:mod:`convcli.pipeline.bands`), from its samples; whole otherwise."""
    outcome = SourceResult()
    data = targets[0].data if targets else None
    frames = still = None
    try:
        if not tiles:
            still, load_ms = _load_still(source, targets, options)
        if still is None:
            frames, load_ms = _load(source, data, options)
        if still is not None and options.channel is not None:  # a file without the channels named fails
            options.channel.pick(still.samples.channels, still.samples.alpha, display_name(source))  # now, once
        for picture in frames.pictures if frames is not None else ():
            _picked(picture, options, source)
    except Exception as error:
        outcome.failures.append(_failure(source, error))
        return outcome
    if tiles:
        from convcli.pixels.montage import thumbnail

        outcome.tiles.append((source.name, thumbnail(frames.first.color, frames.first.alpha)))
    for target in targets:
        try:
            result = None
            if still is not None and target_reach(target, options) is not None:
                try:
                    result = _write_banded(still, target, options, load_ms, global_range, target is targets[-1])
                except InputError as error:  # the file, read in pieces, is broken: so for every target
                    outcome.failures.append(_failure(source, error))
                    return outcome
            if result is None:
                if frames is None:
                    frames, more_ms = _load(source, data, options, still)
                    load_ms += more_ms
                result, layers = _write_target(frames, target, options, load_ms, global_range)
        except Exception as error:
            outcome.failures.append(_failure(source, error, target.name))
            continue
        outcome.maps.append(result)
        if tiles:
            from convcli.pixels.montage import thumbnail

            outcome.tiles += [(name, thumbnail(values, alpha)) for name, values, alpha in layers]
    return outcome


@dataclass
class _Rendered:
    """One target's maps as pixels: per frame, ``(name, values, alpha)`` per entry; the clip counts of all."""

    per_frame: list[list[tuple[str, np.ndarray, np.ndarray | None]]]
    low: int = 0
    high: int = 0
    count: int = 0
    missing: int = 0  # values that read a missing input (NaN, infinity, --nodata): not finite
    peak: float | None = None  # the brightest value written, in [0, 1]

    @property
    def layers(self) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
        """The first frame's maps."""
        return self.per_frame[0]


def _picked(picture, options: ApplyOptions, source: Path) -> Picked | None:
    """The channels of ``picture`` that ``channel`` selects (None: all, as without it)."""
    if options.channel is None:
        return None
    return options.channel.pick(picture.channels, picture.alpha is not None, display_name(source))


def _shared_ranges(target: Target, results: list) -> list[tuple[float, float] | None]:
    """For each entry mapped ``minmax``, the range over all the frames (an animation is one map, so
    its brightness does not flicker from frame to frame); None for the other entries and for stills."""
    ranges: list[tuple[float, float] | None] = [None] * len(target.entries)
    if len(results) < 2:
        return ranges
    for index, policy in enumerate(target.maps):
        if policy == "minmax":
            spans = [value_range(frame[index].color) for frame in results]
            ranges[index] = (min(lo for lo, _ in spans), max(hi for _, hi in spans))
    return ranges


def _render(frames: Frames, target: Target, results: list, options: ApplyOptions,
            global_range: tuple[float, float] | None) -> _Rendered:
    rendered = _Rendered([])
    shared = _shared_ranges(target, results)
    # 8- and 16-bit samples are never NaN: only float images, or a nodata value, make missing outputs.
    may_miss = options.settings.nodata is not None or any(p.bit_depth == 32 for p in frames.pictures)
    for picture, filtered_frame in zip(frames.pictures, results):
        base = picture.color if options.overlay else None
        picked = _picked(picture, options, target.source)
        layers = []
        for entry, policy, span, filtered in zip(target.entries, target.maps, shared, filtered_frame):
            color = filtered.color
            if may_miss and policy != "raw":  # raw maps keep NaN and infinities; pixels are written as 0
                missing = find_missing(color, None)  # in chunks: no image-sized mask when there is none
                if missing is not None:
                    rendered.missing += int(np.count_nonzero(missing))
                    color = np.where(missing, np.float32(np.nan), color)  # not clipped to 0 or 1 as an infinity
            mapped = render(color, "global" if span else policy, global_range=span or global_range,
                            colormap=options.colormap, base=base)
            values, alpha = mapped.values, filtered.alpha
            if picked is not None:  # the channels not picked are written as they were read
                values, alpha = restore(values, picture.color, picture.alpha, picked)
            layers.append((entry.name, values, alpha))
            rendered.low += mapped.clipped_low
            rendered.high += mapped.clipped_high
            rendered.count += mapped.values.size
            if mapped.peak is not None:
                rendered.peak = max(rendered.peak or 0.0, mapped.peak)
        rendered.per_frame.append(layers)
    return rendered


def _save(frames: Frames, target: Target, rendered: _Rendered, options: ApplyOptions) -> list[str]:
    make_folder(target.output.parent)
    picture = frames.first
    raw = "raw" in target.maps
    depth = 8 if options.pixels_drawn else max(p.bit_depth for p in frames.pictures)  # pages may differ
    fmt = target.format or None
    if options.stack:
        return save_stack(target.output, rendered.layers, bit_depth=depth, raw=raw, fmt=fmt)
    name, values, _ = rendered.layers[0]
    dpi = None
    if picture.dpi:
        # Keep the physical size: a stride shrinks the pixel grid, so the density shrinks with it.
        dpi = (picture.dpi[0] * values.shape[1] / picture.width, picture.dpi[1] * values.shape[0] / picture.height)
    icc = None if options.pixels_drawn else picture.icc_profile
    layers = [(maps[0][1], maps[0][2]) for maps in rendered.per_frame]  # each frame's (values, alpha)
    return save_frames(target.output, layers, timing=frames.timing, fmt=fmt, bit_depth=depth, raw=raw, name=name,
                       icc_profile=icc, dpi=dpi, quality=options.quality, compress=not frames.uncompressed)


def _write_target(frames: Frames, target: Target, options: ApplyOptions, load_ms: float,
                  global_range: tuple[float, float] | None) -> tuple[MapResult, list]:
    # The run's nodata values are NaN by now (see _load), in the units the engine computes in.
    convolver = Convolver(replace(options.settings, nodata=None), verify=options.verify)
    t0 = time.perf_counter()
    results = [filter_picked(target.entries, picture.color, picture.alpha, convolver,
                             _picked(picture, options, target.source)) for picture in frames.pictures]
    t1 = time.perf_counter()
    rendered = _render(frames, target, results, options, global_range)
    t2 = time.perf_counter()
    warnings = _save(frames, target, rendered, options)
    t3 = time.perf_counter()
    picture = frames.first
    result = _map_result(
        target, options, input_size=(picture.height, picture.width, picture.channels + (picture.alpha is not None)),
        output_size=tuple(rendered.layers[0][1].shape[:2]), convolver=convolver,
        max_diff=convolver.max_diff, verify_ms=convolver.verify_ms,
        times=(load_ms, (t1 - t0) * 1e3 - convolver.verify_ms, (t2 - t1) * 1e3, (t3 - t2) * 1e3),
        counts=(rendered.count, rendered.low, rendered.high, rendered.missing), peak=rendered.peak,
        note="; ".join(filter(None, (r.note for r in results[0]))), frames=len(frames.pictures),
        warnings=[*frames.warnings, *warnings])
    return result, rendered.layers


def _write_banded(still: Still, target: Target, options: ApplyOptions, load_ms: float,
                  global_range: tuple[float, float] | None, last: bool = False) -> MapResult | None:
    """``target`` written a band at a time (:func:`~convcli.pipeline.bands.write_in_bands`); None when
    its path must see the whole image."""
    samples = still.samples
    make_folder(target.output.parent)
    try:
        written = write_in_bands(samples, target, options, global_range, compress=not still.uncompressed, last=last)
    except TileDependent:
        return None
    return _map_result(
        target, options,
        input_size=(samples.height, samples.width, (1 if options.gray else samples.channels) + samples.alpha),
        output_size=written.output_size, convolver=written.convolver, max_diff=written.max_diff,
        verify_ms=written.verify_ms, times=(load_ms, written.filter_ms, written.map_ms, written.save_ms),
        counts=(written.count, written.low, written.high, written.missing), peak=written.peak, note=written.note,
        frames=1,
        warnings=[*still.warnings, *written.warnings])


def _map_result(target: Target, options: ApplyOptions, *, input_size: tuple[int, int, int],
                output_size: tuple[int, int], convolver: Convolver, max_diff: float | None, verify_ms: float,
                times: tuple[float, float, float, float], counts: tuple[int, int, int, int], peak: float | None,
                note: str, frames: int, warnings: list[FileWarning]) -> MapResult:
    """The report of one output: ``times`` are load, filter, map and save, in ms; ``counts`` the values
    written, clipped low and high, and missing; ``peak`` the brightest value written."""
    values, low, high, _ = counts
    label = "standard output" if target.output == STDOUT else target.output.name
    settings = options.settings
    paths = list(dict.fromkeys(choice.path for choice in convolver.choices))
    reasons = list(dict.fromkeys(choice.reason for choice in convolver.choices))
    load_ms, filter_ms, map_ms, save_ms = times
    return MapResult(
        source=target.source, kernel=target.name, output=target.output, input_size=input_size,
        output_size=output_size, map="+".join(dict.fromkeys(target.maps)),
        method="+".join(paths), method_reason=reasons[0] if reasons else "",
        convention="convolution" if settings.flip != target.entries[0].flip else "correlation",
        boundary=settings.boundary, padding=settings.padding, stride=settings.stride, dilation=settings.dilation,
        load_ms=load_ms, convolve_ms=filter_ms, map_ms=map_ms, save_ms=save_ms, values=values, clipped_low=low,
        clipped_high=high, max_diff=max_diff, verify_ms=verify_ms if options.verify else None, note=note,
        frames=frames, warnings=warnings, notices=output_notices(target, options, label, counts, peak),
    )
