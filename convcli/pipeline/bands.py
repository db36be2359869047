"""Filtering a still image a band of rows at a time, from its stored samples to the written file.

A band of output rows reads a band of input rows with a halo above and below (what the kernels'
height, dilation, padding and stride reach: :class:`Reach`). The band is made float
(:meth:`~convcli.imageio.samples.Samples.rows`), filtered by every entry of the target, mapped and
quantised while it is in cache, and copied into the output: an image-sized array of 8- or 16-bit
samples, or, for a TIFF, compressed strips written as they come, so that nothing image-sized exists.
Bands run on the engine's threads, each engine call on one.

Bit for bit the whole image's result: each engine call takes the path the whole image would take
(``whole_shape`` of :func:`~convcli.engine.plan.plan`), and those paths sum every output in an order
its tile does not change. Near a cut the engine sees the band's own edge and fills it by the boundary
mode; the halo is wide enough that no kept output reads such a row (only the image's own edges do,
which the band holds). FFT plans round by tile and BLAS products (GEMM, and the separable path's) by
their shape: such a target raises :class:`~convcli.engine.plan.TileDependent`, and is filtered whole. So is
``wrap``, whose edge reads the far side of the image.

``minmax`` maps need a map's range before its first pixel is written: they cost a first pass over the
bands (:func:`value_ranges`), then the second writes.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from convcli.engine.geometry import centre, plan_axis, reach_radius
from convcli.engine.missing import find_missing
from convcli.engine.plan import TileDependent
from convcli.engine.settings import Settings
from convcli.engine.threads import default_workers, share_blas
from convcli.imageio import tiff
from convcli.imageio.file_warnings import FileWarning
from convcli.imageio.reading import display_name
from convcli.imageio.samples import Samples
from convcli.imageio.writing import ARRAY_FORMATS, output_format, quantise, sample_depth
from convcli.pipeline.channels import filter_picked, restore
from convcli.pipeline.convolver import Convolver
from convcli.pipeline.options import ApplyOptions
from convcli.pipeline.planning import Target
from convcli.pixels.render import render

#: Float bytes of one band's input (all channels): with its maps and scratch, a band stays within a
#: core's share of the cache. Measured on 100 MP gray and 12 MP RGB: 2 MB bands ran fastest.
BAND_BYTES = 1 << 21

#: Output rows per band are a multiple of this (a TIFF strip is one local band).
ROW_STEP = 8

BAND_ROWS_VARIABLE = "CONVCLI_BAND_ROWS"


@dataclass(frozen=True)
class Reach:
    """Which input rows a target's output rows read: the kernel height of each convolution in turn,
    each at ``settings``' stride, dilation and padding."""

    taps: tuple[int, ...]
    settings: Settings

    @property
    def stride(self) -> int:
        """Input rows per output row, over all the convolutions."""
        return self.settings.stride ** len(self.taps)

    @property
    def radii(self) -> tuple[int, ...]:
        settings = self.settings
        return tuple(reach_radius(taps, settings.dilation, settings.padding) for taps in self.taps)

    def needed(self, first: int, stop: int, input_rows: int) -> tuple[int, int]:
        """The input rows ``lo .. hi - 1`` that output rows ``first .. stop - 1`` read, directly or through the
        boundary mode (a reflection at an edge reads as far inside as the outputs reach past it): a
        bound, for any anchor, for an image ``input_rows`` high."""
        heights = [input_rows]
        for taps in self.taps[:-1]:
            heights.append(self._rows(heights[-1], taps))
        lo, hi = first, stop - 1
        for radius, height in zip(reversed(self.radii), reversed(heights)):
            lo, hi = lo * self.settings.stride - radius, hi * self.settings.stride + radius
            if lo < 0:
                hi = max(hi, -lo)
            if hi > height - 1:
                lo = min(lo, 2 * (height - 1) - hi)
            lo, hi = max(lo, 0), min(hi, height - 1)
        return lo, hi + 1

    def _rows(self, input_rows: int, taps: int) -> int:
        settings = self.settings
        return plan_axis(input_rows, taps, anchor=centre(taps), stride=settings.stride,
                         dilation=settings.dilation, padding=settings.padding).count

    def output_rows(self, input_rows: int) -> int:
        """The rows of the maps of an image ``input_rows`` high."""
        for taps in self.taps:
            input_rows = self._rows(input_rows, taps)
        return input_rows


def target_reach(target: Target, options: ApplyOptions) -> Reach | None:
    """The rows a target reads, or None when it cannot be filtered in bands (see the module's text)."""
    settings = options.settings
    if settings.boundary == "wrap" or options.stack:
        return None
    stages = [entry.row_stages(settings) for entry in target.entries]
    if any(stage is None for stage in stages) or len({len(stage) for stage in stages}) != 1:
        return None
    return Reach(tuple(max(column) for column in zip(*stages)), settings)


@dataclass(frozen=True)
class Band:
    """Output rows ``first .. stop - 1``, from input rows ``start .. end - 1``; the band's maps begin
    ``skip`` rows above ``first`` (the halo's outputs, read from the band's edge, are dropped)."""

    first: int
    stop: int
    start: int
    end: int
    skip: int


def cut(reach: Reach, input_rows: int, output_rows: int, band_rows: int) -> list[Band]:
    """The bands of ``band_rows`` output rows (the last fewer) that cover ``output_rows``."""
    bands = []
    for first in range(0, output_rows, band_rows):
        stop = min(first + band_rows, output_rows)
        start, end = reach.needed(first, stop, input_rows)
        start -= start % reach.stride  # so that the band's outputs fall on the whole image's
        bands.append(Band(first, stop, start, end, first - start // reach.stride))
    return bands


def band_height(samples: Samples, reach: Reach, budget: int = BAND_BYTES) -> int:
    """Output rows per band: about ``budget`` float bytes of input, a multiple of :data:`ROW_STEP`, and
    no fewer than the halo (which would make the halo most of the work); ``$CONVCLI_BAND_ROWS`` when set
    (for tuning, and for tests of many bands)."""
    if os.environ.get(BAND_ROWS_VARIABLE, "").isdigit() and int(os.environ[BAND_ROWS_VARIABLE]) > 0:
        return int(os.environ[BAND_ROWS_VARIABLE])
    row_bytes = samples.width * (samples.channels + samples.alpha) * 4
    radius = sum(reach.radii)
    rows = max(budget // max(1, row_bytes) // reach.stride, 2 * radius // reach.stride, ROW_STEP)
    return -(-rows // ROW_STEP) * ROW_STEP


@dataclass
class BandMaps:
    """One band's outputs: per entry ``(colour, alpha)``, floats of the map (before the map policy)."""

    band: Band
    maps: list[tuple[np.ndarray, np.ndarray | None]]
    base: np.ndarray  # the band's input colour at the output rows (for an overlay, and `channel`)
    base_alpha: np.ndarray | None  # and its alpha
    convolver: Convolver
    note: str
    filter_ms: float


def filter_band(samples: Samples, target: Target, options: ApplyOptions, band: Band) -> BandMaps:
    """Filter one band by every entry of ``target``; the maps of its output rows alone."""
    started = time.perf_counter()
    settings = options.settings
    color, alpha = samples.rows(band.start, band.end, gray=options.gray, nodata=settings.nodata)
    # The run's nodata values are NaN by now, in the units the engine computes in.
    convolver = Convolver(replace(settings, nodata=None), verify=options.verify, band_of=samples.height,
                          band_first_row=band.start // settings.stride)
    picked = None if options.channel is None else \
        options.channel.pick(samples.channels, samples.alpha, display_name(target.source))
    results = filter_picked(target.entries, color, alpha, convolver, picked)
    rows = slice(band.skip, band.skip + band.stop - band.first)
    maps = [(r.color[rows], None if r.alpha is None else r.alpha[rows]) for r in results]
    kept = slice(band.first - band.start, band.stop - band.start)
    note = "; ".join(filter(None, (r.note for r in results)))
    return BandMaps(band, maps, color[kept], None if alpha is None else alpha[kept], convolver, note,
                    (time.perf_counter() - started) * 1e3 - convolver.verify_ms)


def in_order(job: Callable[[Band], object], bands: list[Band], workers: int) -> Iterator:
    """``job`` of each band, in order; the first on this thread (a target that cannot be banded says so
    there, before any other starts), the rest on ``workers`` threads, a few ahead of the one consumed."""
    yield job(bands[0])
    if len(bands) == 1:
        return
    if workers == 1:
        yield from map(job, bands[1:])
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="convcli-band", initializer=share_blas, initargs=(1,))
    try:
        yield from _ahead(lambda band: pool.submit(job, band), bands[1:], 2 * workers)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ahead(submit: Callable, bands: list[Band], window: int) -> Iterator:
    """The results of ``submit(band)`` (a future) for each band, in order, with ``window`` bands submitted
    ahead of the one awaited; those still pending are cancelled when the caller stops early."""
    rest = iter(bands)
    pending = deque(submit(band) for _, band in zip(range(window), rest))
    try:
        while pending:
            done = pending.popleft().result()
            following = next(rest, None)
            if following is not None:
                pending.append(submit(following))
            yield done
    finally:
        for future in pending:
            future.cancel()


#: A band sent to another Dask worker is this many times larger: a task costs milliseconds to hand out.
CLUSTER_BANDS = 8


def _budget(samples: Samples) -> int:
    """Float bytes per band: larger where the bands go across a Dask cluster."""
    return BAND_BYTES * CLUSTER_BANDS if samples.streamed and in_worker() else BAND_BYTES


def in_worker() -> bool:
    """Whether this runs as a task on a Dask worker (``--executor dask``)."""
    if "distributed" not in sys.modules:
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def on_cluster(job: Callable[[Band], object], bands: list[Band]) -> Iterator:
    """``job`` of each band, in order, the first on this thread and the others as tasks on the Dask cluster
    this runs on (its reads must be possible there: a TIFF read in pieces opens the file on each worker), a
    few per worker thread ahead of the one consumed. The task waiting for them leaves its worker's pool
    meanwhile (``worker_client``)."""
    from distributed import worker_client

    yield job(bands[0])
    if len(bands) == 1:
        return
    with worker_client() as client:
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values())
        yield from _ahead(lambda band: client.submit(job, band, pure=False), bands[1:], 2 * max(1, threads))


def run_bands(job: Callable[[Band], object], bands: list[Band], samples: Samples) -> tuple[Iterator, bool]:
    """``job`` of each band, in order: across the Dask cluster when this runs on one and ``samples`` are
    read in pieces (:func:`on_cluster`), else on this machine's threads (:func:`in_order`); and which."""
    split = samples.streamed and len(bands) > 1 and in_worker()
    return (on_cluster(job, bands) if split else in_order(job, bands, default_workers())), split


def _finite_range(values: np.ndarray) -> tuple[float, float] | None:
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else None


def value_ranges(samples: Samples, target: Target, options: ApplyOptions, *, only: str = "minmax"
                 ) -> list[tuple[float, float] | None]:
    """The first pass: for each entry mapped ``only`` (``minmax``, or ``global`` for the run's range), the
    finite min and max of its whole map, ``(0.0, 0.0)`` when it has no finite value; None for the others."""
    reach = target_reach(target, options)
    wanted = [policy == only for policy in target.maps]
    found: list[tuple[float, float] | None] = [None] * len(wanted)
    bands = cut(reach, samples.height, reach.output_rows(samples.height), band_height(samples, reach, _budget(samples)))
    if not bands:
        raise TileDependent("no output")

    def job(band: Band) -> list[tuple[float, float] | None]:
        filtered = filter_band(samples, target, options, band)
        return [_finite_range(color) if want else None for want, (color, _) in zip(wanted, filtered.maps)]

    for spans in run_bands(job, bands, samples)[0]:
        for index, span in enumerate(spans):
            if span is not None:
                old = found[index] or span
                found[index] = (min(old[0], span[0]), max(old[1], span[1]))
    if only == "global":  # the run's range takes only the maps that have finite values
        return [found[i] if want else None for i, want in enumerate(wanted)]
    return [(found[i] or (0.0, 0.0)) if want else None for i, want in enumerate(wanted)]


@dataclass
class Written:
    """What writing a target in bands gave: the counts and times for its report."""

    output_size: tuple[int, int]
    low: int = 0
    high: int = 0
    count: int = 0
    missing: int = 0
    peak: float | None = None  # the brightest value written, in [0, 1]
    filter_ms: float = 0.0
    map_ms: float = 0.0
    save_ms: float = 0.0
    note: str = ""
    convolver: Convolver | None = None
    warnings: list[FileWarning] = field(default_factory=list)
    max_diff: float | None = None
    verify_ms: float = 0.0


@dataclass
class _Done:
    """One band mapped and quantised: its samples (or a TIFF strip of them) and its counts."""

    color: np.ndarray | None
    alpha: np.ndarray | None
    strips: list[bytes]
    filtered: BandMaps
    low: int
    high: int
    count: int
    missing: int
    peak: float | None
    map_ms: float
    save_ms: float
    width: int  # of the map


def write_in_bands(samples: Samples, target: Target, options: ApplyOptions,
                   global_range: tuple[float, float] | None = None, *, compress: bool = True,
                   last: bool = False) -> Written:
    """Filter, map and write ``target`` (one entry: a ``stack`` is filtered whole) a band at a time.

    ``compress``: a TIFF is deflate compressed (not when its input TIFF was not). ``last``: no other
    output needs the samples, which are let go before the file is encoded.
    Raises :class:`~convcli.engine.plan.TileDependent` when the whole image's path cannot be reproduced
    by bands: from the first band, or, for the masks of missing values, from the first band that holds
    one; the temporary file is then removed and the caller filters the image whole.
    """
    from itertools import chain

    from convcli.imageio.atomic import atomic_write
    from convcli.imageio.writing import save_frames

    reach = target_reach(target, options)
    policy = target.maps[0]
    span = value_ranges(samples, target, options)[0] if policy == "minmax" else \
        global_range if policy == "global" else None
    fmt = output_format(target.output, target.format or None)
    raw = policy == "raw"
    floats = raw or fmt in ARRAY_FORMATS
    input_depth = 8 if options.pixels_drawn else samples.bit_depth
    depth = sample_depth(fmt, input_depth)
    streamed = fmt == "TIFF"
    # 8- and 16-bit samples are never NaN: only float images, or a nodata value, make missing outputs.
    may_miss = options.settings.nodata is not None or samples.bit_depth == 32
    strip_rows = band_height(samples, reach)  # the TIFF's strips: the same however the bands run
    band_rows = band_height(samples, reach, _budget(samples))
    band_rows = -(-band_rows // strip_rows) * strip_rows
    bands = cut(reach, samples.height, reach.output_rows(samples.height), band_rows)
    if not bands:  # no output at all: the whole image's path says why
        raise TileDependent("no output")

    def job(band: Band) -> _Done:
        filtered = filter_band(samples, target, options, band)
        started = time.perf_counter()
        color, alpha = filtered.maps[0]
        missing = 0
        if may_miss and policy != "raw":  # raw maps keep NaN and infinities; pixels are written as 0
            found = find_missing(color, None)
            if found is not None:
                missing = int(np.count_nonzero(found))
                color = np.where(found, np.float32(np.nan), color)
        mapped = render(color, "global" if span is not None else policy, global_range=span,
                        colormap=options.colormap, base=filtered.base if options.overlay else None)
        values = mapped.values
        if options.channel is not None:  # the channels not picked are written as they were read
            picked = options.channel.pick(samples.channels, samples.alpha, display_name(target.source))
            values, alpha = restore(values, filtered.base, filtered.base_alpha, picked)
        if floats:  # raw maps, and every map in .npy and .npz, are written as float32
            color_samples = np.asarray(values, dtype=np.float32)
            alpha_samples = None if alpha is None else np.asarray(alpha, dtype=np.float32)
        else:
            if alpha is not None:  # quantised together with its alpha, as the writers do (a float64 alpha
                common = np.result_type(values, alpha)  # makes the colour float64 there)
                values, alpha = values.astype(common, copy=False), alpha.astype(common, copy=False)
            color_samples = quantise(values, depth, in_place=True, within=values is mapped.values and mapped.within)
            alpha_samples = None if alpha is None else quantise(alpha, depth)
        mapped_at = time.perf_counter()
        strips = []
        if streamed:
            planes = color_samples if alpha_samples is None else np.dstack([color_samples, alpha_samples])
            strips = [tiff.encode_strip(planes[row:row + strip_rows], compress)
                      for row in range(0, len(planes), strip_rows)]
            color_samples, alpha_samples = planes[:0], None
        width = color.shape[1]
        filtered.maps, filtered.base, filtered.base_alpha = [], None, None  # not sent back from a Dask worker
        return _Done(color_samples, alpha_samples, strips, filtered, mapped.clipped_low, mapped.clipped_high,
                     mapped.values.size, missing, mapped.peak, (mapped_at - started) * 1e3,
                     (time.perf_counter() - mapped_at) * 1e3, width)

    # On a Dask worker, a TIFF read in pieces is split across the cluster (each band opens the file).
    done, split = run_bands(job, bands, samples)
    first = next(done)
    note = first.filtered.note
    if split:
        note = "; ".join(filter(None, [note, f"split into {len(bands)} bands across the Dask cluster"]))
    written = Written(output_size=(0, 0), note=note, convolver=first.filtered.convolver)

    def count(result: _Done) -> _Done:
        written.low += result.low
        written.high += result.high
        written.count += result.count
        written.missing += result.missing
        if result.peak is not None:
            written.peak = max(written.peak or 0.0, result.peak)
        written.filter_ms += result.filtered.filter_ms
        written.map_ms += result.map_ms
        written.save_ms += result.save_ms
        convolver = result.filtered.convolver
        if convolver.max_diff is not None:
            written.max_diff = max(written.max_diff or 0.0, convolver.max_diff)
            written.verify_ms += convolver.verify_ms
        return result

    rows = reach.output_rows(samples.height)
    width = first.width
    written.output_size = (rows, width)
    icc = None if options.pixels_drawn or (options.gray and samples.channels > 1) else samples.icc_profile
    dpi = None
    if samples.dpi:  # keep the physical size: a stride shrinks the pixel grid, so the density shrinks with it
        dpi = (samples.dpi[0] * width / samples.width, samples.dpi[1] * rows / samples.height)
    if streamed:
        shape = (rows, width, *first.color.shape[2:])
        strips = (strip for result in chain([first], done) for strip in count(result).strips)
        atomic_write(target.output, lambda handle: tiff.write_strips(
            handle, shape, first.color.dtype, strips, rows_per_strip=strip_rows, icc_profile=icc, dpi=dpi,
            compress=compress, path=target.output))
        return written
    out_color = np.empty((rows, width, *first.color.shape[2:]), first.color.dtype)
    out_alpha = None if first.alpha is None else np.empty((rows, width), first.alpha.dtype)
    for result in chain([first], done):
        band = count(result).filtered.band
        out_color[band.first:band.stop] = result.color
        if out_alpha is not None:
            out_alpha[band.first:band.stop] = result.alpha
    if last:
        samples.release()
    started = time.perf_counter()
    written.warnings = save_frames(target.output, [(out_color, out_alpha)], fmt=target.format or None,
                                   bit_depth=input_depth, raw=raw, name=target.entries[0].name, icc_profile=icc,
                                   dpi=dpi, quality=options.quality, compress=compress)
    written.save_ms += (time.perf_counter() - started) * 1e3
    return written
