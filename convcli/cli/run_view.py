"""How a run looks on the terminal: the timing report, the progress bar and the ``--dry-run`` plan.

On a terminal the report and the plan are tables when every column fits its width whole; in a log or a
pipe, or when the table is too wide, they are one line per output, whole names first, so ``grep`` finds
every file. No figure is dropped and no file or kernel name folded or cut in either form.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn
from rich.table import Column, Table
from rich.text import Text

from convcli.cli.app import as_flags
from convcli.pipeline.notices import summarise

if TYPE_CHECKING:
    from convcli.pipeline.batch import BatchProgress
    from convcli.pipeline.batch import Progress as ProgressCallback
    from convcli.pipeline.results import MapResult, RunResult


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


def _input_name(m: MapResult) -> str:
    """The input as the user gave it."""
    return "standard input" if str(m.source) == "-" else str(m.source)


def _output_path(m: MapResult) -> str:
    return "standard output" if str(m.output) == "-" else str(m.output)


def _output_names(maps: list[MapResult]) -> list[str]:
    """Each output's file name when they are all in one folder (the summary line names it), else its path."""
    if len({m.output.parent for m in maps}) == 1:
        return ["standard output" if str(m.output) == "-" else m.output.name for m in maps]
    return [_output_path(m) for m in maps]


@dataclass(frozen=True)
class _Column:
    """A column of a report table: its header and its cells, which are never folded or cut."""

    header: str
    cells: list[str]
    justify: str = "left"


def _whole_table(columns: list[_Column], console: Console, **style) -> Table | None:
    """A table of every one of ``columns``, or None when it is wider than the console: no column is
    dropped and no name folded or cut to make it fit (the caller prints a line per output instead)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold", **style)
    for column in columns:
        table.add_column(column.header, justify=column.justify, no_wrap=True)
    for row in zip(*(column.cells for column in columns)):
        table.add_row(*row)
    width = console.measure(table, options=console.options.update_width(10 ** 6)).maximum
    return table if width <= console.width else None


def _size(m: MapResult) -> str:
    height, width, channels = m.input_size
    return f"{width}x{height}x{channels}"


def _clipped(m: MapResult) -> str:
    """The percentage of values clipped, low and high, or a dash when nothing was."""
    low, high = m.clipped_percent
    return "-" if not (m.clipped_low or m.clipped_high) else f"{low:.1f}/{high:.1f}%"


#: The timing table's figures: header, and the MapResult field it shows.
_FIGURES = (("load ms", "load_ms"), ("conv ms", "convolve_ms"), ("map ms", "map_ms"), ("save ms", "save_ms"),
            ("MP/s", "megapixels_per_second"))


def _columns(result: RunResult) -> list[_Column]:
    """The timing table's columns: the input as given, the kernel, the output (its name when every output
    is in one folder, which the summary names), the size and every figure; the method and the mapping
    when they vary between outputs, the frames when any output has several."""
    maps = result.maps
    columns = [_Column("input", [_input_name(m) for m in maps]), _Column("kernel", [m.kernel for m in maps]),
               _Column("output", _output_names(maps)), _Column("size", [_size(m) for m in maps])]
    columns += [_Column(header, [f"{getattr(m, key):.1f}" for m in maps], "right") for header, key in _FIGURES]
    columns.append(_Column("clipped", [_clipped(m) for m in maps], "right"))
    for header, key in (("method", "method"), ("mapping", "map")):
        if _varying(result, key):
            columns.append(_Column(header, [getattr(m, key) for m in maps]))
    if any(m.frames > 1 for m in maps):
        columns.append(_Column("frames", [str(m.frames) for m in maps], "right"))
    return columns


def timing_table(result: RunResult, console: Console) -> Table | None:
    """A row per output with every figure (see :func:`_columns`); None when that is wider than the console."""
    table = _whole_table(_columns(result), console)
    if table is not None:
        table.caption, table.caption_justify = "clipped: % of values below 0 / above 1 before clipping", "left"
    return table


def output_line(m: MapResult, result: RunResult) -> str:
    """One output on one line, whole names first, for a log or a pipe: ``input [kernel] -> output: figures``."""
    figures = [_size(m), f"load {m.load_ms:.1f} ms", f"conv {m.convolve_ms:.1f} ms", f"map {m.map_ms:.1f} ms",
               f"save {m.save_ms:.1f} ms", f"{m.megapixels_per_second:.1f} MP/s"]
    if m.clipped_low or m.clipped_high:
        low, high = m.clipped_percent
        figures.append(f"clipped {low:.1f}% low {high:.1f}% high")
    figures += [f"{key} {getattr(m, key)}" for key in ("method", "map") if _varying(result, key)]
    if m.frames > 1:
        figures.append(f"{m.frames} frames")
    return f"{_input_name(m)} [{m.kernel}] -> {_output_path(m)}: {', '.join(figures)}"


def render_run(result: RunResult, console: Console, quiet: bool = False,
               given: Mapping[str, str] | None = None) -> None:
    """Print the timing table, notes, warnings, failures and a one-line summary; with ``quiet``, only
    the failures. ``given`` names the ``-k`` each kernel came from, as :func:`summarise` takes it."""
    if quiet:
        _render_failures(result, console)
        _render_stop(result, console)
        return
    if result.maps:
        table = timing_table(result, console) if console.is_terminal else None
        if table is not None:
            console.print(table)
        else:  # a log, a pipe, or a terminal too narrow for every figure: whole names that grep finds
            for m in result.maps:
                console.print(Text(output_line(m, result)), soft_wrap=True)
        console.print(Text(settings_line(result), style="dim"), soft_wrap=table is None)
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
    for warning in summarise(result, given):
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


def _clock_time(seconds: float | None) -> str:
    """``H:MM:SS``, or dashes when not known yet."""
    if seconds is None:
        return "-:--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class _Failed(ProgressColumn):
    """How many inputs failed: red only when some did."""

    def render(self, task) -> Text:
        failed = task.fields["failed"]
        return Text(f"{failed} failed", style="red" if failed else "")


class BatchBar:
    """The progress bar of a batch: the current input (cut short to leave room), the bar, done/total,
    failed, the rate and the time left; every figure fits at 80 columns, only the input's name gives way.
    ``clock`` gives the seconds the rate and time left are measured by."""

    def __init__(self, console: Console, total: int, clock: Callable[[], float] = time.perf_counter):
        name = Column(ratio=1, no_wrap=True, overflow="ellipsis", min_width=0)
        columns = (TextColumn("{task.description}", table_column=name), BarColumn(bar_width=20),
                   MofNCompleteColumn(), _Failed(), TextColumn("{task.fields[rate]} images/s"),
                   TextColumn("{task.fields[left]} left"))
        self.progress = Progress(*columns, console=console, transient=True, expand=True, get_time=clock)
        self.task = self.progress.add_task("filtering", total=total, failed=0, rate="-", left=_clock_time(None))
        self.clock = clock
        self.started = clock()

    def advance(self, state: BatchProgress) -> None:
        """Show ``state`` (the callback the batch calls)."""
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = state.done / elapsed
        left = elapsed * (state.total - state.done) / state.done if state.done else None
        description = "stopping" if state.stopping else state.source.name if state.source else "filtering"
        self.progress.update(self.task, completed=state.done, failed=state.failed, rate=f"{rate:.1f}",
                             left=_clock_time(left), description=description)

    def __rich__(self) -> Table:
        """The bar as it is drawn now (printed once, without the live display)."""
        return self.progress.make_tasks_table(self.progress.tasks)


@contextlib.contextmanager
def progress_bar(console: Console, total: int, enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """A progress callback drawing a :class:`BatchBar` when the console is a terminal and there is more
    than one input."""
    if total < 2 or not console.is_terminal or not enabled:
        yield None
        return
    bar = BatchBar(console, total)
    with bar.progress:
        yield bar.advance


def plan_table(targets, console: Console) -> Table | None:
    """``--dry-run``: what would be written, input by input; None when that is wider than the console."""
    columns = [_Column("input", [str(t.source) for t in targets]), _Column("kernel", [t.name for t in targets]),
               _Column("output", [str(t.output) for t in targets]),
               _Column("mapping", ["+".join(dict.fromkeys(t.maps)) for t in targets])]
    return _whole_table(columns, console, title="would write", title_justify="left")


def plan_line(target) -> str:
    """One output of ``--dry-run`` on one line: ``input [kernel] -> output (map ...)``."""
    source = "standard input" if str(target.source) == "-" else str(target.source)
    output = "standard output" if str(target.output) == "-" else str(target.output)
    return f"{source} [{target.name}] -> {output} (map {'+'.join(dict.fromkeys(target.maps))})"


def render_plan(targets, console: Console) -> None:
    """``--dry-run``'s list: a table on a terminal wide enough for it, else a line per output."""
    table = plan_table(targets, console) if console.is_terminal else None
    if table is not None:
        console.print(table)
        return
    for target in targets:
        console.print(Text(plan_line(target)), soft_wrap=True)
