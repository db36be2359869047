"""How kernels look on the terminal: the library table and one entry's matrices (anchor underlined)."""

from __future__ import annotations

import numpy as np
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from convcli.engine.geometry import default_anchor
from convcli.kernels.entry import Entry
from convcli.kernels.kernel import Kernel
from convcli.kernels.layer import Layer


def kernel_table(library, title: str | None = None) -> Table:
    """A row per library entry: name, size, sum, verdict, separable rank and source (``kernels show`` has more)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold", title=title, title_justify="left")
    for column in ("name", "size", "sum", "verdict", "rank", "source"):
        table.add_column(column, justify="right" if column in ("sum", "rank") else "left",
                         no_wrap=column != "source", overflow="fold")
    for name, entry in library.entries.items():
        summary = entry.summary()
        table.add_row(name, summary.size, summary.total, summary.verdict, summary.rank, entry.source)
    return table


def matrix_table(weights: np.ndarray, anchor: tuple[int, int] | None = None) -> Table:
    """``weights`` in a grid, negative red and positive green, with the ``anchor`` cell underlined (by default
    the contract's, the centre)."""
    anchor = default_anchor(weights.shape) if anchor is None else anchor
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


def entry_view(entry: Entry) -> Group:
    """``kernels show``: what an entry is, its matrices (as given), verdicts and ranks."""
    about = f"  {entry.description}" if entry.description else ""
    parts: list = [Text(f"{entry.name}", style="bold") + Text(f"{about}  ({entry.source})")]
    if entry.members:
        parts.append(Text(entry.structure))
        for kernel in entry.members:
            parts += [Text(f"{kernel.name}: {_summary(kernel)}"), _matrix(kernel)]
        for folded in (k for k in entry.flat() if k not in entry.members):  # a chain's folded kernel
            parts += [Text(f"folded at stride 1: {_summary(folded)}", style="bold"), _matrix(folded)]
        return Group(*parts)
    parts.append(Text(_summary(entry)))
    if isinstance(entry, Layer):  # a kernel per input channel, their maps summed
        for number, plane in enumerate(entry.weights):
            parts += [Text(f"input channel {number}"), matrix_table(plane)]
        return Group(*parts)
    parts.append(_matrix(entry))
    extras = [f"bias {entry.bias:g}"] if entry.bias else []
    if entry.flip:
        extras.append("flip")
    if entry.map:
        extras.append(f"map {entry.map}")
    if entry.anchored:
        extras.append(f"anchor row {entry.anchor[0]}, column {entry.anchor[1]}")
    if extras:
        parts.append(Text(", ".join(extras)))
    return Group(*parts)


def _matrix(kernel: Kernel) -> Table:
    return matrix_table(kernel.given_weights, kernel.anchor)


def _summary(entry: Entry) -> str:
    summary = entry.summary()
    if not summary.rank:  # a layer channel: no one matrix to rank
        return f"{summary.size}, {summary.verdict}"
    separable = "separable" if summary.rank == "1" else f"rank {summary.rank}"
    return f"{summary.size}, {summary.verdict}, {separable}; anchor underlined"
