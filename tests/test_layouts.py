"""Every path of the engine on every memory layout and input dtype a NumPy user hands it.

Views that reverse or skip channels, Fortran order, a channel-first array transposed to channel-last,
negative strides: each is compared, every path forced, with the scipy-based reference run on a plain
C-ordered float64 copy, never with the engine itself. Kernel taps are distinct powers of two.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ENGINE_WAYS, image, powers_of_two

from convcli import conv2d
from convcli.engine.reference import reference_conv2d


@pytest.fixture(params=["one tile", "many strips"], autouse=True)
def strips(request, monkeypatch):
    """Run each test once with the image in one tile (a padded copy) and once cut into strips of a few rows,
    whose blocks inside the image are views of it: the layouts show there."""
    import convcli.engine.plan

    if request.param == "many strips":
        monkeypatch.setattr(convcli.engine.plan, "STRIP_BYTES", 64)


def _layouts() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    base = rng.random((30, 40, 6))
    return {
        "contiguous": base[..., :3].copy(),
        "channels reversed": base[..., :3][..., ::-1],
        "every other channel": base[..., ::2],
        "fortran": np.asfortranarray(base[..., :3]),
        "channel-first transposed": np.ascontiguousarray(base[..., :3].transpose(2, 0, 1)).transpose(1, 2, 0),
        "rows and columns reversed": base[::-1, ::-1, :3],
        "every other column": rng.random((30, 80, 3))[:, ::2],
        "one channel, strided": base[..., 1:2],
        "gray fortran": np.asfortranarray(base[..., 0]),
        "gray transposed": base[..., 0].T,
        "gray reversed": base[::-1, ::-2, 0],
    }


LAYOUTS = _layouts()


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("path", ENGINE_WAYS, indirect=True)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_path_on_every_layout_matches_the_reference(layout, path, stride):
    x = LAYOUTS[layout]
    assert layout == "contiguous" or not x.flags.c_contiguous
    k = powers_of_two((3, 4)) / 2 ** 12
    got = conv2d(x, k, method=path, stride=stride, boundary="mirror", dilation=2)
    expected = reference_conv2d(np.ascontiguousarray(x, dtype=np.float64), k, stride=stride, boundary="mirror",
                                dilation=2)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("path", ENGINE_WAYS, indirect=True)
@pytest.mark.parametrize("layout", ["channels reversed", "fortran", "channel-first transposed"])
def test_a_bank_on_every_path_and_layout_matches_the_reference(layout, path):
    x = LAYOUTS[layout]
    bank = np.stack([powers_of_two((3, 3)), -powers_of_two((3, 3))[::-1]]) / 512
    got = conv2d(x, bank, method=path, stride=2, padding=1, boundary="zero")
    for n in range(2):
        expected = reference_conv2d(np.ascontiguousarray(x), bank[n], stride=2, padding=1, boundary="zero")
        np.testing.assert_allclose(got[n], expected, rtol=0, atol=1e-12)


def test_the_issues_realistic_call_runs_and_is_right():
    rng = np.random.default_rng(0)
    x = rng.random((3, 600, 800)).transpose(1, 2, 0)  # exactly as the issue has it
    bank = rng.standard_normal((8, 5, 5))
    got = conv2d(x, bank)
    for n in range(8):
        np.testing.assert_allclose(got[n], reference_conv2d(np.ascontiguousarray(x), bank[n]), rtol=0, atol=1e-11)


@pytest.mark.parametrize("path", ENGINE_WAYS, indirect=True)
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int64, np.bool_, np.float16, np.float32])
def test_every_input_dtype_on_every_path(dtype, path):
    values = image((30, 40, 3), seed=4)
    if dtype == np.bool_:
        x = values > 0.5
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = (values * min(info.max, 60000) + (info.min if info.min < 0 else 0) / 2).astype(dtype)
    else:
        x = values.astype(dtype)
    x = x[:, ::-1]  # a view as well
    k = powers_of_two((3, 3)) / 512
    got = conv2d(x, k, method=path, stride=2, boundary="edge")
    assert got.dtype == np.float32
    expected = reference_conv2d(x.astype(np.float64), k, stride=2, boundary="edge")
    scale = max(float(np.abs(x.astype(np.float64)).max()), 1.0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=4e-7 * scale)
