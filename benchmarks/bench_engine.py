"""Time convcli's engine side by side with its peers on the same array, in one run, and print ratios.

    python benchmarks/bench_engine.py [--size 3000x4000x3] [--repeat 3] [--kernels 3,15]

Peers: scipy.ndimage.correlate (always), OpenCV cv2.filter2D (when installed). Every engine runs on
the same float32 array with a symmetric boundary (ndimage "reflect", OpenCV BORDER_REFLECT), and the
results are compared, so a fast wrong answer cannot hide. This is a script, never a unit test.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import ndimage

from convcli import conv2d


def median_ms(run, repeat: int) -> tuple[float, np.ndarray]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times), result


def peers(kernel: np.ndarray):
    yield "scipy.ndimage.correlate", lambda x: ndimage.correlate(x, kernel[..., None] if x.ndim == 3 else kernel,
                                                                 mode="reflect")
    try:
        import cv2
    except ImportError:
        return
    # OpenCV anchors odd kernels at the centre like convcli; BORDER_REFLECT is cba|abc.
    yield "cv2.filter2D", lambda x: cv2.filter2D(x, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="3000x4000x3", help="H x W x C of the float32 test image")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kernels", default="3,15", help="comma-separated odd kernel sizes")
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(0)
    image = rng.random(shape, dtype=np.float32)
    print(f"image {args.size} float32, median of {args.repeat}, boundary symmetric")
    print(f"{'kernel':>8}  {'engine':<26} {'ms':>10} {'convcli speed-up':>17}  max |diff|")
    for size in (int(v) for v in args.kernels.split(",")):
        kernel = rng.standard_normal((size, size)).astype(np.float32)
        ours_ms, ours = median_ms(lambda kernel=kernel: conv2d(image, kernel, boundary="symmetric"), args.repeat)
        print(f"{size}x{size:<6}  {'convcli conv2d':<26} {ours_ms:10.1f} {'1.00x':>17}")
        for name, run in peers(kernel):
            ms, theirs = median_ms(lambda run=run: run(image), args.repeat)
            diff = float(np.max(np.abs(theirs - ours)))
            print(f"{'':8}  {name:<26} {ms:10.1f} {ms / ours_ms:16.2f}x  {diff:.1e}")


if __name__ == "__main__":
    main()
