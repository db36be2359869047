"""Alpha-aware filtering: no colour bleeds out of transparent pixels, opaque areas are the plain filter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from convcli import conv2d
from convcli.engine.alpha import conv2d_with_alpha


def engine(image, kernel):
    return conv2d(image, kernel, boundary="zero")


@pytest.fixture
def sprite():
    color = np.zeros((12, 12, 3))
    color[...] = (0.0, 1.0, 0.0)  # transparent pixels hide bright green
    alpha = np.zeros((12, 12))
    alpha[3:9, 3:9] = 1.0
    color[3:9, 3:9] = (1.0, 0.2, 0.4)
    return color, alpha


@pytest.mark.parametrize("kernel", [np.full((3, 3), 1 / 9), np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0.0]]),
                                    np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1.0]])])
def test_no_green_reaches_the_opaque_pixels(sprite, kernel):
    color, alpha = sprite
    out, out_alpha = conv2d_with_alpha(color, alpha, kernel, engine)
    assert np.all(out[..., 1][out_alpha > 0] <= 0.2 * np.abs(kernel).sum() + 1e-12)
    flat = kernel.sum()
    # Opaque interior: exactly the plain filter of a flat colour.
    np.testing.assert_allclose(out[4:8, 4:8], np.broadcast_to(np.array([1.0, 0.2, 0.4]) * flat, (4, 4, 3)),
                               atol=1e-12)
    np.testing.assert_allclose(out_alpha[4:8, 4:8], 1.0)
    assert np.all(out_alpha[0] == 0) and np.all(out[0] == 0)


def test_blur_is_premultiplied_average(sprite):
    color, alpha = sprite
    box = np.full((3, 3), 1 / 9)
    out, out_alpha = conv2d_with_alpha(color, alpha, box, engine)
    # Un-premultiply by hand with SciPy: colour = sum(k * c * a) / sum(k * a), alpha = sum(k * a).
    weight = signal.correlate2d(alpha, box, mode="same")
    np.testing.assert_allclose(out_alpha, weight, atol=1e-12)
    for c in range(3):
        premultiplied = signal.correlate2d(color[..., c] * alpha, box, mode="same")
        expected = np.divide(premultiplied, weight, out=np.zeros_like(weight), where=weight > 0)
        np.testing.assert_allclose(out[..., c], expected, atol=1e-12)


def test_fully_opaque_equals_the_plain_filter():
    rng = np.random.default_rng(0)
    color = rng.random((9, 10, 3))
    kernel = 2.0 ** np.arange(9).reshape(3, 3) * np.array([1, -1, 1] * 3).reshape(3, 3)
    out, out_alpha = conv2d_with_alpha(color, np.ones((9, 10)), kernel, lambda x, k: conv2d(x, k, boundary="edge"))
    np.testing.assert_allclose(out, conv2d(color, kernel, boundary="edge"), rtol=1e-12)
    np.testing.assert_allclose(out_alpha, 1.0)


def test_gray_with_alpha():
    gray = np.array([[0.5, 9.0], [0.5, 0.5]])
    alpha = np.array([[1.0, 0.0], [1.0, 1.0]])
    out, _ = conv2d_with_alpha(gray, alpha, np.full((2, 2), 0.25), lambda x, k: conv2d(x, k, boundary="edge"))
    assert np.all(out <= 0.5 + 1e-12)  # the hidden 9.0 never shows
