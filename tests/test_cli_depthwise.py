"""`apply --depthwise/--pointwise` and `-k weights.npy` (PyTorch O x I x kh x kw) through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import signal
from typer.testing import CliRunner

from convcli.cli import app

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("workdir")  # an empty folder of its own (conftest.py)


def rgb(seed=0, shape=(14, 17, 3)):
    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(pixels).save("a.png")
    return pixels / 255.0


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def powers(shape, offset=0):
    taps = 2.0 ** (np.arange(np.prod(shape)) + offset)
    return (taps * np.where(np.arange(taps.size) % 3, 1, -1)).reshape(shape) / taps.sum()


def test_depthwise_then_pointwise_equals_scipy_per_channel_then_mixed():
    image = rgb()
    kernels = [powers((3, 3), i) for i in range(3)]
    specs = ["; ".join(",".join(repr(float(v)) for v in row) for row in k) for k in kernels]
    result = invoke("apply", "a.png", "-k", specs[0], "-k", specs[1], "-k", specs[2], "--depthwise",
                    "--pointwise", "0.5,-0.25,1; 1,1,1", "-o", "out.npy", "--map", "raw", "--boundary", "zero")
    assert result.exit_code == 0, result.output
    maps = np.stack([signal.correlate2d(image[..., c], kernels[c], mode="same") for c in range(3)], axis=-1)
    expected = maps @ np.array([[0.5, -0.25, 1], [1, 1, 1]]).T
    np.testing.assert_allclose(np.load("out.npy"), expected, atol=1e-5)
    assert "depthwise 3 x 3x3" in result.stderr and "pointwise 3→2" in result.stderr
    assert "the full convolution: 54 weights" in result.stderr


def test_depthwise_alone_keeps_the_channels():
    image = rgb(1)
    result = invoke("apply", "a.png", "-k", "sobel_x", "-k", "blur", "-k", "identity", "--depthwise", "-o",
                    "d.npy", "--map", "raw", "--boundary", "symmetric")
    assert result.exit_code == 0, result.output
    library = {"sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], "blur": np.outer([1, 2, 1], [1, 2, 1]) / 16,
               "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]]}
    expected = np.stack([signal.correlate2d(image[..., c], np.asarray(k, float), mode="same", boundary="symm")
                         for c, k in enumerate(library.values())], axis=-1)
    np.testing.assert_allclose(np.load("d.npy"), expected, atol=1e-5)


def test_depthwise_errors():
    rgb()
    result = invoke("apply", "a.png", "-k", "blur", "--depthwise", "-o", "d.png")
    assert result.exit_code == 1
    assert "--depthwise needs one kernel per channel: the image has 3, 1 kernels were given" in result.stderr
    result = invoke("apply", "a.png", "-k", "blur", "--pointwise", "1,1,1", "-o", "d.png")
    assert result.exit_code == 2 and "--pointwise mixes the channels of a --depthwise convolution" in result.stderr
    result = invoke("apply", "a.png", "-k", "blur", "-k", "box5", "-k", "blur", "--depthwise", "-o", "d.png")
    assert result.exit_code == 2
    assert result.stderr == ("Error: --depthwise needs kernels of one size, one per channel; got blur 3x3, "
                             "box5 5x5, blur 3x3\n")


def test_pytorch_weights_give_one_summed_map_per_output_channel():
    image = rgb(2)
    weights = np.random.default_rng(3).normal(size=(4, 3, 3, 2)).astype(np.float32)
    np.save("layer.npy", weights)
    result = invoke("apply", "a.png", "-k", "layer.npy", "-o", "maps", "--map", "raw", "--boundary", "zero",
                    "--name", "{stem}_{kernel}.npy")
    assert result.exit_code == 0, result.output
    for o in range(4):
        expected = sum(signal.correlate2d(image[..., i], weights[o, i].astype(float), mode="same")
                       for i in range(3))
        np.testing.assert_allclose(np.load(f"maps/a_layer_{o}.npy"), expected, atol=1e-5)
    assert "each map sums 3 input channels" in result.stderr


def test_pytorch_weights_need_the_image_channels():
    rgb()
    np.save("gray_layer.npy", np.ones((2, 1, 3, 3)))
    result = invoke("apply", "a.png", "-k", "gray_layer.npy", "-o", "maps")
    assert result.exit_code == 1
    assert "gray_layer.npy: layer channel 'gray_layer_0' has 1 input channel; the image has 3 (--gray makes it one)" \
        in result.stderr
    assert invoke("apply", "a.png", "-k", "gray_layer.npy", "-o", "maps", "--gray").exit_code == 0
    assert sorted(p.name for p in Path("maps").iterdir()) == ["a_gray_layer_0.png", "a_gray_layer_1.png"]


def test_the_depthwise_note_gives_anchored_kernels_at_their_sizes_as_given():
    rgb()
    spec = "3x3+0+0: 1,2,3,4,5,6,7,8,9 / 45"
    result = invoke("apply", "a.png", "-k", spec, "-k", spec, "-k", spec, "--depthwise", "-o", "out.png")
    assert result.exit_code == 0, result.output
    assert "depthwise 3 x 3x3 (" in result.stderr and "the full convolution: 81 weights" in result.stderr
