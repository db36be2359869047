"""Filtering in bands of rows gives, bit for bit, what filtering the whole image gives.

Each case writes one input twice, through :func:`convcli.pipeline.process.process_source`: once whole
(the band path switched off) and once in bands of a few rows (far smaller than the halo for the tall
kernels), and compares the files' samples exactly. Raw ``.npy`` outputs compare the float maps
themselves. The kernels' taps are all different, so a band shifted by a row or a flipped kernel
cannot pass; a separate check holds the whole path to ``scipy.signal`` for one of these cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from helpers import powers_of_two
from PIL import Image

from convcli.engine.settings import Settings
from convcli.kernels.composite import Bank, Chain
from convcli.kernels.kernel import Kernel
from convcli.kernels.layer import Depthwise, Layer
from convcli.pipeline import bands, process
from convcli.pipeline.options import ApplyOptions
from convcli.pipeline.planning import Target

RNG = np.random.default_rng(12)


def kernel(name: str, shape, seed: int = 0) -> Kernel:
    weights = powers_of_two(shape) / 2.0 ** np.prod(shape) + np.random.default_rng(seed).random(shape) * 0.1
    return Kernel(name, weights)


def separable(name: str, rows: int, cols: int) -> Kernel:
    down, across = np.arange(1, rows + 1) ** 1.3, np.arange(cols, 0, -1) ** 0.7
    return Kernel(name, np.outer(down, across) / (down.sum() * across.sum()))


def write_input(path: Path, kind: str, shape=(53, 37)) -> None:
    height, width = shape
    if kind == "gray8":
        Image.fromarray(RNG.integers(0, 256, shape, dtype=np.uint8)).save(path)
    elif kind == "rgb8":
        Image.fromarray(RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    elif kind == "rgba8":
        pixels = RNG.integers(0, 256, (height, width, 4), dtype=np.uint8)
        pixels[5:20, 3:9, 3] = 0
        Image.fromarray(pixels).save(path)
    elif kind == "rgb16":
        tifffile.imwrite(path, RNG.integers(0, 65536, (height, width, 3), dtype=np.uint16), photometric="rgb")
    elif kind == "float-nan":
        values = RNG.random(shape, dtype=np.float32) * 3 - 1
        values[RNG.random(shape) < 0.02] = np.nan
        values[10:14, 4:30] = -9999
        tifffile.imwrite(path, values, rowsperstrip=7, compression="zlib")
    elif kind == "gray8-tiles":
        tifffile.imwrite(path, RNG.integers(0, 256, shape, dtype=np.uint8), tile=(16, 16), compression="zlib")
    else:
        raise AssertionError(kind)


def read_output(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".tif":
        return tifffile.imread(path)
    with Image.open(path) as image:
        return np.asarray(image)


def run_both(tmp_path: Path, source: Path, entry, options: ApplyOptions, suffix: str, monkeypatch,
             map_policy: str = "clip") -> tuple[np.ndarray, np.ndarray, process.SourceResult]:
    outputs = []
    results = []
    for how in ("whole", "bands"):
        target = Target(source, (entry,), tmp_path / f"{how}{suffix}", (map_policy,))
        with monkeypatch.context() as patch:
            if how == "whole":
                patch.setattr(process, "_load_still", lambda *args: (None, 0.0))
            else:
                patch.setattr(bands, "band_height", lambda *args: 8)
            outcome = process.process_source(source, [target], options)
        results.append(outcome)
        outputs.append(None if outcome.failures else read_output(target.output))
    if outputs[0] is None:  # the settings leave no output: the same refusal, in bands or not
        assert [f.message for f in results[1].failures] == [f.message for f in results[0].failures]
        pytest.skip(results[0].failures[0].message)
    assert not results[1].failures, results[1].failures[0].message
    return outputs[0], outputs[1], results[1]


def assert_same(whole: np.ndarray, banded: np.ndarray) -> None:
    assert whole.shape == banded.shape and whole.dtype == banded.dtype
    assert np.array_equal(whole, banded, equal_nan=True), f"{np.count_nonzero(whole != banded)} samples differ"


ENTRIES = {
    "3x3": kernel("k3", (3, 3)),
    "4x5-even": kernel("k45", (4, 5), 1),
    "31x3-tall": kernel("tall", (31, 3), 2),
    "anchored-5x3": Kernel("anchored", kernel("an", (5, 3), 10).weights, anchor=(4, 0)),  # set in zeros: 9x5
    "separable-9x7": separable("sep", 9, 7),
    "separable-25x21": separable("sep25", 25, 21),
    "chain": Chain("ch", (kernel("a", (3, 3), 3), kernel("b", (5, 1), 4))),
    "bank-max": Bank("bk", (kernel("c", (3, 3), 5), kernel("d", (3, 3), 6), kernel("e", (3, 3), 7)), combine="max"),
    "bank-argmax": Bank("ba", (kernel("f", (3, 3), 8), kernel("g", (3, 3), 9)), combine="argmax"),
}

SETTINGS = [
    dict(),
    dict(boundary="zero"),
    dict(boundary="constant", cval=0.25),
    dict(boundary="edge"),
    dict(boundary="mirror"),
    dict(padding="valid"),
    dict(padding="full"),
    dict(padding=2),
    dict(stride=2),
    dict(stride=3, boundary="edge"),
    dict(stride=2, padding="valid", dilation=2),
    dict(dilation=3),
    dict(flip=True),
    dict(method="direct"),
    dict(method="gemm"),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "default")
@pytest.mark.parametrize("name", list(ENTRIES))
def test_bands_match_the_whole_image_raw(tmp_path, monkeypatch, name, settings):
    source = tmp_path / "in.png"
    write_input(source, "rgb8")
    options = ApplyOptions(settings=Settings(**settings), map="raw")
    whole, banded, outcome = run_both(tmp_path, source, ENTRIES[name], options, ".npy", monkeypatch, "raw")
    assert_same(whole, banded)
    assert outcome.maps[0].output_size == whole.shape[:2]


@pytest.mark.parametrize(("kind", "suffix", "extra", "policy"), [
    ("gray8", ".png", {}, "clip"),
    ("rgb8", ".jpg", {}, "abs"),
    ("rgba8", ".png", {}, "clip"),
    ("rgba8", ".tif", {"stride": 2}, "offset"),
    ("rgb16", ".png", {}, "minmax"),
    ("rgb16", ".tif", {"padding": "valid"}, "clip"),
    ("rgb8", ".png", {"gray": True}, "minmax"),
    ("rgb8", ".png", {"colormap": "viridis"}, "minmax"),
    ("rgb8", ".png", {"overlay": True}, "abs"),
    ("float-nan", ".tif", {}, "clip"),
    ("float-nan", ".tif", {"nan": "ignore"}, "minmax"),
    ("float-nan", ".npy", {"nan": "ignore", "nodata": -9999.0}, "raw"),
    ("float-nan", ".npy", {"nan": "fill", "cval": 0.5}, "raw"),
    ("gray8-tiles", ".tif", {"stride": 3}, "clip"),
    ("gray8-tiles", ".png", {"boundary": "mirror"}, "abs"),
])
@pytest.mark.parametrize("name", ["3x3", "31x3-tall", "chain", "separable-9x7"])
def test_bands_match_the_whole_image_written(tmp_path, monkeypatch, name, kind, suffix, extra, policy):
    source = tmp_path / ("in.tif" if kind.startswith(("float", "rgb16", "gray8-tiles")) else "in.png")
    write_input(source, kind)
    engine_keys = {"stride", "padding", "boundary", "cval", "nan", "nodata", "dilation"}
    settings = Settings(**{k: v for k, v in extra.items() if k in engine_keys})
    options = ApplyOptions(settings=settings, **{k: v for k, v in extra.items() if k not in engine_keys})
    whole, banded, _ = run_both(tmp_path, source, ENTRIES[name], options, suffix, monkeypatch, policy)
    assert_same(whole, banded)


def test_a_layer_channel_is_banded_alike(tmp_path, monkeypatch):
    source = tmp_path / "in.png"
    write_input(source, "rgb8")
    layer = Layer("l0", np.stack([powers_of_two((3, 5)) / 1000 * (c + 1) for c in range(3)]))
    whole, banded, _ = run_both(tmp_path, source, layer, ApplyOptions(map="raw"), ".npy", monkeypatch, "raw")
    assert_same(whole, banded)


def test_an_image_smaller_than_a_band_and_a_one_row_image(tmp_path, monkeypatch):
    for shape in [(3, 40), (1, 9), (9, 1)]:
        source = tmp_path / f"in{shape[0]}x{shape[1]}.png"
        write_input(source, "gray8", shape)
        whole, banded, _ = run_both(tmp_path, source, ENTRIES["4x5-even"], ApplyOptions(map="raw"), ".npy",
                                    monkeypatch, "raw")
        assert_same(whole, banded)


def test_what_cannot_be_banded_is_filtered_whole(tmp_path, monkeypatch):
    """wrap reads the far edge, fft rounds by tile, a depthwise report times the whole image: these are
    filtered whole, with the same results, never wrongly banded."""
    source = tmp_path / "in.png"
    write_input(source, "rgb8")
    calls = []
    original = bands.write_in_bands
    monkeypatch.setattr(process, "write_in_bands", lambda *a, **k: calls.append(1) or original(*a, **k))
    cases = [(ENTRIES["3x3"], Settings(boundary="wrap")), (ENTRIES["3x3"], Settings(method="fft")),
             (Depthwise("dw", tuple(kernel(f"d{i}", (3, 3), i) for i in range(3))), Settings())]
    for entry, settings in cases:
        whole, banded, _ = run_both(tmp_path, source, entry, ApplyOptions(settings=settings, map="raw"), ".npy",
                                    monkeypatch, "raw")
        assert_same(whole, banded)
    assert len(calls) == 1  # fft: tried, and given up at its first band; wrap and depthwise: never tried


def test_the_whole_path_itself_matches_scipy(tmp_path, monkeypatch):
    """The reference the bands are held to is itself right (scipy.signal, symmetric boundary)."""
    from scipy.signal import correlate2d

    source = tmp_path / "in.png"
    pixels = RNG.integers(0, 256, (40, 30), dtype=np.uint8)
    Image.fromarray(pixels).save(source)
    entry = ENTRIES["4x5-even"]
    _, banded, _ = run_both(tmp_path, source, entry, ApplyOptions(map="raw"), ".npy", monkeypatch, "raw")
    padded = np.pad(pixels / 255.0, ((1, 2), (2, 2)), mode="symmetric")  # anchor (1, 2) of a 4x5 kernel
    expected = correlate2d(padded, entry.weights, mode="valid")
    np.testing.assert_allclose(banded, expected, atol=1e-5)


@pytest.mark.parametrize("depth", [8, 16])
def test_quantising_in_place_rounds_as_clip_and_nan_to_num(depth):
    from convcli.imageio.writing import quantise

    values = np.array([np.nan, np.inf, -np.inf, -0.0, -1e-9, 0.5 / 255, 1.5 / 255, 0.5, 1 - 1e-9, 1.0, 7.0],
                      dtype=np.float32)
    values = np.concatenate([values, RNG.random(1000, dtype=np.float32) * 1.2 - 0.1])
    top = 65535 if depth == 16 else 255
    expected = np.rint(np.clip(np.nan_to_num(values), 0, 1) * np.float32(top)).astype(f"uint{depth}")
    copy = values.copy()
    assert np.array_equal(quantise(values, depth), expected)
    assert np.array_equal(values, copy, equal_nan=True)  # left alone unless in_place
    assert np.array_equal(quantise(values, depth, in_place=True), expected)


@pytest.mark.parametrize("method", ["auto", "fft"])  # in bands, and whole
@pytest.mark.parametrize(("written", "expected"), [("plain.tif", 1), ("deflate.tif", 8), ("in.png", 8)])
def test_a_tiff_is_written_compressed_like_its_input(tmp_path, written, expected, method):
    pixels = RNG.integers(0, 256, (40, 30), dtype=np.uint8)
    source = tmp_path / written
    if written == "in.png":
        Image.fromarray(pixels).save(source)
    else:
        tifffile.imwrite(source, pixels, compression=None if written == "plain.tif" else "zlib")
    target = Target(source, (ENTRIES["3x3"],), tmp_path / "out.tif", ("clip",))
    outcome = process.process_source(source, [target], ApplyOptions(settings=Settings(method=method)))
    assert not outcome.failures
    with tifffile.TiffFile(target.output) as tif:
        assert int(tif.pages[0].compression) == expected


def test_the_run_s_global_range_is_found_in_bands_alike(tmp_path, monkeypatch):
    """``map`` global: the first pass over bands finds the range the whole images give."""
    sources = []
    for index in range(2):
        source = tmp_path / f"in{index}.png"
        write_input(source, "rgb8")
        sources.append(source)
    entry = ENTRIES["4x5-even"]
    targets = [Target(s, (entry,), tmp_path / f"{s.stem}.png", ("global",)) for s in sources]
    options = ApplyOptions(map="global")
    banded = process.find_global_range(targets, options)
    with monkeypatch.context() as patch:
        patch.setattr(process, "_load_still", lambda *args: (None, 0.0))
        whole = process.find_global_range(targets, options)
    assert banded == whole and banded[0] < banded[1]


def test_a_tiff_read_in_pieces_may_pass_the_pixel_limit_only_into_a_tiff(tmp_path):
    """``max_pixels`` holds for every file decoded whole; a TIFF read in pieces and written in pieces (a
    .tif output) may pass it, since its memory is that of a few bands."""
    pixels = RNG.integers(0, 256, (64, 50), dtype=np.uint8)
    striped, whole = tmp_path / "striped.tif", tmp_path / "onestrip.tif"
    tifffile.imwrite(striped, pixels, rowsperstrip=8, compression="zlib")
    tall = RNG.integers(0, 256, (1100, 3), dtype=np.uint8)
    tifffile.imwrite(whole, tall, compression="zlib", rowsperstrip=1100)  # one strip of 1100 rows: decoded whole
    options = ApplyOptions(max_pixels=1000)

    def run(source: Path, output: str) -> process.SourceResult:
        target = Target(source, (ENTRIES["3x3"],), tmp_path / output, ("clip",))
        return process.process_source(source, [target], options)

    assert not run(striped, "a.tif").failures
    refused = run(striped, "b.png").failures
    assert [f.message for f in refused] == [
        f"{striped}: refused: 50x64 is 3200 pixels, over the `max_pixels` limit of 1000 pixels (a decompression "
        "bomb?); filtered in pieces to a .tif it may be larger, or raise `max_pixels`"]
    refused = run(whole, "c.tif").failures
    assert [f.message for f in refused] == [
        f"{whole}: refused: 3x1100 is 3300 pixels, over the `max_pixels` limit of 1000 pixels (a decompression "
        "bomb?); raise `max_pixels` if the file is trusted"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "onestrip.tif", "striped.tif"]


@pytest.mark.parametrize("layout", [dict(bigtiff=True, rowsperstrip=5), dict(byteorder=">", tile=(16, 32)),
                                    dict(predictor=True, compression="zlib", rowsperstrip=9)])
def test_tiffs_of_every_layout_are_read_in_pieces_alike(tmp_path, monkeypatch, layout):
    source = tmp_path / "in.tif"
    tifffile.imwrite(source, RNG.integers(0, 65536, (61, 45, 3), dtype=np.uint16), photometric="rgb", **layout)
    from convcli.imageio.reading import load_still

    assert load_still(source).samples.streamed
    whole, banded, _ = run_both(tmp_path, source, ENTRIES["31x3-tall"], ApplyOptions(map="raw"), ".tif",
                                monkeypatch, "raw")
    assert_same(whole, banded)


def test_maps_written_as_arrays_keep_their_floats_in_bands(tmp_path, monkeypatch):
    """``.npy`` and ``.npz`` hold float maps whatever the map policy (found by review: bands had
    quantised them to 0..255)."""
    source = tmp_path / "in.png"
    write_input(source, "rgb8")
    for suffix in (".npy", ".tif"):
        whole, banded, _ = run_both(tmp_path, source, ENTRIES["3x3"], ApplyOptions(), suffix, monkeypatch, "clip")
        assert_same(whole, banded)


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_sixteen_bit_alpha_is_quantised_alike(tmp_path, monkeypatch, suffix):
    """The alpha map is float64: the writers quantise colour and alpha together in float64, so must bands."""
    source = tmp_path / "in.tif"
    pixels = RNG.integers(0, 65536, (61, 47, 4), dtype=np.uint16)
    pixels[10:30, 5:20, 3] = 0
    tifffile.imwrite(source, pixels, photometric="rgb", extrasamples=["unassalpha"], rowsperstrip=8)
    for name in ("3x3", "31x3-tall"):
        whole, banded, _ = run_both(tmp_path, source, ENTRIES[name], ApplyOptions(), suffix, monkeypatch, "clip")
        assert_same(whole, banded)


@pytest.mark.parametrize("padding", [1, "valid", 2, "same"])
@pytest.mark.parametrize("height", [20, 21])
def test_a_bank_of_kernels_of_different_heights_at_a_stride(tmp_path, monkeypatch, padding, height):
    source = tmp_path / "in.png"
    write_input(source, "gray8", (height, 24))
    bank = Bank("mixed", (kernel("p", (3, 3), 1), kernel("q", (5, 3), 2)), combine="max")
    options = ApplyOptions(settings=Settings(stride=2, padding=padding), map="raw")
    whole, banded, _ = run_both(tmp_path, source, bank, options, ".npy", monkeypatch, "raw")
    assert_same(whole, banded)


@pytest.mark.parametrize("settings", [dict(), dict(dilation=2), dict(stride=2, padding="full", boundary="edge")],
                         ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "default")
def test_a_gray_image_through_a_separable_kernel_is_banded_alike(tmp_path, monkeypatch, settings):
    """With one channel the horizontal matrix came out column-ordered, and OpenBLAS rounded it by the
    product's height (found by review: thousands of samples one ulp apart); it is made row-major."""
    source = tmp_path / "in.png"
    write_input(source, "gray8", (120, 100))
    entry = separable("sep9x21", 9, 21)
    options = ApplyOptions(settings=Settings(method="separable", **settings), map="raw")
    whole, banded, _ = run_both(tmp_path, source, entry, options, ".npy", monkeypatch, "raw")
    assert_same(whole, banded)


@pytest.mark.parametrize("settings", [dict(dilation=2, boundary="edge"), dict(dilation=2), dict(stride=2),
                                      dict(padding="valid", dilation=3), dict(stride=3, boundary="zero")],
                         ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("kernel_name", ["gaussian7", "separable-25x21"])
def test_a_separable_kernel_is_banded_and_alike_at_any_band_height(tmp_path, monkeypatch, settings, kernel_name):
    """The separable path gives each product the same shape in any strip or band. Each of its three
    precautions is caught here when undone: a shorter band for a strip's last outputs (dilation 2 and
    valid/dilation 3 differ), columns cut only when the whole image does not fit one strip (the 25x21
    kernel at dilation 2), and a band of one row multiplied as a matrix-vector product (valid/dilation 3)."""
    source = tmp_path / "in.png"
    write_input(source, "rgb8", (480, 400))  # the whole image is cut into column pieces, a band is not
    taps = np.exp(-0.5 * (np.arange(7) - 3) ** 2 / 1.5 ** 2)
    gaussian = Kernel("g7", np.outer(taps, taps) / taps.sum() ** 2) if kernel_name == "gaussian7" \
        else ENTRIES[kernel_name]
    options = ApplyOptions(settings=Settings(method="separable", **settings), map="raw")
    calls = []
    original = bands.write_in_bands
    monkeypatch.setattr(process, "write_in_bands", lambda *a, **k: calls.append(1) or original(*a, **k))
    for height in (1, 8, 13):
        monkeypatch.setattr(bands, "band_height", lambda *args, height=height: height)
        outputs = []
        for how in ("whole", "bands"):
            target = Target(source, (gaussian,), tmp_path / f"{how}{height}.npy", ("raw",))
            with monkeypatch.context() as patch:
                if how == "whole":
                    patch.setattr(process, "_load_still", lambda *args: (None, 0.0))
                outcome = process.process_source(source, [target], options)
            assert not outcome.failures, outcome.failures[0].message
            outputs.append(np.load(target.output))
        assert_same(*outputs)
    assert len(calls) == 3  # banded, and never given up


@pytest.mark.parametrize(("kind", "suffix", "channel", "policy"), [
    ("rgb8", ".png", "R,B", "clip"),
    ("rgb8", ".npy", "G", "raw"),
    ("rgba8", ".png", "A", "abs"),
    ("rgba8", ".png", "R,A", "minmax"),
    ("rgba8", ".tif", "G", "offset"),
    ("rgb16", ".png", "0,2", "minmax"),
    ("rgb16", ".tif", "B", "clip"),
    ("gray8", ".png", "L", "clip"),
])
@pytest.mark.parametrize("name", ["3x3", "31x3-tall", "chain", "bank-max"])
def test_channels_passed_through_are_banded_alike(tmp_path, monkeypatch, name, kind, suffix, channel, policy):
    """``channel``: the selected channels filtered, the others copied, the same in bands as whole, and banded."""
    source = tmp_path / ("in.tif" if kind == "rgb16" else "in.png")
    write_input(source, kind)
    calls = []
    original = bands.write_in_bands
    monkeypatch.setattr(process, "write_in_bands", lambda *a, **k: calls.append(1) or original(*a, **k))
    whole, banded, _ = run_both(tmp_path, source, ENTRIES[name], ApplyOptions(channel=channel), suffix, monkeypatch,
                                policy)
    assert_same(whole, banded)
    assert calls  # the bands were written, not given up for the whole image
    stored = read_output(source)
    picked = {"R,B": [0, 2], "G": [1], "A": [3], "R,A": [0, 3], "0,2": [0, 2], "B": [2], "L": [0]}[channel]
    planes = stored if stored.ndim == 3 else stored[..., None]
    kept = [c for c in range(planes.shape[2]) if c not in picked]
    if suffix == ".png":  # Pillow reads 16-bit colour PNGs as 8-bit
        import imagecodecs

        whole = imagecodecs.png_decode((tmp_path / "whole.png").read_bytes())
    out = whole if whole.ndim == 3 else whole[..., None]
    if suffix == ".npy":
        assert np.array_equal(out[..., kept], planes[..., kept] / np.float32(255))
    else:
        assert np.array_equal(out[..., kept], planes[..., kept])
