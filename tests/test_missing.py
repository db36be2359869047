"""Missing inputs (NaN, infinities, nodata) on every engine path, against independent references.

The set of non-finite outputs is computed from the definition (the outputs whose non-zero taps read a
missing input) with scipy on the mask, and the values by literal sums over np.pad or by SciPy's
``conv(x * m, k) / conv(m, k)``; never by the engine itself.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import ENGINE_WAYS, image, powers_of_two

from convcli import conv2d
from convcli.engine.reference import reference_conv2d
from convcli.errors import ParameterError

PATHS = ["direct", "separable", "fft", "gemm"]


def holed_kernel(shape) -> np.ndarray:
    """Distinct taps with two zero taps: a zero tap reading a NaN must not spread it."""
    k = powers_of_two(shape) / 2 ** np.prod(shape)
    k.flat[1] = 0
    k.flat[-2] = 0
    return k


def reads_missing(missing: np.ndarray, kernel: np.ndarray, **options) -> np.ndarray:
    """The outputs whose non-zero taps read a missing input: scipy on the mask, nothing missing outside."""
    options = {**options, "cval": 0.0}
    return reference_conv2d(missing.astype(float), (kernel != 0).astype(float), **options) > 0.5


def literal(x: np.ndarray, kernel: np.ndarray, *, boundary: str, stride: int, dilation: int,
            padding: str = "same", flip: bool = False) -> np.ndarray:
    """``sum k[i, j] * x[...]`` over the non-zero taps, one shifted view at a time, in float64."""
    kh, kw = kernel.shape
    ai, aj = (kh - 1) // 2, (kw - 1) // 2
    if flip:
        kernel, ai, aj = kernel[::-1, ::-1], kh - 1 - ai, kw - 1 - aj
    mode = {"zero": "constant", "mirror": "reflect", "wrap": "wrap", "edge": "edge", "symmetric": "symmetric"}[boundary]
    span = ((kh - 1) * dilation, (kw - 1) * dilation)
    if padding == "same":
        pads = [(ai * dilation, span[0] - ai * dilation), (aj * dilation, span[1] - aj * dilation)]
    else:
        pads = [(0, 0), (0, 0)]
    padded = np.pad(x.astype(np.float64), pads + [(0, 0)] * (x.ndim - 2), mode=mode)
    rows, cols = padded.shape[0] - span[0], padded.shape[1] - span[1]
    out = np.zeros((rows, cols) + x.shape[2:])
    with np.errstate(invalid="ignore"):  # inf - inf is NaN: that is the point
        for i, j in zip(*np.nonzero(kernel)):
            out += kernel[i, j] * padded[i * dilation:i * dilation + rows, j * dilation:j * dilation + cols]
    return out[::stride, ::stride]


def assert_same_missing(got: np.ndarray, expected: np.ndarray) -> None:
    """Equal NaN, +inf and -inf positions, and the finite values equal to float32 rounding."""
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(expected))
    finite = np.isfinite(expected)
    scale = max(1, np.abs(expected[finite]).max())
    np.testing.assert_allclose(got[finite], expected[finite], rtol=0, atol=2e-6 * scale)


@pytest.mark.parametrize(("stride", "dilation", "padding"), [(1, 1, "same"), (2, 1, "same"), (1, 2, "valid"),
                                                              (3, 2, "same")])
@pytest.mark.parametrize("boundary", ["zero", "mirror", "wrap"])
@pytest.mark.parametrize("path", ENGINE_WAYS, indirect=True)
def test_one_nan_reaches_exactly_the_outputs_that_read_it_on_every_path(path, boundary, stride, dilation, padding):
    x = image((40, 36, 3), seed=2).astype(np.float32)
    x[17, 20, 1] = np.nan  # one channel
    x[0, 3, 0] = np.nan  # at the edge: the boundary mode reads it again
    k = holed_kernel((5, 4))
    options = dict(boundary=boundary, stride=stride, dilation=dilation, padding=padding)
    got = conv2d(x, k, method=path, **options)
    expected = literal(x, k, **options)
    assert np.isnan(expected).sum() < 4 * 20  # local: at most the footprints, a few times over at the edge
    np.testing.assert_array_equal(np.isnan(got), reads_missing(np.isnan(x), k, **options))
    assert_same_missing(got, expected)


@pytest.mark.parametrize("path", ENGINE_WAYS, indirect=True)
def test_infinities_of_one_sign_stay_that_sign_and_of_both_signs_give_nan(path):
    x = image((30, 30), seed=3)
    x[10, 10], x[10, 13], x[25, 5] = np.inf, -np.inf, np.nan
    k = np.array([[1.0, 2.0, 0.0, -3.0], [4.0, -5.0, 6.0, 7.0]]) / 8
    got = conv2d(x, k, method=path, boundary="symmetric", flip=True)
    expected = literal(x, k, boundary="symmetric", stride=1, dilation=1, flip=True)
    assert np.isposinf(expected).any() and np.isneginf(expected).any() and np.isnan(expected).any()
    assert_same_missing(got, expected)


@pytest.mark.parametrize("path", ENGINE_WAYS, indirect=True)
def test_a_bank_keeps_each_kernels_own_footprint(path):
    x = image((24, 26, 2), seed=4)
    x[12, 12, 0] = np.nan
    bank = np.stack([holed_kernel((3, 3)), np.pad([[1.0]], ((0, 2), (2, 0)))])  # the second reads one corner
    got = conv2d(x, bank, method=path, boundary="edge")
    for n in range(2):
        expected = literal(x, bank[n], boundary="edge", stride=1, dilation=1)
        assert_same_missing(got[n], expected)
    assert np.isnan(got[1]).sum() == 1


def test_the_issues_photo_sized_case_has_the_footprint_and_no_more():
    x = np.random.default_rng(1).random((700, 900), dtype=np.float32)
    x[300, 400] = np.nan
    k = np.random.default_rng(2).standard_normal((15, 15))  # dense: auto picks fft here
    got = conv2d(x, k)
    assert np.isnan(got).sum() == 225
    assert np.isnan(got[293:308, 393:408]).all()
    finite = np.where(np.isnan(x), 0, x)
    np.testing.assert_allclose(got[:280], reference_conv2d(finite, k)[:280], rtol=0, atol=2e-6 * np.abs(k).sum())


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_every_float_dtype_and_a_view(dtype):
    x = image((20, 30, 3), seed=5).astype(dtype)
    x[5, 7, 2] = np.nan
    x = x[:, ::-1]
    k = holed_kernel((3, 3))
    for path in PATHS:
        got = conv2d(x, k, method=path)
        np.testing.assert_array_equal(np.isnan(got), reads_missing(np.isnan(x), k, boundary="symmetric"))


# --- nan="ignore": normalised convolution --------------------------------------------------------------

def gaussian(size: int, sigma: float) -> np.ndarray:
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    return np.outer(g, g) / np.outer(g, g).sum()


@pytest.mark.parametrize(("boundary", "cval"), [("mirror", 0.0), ("constant", 0.3), ("wrap", 0.0)])
@pytest.mark.parametrize("path", ENGINE_WAYS, indirect=True)
def test_ignore_is_scipys_normalised_convolution_for_a_blur(path, boundary, cval):
    rng = np.random.default_rng(6)
    x = rng.random((40, 44))
    x[rng.random(x.shape) < 0.15] = np.nan
    x[20:30, 20:30] = np.nan  # a hole wider than the kernel: its middle stays missing
    k = gaussian(5, 1.2)
    m = np.isfinite(x).astype(float)
    # conv(x * m, k) / conv(m, k), values from outside the image counting as present
    numerator = reference_conv2d(np.where(m > 0, x, 0), k, boundary=boundary, cval=cval)
    denominator = reference_conv2d(m, k, boundary=boundary, cval=1.0)
    expected = np.where(denominator > 1e-12, numerator / np.where(denominator > 1e-12, denominator, 1), np.nan)
    got = conv2d(x, k, method=path, boundary=boundary, cval=cval, nan="ignore")
    assert not np.isfinite(got[23:27, 23:27]).any() and np.isnan(expected[23:27, 23:27]).all()
    assert_same_missing(got, expected)


@pytest.mark.parametrize("path", ENGINE_WAYS, indirect=True)
def test_ignore_rescales_a_signed_kernel_by_its_coverage_and_leaves_untouched_outputs_exact(path):
    x = image((30, 30, 3), seed=7)
    x[15, 15, 0] = np.nan
    k = holed_kernel((3, 3)) - holed_kernel((3, 3)).mean() * (holed_kernel((3, 3)) != 0)
    missing = np.isnan(x)
    present = np.where(missing, 0, x)
    coverage = 1 - reference_conv2d(missing.astype(float), np.abs(k), boundary="zero") / np.abs(k).sum()
    expected = reference_conv2d(present, k, boundary="zero") / coverage
    got = conv2d(x, k, method=path, boundary="zero", nan="ignore")
    assert_same_missing(got, expected)
    assert np.isfinite(got).all()


def test_fill_reads_missing_inputs_as_cval():
    x = image((20, 20, 2), seed=8)
    x[3, 4, 1] = np.nan
    x[10, 10, 0] = -np.inf
    k = holed_kernel((3, 5))
    filled = np.where(np.isfinite(x), x, 0.25)
    for path in PATHS:
        got = conv2d(x, k, method=path, boundary="mirror", cval=0.25, nan="fill")
        np.testing.assert_allclose(got, reference_conv2d(filled, k, boundary="mirror"), rtol=0, atol=1e-12)


# --- nodata ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ENGINE_WAYS, indirect=True)
def test_nodata_marks_missing_inputs_and_missing_outputs_hold_it(path):
    x = (image((30, 32), seed=9) * 1000).astype(np.int16)
    x[8, 9] = x[20, 25] = -9999
    k = holed_kernel((3, 3))
    got = conv2d(x, k, method=path, nodata=-9999, boundary="zero")
    touched = reads_missing(x == -9999, k, boundary="zero")
    assert touched.sum() == 2 * 7
    np.testing.assert_array_equal(got == -9999, touched)
    expected = reference_conv2d(x.astype(float), k, boundary="zero")
    np.testing.assert_allclose(got[~touched], expected[~touched], rtol=0, atol=1e-6 * 1000 * np.abs(k).sum())
    ignored = conv2d(x, k, method=path, nodata=-9999, boundary="zero", nan="ignore")
    assert (ignored != -9999).all()  # no output reads only missing inputs
    coverage = 1 - reference_conv2d((x == -9999).astype(float), np.abs(k), boundary="zero") / np.abs(k).sum()
    scale = 1e-6 * np.abs(np.where(x == -9999, 0, x)).max() * np.abs(k).sum()  # float32 sums of values near 1000
    np.testing.assert_allclose(ignored, reference_conv2d(np.where(x == -9999, 0, x), k, boundary="zero") / coverage,
                               rtol=0, atol=scale)


def test_an_all_zero_kernel_gives_zeros_even_on_missing_inputs():
    x = np.full((5, 5), np.nan)
    for nan in ("propagate", "ignore"):
        assert not conv2d(x, np.zeros((3, 3)), nan=nan).any()


def test_finite_images_are_unchanged_by_every_mode():
    x = image((25, 27, 3), seed=10)
    k = powers_of_two((3, 3)) / 512
    expected = reference_conv2d(x, k)
    for nan, path in itertools.product(("propagate", "ignore", "fill"), PATHS):
        np.testing.assert_allclose(conv2d(x, k, nan=nan, method=path), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"nan": "skip"}, "nan must be one of propagate, ignore, fill; got 'skip'"),
    ({"nodata": "none"}, "nodata must be a number; got 'none'"),
    ({"nodata": 10 ** 400}, "nodata must be a number; got " + repr(10 ** 400)),
])
def test_bad_missing_value_options_name_the_parameter(kwargs, message):
    with pytest.raises(ParameterError) as caught:
        conv2d(np.ones((3, 3)), [[1.0]], **kwargs)
    assert str(caught.value) == message


# --- the command line ------------------------------------------------------------------------------------

def test_the_command_line_keeps_missing_values_local_in_a_float_tiff_and_fills_them_with_ignore(tmp_path, monkeypatch):
    import tifffile
    from typer.testing import CliRunner

    from convcli.cli import app

    monkeypatch.chdir(tmp_path)
    dem = np.random.default_rng(11).random((60, 80)).astype(np.float32) * 100
    dem[10, 10] = np.nan
    dem[30:34, 40:44] = -9999  # a hole wider than the kernel
    tifffile.imwrite("dem.tif", dem)
    k = "1,2,1; 2,4,2; 1,2,1"
    weights = np.array([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]])  # as typed: an inline matrix is not normalised
    runner = CliRunner()
    for nan in ("propagate", "ignore"):
        result = runner.invoke(app, ["apply", "dem.tif", "-k", k, "--map", "raw", "--nodata", "-9999", "--nan", nan,
                                     "--verify", "-o", f"{nan}.tif"])
        assert result.exit_code == 0, result.output
    missing = ~np.isfinite(dem) | (dem == -9999)
    propagated = tifffile.imread("propagate.tif")
    np.testing.assert_array_equal(np.isnan(propagated), reads_missing(missing, weights, boundary="symmetric"))
    assert np.isnan(propagated).sum() == 9 + 36
    ignored = tifffile.imread("ignore.tif")
    m = (~missing).astype(float)
    denominator = reference_conv2d(m, weights) / weights.sum()  # conv(m, k) of the kernel normalised
    gone = denominator < 1e-12
    expected = reference_conv2d(np.where(missing, 0, dem), weights) / np.where(gone, 1, denominator)
    assert gone.sum() == 4 and np.isnan(ignored[gone]).all()
    np.testing.assert_allclose(ignored[~gone], expected[~gone], rtol=1e-5)


def test_sixteen_bit_nodata_is_found_in_the_files_own_units_and_pixels_that_read_it_are_named_once(tmp_path,
                                                                                                    monkeypatch):
    from PIL import Image
    from typer.testing import CliRunner

    from convcli.cli import app

    monkeypatch.chdir(tmp_path)
    samples = (np.random.default_rng(12).random((40, 50)) * 60000 + 1000).astype(np.uint16)
    samples[5, 5] = samples[30, 20] = 0
    Image.fromarray(samples).save("g16.png")
    result = CliRunner().invoke(app, ["apply", "g16.png", "-k", "blur", "--nodata", "0", "-o", "out.png"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning:") == 1
    assert ("warning: out.png: 18 values read a NaN or --nodata input and are written as 0; --nan ignore fills them "
            "from the values around them") in result.stderr.replace("\n", " ").replace("  ", " ")
    written = np.asarray(Image.open("out.png"))
    assert written.dtype == np.uint16 and (written == 0).sum() == 18 and written[5, 5] == 0 and written[30, 20] == 0


def test_nodata_is_compared_in_the_arrays_own_dtype():
    halves = np.array([[1, 1, -9999, 1, 1]], dtype=np.float16)  # float16 holds -9999 as -10000
    got = conv2d(halves, [[1, 1, 1]], boundary="edge", nodata=-9999)
    np.testing.assert_array_equal(got, [[3, -9999, -9999, -9999, 3]])
    big = np.full((1, 5), 2 ** 24, dtype=np.int64)
    big[0, 0] = 2 ** 24 + 1  # float32 cannot tell these two apart; the array can
    got = conv2d(big, [[1.0]], nodata=2 ** 24 + 1)
    assert got[0, 0] == 2 ** 24 + 1 and (got[0, 1:] == 2 ** 24).all()
    assert not (conv2d(np.ones((3, 3), np.float32), [[1.0]], nodata=1e300) != 1).any()  # not a float32: no match


def test_argmax_over_a_bank_keeps_missing_outputs_missing():
    from convcli.kernels.combine import combine

    maps = [np.array([[1.0, np.nan, 3.0]]), np.array([[2.0, 0.0, 1.0]])]
    np.testing.assert_array_equal(combine(maps, "argmax"), [[1.0, np.nan, 0.0]])


def test_infinite_outputs_in_an_image_are_written_as_zero_and_counted(tmp_path, monkeypatch):
    import tifffile
    from PIL import Image
    from typer.testing import CliRunner

    from convcli.cli import app

    monkeypatch.chdir(tmp_path)
    values = np.linspace(0.2, 0.8, 64, dtype=np.float32).reshape(8, 8)
    values[2, 2], values[5, 5] = np.nan, np.inf
    tifffile.imwrite("f.tif", values)
    result = CliRunner().invoke(app, ["apply", "f.tif", "-k", "box:size=3", "-o", "o.png", "--map", "minmax"])
    assert result.exit_code == 0, result.output
    assert "18 values read a NaN or infinite input and are written as 0" in " ".join(result.stderr.split())
    written = np.asarray(Image.open("o.png"))
    assert written[5, 5] == written[2, 2] == 0 and written[0, 0] == 0  # [0, 0]: the map's minimum
    assert (written == 0).sum() == 18 + 1 and (written == 65535).sum() == 1  # no infinity made white


def test_gray_with_nodata_drops_the_colour_profile_as_gray_alone_does(tmp_path, monkeypatch):
    from PIL import Image, ImageCms
    from typer.testing import CliRunner

    from convcli.cli import app

    monkeypatch.chdir(tmp_path)
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = np.random.default_rng(13).integers(1, 256, (20, 24, 3), dtype=np.uint8)
    pixels[4, 4] = 0
    Image.fromarray(pixels).save("rgb.png", icc_profile=profile)
    for args in ([], ["--nodata", "0"]):
        result = CliRunner().invoke(app, ["apply", "rgb.png", "-k", "blur", "--gray", *args, "-o", "o.png"])
        assert result.exit_code == 0, result.output
        with Image.open("o.png") as written:
            assert written.mode == "L" and "icc_profile" not in written.info


def test_a_transparent_nan_does_not_reach_the_opaque_pixels_around_it():
    from convcli.engine.alpha import conv2d_with_alpha

    color = image((9, 9, 3), seed=14).astype(np.float32)
    alpha = np.ones((9, 9), np.float32)
    color[4, 4], alpha[4, 4] = np.nan, 0.0  # a hole that is transparent as well
    k = gaussian(3, 0.8)
    out, coverage = conv2d_with_alpha(color, alpha, k, lambda x, w: conv2d(x, w, boundary="edge"))
    assert np.isfinite(out).all() and np.isfinite(coverage).all()
    present = np.where(np.isnan(color), 0, color)
    expected = reference_conv2d(present * alpha[..., None], k, boundary="edge") / coverage[..., None]
    np.testing.assert_allclose(out, expected, rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_finite_values_whose_sum_overflows_are_not_missing_and_a_nan_among_them_is_found(dtype):
    from convcli.engine.missing import find_missing

    huge = np.full((40, 30, 3), np.finfo(dtype).max / 2, dtype=dtype)  # any three of them sum past the maximum
    assert find_missing(huge, None) is None
    huge[17, 3, 2] = np.nan
    huge[0, 29, 0] = -np.inf
    assert sorted(zip(*np.nonzero(find_missing(huge, None)))) == [(0, 29, 0), (17, 3, 2)]


@pytest.mark.parametrize("path", ENGINE_WAYS, indirect=True)
def test_a_finite_float_image_is_filtered_once_and_never_searched(path, monkeypatch):
    # The outputs are checked tile by tile as they are written; the image is searched for missing
    # values (a pass of its own) and filtered again only when an output is not finite.
    from convcli.engine import missing

    calls = []
    search = missing.find_missing
    monkeypatch.setattr(missing, "find_missing", lambda *a, **k: calls.append(1) or search(*a, **k))
    x = image((300, 200, 3), seed=21).astype(np.float32)  # several tiles, on the engine's threads
    k = holed_kernel((3, 5))
    got = conv2d(x, k, method=path, boundary="symmetric")
    np.testing.assert_allclose(got, reference_conv2d(x, k, boundary="symmetric"), rtol=0, atol=1e-5)
    assert calls == []
    x[299, 0, 1] = np.nan  # the last row, the first column: the frame's last tile
    got = conv2d(x, k, method=path, boundary="symmetric")
    assert calls == [1]
    expected = literal(x.astype(np.float64), k, boundary="symmetric", stride=1, dilation=1)
    assert_same_missing(got, expected)


def test_outputs_that_overflow_from_finite_inputs_are_kept_as_ieee_gives_them():
    # A non-finite output sends the image to the search, which finds nothing missing: the first result stands.
    x = np.full((20, 20), 3e38, dtype=np.float32)
    with np.errstate(over="ignore"):
        got = conv2d(x, [[1.0, 1.0]], method="direct")
    assert np.isposinf(got).all()


def test_the_tiles_threads_keep_the_callers_errstate():
    from convcli.engine.geometry import Tile
    from convcli.engine.threads import run_tiles

    def work(tile: Tile) -> None:
        np.float32(3e38) * np.float32(10)

    tiles = [Tile(y, y + 1, 0, 1) for y in range(8)]
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        run_tiles(work, tiles, workers=2)
    with np.errstate(over="ignore"):
        run_tiles(work, tiles, workers=2)  # no warning (pytest turns warnings into errors)


@pytest.mark.parametrize("path", ENGINE_WAYS, indirect=True)
def test_a_weight_that_rounds_to_zero_in_float32_still_reads_a_missing_input(path):
    # 1e-50 is 0 in float32: the paths skip it, yet it is a non-zero tap of the kernel as given.
    x = image((4, 8), seed=22).astype(np.float32)
    x[:, -1] = np.nan
    k = np.array([[1.0, 1e-50]])
    got = conv2d(x, k, method=path, padding="valid", boundary="zero")
    assert got.shape == (4, 7)
    expected = literal(x.astype(np.float64), k, boundary="zero", stride=1, dilation=1, padding="valid")
    assert np.isnan(expected[:, -1]).all() and np.isfinite(expected[:, :-1]).all()
    assert_same_missing(got, expected)


def test_finite_values_that_overflow_into_nan_warn_as_the_callers_errstate_says():
    x = np.full((6, 6), 3e38, dtype=np.float32)
    with np.errstate(invalid="raise", over="ignore"), pytest.raises(FloatingPointError):
        conv2d(x, [[1.0, 1.0, 0.0, -1.0, -1.0]], method="fft", boundary="edge")
    with np.errstate(invalid="ignore", over="ignore"):
        got = conv2d(x, [[1.0, 1.0, 0.0, -1.0, -1.0]], method="fft", boundary="edge")
    assert not np.isfinite(got).any()  # inf - inf and the like, as IEEE sums them: nothing was missing
