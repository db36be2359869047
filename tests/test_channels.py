"""``--channel``: only the selected channels are filtered; the others are written exactly as they were read.

References are brute force: ``np.pad`` (convcli's ``symmetric`` is NumPy's ``symmetric``) and a sum over
the taps, or ``scipy.ndimage.correlate``, of each selected channel alone, mapped the same way. The
kernel is asymmetric with taps all different, so a flip or a shift cannot pass; the channels not
selected are compared for exact equality with the input's samples.
"""

from __future__ import annotations

import re
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from typer.testing import CliRunner

from convcli.cli import app
from convcli.engine.settings import Settings
from convcli.errors import InputError, ParameterError
from convcli.pipeline.channels import ChannelSelection, Picked
from convcli.pipeline.options import ApplyOptions

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")
pytestmark = pytest.mark.usefixtures("workdir")

# Taps all different, summing to 1 (so a clip map keeps most values), not symmetric in either axis.
KERNEL = np.array([[1, -2, 4], [8, 16, -3], [0, 5, 3]], dtype=np.float64) / 32


def run(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def errors(result) -> list[str]:
    return [line for line in ANSI.sub("", result.stderr).splitlines() if line.startswith(("Error", "failed"))]


def correlate(plane: np.ndarray, kernel: np.ndarray = KERNEL) -> np.ndarray:
    """Correlation with the anchor at the centre, ``symmetric`` boundary (cba|abc), brute force."""
    kh, kw = kernel.shape
    padded = np.pad(plane, ((kh // 2, kh // 2), (kw // 2, kw // 2)), mode="symmetric")
    out = np.zeros(plane.shape)
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * padded[i:i + plane.shape[0], j:j + plane.shape[1]]
    return out


def samples(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".png":
        return imagecodecs.png_decode(path.read_bytes())
    with Image.open(path) as image:
        return np.asarray(image)


def write_png(path: Path, array: np.ndarray) -> None:
    path.write_bytes(imagecodecs.png_encode(array))


def pixels(shape, dtype, seed=3) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, top + 1, shape, dtype=dtype)


@pytest.fixture
def kernel_file(workdir) -> Path:
    np.save(workdir / "k.npy", KERNEL)
    return workdir / "k.npy"


def quantised(values: np.ndarray, top: int) -> np.ndarray:
    return np.rint(np.clip(values, 0, 1) * top)


# ------------------------------------------------------------------------------------ the selection


@pytest.mark.parametrize(("text", "expected"), [
    ("R,G", ("R", "G")), ("r, g", ("R", "G")), ("red green", ("R", "G")), ("0,2", (0, 2)), ("RGB", ("R", "G", "B")),
    ("rg", ("R", "G")), ("A", ("A",)), ("alpha", ("A",)), ("gray", ("L",)), ("grey", ("L",)), ("L", ("L",)),
    ("B,R,B", ("B", "R")), ("Blue,3", ("B", 3)),
])
def test_channel_names_aliases_letter_runs_and_indices(text, expected):
    assert ChannelSelection.parse(text).channels == expected


@pytest.mark.parametrize("text", ["X", "all", "RR", "-1", "cyan"])
def test_an_unknown_channel_is_refused_naming_it(text):
    with pytest.raises(ParameterError) as caught:
        ChannelSelection.parse(text)
    assert str(caught.value) == ("channel takes channel names R, G, B, A (RGB, RGBA images) or L (gray), indices "
                                 f"from 0, or a run of letters such as RG; got {text!r}")


def test_an_empty_selection_is_refused():
    with pytest.raises(ParameterError, match=r"^channel must name at least one channel; got ' , '$"):
        ChannelSelection.parse(" , ")


@pytest.mark.parametrize(("text", "colors", "alpha", "expected"), [
    ("R,B", 3, False, Picked((0, 2), False)),
    ("2,0", 3, True, Picked((0, 2), False)),
    ("A", 3, True, Picked((), True)),
    ("3", 3, True, Picked((), True)),
    ("RGBA", 3, True, Picked((0, 1, 2), True)),
    ("L", 1, False, Picked((0,), False)),
    ("1", 1, True, Picked((), True)),
])
def test_a_selection_picks_an_image_s_channels(text, colors, alpha, expected):
    assert ChannelSelection.parse(text).pick(colors, alpha, "in.png") == expected


@pytest.mark.parametrize(("text", "colors", "alpha", "message"), [
    ("A", 3, False, "in.png: has no channel A to filter (channel A); its channels are R, G, B (0-2)"),
    ("R", 1, False, "in.png: has no channel R to filter (channel R); its channels are L (0)"),
    ("3", 3, False, "in.png: has no channel 3 to filter (channel 3); its channels are R, G, B (0-2)"),
    ("L,2", 1, True, "in.png: has no channel 2 to filter (channel L,2); its channels are L, A (0-1)"),
])
def test_a_channel_the_image_lacks_fails_naming_the_file_and_its_channels(text, colors, alpha, message):
    with pytest.raises(InputError) as caught:
        ChannelSelection.parse(text).pick(colors, alpha, "in.png")
    assert str(caught.value) == message
    assert caught.value.exit_code == 1


@pytest.mark.parametrize(("options", "message"), [
    (dict(gray=True), "channel filters some of the image's channels and gray makes one channel of them all: "
                      "choose one"),
    (dict(settings=Settings(stride=2)), "channel passes the other channels through, so each map must be the size "
                                        "of its input: stride 1 and padding same"),
    (dict(settings=Settings(padding="valid")), "channel passes the other channels through, so each map must be the "
                                               "size of its input: stride 1 and padding same"),
    (dict(colormap="viridis"), "channel writes the other channels as they are; colormap and overlay draw the map in "
                               "colours of their own: choose one"),
    (dict(settings=Settings(nodata=0)), "channel passes the other channels through as they are stored, and nodata "
                                        "marks values missing in every channel: leave out one of them"),
])
def test_options_that_cannot_pass_channels_through_are_refused(options, message):
    with pytest.raises(ParameterError) as caught:
        ApplyOptions(channel="R", **options)
    assert str(caught.value) == message


# ------------------------------------------------------------------------------------------ the CLI


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(("selection", "filtered"), [("R,G", [0, 1]), ("0,2", [0, 2]), ("b", [2]), ("RGB", [0, 1, 2])])
def test_selected_channels_are_filtered_and_the_others_are_the_input(kernel_file, dtype, selection, filtered):
    source = pixels((13, 17, 3), dtype)
    write_png(Path("in.png"), source)
    result = run("apply", "in.png", "-k", kernel_file, "--channel", selection, "--map", "clip", "-o", "out.png")
    assert result.exit_code == 0, result.output
    out = samples(Path("out.png"))
    top = np.iinfo(dtype).max
    assert out.dtype == dtype and out.shape == source.shape
    for channel in range(3):
        if channel in filtered:
            expected = quantised(correlate(source[..., channel] / top), top)
            assert np.abs(out[..., channel] - expected).max() <= 1  # float32 against float64 rounding
        else:
            assert np.array_equal(out[..., channel], source[..., channel])


def test_minmax_stretches_the_selected_channels_together_and_leaves_the_others(kernel_file):
    source = pixels((12, 11, 3), np.uint8, seed=5)
    write_png(Path("in.png"), source)
    result = run("apply", "in.png", "-k", kernel_file, "--channel", "R,B", "--map", "minmax", "-o", "out.npy")
    assert result.exit_code == 0, result.output
    out = np.load("out.npy")
    maps = np.dstack([correlate(source[..., c] / 255.0) for c in (0, 2)])
    stretched = (maps - maps.min()) / (maps.max() - maps.min())
    np.testing.assert_allclose(out[..., [0, 2]], stretched, atol=1e-5)
    assert np.array_equal(out[..., 1], (source[..., 1] / np.float32(255)).astype(np.float32))


def test_raw_maps_keep_the_other_channels_floats(kernel_file):
    source = pixels((9, 10, 3), np.uint16, seed=6)
    write_png(Path("in.png"), source)
    result = run("apply", "in.png", "-k", kernel_file, "--channel", "G", "--map", "raw", "-o", "out.npy")
    assert result.exit_code == 0, result.output
    out = np.load("out.npy")
    np.testing.assert_allclose(out[..., 1], correlate(source[..., 1] / 65535.0), atol=1e-6)
    assert np.array_equal(out[..., [0, 2]], source[..., [0, 2]].astype(np.float32) / np.float32(65535))


def test_global_range_is_that_of_the_selected_channels_of_the_run(kernel_file):
    first, second = pixels((10, 9, 3), np.uint8, seed=7), pixels((10, 9, 3), np.uint8, seed=8)
    write_png(Path("a.png"), first)
    write_png(Path("b.png"), second)
    result = run("apply", "a.png", "b.png", "-k", kernel_file, "--channel", "R", "--map", "global", "-o", "out",
                 "--name", "{stem}.npy")
    assert result.exit_code == 0, result.output
    maps = [correlate(image[..., 0] / 255.0) for image in (first, second)]
    low, high = min(m.min() for m in maps), max(m.max() for m in maps)
    for image, plane, name in zip((first, second), maps, ("a", "b")):
        out = np.load(f"out/{name}.npy")
        np.testing.assert_allclose(out[..., 0], (plane - low) / (high - low), atol=1e-5)
        assert np.array_equal(out[..., 1:], image[..., 1:] / np.float32(255))


def test_a_gray_image_takes_l(kernel_file):
    source = pixels((11, 12), np.uint16, seed=9)
    write_png(Path("in.png"), source)
    result = run("apply", "in.png", "-k", kernel_file, "--channel", "L", "--map", "clip", "-o", "out.png")
    assert result.exit_code == 0, result.output
    out = samples(Path("out.png"))
    assert out.dtype == np.uint16
    assert np.abs(out - quantised(correlate(source / 65535.0), 65535)).max() <= 1


def rgba_input(dtype=np.uint8) -> np.ndarray:
    source = pixels((14, 13, 4), dtype, seed=10)
    source[3:7, 2:6, 3] = 0  # transparent, its colour garbage
    return source


def test_alpha_selected_alone_is_filtered_as_a_plain_channel(kernel_file):
    source = rgba_input()
    write_png(Path("in.png"), source)
    result = run("apply", "in.png", "-k", kernel_file, "--channel", "A", "--map", "clip", "-o", "out.png")
    assert result.exit_code == 0, result.output
    out = samples(Path("out.png"))
    assert np.array_equal(out[..., :3], source[..., :3])
    expected = quantised(ndimage.correlate(source[..., 3] / 255.0, KERNEL, mode="reflect"), 255)
    assert np.abs(out[..., 3] - expected).max() <= 1


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_colour_selected_on_rgba_is_alpha_weighted_and_the_alpha_is_kept(kernel_file, dtype):
    source = rgba_input(dtype)
    top = np.iinfo(dtype).max
    write_png(Path("in.png"), source)
    result = run("apply", "in.png", "-k", kernel_file, "--channel", "R", "--map", "clip", "-o", "out.png")
    assert result.exit_code == 0, result.output
    out = samples(Path("out.png"))
    assert out.dtype == dtype
    assert np.array_equal(out[..., 1:], source[..., 1:])  # G, B and the alpha exactly
    color, alpha = source[..., 0] / top, source[..., 3] / top
    coverage = np.clip(correlate(alpha, np.abs(KERNEL)) / np.abs(KERNEL).sum(), 0, 1)
    weighted = np.divide(correlate(color * alpha), coverage, out=np.zeros_like(coverage), where=coverage > 1e-6)
    assert np.abs(out[..., 0] - quantised(weighted, top)).max() <= 1


def test_every_channel_of_rgba_selected(kernel_file):
    source = rgba_input()
    write_png(Path("in.png"), source)
    result = run("apply", "in.png", "-k", kernel_file, "--channel", "RGBA", "--map", "raw", "-o", "out.npz")
    assert result.exit_code == 0, result.output
    with np.load("out.npz") as stored:
        color, alpha = stored[stored.files[0]], stored[stored.files[1]]
    np.testing.assert_allclose(alpha, correlate(source[..., 3] / 255.0), atol=1e-6)
    opaque = source[..., 3] == 255
    inside = ndimage.minimum_filter(opaque, size=3, mode="nearest")  # every tap opaque: the plain filter
    np.testing.assert_allclose(color[inside, 1], correlate(source[..., 1] / 255.0)[inside], atol=1e-6)


def test_combine_and_stack_keep_the_other_channels(kernel_file):
    source = pixels((10, 12, 3), np.uint8, seed=11)
    write_png(Path("in.png"), source)
    result = run("apply", "in.png", "-k", "sobel_x", "-k", "sobel_y", "--combine", "magnitude", "--channel", "G",
                 "--map", "raw", "-o", "mag.npy")
    assert result.exit_code == 0, result.output
    out = np.load("mag.npy")
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    plane = source[..., 1] / 255.0
    magnitude = np.hypot(correlate(plane, sobel_x), correlate(plane, sobel_x.T))
    np.testing.assert_allclose(out[..., 1], magnitude, atol=1e-5)
    assert np.array_equal(out[..., [0, 2]], source[..., [0, 2]] / np.float32(255))
    result = run("apply", "in.png", "-k", kernel_file, "-k", "blur", "--stack", "--channel", "B", "--map", "clip",
                 "-o", "maps.npy")
    assert result.exit_code == 0, result.output
    stack = np.load("maps.npy")
    assert stack.shape == (2, 10, 12, 3)
    assert np.array_equal(stack[:, ..., :2], np.broadcast_to(source[..., :2] / np.float32(255), (2, 10, 12, 2)))


def test_a_file_without_the_channel_fails_alone_in_a_batch(kernel_file):
    write_png(Path("rgba.png"), rgba_input())
    write_png(Path("rgb.png"), pixels((8, 9, 3), np.uint8))
    result = run("apply", "rgb.png", "rgba.png", "-k", kernel_file, "-k", "blur", "--channel", "A", "-o", "out", "-q")
    assert result.exit_code == 1
    assert errors(result) == ["failed: rgb.png: has no channel A to filter (--channel A); its channels are R, G, B "
                              "(0-2)"]
    assert sorted(p.name for p in Path("out").iterdir()) == ["rgba_blur.png", "rgba_k.png"]


@pytest.mark.parametrize(("args", "message"), [
    (["--gray"], "Error: --channel filters some of the image's channels and --gray makes one channel of them all: "
                 "choose one"),
    (["--stride", "2"], "Error: --channel passes the other channels through, so each map must be the size of its "
                        "input: --stride 1 and --padding same"),
    (["--padding", "valid"], "Error: --channel passes the other channels through, so each map must be the size of "
                             "its input: --stride 1 and --padding same"),
    (["--depthwise", "-k", "blur", "-k", "blur"], "Error: --channel filters each channel on its own, and depthwise "
                                                  "'depthwise' mixes the channels: leave out --channel"),
])
def test_refusals_come_before_any_work(args, message):
    write_png(Path("in.png"), pixels((8, 9, 3), np.uint8))
    result = run("apply", "in.png", "-k", "blur", "--channel", "R", *args, "-o", "out.png")
    assert result.exit_code == 2
    assert errors(result) == [message]
    assert not Path("out.png").exists()


def test_a_bad_channel_name_is_a_usage_error():
    write_png(Path("in.png"), pixels((8, 9, 3), np.uint8))
    result = run("apply", "in.png", "-k", "blur", "--channel", "R,Q", "-o", "out.png")
    assert result.exit_code == 2
    assert errors(result) == ["Error: --channel takes channel names R, G, B, A (RGB, RGBA images) or L (gray), "
                              "indices from 0, or a run of letters such as RG; got 'Q'"]


def test_the_manifest_names_the_selection_as_one_spelling():
    from convcli.pipeline.manifest import fingerprint

    digest, settings = fingerprint([], ApplyOptions(channel="r, alpha"))
    assert settings["options"]["channel"] == "R,A"
    assert digest == fingerprint([], ApplyOptions(channel="RA"))[0]
    assert digest != fingerprint([], ApplyOptions(channel="R"))[0]
    assert fingerprint([], ApplyOptions())[1]["options"]["channel"] is None
