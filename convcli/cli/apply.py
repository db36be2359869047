"""``convcli apply``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from convcli.choices import DEFAULT_BOUNDARY, DEFAULT_MAX_PIXELS, DEFAULT_NAME, DEFAULT_QUALITY
from convcli.cli.app import app, err_console, out_console
from convcli.cli.options import (
    OUTPUT,
    Anchor,
    Boundary,
    ChannelOption,
    ColormapOption,
    CombineOption,
    Cval,
    DepthwiseOption,
    Dilation,
    DryRun,
    Executor,
    ExecutorOption,
    Flip,
    FormatOption,
    FrameOption,
    Gray,
    KernelFiles,
    KernelSpecs,
    ManifestOption,
    Map,
    MapPolicy,
    MaxPixels,
    Method,
    MethodOption,
    Montage,
    Name,
    Nan,
    NanMode,
    Nodata,
    Overlay,
    Padding,
    PointwiseOption,
    Quality,
    Quiet,
    Recursive,
    ReportJson,
    Scheduler,
    SkipExisting,
    Stack,
    Stride,
    Verify,
    Workers,
)
from convcli.errors import ParameterError


# Long for its signature (every option of the contract, one per line) and its docstring, which is
# --help; the body is a dozen calls.
@app.command()
def apply(
    inputs: Annotated[list[str], typer.Argument(
        metavar="INPUT", help="Image files, folders or quoted globs.", show_default=False)],
    kernel: KernelSpecs,
    output: Annotated[Path, typer.Option(
        "-o", "--output", metavar="PATH", show_default=False, rich_help_panel=OUTPUT,
        help="The output file (one input, one kernel), - for standard output, or a folder; the format "
             "follows the extension: .png .jpg .jpeg .webp .bmp .gif .tif .tiff .npy .npz.")],
    kernels: KernelFiles = None,
    flip: Flip = False,
    anchor: Anchor = None,
    boundary: Boundary = DEFAULT_BOUNDARY,
    cval: Cval = 0.0,
    nan: Nan = NanMode.propagate,
    nodata: Nodata = None,
    padding: Padding = "same",
    stride: Stride = 1,
    dilation: Dilation = 1,
    method: MethodOption = Method.auto,
    gray: Gray = False,
    channel: ChannelOption = None,
    frame: FrameOption = None,
    mapping: Map = MapPolicy.auto,
    name: Name = DEFAULT_NAME,
    output_format: FormatOption = None,
    colormap: ColormapOption = None,
    overlay: Overlay = False,
    stack: Stack = False,
    combine: CombineOption = None,
    quality: Quality = DEFAULT_QUALITY,
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
    anchored at `(ai, aj) = ((kh - 1) // 2, (kw - 1) // 2)` (or `--anchor`), so padding "same"
    matches scipy.signal.correlate2d (and, with --flip, convolve2d) for every kernel size. For even
    kernels OpenCV and scipy.ndimage anchor one cell further, and PyTorch centres an even dilated
    kernel between taps.

    Folders are read for image files (`--recursive`: with their sub-folders) and the output folder
    mirrors the input tree; other files are passed over and counted. Outputs are written to a
    temporary name and renamed, so an interrupted run leaves no partial file.

    Every frame of an animated GIF, APNG or WebP and every page of a TIFF is filtered and written back
    with its durations (--frame picks some). 16-bit inputs, gray or colour, give 16-bit PNG and TIFF.
    `-` as INPUT reads standard input, `-o -` writes standard output:
    `cat a.png | convcli apply - -k edge -o - --format png > b.png`.

    Exit codes: 0 everything written, 1 some inputs failed (the rest are written), 2 bad usage,
    130 interrupted (Ctrl-C), 70 a bug in convcli (printed with its traceback).

    **Examples**

    ```
    convcli apply samples/shapes.png -k sharpen -o sharp.png
    convcli apply samples -k edge -k blur -o out
    convcli apply "samples/*.png" -k emboss -o out --dry-run
    convcli apply samples/sunset16.png -k gaussian:size=9,sigma=2 -o soft.png
    convcli apply samples/shapes.png -k "1,2,1; 2,4,2; 1,2,1 / 16" -o soft.png
    convcli apply samples/shapes.png -k "3x3: 0,-1,0,-1,5,-1,0,-1,0" -o im.png
    convcli apply samples/shapes.png -k "blur | edge" -o outline.png
    convcli apply samples/zoneplate.png -k sobel_x --flip --map offset -o gx.png
    convcli apply samples/shapes.png -k edge -s 2 -b zero -o half.png
    cat samples/shapes.png | convcli apply - -k emboss -o - -f png > emboss.png
    ```
    """
    from convcli.cli.run_view import progress_bar, render_plan, render_run
    from convcli.engine.settings import Settings
    from convcli.engine.threads import default_workers
    from convcli.imageio.inputs import expand_inputs
    from convcli.kernels.library import load_library
    from convcli.kernels.specs import parse_anchor, resolve_given, with_anchor
    from convcli.pipeline.batch import BatchOptions, run
    from convcli.pipeline.manifest import write_manifest
    from convcli.pipeline.options import ApplyOptions
    from convcli.pipeline.planning import check_side_files, plan

    settings = Settings(stride=stride, padding=padding, boundary=boundary, cval=cval, dilation=dilation, flip=flip,
                        method=method.value, nan=nan.value, nodata=nodata)
    options = ApplyOptions(settings, gray=gray, map=mapping.value, verify=verify, name=name,
                           colormap=colormap and colormap.value, overlay=overlay, quality=quality, stack=stack,
                           combine=combine and combine.value, max_pixels=max_pixels, format=output_format,
                           frame=frame, channel=channel)
    if str(output) == "-" and "-" in (str(report_json), str(manifest), str(montage)):
        raise ParameterError("`output` - writes the image to standard output; give `report_json`, `manifest` "
                             "and `montage` files of their own")
    if str(output) == "-" and sys.stdout.isatty() and not dry_run:
        raise ParameterError("`output` - writes the image to standard output, which is a terminal; redirect it "
                             "(> out.png) or pipe it")
    batch = BatchOptions(workers=default_workers() if workers is None else workers, executor=executor.value,
                         scheduler=scheduler, skip_existing=skip_existing, montage=montage)
    given = resolve_given(kernel, load_library(kernels or []), unique=not depthwise)
    chosen = [entry for _, entries in given for entry in entries]
    if anchor is not None:
        chosen = with_anchor(chosen, parse_anchor(anchor))
    if pointwise and not depthwise:
        raise ParameterError("`pointwise` mixes the channels of a `depthwise` convolution; add `depthwise`")
    if depthwise:
        from convcli.kernels.pointwise import depthwise_entry

        chosen = [depthwise_entry(chosen, pointwise)]
    found = expand_inputs(inputs, recursive=recursive)
    targets = plan(found.images, chosen, output, options)
    check_side_files(targets, {"report_json": report_json, "manifest": manifest, "montage": montage})
    if dry_run:
        render_plan(targets, out_console)
        out_console.print(f"{len(targets)} outputs from {len(found.images)} inputs; {len(found.skipped)} "
                          f"non-image file{'s' * (len(found.skipped) != 1)} passed over; nothing written",
                          soft_wrap=True)
        return
    with progress_bar(err_console, len(found.images), enabled=not quiet) as advance:
        result = run(targets, options, batch, progress=advance, not_images=found.skipped)
    render_run(result, err_console, quiet=quiet, given={entry.name: name for name, entries in given
                                                         for entry in entries})
    if report_json is not None:
        result.write_json(report_json)
    if manifest is not None:
        write_manifest(manifest, result, targets, options)
    raise typer.Exit(result.exit_code)
