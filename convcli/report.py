"""Rendering results with Rich: the timing report, the progress bar, kernel tables and views.

The library computes; this module only draws. Its imports of the library are for type hints, so
that a command pays only for what it uses.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from convcli.batch import BatchProgress
    from convcli.batch import Progress as ProgressCallback
    from convcli.results import RunResult


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
    for m in result.maps:
        height, width, channels = m.input_size
        row = [m.source.name, m.kernel, f"{width}x{height}x{channels}",
               f"{m.load_ms:.1f}", f"{m.convolve_ms:.1f}", f"{m.map_ms:.1f}", f"{m.save_ms:.1f}",
               f"{m.megapixels_per_second:.1f}", _clipped(m)]
        row += [getattr(m, key) for key in extra]
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
            console.print(Text(f"verified against scipy.signal: largest difference {max(diffs):.1e}",
                               style="green"), soft_wrap=True)
    notes = dict.fromkeys(m.note for m in result.maps if m.note)
    for note in notes:
        console.print(Text(f"note: {note}", style="cyan"), soft_wrap=True)
    for m in result.maps:
        for warning in m.warnings:
            console.print(Text(f"warning: {warning}", style="yellow"), soft_wrap=True)
    _render_failures(result, console)
    if result.montage:
        console.print(Text(f"montage: {result.montage}"), soft_wrap=True)
    folders = sorted({str(m.output.parent) for m in result.maps})
    where = f" to {folders[0]}" if len(folders) == 1 else ""
    summary = f"{len(result.maps)} written{where}, {len(result.failures)} failed"
    if result.existing:
        summary += f", {len(result.existing)} skipped (they exist)"
    if result.not_images:
        summary += f", {len(result.not_images)} non-image file{'s' * (len(result.not_images) != 1)} passed over"
    summary += f", in {result.total_ms:.0f} ms"
    if result.interrupted:
        console.print(Text(f"interrupted: {len(result.pending)} input{'s' * (len(result.pending) != 1)} not "
                           "processed; partial files removed", style="yellow"), soft_wrap=True)
    console.print(Text(summary, style="bold"), soft_wrap=True)


def _render_failures(result: RunResult, console: Console) -> None:
    for failure in result.failures:
        # A load failure's message names the file already; a kernel's failure says which one.
        line = f"{failure.source} [{failure.kernel}]: {failure.message}" if failure.kernel else failure.message
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
                       description=state.source.name if state.source else "filtering")

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


def _kernel_cells(kernel) -> tuple[str, str, str, str]:
    """Size, sum, verdict and rank of a kernel, as table cells."""
    height, width = kernel.shape
    total = "0" if kernel.zero_sum else f"{kernel.sum:.4g}"
    return f"{height}x{width}", total, kernel.verdict, str(kernel.rank)


def kernel_table(library, title: str | None = None) -> Table:
    """A row per library entry: name, size, sum, verdict, separable rank and source (``kernels show`` has more)."""
    from convcli.kernels import Bank, Chain

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold", title=title, title_justify="left")
    for column in ("name", "size", "sum", "verdict", "rank", "source"):
        table.add_column(column, justify="right" if column in ("sum", "rank") else "left",
                         no_wrap=column != "source", overflow="fold")
    for name, entry in library.entries.items():
        if isinstance(entry, Bank):
            shapes = {k.shape for k in entry.kernels}
            size = f"{len(entry.kernels)} x {'x'.join(map(str, next(iter(shapes))))}" if len(shapes) == 1 \
                else f"{len(entry.kernels)} kernels"
            cells = (size, "", f"bank: {entry.combine or 'stack'}", "")
        elif isinstance(entry, Chain):
            size, total, verdict, rank = _kernel_cells(entry.fold())
            cells = (size, total, f"chain: {verdict}", rank)
        else:
            cells = _kernel_cells(entry)
        table.add_row(name, *cells, entry.source)
    return table


def matrix_table(kernel) -> Table:
    """The weights in a grid, negative red and positive green, with the anchor cell underlined."""
    weights = kernel.weights
    anchor = ((weights.shape[0] - 1) // 2, (weights.shape[1] - 1) // 2)
    table = Table(box=box.SQUARE, show_header=False, pad_edge=True)
    for _ in range(weights.shape[1]):
        table.add_column(justify="right")
    for i, row in enumerate(weights):
        cells = []
        for j, value in enumerate(row):
            style = "red" if value < 0 else "green" if value > 0 else "dim"
            if (i, j) == anchor:
                style += " underline bold"
            cells.append(Text(f"{value:.4g}", style=style))
        table.add_row(*cells)
    return table


def entry_view(entry) -> Group:
    """``kernels show``: what an entry is, its matrices, verdicts and ranks."""
    from convcli.kernels import Bank, Chain

    about = f"  {entry.description}" if entry.description else ""
    parts: list = [Text(f"{entry.name}", style="bold") + Text(f"{about}  ({entry.source})")]
    if isinstance(entry, (Bank, Chain)):
        kind = (f"bank of {len(entry.kernels)}, combined by {entry.combine}" if isinstance(entry, Bank)
                and entry.combine else f"bank of {len(entry.kernels)}, one map each" if isinstance(entry, Bank)
                else f"chain of {len(entry.kernels)}, applied in this order")
        parts.append(Text(kind))
        for kernel in entry.kernels:
            parts += [Text(f"{kernel.name}: {_summary(kernel)}"), matrix_table(kernel)]
        if isinstance(entry, Chain):
            folded = entry.fold()
            parts += [Text(f"folded at stride 1: {_summary(folded)}", style="bold"), matrix_table(folded)]
    else:
        parts += [Text(_summary(entry)), matrix_table(entry)]
        if entry.bias or entry.flip or entry.map:
            extras = [f"bias {entry.bias:g}"] * bool(entry.bias) + ["flip"] * entry.flip
            extras += [f"map {entry.map}"] * bool(entry.map)
            parts.append(Text(", ".join(extras)))
    return Group(*parts)


def _summary(kernel) -> str:
    size, _, verdict, rank = _kernel_cells(kernel)
    separable = "separable" if rank == "1" else f"rank {rank}"
    return f"{size}, {verdict}, {separable}; anchor underlined"


# --- probe, explain, fit, export (issue 7: see what a kernel does) -------------------------------------


def _cell(value: float) -> str:
    text = f"{value:.4g}"
    return "0" if text in ("0", "-0") else text


def _pair(rows: str, cols: str) -> list[str]:
    """One line when rows and columns agree, two when they differ."""
    return [f"rows and columns: {rows}"] if rows == cols else [f"rows: {rows}", f"columns: {cols}"]


def probe_view(result) -> Group:
    """``convcli probe``: the settings, the impulse response as a table and what it shows."""
    kernel = result.kernel
    kh, kw = kernel.shape
    ai, aj = result.anchor
    height, width = result.canvas
    y, x = result.impulse
    header = (f"{kernel.name} {kh}x{kw} · {result.convention} · anchor ({ai}, {aj}) · stride {result.stride} · "
              f"dilation {result.dilation} · padding {result.padding} · boundary {result.boundary}")
    out_h, out_w = result.response.shape
    where = (f"impulse: 1 at row {y}, column {x} of a {height}x{width} black canvas; output {out_h}x{out_w}; "
             "row and column labels are input positions")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
    table.add_column("y \\ x", justify="right", style="dim")
    for col in result.cols:
        table.add_column(str(col), justify="right", header_style="bold reverse" if col == x else "bold")
    for r in range(out_h):
        cells = []
        for c in range(out_w):
            value = result.response[r, c]
            style = "red" if value < 0 else "green" if value > 0 else "dim"
            if (result.rows[r], result.cols[c]) == (y, x):
                style += " bold underline"
            cells.append(Text(_cell(value), style=style))
        table.add_row(Text(str(result.rows[r]), style="bold reverse" if result.rows[r] == y else "dim"), *cells)

    own = " (the kernel's own flip = true)" if kernel.flip else ""
    lines = {
        "mirrored": f"correlation{own}: output (y, x) reads input (y + i - ai, x + j - aj), so the impulse shows the "
                    "kernel turned 180° about its anchor. --flip runs true convolution, which shows it as written.",
        "as written": f"true convolution{own}: the offsets are mirrored about the anchor, so the impulse shows the "
                      "kernel as written. Correlation (as PyTorch and OpenCV apply kernels) shows it turned 180°.",
        "symmetric": f"{kernel.name} equals itself turned 180°, so correlation and convolution give the same "
                     "response; an asymmetric kernel shows the difference.",
        "other": "the response is neither the kernel nor its 180° turn: a bug in the engine; please report it.",
    }
    notes = [lines[result.reads]]
    if result.impulse_cell is not None:
        notes.append(f"anchor ({ai}, {aj}): the output on the impulse itself gets k[{ai}, {aj}] = "
                     f"{_cell(result.anchor_value)}" + (" (an even side anchors on the cell before its middle)"
                                                        if kh % 2 == 0 or kw % 2 == 0 else ""))
    else:
        notes.append("no output sits on the impulse itself (it is off the stride grid or outside the output)")
    if result.stride > 1:
        taps, seen = kh * kw, result.taps_seen
        notes.append(f"stride {result.stride}: one output every {result.stride} input pixels; "
                     + (f"all {taps} taps land on an output" if seen == taps else
                        f"{seen} of the {taps} taps land{'s' * (seen == 1)} on an output, the other {taps - seen} fall "
                        "between outputs"))
    if result.dilation > 1:
        fh, fw = result.footprint
        notes.append(f"dilation {result.dilation}: taps {result.dilation} pixels apart, so the {kh}x{kw} kernel "
                     f"covers {fh}x{fw} input pixels, with gaps between its taps")
    if kernel.bias:
        notes.append(f"bias {kernel.bias:g} is added to every output by apply; not shown here")
    if result.note:
        notes.append(f"note: {result.note}")
    return Group(Text(header, style="bold"), Text(where), table, *(Text(n, style="cyan") for n in notes))


def _count(n: int) -> str:
    return f"{n:,}"


def _ratio(base: int, other: int) -> str:
    if other == base:
        return "1x"
    return f"{base / other:,.2f}x fewer" if other < base else f"{other / base:,.0f}x more"


_PADDING_RULES = {
    "same": "padding same: one output per s input pixels, TensorFlow's SAME",
    "valid": "padding valid: P = 0, the kernel inside the input",
    "full": "padding full: P = d·(kh - 1), wherever the kernel overlaps the input",
}


def explain_view(ex) -> Group:
    """``convcli explain``: shapes with their formulas, the receptive field, and three layers' costs."""
    height, width = ex.size
    kernels = f"{ex.out_channels} kernel{'s' * (ex.out_channels != 1)} per layer"
    parts: list = [Text(f"input {height}x{width}x{ex.channels} · {kernels} · stride {ex.stride} · padding "
                        f"{ex.padding} · dilation {ex.dilation}", style="bold")]
    shapes = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
    for column in ("layer", "kernel", "input", "output", "receptive field"):
        shapes.add_column(column, justify="right" if column == "layer" else "left")
    for layer in ex.layers:
        kh, kw = layer.kernel.shape
        name = layer.kernel.name + (f" ({kh}x{kw})" if layer.kernel.name != f"{kh}x{kw}" else "")
        shapes.add_row(str(layer.index), name, "x".join(map(str, layer.in_shape)), "x".join(map(str, layer.out_shape)),
                       "x".join(map(str, layer.receptive_field)))
    parts.append(shapes)

    rule = _PADDING_RULES.get(ex.padding, f"padding {ex.padding}: PyTorch's rule")
    parts.append(Text(f"Output size ({rule}): H' = {ex.layers[0].rows.formula}", style="bold"))
    for layer in ex.layers:
        rows, cols = (f"{axis.filled}" + (f" (pads {axis.pad_before} before, {axis.pad_after} after)"
                                          if ex.padding == "same" else "") for axis in (layer.rows, layer.cols))
        parts += [Text(f"  layer {layer.index} {line}") for line in _pair(rows, cols)]
    parts.append(Text("Receptive field: r = 1 + Σ (k - 1)·d·j, j = the product of the strides before the layer",
                      style="bold"))
    parts += [Text(f"  {line}") for line in _pair(*ex.receptive_filled)]

    totals = [ex.total(kind) for kind in ("standard", "separable", "dense")]
    standard = totals[0]
    final = "x".join(map(str, ex.out_shape))
    costs = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
    costs.add_column(f"{height}x{width}x{ex.channels} → {final}")
    for label in ("standard", "depthwise-separable", "fully connected"):
        costs.add_column(label, justify="right")
    costs.add_row("weights", *(cost.weights_formula for cost in totals))
    costs.add_row("parameters", *(_count(cost.parameters) for cost in totals))
    costs.add_row("multiply-adds", *(_count(cost.macs) for cost in totals))
    costs.add_row("parameters vs standard", *(_ratio(standard.parameters, cost.parameters) for cost in totals))
    costs.add_row("multiply-adds vs standard", *(_ratio(standard.macs, cost.macs) for cost in totals))
    parts.append(costs)
    summed = f", summed over the {len(ex.layers)} layers" if len(ex.layers) > 1 else ""
    parts.append(Text(f"parameters: weights + biases, as PyTorch counts them (bias=True); multiply-adds: one per "
                      f"weight and output position{summed}", style="dim"))
    saving = (f"depthwise-separable: {ex.mac_saving:.2f}x fewer multiply-adds" +
              (f", 1 / (1/N + 1/(kh·kw)) = {ex.saving_formula}" if ex.saving_formula else ""))
    parts.append(Text(saving, style="cyan"))
    return Group(*parts)


def fit_view(fit, before, after) -> Group:
    """``convcli fit``: the fitted kernel, the size of the problem and the residual."""
    from types import SimpleNamespace

    import numpy as np

    kh, kw = fit.shape
    channels = f"{fit.channels} channel{'s' * (fit.channels != 1)}"
    parts: list = [Text(f"least-squares {kh}x{kw} kernel mapping {before} to {after}", style="bold"),
                   Text(f"{channels}, {_count(fit.equations)} equations (one per position where the kernel fits), "
                        f"{fit.unknowns} unknowns, rank {fit.rank}")]
    # Least squares leaves round-off (1e-9 and less) where the true weight is 0: print those as 0.
    tiny = np.abs(fit.weights) < 1e-6 * max(float(np.abs(fit.weights).max()), 1e-300)
    parts.append(matrix_table(SimpleNamespace(weights=np.where(tiny, 0.0, fit.weights))))
    if tiny.any() and np.any(fit.weights[tiny]):
        parts.append(Text("weights below 1e-6 of the largest are printed as 0 (the TOML holds them exactly)",
                          style="dim"))
    if fit.bias:
        parts.append(Text(f"bias {fit.bias:.6g}"))
    parts.append(Text(f"residual RMS {fit.residual_rms:.3g} (after varies by RMS {fit.target_rms:.3g} about its "
                      f"mean; R² {fit.r_squared:.6f})"))
    if not fit.determined:
        parts.append(Text(f"warning: rank {fit.rank} of {fit.unknowns}: {before} does not pin down every weight (flat "
                          "or repetitive); this is the smallest kernel that fits", style="yellow"))
    parts.append(Text("apply it as written (correlation, no --flip), anchor underlined", style="cyan"))
    return Group(*parts)


def export_line(export) -> Text:
    """``convcli kernels export``: what was written."""
    o, i, kh, kw = export.shape
    return Text(f"wrote {export.path}: {o} x {i} x {kh} x {kw} float32 (O x I x kh x kw, PyTorch's Conv2d weight "
                f"layout): {', '.join(export.names)}")


def bench_view(result) -> Group:
    """A ``convcli bench`` run: per case, each engine's median time, how many times faster convcli ran,
    and the largest difference from convcli's result; then the performance targets and the paths chosen."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold", caption_justify="left",
                  caption=f"median of up to {result.repeat} runs in ms, boundary {result.boundary}, the same "
                          "float32 array for every engine; speed-up = engine's time / convcli's")
    for name, justify in (("case", "left"), ("engine", "left"), ("ms", "right"), ("runs", "right"),
                          ("speed-up", "right"), ("max |diff|", "right"), ("how", "left")):
        table.add_column(name, justify=justify, no_wrap=name != "how", overflow="fold")
    for case in result.cases:
        shape = "x".join(map(str, case.shape))
        for i, timing in enumerate(case.timings):
            table.add_row(f"{case.name}\n{shape}" if i == 0 else "", timing.engine, f"{timing.ms:.1f}",
                          str(timing.runs), f"{case.speedup(timing):.2f}x",
                          "" if timing.max_diff is None else f"{timing.max_diff:.1e}", timing.note,
                          style="bold" if i == 0 else None, end_section=i == len(case.timings) - 1)
    marks = {True: ("met", "green"), False: ("MISSED", "red"), None: ("not measured", "yellow")}
    targets = Text()
    for target in result.targets():
        word, style = marks[target.met]
        targets.append(f"{word:>12}  ", style=style)
        targets.append(f"{target.text} ({target.detail})\n")
    paths = Text("\n".join(f"{case.name}: {case.reason}" for case in result.cases), style="dim")
    machine = Text(" · ".join(f"{k} {v}" for k, v in result.environment.items()), style="dim")
    return Group(table, Text("performance targets", style="bold"), targets, Text("Paths chosen", style="bold"),
                 paths, machine)


def calibration_view(calibration) -> Group:
    """What ``convcli bench --calibrate`` measured, and where the factors were stored."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
    for name, justify in (("path", "left"), ("problem", "left"), ("model ms", "right"), ("measured ms", "right")):
        table.add_column(name, justify=justify)
    for path, problem, predicted, measured in calibration.rows:
        table.add_row(path, problem, f"{predicted:.1f}", f"{measured:.1f}")
    factors = " · ".join(f"{path} x{factor:.2f}" for path, factor in calibration.scale.items())
    return Group(table, Text(f"factors (measured / model): {factors}"),
                 Text(f"stored in {calibration.path}; method=auto uses them from now on", style="dim"))
