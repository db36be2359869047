"""The Rich views rendered into a fixed-width console and compared with the whole expected text
(as Rich's own tests do): the run report, the kernel table, an entry's matrices, the progress bar."""

from __future__ import annotations

import io
import os
from pathlib import Path

from rich.console import Console
from rich.text import Text

from convcli.cli.kernel_view import entry_view, kernel_table
from convcli.cli.run_view import BatchBar, progress_bar, render_plan, render_run
from convcli.kernels.composite import Bank, Chain
from convcli.kernels.kernel import Kernel
from convcli.kernels.library import Library
from convcli.pipeline.batch import BatchProgress
from convcli.pipeline.notices import Notice
from convcli.pipeline.results import Failure, MapResult, RunResult


def console(width: int = 80, terminal: bool = False, color_system: str | None = None) -> Console:
    return Console(width=width, file=io.StringIO(), color_system=color_system, force_terminal=terminal)


def text(view, width: int = 80) -> str:
    out = console(width)
    out.print(view)
    return out.file.getvalue()


def run_result() -> RunResult:
    output = MapResult(
        source=Path("photos/beach.jpg"), kernel="sharpen", output=Path("out/beach_sharpen.jpg"),
        input_size=(3000, 4000, 3),
        output_size=(3000, 4000), map="clip", method="direct", convention="correlation", boundary="symmetric",
        padding="same", stride=1, dilation=1, load_ms=120.0, convolve_ms=60.0, map_ms=20.0, save_ms=150.0, values=100,
        clipped_low=1, clipped_high=3, method_reason="direct: 3x3 kernel",
        notices=[Notice("clipped", "beach_sharpen.jpg: 4.0% of the values were clipped (1.0% low, 3.0% high)", 4.0)])
    failure = Failure(Path("photos/bad.png"), "photos/bad.png: corrupt or truncated image (broken data stream)")
    return RunResult([output], [failure], 500.0)


def test_run_report_on_a_terminal_is_a_table_of_every_figure():
    out = console(160, terminal=True)
    render_run(run_result(), out)
    assert out.file.getvalue() == (
        " " * 120 + "\n"
        " input              kernel    output              size          load ms   conv ms   map ms   save ms    MP/s "
        "   clipped \n"
        " " + "─" * 118 + " \n"
        " photos/beach.jpg   sharpen   beach_sharpen.jpg   4000x3000x3     120.0      60.0     20.0     150.0   200.0 "
        "  1.0/3.0% \n"
        + " " * 120 + "\n"
        "clipped: % of values below 0 / above 1 before clipping" + " " * 66 + "\n"
        "correlation · boundary symmetric · padding same · stride 1 · dilation 1 · method direct · map clip\n"
        "sharpen: direct: 3x3 kernel\n"
        "warning: beach_sharpen.jpg: 4.0% of the values were clipped (1.0% low, 3.0% high)\n"
        "failed: photos/bad.png: corrupt or truncated image (broken data stream)\n"
        "1 written to out, 1 failed, in 500 ms\n"
    )


def test_run_report_on_a_terminal_too_narrow_for_every_figure_is_one_line_per_output():
    out = console(80, terminal=True)  # the table above is 120 columns wide: no figure is dropped to fit
    render_run(run_result(), out)
    assert out.file.getvalue() == (
        "photos/beach.jpg [sharpen] -> out/beach_sharpen.jpg: 4000x3000x3, load 120.0 ms, conv 60.0 ms, map 20.0 ms, "
        "save 150.0 ms, 200.0 MP/s, clipped 1.0% low 3.0% high\n"
        "correlation · boundary symmetric · padding same · stride 1 · dilation 1 · method direct · map clip\n"
        "sharpen: direct: 3x3 kernel\n"
        "warning: beach_sharpen.jpg: 4.0% of the values were clipped (1.0% low, 3.0% high)\n"
        "failed: photos/bad.png: corrupt or truncated image (broken data stream)\n"
        "1 written to out, 1 failed, in 500 ms\n"
    )


def test_run_table_tells_outputs_of_inputs_of_one_name_apart_and_names_the_mapping():
    """``convcli apply "dir A" b -k edge --name "{parent}_{stem}_{kernel}.{ext}" -o out``, one map abs, one clip."""
    from dataclasses import replace

    first = run_result().maps[0]
    maps = [replace(first, source=Path(f"{folder}/x.png"), kernel="edge", output=Path(f"out/{folder}_x_edge.png"),
                    map=policy, notices=[]) for folder, policy in (("dir A", "abs"), ("b", "clip"))]
    out = console(160, terminal=True)
    render_run(RunResult(maps, [], 500.0), out)
    assert out.file.getvalue().splitlines()[1:5] == [
        " input         kernel   output             size          load ms   conv ms   map ms   save ms    MP/s    "
        "clipped   mapping ",
        " " + "─" * 121 + " ",
        " dir A/x.png   edge     dir A_x_edge.png   4000x3000x3     120.0      60.0     20.0     150.0   200.0   "
        "1.0/3.0%   abs     ",
        " b/x.png       edge     b_x_edge.png       4000x3000x3     120.0      60.0     20.0     150.0   200.0   "
        "1.0/3.0%   clip    ",
    ]
    mirrored = [replace(m, output=Path("out") / m.source.parent / "x_edge.png") for m in maps]  # as with -r
    out = console(160, terminal=True)
    render_run(RunResult(mirrored, [], 500.0), out)
    assert [line.split()[:4] for line in out.file.getvalue().splitlines()[3:5]] == [
        ["dir", "A/x.png", "edge", "out/dir"], ["b/x.png", "edge", "out/b/x_edge.png", "4000x3000x3"]]


def test_run_report_in_a_log_is_one_line_per_output_with_whole_names():
    out = console(80, terminal=False)  # a log or a pipe: no table, and nothing is cut at 80 columns
    result = long_named(2)
    render_run(result, out)
    assert out.file.getvalue() == (
        f"photos/{LONG}0.jpg [sharpen] -> out/{LONG}0_sharpen.jpg: 4000x3000x3, load 120.0 ms, conv 60.0 ms, "
        "map 20.0 ms, save 150.0 ms, 200.0 MP/s, clipped 1.0% low 3.0% high, method direct\n"
        f"photos/{LONG}1.jpg [sharpen] -> out/{LONG}1_sharpen.jpg: 4000x3000x3, load 120.0 ms, conv 60.0 ms, "
        "map 20.0 ms, save 150.0 ms, 200.0 MP/s, method fft\n"
        "correlation · boundary symmetric · padding same · stride 1 · dilation 1 · map clip\n"
        "sharpen: direct: 3x3 kernel\n"
        "2 written to out, 0 failed, in 500 ms\n"
    )


#: A file name as long as a phone camera's with a caption (54 characters with its index and extension).
LONG = "IMG_20240033_family_holiday_beach_sunset_grandpa_"


def long_named(count: int) -> RunResult:
    from dataclasses import replace

    first = run_result().maps[0]
    maps = [replace(first, source=Path(f"photos/{LONG}{n}.jpg"), output=Path(f"out/{LONG}{n}_sharpen.jpg"),
                    method="direct" if n % 2 == 0 else "fft", clipped_low=0 if n else 1, clipped_high=0 if n else 3,
                    notices=[]) for n in range(count)]
    return RunResult(maps, [], 500.0)


def test_run_report_at_80_columns_gives_every_figure_and_whole_names():
    out = console(80, terminal=True)
    render_run(long_named(2), out)
    assert out.file.getvalue() == (
        f"photos/{LONG}0.jpg [sharpen] -> out/{LONG}0_sharpen.jpg: 4000x3000x3, load 120.0 ms, conv 60.0 ms, "
        "map 20.0 ms, save 150.0 ms, 200.0 MP/s, clipped 1.0% low 3.0% high, method direct\n"
        f"photos/{LONG}1.jpg [sharpen] -> out/{LONG}1_sharpen.jpg: 4000x3000x3, load 120.0 ms, conv 60.0 ms, "
        "map 20.0 ms, save 150.0 ms, 200.0 MP/s, method fft\n"
        "correlation · boundary symmetric · padding same · stride 1 · dilation 1 · map clip\n"
        "sharpen: direct: 3x3 kernel\n"
        "2 written to out, 0 failed, in 500 ms\n"
    )


def test_run_table_wide_enough_shows_every_figure_and_the_method_that_varies():
    out = console(220, terminal=True)
    render_run(long_named(2), out)
    assert out.file.getvalue().splitlines()[:7] == [
        " " * 219,
        f" {'input':61}   kernel    {'output':62}   size          load ms   conv ms   map ms   save ms    MP/s    "
        "clipped   method ",
        " " + "─" * 217 + " ",
        f" photos/{LONG}0.jpg   sharpen   {LONG}0_sharpen.jpg   4000x3000x3     120.0      60.0     20.0     150.0   "
        "200.0   1.0/3.0%   direct ",
        f" photos/{LONG}1.jpg   sharpen   {LONG}1_sharpen.jpg   4000x3000x3     120.0      60.0     20.0     150.0   "
        "200.0          -   fft    ",
        " " * 219,
        "clipped: % of values below 0 / above 1 before clipping" + " " * 165,
    ]
    narrower = console(218, terminal=True)  # one column short of the table: every output on a line of its own
    render_run(long_named(2), narrower)
    assert narrower.file.getvalue().startswith(f"photos/{LONG}0.jpg [sharpen] -> out/{LONG}0_sharpen.jpg: ")


def test_run_report_on_a_terminal_too_narrow_for_the_names_is_one_line_per_output():
    out = console(50, terminal=True)
    render_run(long_named(1), out)
    assert out.file.getvalue().splitlines()[0] == (
        f"photos/{LONG}0.jpg [sharpen] -> out/{LONG}0_sharpen.jpg: 4000x3000x3, load 120.0 ms, conv 60.0 ms, "
        "map 20.0 ms, save 150.0 ms, 200.0 MP/s, clipped 1.0% low 3.0% high")


def test_dry_run_plan_fits_the_terminal_or_is_one_line_per_output():
    from convcli.pipeline.planning import Target

    targets = [Target(Path(f"photos/{LONG}{n}.jpg"), (Kernel("sharpen", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),),
                      Path(f"out/{LONG}{n}_sharpen.jpg"), ("clip",)) for n in range(2)]
    wide = console(160, terminal=True)
    render_plan(targets, wide)
    rule = "─" * 150
    assert wide.file.getvalue() == (
        "would write" + " " * 141 + "\n"
        + " " * 152 + "\n"
        f" {'input':61}   {'kernel':7}   {'output':66}   mapping \n"
        f" {rule} \n"
        f" photos/{LONG}0.jpg   sharpen   out/{LONG}0_sharpen.jpg   clip    \n"
        f" photos/{LONG}1.jpg   sharpen   out/{LONG}1_sharpen.jpg   clip    \n"
        + " " * 152 + "\n"
    )
    for out in (console(80, terminal=True), console(200, terminal=False)):  # too narrow for the names; a pipe
        render_plan(targets, out)
        assert out.file.getvalue() == (
            f"photos/{LONG}0.jpg [sharpen] -> out/{LONG}0_sharpen.jpg (map clip)\n"
            f"photos/{LONG}1.jpg [sharpen] -> out/{LONG}1_sharpen.jpg (map clip)\n"
        )


def test_a_log_of_a_folder_greps_every_long_file_name(tmp_path):
    """The issue's own command, through the real console script and a shell pipe: stderr is not a terminal."""
    import shutil
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    script = shutil.which("convcli", path=str(Path(sys.executable).parent))
    assert script, "the convcli console script is installed beside this Python"
    name = "IMG_20240033_family_holiday_beach_sunset_with_grandparents_and_the_dog"
    (tmp_path / "photos").mkdir()
    for stem in (name, "short", "IMG_2"):
        pixels = np.random.default_rng(len(stem)).integers(0, 256, (12, 16, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "photos" / f"{stem}.jpg")
    done = subprocess.run(f"'{script}' apply photos -k sharpen -o out 2>&1 | grep -c {name}.jpg", shell=True,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "80"})
    assert done.stdout == "1\n", done.stderr
    assert (tmp_path / "out" / f"{name}_sharpen.jpg").exists()


def test_clipping_is_one_warning_per_kernel_however_many_outputs_clip():
    from dataclasses import replace

    first = run_result().maps[0]
    maps = [replace(first, source=Path(f"photos/{n}.jpg"), output=Path(f"out/{n}_sharpen.jpg"), clipped_low=n,
                    clipped_high=n, notices=[Notice("clipped", f"{n}_sharpen.jpg: clipped", 2.0 * n)])
            for n in (1, 2, 3)]
    maps.append(replace(first, source=Path("photos/4.jpg"), clipped_low=0, clipped_high=0, notices=[]))
    maps.append(replace(first, kernel="edge", clipped_low=0, clipped_high=7,
                        notices=[Notice("clipped", "beach_edge.jpg: 7.0% of the values were clipped; `map` minmax "
                                        "stretches each map's own range to 0..1", 7.0, "`map` minmax stretches")]))
    out = console(200)
    render_run(RunResult(maps, [], 500.0), out)
    warnings = [line for line in out.file.getvalue().splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: sharpen: values were clipped in 3 of 4 outputs (2.0% to 6.0% of their values)",
        "warning: beach_edge.jpg: 7.0% of the values were clipped; --map minmax stretches each map's own range to 0..1",
    ]
    assert RunResult(maps, [], 500.0).maps[0].to_dict()["warnings"] == ["1_sharpen.jpg: clipped"]


def test_float_rounding_is_not_counted_as_clipping():
    import numpy as np

    from convcli.pixels.mapping import apply_map

    mapped = apply_map(np.array([1.0000001, -1e-8, 0.5, 1.01, -0.02], dtype=np.float32), "clip")
    assert (mapped.clipped_low, mapped.clipped_high) == (1, 1)
    assert mapped.values.max() == 1.0 and mapped.values.min() == 0.0


def test_quiet_run_report_holds_only_the_failures():
    out = console()
    render_run(run_result(), out, quiet=True)
    assert out.file.getvalue() == "failed: photos/bad.png: corrupt or truncated image (broken data stream)\n"


def test_kernel_table():
    library = Library({
        "k": Kernel("k", [[1, 2], [3, 4]]),
        "b": Bank("b", (Kernel("x", [[1, 0, -1]]), Kernel("y", [[-1, 0, 1]])), combine="max"),
        "c": Chain("c", (Kernel("p", [[1, 1]]), Kernel("q", [[1, -1]]))),
    })
    assert text(kernel_table(library)) == (
        "                                                          \n"
        " name   size      sum   verdict           rank   source   \n"
        " ──────────────────────────────────────────────────────── \n"
        " k      2x2        10   sum 10               2   built-in \n"
        " b      2 x 1x3         bank: max                built-in \n"
        " c      1x4         0   chain: zero-sum      1   built-in \n"
        "                                                          \n"
    )


def test_entry_view_of_a_chain_shows_its_steps_and_folded_kernel():
    chain = Chain("c", (Kernel("p", [[1, 2]]), Kernel("q", [[1, -1]])), description="p then q")
    assert text(entry_view(chain)) == (
        "c  p then q  (built-in)\n"
        "chain of 2, applied in this order\n"
        "p: 1x2, sum 3, separable; anchor underlined\n"
        "┌───┬───┐\n"
        "│ 1 │ 2 │\n"
        "└───┴───┘\n"
        "q: 1x2, zero-sum, separable; anchor underlined\n"
        "┌───┬────┐\n"
        "│ 1 │ -1 │\n"
        "└───┴────┘\n"
        "folded at stride 1: 1x4, zero-sum, separable; anchor underlined\n"
        "┌───┬───┬───┬────┐\n"
        "│ 0 │ 1 │ 1 │ -2 │\n"
        "└───┴───┴───┴────┘\n"
    )


def test_no_progress_bar_in_a_log_or_for_one_input():
    with progress_bar(console(), 10) as advance:
        assert advance is None
    with progress_bar(console(terminal=True), 1) as advance:
        assert advance is None


class Clock:
    """The seconds a bar measures by, set by the test."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


PHOTO = Path("photos/IMG_20240033_family_holiday_beach_sunset_with_grandparents.jpg")


def bar_text(done: int, failed: int, total: int = 150, seconds: float = 30.0, source: Path | None = PHOTO,
             width: int = 80) -> str:
    out = console(width, terminal=True, color_system="standard")
    clock = Clock()
    bar = BatchBar(out, total, clock=clock)
    clock.now += seconds
    bar.advance(BatchProgress(done=done, failed=failed, total=total, source=source))
    out.print(bar)
    return out.file.getvalue()


def test_progress_bar_at_80_columns_shows_every_figure_and_cuts_only_the_name():
    shown = bar_text(45, 3)
    assert shown == ("IMG_20240033_fa… \x1b[91m━━━━━━\x1b[0m\x1b[90m╺\x1b[0m\x1b[90m━━━━━━━━━━━━━\x1b[0m "
                     "\x1b[32m 45/150\x1b[0m \x1b[31m3 failed\x1b[0m 1.5 images/s 0:01:10 left\n")
    plain = Text.from_ansi(shown).plain
    assert len(plain) == 81  # 80 columns and the newline


def test_progress_bar_failed_count_is_red_only_when_not_zero():
    shown = bar_text(45, 0)
    assert shown == ("IMG_20240033_fa… \x1b[91m━━━━━━\x1b[0m\x1b[90m╺\x1b[0m\x1b[90m━━━━━━━━━━━━━\x1b[0m "
                     "\x1b[32m 45/150\x1b[0m 0 failed 1.5 images/s 0:01:10 left\n")


def test_progress_bar_at_80_columns_keeps_the_figures_at_their_widest():
    shown = Text.from_ansi(bar_text(149, 120, seconds=0.1)).plain
    assert shown == "IMG_202400… ━━━━━━━━━━━━━━━━━━━╸ 149/150 120 failed 1490.0 images/s 0:00:00 left\n"
    assert Text.from_ansi(bar_text(0, 0, seconds=0.0, source=None)).plain == (
        "filtering        ━━━━━━━━━━━━━━━━━━━━   0/150 0 failed 0.0 images/s -:--:-- left\n")


def test_progress_bar_draws_through_the_batch_callback():
    out = console(80, terminal=True)
    with progress_bar(out, 4) as advance:
        advance(BatchProgress(done=2, failed=1, total=4, source=Path("a.png")))
    shown = out.file.getvalue()
    assert "2/4" in shown and "1 failed" in shown and "a.png" in shown and " left" in shown
