"""Feature maps out: stacks, combines, global mapping, clipping counts, colour maps, overlays, montages,
bit depths and the JSON report's schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from helpers import stack_names
from PIL import Image, ImageSequence
from scipy import signal
from typer.testing import CliRunner

from convcli.cli import app
from convcli.engine.settings import Settings
from convcli.kernels.library import load_library
from convcli.kernels.specs import resolve_kernels
from convcli.pipeline.batch import run
from convcli.pipeline.options import ApplyOptions
from convcli.pipeline.planning import plan
from convcli.pipeline.results import report_schema
from convcli.pixels.colormaps import apply_colormap, lookup_table, overlay
from convcli.pixels.mapping import apply_map

runner = CliRunner()
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
SOBEL_Y = SOBEL_X.T


pytestmark = pytest.mark.usefixtures("workdir")  # an empty folder of its own (conftest.py)


def gray(seed=0, shape=(12, 15)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def save(name, array) -> Path:
    Image.fromarray(array).save(name)
    return Path(name)


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def reference(pixels: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return signal.correlate2d(pixels / 255.0, kernel, mode="same", boundary="symm")


def test_clipping_counts_on_hand_made_values():
    values = np.array([[-2.0, -0.5, 0.0], [0.5, 1.0, 3.0]])
    assert (apply_map(values, "clip").clipped_low, apply_map(values, "clip").clipped_high) == (2, 1)
    assert (apply_map(values, "abs").clipped_low, apply_map(values, "abs").clipped_high) == (0, 2)
    assert (apply_map(values, "offset").clipped_low, apply_map(values, "offset").clipped_high) == (1, 2)
    assert (apply_map(values, "minmax").clipped_low, apply_map(values, "minmax").clipped_high) == (0, 0)
    mapped = apply_map(values, "global", global_range=(-1.0, 1.0))
    np.testing.assert_allclose(mapped.values, [[0, 0.25, 0.5], [0.75, 1, 1]])
    assert (mapped.clipped_low, mapped.clipped_high) == (1, 1)
    assert mapped.clipped_fraction == pytest.approx(2 / 6)


def test_report_counts_clipped_values_and_warns():
    pixels = gray()
    save("a.png", pixels)
    result = invoke("apply", "a.png", "-k", "sobel_x", "-o", "out.png", "--map", "clip", "--report-json", "r.json")
    assert result.exit_code == 0, result.output
    values = reference(pixels, SOBEL_X)
    output = json.loads(Path("r.json").read_text())["outputs"][0]
    # Values within float32 rounding of 0 or 1 may land on either side, whatever the summation order.
    near = np.count_nonzero(np.abs(values) < 1e-6) + np.count_nonzero(np.abs(values - 1) < 1e-6)
    assert abs(output["clipped_low"] - np.count_nonzero(values < 0)) <= near
    assert abs(output["clipped_high"] - np.count_nonzero(values > 1)) <= near
    assert output["values"] == values.size
    # The user asked for clip: the counts are reported, but not warned of.
    assert "warning:" not in result.stderr
    result = invoke("apply", "a.png", "-k", "sobel_x", "-o", "out.png", "--map", "offset")
    shifted = values + 0.5
    low, high = 100 * np.count_nonzero(shifted < 0) / values.size, 100 * np.count_nonzero(shifted > 1) / values.size
    assert result.stderr.count("warning:") == 1
    assert (f"warning: out.png: {low + high:.1f}% of the values were clipped ({low:.1f}% low, {high:.1f}% high); "
            "--map minmax stretches each map's own range to 0..1\n") in result.stderr


def test_global_mapping_shares_one_range_across_two_images():
    dark, bright = (gray(1) // 4), (gray(2) // 2 + 128)
    save("dark.png", dark.astype(np.uint8))
    save("bright.png", bright.astype(np.uint8))
    options = ApplyOptions(Settings(boundary="symmetric"), map="global")
    library = load_library()
    targets = plan([Path("dark.png"), Path("bright.png")], resolve_kernels(["laplacian"], library), "out", options)
    result = run(targets, options)
    maps = [reference(p.astype(float), library["laplacian"].weights) for p in (dark, bright)]
    low, high = min(m.min() for m in maps), max(m.max() for m in maps)
    assert result.global_range == pytest.approx((low, high))
    for name, values in zip(("dark", "bright"), maps):
        written = np.asarray(Image.open(f"out/{name}_laplacian.png"), dtype=float)
        np.testing.assert_allclose(written, np.rint((values - low) / (high - low) * 255), atol=1)
    # The two maps were stretched together: their own ranges are narrower than 0..255.
    assert np.asarray(Image.open("out/dark_laplacian.png")).max() < 255 or \
        np.asarray(Image.open("out/bright_laplacian.png")).min() > 0


@pytest.mark.parametrize("how", ["magnitude", "max", "sum", "argmax"])
def test_combine_reduces_the_run_kernels_like_numpy(how):
    pixels = gray()
    save("a.png", pixels)
    result = invoke("apply", "a.png", "-k", "sobel_x", "-k", "sobel_y", "--combine", how, "-o", "out", "--map", "raw",
                    "--name", "{stem}_{kernel}.npy")
    assert result.exit_code == 0, result.output
    maps = np.stack([reference(pixels, SOBEL_X), reference(pixels, SOBEL_Y)])
    expected = {"magnitude": np.sqrt((maps ** 2).sum(0)), "max": maps.max(0), "sum": maps.sum(0),
                "argmax": maps.argmax(0)}[how]
    np.testing.assert_allclose(np.load(f"out/a_{how}.npy"), expected, atol=1e-5)
    assert f"bank of 2 kernels combined by {how}" in result.stderr


def test_stack_npz_round_trip_names_and_shapes():
    pixels = gray()
    save("a.png", pixels)
    result = invoke("apply", "a.png", "-k", "sobel_x", "-k", "sobel_y", "-k", "blur", "--stack", "-o", "out",
                    "--map", "raw")
    assert result.exit_code == 0, result.output
    with np.load("out/a_stack.npz") as stack:
        assert list(stack.keys()) == ["sobel_x", "sobel_y", "blur"]
        np.testing.assert_allclose(stack["sobel_x"], reference(pixels, SOBEL_X), atol=1e-5)
        assert stack["blur"].shape == pixels.shape


def test_stack_npy_and_tif():
    pixels = gray()
    save("a.png", pixels)
    assert invoke("apply", "a.png", "-k", "compass", "--stack", "-o", "s.npy", "--map", "raw").exit_code == 0
    assert np.load("s.npy").shape == (8, *pixels.shape)
    assert invoke("apply", "a.png", "-k", "sobel_x", "-k", "sobel_y", "--stack", "-o", "s.tif",
                  "--map", "abs").exit_code == 0
    assert stack_names("s.tif") == ["sobel_x", "sobel_y"]
    with Image.open("s.tif") as image:
        pages = [np.asarray(page) for page in ImageSequence.Iterator(image)]
    assert len(pages) == 2
    np.testing.assert_allclose(pages[1], np.rint(np.clip(np.abs(reference(pixels, SOBEL_Y)), 0, 1) * 255))


def test_stack_needs_a_stack_format():
    save("a.png", gray())
    result = invoke("apply", "a.png", "-k", "blur", "--stack", "-o", "s.png")
    assert result.exit_code == 2
    assert result.stderr == "Error: --stack writes one file per input: use .npz, .npy or .tif, not .png\n"


def test_sixteen_bit_round_trip_through_identity_is_lossless():
    ramp = (np.arange(30 * 40).reshape(30, 40) * 53 % 65536).astype(np.uint16)
    save("deep.png", ramp)
    for ext in ("png", "tif"):
        assert invoke("apply", "deep.png", "-k", "identity", "-o", f"out.{ext}").exit_code == 0
        with Image.open(f"out.{ext}") as out:
            assert out.mode == "I;16"
            np.testing.assert_array_equal(np.asarray(out), ramp)


def test_colormaps():
    from convcli.choices import COLORMAPS
    from convcli.pixels.colormaps import _STOPS

    assert set(_STOPS) == set(COLORMAPS)  # every name offered has its colour stops
    for name in ("viridis", "inferno", "gray", "coolwarm"):
        table = lookup_table(name)
        assert table.shape == (256, 3) and table.min() >= 0 and table.max() <= 1
    brightness = lookup_table("viridis") @ [0.299, 0.587, 0.114]
    assert np.all(np.diff(brightness) > 0)  # sequential: brighter as the value rises
    cool = lookup_table("coolwarm")
    assert cool[0, 2] > cool[0, 0] and cool[-1, 0] > cool[-1, 2]  # blue below, red above
    assert np.allclose(cool[128], cool[128].mean(), atol=0.02)  # grey in the middle
    np.testing.assert_allclose(apply_colormap(np.array([[0.0, 1.0]]), "viridis")[0],
                               [[0x44 / 255, 0x01 / 255, 0x54 / 255], [0xFD / 255, 0xE7 / 255, 0x25 / 255]], atol=1e-6)


def test_colormap_and_overlay_through_the_cli():
    pixels = gray()
    save("a.png", pixels)
    assert invoke("apply", "a.png", "-k", "sobel_x", "--colormap", "coolwarm", "--map", "offset",
                  "-o", "c.png").exit_code == 0
    coloured = np.asarray(Image.open("c.png"), dtype=float) / 255
    strength = np.clip(reference(pixels, SOBEL_X) + 0.5, 0, 1)
    step = 0.015  # a value on the boundary of two table entries may fall either side in float32
    np.testing.assert_allclose(coloured, apply_colormap(strength, "coolwarm"), atol=step)
    assert invoke("apply", "a.png", "-k", "edge", "--overlay", "-o", "o.png").exit_code == 0
    blended = np.asarray(Image.open("o.png"), dtype=float) / 255
    strength = np.clip(np.abs(reference(pixels, np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1.0]]))), 0, 1)
    expected = overlay(pixels / 255.0, strength, apply_colormap(strength, "inferno"))
    np.testing.assert_allclose(blended, expected, atol=step)


def test_overlay_needs_the_input_size():
    save("a.png", gray())
    result = invoke("apply", "a.png", "-k", "edge", "--overlay", "--stride", "2", "-o", "o.png")
    assert result.exit_code == 2  # a usage mistake, found before any image is read
    assert result.stderr == "Error: --overlay needs each map the size of its input: --stride 1 and --padding same\n"
    result = invoke("apply", "a.png", "-k", "edge", "-o", "out", "--name", "../{stem}_{kernel}.png")
    assert result.exit_code == 2
    assert result.stderr == "Error: --name template '../{stem}_{kernel}.png' must stay inside the --output folder\n"


def test_montage_has_a_row_per_input_and_a_tile_per_map():
    save("a.png", gray(1))
    save("b.png", gray(2))
    result = invoke("apply", "a.png", "b.png", "-k", "edge", "-k", "blur", "-k", "sobel", "-o", "out",
                    "--montage", "sheet.png")
    assert result.exit_code == 0, result.output
    with Image.open("sheet.png") as sheet:
        size = sheet.size
    # 4 columns (input + 3 maps) of 15-pixel tiles, 2 rows of 12-pixel tiles under 20-pixel labels.
    assert size == (4 * (15 + 4) + 4, 2 * (12 + 20 + 4) + 4)
    assert "montage: sheet.png" in result.stderr


def test_quality_changes_jpeg_size():
    save("a.png", gray(3, (64, 64)))
    invoke("apply", "a.png", "-k", "sharpen", "-o", "low.jpg", "--quality", "10")
    invoke("apply", "a.png", "-k", "sharpen", "-o", "high.jpg", "--quality", "100")
    assert Path("low.jpg").stat().st_size < Path("high.jpg").stat().st_size
    result = invoke("apply", "a.png", "-k", "sharpen", "-o", "x.jpg", "--quality", "0")
    assert result.exit_code == 2 and result.stderr.endswith("Error: Invalid value for '--quality': 0 is not in "
                                                            "the range 1<=x<=100.\n")


def test_quiet_prints_only_errors():
    save("a.png", gray())
    Path("broken.png").write_bytes(b"not a png")
    result = invoke("apply", "a.png", "broken.png", "-k", "edge", "-o", "out", "--quiet")
    assert result.exit_code == 1
    assert result.stderr == "failed: broken.png: not an image Pillow can read\n"
    assert invoke("apply", "a.png", "-k", "edge", "-o", "out2", "-q").stderr == ""


def test_json_report_validates_against_its_schema():
    save("a.png", gray())
    Path("broken.png").write_bytes(b"not a png")
    invoke("apply", "a.png", "broken.png", "-k", "edge", "-k", "smooth_edges", "-o", "out", "--verify",
           "--map", "global", "--montage", "m.png", "--report-json", "r.json")
    report = json.loads(Path("r.json").read_text())
    jsonschema.validate(report, report_schema())
    assert report["version"] == 1 and len(report["outputs"]) == 2 and len(report["failures"]) == 1
    invoke("apply", "a.png", "-k", "sobel_x", "-k", "blur", "--stack", "-o", "s", "--report-json", "s.json")
    jsonschema.validate(json.loads(Path("s.json").read_text()), report_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**report, "version": 2}, report_schema())


def test_icc_profile_and_dpi_are_kept_and_dpi_follows_the_stride():
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = np.random.default_rng(4).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb).save("c.png", icc_profile=profile, dpi=(300, 300))
    assert invoke("apply", "c.png", "-k", "sharpen", "-o", "same.png").exit_code == 0
    with Image.open("same.png") as out:
        assert out.info.get("icc_profile") == profile
        assert out.info["dpi"] == pytest.approx((300, 300), abs=0.5)
    assert invoke("apply", "c.png", "-k", "sharpen", "-o", "half.tif", "--stride", "2").exit_code == 0
    with Image.open("half.tif") as out:
        assert out.info.get("icc_profile") == profile
        assert out.info["dpi"] == pytest.approx((150, 150), abs=0.5)  # half the pixels over the same inches
    assert invoke("apply", "c.png", "-k", "sharpen", "-o", "gray.png", "--gray").exit_code == 0
    with Image.open("gray.png") as out:
        assert "icc_profile" not in out.info  # an RGB profile does not describe a gray image
