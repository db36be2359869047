"""Output mapping policies on hand-made arrays, with exact expected values."""

from __future__ import annotations

import numpy as np
import pytest

from convcli.errors import ParameterError
from convcli.mapping import map_values, resolve_map

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
    assert resolve_map("auto", preferred=None, zero_sum=False) == "clip"
    assert resolve_map("auto", preferred=None, zero_sum=True) == "abs"
    assert resolve_map("auto", preferred="offset", zero_sum=True) == "offset"
    assert resolve_map("MINMAX", preferred="offset", zero_sum=True) == "minmax"
    with pytest.raises(ParameterError) as error:
        resolve_map("loud", preferred=None, zero_sum=False)
    assert str(error.value) == "map must be one of auto, clip, abs, offset, minmax, global, raw; got 'loud'"
