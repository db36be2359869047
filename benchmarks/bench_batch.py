"""Time a whole batch: convcli against ImageMagick and libvips on the same folder of photos, one run.

    python benchmarks/bench_batch.py [--images 24] [--megapixels 8] [--repeat 1] [--workdir DIR]

It makes a folder of photo-like JPEGs (smooth shading, edges, texture and sensor noise, seeded), then
runs the same 3x3 sharpen over it, writing JPEG at quality 90, with:
- ``convcli apply FOLDER -k sharpen -o OUT`` (one process per CPU);
- ``mogrify -morphology Convolve 3x3:...`` (ImageMagick), when ``mogrify`` is installed;
- ``vips conv`` per file, when ``vips`` is installed: a shell loop, and one file per CPU at a time
  (``xargs -P``, as libvips users batch it), in float and integer precision;
and prints each wall time and its ratio to convcli's. convcli runs from a bytecode cache, as installed
(see :func:`run_as_installed`). This is a script, never a unit test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SHARPEN = "0,-1,0,-1,5,-1,0,-1,0"  # convcli's built-in `sharpen`
QUALITY = 90  # every tool writes JPEG at the same quality (their defaults differ: 95, 92, 75)


def photo(seed: int, megapixels: float) -> Image.Image:
    """A photo-like RGB image: smooth lighting, a few hard-edged shapes, fine texture and noise."""
    rng = np.random.default_rng(seed)
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(0.2, 0.8, 3)[None, None, :] * (0.6 + 0.4 * np.sin(x / width * 3 + seed)[..., None])
    image = base + 0.15 * np.sin(y / height * 7)[..., None]
    for _ in range(12):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.03, 0.2) * height
        inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        image[inside] = rng.uniform(0, 1, 3)
    image += rng.normal(0, 0.02, image.shape).astype(np.float32)
    return Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))


def timed(command: list[str] | str, repeat: int, before=None) -> float:
    times = []
    for _ in range(repeat):
        if before:
            before()
        started = time.perf_counter()
        subprocess.run(command, check=True, shell=isinstance(command, str), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_as_installed(root: Path) -> None:
    """Make the convcli processes this script starts run from a bytecode cache, as an installed convcli
    does (pip compiles it at install time). A ``PYTHONDONTWRITEBYTECODE`` in this shell would time
    Python compiling every module of convcli in every run instead (0.1 to 0.2 s). The cache is private,
    in ``root``: no checkout is written into. The first convcli run fills it."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(root / "bytecode")


def warm_up(root: Path) -> None:
    """One small convcli run, to fill the bytecode cache before anything is timed."""
    sample = root / "warm-up.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(sample)
    subprocess.run([sys.executable, "-m", "convcli", "apply", str(sample), "-k", "sharpen", "-o", str(root / "warm-up"),
                    "--quiet"], check=True)
    shutil.rmtree(root / "warm-up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--megapixels", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the images here (default: a temp dir)")
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="convcli-batch-"))
    photos = root / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    run_as_installed(root)
    warm_up(root)
    for i in range(args.images):
        path = photos / f"photo{i:03d}.jpg"
        if not path.exists():
            photo(i, args.megapixels).save(path, quality=90)
    print(f"{args.images} JPEGs of {args.megapixels:g} MP in {photos}, 3x3 sharpen, JPEG out, "
          f"median of {args.repeat}")

    results: dict[str, float] = {}
    out = root / "convcli"
    results["convcli apply (1 process per CPU)"] = timed(
        [sys.executable, "-m", "convcli", "apply", str(photos), "-k", "sharpen", "-o", str(out), "--quiet",
         "--boundary", "edge", "--quality", str(QUALITY)],
        args.repeat, lambda: shutil.rmtree(out, ignore_errors=True))
    if shutil.which("mogrify"):
        magick = root / "magick"

        def copy() -> None:
            shutil.rmtree(magick, ignore_errors=True)
            shutil.copytree(photos, magick)

        results["ImageMagick mogrify -morphology Convolve"] = timed(
            f"mogrify -quality {QUALITY} -morphology Convolve '3x3:{SHARPEN}' {magick}/*.jpg", args.repeat, copy)
    if shutil.which("vips"):
        vips_out = root / "vips"
        vips_out.mkdir(exist_ok=True)
        matrix = root / "sharpen.mat"
        matrix.write_text("3 3\n0 -1 0\n-1 5 -1\n0 -1 0\n")
        loop = (f"for f in {photos}/*.jpg; do vips conv \"$f\" {vips_out}/$(basename \"$f\")[Q={QUALITY}] {matrix} "
                "--precision float; done")
        results["vips conv per file (float)"] = timed(loop, args.repeat)
        loop_int = loop.replace("--precision float", "--precision integer")
        results["vips conv per file (integer)"] = timed(loop_int, args.repeat)
        for precision in ("float", "integer"):  # as its users batch it: one file per core at a time
            parallel = (f"ls {photos}/*.jpg | xargs -P {os.cpu_count() or 1} -I{{}} sh -c 'vips conv \"$1\" "
                        f"{vips_out}/$(basename \"$1\")[Q={QUALITY}] {matrix} --precision {precision}' _ {{}}")
            results[f"vips conv, xargs -P {os.cpu_count() or 1} ({precision})"] = timed(parallel, args.repeat)
    ours = next(iter(results.values()))
    print(f"{'tool':<44} {'seconds':>9} {'convcli speed-up':>17}")
    for name, seconds in results.items():
        print(f"{name:<44} {seconds:9.2f} {seconds / ours:16.2f}x")


if __name__ == "__main__":
    main()
