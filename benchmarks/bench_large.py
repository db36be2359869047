"""Time large images: convcli beside libvips and ImageMagick, with each one's peak memory, in one run.

    python benchmarks/bench_large.py [--repeat 3] [--workdir DIR] [--skip-png] [--huge]

It makes a 10000 x 10000 gray 8-bit TIFF (uncompressed, as scanners and GIS tools write it) and a
6000 x 8000 RGB photo-like image as TIFF (deflate, strips) and PNG, then runs the same 3x3 sharpen over
each, writing the input's format, with:
- ``convcli apply IN -k sharpen -o OUT``;
- ``vips conv IN OUT sharpen.mat`` in integer and in float precision;
- ``convert IN -morphology Convolve 3x3:... OUT`` (ImageMagick), when installed.

Every command is a fresh process, alternating the tools at each repetition; its peak RSS comes from the
OS (GNU ``/usr/bin/time``); convcli runs from a bytecode cache, as installed. It prints the median wall
time, the peak RSS and the ratio to convcli's time. ``--huge`` also filters a 40000 x 40000 gray TIFF
(1.6 GB, built once in the work folder) with convcli and vips. This is a script, never a unit test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import photo, run_as_installed, warm_up
from bench_files import run_measured

SHARPEN = "0,-1,0,-1,5,-1,0,-1,0"  # convcli's built-in `sharpen`
Image.MAX_IMAGE_PIXELS = None  # the script's own inputs


def gray_tiff(path: Path, side: int) -> None:
    """A ``side`` x ``side`` uncompressed gray TIFF of shading, edges and noise, filled 1024 rows at a time."""
    rng = np.random.default_rng(3)
    pixels = tifffile.memmap(path, shape=(side, side), dtype=np.uint8, photometric="minisblack",
                             bigtiff=side * side > 2**32 - 2**25)
    for start in range(0, side, 1024):
        y, x = np.mgrid[start:min(side, start + 1024), 0:side].astype(np.float32)
        shade = 128 + 60 * np.sin(x / 700) * np.cos(y / 900) + 40 * ((x // 1500 + y // 1300) % 2)
        pixels[start:start + 1024] = np.clip(shade + rng.normal(0, 12, shade.shape), 0, 255)
    pixels.flush()
    del pixels


def make_inputs(root: Path, skip_png: bool) -> list[Path]:
    inputs = [root / "gray10k.tif", root / "rgb48mp.tif"] + ([] if skip_png else [root / "rgb48mp.png"])
    if not inputs[0].exists():
        gray_tiff(inputs[0], 10000)
    if not inputs[1].exists():
        rgb = photo(5, 48.0).resize((8000, 6000))
        tifffile.imwrite(inputs[1], np.asarray(rgb), photometric="rgb", compression="zlib", rowsperstrip=64)
        if not skip_png:
            rgb.save(inputs[2], compress_level=1)
    return inputs


def commands(source: Path, out: Path, matrix: Path) -> dict[str, list[str]]:
    suffix = source.suffix
    found = {"convcli apply": [sys.executable, "-m", "convcli", "apply", str(source), "-k", "sharpen", "-o",
                               str(out / f"convcli{suffix}")]}
    if shutil.which("vips"):
        found["vips conv (integer)"] = ["vips", "conv", str(source), str(out / f"vips_int{suffix}"), str(matrix),
                                        "--precision", "integer"]
        found["vips conv (float)"] = ["vips", "conv", str(source), str(out / f"vips_float{suffix}"), str(matrix),
                                      "--precision", "float"]
    if shutil.which("convert"):
        found["ImageMagick convert"] = ["convert", str(source), "-morphology", "Convolve", f"3x3:{SHARPEN}",
                                        str(out / f"magick{suffix}")]
    return found


def measure(named: dict[str, list[str]], repeat: int, out: Path) -> dict[str, tuple[float, float] | str]:
    """Per tool, the median wall time and the largest peak RSS, or why it failed."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in named}
    failed: dict[str, str] = {}
    for _ in range(repeat):
        for name, command in named.items():  # alternating: each tool sees the machine in the same state
            if name in failed:
                continue
            try:
                runs[name].append(run_measured(command))
            except SystemExit as error:  # ImageMagick's default policy refuses images this large
                said = [line for line in str(error).splitlines()[1:] if line.strip() and "exit" not in line
                        and not line.strip().isdigit()]
                failed[name] = said[-1] if said else "failed"
            for written in out.iterdir():
                written.unlink()
    return {name: failed.get(name) or (statistics.median(t for t, _ in runs[name]), max(m for _, m in runs[name]))
            for name in named}


def report(title: str, results: dict[str, tuple[float, float] | str]) -> None:
    print(f"\n{title}")
    mine = results["convcli apply"][0]
    for name, result in results.items():
        if isinstance(result, str):
            print(f"  {name:24s} failed: {result}")
            continue
        seconds, peak = result
        print(f"  {name:24s} {seconds:7.2f} s  {peak:7.0f} MB peak  {seconds / mine:5.2f}x convcli's time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the images here (default: a temp dir)")
    parser.add_argument("--skip-png", action="store_true", help="leave out the 48 MP PNG (slow to encode)")
    parser.add_argument("--huge", action="store_true", help="also a 40000 x 40000 gray TIFF (1.6 GB)")
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="convcli-large-"))
    root.mkdir(parents=True, exist_ok=True)
    matrix = root / "sharpen.mat"
    matrix.write_text("3 3\n" + "\n".join(" ".join(SHARPEN.split(",")[r * 3:r * 3 + 3]) for r in range(3)) + "\n")
    inputs = make_inputs(root, args.skip_png)
    run_as_installed(root)
    warm_up(root)
    out = root / "out"
    out.mkdir(exist_ok=True)
    print(f"3x3 sharpen, median of {args.repeat}, peak RSS from /usr/bin/time")
    for source in inputs:
        with Image.open(source) as image:
            size = f"{image.width} x {image.height} {image.mode}"
        report(f"{source.name} ({size}, {source.stat().st_size / 1e6:.0f} MB)",
               measure(commands(source, out, matrix), args.repeat, out))
    if args.huge:
        huge = root / "gray40k.tif"
        if not huge.exists():
            gray_tiff(huge, 40000)
        named = {k: v for k, v in commands(huge, out, matrix).items() if "Magick" not in k}
        report(f"{huge.name} (40000 x 40000 L, {huge.stat().st_size / 1e9:.1f} GB)", measure(named, 1, out))


if __name__ == "__main__":
    main()
