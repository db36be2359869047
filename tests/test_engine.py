"""The engine against scipy.signal, against np.pad references, and against the contract's formula.

Kernels use distinct powers of two as taps, so a flipped, shifted or transposed kernel cannot pass.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
from helpers import SCIPY_BOUNDARY, image, powers_of_two
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import signal

from convcli import conv2d, output_shape
from convcli.engine.boundary import BOUNDARIES, BOUNDARY_ALIASES, resolve_boundary
from convcli.engine.reference import reference_conv2d
from convcli.errors import ParameterError

SHAPES = [(3, 3), (1, 1), (2, 2), (4, 4), (2, 3), (3, 2), (1, 4), (5, 1), (4, 5), (5, 5)]
PADDINGS = ["same", "valid", "full", 0, 1, 3]




# --- the contract's formula, read literally -----------------------------------------------------------

def source_index(i: int, n: int, boundary: str) -> int | None:
    """Which input sample position ``i`` reads under ``boundary`` (None: outside, use the fill value)."""
    if 0 <= i < n:
        return i
    if boundary in ("zero", "constant"):
        return None
    if boundary == "edge":
        return min(max(i, 0), n - 1)
    if boundary == "wrap":
        return i % n
    if boundary == "symmetric":  # cba|abc
        m = i % (2 * n)
        return m if m < n else 2 * n - 1 - m
    if n == 1:  # mirror, cb|abc
        return 0
    m = i % (2 * n - 2)
    return m if m < n else 2 * n - 2 - m


def positions(n, k, *, stride, dilation, padding, flip):
    """Output anchor positions along one axis, straight from the contract's definitions."""
    anchor = (k - 1) // 2
    sign = -1 if flip else 1

    def taps(c):
        return [c + sign * (i - anchor) * dilation for i in range(k)]

    if padding == "same":
        return list(range(0, n, stride))
    span = dilation * (k - 1)
    candidates = range(-span - n - 10, 2 * n + span + 10)
    if padding == "valid":
        chosen = [c for c in candidates if all(0 <= t < n for t in taps(c))]
    elif padding == "full":  # the dilated kernel's extent overlaps the image (as scipy's and PyTorch's "full")
        chosen = [c for c in candidates if min(taps(c)) < n and max(taps(c)) >= 0]
    else:
        chosen = [c for c in candidates if all(-padding <= t < n + padding for t in taps(c))]
    return chosen[::stride]


def brute_force(x, k, *, stride=1, padding="same", boundary="symmetric", cval=0.0, dilation=1, flip=False):
    """``out[y, x] = sum k[i, j] * in[y*s + (i - ai)*d, x*s + (j - aj)*d]``, one pixel at a time."""
    (h, w), (kh, kw) = x.shape[:2], k.shape
    ai, aj = (kh - 1) // 2, (kw - 1) // 2
    sign = -1 if flip else 1
    fill = cval if boundary == "constant" else 0.0
    rows = positions(h, kh, stride=stride, dilation=dilation, padding=padding, flip=flip)
    cols = positions(w, kw, stride=stride, dilation=dilation, padding=padding, flip=flip)
    out = np.zeros((len(rows), len(cols)) + x.shape[2:])
    for (oy, cy), (ox, cx) in itertools.product(enumerate(rows), enumerate(cols)):
        total = 0.0
        for i, j in itertools.product(range(kh), range(kw)):
            sy = source_index(cy + sign * (i - ai) * dilation, h, boundary)
            sx = source_index(cx + sign * (j - aj) * dilation, w, boundary)
            value = fill if sy is None or sx is None else x[sy, sx]
            total = total + k[i, j] * value
        out[oy, ox] = total
    return out


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kshape", [(3, 3), (2, 2), (2, 3), (4, 1), (5, 4)])
@pytest.mark.parametrize("xshape", [(5, 6), (1, 1), (2, 3), (4, 3, 2)])
def test_matches_the_contract_formula(xshape, kshape, boundary):
    x, k = image(xshape), powers_of_two(kshape)
    for padding, stride, dilation, flip in itertools.product(["same", "valid", "full", 2], [1, 2], [1, 2],
                                                            [False, True]):
        options = dict(stride=stride, padding=padding, boundary=boundary, cval=0.25, dilation=dilation, flip=flip)
        expected = brute_force(x, k, **options)
        if 0 in expected.shape:
            with pytest.raises(ParameterError, match="leaves no output"):
                conv2d(x, k, **options)
            continue
        got = conv2d(x, k, **options)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, err_msg=str(options))


# --- scipy.signal directly, where it has the mode ---------------------------------------------------

@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("mode", ["same", "valid", "full"])
@pytest.mark.parametrize("boundary", list(SCIPY_BOUNDARY))
@pytest.mark.parametrize("kshape", SHAPES)
def test_matches_scipy_signal(kshape, boundary, mode, flip):
    x, k = image((9, 11)), powers_of_two(kshape)
    scipy_run = signal.convolve2d if flip else signal.correlate2d
    expected = scipy_run(x, k, mode=mode, boundary=SCIPY_BOUNDARY[boundary])
    for stride in (1, 2, 3):
        got = conv2d(x, k, padding=mode, boundary=boundary, flip=flip, stride=stride)
        # The contract: a strided result is the stride-1 result sampled at every s-th row and column.
        np.testing.assert_allclose(got, expected[::stride, ::stride], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("kshape", SHAPES)
def test_dtypes_against_scipy(kshape, flip, dtype):
    x = image((12, 10, 3)).astype(dtype)
    k = powers_of_two(kshape) / np.abs(powers_of_two(kshape)).sum()
    got = conv2d(x, k, boundary="zero", flip=flip)
    assert got.dtype == dtype
    scipy_run = signal.convolve2d if flip else signal.correlate2d
    for c in range(3):
        expected = scipy_run(x[..., c].astype(np.float64), k, mode="same")
        tolerance = 1e-6 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(got[..., c], expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kshape", SHAPES)
def test_every_combination_against_np_pad_reference(kshape, boundary, padding):
    """np.pad by the boundary mode, then SciPy in valid mode (reference_conv2d)."""
    x, k = image((10, 13, 2), seed=3), powers_of_two(kshape)
    for stride, dilation, flip, dtype in itertools.product([1, 2, 3], [1, 2, 3], [False, True],
                                                           [np.float32, np.float64]):
        options = dict(stride=stride, padding=padding, boundary=boundary, cval=0.75, dilation=dilation, flip=flip)
        try:
            got = conv2d(x.astype(dtype), k, **options)
        except ParameterError:
            assert padding == "valid" or isinstance(padding, int)
            continue
        expected = reference_conv2d(x, k, **options)
        assert got.shape == expected.shape
        tolerance = (1e-13 if dtype == np.float64 else 2e-6) * np.abs(k).sum()
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance, err_msg=str(options))


@pytest.mark.parametrize("route", ["ndimage", "signal"])
@pytest.mark.parametrize("xshape", [(4, 5), (4, 5, 2)])
def test_np_pad_reference_matches_brute_force(xshape, route, monkeypatch):
    """The reference used above is itself checked against the literal formula, by both of its routes:
    ``scipy.ndimage`` for few sums, ``scipy.signal``'s FFT for many."""
    from convcli.engine import reference

    monkeypatch.setattr(reference, "DIRECT_LIMIT", reference.DIRECT_LIMIT if route == "ndimage" else 0)
    x = image(xshape)
    for kshape, boundary, padding, stride, dilation, flip in itertools.product(
            [(3, 2), (2, 4)], BOUNDARIES, ["same", "valid", "full", 1], [1, 2], [1, 2], [False, True]):
        options = dict(stride=stride, padding=padding, boundary=boundary, cval=0.5, dilation=dilation, flip=flip)
        expected = brute_force(x, powers_of_two(kshape), **options)
        if 0 in expected.shape:
            continue
        np.testing.assert_allclose(reference_conv2d(x, powers_of_two(kshape), **options), expected, atol=1e-12)


def test_padding_integer_follows_pytorch_output_size():
    x, k = image((32, 24)), powers_of_two((5, 3))
    for padding, stride, dilation in itertools.product([0, 1, 2, 4], [1, 2, 3], [1, 2]):
        got = conv2d(x, k, padding=padding, stride=stride, dilation=dilation)
        rows = (32 + 2 * padding - dilation * (5 - 1) - 1) // stride + 1
        cols = (24 + 2 * padding - dilation * (3 - 1) - 1) // stride + 1
        assert got.shape == (rows, cols) == output_shape(x.shape, k.shape, stride=stride, padding=padding,
                                                         dilation=dilation)


def test_same_with_stride_has_ceil_rows():
    assert conv2d(image((7, 9)), np.ones((3, 3)), stride=2).shape == (4, 5)
    assert conv2d(image((7, 9)), np.ones((3, 3)), stride=3).shape == (3, 3)


def test_bank_gives_leading_axis_equal_to_each_kernel():
    x = image((8, 9, 3))
    bank = np.stack([powers_of_two((3, 3)), np.eye(3), -powers_of_two((3, 3)).T])
    got = conv2d(x, bank, boundary="wrap", stride=2, dilation=2)
    assert got.shape == (3, 4, 5, 3)
    for plane, kernel in zip(got, bank):
        np.testing.assert_allclose(plane, reference_conv2d(x, kernel, boundary="wrap", stride=2, dilation=2),
                                   atol=1e-5)


def test_image_smaller_than_kernel():
    x, k = image((2, 3)), powers_of_two((7, 5))
    for boundary in BOUNDARIES:
        np.testing.assert_allclose(conv2d(x, k, boundary=boundary, cval=0.5),
                                   brute_force(x, k, boundary=boundary, cval=0.5), rtol=1e-12)


@pytest.mark.parametrize("dtype, expected", [(np.uint8, np.float32), (np.int64, np.float32), (bool, np.float32),
                                             (np.float16, np.float32), (np.float32, np.float32),
                                             (np.float64, np.float64)])
def test_result_dtype(dtype, expected):
    x = (image((5, 5)) * 200).astype(dtype)
    got = conv2d(x, np.ones((3, 3)))
    assert got.dtype == expected
    # Integer images are not overflowed: 9 x 200 > 255.
    np.testing.assert_allclose(got, signal.correlate2d(x.astype(np.float64), np.ones((3, 3)), mode="same",
                                                       boundary="symm"), rtol=1e-3)


def test_float32_input_is_not_promoted_and_list_inputs_work():
    assert conv2d(np.ones((4, 4), np.float32), [[1.0]]).dtype == np.float32
    assert conv2d([[1, 2], [3, 4]], [[1]]).tolist() == [[1, 2], [3, 4]]


def test_every_alias_resolves_as_the_contract_says():
    expected = {"fill": "zero", "replicate": "edge", "nearest": "edge", "clamp": "edge", "reflect": "symmetric",
                "symm": "symmetric", "reflect101": "mirror", "reflect_101": "mirror", "circular": "wrap",
                "periodic": "wrap", "tile": "wrap"}
    for alias, name in expected.items():
        assert resolve_boundary(alias) == name
        assert resolve_boundary(alias.upper()) == name
    assert set(BOUNDARY_ALIASES.values()) == set(BOUNDARIES)
    x, k = image((6, 7)), powers_of_two((3, 3))
    np.testing.assert_array_equal(conv2d(x, k, boundary="reflect101"), conv2d(x, k, boundary="mirror"))


@pytest.mark.parametrize("kwargs, message", [
    (dict(stride=0), "stride must be an integer >= 1; got 0"),
    (dict(stride=1.5), "stride must be an integer >= 1; got 1.5"),
    (dict(dilation=-1), "dilation must be an integer >= 1; got -1"),
    (dict(padding="middle"), "padding must be same, valid, full or an integer >= 0; got 'middle'"),
    (dict(padding=-2), "padding must be same, valid, full or an integer >= 0; got -2"),
    (dict(boundary="bogus"), "boundary must be one of zero, constant, edge, symmetric, mirror, wrap (or an alias "
                             "such as replicate, reflect, reflect101, circular); got 'bogus'"),
    (dict(cval=float("nan")), "cval must be finite; got nan"),
    (dict(cval="grey"), "cval must be a number; got 'grey'"),
    (dict(flip="no"), "flip must be True or False; got 'no'"),
    (dict(method="magic"), "method must be one of auto, direct, separable, fft, gemm; got 'magic'"),
])
def test_bad_arguments_name_the_parameter_and_value(kwargs, message):
    with pytest.raises(ParameterError) as error:
        conv2d(image((5, 5)), np.ones((3, 3)), **kwargs)
    assert str(error.value) == message
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize("x, k, message", [
    (np.ones((5,)), np.ones((3, 3)), "image must be H x W or H x W x C; got shape (5,)"),
    (np.ones((0, 4)), np.ones((3, 3)), "image is empty; got shape (0, 4)"),
    (np.ones((4, 4), complex), np.ones((3, 3)), "image must hold real numbers; got dtype complex128"),
    (np.ones((4, 4)), np.ones(3), "kernel must be kh x kw or a bank N x kh x kw; got shape (3,)"),
    (np.ones((4, 4)), np.ones((0, 3)), "kernel is empty; got shape (0, 3)"),
    (np.ones((4, 4)), [[1, np.nan]], "kernel holds NaN or infinite values"),
    (np.ones((4, 4)), np.ones((9, 1)), None),
])
def test_bad_arrays(x, k, message):
    if message is None:  # a tall kernel on a short image is fine with padding="same"
        assert conv2d(x, k).shape == (4, 4)
        with pytest.raises(ParameterError, match=r"padding='valid' leaves no output: the kernel \(9x1, "
                                                 r"dilation 1\) does not fit the image \(4x4\)"):
            conv2d(x, k, padding="valid")
        return
    with pytest.raises(ParameterError) as error:
        conv2d(x, k)
    assert str(error.value) == message


# --- properties -------------------------------------------------------------------------------------

small_images = arrays(np.float64, st.tuples(st.integers(1, 9), st.integers(1, 9)),
                      elements=st.floats(-4, 4, allow_nan=False, width=64))
small_kernels = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 4)),
                       elements=st.floats(-2, 2, allow_nan=False, width=64))
options = st.fixed_dictionaries({
    "boundary": st.sampled_from(BOUNDARIES),
    "stride": st.integers(1, 3),
    "dilation": st.integers(1, 3),
    "flip": st.booleans(),
    "cval": st.just(0.0),
})


@settings(max_examples=150, deadline=None)
@given(x=small_images, k=small_kernels, a=st.floats(-3, 3), b=st.floats(-3, 3), opts=options,
       seed=st.integers(0, 1000))
def test_linearity(x, k, a, b, opts, seed):
    y = np.random.default_rng(seed).uniform(-1, 1, x.shape)
    left = conv2d(a * x + b * y, k, **opts)
    right = a * conv2d(x, k, **opts) + b * conv2d(y, k, **opts)
    np.testing.assert_allclose(left, right, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(x=small_images, kh=st.integers(1, 6), kw=st.integers(1, 6), boundary=st.sampled_from(BOUNDARIES),
       flip=st.booleans())
def test_identity_kernel_returns_the_input(x, kh, kw, boundary, flip):
    k = np.zeros((kh, kw))
    k[(kh - 1) // 2, (kw - 1) // 2] = 1.0  # the anchor tap reads in[y, x], flipped or not
    np.testing.assert_array_equal(conv2d(x, k, boundary=boundary, flip=flip), x)


@settings(max_examples=100, deadline=None)
@given(x=small_images, dy=st.integers(-2, 2), dx=st.integers(-2, 2))
def test_shifted_delta_shifts_the_image(x, dy, dx):
    k = np.zeros((5, 5))
    k[2 + dy, 2 + dx] = 1.0  # reads the pixel dy rows below and dx columns right of the anchor
    np.testing.assert_array_equal(conv2d(x, k, boundary="wrap"), np.roll(x, (-dy, -dx), axis=(0, 1)))
    np.testing.assert_array_equal(conv2d(x, k, boundary="wrap", flip=True), np.roll(x, (dy, dx), axis=(0, 1)))


def test_core_imports_neither_typer_nor_rich():
    code = ("import sys, numpy as np; import convcli; convcli.conv2d(np.ones((4, 4)), np.ones((3, 3))); "
            "import convcli.pipeline.batch, convcli.kernels.specs, convcli.imageio.inputs, convcli.engine.reference; "
            "print(sorted(m for m in ('typer', 'rich', 'click') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_many_strips_and_threads_match_the_reference(monkeypatch):
    """Photos are cut into row strips run on threads; tiny strips here make every seam show."""
    import convcli.engine.plan

    monkeypatch.setattr(convcli.engine.plan, "STRIP_BYTES", 64)
    x = image((23, 17, 3), seed=5)
    for kshape, boundary, padding, stride, dilation, flip in itertools.product(
            [(3, 3), (4, 5), (7, 2)], BOUNDARIES, ["same", "valid", "full", 4], [1, 2], [1, 3], [False, True]):
        k = powers_of_two(kshape)
        options = dict(stride=stride, padding=padding, boundary=boundary, cval=0.5, dilation=dilation, flip=flip)
        got = conv2d(x, np.stack([k, -k.T if kshape[0] == kshape[1] else 2 * k]), **options)
        assert got.shape[1] > 2  # several strips
        for plane, kernel in zip(got, np.stack([k, -k.T if kshape[0] == kshape[1] else 2 * k])):
            np.testing.assert_allclose(plane, reference_conv2d(x, kernel, **options),
                                       atol=1e-12 * np.abs(k).sum(), err_msg=str(options))
