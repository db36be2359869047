"""The ``-k`` forms other tools' users type: inline normalisation (``/ 16``, ``/ sum``), ImageMagick kernel
strings (``3x3+X+Y: ...``), anchors (TOML ``anchor``, ``--anchor``) and chains (``"blur | edge"``).

References are independent of the engine: OpenCV's ``filter2D`` with its ``anchor``, the contract's formula
computed tap by tap on an ``np.pad``-ed image, ``scipy.signal``, and figures ImageMagick printed.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import load_kernel_file, powers_of_two
from PIL import Image
from scipy.signal import convolve2d, correlate2d
from typer.testing import CliRunner

from convcli.cli import app
from convcli.engine.settings import Settings
from convcli.errors import KernelError, ParameterError
from convcli.kernels.composite import Chain
from convcli.kernels.kernel import Kernel
from convcli.kernels.library import load_library
from convcli.kernels.specs import parse_anchor, parse_magick, resolve_kernels, with_anchor
from convcli.pipeline.convolver import Convolver

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: convcli's boundary modes and OpenCV's border types that mean the same.
CV_BORDERS = {"symmetric": cv2.BORDER_REFLECT, "mirror": cv2.BORDER_REFLECT_101, "edge": cv2.BORDER_REPLICATE,
              "zero": cv2.BORDER_CONSTANT}
#: ... and np.pad's.
NP_PAD = {"symmetric": "symmetric", "mirror": "reflect", "edge": "edge", "zero": "constant", "wrap": "wrap"}


@pytest.fixture(scope="module")
def library():
    return load_library()


def one(spec: str, library) -> Kernel:
    (entry,) = resolve_kernels([spec], library)
    return entry


def applied(kernel, image, **settings) -> np.ndarray:
    return kernel.apply(image, None, Convolver(Settings(**settings))).color


def run(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def assert_error(result, message: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert ANSI.sub("", result.stderr) == f"Error: {message}\n"


def gray_png(path, shape=(12, 13), seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels.astype(np.float64) / 255.0


# --- inline normalisation ----------------------------------------------------------------------------

BINOMIAL = np.outer([1, 2, 1], [1, 2, 1])


@pytest.mark.parametrize("spec, expected", [
    ("1,2,1; 2,4,2; 1,2,1 / 16", BINOMIAL / 16),
    ("1,2,1; 2,4,2; 1,2,1 / sum", BINOMIAL / 16),
    ("1 2 1;2 4 2;1 2 1/16", BINOMIAL / 16),
    ("0.5,1,0.5; 1,2,1; 0.5,1,0.5 / 0.5e1", BINOMIAL / 10),
    ("1,2,1; 2,4,2; 1,2,1 / -2", BINOMIAL / -2),
    ("3x3: 1,2,1,2,4,2,1,2,1 / 16", BINOMIAL / 16),
    ("3x3: 1,2,1,2,4,2,1,2,1 / SUM", BINOMIAL / 16),
])
def test_inline_matrix_divided(library, spec, expected):
    kernel = one(spec, library)
    np.testing.assert_allclose(kernel.weights, expected, rtol=1e-15)
    assert kernel.name == "inline1"


@pytest.mark.parametrize("spec, message", [
    ("-1,0,1; -2,0,2; -1,0,1 / sum", "inline kernel '-1,0,1; -2,0,2; -1,0,1 / sum': / sum divides by the sum of "
     "the weights, and these sum to 0 (an edge or gradient kernel); drop / sum, or divide by a number: / N"),
    ("1,2,1 / 0", "inline kernel '1,2,1 / 0': / 0 divides by zero; give a number other than 0"),
    ("1,2,1 / x", "inline kernel '1,2,1 / x': after / give a number or sum, got 'x'"),
    ("1,2; 3 / 4", "inline kernel '1,2; 3 / 4': kernel 'inline1': weights: row 2 has 1 values, row 1 has 2"),
    ("edge / 2", "unknown kernel 'edge / 2' (did you mean 'edge'?); / N and / sum divide an inline matrix or an "
     "ImageMagick WxH: kernel"),
    ("3x3: 1,-2,1,2,-4,2,1,-2,1 / sum", "ImageMagick kernel '3x3: 1,-2,1,2,-4,2,1,-2,1 / sum': / sum divides by "
     "the sum of the weights, and these sum to 0 (an edge or gradient kernel); drop / sum, or divide by a number: "
     "/ N"),
])
def test_bad_divisions(library, spec, message):
    with pytest.raises(KernelError) as error:
        resolve_kernels([spec], library)
    assert str(error.value) == message


@pytest.mark.parametrize("spec, message", [
    ("1,2,1 / 1e-320", "inline kernel '1,2,1 / 1e-320': / 1e-320 makes weights larger than floating point holds; "
     "divide by a larger number"),
    ("1,2,1 / 1e400", "inline kernel '1,2,1 / 1e400': / 1e400 is more than floating point holds; give a smaller "
     "number"),
    ("1e-300 / 1e300", "inline kernel '1e-300 / 1e300': / 1e300 makes every weight 0 (smaller than floating point "
     "holds); divide by a smaller number"),
    ("1e308,1e308 / sum", "inline kernel '1e308,1e308 / sum': / sum divides by the sum of the weights, and these are "
     "too large to add up in floating point; give smaller weights, or divide by a number: / N"),
    ("1e308,1e308", "inline kernel '1e308,1e308': kernel 'inline1': weights: too large to add up in floating point; "
     "scale them down"),
    ("1,1e400", "inline kernel '1,1e400': '1e400' is more than floating point holds"),
    ("0,0; 0,0 / 4", "inline kernel '0,0; 0,0 / 4': every weight is 0, so every output would be 0; give at least "
     "one weight other than 0"),
    ("3x3: nan,nan,nan,nan,nan,nan,nan,nan,nan", "ImageMagick kernel '3x3: nan,nan,nan,nan,nan,nan,nan,nan,nan': "
     "every tap is 0 or not part of the kernel (nan, -), so every output would be 0; give at least one weight other "
     "than 0"),
    ("2x1: 1e400 1", "ImageMagick kernel '2x1: 1e400 1': '1e400' is more than floating point holds"),
])
def test_kernels_beyond_floating_point_or_without_a_tap_are_refused_before_any_work(tmp_path, spec, message):
    Image.new("L", (4, 4), 128).save(tmp_path / "in.png")
    result = run("apply", tmp_path / "in.png", "-k", spec, "-o", tmp_path / "out.png")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {message}\n"  # no NumPy RuntimeWarning before it
    assert not (tmp_path / "out.png").exists()


# --- ImageMagick kernel strings ----------------------------------------------------------------------

@pytest.mark.parametrize("spec, rows, anchor", [
    ("3x3: -1,-1,-1,-1,8,-1,-1,-1,-1", [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], (1, 1)),
    ("3: 1 2 3 4 5 6 7 8 9", [[1, 2, 3], [4, 5, 6], [7, 8, 9]], (1, 1)),  # W alone is W x W
    ("3x2: 1,2,3  4,5,6", [[1, 2, 3], [4, 5, 6]], (0, 1)),  # W columns, H rows, row by row
    ("2x3+1+2: 1 2, 3 4, 5 6", [[1, 2], [3, 4], [5, 6]], (2, 1)),  # +X+Y: column X, row Y
    ("3x3+0+0: 1,nan,-,NaN,5,6,7,8,9", [[1, 0, 0], [0, 5, 6], [7, 8, 9]], (0, 0)),  # nan, -: not in the kernel
    ("4x2: 1 2 3 4 5 6 7 8", [[1, 2, 3, 4], [5, 6, 7, 8]], (0, 1)),  # ImageMagick's centre of an even side too
])
def test_imagemagick_strings(library, spec, rows, anchor):
    kernel = one(spec, library)
    np.testing.assert_array_equal(kernel.given_weights, rows)
    assert kernel.anchor == anchor
    assert kernel.source == f"ImageMagick kernel {spec!r}"


def test_imagemagick_anchor_matches_what_imagemagick_printed(library):
    """ImageMagick 6.9.11 on a 7x7 black picture with 200 at x=3, y=3:
    ``convert impulse.png -define convolve:scale=1 -morphology Correlate "3x2+2+0: 0.5,0,0 0,0,1" txt:-``
    printed ``3,2: (200)`` and ``5,3: (100)`` (x,y), and ``-morphology Convolve`` (the kernel turned 180
    degrees about its anchor: convcli's ``flip``) printed ``1,3: (100)`` and ``3,4: (200)``."""
    impulse = np.zeros((7, 7))
    impulse[3, 3] = 200.0
    kernel = one("3x2+2+0: 0.5,0,0 0,0,1", library)
    out = applied(kernel, impulse, boundary="zero")
    assert {tuple(map(int, p)): float(out[tuple(p)]) for p in np.argwhere(np.abs(out) > 1e-9)} == \
        {(2, 3): 200.0, (3, 5): 100.0}  # (row, column): ImageMagick's y, x
    flipped = applied(kernel, impulse, boundary="zero", flip=True)
    assert {tuple(map(int, p)): float(flipped[tuple(p)]) for p in np.argwhere(np.abs(flipped) > 1e-9)} == \
        {(4, 3): 200.0, (3, 1): 100.0}


@pytest.mark.parametrize("spec, message", [
    ("3x3: -1,-1,-1,-1,8,-1,-1,-1", "3x3 needs 9 values (3 rows of 3), got 8"),
    ("3x3: 1 2 3 4 5 6 7 8 9 10", "3x3 needs 9 values (3 rows of 3), got 10"),
    ("5x3: 1 2 3", "5x3 needs 15 values (3 rows of 5), got 3"),
    ("3x3+3+0: 1 2 3 4 5 6 7 8 9", "+3+0 puts the anchor outside the kernel: X is its column, 0 to 2, and Y "
     "its row, 0 to 2"),
    ("3x2+0+2: 1 2 3 4 5 6", "+0+2 puts the anchor outside the kernel: X is its column, 0 to 2, and Y its row, 0 "
     "to 1"),
    ("3x3-1+0: 1 2 3 4 5 6 7 8 9", "-1+0 puts the anchor outside the kernel: X is its column, 0 to 2, and Y its "
     "row, 0 to 2"),
    ("3x3@: 1 2 3 4 5 6 7 8 9", "'3x3@' is not a kernel size: give WxH (or W for W x W), then +X+Y for the "
     "anchor's column and row if it is not the centre, then a colon and the values"),
    ("3x0: 1", "a 3x0 kernel has no taps"),
    ("2: 1 2 3 4; 2: 4 3 2 1", "; separates ImageMagick's lists of kernels; give each kernel on its own (or join "
     "them with | to apply one after another)"),
    ("2x2: 1 2 x 4", "'x' is not a number (the values are numbers, or nan or - for a tap that is not part of the "
     "kernel)"),
])
def test_bad_imagemagick_strings(library, spec, message):
    with pytest.raises(KernelError) as error:
        resolve_kernels([spec], library)
    assert str(error.value) == f"ImageMagick kernel {spec!r}: {message}"


def test_imagemagick_count_error_on_the_command_line(tmp_path, monkeypatch):
    """Once ``'-1' is not key=value``: now the expected and the given counts."""
    monkeypatch.chdir(tmp_path)
    gray_png("a.png")
    result = run("apply", "a.png", "-k", "3x3: -1,-1,-1,-1,8,-1,-1,-1", "-o", "out.png")
    assert_error(result, "ImageMagick kernel '3x3: -1,-1,-1,-1,8,-1,-1,-1': 3x3 needs 9 values (3 rows of 3), "
                         "got 8")
    assert not (tmp_path / "out.png").exists()


def test_parse_magick_is_a_kernel():
    kernel = parse_magick("2: 1 2 3 4", name="k")
    assert isinstance(kernel, Kernel) and kernel.name == "k" and kernel.anchor == (0, 0) and not kernel.anchored


# --- anchors, against OpenCV's filter2D --------------------------------------------------------------

@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (5, 3)])
@pytest.mark.parametrize("boundary", sorted(CV_BORDERS))
@pytest.mark.parametrize("flip", [False, True])
def test_every_anchor_matches_opencv(shape, boundary, flip):
    weights = powers_of_two(shape)
    image = np.random.default_rng(1).random((9, 11))
    kh, kw = shape
    for ay in range(kh):
        for ax in range(kw):
            kernel = Kernel("k", weights, anchor=(ay, ax))
            ours = applied(kernel, image, boundary=boundary, flip=flip)
            if flip:  # OpenCV's rule for convolution: flip the kernel, and the anchor becomes (kh-1-ay, kw-1-ax)
                expected = cv2.filter2D(image, cv2.CV_64F, weights[::-1, ::-1].copy(),
                                        anchor=(kw - 1 - ax, kh - 1 - ay), borderType=CV_BORDERS[boundary])
            else:
                expected = cv2.filter2D(image, cv2.CV_64F, weights, anchor=(ax, ay), borderType=CV_BORDERS[boundary])
            np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-9,
                                       err_msg=f"anchor {(ay, ax)} of {shape}, {boundary}, flip {flip}")


def contract(image, weights, anchor, *, stride=1, dilation=1, boundary="symmetric", flip=False):
    """The contract's formula with the anchor ``(ay, ax)``, tap by tap on an ``np.pad``-ed image."""
    kh, kw = weights.shape
    ay, ax = anchor
    sign = -1 if flip else 1
    margin = (max(kh, kw) + 1) * dilation
    padded = np.pad(image, margin, mode=NP_PAD[boundary])
    rows, columns = -(-image.shape[0] // stride), -(-image.shape[1] // stride)
    out = np.zeros((rows, columns))
    for y in range(rows):
        for x in range(columns):
            for i in range(kh):
                for j in range(kw):
                    out[y, x] += weights[i, j] * padded[margin + y * stride + sign * (i - ay) * dilation,
                                                        margin + x * stride + sign * (j - ax) * dilation]
    return out


@pytest.mark.parametrize("stride, dilation", [(1, 2), (2, 1), (3, 2)])
@pytest.mark.parametrize("boundary", ["symmetric", "wrap", "edge"])
@pytest.mark.parametrize("flip", [False, True])
def test_anchor_with_stride_and_dilation(stride, dilation, boundary, flip):
    weights = powers_of_two((2, 3))
    image = np.random.default_rng(2).random((10, 9))
    for anchor in [(0, 0), (1, 2), (0, 2), (1, 0)]:
        ours = applied(Kernel("k", weights, anchor=anchor), image, stride=stride, dilation=dilation,
                       boundary=boundary, flip=flip)
        expected = contract(image, weights, anchor, stride=stride, dilation=dilation, boundary=boundary, flip=flip)
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-9, err_msg=str(anchor))


def test_the_default_anchor_changes_nothing():
    kernel = Kernel("k", powers_of_two((2, 4)), anchor=(0, 1))
    assert not kernel.anchored and kernel.shape == (2, 4) and kernel.note == ""


def test_an_anchored_kernel_is_its_weights_in_zeros():
    kernel = Kernel("k", [[1, 2, 3], [4, 5, 6]], anchor=(0, 0))
    # The smallest frame whose contract anchor ((kh - 1) // 2, (kw - 1) // 2) = (0, 1) is the 1 (chains fold alike).
    np.testing.assert_array_equal(kernel.weights, [[0, 1, 2, 3], [0, 4, 5, 6]])
    np.testing.assert_array_equal(kernel.given_weights, [[1, 2, 3], [4, 5, 6]])
    assert kernel.anchored and kernel.summary().size == "2x3"
    assert kernel.note == "kernel 'k' anchored at row 0, column 0 of its 2x3 weights"


@pytest.mark.parametrize("padding", ["valid", "full", 1])
def test_an_anchor_needs_padding_same(padding):
    kernel = Kernel("k", powers_of_two((3, 3)), anchor=(0, 0))
    with pytest.raises(ParameterError) as error:
        applied(kernel, np.zeros((5, 5)), padding=padding)
    assert str(error.value) == (f"kernel 'k' is anchored at row 0, column 0; an anchor places a kernel for padding "
                                f"same only (with padding {padding} the output's size and place follow from the "
                                "kernel's size alone); use padding same, or leave the anchor at the centre")
    # the centre given explicitly is no anchor of its own
    centred = Kernel("k", powers_of_two((3, 3)), anchor=(1, 1))
    np.testing.assert_allclose(applied(centred, np.ones((5, 5)), padding="valid"),
                               correlate2d(np.ones((5, 5)), powers_of_two((3, 3)), mode="valid"))


def test_toml_anchor(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[kernels.corner]\nweights = [[1, 2, 3], [4, 5, 6], [7, 8, 10]]\nanchor = [0, 2]\n'
                    '[kernels.turned]\nrow = [1, 2]\ncol = [1, 3]\nanchor = [1, 0]\n'
                    '[banks.turns]\nbase = "corner"\nrotations = 4\n')
    entries = load_kernel_file(path)
    corner = entries["corner"]
    assert corner.anchor == (0, 2) and corner.anchored
    image = np.random.default_rng(3).random((8, 9))
    expected = cv2.filter2D(image, cv2.CV_64F, corner.given_weights.copy(), anchor=(2, 0),
                            borderType=cv2.BORDER_REFLECT)
    np.testing.assert_allclose(applied(corner, image), expected, rtol=1e-12)
    separable = entries["turned"]
    np.testing.assert_allclose(applied(separable, image, boundary="edge"),
                               cv2.filter2D(image, cv2.CV_64F, np.outer([1, 3], [1, 2]).astype(float), anchor=(0, 1),
                                            borderType=cv2.BORDER_REPLICATE), rtol=1e-12)
    # A bank's rotations turn the anchor with the weights: 90 degrees anticlockwise takes row 0, column 2
    # (the top right) to row 0, column 0 (the top left).
    turned = entries["turns"].kernels[1]
    np.testing.assert_array_equal(turned.given_weights, np.rot90(corner.given_weights))
    assert turned.anchor == (0, 0)
    np.testing.assert_allclose(applied(turned, image),
                               cv2.filter2D(image, cv2.CV_64F, np.rot90(corner.given_weights).copy(), anchor=(0, 0),
                                            borderType=cv2.BORDER_REFLECT), rtol=1e-12)


@pytest.mark.parametrize("value, message", [
    ("[3, 0]", "anchor: row 3, column 0 is outside the 3x3 weights (rows 0 to 2, columns 0 to 2)"),
    ("[0, -1]", "anchor: row 0, column -1 is outside the 3x3 weights (rows 0 to 2, columns 0 to 2)"),
    ('"0,0"', "anchor: must be [row, column], two whole numbers counted from 0, got '0,0'"),
    ("[0.5, 1]", "anchor: must be [row, column], two whole numbers counted from 0, got [0.5, 1]"),
    ("[1]", "anchor: must be [row, column], two whole numbers counted from 0, got [1]"),
])
def test_bad_toml_anchor(tmp_path, value, message):
    path = tmp_path / "mine.toml"
    path.write_text(f"[kernels.k]\nweights = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\nanchor = {value}\n")
    with pytest.raises(KernelError) as error:
        load_kernel_file(path)
    assert str(error.value) == f"{path}: kernel 'k': {message}"


def test_with_anchor(library):
    edge, sobel = resolve_kernels(["emboss", "sobel"], library)
    moved = with_anchor([edge, sobel], (0, 0))
    assert moved[0].anchor == (0, 0) and moved[0].name == "emboss"
    np.testing.assert_array_equal(moved[0].given_weights, edge.weights)
    assert [k.anchor for k in moved[1].kernels] == [(0, 0), (0, 0)] and moved[1].combine == sobel.combine
    # an override replaces a kernel's own anchor rather than adding to it
    again = with_anchor(moved, (2, 2))[0]
    assert again.anchor == (2, 2)
    np.testing.assert_array_equal(again.given_weights, edge.weights)
    with pytest.raises(ParameterError) as error:
        with_anchor([edge], (0, 3))
    assert str(error.value) == "anchor 0,3 is outside kernel 'emboss', which is 3x3 (rows 0 to 2, columns 0 to 2)"
    with pytest.raises(ParameterError) as error:
        with_anchor([library["smooth_edges"]], (0, 0))
    assert str(error.value) == ("anchor anchors single kernels; 'smooth_edges' is a chain of 2 kernels (anchor its "
                                "kernels in their TOML tables, or as ImageMagick WxH+X+Y: strings)")


@pytest.mark.parametrize("text", ["1", "1,2,3", "a,1", "-1,0", "", "\u00b2,1"])
def test_bad_anchor_option(text):
    with pytest.raises(ParameterError) as error:
        parse_anchor(text)
    assert str(error.value) == ("anchor must be ROW,COL, two whole numbers from 0 (0,0 is the top left), e.g. 0,0; "
                                f"got {text!r}")


@pytest.mark.parametrize("flip", [False, True])
def test_anchor_option_end_to_end(tmp_path, monkeypatch, flip):
    monkeypatch.chdir(tmp_path)
    image = gray_png("a.png")
    weights = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 10]], dtype=np.float64)
    args = ["apply", "a.png", "-k", "1,2,3; 4,5,6; 7,8,10", "--anchor", "0,2", "-b", "edge", "--map", "raw",
            "-o", "out.npy", "-q"] + ["--flip"] * flip
    result = run(*args)
    assert result.exit_code == 0, result.output
    if flip:
        expected = cv2.filter2D(image, cv2.CV_64F, weights[::-1, ::-1].copy(), anchor=(0, 2),
                                borderType=cv2.BORDER_REPLICATE)
    else:
        expected = cv2.filter2D(image, cv2.CV_64F, weights, anchor=(2, 0), borderType=cv2.BORDER_REPLICATE)
    np.testing.assert_allclose(np.load("out.npy"), expected, rtol=1e-5, atol=1e-5)


def test_anchor_option_overrides_an_imagemagick_anchor(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image = gray_png("a.png")
    result = run("apply", "a.png", "-k", "3x3+0+0: 1,2,3,4,5,6,7,8,10", "--anchor", "2,1", "-b", "mirror",
                 "--map", "raw", "-o", "out.npy", "-q")
    assert result.exit_code == 0, result.output
    expected = cv2.filter2D(image, cv2.CV_64F, np.array([[1, 2, 3], [4, 5, 6], [7, 8, 10]], dtype=np.float64),
                            anchor=(1, 2), borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(np.load("out.npy"), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--anchor", "0,0", "-p", "valid"], "kernel 'edge' is anchored at row 0, column 0; an anchor places a kernel "
     "for --padding same only (with --padding valid the output's size and place follow from the kernel's size "
     "alone); use --padding same, or leave the anchor at the centre"),
    (["--anchor", "3,0"], "--anchor 3,0 is outside kernel 'edge', which is 3x3 (rows 0 to 2, columns 0 to 2)"),
    (["--anchor", "1;1"], "--anchor must be ROW,COL, two whole numbers from 0 (0,0 is the top left), e.g. 0,0; "
     "got '1;1'"),
])
def test_anchor_option_errors(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    gray_png("a.png")
    assert_error(run("apply", "a.png", "-k", "edge", *args, "-o", "out.png"), message)
    assert not (tmp_path / "out.png").exists()


# --- chains on the command line ----------------------------------------------------------------------

def test_chain_folds_like_full_convolution(library):
    chain = one("1,2;3,4 | 3x3: 1,0,-1,2,0,-2,1,0,-3", library)
    assert isinstance(chain, Chain) and chain.name == "inline1+inline2"
    assert [k.name for k in chain.kernels] == ["inline1", "inline2"]
    # correlating with a then b is correlating with their full convolution (anchors 0,0 + 1,1 = 1,1 of 4x4)
    expected = convolve2d([[1, 2], [3, 4]], [[1, 0, -1], [2, 0, -2], [1, 0, -3]])
    np.testing.assert_array_equal(chain.fold().weights, expected)


def test_chain_elements(library):
    chain = one("smooth_edges | gaussian:size=3,sigma=1 | emboss", library)
    assert chain.name == "smooth_edges+gaussian-size3-sigma1+emboss"  # a chain in a chain gives its steps
    assert [k.name for k in chain.kernels] == ["gaussian5", "laplacian", "gaussian-size3-sigma1", "emboss"]
    assert one("blur|edge", library).name == "blur+edge"


@pytest.mark.parametrize("spec, message", [
    ("blur | | edge", "kernel chain 'blur | | edge': element 2 is empty; put a kernel between every two |"),
    ("blur |", "kernel chain 'blur |': element 2 is empty; put a kernel between every two |"),
    ("blur | edgee", "kernel chain 'blur | edgee': unknown kernel 'edgee' (did you mean 'edge'?)"),
    ("blur | compass", "kernel chain 'blur | compass': 'compass' is a bank of 8 kernels; a chain is made of "
     "kernels and chains"),
    ("blur | 3x3: 1 2", "kernel chain 'blur | 3x3: 1 2': ImageMagick kernel '3x3: 1 2': 3x3 needs 9 values (3 "
     "rows of 3), got 2"),
])
def test_bad_chains(library, spec, message):
    with pytest.raises(KernelError) as error:
        resolve_kernels([spec], library)
    assert str(error.value) == message


def test_chain_end_to_end_against_two_scipy_correlations(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image = gray_png("a.png", shape=(20, 22))
    result = run("apply", "a.png", "-k", "blur | emboss", "-k", "edge", "--map", "raw", "-o", "out", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_blur+emboss.npy", "a_edge.npy"]
    blur = np.outer([1, 2, 1], [1, 2, 1]) / 16
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64)
    step = correlate2d(correlate2d(image, blur, mode="same"), emboss, mode="same")
    ours = np.load("out/a_blur+emboss.npy")
    np.testing.assert_allclose(ours[2:-2, 2:-2], step[2:-2, 2:-2], rtol=1e-5, atol=1e-5)  # away from the borders


def test_chain_with_an_anchored_step_against_opencv(library):
    """``3x3+0+0:`` then ``blur``: each OpenCV filter2D in turn, compared away from the borders."""
    chain = one("3x3+0+0: 1,2,3,4,5,6,7,8,10 | blur", library)
    image = np.random.default_rng(4).random((16, 17))
    first = cv2.filter2D(image, cv2.CV_64F, np.array([[1, 2, 3], [4, 5, 6], [7, 8, 10]], dtype=np.float64),
                         anchor=(0, 0))
    second = cv2.filter2D(first, cv2.CV_64F, np.outer([1, 2, 1], [1, 2, 1]) / 16)
    np.testing.assert_allclose(applied(chain, image)[3:-3, 3:-3], second[3:-3, 3:-3], rtol=1e-12)


# --- help and kernels show ---------------------------------------------------------------------------

def test_apply_help_mentions_the_forms():
    result = runner.invoke(app, ["apply", "--help"], env={"COLUMNS": "100"})
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", ANSI.sub("", result.output)).split())
    for fragment in ("/ 16 or / sum divides it", "\"3x3+X+Y: ...\" anchors it at column X, row Y",
                     "chain \"blur | edge\"", "docs/kernel-syntax.md", "--anchor", "ROW,COL"):
        assert fragment in text, fragment


def test_kernels_show_an_anchored_kernel():
    result = runner.invoke(app, ["kernels", "show", "3x2+2+0: 1 2 3 4 5 6"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert ANSI.sub("", result.stdout).splitlines() == [
        "inline1  (ImageMagick kernel '3x2+2+0: 1 2 3 4 5 6')",
        "2x3, sum 21, rank 2; anchor underlined",
        "┌───┬───┬───┐",
        "│ 1 │ 2 │ 3 │",
        "│ 4 │ 5 │ 6 │",
        "└───┴───┴───┘",
        "anchor row 0, column 2",
    ]


# --- docs/kernel-syntax.md: its TOML example (tests/test_docs_examples.py runs its console examples) -----

DOC = Path(__file__).resolve().parents[1] / "docs" / "kernel-syntax.md"
def test_doc_toml_example(tmp_path):
    (block,) = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    path = tmp_path / "doc.toml"
    path.write_text("\n".join(line.removeprefix("  ") for line in block.splitlines()))
    trail = load_kernel_file(path)["trail"]
    assert trail.anchor == (0, 0)
    np.testing.assert_allclose(trail.given_weights, np.array([[4, 2, 1], [2, 1, 0], [1, 0, 0]]) / 11)


def test_with_anchor_keeps_every_field_and_a_note_of_its_own():
    kernel = Kernel("k", powers_of_two((3, 3)), description="d", bias=0.25, flip=True, map="abs", source="s",
                    note="made by hand")
    (moved,) = with_anchor([kernel], (0, 2))
    assert (moved.description, moved.bias, moved.flip, moved.map, moved.source) == ("d", 0.25, True, "abs", "s")
    assert moved.note == "made by hand" and moved.anchor == (0, 2)
    np.testing.assert_array_equal(moved.given_weights, kernel.weights)
    (again,) = with_anchor([Kernel("k", powers_of_two((3, 3)), anchor=(0, 0))], (2, 1))
    assert again.note == "kernel 'k' anchored at row 2, column 1 of its 3x3 weights"
