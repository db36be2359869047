"""``convcli kernels list | show | check | export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from convcli.cli.app import app, err_console, out_console, print_errors
from convcli.cli.options import KernelFiles

kernels_app = typer.Typer(no_args_is_help=True)
app.add_typer(kernels_app, name="kernels")


@kernels_app.callback()
def kernels_group() -> None:
    """List, show, check and export kernels.

    **Examples**

    ```
    convcli kernels list
    convcli kernels show sobel_x
    convcli kernels show gaussian:size=5,sigma=1 --png gaussian.png
    convcli kernels check samples/my_kernels.toml
    convcli kernels export sobel_x sobel_y --npy sobel.npy
    ```
    """


@kernels_app.command("list")
def kernels_list(kernels: KernelFiles = None) -> None:
    """Every kernel, bank and chain: size, sum, verdict, separable rank and the file it came from.

    Kernels are read from the built-in library, then your config folder's kernels.toml, then the
    files in $CONVCLI_KERNELS, then each --kernels file; later names override earlier ones.
    """
    from convcli.cli.kernel_view import kernel_table
    from convcli.kernels.library import load_library

    out_console.print(kernel_table(load_library(kernels or [])))


@kernels_app.command("show")
def kernels_show(
    name: Annotated[str, typer.Argument(
        metavar="KERNEL", help="A kernel name or any -k form of apply: generator call, inline matrix, ImageMagick "
                          "string, chain \"a | b\", .npy or .mat file.", show_default=False)],
    kernels: KernelFiles = None,
    png: Annotated[Path | None, typer.Option(
        "--png", dir_okay=False, metavar="FILE", show_default=False,
        help="Also draw it to this PNG file: a heat map with the values in the cells, beside the kernel's "
             "frequency response (the magnitude of its 2-D FFT, zero frequency at the centre).")] = None,
) -> None:
    """A kernel's matrix (anchor underlined), its verdict and separable rank; a bank's or chain's parts.

    With --png, also a picture: one row per kernel (a bank's kernels; a chain's steps and its folded
    kernel), the weights as a blue-white-red heat map with the anchor outlined, and beside it how strongly
    the kernel passes each spatial frequency: bright in the middle for a blur, dark there for an edge
    detector.
    """
    from convcli.cli.kernel_view import entry_view
    from convcli.kernels.library import load_library
    from convcli.kernels.specs import resolve_kernels

    library = load_library(kernels or [])
    entries = [library[name]] if name in library else resolve_kernels([name], library)
    if png is not None:  # first, so that a bad file name stops the command before it prints
        from convcli.tools.pictures import save_kernel_figure

        err_console.print(Text(f"wrote {save_kernel_figure(png, entries)}"), soft_wrap=True)
    for entry in entries:
        out_console.print(entry_view(entry))


@kernels_app.command("check")
def kernels_check(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, metavar="FILE",
                                         help="The TOML kernel file to check.", show_default=False)],
) -> None:
    """Validate a kernel file and report every problem in it at once (exit code 2 if there is any)."""
    from convcli.cli.kernel_view import kernel_table
    from convcli.kernels.library import check_file

    entries, problems = check_file(file)
    if problems:
        print_errors(problems)
        raise typer.Exit(2)
    out_console.print(kernel_table(entries, title=f"{file}: {len(entries.entries)} entries, no problems"))


@kernels_app.command("export")
def kernels_export(
    names: Annotated[list[str], typer.Argument(
        metavar="NAME...", show_default=False,
        help="Kernels: names, generator calls or inline matrices, all of one size.")],
    npy: Annotated[Path, typer.Option(
        "--npy", dir_okay=False, metavar="FILE", show_default=False,
        help="The .npy file to write, O x 1 x kh x kw float32 (PyTorch's Conv2d weight layout).")],
    kernels: KernelFiles = None,
) -> None:
    """Write kernels as one PyTorch weight array, O x I x kh x kw with I = 1: one output channel per kernel.

    Load it into torch.nn.Conv2d(1, O, (kh, kw)) with layer.weight.data = torch.from_numpy(np.load(FILE)).
    PyTorch correlates, as convcli does, so its maps match convcli apply --boundary zero with an integer
    --padding. A bank exports its kernels, a chain its folded kernel; a kernel marked flip = true is
    written mirrored; biases are left out (PyTorch keeps them in Conv2d.bias).
    """
    from convcli.cli.tool_view import export_line
    from convcli.kernels.library import load_library
    from convcli.kernels.specs import resolve_kernels
    from convcli.tools.export import write_pytorch_bank

    entries = resolve_kernels(names, load_library(kernels or []))
    export = write_pytorch_bank(npy, [kernel for entry in entries for kernel in entry.flat()])
    out_console.print(export_line(export), soft_wrap=True)
    for note in export.notes:
        err_console.print(Text(f"note: {note}", style="cyan"), soft_wrap=True)
