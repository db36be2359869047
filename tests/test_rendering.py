"""The Rich views rendered into a fixed-width console and compared with the whole expected text
(as Rich's own tests do): the run report, the kernel table, an entry's matrices, the progress bar."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from convcli.cli.kernel_view import entry_view, kernel_table
from convcli.cli.run_view import progress_bar, render_run
from convcli.kernels.composite import Bank, Chain
from convcli.kernels.kernel import Kernel
from convcli.kernels.library import Library
from convcli.pipeline.batch import BatchProgress
from convcli.pipeline.results import Failure, MapResult, RunResult


def console(width: int = 80, terminal: bool = False) -> Console:
    return Console(width=width, file=io.StringIO(), color_system=None, force_terminal=terminal)


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
        clip_warning="beach_sharpen.jpg: 4.0% of the values were clipped; `map` minmax or offset keeps them")
    failure = Failure(Path("photos/bad.png"), "photos/bad.png: corrupt or truncated image (broken data stream)")
    return RunResult([output], [failure], 500.0)


def test_run_report():
    out = console(100)
    render_run(run_result(), out)
    assert out.file.getvalue() == (
        "                                                                                     \n"
        " input        kernel    size           load   conv    map    save    MP/s    clipped \n"
        " ─────────────────────────────────────────────────────────────────────────────────── \n"
        " beach.jpg    sharpen   4000x3000x3   120.0   60.0   20.0   150.0   200.0   1.0/3.0% \n"
        "                                                                                     \n"
        "times in ms; clipped: % of values below 0 / above 1 before clipping                  \n"
        "correlation · boundary symmetric · padding same · stride 1 · dilation 1 · method direct · map clip\n"
        "sharpen: direct: 3x3 kernel\n"
        "warning: beach_sharpen.jpg: 4.0% of the values were clipped; --map minmax or offset keeps them\n"
        "failed: photos/bad.png: corrupt or truncated image (broken data stream)\n"
        "1 written to out, 1 failed, in 500 ms\n"
    )


def test_clipping_is_one_warning_per_kernel_however_many_outputs_clip():
    from dataclasses import replace

    first = run_result().maps[0]
    maps = [replace(first, source=Path(f"photos/{n}.jpg"), output=Path(f"out/{n}_sharpen.jpg"), clipped_low=n,
                    clipped_high=n, clip_warning=f"{n}_sharpen.jpg: clipped") for n in (1, 2, 3)]
    maps.append(replace(first, source=Path("photos/4.jpg"), clipped_low=0, clipped_high=0, clip_warning=None))
    maps.append(replace(first, kernel="edge", clipped_low=0, clipped_high=7,
                        clip_warning="beach_edge.jpg: 7.0% of the values were clipped"))
    out = console(200)
    render_run(RunResult(maps, [], 500.0), out)
    warnings = [line for line in out.file.getvalue().splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: sharpen: values were clipped in 3 of its 4 outputs (2.0% to 6.0% of their values); --map minmax or "
        "offset keeps them",
        "warning: beach_edge.jpg: 7.0% of the values were clipped",
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


def test_progress_bar_counts_done_and_failed_at_80_columns():
    out = console(80, terminal=True)
    with progress_bar(out, 4) as advance:
        advance(BatchProgress(done=2, failed=1, total=4, source=Path("a.png")))
    shown = out.file.getvalue()
    assert "2/4" in shown and "1 failed" in shown and "a.png" in shown
