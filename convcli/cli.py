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
from convcli.errors import ConvcliError
from convcli.options import COLORMAPS, COMBINES, DEFAULT_MAX_PIXELS, DEFAULT_NAME, EXECUTORS, MAPS, METHODS

err_console = Console(stderr=True)
out_console = Console()

MapPolicy = Enum("MapPolicy", {name: name for name in MAPS}, type=str)
Method = Enum("Method", {name: name for name in METHODS}, type=str)
Colormap = Enum("Colormap", {name: name for name in COLORMAPS}, type=str)
Combine = Enum("Combine", {name: name for name in COMBINES}, type=str)
Executor = Enum("Executor", {name: name for name in EXECUTORS}, type=str)


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
DepthwiseOption = Annotated[bool, typer.Option(
    "--depthwise", rich_help_panel=ENGINE,
    help="Depthwise convolution: the -k kernels apply one per channel (as many kernels as channels).")]
PointwiseOption = Annotated[str | None, typer.Option(
    "--pointwise", rich_help_panel=ENGINE, show_default=False,
    help="After --depthwise, mix the channels with a 1x1 matrix O x C: inline \"0.299,0.587,0.114\" (rows split "
         "by ;), a .toml file with matrix = [[...]], or a .npy file. The report compares the time and parameters "
         "with the full convolution it factorises.")]
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
    name: Name = DEFAULT_NAME,
    colormap: ColormapOption = None,
    overlay: Overlay = False,
    stack: Stack = False,
    combine: CombineOption = None,
    quality: Quality = 95,
    montage: Montage = None,
    depthwise: DepthwiseOption = False,
    pointwise: PointwiseOption = None,
    recursive: Recursive = False,
    workers: Workers = None,
    executor: ExecutorOption = Executor.local,
    scheduler: Scheduler = None,
    skip_existing: SkipExisting = False,
    dry_run: DryRun = False,
    manifest: ManifestOption = None,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
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
    from convcli.batch import BatchOptions, run, write_manifest
    from convcli.inputs import expand_inputs
    from convcli.library import load_library, resolve_kernels
    from convcli.paths import default_workers
    from convcli.report import plan_table, progress_bar, render_run

    options = ApplyOptions(stride=stride, padding=padding, boundary=boundary, cval=cval, dilation=dilation,
                           flip=flip, method=method.value, gray=gray, map=mapping.value, verify=verify, name=name,
                           colormap=colormap and colormap.value, overlay=overlay, quality=quality, stack=stack,
                           combine=combine and combine.value, max_pixels=max_pixels)
    batch = BatchOptions(workers=default_workers() if workers is None else workers, executor=executor.value,
                         scheduler=scheduler, skip_existing=skip_existing, montage=montage)
    chosen = resolve_kernels(kernel, load_library(kernels or []), unique=not depthwise)
    if pointwise and not depthwise:
        raise typer.BadParameter("--pointwise mixes the channels of a --depthwise convolution; add --depthwise",
                                 param_hint="--pointwise")
    if depthwise:
        from convcli.depthwise import depthwise_entry

        chosen = [depthwise_entry(chosen, pointwise)]
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


kernels_app = typer.Typer(help="List, show, check and export kernels.", no_args_is_help=True)
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
    png: Annotated[Path | None, typer.Option(
        "--png", dir_okay=False, show_default=False,
        help="Also draw it to this PNG file: a heat map with the values in the cells, beside the kernel's "
             "frequency response (the magnitude of its 2-D FFT, zero frequency at the centre).")] = None,
) -> None:
    """A kernel's matrix (anchor underlined), its verdict and separable rank; a bank's or chain's parts.

    With --png, also a picture: one row per kernel (a bank's kernels; a chain's steps and its folded
    kernel), the weights as a blue-white-red heat map with the anchor outlined, and beside it how strongly
    the kernel passes each spatial frequency: bright in the middle for a blur, dark there for an edge
    detector.
    """
    from convcli.library import load_library, resolve_kernels
    from convcli.report import entry_view

    library = load_library(kernels or [])
    entries = [library[name]] if name in library else resolve_kernels([name], library)
    if png is not None:  # first, so that a bad file name stops the command before it prints
        from convcli.pictures import save_kernel_figure

        err_console.print(Text(f"wrote {save_kernel_figure(png, entries)}"), soft_wrap=True)
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


# --- issue 7, see what a kernel does: probe, explain, fit, kernels export ---------------------------------

Canvas = Annotated[str | None, typer.Option(
    "--canvas", show_default=False,
    help="Canvas size HxW (default: the smallest showing the whole response, the impulse on an output).")]
At = Annotated[str | None, typer.Option("--at", show_default=False,
                                        help="Where the impulse sits on --canvas: ROW,COL (default: the centre).")]
InputSize = Annotated[str, typer.Option("--size", help="Input height x width, e.g. 224x224 (one number: a square).")]
Channels = Annotated[int, typer.Option("--channels", "-c", help="Input channels C (3 for RGB).")]
OutChannels = Annotated[int, typer.Option(
    "--out-channels", "-n", help="Kernels per layer: the output channels N (PyTorch's out_channels).")]
FitSize = Annotated[str, typer.Option("--size", show_default=False,
                                      help="Kernel size: K for K x K, or KHxKW such as 5x3.")]
KernelName = Annotated[str, typer.Option("--kernel-name", help="The name of the [kernels.NAME] table written.")]
FitBias = Annotated[bool, typer.Option("--bias", help="Also fit a constant added after the sum.")]


@app.command("probe")
def probe_command(
    kernel: KernelSpecs,
    kernels: KernelFiles = None,
    flip: Flip = False,
    boundary: Boundary = "zero",
    cval: Cval = 0.0,
    padding: Padding = "same",
    stride: Stride = 1,
    dilation: Dilation = 1,
    canvas: Canvas = None,
    at: At = None,
) -> None:
    """Run a single bright pixel (an impulse) through a kernel and print the response as a table.

    The response shows how the kernel is applied. By default convcli correlates, as PyTorch and
    OpenCV do: output (y, x) reads input (y + i - ai, x + j - aj), so the impulse comes out as the
    kernel turned 180 degrees about its anchor. With --flip (true convolution, scipy.signal.convolve2d)
    it comes out as written. The output on the impulse itself gets the anchor tap,
    k[(kh - 1) // 2, (kw - 1) // 2]; --stride keeps every s-th output, --dilation spreads the taps.
    Row and column labels are input positions; the canvas is black, so --boundary (default zero) only
    shows near the edges (try --canvas and --at).
    """
    from convcli.explain import parse_size
    from convcli.library import load_library, resolve_kernels
    from convcli.probe import parse_point, probe_entries
    from convcli.report import probe_view

    results = probe_entries(
        resolve_kernels(kernel, load_library(kernels or [])), stride=stride, padding=padding, boundary=boundary,
        cval=cval, dilation=dilation, flip=flip, canvas=None if canvas is None else parse_size(canvas, "canvas", "9x9"),
        at=None if at is None else parse_point(at))
    for result in results:
        out_console.print(probe_view(result))


@app.command("explain")
def explain_command(
    kernel: KernelSpecs,
    size: InputSize = "224x224",
    channels: Channels = 3,
    out_channels: OutChannels = 64,
    stride: Stride = 1,
    padding: Padding = "same",
    dilation: Dilation = 1,
    kernels: KernelFiles = None,
) -> None:
    """Output shape, receptive field, parameters and multiply-adds of convolution layers, worked out.

    Each -k is a layer (a chain: one layer per kernel; a bare size such as -k 3x3 works too), applied
    one after another with the same --stride, --padding and --dilation, each with --out-channels
    kernels. Printed: every output size with its formula filled in (an integer --padding P follows
    PyTorch: floor((H + 2P - d(k - 1) - 1) / s) + 1); the receptive field of the stack; and the
    parameters and multiply-adds of a standard convolution, its depthwise-separable version
    (MobileNet: one kernel per channel, then a 1x1 convolution) and a fully connected layer on the
    same input, all computed.
    """
    from convcli.explain import explain, layer_kernels, parse_size
    from convcli.library import load_library
    from convcli.report import explain_view

    layers = layer_kernels(kernel, load_library(kernels or []))
    out_console.print(explain_view(explain(parse_size(size), layers, channels=channels, out_channels=out_channels,
                                           stride=stride, padding=padding, dilation=dilation)))


@app.command("fit")
def fit_command(
    before: Annotated[Path, typer.Argument(exists=True, dir_okay=False, metavar="BEFORE", show_default=False,
                                           help="The image before filtering.")],
    after: Annotated[Path, typer.Argument(exists=True, dir_okay=False, metavar="AFTER", show_default=False,
                                          help="The same image after filtering.")],
    size: FitSize,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", dir_okay=False, show_default=False,
        help="Write the kernel to this TOML file, appended when the file exists (default: stdout).")] = None,
    kernel_name: KernelName = "fitted",
    gray: Gray = False,
    bias: FitBias = False,
) -> None:
    """Find the least-squares kernel that maps BEFORE to AFTER: what training learns, in closed form.

    Every position where the kernel fits inside BEFORE gives one equation, sum k[i, j] * BEFORE[...] =
    AFTER[y, x]; the kernel that best satisfies them all (least squares, the minimum that gradient
    descent on the mean squared error reaches) is printed with the residual RMS, on stderr. Colour
    images share one kernel across their channels; alpha is ignored; float TIFFs are read as they
    are. The kernel goes to -o FILE (or stdout) as a [kernels.NAME] table: apply it with
    --kernels FILE -k NAME, as written (no --flip).
    """
    from convcli.explain import parse_size
    from convcli.fit import check_target, describe, fit_images, kernel_toml, write_kernel_toml
    from convcli.report import fit_view

    check_target(output, kernel_name)
    fit = fit_images(before, after, parse_size(size, "size", "5x5"), gray=gray, bias=bias)
    text = kernel_toml(kernel_name, fit, description=describe(fit, before, after))
    err_console.print(fit_view(fit, before, after))
    if output is None:
        typer.echo(text, nl=False)
    else:
        appended = write_kernel_toml(output, kernel_name, text)
        err_console.print(Text(f"{'appended' if appended else 'wrote'} [kernels.{kernel_name}] "
                               f"to {output}"), soft_wrap=True)


@kernels_app.command("export")
def kernels_export(
    names: Annotated[list[str], typer.Argument(
        metavar="NAME...", show_default=False,
        help="Kernels: names, generator calls or inline matrices, all of one size.")],
    npy: Annotated[Path, typer.Option(
        "--npy", dir_okay=False, show_default=False,
        help="The .npy file to write, O x 1 x kh x kw float32 (PyTorch's Conv2d weight layout).")],
    kernels: KernelFiles = None,
) -> None:
    """Write kernels as one PyTorch weight array, O x I x kh x kw with I = 1: one output channel per kernel.

    Load it into torch.nn.Conv2d(1, O, (kh, kw)) with layer.weight.data = torch.from_numpy(np.load(FILE)).
    PyTorch correlates, as convcli does, so its maps match convcli apply --boundary zero with an integer
    --padding. A bank exports its kernels, a chain its folded kernel; a kernel marked flip = true is
    written mirrored; biases are left out (PyTorch keeps them in Conv2d.bias).
    """
    from convcli.depthwise import entry_kernels, write_pytorch_bank
    from convcli.library import load_library, resolve_kernels
    from convcli.report import export_line

    export = write_pytorch_bank(npy, entry_kernels(resolve_kernels(names, load_library(kernels or []))))
    out_console.print(export_line(export), soft_wrap=True)
    for note in export.notes:
        err_console.print(Text(f"note: {note}", style="cyan"), soft_wrap=True)


@app.command("bench")
def bench_command(
    repeat: Annotated[int, typer.Option("--repeat", "-r", min=1,
                                        help="Runs per engine and case; the median is reported.")] = 5,
    boundary: Boundary = "symmetric",
    peer: Annotated[list[str] | None, typer.Option(
        "--peer", show_default=False,
        help="Time only this peer (repeatable): ndimage, fftconvolve, oaconvolve, cv2, torch. "
             "Default: every one installed (OpenCV and PyTorch are optional).")] = None,
    case: Annotated[list[str] | None, typer.Option(
        "--case", show_default=False,
        help="Only the cases whose name contains this (repeatable): 3x3, 7x7, 15x15, 31x31, gaussian, bank.")] = None,
    size: Annotated[str, typer.Option("--size", help="H x W x C of the image for the single kernels.")]
    = "3000x4000x3",
    bank_size: Annotated[str, typer.Option("--bank-size", help="H x W of the image for the bank of 64.")]
    = "2048x2048",
    max_seconds: Annotated[float, typer.Option(
        "--max-seconds", min=0, help="A slow engine stops repeating after this long on a case.")] = 30.0,
    json_file: Annotated[str | None, typer.Option(
        "--json", metavar="FILE", show_default=False,
        help="Also write the results as JSON to FILE; '-' prints JSON instead of the table.")] = None,
    calibrate: Annotated[bool, typer.Option(
        "--calibrate", help="Instead: time each engine path on this machine and store the cost model's "
                            "correction factors, which --method auto then uses.")] = False,
) -> None:
    """Time the engine against scipy.ndimage, scipy.signal, OpenCV and PyTorch on the same arrays.

    Cases: 3x3, 7x7, 15x15 and 31x31 random kernels and a 31x31 Gaussian on a 12 MP RGB float32
    image, and a bank of 64 random 3x3 kernels on a 2048 x 2048 gray one. Each engine runs --repeat
    times; the table shows medians, convcli's speed-up over each peer, the largest difference from
    convcli's result and the performance targets. Shared machines are noisy: quote the ratios.
    """
    import json

    from convcli import bench
    from convcli.report import bench_view, calibration_view

    with err_console.status("benchmarking") as status:
        if calibrate:
            result = bench.calibrate(repeat=repeat, progress=status.update)
            out_console.print(calibration_view(result))
            return
        cases = bench.default_cases(bench.parse_shape(size, "--size"), bench.parse_shape(bank_size, "--bank-size"))
        result = bench.run_bench(bench.select_cases(cases, case or []), repeat=repeat, boundary=boundary,
                                 peers=peer, max_seconds=max_seconds, progress=status.update)
    text = json.dumps(result.to_dict(), indent=2) + "\n"
    if json_file == "-":
        typer.echo(text, nl=False)
        return
    out_console.print(bench_view(result))
    if json_file:
        Path(json_file).write_text(text)
