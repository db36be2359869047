"""Output mapping policies on hand-made arrays, with exact expected values."""

from __future__ import annotations

import numpy as np
import pytest

from convcli.errors import ParameterError
from convcli.kernels.composite import Bank
from convcli.kernels.kernel import Kernel
from convcli.pixels.mapping import apply_map, check_map, resolve_map


def map_values(values, policy, **options):
    return apply_map(values, policy, **options).values


VALUES = np.array([[-1.0, -0.25, 0.0], [0.25, 0.5, 2.0]])


@pytest.mark.parametrize("policy, expected", [
    ("clip", [[0, 0, 0], [0.25, 0.5, 1]]),
    ("abs", [[1, 0.25, 0], [0.25, 0.5, 1]]),
    ("offset", [[0, 0.25, 0.5], [0.75, 1, 1]]),
    ("minmax", [[0, 0.25, 1 / 3], [1.25 / 3, 0.5, 1]]),
    ("raw", VALUES.tolist()),
])
def test_policies(policy, expected):
    np.testing.assert_allclose(map_values(VALUES, policy), expected, atol=1e-15)


def test_global_uses_the_shared_range():
    np.testing.assert_allclose(map_values(VALUES, "global", global_range=(-2.0, 2.0)),
                               [[0.25, 0.4375, 0.5], [0.5625, 0.625, 1.0]])
    with pytest.raises(ParameterError, match="needs the range shared by the whole run"):
        map_values(VALUES, "global")


def test_minmax_of_a_flat_map_is_zero_and_ignores_nan():
    np.testing.assert_array_equal(map_values(np.full((2, 2), 3.0), "minmax"), np.zeros((2, 2)))
    out = map_values(np.array([np.nan, 1.0, 3.0]), "minmax")
    assert out[1:].tolist() == [0.0, 1.0]


def test_minmax_stretches_all_channels_together():
    rgb = np.zeros((1, 2, 3))
    rgb[0, 1] = [1.0, 2.0, 4.0]
    np.testing.assert_allclose(map_values(rgb, "minmax")[0, 1], [0.25, 0.5, 1.0])


def test_auto_resolution():
    blur, edge = Kernel("blur", [[1, 2, 1]]), Kernel("edge", [[-1, 0, 1]])
    assert resolve_map("auto", blur) == "clip"
    assert resolve_map("auto", edge) == "abs"
    assert resolve_map("auto", Kernel("relief", [[-1, 0, 1]], bias=0.5)) == "clip"  # centred on mid-grey
    assert resolve_map("auto", Kernel("mine", [[-1, 0, 1]], map="offset")) == "offset"
    assert resolve_map("minmax", Kernel("mine", [[-1, 0, 1]], map="offset")) == "minmax"
    assert resolve_map("auto", Bank("orient", (edge, edge), combine="argmax")) == "minmax"
    assert resolve_map("auto", Bank("mag", (edge, edge), combine="magnitude")) == "clip"
    assert check_map("MINMAX") == "minmax"
    with pytest.raises(ParameterError) as error:
        check_map("loud")
    assert str(error.value) == "map must be one of auto, clip, abs, offset, minmax, global, raw; got 'loud'"


def test_a_clipped_map_without_nan_is_marked_within_and_quantises_alike_without_clipping_again():
    from convcli.imageio.writing import quantise

    values = np.array([[-0.5, 0.0, 0.25, 0.2, 1.5, np.inf, -np.inf, 1.0 - 1e-7]], dtype=np.float32)
    mapped = apply_map(values.copy(), "clip")
    assert mapped.within and mapped.peak == 1.0
    for depth in (8, 16):
        expected = quantise(mapped.values.copy(), depth)
        np.testing.assert_array_equal(quantise(mapped.values.copy(), depth, within=True), expected)
    assert expected.tolist() == [[0, 0, 16384, 13107, 65535, 65535, 0, 65535]]
    holed = values.copy()
    holed[0, 2] = np.nan
    mapped = apply_map(holed, "clip")
    assert not mapped.within and mapped.peak == 1.0  # NaN is written as 0: quantise must see it
    assert quantise(mapped.values, 8).tolist() == [[0, 0, 0, 51, 255, 255, 0, 255]]
    assert not apply_map(np.zeros((0, 3), np.float32), "clip").within
