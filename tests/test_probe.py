"""``convcli probe``: an impulse through the engine, checked against responses worked out by hand.

The kernels have powers of two in every cell, so a response that is flipped, shifted or read from the
wrong anchor cannot match by accident. Expected tables are written out here from the contract's
formula: correlation puts tap ``(i, j)`` at output ``(c - (i - ai), c - (j - aj))`` for an impulse at
``c``; convolution at ``(c + (i - ai), c + (j - aj))``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from convcli.cli import app
from convcli.errors import ParameterError
from convcli.kernels.composite import Bank, Chain
from convcli.kernels.kernel import Kernel
from convcli.tools.probe import parse_point, probe, probe_entries

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Asymmetric in both directions: turning it by 180 degrees changes every cell.
K = np.array([[1, 2, 4], [8, 16, 32], [64, 128, 256]], dtype=float)
EVEN = np.array([[1, 2, 4], [8, 16, 32]], dtype=float)  # 2x3: anchor (0, 1), the cell before the middle row


pytestmark = pytest.mark.usefixtures("workdir")  # an empty folder of its own (conftest.py)


def run(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in ANSI.sub("", text).splitlines()]


def table(text: str) -> tuple[list[int], dict[int, list[float]]]:
    """The printed response: column labels and, per row label, the values (all input positions)."""
    out = lines(text)
    header = next(i for i, line in enumerate(out) if line.strip().startswith("y \\ x"))
    columns = [int(v) for v in out[header].split()[3:]]
    rows = {}
    for line in out[header + 2:]:
        cells = line.split()
        if not cells or not re.fullmatch(r"-?\d+", cells[0]):
            break
        rows[int(cells[0])] = [float(v) for v in cells[1:]]
    return columns, rows


def as_array(columns, rows) -> np.ndarray:
    return np.array([rows[r] for r in sorted(rows)])


# ------------------------------------------------------------------------------------------- library


def test_correlation_shows_the_kernel_turned_by_180_degrees():
    result = probe(Kernel("k", K))
    assert result.canvas == (7, 7) and result.impulse == (3, 3)  # reach 2, one black pixel of margin
    expected = np.zeros((7, 7))
    expected[2:5, 2:5] = [[256, 128, 64], [32, 16, 8], [4, 2, 1]]
    np.testing.assert_array_equal(result.response, expected)
    assert result.reads == "mirrored"
    assert result.convention == "correlation"
    assert result.impulse_cell == (3, 3) and result.anchor_value == 16
    assert result.rows == result.cols == tuple(range(7))


def test_flip_shows_the_kernel_as_written():
    result = probe(Kernel("k", K), flip=True)
    expected = np.zeros((7, 7))
    expected[2:5, 2:5] = K
    np.testing.assert_array_equal(result.response, expected)
    assert result.reads == "as written"
    assert result.convention == "convolution"


def test_a_kernel_marked_flip_is_probed_as_convolution_and_flip_undoes_it():
    marked = Kernel("k", K, flip=True)
    assert probe(marked).reads == "as written"
    assert probe(marked, flip=True).reads == "mirrored"


def test_even_kernel_anchors_on_the_cell_before_the_middle():
    # Correlation, anchor (0, 1): tap (i, j) reaches output (c - i, c + 1 - j); the impulse is at (2, 3).
    result = probe(Kernel("even", EVEN))
    assert result.canvas == (5, 7) and result.impulse == (2, 3)
    expected = np.zeros((5, 7))
    expected[1, 2:5] = [32, 16, 8]
    expected[2, 2:5] = [4, 2, 1]
    np.testing.assert_array_equal(result.response, expected)
    assert result.response[2, 3] == EVEN[0, 1] == result.anchor_value
    # Convolution mirrors the offsets: tap (i, j) reaches (c + i, c + j - 1), the kernel as written.
    flipped = probe(Kernel("even", EVEN), flip=True)
    expected = np.zeros((5, 7))
    expected[2:4, 2:5] = EVEN
    np.testing.assert_array_equal(flipped.response, expected)
    assert flipped.response[2, 3] == EVEN[0, 1]


def test_stride_keeps_every_other_output_and_skips_taps():
    kernel = np.arange(1.0, 26.0).reshape(5, 5)
    result = probe(Kernel("k5", kernel), stride=2)
    # reach 4: impulse at 6 (the first even position past 4), canvas 6 + 4 + 2 = 12, outputs at 0, 2, ..., 10
    assert result.canvas == (12, 12) and result.impulse == (6, 6)
    assert result.rows == result.cols == (0, 2, 4, 6, 8, 10)
    # tap t reaches the output on 6 - (t - 2) = 8 - t: the even taps 0, 2, 4 land on outputs 8, 6, 4
    expected = np.zeros((6, 6))
    expected[2:5, 2:5] = kernel[[4, 2, 0]][:, [4, 2, 0]]
    np.testing.assert_array_equal(result.response, expected)
    assert result.taps_seen == 9
    assert probe(Kernel("k", K), stride=2).taps_seen == 1  # only the anchor of a 3x3


def test_dilation_spreads_the_taps():
    result = probe(Kernel("k", K), dilation=2)
    assert result.canvas == (11, 11) and result.impulse == (5, 5) and result.footprint == (5, 5)
    expected = np.zeros((11, 11))
    expected[3:8:2, 3:8:2] = K[::-1, ::-1]
    np.testing.assert_array_equal(result.response, expected)


def test_valid_padding_output_holds_exactly_the_response():
    result = probe(Kernel("k", K), padding="valid")
    # canvas 7: valid outputs sit on inputs 1 .. 5, the response on 2 .. 4
    assert result.rows == (1, 2, 3, 4, 5)
    expected = np.zeros((5, 5))
    expected[1:4, 1:4] = K[::-1, ::-1]
    np.testing.assert_array_equal(result.response, expected)


def test_full_padding_adds_outputs_outside_the_canvas():
    result = probe(Kernel("k", K), padding="full")
    assert result.rows == tuple(range(-1, 8))
    assert result.response.shape == (9, 9)
    np.testing.assert_array_equal(result.response[3:6, 3:6], K[::-1, ::-1])


@pytest.mark.parametrize(("boundary", "expected"), [
    ("zero", [2, 1, 0, 0, 0]),
    ("wrap", [2, 1, 0, 0, 4]),  # the last output reads input 5, which wraps to the impulse at 0
    ("edge", [3, 1, 0, 0, 0]),  # the first output reads input -1, which repeats the impulse
])
def test_boundary_shows_with_the_impulse_on_an_edge(boundary, expected):
    # out[x] = 1 in[x - 1] + 2 in[x] + 4 in[x + 1], impulse at x = 0
    result = probe(Kernel("ramp", [[1, 2, 4]]), canvas=(1, 5), at=(0, 0), boundary=boundary)
    assert result.response.tolist() == [expected]


def test_symmetric_kernels_read_the_same_either_way():
    result = probe(Kernel("blur", np.outer([1, 2, 1], [1, 2, 1]) / 16))
    assert result.reads == "symmetric"


def test_chains_are_folded_at_stride_1_and_refused_at_a_stride():
    chain = Chain("pair", (Kernel("a", [[1, 2]]), Kernel("b", [[4, 8]])))
    [result] = probe_entries([chain])
    assert result.note == "chain a → b folded into one 1x4 kernel"  # [0, 4, 16, 16], anchored on 4
    # a then b: one correlation with the full convolution [4, 16, 16] anchored on its middle (mirrored)
    row = result.response[result.impulse_cell[0]]
    assert row[np.nonzero(row)].tolist() == [16, 16, 4]
    with pytest.raises(ParameterError, match=r"^stride 2: chain 'pair' is applied step by step"):
        probe_entries([chain], stride=2)


def test_banks_are_probed_kernel_by_kernel():
    bank = Bank("two", (Kernel("a", [[1, 2, 4]]), Kernel("b", [[8]])))
    assert [r.kernel.name for r in probe_entries([bank, Kernel("c", K)])] == ["a", "b", "c"]


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(canvas=(5, 5), at=(5, 0)), "at must lie inside the canvas (0 .. 4); got 5"),
    (dict(at=(1, 1)), "at needs a canvas size"),
    (dict(canvas=(0, 5)), "canvas sides must be integers from 1 to 512; got (0, 5)"),
    (dict(stride=0), "stride must be an integer >= 1; got 0"),
    (dict(padding="most"), "padding must be same, valid, full or an integer >= 0; got 'most'"),
    (dict(dilation=200), "the 3x3 kernel at dilation 200 needs a 803x803 canvas, more than 512 on a side: too large "
                         "to print as a table"),
])
def test_bad_settings(kwargs, message):
    with pytest.raises(ParameterError) as caught:
        probe(Kernel("k", K), **kwargs)
    assert str(caught.value) == message


def test_parse_point():
    assert parse_point("4,5") == (4, 5)
    with pytest.raises(ParameterError, match=r"^at must be ROW,COL, e.g. 4,4; got '4'$"):
        parse_point("4")


# ---------------------------------------------------------------------------------------------- CLI

INLINE = "1,2,4; 8,16,32; 64,128,256"


def test_probe_prints_the_mirrored_kernel_and_says_so():
    result = run("probe", "-k", INLINE)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    out = lines(result.stdout)
    assert out[0] == ("inline1 3x3 · correlation · anchor (1, 1) · stride 1 · dilation 1 · padding same · "
                      "boundary zero")
    assert out[1] == ("impulse: 1 at row 3, column 3 of a 7x7 black canvas; output 7x7; row and column labels "
                      "are input positions")
    columns, rows = table(result.stdout)
    assert columns == list(range(7)) and sorted(rows) == list(range(7))
    shown = as_array(columns, rows)
    np.testing.assert_array_equal(shown[2:5, 2:5], [[256, 128, 64], [32, 16, 8], [4, 2, 1]])
    assert shown.sum() == K.sum()  # nothing else
    assert out[-2:] == [
        "correlation: output (y, x) reads input (y + i - ai, x + j - aj), so the impulse shows the kernel turned "
        "180° about its anchor. --flip runs true convolution, which shows it as written.",
        "anchor (1, 1): the output on the impulse itself gets k[1, 1] = 16",
    ]


def test_probe_with_flip_prints_the_kernel_as_written():
    result = run("probe", "-k", INLINE, "--flip")
    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    assert out[0].startswith("inline1 3x3 · convolution · anchor (1, 1)")
    np.testing.assert_array_equal(as_array(*table(result.stdout))[2:5, 2:5], K)
    assert out[-2] == ("true convolution: the offsets are mirrored about the anchor, so the impulse shows the kernel "
                       "as written. Correlation (as PyTorch and OpenCV apply kernels) shows it turned 180°.")


def test_probe_stride_and_dilation_notes():
    result = run("probe", "-k", INLINE, "--stride", "2", "--dilation", "3")
    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    # reach 6: impulse at 8 (even, past 6), canvas 16, outputs on 0, 2, ..., 14; taps 3 apart reach 5, 8 and 11:
    # only the anchor's row and column fall on even positions
    assert out[1].startswith("impulse: 1 at row 8, column 8 of a 16x16 black canvas; output 8x8;")
    columns, rows = table(result.stdout)
    assert columns == [0, 2, 4, 6, 8, 10, 12, 14]
    assert rows[8] == [0, 0, 0, 0, 16, 0, 0, 0]
    assert as_array(columns, rows).sum() == 16
    assert out[-2:] == [
        "stride 2: one output every 2 input pixels; 1 of the 9 taps lands on an output, the other 8 fall between "
        "outputs",
        "dilation 3: taps 3 pixels apart, so the 3x3 kernel covers 7x7 input pixels, with gaps between its taps",
    ]


def test_probe_a_bank_with_bias_and_a_symmetric_kernel():
    result = run("probe", "-k", "sobel", "-k", "outline")
    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    assert [line.split(" ")[0] for line in out if " · correlation · " in line] == ["sobel_x", "sobel_y", "outline"]
    assert ("outline equals itself turned 180°, so correlation and convolution give the same response; an "
            "asymmetric kernel shows the difference.") in out
    assert "bias 1 is added to every output by apply; not shown here" in out


def test_probe_canvas_and_at():
    result = run("probe", "-k", "1,2,4", "--canvas", "1x5", "--at", "0,0", "--boundary", "wrap")
    assert result.exit_code == 0, result.output
    columns, rows = table(result.stdout)
    assert columns == [0, 1, 2, 3, 4]
    assert rows == {0: [2, 1, 0, 0, 4]}


@pytest.mark.parametrize(("args", "message"), [
    (("--canvas", "big"), "--canvas must be HxW, e.g. 9x9, or one number for a square; got 'big'"),
    (("--canvas", "5x5", "--at", "2;2"), "--at must be ROW,COL, e.g. 4,4; got '2;2'"),
    (("--at", "2,2"), "--at needs a --canvas size"),
    (("--boundary", "nope"), "--boundary must be one of zero, constant, edge, symmetric, mirror, wrap (or an alias "
                             "such as replicate, reflect, reflect101, circular); got 'nope'"),
    (("-k", "edgy"), "unknown kernel 'edgy' (did you mean 'edge'?)"),
])
def test_probe_errors(args, message):
    extra = () if "-k" in args else ("-k", INLINE)
    result = run("probe", *extra, *args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert lines(result.stderr) == [f"Error: {message}"]


def test_probe_help():
    result = run("probe", "--help")
    assert result.exit_code == 0
    text = " ".join(ANSI.sub("", result.stdout).split())
    assert "Run a single bright pixel (an impulse) through a kernel" in text
    assert "turned 180 degrees about its anchor" in text
    for flag in ("--flip", "--stride", "--dilation", "--padding", "--boundary", "--canvas", "--at", "--kernels"):
        assert flag in text
