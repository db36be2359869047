"""Every option shared by commands, declared once as an ``Annotated`` alias; choices as ``str`` Enums.

Defaults live in :mod:`convcli.choices` and are used, not repeated, in the commands' signatures.
Short flags mean one thing everywhere: ``-k`` kernel, ``-o`` output, ``-b`` boundary, ``-p`` padding,
``-s`` stride, ``-d`` dilation, ``-m`` map, ``-r`` recursive, ``-j`` workers, ``-n`` dry run,
``-q`` quiet, ``-c`` channels, ``-f`` format.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from convcli.choices import COLORMAPS, COMBINES, EXECUTORS, MAPS, METHODS, NAN_MODES

MapPolicy = Enum("MapPolicy", {name: name for name in MAPS}, type=str)
Method = Enum("Method", {name: name for name in METHODS}, type=str)
Colormap = Enum("Colormap", {name: name for name in COLORMAPS}, type=str)
Combine = Enum("Combine", {name: name for name in COMBINES}, type=str)
Executor = Enum("Executor", {name: name for name in EXECUTORS}, type=str)
NanMode = Enum("NanMode", {name: name for name in NAN_MODES}, type=str)


# Every option is declared once, here, and reused by the commands that take it.
ENGINE = "Engine"
OUTPUT = "Output"
def complete_kernel(incomplete: str) -> list[str]:
    """Shell completion of ``-k``: the library's names (built-ins, config folder, $CONVCLI_KERNELS) and the
    generators, as ``gaussian:``; only the built-ins' names when a user file is malformed."""
    from convcli.errors import KernelError
    from convcli.kernels.generators import GENERATORS
    from convcli.kernels.library import builtin_library, load_library

    try:
        library = load_library([])
    except KernelError:  # a malformed user file is reported when a command runs, not in the middle of a Tab
        library = builtin_library()
    names = [*library.names(), *(f"{generator}:" for generator in GENERATORS)]
    return [name for name in names if name.startswith(incomplete)]


def complete_boundary(incomplete: str) -> list[str]:
    """Shell completion of ``--boundary``: the modes and their aliases."""
    from convcli.engine.boundary import BOUNDARY_ALIASES

    return [name for name in BOUNDARY_ALIASES if name.startswith(incomplete)]


KernelSpecs = Annotated[list[str], typer.Option(
    "-k", "--kernel", metavar="KERNEL", show_default=False, autocompletion=complete_kernel,
    help="A kernel: a name (convcli kernels list), a generator call such as gaussian:size=9,sigma=2, "
         "an inline matrix \"0,-1,0; -1,5,-1; 0,-1,0\" (a trailing / 16 or / sum divides it), an ImageMagick "
         "string \"3x3: -1,-1,-1,-1,8,-1,-1,-1,-1\" (\"3x3+X+Y: ...\" anchors it at column X, row Y), a "
         "chain \"blur | edge\" (applied in turn, named blur+edge), a .npy file (kh x kw, or a bank N x kh x kw) "
         "or a libvips .mat file. Repeat for several feature maps. Every form: docs/kernel-syntax.md.")]
KernelFiles = Annotated[list[Path] | None, typer.Option(
    "--kernels", exists=True, dir_okay=False, metavar="FILE", show_default=False,
    help="Extra TOML kernel file; its names override the built-ins, your config folder's kernels.toml and "
         "$CONVCLI_KERNELS. Repeatable.")]
Flip = Annotated[bool, typer.Option(
    "--flip", rich_help_panel=ENGINE,
    help="Mirror the kernel about its anchor: true convolution (scipy.signal.convolve2d) instead of "
         "correlation (PyTorch conv2d, OpenCV filter2D).")]
Anchor = Annotated[str | None, typer.Option(
    "--anchor", metavar="ROW,COL", rich_help_panel=ENGINE, show_default=False,
    help="The kernel cell that lands on each output pixel, from 0,0 at the top left (default: each kernel's "
         "own, else its centre ((kh - 1) // 2, (kw - 1) // 2)); OpenCV's anchor=(COL, ROW). Applies to every "
         "-k kernel and each kernel of a bank, not to chains; --flip mirrors it with the kernel, to "
         "(kh - 1 - ROW, kw - 1 - COL). Only with --padding same.")]
Boundary = Annotated[str, typer.Option(
    "--boundary", "-b", metavar="MODE", rich_help_panel=ENGINE, autocompletion=complete_boundary,
    help="Values outside the image: zero, constant (--cval), edge (aaa|abc), symmetric (cba|abc), "
         "mirror (cb|abc), wrap (abc|abc); aliases such as replicate, reflect, reflect101, circular.")]
Cval = Annotated[float, typer.Option(
    "--cval", metavar="VALUE", rich_help_panel=ENGINE,
    help="The value outside the image for --boundary constant, in [0, 1] units.")]
Nan = Annotated[NanMode, typer.Option(
    "--nan", rich_help_panel=ENGINE,
    help="Missing inputs (NaN, infinity, --nodata): propagate makes missing only the outputs that read one; "
         "ignore leaves them out and rescales the other taps (normalised convolution, as for alpha); fill "
         "reads them as --cval.")]
Nodata = Annotated[float | None, typer.Option(
    "--nodata", metavar="VALUE", rich_help_panel=ENGINE, show_default=False,
    help="A sample value that marks missing inputs, in the file's own units (-9999 in a float TIFF, 0 or "
         "65535 in a 16-bit one).")]
Padding = Annotated[str, typer.Option(
    "--padding", "-p", metavar="same|valid|full|P", rich_help_panel=ENGINE,
    autocompletion=lambda incomplete: [name for name in ("same", "valid", "full") if name.startswith(incomplete)],
    help="same (one output per input pixel / stride), valid (kernel inside the image), full (kernel "
         "overlapping it), or an integer P (pad P on every side, then valid, as PyTorch).")]
Stride = Annotated[int, typer.Option("--stride", "-s", min=1, metavar="S", rich_help_panel=ENGINE,
                                     help="Step between output positions, >= 1.")]
Dilation = Annotated[int, typer.Option("--dilation", "-d", min=1, metavar="D", rich_help_panel=ENGINE,
                                       help="Spacing between kernel taps, >= 1.")]
MethodOption = Annotated[Method, typer.Option("--method", rich_help_panel=ENGINE, help="Engine path.")]
Gray = Annotated[bool, typer.Option("--gray", help="Convert to luminance first (one channel).")]
ChannelOption = Annotated[str | None, typer.Option(
    "--channel", metavar="CHANNELS", show_default=False,
    help="Filter only these channels and write the others as they were read (ImageMagick's -channel): R, G, B, "
         "A (RGB and RGBA images), L (gray), indices from 0 (colour, then alpha), or letters as in RG. A selected "
         "A is filtered as a plain channel; otherwise the alpha is kept. Needs --stride 1 and --padding same; "
         "not with --gray, --colormap, --overlay, --nodata, --depthwise or a layer's weights (they mix or redraw "
         "the channels).")]
Map = Annotated[MapPolicy, typer.Option(
    "--map", "-m", rich_help_panel=OUTPUT,
    help="Float results to pixels: clip to [0, 1]; abs |v|; offset v + 0.5 (0 is mid-grey); minmax "
         "stretches each map; global stretches one range shared by the run (both filter each image twice: "
         "a first pass finds the range); raw keeps floats (.npy, .npz, .tif). auto: the kernel's "
         "preference, else abs for zero-sum kernels, else clip.")]
Name = Annotated[str, typer.Option(
    "--name", metavar="TEMPLATE", rich_help_panel=OUTPUT,
    help="Output file names inside the -o folder, from {stem} (input name), {kernel}, {ext} (the "
         "output's: --format, else the input's extension, or npy for --map raw), {suffix} (the input's "
         "extension) and {parent} (its folder's name).")]
FormatOption = Annotated[str | None, typer.Option(
    "--format", "-f", metavar="EXT", rich_help_panel=OUTPUT, show_default=False,
    help="The output format by extension (png, tif, gif, ...): for -o - (standard output; default: the "
         "input's format) and for the names made in an -o folder.")]
FrameOption = Annotated[str | None, typer.Option(
    "--frame", metavar="FRAMES", show_default=False,
    help="Frames or pages to filter, in this order, from 0 (-1 the last): 2, 1-3, 0,4,8-, -1, all "
         "(default: every frame).")]
Verify = Annotated[bool, typer.Option(
    "--verify", help="Recompute every result independently with SciPy (np.pad, then scipy.ndimage, or "
                     "scipy.signal's FFT for large work) and report the largest difference; an error above "
                     "tolerance.")]
ReportJson = Annotated[Path | None, typer.Option(
    "--report-json", dir_okay=False, metavar="FILE", show_default=False, rich_help_panel=OUTPUT,
    help="Also write the report as JSON to this file (layout: convcli/pipeline/report_schema.json).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
ColormapOption = Annotated[Colormap | None, typer.Option(
    "--colormap", rich_help_panel=OUTPUT, show_default=False,
    help="Colour one-channel maps (colour maps by their luminance): sequential viridis, inferno, gray; "
         "diverging coolwarm (use it with --map offset, so that 0 is white).")]
Overlay = Annotated[bool, typer.Option(
    "--overlay", rich_help_panel=OUTPUT,
    help="Blend each map over its input, coloured by --colormap (default inferno), strongest where the map is.")]
Quality = Annotated[int, typer.Option("--quality", min=1, max=100, metavar="Q", rich_help_panel=OUTPUT,
                                      help="JPEG and WebP quality, 1-100.")]
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
    "--workers", "-j", min=1, metavar="N", rich_help_panel=BATCH, show_default=False,
    help="Processes working in parallel (default: one per CPU; at most four per CPU, and one per input).")]
ExecutorOption = Annotated[Executor, typer.Option(
    "--executor", rich_help_panel=BATCH,
    help="local (this machine) or dask (a Dask cluster: pip install 'convcli[dask]'; inputs and outputs "
         "must be on a path every worker sees). A large TIFF is split into bands of rows across the "
         "cluster's workers.")]
Scheduler = Annotated[str | None, typer.Option(
    "--scheduler", metavar="ADDRESS", rich_help_panel=BATCH, show_default=False,
    help="The Dask scheduler's address, e.g. tcp://10.0.0.5:8786 (default with --executor dask: a "
         "cluster of -j worker processes on this machine).")]
SkipExisting = Annotated[bool, typer.Option(
    "--skip-existing", rich_help_panel=BATCH, help="Leave outputs that exist alone: resumes a stopped run.")]
DryRun = Annotated[bool, typer.Option("--dry-run", "-n", rich_help_panel=BATCH,
                                      help="List what would be written, and write nothing.")]
ManifestOption = Annotated[Path | None, typer.Option(
    "--manifest", dir_okay=False, metavar="FILE", rich_help_panel=BATCH, show_default=False,
    help="Write a JSON manifest: per input its outputs, status, error, timings, and the fingerprint of the "
         "kernels and options.")]
MaxPixels = Annotated[int, typer.Option(
    "--max-pixels", min=1, metavar="PIXELS", rich_help_panel=BATCH,
    help="Refuse images with more pixels than this, from their header, before decoding (decompression bombs).")]
DepthwiseOption = Annotated[bool, typer.Option(
    "--depthwise", rich_help_panel=ENGINE,
    help="Depthwise convolution: the -k kernels apply one per channel (as many kernels as channels).")]
PointwiseOption = Annotated[str | None, typer.Option(
    "--pointwise", metavar="MATRIX", rich_help_panel=ENGINE, show_default=False,
    help="After --depthwise, mix the channels with a 1x1 matrix O x C: inline \"0.299,0.587,0.114\" (rows split "
         "by ;), a .toml file with matrix = [[...]], or a .npy file. The report compares the time and parameters "
         "with the full convolution it factorises.")]
Montage = Annotated[Path | None, typer.Option(
    "--montage", dir_okay=False, metavar="FILE", rich_help_panel=OUTPUT, show_default=False,
    help="Also write one picture with each input beside its maps, labelled with the kernel names.")]
Canvas = Annotated[str | None, typer.Option(
    "--canvas", metavar="HxW", show_default=False,
    help="Canvas size HxW (default: the smallest showing the whole response, the impulse on an output).")]
At = Annotated[str | None, typer.Option("--at", metavar="ROW,COL", show_default=False,
                                        help="Where the impulse sits on --canvas: ROW,COL (default: the centre).")]
InputSize = Annotated[str, typer.Option("--input-size", metavar="HxW",
                                        help="Input height x width, e.g. 224x224 (one number: a square).")]
Channels = Annotated[int, typer.Option("--channels", "-c", min=1, metavar="C", help="Input channels C (3 for RGB).")]
OutChannels = Annotated[int, typer.Option(
    "--out-channels", min=1, metavar="N", help="Kernels per layer: the output channels N (PyTorch's out_channels).")]
FitSize = Annotated[str, typer.Option("--kernel-size", metavar="K|KHxKW", show_default=False,
                                      help="Kernel size: K for K x K, or KHxKW such as 5x3.")]
KernelName = Annotated[str, typer.Option("--kernel-name", metavar="NAME",
                                         help="The name of the [kernels.NAME] table written.")]
FitBias = Annotated[bool, typer.Option("--bias", help="Also fit a constant added after the sum.")]
