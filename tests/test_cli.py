"""The ``convcli`` command line, end to end: exit codes, exact messages and the files it writes.

Every test runs in its own empty ``tmp_path`` (the working folder), so paths in messages are the
short relative ones a user would type. Reference values come from ``scipy.signal`` or from a hand
computation; the one comparison with :func:`convcli.conv2d` checks that ``--map raw`` hands the
library's floats through untouched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.signal import convolve2d, correlate2d
from typer.testing import CliRunner

from convcli import __version__, conv2d
from convcli.cli import app
from convcli.imageio.reading import load_image

runner = CliRunner()  # this Typer's runner keeps stderr apart: result.stdout and result.stderr
ANSI = re.compile(r"\x1b\[[0-9;]*m")
H, W = 8, 10

IDENTITY = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float64)
# The built-ins, written out here so that the test does not read them from the package.
BUILTINS = {
    "edge": (np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]), 0.0, "abs"),
    "blur": (np.outer([1, 2, 1], [1, 2, 1]) / 16, 0.0, "clip"),
    "sharpen": (np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]), 0.0, "clip"),
    "emboss": (np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]), 0.0, "clip"),
}


pytestmark = pytest.mark.usefixtures("workdir")  # an empty folder of its own (conftest.py)


# ----------------------------------------------------------------------------------------- helpers


def run(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def err_lines(result) -> list[str]:
    return [line.rstrip() for line in ANSI.sub("", result.stderr).splitlines()]


def assert_ok(result) -> None:
    assert result.exit_code == 0, result.output
    assert result.exception is None, result.output
    assert "Traceback" not in result.output


def assert_error(result, code: int, message: str) -> None:
    """A user error: the exit code, exactly ``Error: message`` on stderr, nothing on stdout."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not a crash
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert ANSI.sub("", result.stderr) == f"Error: {message}\n"


def assert_usage_error(result, *fragments: str) -> None:
    """An error found by Typer's parser: exit 2 and an ``Error:`` line naming the bad value."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    errors = [line for line in err_lines(result) if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def save(name: str | Path, array: np.ndarray, **params) -> Path:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **params)
    return path


def read(path: str | Path) -> tuple[str, tuple[int, int], np.ndarray]:
    """(mode, (width, height), pixels) of an image file, read by Pillow alone."""
    with Image.open(path) as image:
        return image.mode, image.size, np.asarray(image)


def gray_pixels(h: int = H, w: int = W) -> np.ndarray:
    """A gray picture with no symmetry, every value a multiple of 4 (so hand sums stay integral)."""
    y, x = np.mgrid[:h, :w]
    return (4 * ((7 * y + 3 * x + (x * y) % 5) % 60)).astype(np.uint8)


def noise(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def reference(image: np.ndarray, kernel: np.ndarray, boundary: str = "symm", mode: str = "same") -> np.ndarray:
    """The contract's correlation, computed by scipy.signal in float64."""
    return correlate2d(np.asarray(image, np.float64), np.asarray(kernel, np.float64), mode=mode,
                       boundary=boundary)


def to8(values: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(values, 0, 1) * 255)


def dilate(kernel: np.ndarray, d: int) -> np.ndarray:
    kh, kw = kernel.shape
    out = np.zeros(((kh - 1) * d + 1, (kw - 1) * d + 1))
    out[::d, ::d] = kernel
    return out


def settings_line(convention="correlation", boundary="symmetric", padding="same", stride=1, dilation=1,
                  method="direct", map="clip") -> str:
    return (f"{convention} · boundary {boundary} · padding {padding} · stride {stride} · "
            f"dilation {dilation} · method {method} · map {map}")


# ------------------------------------------------------------------------------------ version, help


def test_version():
    result = run("--version")
    assert_ok(result)
    assert result.stdout == f"convcli {__version__}\n"
    assert result.stderr == ""


def test_python_dash_m_version():
    done = subprocess.run([sys.executable, "-m", "convcli", "--version"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"convcli {__version__}\n"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(flag):
    result = run(flag)
    assert_ok(result)
    assert "Apply convolution kernels to images" in result.stdout
    assert re.search(r"^\W*apply\s+Apply kernels to images", result.stdout, re.MULTILINE)


def test_apply_help_documents_conventions():
    result = run("apply", "--help")
    assert_ok(result)
    text = " ".join(result.stdout.split())  # undo the help's line wrapping
    for boundary in ("zero", "constant", "edge (aaa|abc)", "symmetric (cba|abc)", "mirror (cb|abc)",
                     "wrap (abc|abc)", "replicate", "reflect101", "circular"):
        assert boundary in text
    assert "Kernels are applied as written (correlation)" in text
    assert "scipy.signal.correlate2d" in text and "convolve2d" in text
    for flag in ("--flip", "--boundary", "--padding", "--stride", "--dilation", "--gray", "--map", "--name",
                 "--verify", "--report-json", "--kernels"):
        assert flag in text
    assert "Exit codes: 0 everything written, 1 some inputs failed" in text


# --------------------------------------------------------------------------------------- outputs


def test_one_input_one_kernel_writes_that_file(workdir):
    pixels = noise((H, W, 3))
    save("a.png", pixels)
    result = run("apply", "a.png", "-k", "0,0,0;0,1,0;0,0,0", "-o", "out.png")
    assert_ok(result)
    mode, size, out = read("out.png")
    assert (mode, size) == ("RGB", (W, H))
    np.testing.assert_array_equal(out, pixels)  # the identity kernel gives the input back exactly
    assert sorted(os.listdir(workdir)) == ["a.png", "out.png"]
    lines = err_lines(result)
    assert settings_line(map="clip") in lines
    assert re.fullmatch(r"1 written to \., 0 failed, in \d+ ms", lines[-1])
    # Not a terminal: one line per output, whole names first (no clipping: no clipped figure).
    assert any(re.fullmatch(r"a\.png \[inline1\] -> out\.png: 10x8x3, load \d+\.\d ms, conv \d+\.\d ms, "
                            r"map \d+\.\d ms, save \d+\.\d ms, \d+\.\d MP/s", line) for line in lines)
    assert result.stdout == ""  # the report goes to stderr


def test_output_folders_are_created():
    save("a.png", gray_pixels())
    assert_ok(run("apply", "a.png", "-k", "identity", "-o", "deep/er/out.png"))
    assert read("deep/er/out.png")[0] == "L"


def test_several_kernels_write_into_a_folder():
    save("a.png", noise((H, W, 3)))
    result = run("apply", "a.png", "-k", "edge", "-k", "blur", "-o", "out")
    assert_ok(result)
    assert sorted(os.listdir("out")) == ["a_blur.png", "a_edge.png"]
    assert re.fullmatch(r"2 written to out, 0 failed, in \d+ ms", err_lines(result)[-1])


def test_several_inputs_keep_their_extension():
    save("a.png", noise((H, W, 3)))
    save("b.jpg", noise((H, W, 3), seed=1))
    save("c.tif", noise((H, W), seed=2))
    result = run("apply", "a.png", "b.jpg", "c.tif", "-k", "edge", "-o", "out")
    assert_ok(result)
    assert sorted(os.listdir("out")) == ["a_edge.png", "b_edge.jpg", "c_edge.tif"]
    assert read("out/b_edge.jpg")[0] == "RGB"
    assert read("out/c_edge.tif")[:2] == ("L", (W, H))


def test_folder_input_takes_its_images_only():
    save("in/a.png", noise((H, W)))
    save("in/b.tif", noise((H, W), seed=1))
    save("in/.hidden.png", noise((H, W)))
    save("in/sub/c.png", noise((H, W)))
    Path("in/notes.txt").write_text("not an image")
    result = run("apply", "in", "-k", "identity", "-o", "out")
    assert_ok(result)
    assert sorted(os.listdir("out")) == ["a_identity.png", "b_identity.tif"]
    np.testing.assert_array_equal(read("out/a_identity.png")[2], read("in/a.png")[2])


def test_quoted_glob_input():
    save("in/a.png", noise((H, W)))
    save("in/b.png", noise((H, W), seed=1))
    save("in/c.tif", noise((H, W), seed=2))
    result = run("apply", "in/*.png", "-k", "blur", "-o", "out")
    assert_ok(result)
    assert sorted(os.listdir("out")) == ["a_blur.png", "b_blur.png"]


def test_name_template():
    save("a.png", noise((H, W)))
    save("b.png", noise((H, W), seed=1))
    result = run("apply", "a.png", "b.png", "-k", "edge", "-k", "sharpen", "-o", "out",
                 "--name", "{kernel}-{stem}.tif")
    assert_ok(result)
    assert sorted(os.listdir("out")) == ["edge-a.tif", "edge-b.tif", "sharpen-a.tif", "sharpen-b.tif"]
    assert read("out/edge-a.tif")[0] == "L"


def test_one_output_file_for_several_outputs_is_refused(workdir):
    save("a.png", noise((H, W)))
    result = run("apply", "a.png", "-k", "edge", "-k", "blur", "-o", "out.png")
    assert_error(result, 2, "--output out.png names one file, but this run writes 2 outputs "
                            "(1 input x 2 kernels); give a folder")
    assert sorted(os.listdir(workdir)) == ["a.png"]


def test_name_template_collision_is_refused():
    save("a.png", noise((H, W)))
    result = run("apply", "a.png", "-k", "edge", "-k", "blur", "-o", "out", "--name", "{stem}.png")
    assert_error(result, 2, "a.png [edge] and a.png [blur] would both write out/a.png; "
                 '--name "{stem}_{kernel}.png" tells them apart')
    assert not Path("out").exists()


def test_name_template_with_an_unknown_field():
    save("a.png", noise((H, W)))
    result = run("apply", "a.png", "-k", "edge", "-o", "out", "--name", "{stem}_{size}.png")
    assert_error(result, 2, "--name template '{stem}_{size}.png' may use only {stem}, {kernel}, {ext}, {suffix}, "
                 "{parent}; got {size}")


def test_name_template_with_an_unclosed_brace():
    save("a.png", noise((H, W)))
    result = run("apply", "a.png", "-k", "edge", "-o", "out", "--name", "{stem")
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert err_lines(result)[0].startswith("Error: --name template '{stem'")


# ----------------------------------------------------------------------------------- kernel forms


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_kernels_match_scipy(name):
    pixels = noise((H, W))
    save("a.png", pixels)
    result = run("apply", "a.png", "-k", name, "-o", "out.png")
    assert_ok(result)
    weights, bias, mapping = BUILTINS[name]
    values = reference(pixels / 255.0, weights) + bias
    expected = to8(np.abs(values) if mapping == "abs" else values)
    mode, size, out = read("out.png")
    assert (mode, size) == ("L", (W, H))
    assert np.max(np.abs(out - expected)) <= 1  # float32 against float64 rounding only
    assert settings_line(map=mapping) in err_lines(result)


@pytest.mark.parametrize("spec", ["0,0,0;0,1,0;0,0,0", "0 0 0; 0 1 0; 0 0 0", " 0, 0, 0 ;0 ,1, 0; 0,0,0; "])
def test_inline_identity_reproduces_the_input(spec):
    pixels = noise((H, W, 3))
    save("a.png", pixels)
    assert_ok(run("apply", "a.png", "-k", spec, "-o", "out.png"))
    np.testing.assert_array_equal(read("out.png")[2], pixels)


def test_inline_kernels_are_numbered():
    save("a.png", noise((H, W)))
    assert_ok(run("apply", "a.png", "-k", "1", "-k", "edge", "-k", "0.5", "-o", "out"))
    assert sorted(os.listdir("out")) == ["a_edge.png", "a_inline1.png", "a_inline2.png"]


def test_npy_kernel_even_width():
    pixels = noise((H, W))
    save("a.png", pixels)
    kernel = np.array([[1, -2], [4, 0.5], [0, -1]], dtype=np.float64)  # 3 x 2, no symmetry
    np.save("my-k.npy", kernel)
    result = run("apply", "a.png", "-k", "my-k.npy", "-o", "out", "--map", "raw")
    assert_ok(result)
    assert os.listdir("out") == ["a_my-k.npy"]
    out = np.load("out/a_my-k.npy")
    np.testing.assert_allclose(out, reference(pixels / 255.0, kernel), rtol=0, atol=1e-5)


def test_npy_bank_writes_one_output_per_kernel():
    pixels = gray_pixels()
    save("a.png", pixels)
    bank = np.zeros((2, 3, 3))
    bank[0, 1, 2] = 1  # reads the right neighbour
    bank[1, 0, 1] = 1  # reads the neighbour above
    np.save("bank.npy", bank)
    result = run("apply", "a.png", "-k", "bank.npy", "-o", "out")
    assert_ok(result)
    assert sorted(os.listdir("out")) == ["a_bank_0.png", "a_bank_1.png"]
    right, above = read("out/a_bank_0.png")[2], read("out/a_bank_1.png")[2]
    np.testing.assert_array_equal(right[:, :-1], pixels[:, 1:])
    np.testing.assert_array_equal(right[:, -1], pixels[:, -1])  # symmetric boundary: cba|abc
    np.testing.assert_array_equal(above[1:], pixels[:-1])
    np.testing.assert_array_equal(above[0], pixels[0])


def test_user_toml_overrides_a_builtin_and_adds_kernels():
    pixels = gray_pixels()
    save("a.png", pixels)
    Path("mine.toml").write_text(
        '[kernels.edge]\ndescription = "not an edge at all"\nweights = [[0, 0, 0], [0, 1, 0], [0, 0, 0]]\n\n'
        '[kernels.double]\nweights = [[2]]\n\n'
        '[kernels.halfdiff]\nrow = [1, -1]\ncol = [1]\ndivisor = 2\nmap = "offset"\n'
    )
    result = run("apply", "a.png", "-k", "edge", "-k", "double", "-k", "halfdiff", "--kernels", "mine.toml",
                 "-o", "out")
    assert_ok(result)
    np.testing.assert_array_equal(read("out/a_edge.png")[2], pixels)  # the user's edge, not the built-in
    np.testing.assert_array_equal(read("out/a_double.png")[2], np.minimum(2 * pixels.astype(int), 255))
    # a zero-sum kernel asking for the offset map: (a - b) / 2 / 255 + 0.5, with a the pixel itself
    # (the anchor of a 1 x 2 kernel is its first tap) and b its right neighbour
    halfdiff = read("out/a_halfdiff.png")[2].astype(int)
    a, b = int(pixels[3, 4]), int(pixels[3, 5])
    assert a != b
    assert abs(halfdiff[3, 4] - ((a - b) / 2 + 127.5)) <= 0.5


# --------------------------------------------------------------------------------------- options


def test_flip_gives_true_convolution():
    pixels = gray_pixels()
    save("a.png", pixels)
    spec = "0,0,0; 0.5,0,0.25; 0,0,0"
    kernel = np.array([[0, 0, 0], [0.5, 0, 0.25], [0, 0, 0]])
    plain = run("apply", "a.png", "-k", spec, "-o", "plain.png")
    flipped = run("apply", "a.png", "-k", spec, "--flip", "-o", "flipped.png")
    assert_ok(plain)
    assert_ok(flipped)
    p, f = read("plain.png")[2].astype(int), read("flipped.png")[2].astype(int)
    a, b = int(pixels[3, 3]), int(pixels[3, 5])  # left and right neighbours of (3, 4)
    assert a != b
    assert p[3, 4] == a // 2 + b // 4  # correlation: the kernel's left weight reads the left pixel
    assert f[3, 4] == b // 2 + a // 4  # convolution: mirrored
    np.testing.assert_array_equal(p, to8(reference(pixels / 255.0, kernel)))
    np.testing.assert_array_equal(f, to8(convolve2d(pixels / 255.0, kernel, mode="same", boundary="symm")))
    assert settings_line("correlation") in err_lines(plain)
    assert settings_line("convolution") in err_lines(flipped)


# (option, canonical name, what column 0 of "read the left neighbour" becomes)
BOUNDARIES = [
    (["-b", "zero"], "zero", lambda a: np.zeros(H)),
    (["--boundary", "fill"], "zero", lambda a: np.zeros(H)),
    (["--boundary", "constant", "--cval", "0.25"], "constant", lambda a: np.full(H, 0.25)),
    (["--boundary", "edge"], "edge", lambda a: a[:, 0]),
    (["--boundary", "replicate"], "edge", lambda a: a[:, 0]),
    (["--boundary", "nearest"], "edge", lambda a: a[:, 0]),
    (["--boundary", "Clamp"], "edge", lambda a: a[:, 0]),
    (["--boundary", "symmetric"], "symmetric", lambda a: a[:, 0]),
    (["--boundary", "reflect"], "symmetric", lambda a: a[:, 0]),
    (["--boundary", "symm"], "symmetric", lambda a: a[:, 0]),
    (["--boundary", "mirror"], "mirror", lambda a: a[:, 1]),
    (["--boundary", "reflect101"], "mirror", lambda a: a[:, 1]),
    (["--boundary", "reflect_101"], "mirror", lambda a: a[:, 1]),
    (["--boundary", "wrap"], "wrap", lambda a: a[:, -1]),
    (["--boundary", "circular"], "wrap", lambda a: a[:, -1]),
    (["--boundary", "periodic"], "wrap", lambda a: a[:, -1]),
    (["--boundary", "tile"], "wrap", lambda a: a[:, -1]),
]


@pytest.mark.parametrize(("option", "canonical", "first_column"), BOUNDARIES,
                         ids=[" ".join(option[1:]) for option, _, _ in BOUNDARIES])
def test_boundary_modes_and_aliases(option, canonical, first_column):
    pixels = gray_pixels()
    save("a.png", pixels)
    result = run("apply", "a.png", "-k", "0,0,0;1,0,0;0,0,0", *option, "--map", "raw", "-o", "out.npy")
    assert_ok(result)
    assert settings_line(boundary=canonical, map="raw") in err_lines(result)
    out = np.load("out.npy")
    image = load_image("a.png").color
    np.testing.assert_array_equal(out[:, 1:], image[:, :-1])
    np.testing.assert_allclose(out[:, 0], first_column(image), rtol=0, atol=1e-7)


@pytest.mark.parametrize(("padding", "size"), [("same", (10, 8)), ("valid", (8, 6)), ("full", (12, 10)),
                                               ("0", (8, 6)), ("2", (12, 10)), ("VALID", (8, 6))])
def test_padding_output_size(padding, size):
    pixels = noise((H, W))
    save("a.png", pixels)
    result = run("apply", "a.png", "-k", "sharpen", "--padding", padding, "-o", "out.png")
    assert_ok(result)
    _, got, out = read("out.png")
    assert got == size
    if padding.lower() in ("valid", "0"):
        weights = BUILTINS["sharpen"][0]
        assert np.max(np.abs(out - to8(reference(pixels / 255.0, weights, mode="valid")))) <= 1


def test_integer_padding_with_zero_boundary_matches_scipy_fill():
    pixels = noise((H, W))
    save("a.png", pixels)
    kernel = np.array([[1, 2, 0], [0, -1, 4], [0.5, 0, -2]])
    assert_ok(run("apply", "a.png", "-k", "1,2,0;0,-1,4;0.5,0,-2", "-p", "1", "-b", "zero", "--map", "raw",
                  "-o", "out.npy"))
    out = np.load("out.npy")
    np.testing.assert_allclose(out, reference(pixels / 255.0, kernel, boundary="fill"), atol=1e-5)


@pytest.mark.parametrize(("stride", "size"), [(2, (5, 4)), (3, (4, 3))])
def test_stride(stride, size):
    pixels = noise((H, W))
    save("a.png", pixels)
    kernel = np.array([[1, 2, 0], [0, -1, 4], [0.5, 0, -2]])
    result = run("apply", "a.png", "-k", "1,2,0;0,-1,4;0.5,0,-2", "--stride", stride, "--map", "raw",
                 "-o", "out.npy")
    assert_ok(result)
    out = np.load("out.npy")
    assert out.shape == size[::-1]
    np.testing.assert_allclose(out, reference(pixels / 255.0, kernel)[::stride, ::stride], atol=1e-5)
    assert_ok(run("apply", "a.png", "-k", "blur", "-s", stride, "-o", "out.png"))
    assert read("out.png")[1] == size


def test_dilation():
    pixels = noise((16, 20))
    save("a.png", pixels)
    kernel = np.array([[1, 2, 0], [0, -1, 4], [0.5, 0, -2]])
    result = run("apply", "a.png", "-k", "1,2,0;0,-1,4;0.5,0,-2", "--dilation", 2, "--map", "raw", "-o", "out.npy")
    assert_ok(result)
    out = np.load("out.npy")
    assert out.shape == (16, 20)
    expected = reference(pixels / 255.0, dilate(kernel, 2))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert np.max(np.abs(expected - reference(pixels / 255.0, kernel))) > 0.1  # the dilation mattered
    assert settings_line(dilation=2, map="raw") in err_lines(result)


def test_gray_gives_one_channel_of_luma():
    pixels = noise((H, W, 3))
    save("a.png", pixels)
    result = run("apply", "a.png", "-k", "identity", "--gray", "-o", "out.png")
    assert_ok(result)
    mode, size, out = read("out.png")
    assert (mode, size) == ("L", (W, H))
    luma = pixels @ np.array([0.299, 0.587, 0.114])
    assert np.max(np.abs(out - luma)) <= 0.5 + 1e-3
    assert any(line.startswith("a.png [identity] -> out.png: 10x8x1, ") for line in err_lines(result))


def test_map_clip_and_abs_differ_on_negative_values():
    pixels = gray_pixels()
    save("a.png", pixels)
    assert_ok(run("apply", "a.png", "-k", "0,0,0;0,-1,0;0,0,0", "--map", "clip", "-o", "clip.png"))
    assert_ok(run("apply", "a.png", "-k", "0,0,0;0,-1,0;0,0,0", "--map", "abs", "-o", "abs.png"))
    assert_ok(run("apply", "a.png", "-k", "0,0,0;0,2,0;0,0,0", "-m", "clip", "-o", "double.png"))
    assert not read("clip.png")[2].any()
    np.testing.assert_array_equal(read("abs.png")[2], pixels)
    np.testing.assert_array_equal(read("double.png")[2], np.minimum(2 * pixels.astype(int), 255))


def test_map_offset():
    pixels = (2 * gray_pixels() // 4 * 2 + 1).astype(np.uint8)  # odd values: (255 - v) / 2 is whole
    save("a.png", pixels)
    result = run("apply", "a.png", "-k", "0,0,0;0,-0.5,0;0,0,0", "--map", "offset", "-o", "out.png")
    assert_ok(result)
    np.testing.assert_array_equal(read("out.png")[2], (255 - pixels.astype(int)) // 2)
    assert settings_line(map="offset") in err_lines(result)


def test_map_minmax_stretches_each_map():
    pixels = (10 + gray_pixels().astype(int) * 85 // 236).astype(np.uint8)  # 10 .. 95, so 255 / (95 - 10) = 3
    assert (pixels.min(), pixels.max()) == (10, 95)
    save("a.png", pixels)
    assert_ok(run("apply", "a.png", "-k", "identity", "--map", "minmax", "-o", "out.png"))
    np.testing.assert_array_equal(read("out.png")[2], 3 * (pixels.astype(int) - 10))


def test_map_global_shares_one_range():
    low = np.full((H, W), 10, np.uint8)
    low[0, :5] = 50  # 10 .. 50
    high = np.full((H, W), 30, np.uint8)
    high[1, 1] = 95  # 30 .. 95
    save("low.png", low)
    save("high.png", high)
    result = run("apply", "low.png", "high.png", "-k", "identity", "--map", "global", "-o", "out")
    assert_ok(result)
    np.testing.assert_array_equal(read("out/low_identity.png")[2], 3 * (low.astype(int) - 10))
    np.testing.assert_array_equal(read("out/high_identity.png")[2], 3 * (high.astype(int) - 10))
    assert settings_line(map="global") in err_lines(result)


def test_map_auto_follows_the_kernel():
    save("a.png", noise((H, W)))
    Path("mine.toml").write_text('[kernels.lap]\nweights = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]\nmap = "offset"\n')
    for spec, mapping in [("laplacian", "abs"), ("lap", "offset"), ("sobel_x", "abs"), ("box3", "clip"),
                          ("1,0,-1", "abs"), ("1,1", "clip")]:
        result = run("apply", "a.png", "-k", spec, "--kernels", "mine.toml", "-o", "out.png")
        assert_ok(result)
        assert settings_line(map=mapping) in err_lines(result), spec


def test_map_raw_npy_holds_exact_floats():
    pixels = noise((H, W, 3))
    save("a.png", pixels)
    spec = "1,2,0;0,-1,4;0.5,0,-2"
    kernel = np.array([[1, 2, 0], [0, -1, 4], [0.5, 0, -2]])
    result = run("apply", "a.png", "-k", spec, "--map", "raw", "-o", "out.npy")
    assert_ok(result)
    out = np.load("out.npy", allow_pickle=False)
    assert out.shape == (H, W, 3) and out.dtype == np.float32
    assert out.min() < 0 and out.max() > 1  # nothing was clipped
    np.testing.assert_array_equal(out, conv2d(load_image("a.png").color, kernel))
    for channel in range(3):
        np.testing.assert_allclose(out[..., channel], reference(pixels[..., channel] / 255.0, kernel), atol=1e-5)


def test_map_raw_gray_npy_and_tif_match_scipy():
    pixels = noise((H, W))
    save("a.png", pixels)
    kernel = np.array([[1, 2, 0], [0, -1, 4], [0.5, 0, -2]])
    expected = reference(pixels / 255.0, kernel)
    assert_ok(run("apply", "a.png", "-k", "1,2,0;0,-1,4;0.5,0,-2", "--map", "raw", "-o", "out.npy"))
    assert_ok(run("apply", "a.png", "-k", "1,2,0;0,-1,4;0.5,0,-2", "--map", "raw", "-o", "out.tif"))
    npy = np.load("out.npy")
    assert npy.shape == (H, W)
    np.testing.assert_allclose(npy, expected, atol=1e-5)
    mode, _, tif = read("out.tif")
    assert mode == "F"
    np.testing.assert_array_equal(tif, npy)


def test_map_raw_default_name_is_npy():
    save("a.png", noise((H, W)))
    assert_ok(run("apply", "a.png", "-k", "edge", "-k", "blur", "--map", "raw", "-o", "out"))
    assert sorted(os.listdir("out")) == ["a_blur.npy", "a_edge.npy"]


def test_map_raw_rgba_npy_holds_the_map_and_npz_the_alpha_too():
    pixels = np.dstack([noise((H, W, 3)), np.full((H, W), 255, np.uint8)])
    pixels[2:4, 3:6, 3] = 0
    save("a.png", pixels)
    result = run("apply", "a.png", "-k", "identity", "--map", "raw", "-o", "out.npy")
    assert_ok(result)
    assert np.load("out.npy").shape == (H, W, 3)  # the contract: H x W x C
    assert "out.npy: .npy holds the map alone; .npz keeps the alpha too" in result.stderr
    assert_ok(run("apply", "a.png", "-k", "identity", "--map", "raw", "-o", "out.npz"))
    with np.load("out.npz") as stored:
        assert stored["identity"].shape == (H, W, 3)
        np.testing.assert_array_equal(stored["identity_alpha"], pixels[..., 3] / np.float32(255))


def test_verify_reports_the_difference():
    save("a.png", noise((H, W, 3)))
    result = run("apply", "a.png", "-k", "sharpen", "-k", "1,2;3,4", "--verify", "--flip", "-s", 2, "-d", 2,
                 "-b", "wrap", "-o", "out")
    assert_ok(result)
    verified = [line for line in err_lines(result) if line.startswith("verified against SciPy")]
    assert len(verified) == 1
    match = re.fullmatch(r"verified against SciPy: largest difference (\d\.\de[-+]\d\d)", verified[0])
    assert match and float(match.group(1)) < 1e-5


def test_report_json(workdir):
    save("a.png", noise((H, W, 3)))
    result = run("apply", "a.png", "-k", "edge", "-k", "emboss", "-b", "replicate", "--flip", "-o", "out",
                 "--report-json", "report.json")
    assert_ok(result)
    report = json.loads(Path("report.json").read_text())
    assert report["version"] == 1
    assert report["failures"] == []
    assert isinstance(report["total_ms"], float)
    outputs = report["outputs"]
    assert [(o["kernel"], o["output"]) for o in outputs] == [("edge", "out/a_edge.png"), ("emboss", "out/a_emboss.png")]
    first = outputs[0]
    for key in ("load_ms", "convolve_ms", "map_ms", "save_ms", "megapixels_per_second"):
        assert isinstance(first[key], (int, float)) and first[key] >= 0, key
    assert first["method"] == "direct"
    assert first["convention"] == "convolution"
    assert first["boundary"] == "edge"
    assert first["map"] == "abs" and outputs[1]["map"] == "clip"
    assert first["input_size"] == [H, W, 3] and first["output_size"] == [H, W]
    assert (first["padding"], first["stride"], first["dilation"]) == ("same", 1, 1)
    assert sorted(os.listdir(workdir)) == ["a.png", "out", "report.json"]


def test_exif_orientation_is_applied():
    pixels = gray_pixels()
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    image.save("a.png", exif=exif)
    assert_ok(run("apply", "a.png", "-k", "identity", "-o", "out.png"))
    _, size, out = read("out.png")
    assert size == (H, W)
    np.testing.assert_array_equal(out, np.rot90(pixels, -1))


# ----------------------------------------------------------------------------- image modes as input


def make_input(mode: str) -> tuple[str, np.ndarray]:
    """Write a small image of ``mode``; return its file name and the pixels a faithful copy would hold."""
    rng = np.random.default_rng(7)
    idx = rng.integers(0, 4, (H, W), dtype=np.uint8)
    idx[0, 0] = 0
    palette = [12, 34, 56, 200, 100, 50, 0, 255, 0, 255, 255, 255]
    colours = np.array(palette, np.uint8).reshape(4, 3)
    alpha = rng.integers(1, 256, (H, W), dtype=np.uint8)
    if mode == "1":
        bits = rng.random((H, W)) > 0.5
        save("in.png", bits)
        return "in.png", bits.astype(np.uint8) * 255
    if mode == "L":
        return str(save("in.png", noise((H, W)))), noise((H, W))
    if mode == "LA":
        pixels = np.dstack([noise((H, W)), alpha])
        return str(save("in.png", pixels)), pixels
    if mode in ("P", "P+transparency"):
        image = Image.frombytes("P", (W, H), idx.tobytes())
        image.putpalette(palette)
        if mode == "P":
            image.save("in.png")
            return "in.png", colours[idx]
        image.save("in.png", transparency=0)
        return "in.png", np.dstack([colours[idx], np.where(idx == 0, 0, 255).astype(np.uint8)])
    if mode == "PA":
        image = Image.frombytes("PA", (W, H), np.dstack([idx, alpha]).tobytes())
        image.putpalette(palette)
        image.save("in.tif")
        return "in.tif", np.dstack([colours[idx], alpha])
    if mode == "RGB":
        return str(save("in.png", noise((H, W, 3)))), noise((H, W, 3))
    if mode == "RGBA":
        pixels = np.dstack([noise((H, W, 3)), alpha])
        return str(save("in.png", pixels)), pixels
    if mode == "CMYK":
        image = Image.frombytes("CMYK", (W, H), noise((H, W, 4)).tobytes())
        image.save("in.tif")
        return "in.tif", np.asarray(image.convert("RGB"))
    if mode == "I;16":
        pixels = rng.integers(0, 65536, (H, W), dtype=np.uint16)
        pixels[0, :2] = (0, 65535)
        return str(save("in.png", pixels)), pixels
    if mode == "I":
        pixels = rng.integers(0, 65536, (H, W)).astype(np.int32)
        return str(save("in.tif", pixels)), pixels.astype(np.uint16)
    if mode == "F":
        values = rng.random((H, W)).astype(np.float32)
        return str(save("in.tif", values)), np.rint(values * 65535).astype(np.uint16)
    raise AssertionError(mode)


@pytest.mark.parametrize(("mode", "out_mode"), [
    ("1", "L"), ("L", "L"), ("LA", "LA"), ("P", "RGB"), ("P+transparency", "RGBA"), ("PA", "RGBA"),
    ("RGB", "RGB"), ("RGBA", "RGBA"), ("CMYK", "RGB"), ("I;16", "I;16"), ("I", "I;16"), ("F", "I;16"),
])
def test_image_modes_through_the_cli(mode, out_mode):
    name, expected = make_input(mode)
    with Image.open(name) as image:
        assert image.mode == mode.split("+")[0]
    result = run("apply", name, "-k", "identity", "-o", "out.png")
    assert_ok(result)
    assert not [line for line in err_lines(result) if line.startswith("warning")]
    got_mode, size, out = read("out.png")
    assert (got_mode, size) == (out_mode, (W, H))
    if out_mode in ("LA", "RGBA"):
        np.testing.assert_array_equal(out[..., -1], expected[..., -1])  # alpha exactly
        visible = expected[..., -1] > 0  # a fully transparent pixel's colour is not kept
        np.testing.assert_array_equal(out[visible], expected[visible])
    else:
        np.testing.assert_array_equal(out, expected)


def test_16bit_input_to_tiff_and_jpeg():
    name, expected = make_input("I;16")
    assert_ok(run("apply", name, "-k", "identity", "-o", "out.tif"))
    mode, _, out = read("out.tif")
    assert mode == "I;16"
    np.testing.assert_array_equal(out, expected)
    result = run("apply", name, "-k", "identity", "-o", "out.jpg")
    assert_ok(result)
    assert "warning: out.jpg: JPEG holds 8 bits per channel; the 16-bit maps were written with 8" in err_lines(result)
    assert read("out.jpg")[0] == "L"


def test_rgba_to_jpeg_drops_alpha_with_a_warning():
    name, _ = make_input("RGBA")
    result = run("apply", name, "-k", "blur", "-o", "out.jpg")
    assert_ok(result)
    assert "warning: out.jpg: JPEG has no alpha channel; transparency was dropped" in err_lines(result)
    assert read("out.jpg")[0] == "RGB"


# ----------------------------------------------------------------------------------------- alpha


def test_alpha_never_bleeds_colour():
    pixels = np.zeros((12, 14, 4), np.uint8)
    pixels[...] = (0, 255, 0, 0)  # transparent pixels hold pure green
    pixels[2:10, 3:11] = (255, 0, 0, 255)  # an opaque red square
    pixels[5, 6:8] = (0, 255, 0, 0)  # and a transparent hole in it
    save("a.png", pixels)
    result = run("apply", "a.png", "-k", "blur", "-o", "out.png")
    assert_ok(result)
    mode, size, out = read("out.png")
    assert (mode, size) == ("RGBA", (14, 12))
    out = out.astype(int)
    seen = out[..., 3] > 0
    assert out[..., 1][seen].max() == 0  # no green anywhere something shows, however faint
    assert (out[seen][:, :3] == (255, 0, 0)).all()  # even the soft new edges are pure red
    interior = np.zeros((12, 14), bool)
    interior[3:9, 4:10] = True
    interior[4:7, 5:9] = False  # the neighbours of the hole
    assert (out[interior] == (255, 0, 0, 255)).all()
    expected_alpha = to8(reference(pixels[..., 3] / 255.0, BUILTINS["blur"][0]))
    assert np.max(np.abs(out[..., 3] - expected_alpha)) <= 1  # alpha is blurred like any channel


def test_alpha_opaque_pixels_filter_like_plain_colour():
    colour = noise((H, W, 3))
    save("opaque.png", colour)
    save("rgba.png", np.dstack([colour, np.full((H, W), 255, np.uint8)]))
    assert_ok(run("apply", "opaque.png", "rgba.png", "-k", "sharpen", "-o", "out"))
    np.testing.assert_array_equal(read("out/rgba_sharpen.png")[2][..., :3], read("out/opaque_sharpen.png")[2])


# ---------------------------------------------------------------------------------------- errors


def test_unknown_kernel_suggests_a_name():
    save("a.png", noise((H, W)))
    assert_error(run("apply", "a.png", "-k", "edgee", "-o", "out.png"), 2,
                 "unknown kernel 'edgee' (did you mean 'edge'?)")
    assert_error(run("apply", "a.png", "-k", "xyzzy", "-o", "out.png"), 2,
                 "unknown kernel 'xyzzy'; 'convcli kernels list' shows them all")
    assert not Path("out.png").exists()


@pytest.mark.parametrize(("spec", "message"), [
    ("1,2;3", "inline kernel '1,2;3': kernel 'inline1': weights: row 2 has 1 values, row 1 has 2"),
    ("1,2,3;4,5", "inline kernel '1,2,3;4,5': kernel 'inline1': weights: row 2 has 2 values, row 1 has 3"),
    ("1,a;2,3", "inline kernel '1,a;2,3': '1,a' is not a list of numbers"),
    ("0,1,0;1,x,1", "inline kernel '0,1,0;1,x,1': '1,x,1' is not a list of numbers"),
])
def test_malformed_inline_matrix(spec, message):
    save("a.png", noise((H, W)))
    assert_error(run("apply", "a.png", "-k", spec, "-o", "out.png"), 2, message)


def test_missing_npy_kernel():
    save("a.png", noise((H, W)))
    assert_error(run("apply", "a.png", "-k", "nope.npy", "-o", "out.png"), 2, "nope.npy: no such kernel file")


def test_missing_input_file(workdir):
    save("a.png", noise((H, W)))
    assert_error(run("apply", "a.png", "nope.png", "-k", "edge", "-o", "out"), 2,
                 "no such file or folder: nope.png")
    assert sorted(os.listdir(workdir)) == ["a.png"]  # nothing was done


def test_empty_folder():
    Path("empty").mkdir()
    assert_error(run("apply", "empty", "-k", "edge", "-o", "out"), 2,
                 "no images found in empty (--recursive looks in sub-folders)")


def test_glob_matching_nothing():
    assert_error(run("apply", "in/*.png", "-k", "edge", "-o", "out"), 2, "no images found in in/*.png")


def test_corrupt_image_among_good_ones():
    save("in/a.png", noise((H, W)))
    save("in/c.png", noise((H, W), seed=1))
    Path("in/b.png").write_bytes(np.random.default_rng(3).bytes(300))
    result = run("apply", "in", "-k", "edge", "-o", "out")
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert sorted(os.listdir("out")) == ["a_edge.png", "c_edge.png"]  # the good ones are still written
    lines = err_lines(result)
    assert "failed: in/b.png: not an image Pillow can read" in lines
    assert re.fullmatch(r"2 written to out, 1 failed, in \d+ ms", lines[-1])


def test_truncated_image_fails_with_exit_1():
    save("whole.png", noise((30, 40, 3)))
    data = Path("whole.png").read_bytes()
    Path("half.png").write_bytes(data[: len(data) // 2])
    result = run("apply", "whole.png", "half.png", "-k", "blur", "-o", "out")
    assert result.exit_code == 1
    assert os.listdir("out") == ["whole_blur.png"]
    prefix = "failed: half.png: corrupt or truncated image ("
    assert any(line.startswith(prefix) for line in err_lines(result))


def test_unsupported_output_extension():
    save("a.png", noise((H, W)))
    assert_error(run("apply", "a.png", "-k", "edge", "-o", "out.xcf"), 2,
                 "unsupported output extension '.xcf' in out.xcf; "
                 "use one of .png, .jpg, .jpeg, .webp, .bmp, .gif, .tif, .tiff, .npy, .npz")


@pytest.mark.parametrize(("option", "message"), [
    (["--padding", "-1"], "--padding must be same, valid, full or an integer >= 0; got '-1'"),
    (["--padding", "bogus"], "--padding must be same, valid, full or an integer >= 0; got 'bogus'"),
    (["--boundary", "bogus"], "--boundary must be one of zero, constant, edge, symmetric, mirror, wrap "
                              "(or an alias such as replicate, reflect, reflect101, circular); got 'bogus'"),
    (["--cval", "nan"], "--cval must be finite; got nan"),
])
def test_out_of_range_values(workdir, option, message):
    save("a.png", noise((H, W)))
    assert_error(run("apply", "a.png", "-k", "edge", *option, "-o", "out.png"), 2, message)
    assert sorted(os.listdir(workdir)) == ["a.png"]


@pytest.mark.parametrize(("option", "message"), [
    (["--stride", "0"], "Invalid value for '--stride' / '-s': 0 is not in the range x>=1."),
    (["-s", "-3"], "Invalid value for '--stride' / '-s': -3 is not in the range x>=1."),
    (["--dilation", "0"], "Invalid value for '--dilation' / '-d': 0 is not in the range x>=1."),
    (["--quality", "101"], "Invalid value for '--quality': 101 is not in the range 1<=x<=100."),
])
def test_ranges_are_checked_by_the_parser(workdir, option, message):
    save("a.png", noise((H, W)))
    result = run("apply", "a.png", "-k", "edge", *option, "-o", "out.png")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert err_lines(result)[-1] == f"Error: {message}"
    assert sorted(os.listdir(workdir)) == ["a.png"]


@pytest.mark.parametrize(("option", "fragments"), [
    (["--map", "bogus"], ["'--map'", "'bogus'", "'clip'", "'raw'"]),
    (["--method", "bogus"], ["'--method'", "'bogus'"]),
    (["--stride", "two"], ["'--stride'"]),
])
def test_values_the_parser_rejects(option, fragments):
    save("a.png", noise((H, W)))
    assert_usage_error(run("apply", "a.png", "-k", "edge", *option, "-o", "out.png"), *fragments)


def test_missing_kernel_option():
    save("a.png", noise((H, W)))
    assert_usage_error(run("apply", "a.png", "-o", "out.png"), "'-k'")


def test_map_raw_needs_a_float_format():
    save("a.png", noise((H, W)))
    assert_error(run("apply", "a.png", "-k", "edge", "--map", "raw", "-o", "out.png"), 2,
                 "--map raw keeps floats: write .npy, .npz or .tif, not .png")
    assert_error(run("apply", "a.png", "-k", "edge", "-k", "blur", "--map", "raw", "-o", "out",
                     "--name", "{stem}_{kernel}.jpg"), 2,
                 "--map raw keeps floats: write .npy, .npz or .tif, not .jpg")


def test_map_raw_colour_tiff_holds_the_engines_floats_in_every_channel():
    import tifffile

    pixels = noise((H, W, 3))
    save("a.png", pixels)
    weights = np.arange(1, 10, dtype=np.float64).reshape(3, 3) - 5  # every tap different
    spec = "; ".join(", ".join(str(v) for v in row) for row in weights)
    assert_ok(run("apply", "a.png", "-k", spec, "--map", "raw", "-o", "out.tif"))
    expected = np.dstack([correlate2d(np.pad(pixels[..., c] / 255.0, 1, mode="symmetric"), weights, mode="valid")
                          for c in range(3)])
    stored = tifffile.imread("out.tif")
    assert stored.dtype == np.float32 and stored.shape == (H, W, 3)
    np.testing.assert_allclose(stored, expected, atol=2e-6)


def test_map_raw_to_png_is_refused_before_any_work():
    save("a.png", noise((H, W, 3)))
    assert_error(run("apply", "a.png", "-k", "edge", "--map", "raw", "-o", "out.png"), 2,
                 "--map raw keeps floats: write .npy, .npz or .tif, not .png")


def test_output_equal_to_input_is_refused():
    save("a.png", noise((H, W, 3)))
    before = Path("a.png").read_bytes()
    assert_error(run("apply", "a.png", "-k", "blur", "-o", "a.png"), 2,
                 "output a.png is one of the inputs; refusing to overwrite it")
    assert_error(run("apply", "a.png", "-k", "blur", "-o", "./a.png"), 2,
                 "output a.png is one of the inputs; refusing to overwrite it")
    assert Path("a.png").read_bytes() == before


def test_an_output_linked_to_an_input_is_refused():
    save("a.png", noise((H, W, 3)))
    before = Path("a.png").read_bytes()
    os.link("a.png", "hard.png")
    Path("soft.png").symlink_to("a.png")
    for link in ("hard.png", "soft.png"):
        assert_error(run("apply", "a.png", "-k", "blur", "-o", link), 2,
                     f"output {link} is one of the inputs; refusing to overwrite it")
        assert_error(run("apply", "a.png", "-k", "blur", "-o", "b.png", "--manifest", link), 2,
                     f"--manifest {link} is one of the inputs; refusing to overwrite it")
    assert Path("a.png").read_bytes() == before


def test_planning_a_folder_looks_at_each_file_a_few_times_not_once_for_every_other_file(monkeypatch):
    # Each output was compared with each input in pairs: a folder of 1000 photos took 40 s to plan.
    for index in range(300):
        save(f"in/{index:03d}.png", noise((2, 2), seed=index))
    looks = []
    for name in ("stat", "lstat"):
        real = getattr(os, name)
        monkeypatch.setattr(os, name, lambda *args, real=real, **kwargs: looks.append(1) or real(*args, **kwargs))
    result = run("apply", "in", "-k", "blur", "-o", "out", "--manifest", "m.json", "--dry-run")
    assert result.exit_code == 0, result.output
    assert len(looks) < 40 * 300, len(looks)  # 20 each now; 2122 each before


def test_output_in_folder_equal_to_an_input_is_refused():
    save("in/a_blur.png", noise((H, W, 3)))
    save("in/b.png", noise((H, W, 3)))
    before = Path("in/a_blur.png").read_bytes()
    save("a.png", noise((H, W, 3), seed=9))
    result = run("apply", "a.png", "in/a_blur.png", "-k", "blur", "-o", "in")
    assert_error(result, 2, "output in/a_blur.png is one of the inputs; refusing to overwrite it")
    assert Path("in/a_blur.png").read_bytes() == before


@pytest.mark.parametrize(("text", "message"), [
    ('[kernels.wobbly]\nweights = [[1, 2, 3], [4, 5]]\n',
     "bad.toml: kernel 'wobbly': weights: row 2 has 2 values, row 1 has 3"),
    ('[kernels.k]\nwieghts = [[1]]\n', "bad.toml: kernel 'k': unknown key 'wieghts' (did you mean 'weights'?)\n"
                                      "Error: bad.toml: kernel 'k': needs weights, row and col, or generator"),
    ('[kernels.k]\nweights = [[1, "a"]]\n', "bad.toml: kernel 'k': weights: row 1 holds 'a', which is not a number"),
    ('[kernels.k]\nrow = [1, 2, 1]\n',
     "bad.toml: kernel 'k': the separable form needs both row and col; col is missing"),
    ('[kernels.k]\nweights = [[1, -1]]\nnormalize = true\n',
     "bad.toml: kernel 'k': normalize = true needs a kernel whose weights do not sum to 0"),
    ('[kernels.k]\nweights = [[1]]\nmap = "loud"\n',
     "bad.toml: kernel 'k': map: must be one of clip, abs, offset, minmax, global, raw, got 'loud'"),
    ('[kernel.k]\nweights = [[1]]\n',
     "bad.toml: unknown table 'kernel' (did you mean 'kernels'?); kernels go in [kernels.NAME], [banks.NAME] "
     "or [chains.NAME] tables"),
])
def test_malformed_user_toml(text, message):
    save("a.png", noise((H, W)))
    Path("bad.toml").write_text(text)
    assert_error(run("apply", "a.png", "-k", "blur", "--kernels", "bad.toml", "-o", "out.png"), 2, message)
    assert not Path("out.png").exists()


def test_user_toml_that_is_not_toml():
    save("a.png", noise((H, W)))
    text = "[kernels.k]\nweights = [[1, 2]\n"
    Path("bad.toml").write_text(text)
    with pytest.raises(tomllib.TOMLDecodeError) as caught:
        tomllib.loads(text)
    assert_error(run("apply", "a.png", "-k", "blur", "--kernels", "bad.toml", "-o", "out.png"), 2,
                 f"bad.toml: not valid TOML: {caught.value}")


def test_missing_user_toml():
    save("a.png", noise((H, W)))
    assert_usage_error(run("apply", "a.png", "-k", "blur", "--kernels", "missing.toml", "-o", "out.png"),
                       "'--kernels'", "missing.toml", "does not exist")


def test_same_kernel_twice():
    save("a.png", noise((H, W)))
    assert_error(run("apply", "a.png", "-k", "blur", "-k", "blur", "-o", "out"), 2, "kernel 'blur' is given twice")


# Crashes: OS errors on the output side escape as Python exceptions instead of "Error: ..." / "failed: ...".


def test_output_folder_that_is_a_file():
    save("a.png", noise((H, W)))
    Path("taken").write_text("a file")
    result = run("apply", "a.png", "-k", "blur", "-o", "taken/out.png")
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (1, 2)
    assert any(line.startswith(("Error: ", "failed: ")) for line in err_lines(result))


def test_output_name_taken_by_a_folder():
    save("a.png", noise((H, W)))
    Path("out/a_blur.png").mkdir(parents=True)
    result = run("apply", "a.png", "-k", "blur", "-k", "edge", "-o", "out")
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert Path("out/a_edge.png").is_file()
    assert any(line.startswith("failed: a.png [blur]") for line in err_lines(result))


def test_report_json_in_a_missing_folder():
    save("a.png", noise((H, W)))
    result = run("apply", "a.png", "-k", "blur", "-o", "out.png", "--report-json", "reports/run.json")
    assert_ok(result)
    assert json.loads(Path("reports/run.json").read_text())["outputs"][0]["kernel"] == "blur"


# ---------------------------------------------------------------------------------- import hygiene


def test_library_does_not_import_the_cli_stack():
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import convcli, convcli.pipeline.batch, convcli.imageio.writing, convcli.kernels.specs, "
        "convcli.pixels.render\n"
        "out = convcli.conv2d(np.arange(20.0).reshape(4, 5), np.ones((3, 3)), boundary='zero')\n"
        "assert out[1, 1] == 54.0, out\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'click'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
