"""The Python API: ``convcli.kernel``, ``convcli.filter_image`` and ``convcli.KernelFilter``.

References are independent of the engine: kernels written out here, ``scipy.signal.correlate2d`` and
``np.pad`` with a brute-force sum, OpenCV's ``filter2D``, and the files ``convcli apply`` writes (the
command line's own output, which filter_image must match pixel for pixel).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy.signal import convolve2d, correlate2d
from typer.testing import CliRunner

import convcli
from convcli.cli import app
from convcli.errors import ConvcliError, KernelError, ParameterError, UnfoldableKernelError
from tests.helpers import powers_of_two

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64)
EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64)
SOBEL_X = np.outer([1, 2, 1], [-1, 0, 1]).astype(np.float64)
SOBEL_Y = np.outer([-1, 0, 1], [1, 2, 1]).astype(np.float64)


def brute_force(image: np.ndarray, kernel: np.ndarray, mode: str = "symmetric", stride: int = 1,
                dilation: int = 1) -> np.ndarray:
    """The contract's formula, tap by tap, on an ``np.pad``-ed image (padding same)."""
    kh, kw = kernel.shape
    ai, aj = (kh - 1) // 2, (kw - 1) // 2
    top, bottom, left, right = ai * dilation, (kh - 1 - ai) * dilation, aj * dilation, (kw - 1 - aj) * dilation
    padded = np.pad(image, ((top, bottom), (left, right)), mode=mode)
    height, width = image.shape
    out = np.zeros((height, width))
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * padded[i * dilation:i * dilation + height, j * dilation:j * dilation + width]
    return out[::stride, ::stride]


def quantised(values: np.ndarray, top: int) -> np.ndarray:
    return np.rint(np.clip(values, 0, 1) * top)


# ------------------------------------------------------------------------------------------- kernel


def test_kernel_of_a_library_name_is_its_weights_as_a_new_float64_array():
    weights = convcli.kernel("sharpen")
    assert weights.dtype == np.float64 and weights.flags.writeable
    np.testing.assert_array_equal(weights, SHARPEN)
    weights[0, 0] = 9  # a copy: the library's kernel is untouched
    np.testing.assert_array_equal(convcli.kernel("sharpen"), SHARPEN)


def test_kernel_of_a_generator_call_is_the_sampled_normalised_gaussian():
    y, x = np.mgrid[-4:5, -4:5]
    expected = np.exp(-(x ** 2 + y ** 2) / (2 * 2.0 ** 2))
    np.testing.assert_allclose(convcli.kernel("gaussian:size=9,sigma=2"), expected / expected.sum(), rtol=1e-12)
    assert convcli.kernel("gaussian:sigma=2").sum() == pytest.approx(1.0, abs=1e-12)


def test_kernel_of_an_inline_matrix():
    np.testing.assert_array_equal(convcli.kernel("1 2 1; 2 4 2; 1 2 1"), np.outer([1, 2, 1], [1, 2, 1]))
    np.testing.assert_array_equal(convcli.kernel("0,-1,0; -1,5,-1; 0,-1,0"), SHARPEN)


def test_kernel_of_npy_files_a_matrix_and_a_bank(tmp_path):
    matrix, bank = powers_of_two((2, 3)), np.stack([powers_of_two((3, 3)), -powers_of_two((3, 3))])
    np.save(tmp_path / "m.npy", matrix)
    np.save(tmp_path / "b.npy", bank)
    np.testing.assert_array_equal(convcli.kernel(str(tmp_path / "m.npy")), matrix)
    np.testing.assert_array_equal(convcli.kernel(tmp_path / "b.npy"), bank)  # a Path too


def test_kernel_of_a_one_member_npy_bank_stays_a_bank(tmp_path):
    bank = powers_of_two((3, 3))[None]
    np.save(tmp_path / "b1.npy", bank)
    got = convcli.kernel(tmp_path / "b1.npy")
    assert got.shape == (1, 3, 3)
    np.testing.assert_array_equal(got, bank)


def test_kernel_of_a_one_member_toml_bank_stays_a_bank(tmp_path):
    (tmp_path / "k.toml").write_text("[banks.one]\nkernels = ['sharpen']\n")
    np.testing.assert_array_equal(convcli.kernel("one", kernels_files=tmp_path / "k.toml"), SHARPEN[None])


def test_kernel_of_an_anchored_kernel_is_its_weights_as_written(tmp_path):
    written = np.arange(1.0, 10.0).reshape(3, 3)
    np.testing.assert_array_equal(convcli.kernel("3x3+0+0: 1,2,3,4,5,6,7,8,9"), written)
    np.testing.assert_array_equal(convcli.kernel("3x2+2+1: 1,2,3 4,5,6"), [[1, 2, 3], [4, 5, 6]])
    (tmp_path / "k.toml").write_text(f"[kernels.corner]\nweights = {written.tolist()}\nanchor = [0, 0]\n"
                                     "[banks.corners]\nkernels = ['corner', 'corner']\n")
    np.testing.assert_array_equal(convcli.kernel("corners", kernels_files=tmp_path / "k.toml"),
                                  np.stack([written, written]))


def test_kernel_of_a_bank_of_different_anchors_lines_the_anchors_up(tmp_path):
    (tmp_path / "k.toml").write_text("[kernels.corner]\nweights = [[1, 2], [3, 4]]\nanchor = [1, 1]\n"
                                     "[kernels.dot]\nweights = [[5]]\n[banks.both]\nkernels = ['corner', 'dot']\n")
    np.testing.assert_array_equal(convcli.kernel("both", kernels_files=tmp_path / "k.toml"),
                                  [[[1, 2], [3, 4]], [[0, 0], [0, 5]]])


def test_kernel_of_a_bank_stacks_its_members():
    np.testing.assert_array_equal(convcli.kernel("sobel"), np.stack([SOBEL_X, SOBEL_Y]))
    assert convcli.kernel("compass").shape == (8, 3, 3)


def test_kernel_of_a_bank_of_different_sizes_pads_each_about_its_anchor(tmp_path):
    small, even, large = powers_of_two((3, 3)), powers_of_two((2, 4)), powers_of_two((5, 5))
    (tmp_path / "k.toml").write_text(
        f"[kernels.small]\nweights = {small.tolist()}\n[kernels.even]\nweights = {even.tolist()}\n"
        f"[kernels.large]\nweights = {large.tolist()}\n[banks.mixed]\nkernels = ['small', 'even', 'large']\n"
        "combine = 'max'\n")
    stack = convcli.kernel("mixed", kernels_files=tmp_path / "k.toml")
    assert stack.shape == (3, 5, 5)
    picture = np.random.default_rng(1).random((12, 13))
    for member, plane in zip((small, even, large), stack):  # each plane gives its member's maps
        np.testing.assert_allclose(correlate2d(picture, plane, mode="same"), correlate2d(picture, member, mode="same"),
                                   rtol=1e-12, atol=1e-9)


def test_kernel_of_a_chain_is_the_kernel_it_folds_into(tmp_path):
    (tmp_path / "k.toml").write_text("[kernels.step]\nweights = [[1, 2], [0, -1]]\n"
                                     "[chains.twice]\nkernels = ['blur', 'step', 'sharpen']\n")
    folded = convcli.kernel("twice", kernels_files=[tmp_path / "k.toml"])
    picture = np.random.default_rng(2).random((30, 31))
    one_after_another = picture
    for step in (np.outer([1, 2, 1], [1, 2, 1]) / 16, np.array([[1, 2], [0, -1]]), SHARPEN):
        one_after_another = correlate2d(one_after_another, step, mode="same")
    inner = (slice(6, -6), slice(6, -6))  # away from the borders, where the steps' zeros differ
    np.testing.assert_allclose(correlate2d(picture, folded, mode="same")[inner], one_after_another[inner],
                               rtol=1e-12, atol=1e-12)


def test_kernel_reads_kernels_files_over_the_builtins(tmp_path):
    (tmp_path / "mine.toml").write_text("[kernels.sharpen]\nweights = [[1, 2, 3]]\n")
    np.testing.assert_array_equal(convcli.kernel("sharpen", kernels_files=str(tmp_path / "mine.toml")), [[1, 2, 3]])


def test_kernel_of_an_unknown_name_says_what_was_meant():
    with pytest.raises(KernelError) as caught:
        convcli.kernel("sharpn")
    assert isinstance(caught.value, ConvcliError)
    assert str(caught.value) == "unknown kernel 'sharpn' (did you mean 'sharpen'?)"


def test_kernel_of_layer_weights_is_refused_as_not_one_kernel(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("layer.npy", np.ones((2, 3, 3, 3)))
    with pytest.raises(UnfoldableKernelError) as caught:
        convcli.kernel("layer.npy")
    assert isinstance(caught.value, KernelError)
    assert str(caught.value) == ("layer.npy: layer channel 'layer_0' is 3 kernels summed over the input channels, "
                                 "not one 2-D kernel; convcli.kernel gives the weights of a kernel, a bank or a "
                                 "chain that folds into one kernel")


def test_kernel_takes_a_spec_not_an_array():
    with pytest.raises(ParameterError) as caught:
        convcli.kernel([[1, 2], [3, 4]])
    assert str(caught.value) == "spec must be a kernel as -k takes it (a string or a path); got list"


# ------------------------------------------------------------- filter_image: the command line's pixels


CLI_CASES = [
    ("shapes.png", "sharpen", []),
    ("sprite.png", "sharpen", []),  # RGBA: the alpha as the command line filters it
    ("zoneplate.png", "edge", []),
    ("depth16.png", "edge", []),  # I;16 in, 16-bit out
    ("sprite.png", "gaussian:sigma=2", ["--stride", "2"]),
    ("shapes.png", "emboss", ["--gray"]),
    ("spinner.gif", "blur", ["--frame", "0"]),  # a palette image: RGB out
    ("shapes.png", "sobel", ["--boundary", "replicate"]),
    ("sprite.png", "edge", ["--map", "minmax"]),
    ("zoneplate.png", "1,2,0; 0,1,0; 0,0,-2", ["--flip", "--dilation", "2", "--padding", "valid"]),
    ("zoneplate.png", "edge", ["--colormap", "viridis"]),
    ("shapes.png", "soft_edges", ["--kernels", str(SAMPLES / "my_kernels.toml")]),  # a chain, its map clip
    ("sprite.png", "diagonal", ["--kernels", str(SAMPLES / "my_kernels.toml"), "--stride", "3"]),  # a bias
    ("shapes.png", "relief", ["--kernels", str(SAMPLES / "my_kernels.toml"), "--combine", "max"]),
]


def _options(extra: list[str]) -> dict:
    options, words = {}, iter(extra)
    for word in words:
        key = {"kernels": "kernels_files"}.get(word.lstrip("-"), word.lstrip("-").replace("-", "_"))
        if key in ("gray", "flip"):
            options[key] = True
        elif key != "frame":
            value = next(words)
            options[key] = int(value) if value.isdigit() else value
        else:
            next(words)
    return options


@pytest.mark.parametrize(("name", "spec", "extra"), CLI_CASES)
def test_filter_image_of_a_pil_image_gives_the_pixels_convcli_apply_writes(tmp_path, name, spec, extra):
    """A consistency test: the API and the command run the same pipeline, so this catches them drifting
    apart, not a wrong result (the tests below hold the results to references)."""
    out = tmp_path / "out.png"
    done = CliRunner().invoke(app, ["apply", str(SAMPLES / name), "-k", spec, "-o", str(out), "-q", *extra])
    assert done.exit_code == 0, done.output
    with Image.open(out) as written, Image.open(SAMPLES / name) as image:
        result = convcli.filter_image(image, spec, **_options(extra))
        assert (result.mode, result.size) == (written.mode, written.size)
        np.testing.assert_array_equal(np.asarray(result), np.asarray(written))


# ---------------------------------------------------------------- filter_image: arrays against references


def test_float_arrays_give_float_maps_against_brute_force():
    picture = np.random.default_rng(3).random((11, 14))
    kernel = powers_of_two((3, 4)) / 64
    raw = convcli.filter_image(picture, kernel, map="raw")
    assert raw.dtype == np.float64
    np.testing.assert_allclose(raw, brute_force(picture, kernel), rtol=1e-12, atol=1e-12)
    clipped = convcli.filter_image(picture, kernel, map="clip")
    np.testing.assert_allclose(clipped, np.clip(brute_force(picture, kernel), 0, 1), rtol=1e-12, atol=1e-12)
    assert convcli.filter_image(picture.astype(np.float32), kernel).dtype == np.float32


@pytest.mark.parametrize("mode", ["symmetric", "edge", "reflect", "wrap"])
def test_boundary_stride_and_dilation_match_np_pad(mode):
    boundary = {"symmetric": "symmetric", "edge": "edge", "reflect": "mirror", "wrap": "wrap"}[mode]
    picture = np.random.default_rng(4).random((16, 13, 3))
    kernel = powers_of_two((3, 3)) / 32
    out = convcli.filter_image(picture, kernel, boundary=boundary, stride=2, dilation=2, map="raw")
    for channel in range(3):
        np.testing.assert_allclose(out[..., channel], brute_force(picture[..., channel], kernel, mode, 2, 2),
                                   rtol=1e-12, atol=1e-12)


def test_padding_valid_and_flip_match_scipy():
    picture = np.random.default_rng(5).random((12, 15))
    kernel = powers_of_two((4, 3))
    np.testing.assert_allclose(convcli.filter_image(picture, kernel, padding="valid", map="raw"),
                               correlate2d(picture, kernel, mode="valid"), rtol=1e-12)
    np.testing.assert_allclose(convcli.filter_image(picture, kernel, padding="valid", flip=True, map="raw"),
                               convolve2d(picture, kernel, mode="valid"), rtol=1e-12)


def test_uint8_arrays_give_uint8_rounded_as_the_files_are():
    picture = np.random.default_rng(6).integers(0, 256, (20, 22, 3), dtype=np.uint8)
    out = convcli.filter_image(picture, "sharpen")
    assert out.dtype == np.uint8 and out.shape == picture.shape
    expected = np.stack([quantised(brute_force(picture[..., c] / 255, SHARPEN), 255) for c in range(3)], axis=-1)
    np.testing.assert_array_equal(out, expected)


def test_uint16_arrays_give_uint16():
    picture = np.random.default_rng(7).integers(0, 65536, (9, 10), dtype=np.uint16)
    out = convcli.filter_image(picture, "edge")  # zero-sum: abs
    assert out.dtype == np.uint16
    edge = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
    expected = quantised(np.abs(brute_force(picture / 65535, edge)), 65535)
    assert np.abs(out.astype(np.int64) - expected).max() <= 1  # float32 sums of 16-bit values
    assert np.mean(out == expected) > 0.99


def test_a_channel_axis_of_one_is_kept_and_gray_takes_the_luminance():
    picture = np.random.default_rng(8).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    assert convcli.filter_image(picture[..., :1], "blur").shape == (6, 7, 1)
    gray = convcli.filter_image(picture / 255, "box:size=3", gray=True, map="raw")
    luma = picture / 255 @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(gray, brute_force(luma, np.full((3, 3), 1 / 9)), rtol=1e-12, atol=1e-12)


def test_rgba_arrays_keep_their_alpha_and_transparent_colour_does_not_bleed():
    picture = np.zeros((8, 10, 4))
    picture[:, :5] = (1.0, 0.0, 0.0, 1.0)  # opaque red on the left
    picture[:, 5:] = (0.0, 1.0, 0.0, 0.0)  # transparent, with green that must not show
    out = convcli.filter_image(picture, "box:size=3")
    assert out.shape == (8, 10, 4)
    np.testing.assert_allclose(out[:, :6, :3], np.broadcast_to([1.0, 0.0, 0.0], (8, 6, 3)), atol=1e-12)
    box = np.full((3, 3), 1 / 9)
    np.testing.assert_allclose(out[..., 3], np.clip(brute_force(picture[..., 3], box), 0, 1), atol=1e-12)


def test_alpha_false_filters_every_channel_alike():
    picture = np.random.default_rng(9).random((6, 6, 4))
    out = convcli.filter_image(picture, "box:size=3", alpha=False, map="raw")
    for channel in range(4):
        np.testing.assert_allclose(out[..., channel], brute_force(picture[..., channel], np.full((3, 3), 1 / 9)),
                                   rtol=1e-12)


def test_missing_inputs_are_nan_only_where_read():
    picture = np.full((5, 7), 0.5)
    picture[2, 3] = np.nan
    out = convcli.filter_image(picture, [[1, 1, 1]], map="raw")
    assert np.isnan(out).tolist() == [[False] * 7, [False] * 7, [False, False, True, True, True, False, False],
                                      [False] * 7, [False] * 7]
    filled = convcli.filter_image(np.full((3, 3), 100, np.uint8), [[1, 1, 1]], nodata=100, nan="fill", cval=0.25,
                                  map="raw")
    np.testing.assert_allclose(filled, 0.75)


def test_a_bank_needs_combine_which_reduces_its_maps():
    picture = np.random.default_rng(10).random((9, 9))
    with pytest.raises(KernelError) as caught:
        convcli.filter_image(picture, "compass")
    assert str(caught.value) == ("kernel 'compass' gives 8 maps (compass_0, compass_45, compass_90, compass_135, ...) "
                                 "and filter_image returns one image: give combine (magnitude, max, sum or argmax) "
                                 "to reduce them to one, or filter with each kernel")
    out = convcli.filter_image(picture, np.stack([SOBEL_X, SOBEL_Y]), combine="magnitude", map="raw")
    expected = np.hypot(brute_force(picture, SOBEL_X), brute_force(picture, SOBEL_Y))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_a_file_name_or_ragged_rows_are_refused_with_what_to_do(tmp_path):
    with pytest.raises(ParameterError) as caught:
        convcli.filter_image("photo.png", "blur")
    assert str(caught.value) == ("image must be a PIL image or an array, not a file name ('photo.png'): open the "
                                 "file with PIL.Image.open")
    with pytest.raises(KernelError) as caught:
        convcli.filter_image(np.zeros((3, 3)), [[1, 2], [3]])
    assert str(caught.value) == "kernel array: kernel 'array': weights: row 2 has 1 values, row 1 has 2"


def test_bad_arrays_and_options_name_the_parameter():
    with pytest.raises(ParameterError) as caught:
        convcli.filter_image(np.zeros((3, 3), np.int32), "blur")
    assert str(caught.value) == ("image of dtype int32 has no white level: give uint8 (255 is white), uint16 (65535) "
                                 "or floats (1.0), or use convcli.conv2d for the plain sums")
    with pytest.raises(ParameterError, match=r"^stride must be an integer >= 1; got 0$"):
        convcli.filter_image(np.zeros((3, 3)), "blur", stride=0)
    with pytest.raises(ParameterError, match=r"^map must be one of auto, clip, abs, offset, minmax, global, raw; "):
        convcli.filter_image(np.zeros((3, 3)), "blur", map="stretch")
    with pytest.raises(KernelError, match=r"^unknown kernel 'bulr' \(did you mean 'blur'\?\)$"):
        convcli.filter_image(np.zeros((3, 3)), "bulr")


# ----------------------------------------------------------------------------- filter_image: PIL modes


def _rgb(seed=11) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (12, 14, 3), dtype=np.uint8))


@pytest.mark.parametrize(("mode", "expected"), [
    ("1", "L"), ("L", "L"), ("LA", "LA"), ("RGB", "RGB"), ("RGBA", "RGBA"), ("P", "RGB"), ("PA", "RGBA"),
    ("I", "I"), ("F", "F"), ("CMYK", "CMYK"), ("YCbCr", "YCbCr"), ("RGBa", "RGBa"), ("La", "La"),
])
def test_pil_images_come_back_in_their_mode_where_pillow_holds_it(mode, expected):
    assert convcli.filter_image(_rgb().convert(mode), "blur").mode == expected


def test_16_bit_pil_images_stay_16_bit():
    values = np.random.default_rng(12).integers(0, 65536, (8, 9), dtype=np.uint16)
    out = convcli.filter_image(Image.fromarray(values), "box:size=3")
    assert out.mode == "I;16"
    expected = quantised(brute_force(values / 65535, np.full((3, 3), 1 / 9)), 65535)
    assert np.abs(np.asarray(out).astype(np.int64) - expected).max() <= 1


def test_gray_gives_l_and_raw_gives_f_for_one_channel():
    assert convcli.filter_image(_rgb(), "edge", gray=True).mode == "L"
    raw = convcli.filter_image(_rgb().convert("L"), "edge", map="raw")
    assert raw.mode == "F"
    with pytest.raises(ParameterError) as caught:
        convcli.filter_image(_rgb(), "edge", map="raw")
    assert str(caught.value) == ("map raw keeps floats, which a PIL image holds in mode F alone (one channel, no "
                                 "alpha): give an array, or gray for an opaque image")


# ----------------------------------------------------------------------------------------- KernelFilter


def test_kernel_filter_matches_opencv_filter2d_with_reflect():
    picture = np.random.default_rng(13).integers(0, 256, (37, 41, 3), dtype=np.uint8)
    out = Image.fromarray(picture).filter(convcli.KernelFilter("emboss"))
    assert out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), cv2.filter2D(picture, -1, EMBOSS, borderType=cv2.BORDER_REFLECT))


def test_kernel_filter_takes_any_size_as_written():
    picture = np.random.default_rng(14).integers(0, 256, (30, 33, 3), dtype=np.uint8)
    kernel = np.zeros((5, 5))
    kernel[0, 0], kernel[1, 4], kernel[2, 2], kernel[4, 1] = 1, -1, 1, 2
    out = Image.fromarray(picture).filter(convcli.KernelFilter(kernel))
    np.testing.assert_array_equal(np.asarray(out), cv2.filter2D(picture, -1, kernel, borderType=cv2.BORDER_REFLECT))


def test_kernel_filter_keeps_an_opaque_alpha_and_gray():
    picture = np.random.default_rng(15).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    rgba = Image.fromarray(np.dstack([picture, np.full((10, 12), 255, np.uint8)]))
    out = np.asarray(rgba.filter(convcli.KernelFilter("sharpen")))
    np.testing.assert_array_equal(out[..., :3], cv2.filter2D(picture, -1, SHARPEN, borderType=cv2.BORDER_REFLECT))
    assert (out[..., 3] == 255).all()
    gray = Image.fromarray(picture[..., 0]).filter(convcli.KernelFilter("sharpen"))
    assert gray.mode == "L"
    np.testing.assert_array_equal(np.asarray(gray), cv2.filter2D(picture[..., 0], -1, SHARPEN,
                                                                 borderType=cv2.BORDER_REFLECT))


def test_kernel_filter_options_and_errors():
    assert _rgb().filter(convcli.KernelFilter("blur", stride=2)).size == (7, 6)
    assert repr(convcli.KernelFilter("emboss")) == "KernelFilter('emboss')"
    with pytest.raises(KernelError, match=r"^unknown kernel 'embos' \(did you mean 'emboss'\?\)$"):
        convcli.KernelFilter("embos")  # when the filter is made, not when it runs
    with pytest.raises(ParameterError) as caught:
        _rgb().convert("P").filter(convcli.KernelFilter("blur"))
    assert str(caught.value) == ("KernelFilter cannot filter palette images (mode P): convert them to RGB or RGBA "
                                 "first, or use convcli.filter_image")


def test_conv2d_given_a_name_points_to_the_api():
    with pytest.raises(ParameterError) as caught:
        convcli.conv2d(np.zeros((4, 4)), "sharpen")
    assert str(caught.value) == ("kernel must be an array of weights; got the string 'sharpen': "
                                 "convcli.kernel('sharpen') gives its weights, and convcli.filter_image takes it "
                                 "as it is")
    np.testing.assert_allclose(convcli.conv2d(np.eye(4), convcli.kernel("sharpen")),
                               brute_force(np.eye(4), SHARPEN), rtol=1e-12)


# ------------------------------------------------------------------------------------------ start-up


def test_import_convcli_loads_no_api_and_the_api_loads_no_scipy_or_cli():
    code = ("import sys, convcli; before = {m for m in ('convcli.api', 'PIL', 'numpy') if m in sys.modules}; "
            "convcli.KernelFilter, convcli.filter_image, convcli.kernel; "
            "after = {m for m in ('scipy', 'typer', 'rich', 'click') if m in sys.modules}; print(before, after)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "set() set()"


@pytest.mark.parametrize("anchor", [(0, 0), "2,1", (1, 2)])
def test_filter_image_takes_an_anchor_as_opencv_does(anchor):
    import cv2

    rng = np.random.default_rng(4)
    pixels = rng.random((9, 11))
    weights = np.arange(1.0, 10.0).reshape(3, 3) / 45
    row, col = (int(v) for v in anchor.split(",")) if isinstance(anchor, str) else anchor
    got = convcli.filter_image(pixels, weights, anchor=anchor, map="raw", boundary="zero")
    expected = cv2.filter2D(pixels, cv2.CV_64F, weights, anchor=(col, row), borderType=cv2.BORDER_CONSTANT)
    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("anchor", [(-1, 0), (1, 2, 3), (True, 0), (0.5, 1), "0"])
def test_filter_image_refuses_an_anchor_that_is_not_a_pair_and_echoes_it(anchor):
    with pytest.raises(convcli.ParameterError) as error:
        convcli.filter_image(np.zeros((4, 4)), "sharpen", anchor=anchor)
    if isinstance(anchor, str):
        assert str(error.value) == ("anchor must be ROW,COL, two whole numbers from 0 (0,0 is the top left), "
                                    "e.g. 0,0; got '0'")
    else:
        assert str(error.value) == ("anchor must be (row, column), two whole numbers from 0 ((0, 0) is the top "
                                    f"left); got {anchor!r}")


def test_filter_image_refuses_an_anchor_outside_the_kernel():
    with pytest.raises(convcli.ParameterError, match="anchor 3,0 is outside kernel"):
        convcli.filter_image(np.zeros((4, 4)), "sharpen", anchor=(3, 0))
