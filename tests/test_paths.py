"""Each engine path (direct, separable, fft, gemm) against scipy.signal, the cost model's choices, the
calibration store and the benchmark library.

Kernels use distinct powers of two as taps (see test_engine.py), so a flipped, shifted or transposed
kernel cannot pass; the reference is ``verify.reference_conv2d`` (np.pad by the boundary mode, then
scipy.signal in valid mode), itself checked against the contract's formula in test_engine.py.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import ENGINE_WAYS, SCIPY_BOUNDARY, image, powers_of_two
from scipy import signal
from typer.testing import CliRunner

import convcli.engine.conv
import convcli.engine.plan
from convcli import conv2d
from convcli.cli import app
from convcli.engine import costmodel, fft, separable
from convcli.engine.boundary import BOUNDARIES, boundary_index
from convcli.engine.geometry import Tile, Window, plan_axis, strips
from convcli.engine.plan import choose_method
from convcli.engine.reference import reference_conv2d
from convcli.errors import ParameterError
from convcli.tools import bench
from convcli.tools import calibration as calibration_module
from convcli.tools.calibration import calibrate

PATHS = ("direct", "separable", "fft", "gemm")
KERNEL_SHAPES = [(3, 3), (2, 2), (4, 5), (1, 4), (5, 1), (6, 3)]




def tolerance(kernel: np.ndarray, dtype) -> float:
    return (2e-6 if dtype == np.float32 else 1e-12) * np.abs(kernel).sum()


@pytest.fixture(autouse=True)
def default_coefficients(tmp_path, monkeypatch):
    """The cost model's defaults: no calibration file, and none cached from another test."""
    monkeypatch.setenv("CONVCLI_CALIBRATION", str(tmp_path / "calibration.json"))
    costmodel.load_coefficients.cache_clear()
    yield
    costmodel.load_coefficients.cache_clear()


# --- every path against the reference ---------------------------------------------------------------

@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("method", ENGINE_WAYS, indirect=True)
def test_path_matches_reference_everywhere(method, boundary):
    x = image((11, 13, 2), seed=1)
    for kshape, padding, stride, dilation, flip in itertools.product(
            KERNEL_SHAPES, ["same", "valid", "full", 2], [1, 2, 3], [1, 2], [False, True]):
        k = powers_of_two(kshape)
        options = dict(stride=stride, padding=padding, boundary=boundary, cval=0.75, dilation=dilation, flip=flip)
        expected = reference_conv2d(x, k, **options)
        if 0 in expected.shape:
            continue
        for dtype in (np.float32, np.float64):
            got = conv2d(x.astype(dtype), k, method=method, **options)
            assert got.dtype == dtype
            assert got.shape == expected.shape
            np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance(k, dtype),
                                       err_msg=f"{method} {kshape} {options} {dtype.__name__}")


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("mode", ["same", "valid", "full"])
@pytest.mark.parametrize("method", ENGINE_WAYS, indirect=True)
def test_path_matches_scipy_signal_directly(method, mode, flip):
    x = image((17, 14), seed=2)
    for kshape, boundary in itertools.product([(3, 3), (2, 4), (5, 2), (7, 7)], SCIPY_BOUNDARY):
        k = powers_of_two(kshape)
        run = signal.convolve2d if flip else signal.correlate2d
        expected = run(x, k, mode=mode, boundary=SCIPY_BOUNDARY[boundary])
        for stride in (1, 2):
            got = conv2d(x, k, padding=mode, boundary=boundary, flip=flip, stride=stride, method=method)
            np.testing.assert_allclose(got, expected[::stride, ::stride], rtol=0, atol=tolerance(k, np.float64))


@pytest.mark.parametrize("method", ENGINE_WAYS, indirect=True)
def test_banks_on_every_path(method):
    x = image((15, 12, 3), seed=3)
    bank = np.stack([powers_of_two((3, 4)), -powers_of_two((3, 4))[::-1], np.zeros((3, 4)), np.eye(3, 4)])
    for boundary, stride, dilation in itertools.product(["symmetric", "constant", "wrap"], [1, 2], [1, 2]):
        options = dict(boundary=boundary, cval=0.5, stride=stride, dilation=dilation)
        got = conv2d(x.astype(np.float32), bank, method=method, **options)
        assert got.shape == (4, *output_rows_cols(x, bank, stride, dilation), 3)
        for plane, kernel in zip(got, bank):
            np.testing.assert_allclose(plane, reference_conv2d(x, kernel, **options), rtol=0,
                                       atol=tolerance(bank, np.float32), err_msg=f"{method} {options}")


def output_rows_cols(x, bank, stride, dilation):
    return convcli.engine.conv.output_shape(x.shape, bank.shape[1:], stride=stride, dilation=dilation)


@pytest.mark.parametrize("method", ENGINE_WAYS, indirect=True)
def test_many_tiles_and_threads(method, monkeypatch):
    """Tiny strips (and for fft tiny transforms) on two threads: every seam between tiles shows."""
    monkeypatch.setattr(convcli.engine.plan, "STRIP_BYTES", 256)
    monkeypatch.setattr(fft, "TILE_BYTES", 2048)
    monkeypatch.setattr(convcli.engine.plan, "default_workers", lambda: 2)
    fft.tile_shape.cache_clear()
    x = image((41, 37, 3), seed=4)
    for kshape, boundary, padding, stride in itertools.product([(3, 3), (4, 5), (9, 2)], BOUNDARIES,
                                                               ["same", "full", 3], [1, 2]):
        k = powers_of_two(kshape)
        options = dict(stride=stride, padding=padding, boundary=boundary, cval=0.25, dilation=2)
        got = conv2d(x, k, method=method, **options)
        np.testing.assert_allclose(got, reference_conv2d(x, k, **options), rtol=0, atol=tolerance(k, np.float64),
                                   err_msg=f"{method} {kshape} {options}")
    fft.tile_shape.cache_clear()


@pytest.mark.parametrize("method", ENGINE_WAYS, indirect=True)
def test_kernel_larger_than_the_image(method):
    x = image((3, 4), seed=5)
    k = powers_of_two((7, 9))
    for boundary in BOUNDARIES:
        np.testing.assert_allclose(conv2d(x, k, boundary=boundary, cval=0.5, method=method),
                                   reference_conv2d(x, k, boundary=boundary, cval=0.5), rtol=0,
                                   atol=tolerance(k, np.float64))


@pytest.mark.parametrize("method", ENGINE_WAYS, indirect=True)
def test_identity_and_all_zero_kernels(method):
    x = image((9, 10, 3), seed=6)
    identity = np.zeros((5, 4))
    identity[2, 1] = 1.0  # the anchor ((5 - 1) // 2, (4 - 1) // 2)
    np.testing.assert_allclose(conv2d(x, identity, method=method), x, atol=1e-12)
    assert not conv2d(x, np.zeros((3, 3)), method=method).any()


def test_paths_agree_on_a_photo_sized_array():
    """Large enough for real strips, threads and frame tiles; float32 throughout."""
    x = np.random.default_rng(7).random((700, 900, 3), dtype=np.float32)
    k = np.random.default_rng(8).standard_normal((9, 9))
    reference = reference_conv2d(x[:40], k, boundary="mirror", padding="valid")
    for method in PATHS:
        got = conv2d(x, k, method=method, boundary="mirror")
        np.testing.assert_allclose(got[4:36, 4:-4], reference[:32], rtol=0, atol=2e-6 * np.abs(k).sum(), err_msg=method)


# --- pieces of the paths ----------------------------------------------------------------------------

def test_factorize_finds_rank_and_keeps_integer_kernels_exact():
    sobel = separable.factorize(np.outer([1, 2, 1], [-1, 0, 1]), tolerance=1e-7)
    assert (sobel.rank, sobel.error, sobel.exact) == (1, 0.0, True)
    np.testing.assert_array_equal(sobel.cols.T @ sobel.rows, np.outer([1, 2, 1], [-1, 0, 1]))
    g1, g2 = bench.gaussian(15, 1.0), bench.gaussian(15, 3.0)
    dog = separable.factorize(g1 - g2, tolerance=1e-7)  # a difference of Gaussians: rank 2
    assert dog.rank == 2 and dog.error <= 1e-7 * np.abs(g1 - g2).sum()
    np.testing.assert_allclose(dog.cols.T @ dog.rows, g1 - g2, rtol=1e-7, atol=0)  # every tap, to its own size
    random = np.random.default_rng(0).standard_normal((5, 5))
    full = separable.factorize(random, tolerance=1e-13)  # of full rank: split row by row, exactly
    assert full.rank == 5 and full.exact and full.error == 0
    np.testing.assert_array_equal(full.cols.T @ full.rows, random)
    tall = np.random.default_rng(1).standard_normal((6, 2))
    tall[:, 1] = 0  # two columns, one of them zero: one term
    split = separable.factorize(tall + np.outer([0, 0, 0, 0, 0, 1], [0, 1]), tolerance=1e-13)
    assert split.rank == 2 and split.exact
    np.testing.assert_array_equal(split.cols.T @ split.rows, tall + np.outer([0, 0, 0, 0, 0, 1], [0, 1]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_separable_path_keeps_every_tap_of_a_kernel_of_wide_dynamic_range(dtype):
    # One tap 1e8, the others about 1e-8: relative to the sum of |k|, an SVD of rank 1 dropped them all.
    k = powers_of_two((5, 5)) * 1e-8 / 2 ** 24
    k[1, 3] = 1e8
    factors = separable.factorize(k, tolerance=separable.tolerance(dtype))
    np.testing.assert_allclose(factors.cols.T @ factors.rows, k, rtol=separable.tolerance(dtype), atol=0)
    delta = np.zeros((11, 11), dtype=dtype)
    delta[5, 5] = 1  # each output reads one tap: the small ones show beside the large one
    got = conv2d(delta, k, method="separable", boundary="zero")
    expected = signal.correlate2d(delta.astype(np.float64), k, mode="same")
    np.testing.assert_allclose(got, expected, rtol=2e-7 if dtype == np.float32 else 1e-13, atol=0)


def test_toeplitz_band_with_stride_and_dilation():
    band = separable.toeplitz(np.array([1.0, 2.0, 3.0]), 3, stride=2, dilation=2)
    assert band.tolist() == [[1, 0, 2, 0, 3, 0, 0, 0, 0],
                             [0, 0, 1, 0, 2, 0, 3, 0, 0],
                             [0, 0, 0, 0, 1, 0, 2, 0, 3]]


@pytest.mark.parametrize("n", [1, 2, 7, 97, 1000, 1025, 4097])
def test_next_fast_length(n):
    got = fft.next_fast_length(n)
    assert got >= n
    rest = got
    for p in (2, 3, 5):
        while rest % p == 0:
            rest //= p
    assert rest == 1
    assert all(not _smooth(m) for m in range(n, got))


def _smooth(m: int) -> bool:
    for p in (2, 3, 5):
        while m % p == 0:
            m //= p
    return m == 1


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_boundary_index_repeats_like_np_pad(boundary):
    for size in (1, 2, 5):
        ramp = np.arange(size)
        pad_mode = {"zero": "constant", "constant": "constant", "edge": "edge", "symmetric": "symmetric",
                    "mirror": "reflect", "wrap": "wrap"}[boundary]
        kwargs = {"constant_values": -1} if pad_mode == "constant" else {}
        expected = np.pad(ramp, 13, mode=pad_mode, **kwargs)
        np.testing.assert_array_equal(boundary_index(np.arange(-13, size + 13), size, boundary), expected)


def test_strips_cover_every_output_once_and_only_the_frame_is_copied():
    rows = plan_axis(50, 5, anchor=2, stride=1, dilation=1, padding="same")
    cols = plan_axis(40, 3, anchor=1, stride=1, dilation=1, padding="same")
    x = image((50, 40, 1))
    window = Window(x, rows, cols, "symmetric", 0.0)
    tiles = strips(rows, cols, 600, 4)
    seen = np.zeros((50, 40), int)
    for tile in tiles:
        seen[tile.y0:tile.y1, tile.x0:tile.x1] += 1
        block = window.block(tile)
        inside = 2 <= tile.y0 and tile.y1 <= 48 and 1 <= tile.x0 and tile.x1 <= 39
        assert np.shares_memory(block, x) == inside
    assert (seen == 1).all()
    assert strips(rows, cols, 10**9, 4) == [Tile(0, 50, 0, 40)]


def test_strips_start_with_the_widest():
    # The frame's tall columns (1 output wide) come after every strip 38 wide, which keep their row
    # order: the threads first write (and fault in) the output where most of it is.
    rows = plan_axis(50, 5, anchor=2, stride=1, dilation=1, padding="same")
    cols = plan_axis(40, 3, anchor=1, stride=1, dilation=1, padding="same")
    tiles = strips(rows, cols, 600, 4)
    widths = [tile.x1 - tile.x0 for tile in tiles]
    assert widths == [38] * 18 + [1] * 6
    inside = tiles[:18]
    assert [tile.y0 for tile in inside] == sorted(tile.y0 for tile in inside)


# --- choosing a path ------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, kernel, path, reason", [
    ((3000, 4000, 3), np.random.default_rng(0).standard_normal((3, 3)), "direct", "direct: 3x3 kernel"),
    ((3000, 4000, 3), np.random.default_rng(0).standard_normal((31, 31)), "fft", "fft: 31x31 kernel"),
    ((3000, 4000, 3), np.random.default_rng(0).standard_normal((15, 15)), "fft", "fft: 15x15 kernel"),
    ((3000, 4000, 3), bench.gaussian(31, 5.0), "separable", "separable: SVD rank 1"),
    ((3000, 4000), bench.gaussian(21, 3.0), "separable", "separable: SVD rank 1"),
    ((2048, 2048), np.random.default_rng(0).standard_normal((64, 3, 3)), "gemm", "gemm: bank of 64 3x3 kernels"),
    ((10, 8, 3), np.random.default_rng(0).standard_normal((7, 7)), "direct", "direct: 7x7 kernel"),
    ((12, 15), np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]), "direct", "direct: 3x3 kernel, 6 non-zero taps"),
])
def test_auto_choices_on_representative_shapes(shape, kernel, path, reason):
    choice = choose_method(shape, kernel)
    assert choice.path == path
    assert choice.reason.startswith(reason), choice.reason
    assert "cost model:" in choice.reason and "(default coefficients)" in choice.reason
    assert min(choice.estimates, key=choice.estimates.get) == path or "direct preferred" in choice.reason
    assert tuple(choice) == (choice.path, choice.reason)


def test_small_problems_stay_direct_and_say_why():
    choice = choose_method((30, 30, 3), np.random.default_rng(0).standard_normal((31, 31)))
    assert choice.estimates["fft"] < choice.estimates["direct"]
    assert choice.reason.endswith("direct preferred when the saving is under 1 ms")


def test_forced_methods_and_kernel_shapes_only():
    assert choose_method((100, 100), (31, 31), method="gemm").reason == "gemm: forced by method=gemm"
    forced = choose_method((100, 100), bench.gaussian(9, 2.0), method="separable")
    assert forced.reason.startswith("separable: SVD rank 1, error ")
    assert forced.reason.endswith("; forced by method=separable")
    # Without the kernel's values the model assumes full rank: no separable estimate.
    assert "separable" not in choose_method((3000, 4000, 3), (31, 31)).estimates
    assert choose_method((3000, 4000, 3), (3, 3)).path == "direct"
    assert choose_method((3000, 4000, 3), (31, 31)).path == "fft"
    assert choose_method((3000, 4000, 3), (3, 3), method="FFT").path == "fft"
    with pytest.raises(ParameterError, match="method must be one of auto, direct, separable, fft, gemm; got 'x'"):
        choose_method((3000, 4000, 3), (3, 3), method="x")


def test_auto_runs_the_path_it_reports(monkeypatch):
    ran = []
    for name in PATHS:
        module = getattr(convcli.engine.conv, f"{name}_path")
        monkeypatch.setattr(module, "run", lambda *a, name=name, **k: ran.append(name))
    x = np.zeros((300, 400, 3), np.float32)
    random = np.random.default_rng(0).standard_normal((17, 17))
    for kernel in (np.ones((3, 3)), bench.gaussian(31, 5.0), random, np.ones((64, 3, 3))):
        conv2d(x, kernel)
        assert ran[-1] == choose_method(x.shape, kernel).path
    assert set(ran) >= {"direct", "separable", "fft"}


# --- the calibration store ------------------------------------------------------------------------------

def test_calibration_path(monkeypatch, tmp_path):
    assert costmodel.calibration_path() == tmp_path / "calibration.json"
    monkeypatch.delenv("CONVCLI_CALIBRATION")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if sys.platform.startswith("linux"):
        assert costmodel.calibration_path() == tmp_path / "cache" / "convcli" / "calibration.json"


def test_stored_factors_change_the_choice(tmp_path):
    kernel = np.random.default_rng(0).standard_normal((31, 31))
    assert choose_method((3000, 4000, 3), kernel).path == "fft"
    stored = costmodel.save_calibration({"direct": 0.001, "separable": 1.0, "fft": 1.0, "gemm": 1.0}, {})
    assert stored == tmp_path / "calibration.json"
    data = json.loads(stored.read_text())
    assert data["version"] == costmodel.CALIBRATION_VERSION and data["scale"]["direct"] == 0.001
    choice = choose_method((3000, 4000, 3), kernel)
    assert choice.path == "direct" and "(calibrated " in choice.reason


@pytest.mark.parametrize("text", ["not json", '{"version": 1}', '{"version": 99, "scale": {}}',
                                  '{"version": 1, "scale": {"direct": -1, "separable": 1, "fft": 1, "gemm": 1}}'])
def test_unreadable_calibration_falls_back_to_defaults(tmp_path, text):
    (tmp_path / "calibration.json").write_text(text)
    assert costmodel.load_coefficients() == costmodel.Coefficients()


def test_calibrate_stores_a_factor_per_path(monkeypatch, tmp_path):
    monkeypatch.setattr(calibration_module, "_calibration_problems", lambda seed: [
        (path, path, (40, 50, 3), bench.gaussian(5, 1.0)) for path in PATHS])
    calibration = calibrate(repeat=1)
    assert set(calibration.scale) == set(PATHS) and all(v > 0 for v in calibration.scale.values())
    assert calibration.path == str(tmp_path / "calibration.json")
    assert costmodel.load_coefficients().scale == pytest.approx(calibration.scale, rel=1e-3)


# --- the benchmark library and command --------------------------------------------------------------

def small_cases():
    return bench.default_cases(image=(24, 30, 3), bank_image=(20, 22))


def test_bench_times_every_case_and_checks_the_results():
    result = bench.run_bench(small_cases(), repeat=2, peers=["ndimage", "fftconvolve", "oaconvolve"])
    assert [c.name for c in result.cases] == ["3x3 random", "5x5 random", "7x7 random", "9x9 random",
                                              "15x15 random", "31x31 random", "7x7 gaussian", "31x31 gaussian",
                                              "bank 64 x 3x3"]
    for case in result.cases:
        assert case.timings[0].engine == f"convcli ({case.path})" and case.speedup(case.timings[0]) == 1
        assert case.reason.startswith(case.path)
        for timing in case.timings[1:]:
            assert timing.runs == 2 and timing.ms > 0
            assert timing.max_diff < 1e-4  # the same answer, to float32 rounding
    bank = result.cases[-1]
    assert [t.engine for t in bank.timings] == [f"convcli ({bank.path})", "scipy.ndimage.correlate"]
    data = json.loads(json.dumps(result.to_dict()))
    assert data["boundary"] == "symmetric" and data["cases"][0]["shape"] == [24, 30, 3]
    assert {t["text"] for t in data["targets"]} >= {"3x3: at least 3x faster than ndimage"}
    missing = [t for t in result.targets() if "cv2" in t.text or "torch" in t.text]
    assert missing and all(t.met is None for t in missing)
    for case in result.cases:  # the other paths forced: the chosen one is not run twice
        assert case.path not in [t.engine for t in case.forced]
        assert case.fastest.ms == min([case.timings[0].ms, *(t.ms for t in case.forced)])
        assert case.choice_ratio >= 1
    assert {t.text for t in result.targets()} >= {f"{c.name}: the cost model's path within 10% of the fastest"
                                                    for c in result.cases}


@pytest.mark.parametrize("boundary", ["zero", "edge", "mirror", "wrap"])
def test_bench_peers_use_the_same_boundary(boundary):
    result = bench.run_bench(bench.select_cases(small_cases(), ["7x7", "bank"]), repeat=1, boundary=boundary,
                             peers=["ndimage", "oaconvolve"])
    assert all(t.max_diff < 1e-4 for case in result.cases for t in case.timings[1:])


def test_optional_peers_agree_when_installed():
    peers = [p for p in ("cv2", "torch") if p in bench.available_peers()]
    if not peers:
        pytest.skip("neither OpenCV nor PyTorch installed (both optional)")
    for boundary in ("symmetric", "mirror"):
        result = bench.run_bench(small_cases(), repeat=1, boundary=boundary, peers=peers)
        assert all(t.max_diff < 1e-3 for case in result.cases for t in case.timings[1:])


def test_targets_read_the_ratios():
    def case(name, ours, **peers):
        timings = [bench.Timing("convcli (direct)", ours, 1)] + [bench.Timing(k, v, 1, 0.0) for k, v in peers.items()]
        return bench.CaseResult(name, (1, 1), (3, 3), "direct", "", timings)

    result = bench.BenchResult([case("3x3 random", 100.0, **{"scipy.ndimage.correlate": 250.0,
                                                                "cv2.filter2D": 30.0})], "symmetric", 1, {})
    targets = {t.text: t for t in result.targets()}
    assert targets["3x3: at least 3x faster than ndimage"].met is False
    assert targets["3x3: at least 3x faster than ndimage"].detail == "convcli 2.50x faster than scipy.ndimage.correlate"
    assert targets["3x3: within 2x of cv2.filter2D"].met is False  # 3.33x slower
    assert targets["3x3: within 2x of cv2.filter2D"].detail == "convcli 3.33x slower than cv2.filter2D"
    assert targets["3x3 random: faster than every scipy peer"].met is True
    assert targets["31x31: faster than oaconvolve"].met is None


@pytest.mark.parametrize("text", ["3000x4000x3x2", "0x4", "big", "3000"])
def test_bad_sizes(text):
    with pytest.raises(ParameterError, match=f"size must be H x W or H x W x C, such as 3000x4000x3; got '{text}'"):
        bench.parse_shape(text, "size")


def test_bench_arguments_are_checked():
    with pytest.raises(ParameterError, match="peers must be among ndimage, fftconvolve, oaconvolve, cv2, torch; "
                                             "got matlab"):
        bench.run_bench(small_cases()[:1], peers=["matlab"])
    with pytest.raises(ParameterError, match="no case matches '11x11'"):
        bench.select_cases(small_cases(), ["11x11"])


def test_bench_command_prints_json_and_table(tmp_path):
    runner = CliRunner()
    args = ["bench", "--image-size", "20x24x3", "--bank-size", "16x16", "--repeat", "1", "--peer", "ndimage",
            "--case", "3x3",
            "--case", "bank"]
    result = runner.invoke(app, [*args, "--json", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [c["name"] for c in data["cases"]] == ["3x3 random", "bank 64 x 3x3"]
    assert data["cases"][0]["timings"][1]["engine"] == "scipy.ndimage.correlate"
    result = runner.invoke(app, [*args, "--json", str(tmp_path / "b.json")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "convcli (direct)" in result.stdout and "performance targets" in result.stdout
    assert "3x3: at least 3x faster than ndimage" in result.stdout
    assert json.loads((tmp_path / "b.json").read_text())["repeat"] == 1
    bad = runner.invoke(app, ["bench", "--image-size", "big"])
    assert bad.exit_code == 2 and "Error: --image-size must be H x W or H x W x C" in bad.output


def test_bench_library_imports_no_cli_and_help_needs_no_scipy():
    code = ("import sys, convcli.tools.bench, convcli.engine.costmodel; "
            "print(sorted(m for m in ('typer', 'rich', 'click', 'cv2', 'torch') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"
    code = "import sys, convcli.cli; print(sorted(m for m in ('scipy', 'cv2', 'torch') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


@pytest.mark.parametrize(("kernel", "stride", "rows"), [
    (np.random.default_rng(0).standard_normal((3, 3)), 1, True),  # 17 passes tap by tap
    (np.random.default_rng(0).standard_normal((7, 7)), 1, True),
    (np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]), 1, False),  # sharpen: 6 passes (the four -1 summed first)
    (np.random.default_rng(0).standard_normal((3, 3)), 2, False),  # row products compute every column
])
def test_the_direct_path_sums_by_row_products_where_they_cost_less_and_says_so(kernel, stride, rows):
    choice = choose_method((3000, 4000, 3), kernel, method="direct", stride=stride)
    assert costmodel.direct_rows(choice.problem) is rows
    auto = choose_method((300, 400, 3), kernel, stride=stride)
    assert auto.path != "direct" or ("by row products" in auto.reason) is rows


@pytest.mark.parametrize("method", ["direct:rows"], indirect=True)
def test_row_products_do_not_depend_on_the_strips(method, monkeypatch):
    """What lets the direct path run in bands: each output is one dot product in a fixed order, whatever
    the width of the product it is part of (one tile for the whole image, or thin strips and column
    pieces), so the results are equal bit for bit (their values are checked against SciPy above)."""
    x = image((37, 45, 3), seed=9).astype(np.float32)
    k = powers_of_two((5, 4))
    results = []
    for strip_bytes in (1 << 30, 4096, 256):
        monkeypatch.setattr(convcli.engine.plan, "STRIP_BYTES", strip_bytes)
        results.append(conv2d(x, k, method=method, boundary="symmetric", dilation=2))
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])
