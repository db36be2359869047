"""Time the 16-bit codecs and whole 16-bit runs: convcli beside Pillow, ImageMagick and libvips, one run.

    python benchmarks/bench_files.py [--megapixels 12] [--repeat 3] [--workdir DIR]

It makes one photo-like 16-bit RGB image (smooth shading, edges, texture and sensor noise, seeded) and

1. reads and writes it as 16-bit PNG (imagecodecs' libpng) and 16-bit TIFF (tifffile, deflate)
   through convcli's own readers and writers, beside Pillow reading and writing the same picture as
   8-bit PNG and TIFF, the best Pillow can do with colour;
2. runs a 3x3 sharpen over the 16-bit PNG and TIFF, writing the same format, with ``convcli apply``,
   ImageMagick ``convert -morphology Convolve`` and ``vips conv`` (float precision), each a fresh
   process whose peak RSS is read from the OS (GNU ``/usr/bin/time``).

It prints seconds (median of ``--repeat``), file sizes, peak memory and the ratio to convcli's time.
This is a script, never a unit test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import photo

SHARPEN = "0,-1,0,-1,5,-1,0,-1,0"  # convcli's built-in `sharpen`


def deep_photo(megapixels: float) -> np.ndarray:
    """A 16-bit version of the batch benchmark's photo, with low bits that are not all zero."""
    eight = np.asarray(photo(7, megapixels), dtype=np.float32)
    fine = np.random.default_rng(7).normal(0, 40, eight.shape).astype(np.float32)
    return np.clip(eight * 257 + fine, 0, 65535).astype(np.uint16)


def median_time(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_measured(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB of one process, from GNU time (a child forked from this big
    Python process would count its pages)."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *command], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr}")
    return seconds, int(done.stderr.split()[-1]) / 1024


def codecs(root: Path, pixels: np.ndarray, repeat: int) -> None:
    from convcli.imageio.reading import load_frames
    from convcli.imageio.writing import save_image

    values = pixels.astype(np.float32) / 65535
    eight = Image.fromarray((pixels >> 8).astype(np.uint8))
    rows = []
    for ext in ("png", "tif"):
        path = root / f"codec16.{ext}"
        write = median_time(lambda path=path: save_image(path, values, bit_depth=16), repeat)
        read = median_time(lambda path=path: load_frames(path), repeat)
        rows.append((f"convcli 16-bit {ext.upper()}", read, write, path.stat().st_size))
        path8 = root / f"pillow8.{ext}"
        params = {"compression": "tiff_deflate"} if ext == "tif" else {}
        write8 = median_time(lambda path8=path8, params=params: eight.save(path8, **params), repeat)

        def read8(path8=path8):
            with Image.open(path8) as image:
                image.load()

        rows.append((f"Pillow 8-bit {ext.upper()}", median_time(read8, repeat), write8, path8.stat().st_size))
    print(f"\n{'codec':<24} {'read s':>8} {'write s':>8} {'MB':>7}")
    for name, read, write, size in rows:
        print(f"{name:<24} {read:8.2f} {write:8.2f} {size / 1e6:7.1f}")


def commands(root: Path, repeat: int) -> None:
    matrix = root / "sharpen.mat"
    matrix.write_text("3 3\n0 -1 0\n-1 5 -1\n0 -1 0\n")
    convert = "/usr/bin/convert" if Path("/usr/bin/convert").exists() else shutil.which("convert")
    for ext in ("png", "tif"):
        source = root / f"codec16.{ext}"
        tools = {"convcli apply": [sys.executable, "-m", "convcli", "apply", str(source), "-k", "sharpen",
                                   "--boundary", "edge", "-o", str(root / f"convcli.{ext}"), "--quiet"]}
        if convert:
            tools["ImageMagick -morphology Convolve"] = [convert, str(source), "-morphology", "Convolve",
                                                         f"3x3:{SHARPEN}", str(root / f"magick.{ext}")]
        if shutil.which("vips"):
            tools["vips conv (float)"] = ["vips", "conv", str(source), str(root / f"vips.{ext}"), str(matrix),
                                          "--precision", "float"]
        measured = {}
        for name, command in tools.items():
            runs = [run_measured(command) for _ in range(repeat)]
            measured[name] = (statistics.median(s for s, _ in runs), max(m for _, m in runs))
        ours = measured["convcli apply"][0]
        print(f"\n16-bit RGB {ext.upper()} in and out, 3x3 sharpen  {'seconds':>8} {'peak MB':>8} {'vs convcli':>11}")
        for name, (seconds, memory) in measured.items():
            print(f"{name:<44} {seconds:8.2f} {memory:8.0f} {seconds / ours:10.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the files here (default: a temp dir)")
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="convcli-files-"))
    root.mkdir(parents=True, exist_ok=True)
    pixels = deep_photo(args.megapixels)
    print(f"a {pixels.shape[1]}x{pixels.shape[0]} 16-bit RGB photo ({pixels.shape[0] * pixels.shape[1] / 1e6:.1f} "
          f"MP) in {root}; median of {args.repeat}")
    codecs(root, pixels, args.repeat)
    commands(root, args.repeat)


if __name__ == "__main__":
    main()
