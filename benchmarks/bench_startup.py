"""Time start-up: what one small job costs a shell loop, convcli beside ImageMagick and libvips, one run.

    python benchmarks/bench_startup.py [--repeat 15] [--baseline GIT-REF]

A 70 x 46 RGB PNG is filtered with a 3x3 sharpen by ``convcli apply`` (also with ``--verify``), by
``convert -morphology Convolve`` (ImageMagick) and ``vips conv`` when they are installed; ``convcli --help``
and ``convcli kernels show edge`` are timed too. Each command runs ``--repeat`` times and the median wall
time and the largest peak RSS (from the OS, by GNU ``/usr/bin/time``) are printed. Python runs from its
bytecode cache, as an installed convcli does (a private cache: ``PYTHONDONTWRITEBYTECODE`` is dropped).
With ``--baseline REF`` the same convcli commands also run from a checkout of that commit (a temporary
``git worktree``), so a change's before and after come from one run on one machine. This is a script, never a unit test.
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

ROOT = Path(__file__).resolve().parents[1]
TIME = "/usr/bin/time"  # GNU time, for the peak RSS
SHARPEN = "0,-1,0,-1,5,-1,0,-1,0"  # convcli's built-in `sharpen`, as ImageMagick and libvips take it


def run_once(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB of one run of ``command`` (RSS from ``/usr/bin/time``, which starts it
    from a small process: a child forked from this Python would count this Python's memory as its own)."""
    started = time.perf_counter()
    done = subprocess.run([TIME, "-f", "%M", *command], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {done.returncode}: {done.stderr}")
    return wall, int(done.stderr.split()[-1]) / 1024


def measure(command: list[str], cwd: Path, env: dict[str, str], repeat: int) -> tuple[float, float]:
    run_once(command, cwd, env)  # warm the file cache
    runs = [run_once(command, cwd, env) for _ in range(repeat)]
    return statistics.median(wall for wall, _ in runs), max(rss for _, rss in runs)


def convcli_commands(python: str) -> dict[str, list[str]]:
    convcli = [python, "-c", "from convcli.cli import app; app()"]
    return {
        "convcli --help": [*convcli, "--help"],
        "convcli apply (sharpen)": [*convcli, "apply", "small.png", "-k", "sharpen", "-o", "out.png", "-q"],
        "convcli apply --verify": [*convcli, "apply", "small.png", "-k", "sharpen", "-o", "out.png", "-q",
                                   "--verify"],
        "convcli kernels show edge": [*convcli, "kernels", "show", "edge"],
    }


def peers() -> dict[str, list[str]]:
    found = {}
    if shutil.which("convert"):
        found["ImageMagick convert -morphology"] = ["convert", "small.png", "-morphology", "Convolve",
                                                    f"3x3:{SHARPEN}", "im.png"]
    if shutil.which("vips"):
        (Path.cwd() / "sharpen.mat").write_text("3 3\n0 -1 0\n-1 5 -1\n0 -1 0\n")
        found["vips conv"] = ["vips", "conv", "small.png", "vips.png", "sharpen.mat"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--baseline", metavar="GIT-REF", help="also time convcli as of this commit")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (46, 70, 3), dtype=np.uint8)).save(work / "small.png")
        # As installed (pip compiles bytecode at install time), Python starts from its bytecode cache; a
        # PYTHONDONTWRITEBYTECODE in this shell would time compiling every module of convcli instead. The
        # cache goes to a private folder, so that no checkout is written into; the warm-up run fills it.
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPATH=str(ROOT), COLUMNS="80", PYTHONPYCACHEPREFIX=str(work / "bytecode"))
        os.chdir(work)
        rows: list[tuple[str, str, float, float]] = []
        trees = [("now", ROOT)]
        if args.baseline:
            before = work / "baseline"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(before), args.baseline],
                           check=True)
            trees.insert(0, (args.baseline[:10], before))
        try:
            for label, tree in trees:
                tree_env = {**env, "PYTHONPATH": str(tree)}
                for name, command in convcli_commands(sys.executable).items():
                    rows.append((name, label, *measure(command, work, tree_env, args.repeat)))
            for name, command in peers().items():
                rows.append((name, "", *measure(command, work, env, args.repeat)))
            python = measure([sys.executable, "-c", "pass"], work, env, args.repeat)
        finally:
            if args.baseline:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)
    print(f"median of {args.repeat} runs, 70x46 RGB PNG, 3x3 sharpen; `python -c pass` takes "
          f"{python[0]:.3f} s\n")
    apply = next(wall for name, label, wall, _ in rows if name == "convcli apply (sharpen)" and label == "now")
    print(f"{'command':34} {'tree':>10} {'wall s':>8} {'peak MB':>8} {'/ apply now':>12}")
    for name, label, wall, rss in rows:
        print(f"{name:34} {label:>10} {wall:8.3f} {rss:8.0f} {wall / apply:11.2f}x")


if __name__ == "__main__":
    main()
