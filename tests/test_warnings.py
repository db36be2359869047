"""The warnings of a run, through the command line: one line per kind however many outputs repeat it,
none for float rounding or for clipping the user asked for, advice that fits the kernel, and a hint
when a map comes out nearly black. Every figure is recomputed here from the pixels, with SciPy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from scipy import ndimage, signal
from typer.testing import CliRunner

from convcli.cli import app
from convcli.pipeline import process

pytestmark = pytest.mark.usefixtures("workdir")  # an empty folder of its own (conftest.py)

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
EDGE = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
STRETCH = "--map minmax stretches each map's own range to 0..1"
NORMALISE = ('its weights sum to 16: divide them by the sum ("/ sum" or "/ 16" after an inline matrix, '
             "normalize = true in a TOML entry) to keep the brightness")


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 0, result.output
    return result


def warnings(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning:")]


def percent(value: float) -> str:
    return f"{value:.1f}%"


def clipped_share(pixels: np.ndarray, kernel: np.ndarray, absolute: bool = False) -> float:
    """The percentage of an 8-bit image's filtered values outside 0..255 (integers: no rounding to argue),
    of their magnitudes with ``absolute``."""
    planes = pixels.reshape(*pixels.shape[:2], -1).astype(np.int64)
    out = np.stack([signal.correlate2d(planes[..., c], kernel, mode="same", boundary="symm")
                    for c in range(planes.shape[2])], axis=-1)
    if absolute:
        out = np.abs(out)
    return 100 * np.count_nonzero((out < 0) | (out > 255)) / out.size


def test_a_folder_of_150_photos_sharpened_gives_one_clipping_line_and_no_advice():
    Path("photos").mkdir()
    shares = []
    for n in range(150):
        rng = np.random.default_rng(n)
        spread = 10 + n % 30  # some photos clip a little, some more, a few not at all
        pixels = np.clip(128 + rng.integers(-spread, spread + 1, (6, 8, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(f"photos/IMG_{n:04d}.png")
        shares.append(clipped_share(pixels, SHARPEN))
    result = invoke("apply", "photos", "-k", "sharpen", "-o", "out", "-j", "1")
    clipped = [share for share in shares if share]
    assert 0 < len(clipped) < 150 and min(clipped) < 1  # outputs under the 1% of a warning count too
    # A sharpen overshoots at edges by design: counted, but minmax or offset would only grey it out.
    assert warnings(result) == [f"warning: sharpen: values were clipped in {len(clipped)} of 150 outputs "
                                f"({percent(min(clipped))} to {percent(max(clipped))} of their values)"]


@pytest.mark.parametrize(("kernel", "method", "banded"), [("gaussian:size=15,sigma=1.3", "separable", True),
                                                          ("gaussian:size=11,sigma=2.5", "direct", True),
                                                          ("gaussian:size=15,sigma=1.3", "fft", False)])
def test_float_rounding_above_1_is_not_clipping(kernel, method, banded, monkeypatch):
    monkeypatch.setenv("CONVCLI_BAND_ROWS", "16")
    bands = []
    original = process.write_in_bands

    def recording(*args, **kwargs):  # a target written in bands (not given up for the whole image)
        written = original(*args, **kwargs)
        bands.append(written)
        return written

    monkeypatch.setattr(process, "write_in_bands", recording)
    Image.fromarray(np.full((64, 64, 3), 255, np.uint8)).save("white.png")
    invoke("apply", "white.png", "-k", kernel, "--method", method, "--map", "raw", "-o", "raw.npy")
    raw = np.load("raw.npy")
    assert 1 < raw.max() <= 1 + 1e-6  # a normalised Gaussian's blur of white, in float32 rounding
    result = invoke("apply", "white.png", "-k", kernel, "--method", method, "-o", "blur.png",
                    "--report-json", "r.json")
    output = json.loads(Path("r.json").read_text())["outputs"][0]
    assert (output["clipped_low"], output["clipped_high"]) == (0, 0)
    assert warnings(result) == [] and "clipped" not in result.stderr
    assert bool(bands) == banded  # the pipeline that filters a band of rows at a time counts the same way


def test_a_kernel_that_sums_to_16_is_told_to_normalise():
    Image.fromarray(np.full((20, 30), 128, np.uint8)).save("grey.png")
    Image.fromarray(np.full((20, 30), 100, np.uint8)).save("dark.png")
    result = invoke("apply", "grey.png", "-k", "1,2,1; 2,4,2; 1,2,1", "-o", "s16.png")
    assert 16 * 128 > 255  # so every value is clipped high
    assert warnings(result) == [
        f"warning: s16.png: 100.0% of the values were clipped (0.0% low, 100.0% high); {NORMALISE}"]
    result = invoke("apply", "grey.png", "dark.png", "-k", "1,2,1; 2,4,2; 1,2,1", "-o", "out")
    assert warnings(result) == [
        f"warning: inline1: values were clipped in 2 of 2 outputs (100.0% of their values); {NORMALISE}"]
    for normalised in ("1,2,1; 2,4,2; 1,2,1 / 16", "1,2,1; 2,4,2; 1,2,1 / sum"):  # as the advice says
        assert warnings(invoke("apply", "grey.png", "-k", normalised, "-o", "n.png")) == []
        assert np.asarray(Image.open("n.png")).max() == 128
    Path("k.toml").write_text('[kernels.binomial]\nweights = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]\n')
    result = invoke("apply", "grey.png", "-k", "binomial", "--kernels", "k.toml", "-o", "b.png")
    assert warnings(result) == [
        f"warning: b.png: 100.0% of the values were clipped (0.0% low, 100.0% high); {NORMALISE}"]


def test_clipping_the_user_asked_for_is_not_warned_of():
    Image.fromarray(np.full((20, 30), 128, np.uint8)).save("grey.png")
    result = invoke("apply", "grey.png", "-k", "1,2,1; 2,4,2; 1,2,1", "--map", "clip", "-o", "c.png",
                    "--report-json", "r.json")
    assert warnings(result) == []
    assert json.loads(Path("r.json").read_text())["outputs"][0]["clipped_high"] == 600  # still counted
    Path("k.toml").write_text('[kernels.hot]\nweights = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]\nmap = "clip"\n')
    result = invoke("apply", "grey.png", "-k", "hot", "--kernels", "k.toml", "-o", "h.png")
    assert warnings(result) == []
    assert np.asarray(Image.open("h.png")).min() == 255


def test_a_zero_sum_kernel_that_clips_is_pointed_to_minmax():
    pixels = [np.random.default_rng(n).integers(0, 256, (9, 11), dtype=np.uint8) for n in range(2)]
    for n, image in enumerate(pixels):
        Image.fromarray(image).save(f"{n}.png")
    shares = [clipped_share(image, EDGE, absolute=True) for image in pixels]  # auto: abs for a zero-sum kernel
    result = invoke("apply", "0.png", "1.png", "-k", "edge", "-o", "out")
    low, high = sorted(shares)
    assert warnings(result) == [
        f"warning: edge: values were clipped in 2 of 2 outputs ({percent(low)} to {percent(high)} of their values); "
        f"{STRETCH}"]


@pytest.mark.parametrize("method", ["direct", "fft"])  # a band of rows at a time, and the whole image
def test_a_nearly_black_map_gets_a_hint_toward_minmax(method, monkeypatch):
    monkeypatch.setenv("CONVCLI_BAND_ROWS", "16")
    depth = np.asarray(Image.open(SAMPLES / "depth16.png")).astype(np.float64)
    expected = np.abs(signal.correlate2d(depth, EDGE, mode="same", boundary="symm")).max()
    result = invoke("apply", SAMPLES / "depth16.png", "-k", "edge", "--method", method, "-o", "out/depth16_edge.png")
    written = np.asarray(Image.open("out/depth16_edge.png"))
    assert written.dtype == np.uint16 and written.max() == round(expected) == 655  # the README's own example
    assert warnings(result) == [
        f"warning: depth16_edge.png: nearly black (its brightest value is {percent(100 * 655 / 65535)} of full "
        f"scale); {STRETCH}"]
    assert warnings(invoke("apply", SAMPLES / "depth16.png", "-k", "edge", "--map", "abs", "-o", "abs.png")) == []
    assert warnings(invoke("apply", SAMPLES / "depth16.png", "-k", "edge", "--map", "minmax", "-o", "mm.png")) == []


def test_nearly_black_maps_of_a_folder_are_one_line():
    Path("in").mkdir()
    peaks = []
    for n, step in enumerate((2, 3, 40)):  # two faint ramps and one strong one
        ramp = (np.arange(12)[None, :] * step + np.zeros((10, 1))).astype(np.uint8)
        Image.fromarray(ramp).save(f"in/{n}.png")
        peaks.append(np.abs(signal.correlate2d(ramp.astype(float), EDGE, mode="same", boundary="symm")).max())
    result = invoke("apply", "in", "-k", "edge", "-o", "out", "-j", "1")
    dark = sorted(100 * peak / 255 for peak in peaks if peak / 255 < 0.05)
    assert len(dark) == 2
    assert f"warning: edge: 2 of 3 outputs are nearly black (their brightest values are {percent(dark[0])} to " \
           f"{percent(dark[1])} of full scale); {STRETCH}" in warnings(result)


def test_missing_values_are_one_line_for_the_run():
    Path("in").mkdir()
    counts = []
    for n, holes in enumerate(([(3, 3)], [(3, 3), (6, 8)])):
        values = np.full((10, 12), 0.5, np.float32)
        for hole in holes:
            values[hole] = np.nan
        tifffile.imwrite(f"in/{n}.tif", values)
        for kernel in (np.ones((3, 3)), SHARPEN):  # blur, then sharpen: the outputs whose taps read a NaN
            reached = ndimage.binary_dilation(np.isnan(values), structure=kernel[::-1, ::-1] != 0)
            counts.append(int(reached.sum()))
    result = invoke("apply", "in", "-k", "blur", "-k", "sharpen", "-o", "out", "-j", "1")
    assert sorted(counts) == [5, 9, 10, 18]
    assert warnings(result) == [
        f"warning: 4 of 4 outputs hold values that read a NaN or infinite input ({min(counts)} to {max(counts)} per "
        "output), written as 0; --nan ignore fills them from the values around them"]
    result = invoke("apply", "in/1.tif", "-k", "blur", "-o", "one.png")
    assert warnings(result) == ["warning: one.png: 18 values read a NaN or infinite input and are written as 0; "
                                "--nan ignore fills them from the values around them"]


def test_a_writer_warning_repeated_by_every_output_is_one_line():
    Path("in").mkdir()
    for name in "abc":
        pixels = np.random.default_rng(ord(name)).integers(0, 256, (10, 12, 4), dtype=np.uint8)
        pixels[..., 3] = 200
        Image.fromarray(pixels, "RGBA").save(f"in/{name}.png")
    result = invoke("apply", "in", "-k", "blur", "-o", "out", "--format", "jpg", "-j", "1")
    assert warnings(result) == [
        "warning: JPEG has no alpha channel; transparency was dropped (3 files: a_blur.jpg, b_blur.jpg and 1 more)"]
    report = invoke("apply", "in/a.png", "-k", "blur", "-o", "a.jpg", "--report-json", "r.json")
    assert warnings(report) == ["warning: a.jpg: JPEG has no alpha channel; transparency was dropped"]
    assert json.loads(Path("r.json").read_text())["outputs"][0]["warnings"] == [
        "a.jpg: JPEG has no alpha channel; transparency was dropped"]


def test_a_file_name_holding_a_colon_and_space_is_grouped_with_the_others():
    Path("in").mkdir()
    for name in ("a: one", "b", "c"):
        pixels = np.random.default_rng(len(name)).integers(0, 256, (10, 12, 4), dtype=np.uint8)
        Image.fromarray(pixels, "RGBA").save(f"in/{name}.png")
    result = invoke("apply", "in", "-k", "blur", "-o", "out", "--format", "jpg", "-j", "1")
    assert warnings(result) == ["warning: JPEG has no alpha channel; transparency was dropped (3 files: "
                                "a: one_blur.jpg, b_blur.jpg and 1 more)"]
    assert sorted(path.name for path in Path("out").iterdir()) == ["a: one_blur.jpg", "b_blur.jpg", "c_blur.jpg"]


def test_a_bank_named_once_gives_one_clipping_line_for_all_its_kernels():
    up, left = 4 * np.array([[0, 1, 0], [0, 0, 0], [0, -1, 0]]), 4 * np.array([[0, 0, 0], [1, 0, -1], [0, 0, 0]])
    Path("k.toml").write_text(f"[kernels.up]\nweights = {up.tolist()}\n\n[kernels.left]\nweights = {left.tolist()}\n\n"
                              '[banks.pair]\nkernels = ["up", "left"]\n')
    pixels = [np.random.default_rng(n).integers(0, 256, (9, 11), dtype=np.uint8) for n in range(2)]
    for n, image in enumerate(pixels):
        Image.fromarray(image).save(f"{n}.png")
    shares = [clipped_share(image, kernel, absolute=True) for image in pixels for kernel in (up, left)]
    result = invoke("apply", "0.png", "1.png", "-k", "pair", "--kernels", "k.toml", "-o", "out")
    assert sorted(path.name for path in Path("out").iterdir()) == ["0_left.png", "0_up.png", "1_left.png", "1_up.png"]
    assert warnings(result) == [f"warning: pair: values were clipped in 4 of 4 outputs ({percent(min(shares))} to "
                                f"{percent(max(shares))} of their values); {STRETCH}"]
    compass = invoke("apply", SAMPLES / "shapes.png", "-k", "compass", "-k", "sharpen", "-o", "out")
    assert [line.split(":")[1] for line in warnings(compass)] == [" compass", " shapes_sharpen.png"]
    assert "values were clipped in 8 of 8 outputs" in warnings(compass)[0]
