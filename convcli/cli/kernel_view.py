"""How kernels look on the terminal: the library table and one entry's matrices (anchor underlined)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    pass


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


def matrix_table(kernel) -> Table:
    """The weights (as given) in a grid, negative red and positive green, with the anchor cell underlined."""
    weights = getattr(kernel, "given_weights", kernel.weights)
    anchor = getattr(kernel, "anchor", None) or ((weights.shape[0] - 1) // 2, (weights.shape[1] - 1) // 2)
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
    about = f"  {entry.description}" if entry.description else ""
    parts: list = [Text(f"{entry.name}", style="bold") + Text(f"{about}  ({entry.source})")]
    if entry.members:
        parts.append(Text(entry.structure))
        for kernel in entry.members:
            parts += [Text(f"{kernel.name}: {_summary(kernel)}"), matrix_table(kernel)]
        for folded in (k for k in entry.flat() if k not in entry.members):  # a chain's folded kernel
            parts += [Text(f"folded at stride 1: {_summary(folded)}", style="bold"), matrix_table(folded)]
        return Group(*parts)
    parts += [Text(_summary(entry)), matrix_table(entry)]
    if entry.bias or entry.flip or entry.map or getattr(entry, "anchored", False):
        extras = [f"bias {entry.bias:g}"] * bool(entry.bias) + ["flip"] * entry.flip
        extras += [f"map {entry.map}"] * bool(entry.map)
        extras += [f"anchor row {entry.anchor[0]}, column {entry.anchor[1]}"] * getattr(entry, "anchored", False)
        parts.append(Text(", ".join(extras)))
    return Group(*parts)


def _summary(kernel) -> str:
    summary = kernel.summary()
    separable = "separable" if summary.rank == "1" else f"rank {summary.rank}"
    return f"{summary.size}, {summary.verdict}, {separable}; anchor underlined"
