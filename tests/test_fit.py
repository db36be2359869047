"""``convcli fit``: the least-squares kernel from an image pair, recovered, reported and written as TOML.

Pairs are made with ``scipy.signal.correlate2d`` (the contract's convention, so the fit must come back
as written) and saved as float TIFFs, which convcli reads without rounding. The kernels are random,
so no symmetry can hide a flip or a shifted anchor.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from helpers import load_kernel_file
from PIL import Image
from scipy.signal import correlate2d
from typer.testing import CliRunner

from convcli.cli import app
from convcli.errors import KernelError, ParameterError
from convcli.tools.fit import Fit, fit_images, fit_kernel, kernel_toml, write_kernel_toml

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RNG_SEED = 7


pytestmark = pytest.mark.usefixtures("workdir")  # an empty folder of its own (conftest.py)


def run(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in ANSI.sub("", text).splitlines()]


def save_float(path: str, array: np.ndarray) -> None:
    """A one-channel float32 TIFF (Pillow mode F)."""
    Image.fromarray(np.asarray(array, dtype=np.float32)).save(path)


def pair(size=(48, 40), kernel_size=5, noise=0.0, seed=RNG_SEED):
    """A random float image, a random kernel, and the image correlated with it (plus noise)."""
    rng = np.random.default_rng(seed)
    before = rng.random(size).astype(np.float32)
    kernel = rng.normal(size=(kernel_size, kernel_size)) if np.ndim(kernel_size) == 0 else rng.normal(size=kernel_size)
    after = correlate2d(before.astype(np.float64), kernel, mode="same", boundary="symm")
    after = after + rng.normal(0.0, noise, after.shape) if noise else after
    return before, kernel, after.astype(np.float32)


def residual_rms(before: np.ndarray, after: np.ndarray, weights: np.ndarray, bias: float = 0.0) -> float:
    """RMS of after - fit over the valid positions, by SciPy."""
    kh, kw = weights.shape
    ai, aj = (kh - 1) // 2, (kw - 1) // 2
    fitted = correlate2d(before.astype(np.float64), weights, mode="valid") + bias
    target = after[ai:ai + fitted.shape[0], aj:aj + fitted.shape[1]].astype(np.float64)
    return float(np.sqrt(np.mean((target - fitted) ** 2)))


# ------------------------------------------------------------------------------------------- library


def test_recovers_a_random_5x5_kernel_from_float_tiffs():
    before, kernel, after = pair()
    save_float("before.tif", before)
    save_float("after.tif", after)
    fit = fit_images("before.tif", "after.tif", 5)
    np.testing.assert_allclose(fit.weights, kernel, atol=1e-4)
    assert (fit.equations, fit.unknowns, fit.rank, fit.channels) == (44 * 36, 25, 25, 1)
    assert fit.residual_rms < 1e-5  # float32 rounding of AFTER only
    assert fit.r_squared > 0.999999


def test_reports_the_residual_of_a_noisy_pair():
    before, kernel, after = pair(size=(64, 64), noise=0.01)
    fit = fit_kernel(before, after, 5)
    assert fit.residual_rms == pytest.approx(residual_rms(before, after, fit.weights), rel=1e-9)
    assert fit.residual_rms == pytest.approx(0.01, rel=0.1)  # the noise it cannot explain
    np.testing.assert_allclose(fit.weights, kernel, atol=0.02)


def test_the_fit_is_the_least_squares_minimum():
    before, _, after = pair(size=(30, 30), noise=0.05)
    fit = fit_kernel(before, after, 3)
    best = residual_rms(before, after, fit.weights)
    for step in (1e-3, -1e-3):
        for cell in ((0, 0), (1, 2)):
            nudged = fit.weights.copy()
            nudged[cell] += step
            assert residual_rms(before, after, nudged) > best


@pytest.mark.parametrize("size", [(4, 4), (5, 3), (1, 6)])
def test_even_and_rectangular_kernels_keep_the_contract_anchor(size):
    before, kernel, after = pair(size=(40, 44), kernel_size=size)
    fit = fit_kernel(before, after, size)
    np.testing.assert_allclose(fit.weights, kernel, atol=1e-4)


def test_colour_channels_share_one_kernel():
    rng = np.random.default_rng(3)
    before = rng.random((30, 32, 3))
    kernel = rng.normal(size=(3, 3))
    after = np.stack([correlate2d(before[..., c], kernel, mode="same", boundary="symm") for c in range(3)], axis=-1)
    fit = fit_kernel(before, after, 3)
    assert fit.channels == 3 and fit.equations == 28 * 30 * 3
    np.testing.assert_allclose(fit.weights, kernel, atol=1e-9)


def test_bias_is_fitted_on_request():
    before, kernel, after = pair(size=(32, 32), kernel_size=3)
    fit = fit_kernel(before, after + 0.25, 3, bias=True)
    assert fit.unknowns == 10
    assert fit.bias == pytest.approx(0.25, abs=1e-5)
    np.testing.assert_allclose(fit.weights, kernel, atol=1e-4)
    assert fit_kernel(before, after, 3).bias == 0.0


def test_a_flat_image_does_not_determine_the_kernel():
    fit = fit_kernel(np.full((10, 10), 0.5), np.full((10, 10), 0.25), 3)
    assert fit.rank == 1 and not fit.determined
    np.testing.assert_allclose(fit.weights, np.full((3, 3), 1 / 18))  # the smallest kernel summing to 1/2


@pytest.mark.parametrize(("before", "after", "size", "message"), [
    ((8, 8), (8, 9), 3, "before is 8x8 but after is 8x9: fit needs two images of the same size"),
    ((8, 8, 3), (8, 8), 3, "before has 3 channels but after has 1: fit needs the same channels in both (convert "
                           "both to gray)"),
    ((5, 6), (5, 6), 7, "size 7x7 is larger than the images (5x6): the kernel must fit inside them at least once"),
    ((3, 4), (3, 4), 3, "a 3x3 kernel has 9 unknowns but the 3x4 images give only 2 equations (one per position "
                        "where the kernel fits, per channel); use a smaller size or larger images"),
    ((8, 8), (8, 8), 0, "size must be from 1 to 1025; got 0"),
])
def test_bad_pairs(before, after, size, message):
    with pytest.raises(ParameterError) as caught:
        fit_kernel(np.zeros(before), np.zeros(after), size)
    assert str(caught.value) == message


def test_the_toml_loads_back_as_exactly_the_same_kernel(workdir):
    before, _, after = pair(noise=0.01)
    fit = fit_kernel(before, after, 5, bias=True)
    text = kernel_toml("learned", fit, description='a "quoted" description')
    Path("k.toml").write_text(text)
    kernel = load_kernel_file("k.toml")["learned"]
    np.testing.assert_array_equal(kernel.weights, fit.weights)  # bit for bit
    assert kernel.bias == fit.bias
    assert kernel.description == 'a "quoted" description'


def test_kernel_toml_rejects_a_bad_name():
    fit = Fit(np.ones((1, 1)), 0.0, 1, 1, 1, 0.0, 1.0, 1, (1, 1))
    with pytest.raises(KernelError, match=r"^fit: kernel name '1st' must start with a letter"):
        kernel_toml("1st", fit)


def test_write_kernel_toml_appends_without_touching_what_is_there(workdir):
    fit = Fit(np.array([[0.5, 0.25]]), 0.0, 10, 2, 2, 0.0, 1.0, 1, (5, 5))
    Path("mine.toml").write_text("# my kernels\n[kernels.keep]\nweights = [[1]]")  # no final newline
    assert write_kernel_toml("mine.toml", "half", kernel_toml("half", fit)) is True
    entries = load_kernel_file("mine.toml")
    assert sorted(entries) == ["half", "keep"]
    assert Path("mine.toml").read_text().startswith("# my kernels\n[kernels.keep]\nweights = [[1]]\n\n[kernels.half]")
    with pytest.raises(ParameterError, match=r"^mine.toml already defines 'half' \(in \[kernels\]\); choose another"):
        write_kernel_toml("mine.toml", "half", kernel_toml("half", fit))
    assert write_kernel_toml("new.toml", "half", kernel_toml("half", fit)) is False
    assert tomllib.loads(Path("new.toml").read_text())["kernels"]["half"]["weights"] == [[0.5, 0.25]]


# ---------------------------------------------------------------------------------------------- CLI


def test_fit_prints_the_kernel_and_writes_toml_to_stdout(workdir):
    before, kernel, after = pair()
    save_float("before.tif", before)
    save_float("after.tif", after)
    result = run("fit", "before.tif", "after.tif", "--kernel-size", "5")
    assert result.exit_code == 0, result.output
    document = tomllib.loads(result.stdout)
    weights = np.array(document["kernels"]["fitted"]["weights"])
    np.testing.assert_allclose(weights, kernel, atol=1e-4)
    assert document["kernels"]["fitted"]["description"].startswith(
        "least-squares 5x5 fit mapping before.tif to after.tif; residual RMS ")
    report = lines(result.stderr)
    assert report[0] == "least-squares 5x5 kernel mapping before.tif to after.tif"
    assert report[1] == "1 channel, 1,584 equations (one per position where the kernel fits), 25 unknowns, rank 25"
    [residual] = [line for line in report if line.startswith("residual RMS ")]
    assert re.fullmatch(r"residual RMS \S+ \(after varies by RMS \S+ about its mean; R² 1\.000000\)", residual)
    assert report[-1] == "apply it as written (correlation, no --flip), anchor underlined"


def test_fit_reports_the_residual_of_a_noisy_pair(workdir):
    before, _, after = pair(size=(64, 64), noise=0.01)
    save_float("before.tif", before)
    save_float("after.tif", after)
    result = run("fit", "before.tif", "after.tif", "--kernel-size", "5", "-o", "k.toml")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    kernel = load_kernel_file("k.toml")["fitted"]
    expected = residual_rms(before, after, kernel.weights)
    [residual] = [line for line in lines(result.stderr) if line.startswith("residual RMS ")]
    assert residual.startswith(f"residual RMS {expected:.3g} (after varies by RMS ")
    assert lines(result.stderr)[-1] == "wrote [kernels.fitted] to k.toml"


def test_the_fitted_kernel_applies_back(workdir):
    before, _, after = pair(size=(24, 20), kernel_size=3)
    save_float("before.tif", before)
    save_float("after.tif", after)
    result = run("fit", "before.tif", "after.tif", "--kernel-size", "3", "-o", "k.toml", "--kernel-name", "learned")
    assert result.exit_code == 0, result.output
    result = run("apply", "before.tif", "--kernels", "k.toml", "-k", "learned", "--map", "raw", "-o", "again.npy")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load("again.npy")[1:-1, 1:-1], after[1:-1, 1:-1], atol=1e-5)


def test_fit_gray_and_colour(workdir):
    rng = np.random.default_rng(1)
    colour = (rng.random((20, 24, 3)) * 255).astype(np.uint8)
    Image.fromarray(colour).save("rgb.png")
    Image.fromarray(colour).convert("L").save("gray.png")
    result = run("fit", "rgb.png", "gray.png", "--kernel-size", "3")
    assert result.exit_code == 2
    assert lines(result.stderr) == ["Error: rgb.png has 3 channels but gray.png has 1; add --gray to fit on luminance"]
    result = run("fit", "rgb.png", "rgb.png", "--kernel-size", "3")
    assert result.exit_code == 0, result.output
    assert lines(result.stderr)[1].startswith("3 channels, 1,188 equations")  # 18 x 22 positions x 3
    np.testing.assert_allclose(tomllib.loads(result.stdout)["kernels"]["fitted"]["weights"],
                               [[0, 0, 0], [0, 1, 0], [0, 0, 0]], atol=1e-9)
    assert "weights below 1e-6 of the largest are printed as 0 (the TOML holds them exactly)" in lines(result.stderr)


def test_fit_warns_when_the_image_cannot_determine_the_kernel(workdir):
    Image.new("L", (10, 10), 128).save("flat.png")
    result = run("fit", "flat.png", "flat.png", "--kernel-size", "3")
    assert result.exit_code == 0, result.output
    assert ("warning: rank 1 of 9: flat.png does not pin down every weight (flat or repetitive); this is the "
            "smallest kernel that fits") in lines(result.stderr)


@pytest.mark.parametrize(("args", "message"), [
    (("a.png", "b.png", "--kernel-size", "3"), "a.png is 6x8 but b.png is 6x7: fit needs two images of the same size"),
    (("a.png", "a.png", "--kernel-size", "9"), "size 9x9 is larger than the images (6x8): the kernel must fit "
                                               "inside them at "
                                        "least once"),
    (("a.png", "a.png", "--kernel-size", "3x"), "--kernel-size must be HxW, e.g. 5x5, or one number for a "
                                                "square; got '3x'"),
    (("a.png", "a.png", "--kernel-size", "3", "--kernel-name", "my kernel"),
     "fit: kernel name 'my kernel' must start with a letter or _ and hold only letters, digits, _ and -"),
    (("a.png", "a.png", "--kernel-size", "3", "--kernel-name", "a+b"),  # a TOML table's name holds no +
     "fit: kernel name 'a+b' must start with a letter or _ and hold only letters, digits, _ and -"),
    (("a.png", "a.png", "--kernel-size", "3", "-o", "taken.toml"),
     "taken.toml already defines 'fitted' (in [chains]); choose another --kernel-name"),
    (("a.png", "a.png", "--kernel-size", "3", "-o", "broken.toml"),
     "broken.toml: not valid TOML, so the kernel cannot be appended: Expected '=' after a key in a key/value pair "
     "(at line 1, column 5)"),
])
def test_fit_errors(args, message):
    Image.new("L", (8, 6)).save("a.png")
    Image.new("L", (7, 6)).save("b.png")
    Path("taken.toml").write_text('[chains.fitted]\nkernels = ["a"]\n')
    Path("broken.toml").write_text("oops\n")
    result = run("fit", *args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert lines(result.stderr) == [f"Error: {message}"]
    assert Path("taken.toml").read_text() == '[chains.fitted]\nkernels = ["a"]\n'


def test_fit_a_missing_image_is_a_usage_error():
    Image.new("L", (8, 6)).save("a.png")
    result = run("fit", "a.png", "missing.png", "--kernel-size", "3")
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    [error] = [line for line in lines(result.stderr) if line.startswith("Error")]
    assert error == "Error: Invalid value for 'AFTER': file 'missing.png' does not exist."
    assert "Traceback" not in result.output


def test_fit_help():
    result = run("fit", "--help")
    assert result.exit_code == 0
    text = " ".join(ANSI.sub("", result.stdout).split())
    assert "Find the least-squares kernel that maps BEFORE to AFTER" in text
    for flag in ("--kernel-size", "--output", "--kernel-name", "--gray", "--bias"):
        assert flag in text
