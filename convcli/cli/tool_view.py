"""How the tools' results look on the terminal: probe, explain, fit, export and bench."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from convcli.cli.kernel_view import matrix_table

if TYPE_CHECKING:
    pass


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
    import numpy as np

    kh, kw = fit.shape
    channels = f"{fit.channels} channel{'s' * (fit.channels != 1)}"
    parts: list = [Text(f"least-squares {kh}x{kw} kernel mapping {before} to {after}", style="bold"),
                   Text(f"{channels}, {_count(fit.equations)} equations (one per position where the kernel fits), "
                        f"{fit.unknowns} unknowns, rank {fit.rank}")]
    # Least squares leaves round-off (1e-9 and less) where the true weight is 0: print those as 0.
    tiny = np.abs(fit.weights) < 1e-6 * max(float(np.abs(fit.weights).max()), 1e-300)
    parts.append(matrix_table(np.where(tiny, 0.0, fit.weights)))
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
    paths = Text()
    for case in result.cases:
        forced = ", ".join(f"{t.engine} {t.ms:.1f}" for t in case.forced) or "none within reach"
        paths.append(f"{case.name}: {case.path} {case.timings[0].ms:.1f} ms; forced: {forced}; "
                     f"{case.choice_ratio:.2f}x the fastest\n")
        paths.append(f"  {case.reason}\n", style="dim")
    machine = Text(" · ".join(f"{k} {v}" for k, v in result.environment.items()), style="dim")
    return Group(table, Text("performance targets", style="bold"), targets,
                 Text("Paths chosen, and the others forced (ms)", style="bold"), paths, machine)


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
