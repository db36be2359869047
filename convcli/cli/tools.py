"""``convcli probe``, ``explain``, ``fit`` and ``bench``: seeing what a kernel does, and timing the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from convcli.choices import DEFAULT_BOUNDARY
from convcli.cli.app import app, err_console, out_console
from convcli.cli.options import (
    At,
    Boundary,
    Canvas,
    Channels,
    Cval,
    Dilation,
    FitBias,
    FitSize,
    Flip,
    Gray,
    InputSize,
    KernelFiles,
    KernelName,
    KernelSpecs,
    OutChannels,
    Padding,
    Stride,
)


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
    from convcli.cli.tool_view import probe_view
    from convcli.kernels.library import load_library
    from convcli.kernels.specs import resolve_kernels
    from convcli.tools.explain import parse_size
    from convcli.tools.probe import parse_point, probe_entries

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

    **Examples**

    ```
    convcli explain -k 3x3
    convcli explain -k 3x3 -k 3x3 -k 3x3 --input-size 32x32 --out-channels 16
    convcli explain -k 7x7 --stride 2 --padding 3 --channels 1
    convcli explain -k sobel_x --dilation 2
    ```
    """
    from convcli.cli.tool_view import explain_view
    from convcli.kernels.library import load_library
    from convcli.tools.explain import explain, layer_kernels, parse_size

    layers = layer_kernels(kernel, load_library(kernels or []))
    explanation = explain(parse_size(size, "input_size"), layers, channels=channels, out_channels=out_channels,
                          stride=stride, padding=padding, dilation=dilation)
    out_console.print(explain_view(explanation))


@app.command("fit")
def fit_command(
    before: Annotated[Path, typer.Argument(exists=True, dir_okay=False, metavar="BEFORE", show_default=False,
                                           help="The image before filtering.")],
    after: Annotated[Path, typer.Argument(exists=True, dir_okay=False, metavar="AFTER", show_default=False,
                                          help="The same image after filtering.")],
    size: FitSize,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", dir_okay=False, metavar="FILE", show_default=False,
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
    from convcli.cli.tool_view import fit_view
    from convcli.tools.explain import parse_size
    from convcli.tools.fit import check_target, describe, fit_images, kernel_toml, write_kernel_toml

    check_target(output, kernel_name)
    fit = fit_images(before, after, parse_size(size, "kernel_size", "5x5"), gray=gray, bias=bias)
    text = kernel_toml(kernel_name, fit, description=describe(fit, before, after))
    err_console.print(fit_view(fit, before, after))
    if output is None:
        typer.echo(text, nl=False)
    else:
        appended = write_kernel_toml(output, kernel_name, text)
        err_console.print(Text(f"{'appended' if appended else 'wrote'} [kernels.{kernel_name}] "
                               f"to {output}"), soft_wrap=True)


@app.command("bench")
def bench_command(
    repeat: Annotated[int, typer.Option("--repeat", min=1, metavar="N",
                                        help="Runs per engine and case; the median is reported.")] = 5,
    boundary: Boundary = DEFAULT_BOUNDARY,
    peer: Annotated[list[str] | None, typer.Option(
        "--peer", metavar="PEER", show_default=False,
        help="Time only this peer (repeatable): ndimage, fftconvolve, oaconvolve, cv2, torch. "
             "Default: every one installed (OpenCV and PyTorch are optional).")] = None,
    case: Annotated[list[str] | None, typer.Option(
        "--case", metavar="NAME", show_default=False,
        help="Only the cases whose name contains this (repeatable): 3x3, 5x5, 7x7, 9x9, 15x15, 31x31, "
             "gaussian, bank.")] = None,
    size: Annotated[str, typer.Option("--image-size", metavar="HxWxC",
                                      help="H x W x C of the image for the single kernels.")]
    = "3000x4000x3",
    bank_size: Annotated[str, typer.Option("--bank-size", metavar="HxW", help="H x W of the image for the bank of 64.")]
    = "2048x2048",
    max_seconds: Annotated[float, typer.Option(
        "--max-seconds", min=0, metavar="SECONDS",
        help="A slow engine stops repeating after this long on a case.")] = 30.0,
    json_file: Annotated[str | None, typer.Option(
        "--json", metavar="FILE", show_default=False,
        help="Also write the results as JSON to FILE; '-' prints JSON instead of the table.")] = None,
    calibrate: Annotated[bool, typer.Option(
        "--calibrate", help="Instead: time each engine path on this machine and store the cost model's "
                            "correction factors, which --method auto then uses.")] = False,
) -> None:
    """Time the engine against scipy.ndimage, scipy.signal, OpenCV and PyTorch on the same arrays.

    Cases: 3x3, 5x5, 7x7, 9x9, 15x15 and 31x31 random kernels and 7x7 and 31x31 Gaussians on a
    12 MP RGB float32 image, and a bank of 64 random 3x3 kernels on a 2048 x 2048 gray one. Each
    engine runs --repeat times; the table shows medians, convcli's speed-up over each peer, the
    largest difference from convcli's result and the performance targets. convcli also runs with
    each other path forced (but those the cost model prices at over 4x its choice), to show whether
    it chose the fastest. Shared machines are noisy: quote the ratios.
    """
    import json

    from convcli.cli.tool_view import bench_view, calibration_view
    from convcli.tools import bench

    with err_console.status("benchmarking") as status:
        if calibrate:
            from convcli.tools.calibration import calibrate

            result = calibrate(repeat=repeat, progress=status.update)
            out_console.print(calibration_view(result))
            return
        cases = bench.default_cases(bench.parse_shape(size, "image_size"), bench.parse_shape(bank_size, "bank_size"))
        result = bench.run_bench(bench.select_cases(cases, case or []), repeat=repeat, boundary=boundary,
                                 peers=peer, max_seconds=max_seconds, progress=status.update)
    text = json.dumps(result.to_dict(), indent=2) + "\n"
    if json_file == "-":
        typer.echo(text, nl=False)
        return
    out_console.print(bench_view(result))
    if json_file:
        Path(json_file).write_text(text)
