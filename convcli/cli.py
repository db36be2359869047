"""The ``convcli`` command line: parse, call the library, render. No arithmetic lives here."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from convcli import __version__
from convcli.colormaps import COLORMAPS
from convcli.engine import METHODS
from convcli.errors import ConvcliError
from convcli.mapping import MAPS
from convcli.stacks import COMBINES

err_console = Console(stderr=True)
out_console = Console()

MapPolicy = Enum("MapPolicy", {name: name for name in MAPS}, type=str)
Method = Enum("Method", {name: name for name in METHODS}, type=str)
Colormap = Enum("Colormap", {name: name for name in COLORMAPS}, type=str)
Combine = Enum("Combine", {name: name for name in COMBINES}, type=str)
Executor = Enum("Executor", {name: name for name in ("local", "dask")}, type=str)


def print_errors(messages: list[str]) -> None:
    """One ``Error: ...`` line per problem, on stderr."""
    for message in messages:
        err_console.print(Text(f"Error: {message}", style="red"), soft_wrap=True)


class ConvcliGroup(TyperGroup):
    """Turns every user mistake into ``Error: ...`` on stderr and the contract's exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ConvcliError as error:
            print_errors(str(error).splitlines())
            sys.exit(error.exit_code)
        except typer.TyperException as error:  # Typer's own usage errors (bad flag, missing argument)
            error.show()
            sys.exit(error.exit_code)
        except typer.Abort:
            err_console.print("Aborted.")
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=ConvcliGroup,
    help="Apply convolution kernels to images and write the feature maps. Kernels are applied as written "
         "(correlation, as PyTorch and OpenCV do; --flip for true convolution); see `convcli apply --help`.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"convcli {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Apply convolution kernels to images and write the feature maps."""


# Every option is declared once, here, and reused by the commands that take it.
ENGINE = "Engine"
OUTPUT = "Output"
KernelSpecs = Annotated[list[str], typer.Option(
    "-k", "--kernel", show_default=False,
    help="A kernel: a name (convcli kernels list), a generator call such as gaussian:size=9,sigma=2, "
         "an inline matrix \"0,-1,0; -1,5,-1; 0,-1,0\", a .npy file (kh x kw, or a bank N x kh x kw) or a "
         "libvips .mat file. Repeat for several feature maps.")]
KernelFiles = Annotated[list[Path] | None, typer.Option(
    "--kernels", exists=True, dir_okay=False, show_default=False,
    help="Extra TOML kernel file; its names override the built-ins, your config folder's kernels.toml and "
         "$CONVCLI_KERNELS. Repeatable.")]
Flip = Annotated[bool, typer.Option(
    "--flip", rich_help_panel=ENGINE,
    help="Mirror the kernel about its anchor: true convolution (scipy.signal.convolve2d) instead of "
         "correlation (PyTorch conv2d, OpenCV filter2D).")]
Boundary = Annotated[str, typer.Option(
    "--boundary", "-b", rich_help_panel=ENGINE,
    help="Values outside the image: zero, constant (--cval), edge (aaa|abc), symmetric (cba|abc), "
         "mirror (cb|abc), wrap (abc|abc); aliases such as replicate, reflect, reflect101, circular.")]
Cval = Annotated[float, typer.Option(
    "--cval", rich_help_panel=ENGINE, help="The value outside the image for --boundary constant, in [0, 1] units.")]
Padding = Annotated[str, typer.Option(
    "--padding", "-p", rich_help_panel=ENGINE,
    help="same (one output per input pixel / stride), valid (kernel inside the image), full (kernel "
         "overlapping it), or an integer P (pad P on every side, then valid, as PyTorch).")]
Stride = Annotated[int, typer.Option("--stride", "-s", rich_help_panel=ENGINE,
                                     help="Step between output positions, >= 1.")]
Dilation = Annotated[int, typer.Option("--dilation", "-d", rich_help_panel=ENGINE,
                                       help="Spacing between kernel taps, >= 1.")]
MethodOption = Annotated[Method, typer.Option("--method", rich_help_panel=ENGINE, help="Engine path.")]
Gray = Annotated[bool, typer.Option("--gray", help="Convert to luminance first (one channel).")]
Map = Annotated[MapPolicy, typer.Option(
    "--map", "-m", rich_help_panel=OUTPUT,
    help="Float results to pixels: clip to [0, 1]; abs |v|; offset v + 0.5 (0 is mid-grey); minmax "
         "stretches each map; global stretches one range shared by the run; raw keeps floats "
         "(.npy, .npz, .tif). auto: the kernel's preference, else abs for zero-sum kernels, else clip.")]
Name = Annotated[str, typer.Option(
    "--name", rich_help_panel=OUTPUT,
    help="Output file names inside the -o folder, from {stem} (input name), {kernel} and {ext} "
         "(the input's extension, or npy for --map raw).")]
Verify = Annotated[bool, typer.Option(
    "--verify", help="Recompute every result with scipy.signal and report the largest difference; "
                     "an error above tolerance.")]
ReportJson = Annotated[Path | None, typer.Option(
    "--report-json", dir_okay=False, show_default=False, rich_help_panel=OUTPUT,
    help="Also write the report as JSON to this file (layout: convcli/report_schema.json).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
ColormapOption = Annotated[Colormap | None, typer.Option(
    "--colormap", rich_help_panel=OUTPUT, show_default=False,
    help="Colour one-channel maps (colour maps by their luminance): sequential viridis, inferno, gray; "
         "diverging coolwarm (use it with --map offset, so that 0 is white).")]
Overlay = Annotated[bool, typer.Option(
    "--overlay", rich_help_panel=OUTPUT,
    help="Blend each map over its input, coloured by --colormap (default inferno), strongest where the map is.")]
Quality = Annotated[int, typer.Option("--quality", rich_help_panel=OUTPUT, help="JPEG and WebP quality, 1-100.")]
Stack = Annotated[bool, typer.Option(
    "--stack", rich_help_panel=OUTPUT,
    help="Write all of an input's maps into one file: .npz (one array per kernel), .npy (N x H x W[x C]) "
         "or a multi-page .tif.")]
CombineOption = Annotated[Combine | None, typer.Option(
    "--combine", rich_help_panel=OUTPUT, show_default=False,
    help="Reduce all the kernels' maps to one: magnitude (root of the sum of squares), max, sum, or argmax "
         "(index of the strongest kernel).")]
BATCH = "Batch"
Recursive = Annotated[bool, typer.Option("--recursive", "-r", rich_help_panel=BATCH,
                                         help="Look for images in sub-folders too; the output mirrors the tree.")]
Workers = Annotated[int | None, typer.Option(
    "--workers", "-j", rich_help_panel=BATCH, show_default=False,
    help="Processes working in parallel (default: one per CPU).")]
ExecutorOption = Annotated[Executor, typer.Option(
    "--executor", rich_help_panel=BATCH,
    help="local (this machine) or dask (a Dask cluster: pip install 'convcli[dask]'; inputs and outputs "
         "must be on a path every worker sees).")]
Scheduler = Annotated[str | None, typer.Option(
    "--scheduler", rich_help_panel=BATCH, show_default=False,
    help="The Dask scheduler's address, e.g. tcp://10.0.0.5:8786.")]
SkipExisting = Annotated[bool, typer.Option(
    "--skip-existing", rich_help_panel=BATCH, help="Leave outputs that exist alone: resumes a stopped run.")]
DryRun = Annotated[bool, typer.Option("--dry-run", "-n", rich_help_panel=BATCH,
                                      help="List what would be written, and write nothing.")]
ManifestOption = Annotated[Path | None, typer.Option(
    "--manifest", dir_okay=False, rich_help_panel=BATCH, show_default=False,
    help="Write a JSON manifest: per input its outputs, status, error, timings, and the fingerprint of the "
         "kernels and options.")]
MaxPixels = Annotated[int, typer.Option(
    "--max-pixels", rich_help_panel=BATCH,
    help="Refuse images with more pixels than this, from their header, before decoding (decompression bombs).")]
Montage = Annotated[Path | None, typer.Option(
    "--montage", dir_okay=False, rich_help_panel=OUTPUT, show_default=False,
    help="Also write one picture with each input beside its maps, labelled with the kernel names.")]


@app.command()
def apply(
    inputs: Annotated[list[str], typer.Argument(
        metavar="INPUT", help="Image files, folders or quoted globs.", show_default=False)],
    kernel: KernelSpecs,
    output: Annotated[Path, typer.Option(
        "-o", "--output", show_default=False, rich_help_panel=OUTPUT,
        help="The output file (one input, one kernel) or folder; the format follows the extension: "
             ".png .jpg .jpeg .webp .bmp .tif .tiff .npy .npz.")],
    kernels: KernelFiles = None,
    flip: Flip = False,
    boundary: Boundary = "symmetric",
    cval: Cval = 0.0,
    padding: Padding = "same",
    stride: Stride = 1,
    dilation: Dilation = 1,
    method: MethodOption = Method.auto,
    gray: Gray = False,
    mapping: Map = MapPolicy.auto,
    name: Name = "{stem}_{kernel}.{ext}",
    colormap: ColormapOption = None,
    overlay: Overlay = False,
    stack: Stack = False,
    combine: CombineOption = None,
    quality: Quality = 95,
    montage: Montage = None,
    recursive: Recursive = False,
    workers: Workers = None,
    executor: ExecutorOption = Executor.local,
    scheduler: Scheduler = None,
    skip_existing: SkipExisting = False,
    dry_run: DryRun = False,
    manifest: ManifestOption = None,
    max_pixels: MaxPixels = 178_956_970,
    verify: Verify = False,
    report_json: ReportJson = None,
    quiet: Quiet = False,
) -> None:
    """Apply kernels to images and write one feature map per input and kernel.

    Kernels are applied as written (correlation):
    `out[y, x] = sum k[i, j] * in[y*s + (i - ai)*d, x*s + (j - aj)*d]`,
    anchored at `(ai, aj) = ((kh - 1) // 2, (kw - 1) // 2)`, so padding "same"
    matches scipy.signal.correlate2d (and, with --flip, convolve2d) for every kernel size. For even
    kernels OpenCV and scipy.ndimage anchor one cell further, and PyTorch centres an even dilated
    kernel between taps.

    Folders are read for image files (`--recursive`: with their sub-folders) and the output folder
    mirrors the input tree; other files are passed over and counted. Outputs are written to a
    temporary name and renamed, so an interrupted run leaves no partial file.

    Exit codes: 0 everything written, 1 some inputs failed (the rest are written), 2 bad usage,
    130 interrupted (Ctrl-C).
    """
    from convcli.apply import ApplyOptions, plan
    from convcli.batch import BatchOptions, default_workers, run, write_manifest
    from convcli.inputs import expand_inputs
    from convcli.library import load_library, resolve_kernels
    from convcli.report import plan_table, progress_bar, render_run

    options = ApplyOptions(stride=stride, padding=padding, boundary=boundary, cval=cval, dilation=dilation,
                           flip=flip, method=method.value, gray=gray, map=mapping.value, verify=verify, name=name,
                           colormap=colormap and colormap.value, overlay=overlay, quality=quality, stack=stack,
                           combine=combine and combine.value, max_pixels=max_pixels)
    batch = BatchOptions(workers=default_workers() if workers is None else workers, executor=executor.value,
                         scheduler=scheduler, skip_existing=skip_existing, montage=montage)
    chosen = resolve_kernels(kernel, load_library(kernels or []))
    found = expand_inputs(inputs, recursive=recursive)
    targets = plan(found.images, chosen, output, options)
    if dry_run:
        out_console.print(plan_table(targets))
        out_console.print(f"{len(targets)} outputs from {len(found.images)} inputs; {len(found.skipped)} "
                          "non-image files passed over; nothing written")
        return
    with progress_bar(err_console, len(found.images), enabled=not quiet) as advance:
        result = run(targets, options, batch, progress=advance, not_images=found.skipped)
    render_run(result, err_console, quiet=quiet)
    if report_json is not None:
        result.write_json(report_json)
    if manifest is not None:
        write_manifest(manifest, result, targets, options)
    raise typer.Exit(result.exit_code)


kernels_app = typer.Typer(help="List, show and check kernels.", no_args_is_help=True)
app.add_typer(kernels_app, name="kernels")


@kernels_app.command("list")
def kernels_list(kernels: KernelFiles = None) -> None:
    """Every kernel, bank and chain: size, sum, verdict, separable rank and the file it came from.

    Kernels are read from the built-in library, then your config folder's kernels.toml, then the
    files in $CONVCLI_KERNELS, then each --kernels file; later names override earlier ones.
    """
    from convcli.library import load_library
    from convcli.report import kernel_table

    out_console.print(kernel_table(load_library(kernels or [])))


@kernels_app.command("show")
def kernels_show(
    name: Annotated[str, typer.Argument(help="A kernel name, generator call, inline matrix, .npy or .mat file.",
                                        show_default=False)],
    kernels: KernelFiles = None,
) -> None:
    """A kernel's matrix (anchor underlined), its verdict and separable rank; a bank's or chain's parts."""
    from convcli.library import load_library, resolve_kernels
    from convcli.report import entry_view

    library = load_library(kernels or [])
    entries = [library[name]] if name in library else resolve_kernels([name], library)
    for entry in entries:
        out_console.print(entry_view(entry))


@kernels_app.command("check")
def kernels_check(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The TOML kernel file to check.",
                                         show_default=False)],
) -> None:
    """Validate a kernel file and report every problem in it at once (exit code 2 if there is any)."""
    from convcli.library import check_file
    from convcli.report import kernel_table

    entries, problems = check_file(file)
    if problems:
        print_errors(problems)
        raise typer.Exit(2)
    out_console.print(kernel_table(entries, title=f"{file}: {len(entries.entries)} entries, no problems"))
