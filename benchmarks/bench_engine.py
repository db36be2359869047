"""Time convcli's engine side by side with its peers on the same arrays, in one run, and print ratios.

    python benchmarks/bench_engine.py [--size 3000x4000x3] [--repeat 5] [--case 3x3 --case bank] [--boundary zero]

The plain-text twin of ``convcli bench`` (same cases, peers and medians, from :mod:`convcli.bench`), for
logs without a terminal. Peers: scipy.ndimage.correlate, scipy.signal.fftconvolve / oaconvolve, and
OpenCV cv2.filter2D and PyTorch conv2d when installed. This is a script, never a unit test.
"""

from __future__ import annotations

import argparse

from convcli.tools import bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="3000x4000x3", help="H x W x C of the image for the single kernels")
    parser.add_argument("--bank-size", default="2048x2048", help="H x W of the image for the bank of 64")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--boundary", default="symmetric")
    parser.add_argument("--case", action="append", default=[], help="only cases whose name contains this")
    args = parser.parse_args()
    cases = bench.default_cases(bench.parse_shape(args.size, "--size"),
                                bench.parse_shape(args.bank_size, "--bank-size"))
    result = bench.run_bench(bench.select_cases(cases, args.case), repeat=args.repeat, boundary=args.boundary,
                             progress=lambda text: print(f"  ... {text}", flush=True))
    print(f"boundary {result.boundary}, median of up to {result.repeat} runs; speed-up = engine's time / convcli's")
    for case in result.cases:
        print(f"\n{case.name} on {'x'.join(map(str, case.shape))}: {case.reason}")
        for timing in case.timings:
            diff = "" if timing.max_diff is None else f"max |diff| {timing.max_diff:.1e}"
            print(f"  {timing.engine:<26} {timing.ms:10.1f} ms {case.speedup(timing):8.2f}x  {diff}")
    print()
    for target in result.targets():
        print(f"  {'met' if target.met else 'MISSED' if target.met is False else 'n/a':>6}  {target.text}: "
              f"{target.detail}")


if __name__ == "__main__":
    main()
