"""How a run looks on the terminal: the timing report, the progress bar and the ``--dry-run`` plan."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from convcli.cli.app import as_flags

if TYPE_CHECKING:
    from convcli.pipeline.batch import BatchProgress
    from convcli.pipeline.batch import Progress as ProgressCallback
    from convcli.pipeline.results import RunResult


def _varying(result: RunResult, key: str) -> bool:
    return len({getattr(m, key) for m in result.maps}) > 1


def settings_line(result: RunResult) -> str:
    """One line with the settings every output shares (method and map too, when they do not vary)."""
    first = result.maps[0]
    conventions = sorted({m.convention for m in result.maps})
    parts = [" + ".join(conventions), f"boundary {first.boundary}", f"padding {first.padding}",
             f"stride {first.stride}", f"dilation {first.dilation}"]
    parts += [f"{key} {getattr(first, key)}" for key in ("method", "map") if not _varying(result, key)]
    return " · ".join(parts)


def timing_table(result: RunResult) -> Table:
    """A row per output: size, stage times in ms, throughput; method and map when they vary."""
    extra = [key for key in ("method", "map") if _varying(result, key)]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold",
                  caption="times in ms; clipped: % of values below 0 / above 1 before clipping",
                  caption_justify="left")
    table.add_column("input", overflow="fold", min_width=10)
    table.add_column("kernel", overflow="fold", min_width=6)
    table.add_column("size", no_wrap=True)
    for name in ("load", "conv", "map", "save", "MP/s", "clipped"):
        table.add_column(name, justify="right", no_wrap=True)
    for key in extra:
        table.add_column(key, no_wrap=True)
    framed = any(m.frames > 1 for m in result.maps)
    if framed:
        table.add_column("frames", justify="right", no_wrap=True)
    for m in result.maps:
        height, width, channels = m.input_size
        row = [m.source.name, m.kernel, f"{width}x{height}x{channels}",
               f"{m.load_ms:.1f}", f"{m.convolve_ms:.1f}", f"{m.map_ms:.1f}", f"{m.save_ms:.1f}",
               f"{m.megapixels_per_second:.1f}", _clipped(m)]
        row += [getattr(m, key) for key in extra]
        row += [str(m.frames)] if framed else []
        table.add_row(*row)
    return table


def _clipped(m) -> str:
    """The percentage of values clipped, low and high, or a dash when nothing was."""
    low, high = m.clipped_percent
    return "-" if not (m.clipped_low or m.clipped_high) else f"{low:.1f}/{high:.1f}%"


def render_run(result: RunResult, console: Console, quiet: bool = False) -> None:
    """Print the timing table, notes, warnings, failures and a one-line summary; with ``quiet``, only
    the failures."""
    if quiet:
        _render_failures(result, console)
        _render_stop(result, console)
        return
    if result.maps:
        console.print(timing_table(result))
        console.print(Text(settings_line(result), style="dim"))
        # Why each kernel ran as it did, for its first output (later ones differ only in the estimates).
        reasons = {}
        for m in result.maps:
            reasons.setdefault(m.kernel, m.method_reason)
        for kernel, reason in reasons.items():
            if reason:
                console.print(Text(f"{kernel}: {reason}", style="dim"), soft_wrap=True)
        diffs = [m.max_diff for m in result.maps if m.max_diff is not None]
        if diffs:
            console.print(Text(f"verified against SciPy: largest difference {max(diffs):.1e}",
                               style="green"), soft_wrap=True)
    notes = dict.fromkeys(m.note for m in result.maps if m.note)
    for note in notes:
        console.print(Text(f"note: {note}", style="cyan"), soft_wrap=True)
    for m in result.maps:
        for warning in m.warnings:
            console.print(Text(f"warning: {as_flags(warning)}", style="yellow"), soft_wrap=True)
    for warning in clip_warnings(result):
        console.print(Text(f"warning: {as_flags(warning)}", style="yellow"), soft_wrap=True)
    _render_failures(result, console)
    if result.montage:
        console.print(Text(f"montage: {result.montage}"), soft_wrap=True)
    folders = sorted({"standard output" if str(m.output) == "-" else str(m.output.parent) for m in result.maps})
    where = f" to {folders[0]}" if len(folders) == 1 else ""
    frames = sum(m.frames for m in result.maps)
    count = f" ({frames} frames)" if frames > len(result.maps) else ""
    summary = f"{len(result.maps)} written{count}{where}, {len(result.failures)} failed"
    if result.existing:
        summary += f", {len(result.existing)} skipped (they exist)"
    if result.not_images:
        summary += f", {len(result.not_images)} non-image file{'s' * (len(result.not_images) != 1)} passed over"
    summary += f", in {result.total_ms:.0f} ms"
    if result.interrupted:
        console.print(Text(f"interrupted: {len(result.pending)} input{'s' * (len(result.pending) != 1)} not "
                           "processed; partial files removed", style="yellow"), soft_wrap=True)
    _render_stop(result, console)
    console.print(Text(summary, style="bold"), soft_wrap=True)


def clip_warnings(result: RunResult) -> list[str]:
    """The clipping warnings, one per kernel: an output's own when it is the only one of its kernel,
    else how many of the kernel's outputs clipped, and how much (a folder of photos gave one per output)."""
    clipped: dict[str, list] = {}
    outputs: dict[str, int] = {}
    for m in result.maps:
        outputs[m.kernel] = outputs.get(m.kernel, 0) + 1
        if m.clip_warning:
            clipped.setdefault(m.kernel, []).append(m)
    lines = []
    for kernel, maps in clipped.items():
        if len(maps) == 1:
            lines.append(maps[0].clip_warning)
            continue
        shares = [100 * (m.clipped_low + m.clipped_high) / max(m.values, 1) for m in maps]
        lines.append(f"{kernel}: values were clipped in {len(maps)} of its {outputs[kernel]} outputs "
                     f"({min(shares):.1f}% to {max(shares):.1f}% of their values); `map` minmax or offset keeps them")
    return lines


def _render_stop(result: RunResult, console: Console) -> None:
    if result.stopped:
        console.print(Text(f"Error: {result.stopped}; {len(result.pending)} input{'s' * (len(result.pending) != 1)} "
                           "not processed, partial files removed", style="red"), soft_wrap=True)


def _render_failures(result: RunResult, console: Console) -> None:
    for failure in result.failures:
        # A load failure's message names the file already; a kernel's failure says which one.
        message = as_flags(failure.message)
        line = f"{failure.source} [{failure.kernel}]: {message}" if failure.kernel else message
        console.print(Text(f"failed: {line}", style="red"), soft_wrap=True)


@contextlib.contextmanager
def progress_bar(console: Console, total: int, enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """A progress callback drawing a bar (files done and failed, images/s, ETA) when the console is a
    terminal and there is more than one input."""
    if total < 2 or not console.is_terminal or not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("[red]{task.fields[failed]} failed"), TextColumn("{task.fields[rate]} images/s"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("filtering", total=total, failed=0, rate="-")
        started = time.perf_counter()

        def advance(state: BatchProgress) -> None:
            rate = state.done / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=state.done, failed=state.failed, rate=f"{rate:.1f}",
                       description="stopping" if state.stopping else state.source.name if state.source else "filtering")

        yield advance


def plan_table(targets) -> Table:
    """``--dry-run``: what would be written, input by input."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold", title="would write",
                  title_justify="left")
    for column in ("input", "kernel", "output", "map"):
        table.add_column(column, overflow="fold")
    for target in targets:
        table.add_row(str(target.source), target.name, str(target.output), "+".join(dict.fromkeys(target.maps)))
    return table
