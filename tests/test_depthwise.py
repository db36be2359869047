"""Depthwise, pointwise and full multi-channel convolutions, against SciPy per channel (and PyTorch when present).

The references correlate each channel with ``scipy.signal.correlate2d`` after padding it with
``np.pad``, then take every s-th result: nothing of convcli's engine is used. Kernels are random or
powers of two, so a flipped or shifted kernel, or a swapped input/output axis, cannot pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate2d
from typer.testing import CliRunner

from convcli.cli import app
from convcli.engine.layers import (
    cnn_layer,
    dense_cost,
    depthwise_conv2d,
    factorised_weights,
    pointwise,
    separable_cost,
    standard_cost,
)
from convcli.errors import KernelError, ParameterError
from convcli.kernels.composite import Bank, Chain
from convcli.kernels.kernel import Kernel
from convcli.kernels.library import load_library
from convcli.kernels.pointwise import load_pointwise, parse_pointwise, pointwise_matrix
from convcli.tools.export import pytorch_bank, write_pytorch_bank

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")
POW2 = np.array([[1, 2, 4], [8, 16, 32], [64, 128, 256]], dtype=float) / 512


pytestmark = pytest.mark.usefixtures("workdir")  # an empty folder of its own (conftest.py)


def run(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def reference(plane: np.ndarray, kernel: np.ndarray, *, stride=1, padding=0, mode="constant", dilation=1):
    """One channel: pad by ``padding`` (or 'same' for odd kernels), correlate 'valid', keep every s-th output."""
    taps = np.zeros(((kernel.shape[0] - 1) * dilation + 1, (kernel.shape[1] - 1) * dilation + 1))
    taps[::dilation, ::dilation] = kernel
    if padding == "same":
        pads = [((t - 1) // 2, t - 1 - (t - 1) // 2) for t in taps.shape]
    else:
        pads = [(padding, padding)] * 2
    padded = np.pad(plane.astype(np.float64), pads, mode=mode)
    return correlate2d(padded, taps, mode="valid")[::stride, ::stride]


def image(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape)


# ------------------------------------------------------------------------------------------ depthwise


def test_depthwise_filters_each_channel_with_its_own_kernel():
    picture = image((9, 11, 3))
    bank = np.stack([POW2, POW2.T, -POW2[::-1]])
    out = depthwise_conv2d(picture, bank, boundary="symmetric")
    assert out.shape == (9, 11, 3) and out.dtype == np.float64
    for c in range(3):
        expected = reference(picture[..., c], bank[c], padding="same", mode="symmetric")
        np.testing.assert_allclose(out[..., c], expected, atol=1e-12)


def test_depthwise_with_stride_padding_and_dilation():
    picture = image((12, 10, 2), seed=1).astype(np.float32)
    bank = np.stack([POW2, POW2[:, ::-1]])
    out = depthwise_conv2d(picture, bank, stride=2, padding=2, boundary="zero", dilation=2)
    assert out.dtype == np.float32
    for c in range(2):
        expected = reference(picture[..., c], bank[c], stride=2, padding=2, dilation=2)
        np.testing.assert_allclose(out[..., c], expected, atol=1e-6)


def test_depthwise_needs_one_kernel_per_channel():
    with pytest.raises(ParameterError) as caught:
        depthwise_conv2d(image((5, 5, 3)), np.stack([POW2, POW2]))
    assert str(caught.value) == "bank must hold one kernel per channel: the image has 3 channels, the bank 2 kernels"
    with pytest.raises(ParameterError, match=r"^bank must be C x kh x kw; got shape \(3, 3\)$"):
        depthwise_conv2d(image((5, 5, 3)), POW2)


# ------------------------------------------------------------------------------------------ pointwise


def test_pointwise_mixes_channels():
    maps = image((4, 5, 3))
    matrix = np.array([[1, 2, 4], [-8, 0, 16]], dtype=float)
    out = pointwise(maps, matrix)
    assert out.shape == (4, 5, 2)
    np.testing.assert_allclose(out[..., 0], maps[..., 0] + 2 * maps[..., 1] + 4 * maps[..., 2])
    np.testing.assert_allclose(out[..., 1], -8 * maps[..., 0] + 16 * maps[..., 2])


def test_pointwise_luminance_row():
    maps = image((3, 3, 3)).astype(np.float32)
    out = pointwise(maps, [0.299, 0.587, 0.114])
    assert out.shape == (3, 3, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], maps @ np.array([0.299, 0.587, 0.114], np.float32), rtol=1e-6)


def test_pointwise_needs_one_column_per_channel():
    with pytest.raises(ParameterError) as caught:
        pointwise(image((3, 3, 3)), [[1, 2]])
    assert str(caught.value) == ("pointwise matrix must have one column per channel: the maps have 3 channels, "
                                 "the matrix is 1x2")


# ------------------------------------------------------------------------------- the full layer (CNN)


@pytest.mark.parametrize(("stride", "padding", "dilation"), [(1, 1, 1), (2, 0, 1), (2, 3, 2), (1, 2, 1)])
def test_cnn_layer_is_scipy_per_channel_summed(stride, padding, dilation):
    rng = np.random.default_rng(4)
    picture = rng.random((13, 11, 3))
    weights = rng.normal(size=(4, 3, 3, 5))  # O x I x kh x kw, not square so a transpose would show
    out = cnn_layer(picture, weights, stride=stride, padding=padding, boundary="zero", dilation=dilation)
    expected = np.stack([sum(reference(picture[..., i], weights[o, i], stride=stride, padding=padding,
                                       dilation=dilation) for i in range(3)) for o in range(4)])
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-10)


def test_cnn_layer_same_padding_with_a_boundary_mode_and_bias():
    rng = np.random.default_rng(5)
    picture = rng.random((9, 8, 2))
    weights = rng.normal(size=(3, 2, 3, 3))
    out = cnn_layer(picture, weights, bias=[0.5, -1.0, 2.0], boundary="edge")
    expected = np.stack([sum(reference(picture[..., i], weights[o, i], padding="same", mode="edge")
                             for i in range(2)) for o in range(3)]) + np.array([0.5, -1.0, 2.0])[:, None, None]
    np.testing.assert_allclose(out, expected, atol=1e-10)


def test_cnn_layer_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    picture = rng.random((10, 12, 3)).astype(np.float32)
    weights = rng.normal(size=(5, 3, 3, 3)).astype(np.float32)
    bias = rng.normal(size=5).astype(np.float32)
    ours = cnn_layer(picture, weights, bias=bias, stride=2, padding=1, boundary="zero", dilation=2)
    theirs = torch.nn.functional.conv2d(torch.from_numpy(picture).permute(2, 0, 1)[None], torch.from_numpy(weights),
                                        torch.from_numpy(bias), stride=2, padding=1, dilation=2)[0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_cnn_layer_checks_its_input_channels():
    with pytest.raises(ParameterError) as caught:
        cnn_layer(image((5, 5, 3)), np.zeros((2, 1, 3, 3)))
    assert str(caught.value) == "weights of shape 2x1x3x3 (O x I x kh x kw) need 1 input channel; the image has 3"
    assert cnn_layer(image((5, 5)), np.ones((2, 1, 1, 1))).shape == (2, 5, 5)  # H x W is one channel
    with pytest.raises(ParameterError, match=r"^bias must hold one value per output channel \(2\); got 3$"):
        cnn_layer(image((5, 5)), np.ones((2, 1, 1, 1)), bias=[1, 2, 3])


# ---------------------------------------------------------------------- depthwise-separable = factorised full


def test_depthwise_then_pointwise_equals_the_full_convolution_it_factorises():
    rng = np.random.default_rng(8)
    picture = rng.random((15, 13, 3))
    bank = rng.normal(size=(3, 3, 3))
    matrix = rng.normal(size=(4, 3))
    options = dict(stride=2, padding=1, boundary="zero")
    separable = pointwise(depthwise_conv2d(picture, bank, **options), matrix)
    weights = factorised_weights(bank, matrix)
    assert weights.shape == (4, 3, 3, 3)
    full = cnn_layer(picture, weights, **options)
    np.testing.assert_allclose(np.moveaxis(full, 0, -1), separable, atol=1e-10)
    # and the full convolution is what SciPy computes channel by channel
    expected = np.stack([sum(reference(picture[..., i], weights[o, i], stride=2, padding=1) for i in range(3))
                         for o in range(4)])
    np.testing.assert_allclose(full, expected, atol=1e-10)


def test_costs_by_hand():
    cost = standard_cost(16, 32, (5, 3), 100)
    assert (cost.weights, cost.biases, cost.macs) == (5 * 3 * 16 * 32, 32, 100 * 5 * 3 * 16 * 32)
    cost = separable_cost(16, 32, (5, 3), 100)
    assert (cost.weights, cost.biases, cost.macs) == (5 * 3 * 16 + 16 * 32, 16 + 32, 100 * (5 * 3 * 16 + 16 * 32))
    cost = dense_cost(300, 20)
    assert (cost.weights, cost.biases, cost.macs, cost.parameters) == (6000, 20, 6000, 6020)
    assert (standard_cost(1, 1, (1, 1), 1) + standard_cost(1, 1, (1, 1), 1)).parameters == 4


# ------------------------------------------------------------------------------- pointwise matrices


def test_pointwise_matrix_inline_toml_and_npy(workdir):
    assert pointwise_matrix("0.299,0.587,0.114").tolist() == [[0.299, 0.587, 0.114]]
    assert pointwise_matrix("1 0 0; 0 0 1").tolist() == [[1, 0, 0], [0, 0, 1]]
    Path("luma.toml").write_text('description = "Rec. 601"\nmatrix = [0.299, 0.587, 0.114]\n')
    assert pointwise_matrix("luma.toml").tolist() == [[0.299, 0.587, 0.114]]
    Path("two.toml").write_text("matrix = [[1, 2], [3, 4]]\n")
    assert load_pointwise("two.toml").tolist() == [[1, 2], [3, 4]]
    np.save("m.npy", np.eye(3)[:2])
    assert pointwise_matrix("m.npy").shape == (2, 3)


@pytest.mark.parametrize(("text", "message"), [
    ("1,2; 3", "pointwise '1,2; 3': every row needs one value per channel; got rows of 2, 1 values"),
    ("1,x,3", "pointwise '1,x,3': '1,x,3' is not a list of numbers"),
])
def test_bad_inline_pointwise(text, message):
    with pytest.raises(ParameterError) as caught:
        parse_pointwise(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(("text", "message"), [
    ("matrix = [[1, 2], [3]]\n", "p.toml: matrix must be rows of numbers, all of the same length"),
    ("weights = [[1]]\n", "p.toml: unknown key 'weights'; a pointwise file holds matrix = [[...]] and an optional "
                          "description"),
    ("description = 'x'\n", "p.toml: needs matrix = [[...]] (one row of channel weights per output)"),
    ("matrix = [[1, nan]]\n", "p.toml: matrix holds NaN or infinite values"),
    ("matrix = = 1\n", "p.toml: not valid TOML: Invalid value (at line 1, column 10)"),
])
def test_bad_pointwise_files(workdir, text, message):
    Path("p.toml").write_text(text)
    with pytest.raises(KernelError) as caught:
        load_pointwise("p.toml")
    assert str(caught.value) == message


# ---------------------------------------------------------------------------------- PyTorch weights


def test_export_and_load_pytorch_weights(workdir):
    library = load_library()
    kernels = [k for entry in (library["sobel"], library["outline"]) for k in entry.flat()]
    export = write_pytorch_bank("bank.npy", kernels)
    assert export.shape == (3, 1, 3, 3) and export.names == ("sobel_x", "sobel_y", "outline")
    assert export.notes == ("'outline' has bias 1, which the weights array cannot hold (PyTorch keeps it in "
                            "Conv2d.bias)",)
    array = np.load("bank.npy")
    assert array.dtype == np.float32 and array.shape == (3, 1, 3, 3)
    np.testing.assert_array_equal(array[0, 0], [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(array[1, 0], [[-1, -2, -1], [0, 0, 0], [1, 2, 1]])


def test_exported_weights_give_the_apply_result_through_a_cnn_layer():
    kernels = [Kernel("a", POW2), Kernel("b", -POW2.T)]
    weights = pytorch_bank(kernels)
    picture = image((8, 9))
    out = cnn_layer(picture, weights, padding=1, boundary="zero")
    for o, kernel in enumerate(kernels):
        np.testing.assert_allclose(out[o], reference(picture, kernel.weights, padding=1), atol=1e-6)


def test_a_flip_kernel_is_exported_as_the_correlation_it_performs():
    weights = pytorch_bank([Kernel("f", POW2, flip=True)])
    np.testing.assert_array_equal(weights[0, 0], POW2[::-1, ::-1].astype(np.float32))


def test_exported_weights_in_pytorch(workdir):
    torch = pytest.importorskip("torch")
    write_pytorch_bank("k.npy", [Kernel("a", POW2), Kernel("b", POW2.T)])
    layer = torch.nn.Conv2d(1, 2, 3, padding=1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.load("k.npy")))
        picture = image((7, 6)).astype(np.float32)
        theirs = layer(torch.from_numpy(picture)[None, None])[0].numpy()
    np.testing.assert_allclose(cnn_layer(picture, np.load("k.npy"), padding=1, boundary="zero"), theirs, atol=1e-6)


def test_flat_kernels_of_each_entry():
    a, b = Kernel("a", [[1, 2]]), Kernel("b", [[4, 8]])
    entries = [a, Bank("bank", (a, b)), Chain("chain", (a, b))]
    assert [k.name for entry in entries for k in entry.flat()] == ["a", "a", "b", "chain"]


# ---------------------------------------------------------------------------------------------- CLI


def test_kernels_export(workdir):
    result = run("kernels", "export", "sobel", "outline", "--npy", "bank.npy")
    assert result.exit_code == 0, result.output
    assert ANSI.sub("", result.stdout) == ("wrote bank.npy: 3 x 1 x 3 x 3 float32 (O x I x kh x kw, PyTorch's Conv2d "
                                           "weight layout): sobel_x, sobel_y, outline\n")
    assert ANSI.sub("", result.stderr) == ("note: 'outline' has bias 1, which the weights array cannot hold (PyTorch "
                                           "keeps it in Conv2d.bias)\n")
    assert np.load("bank.npy").shape == (3, 1, 3, 3)


@pytest.mark.parametrize(("args", "message"), [
    (("sobel_x", "gaussian5", "--npy", "k.npy"),
     "kernels of one O x I x kh x kw array must share a size: sobel_x is 3x3, gaussian5 is 5x5"),
    (("sobel_x", "--npy", "k.pt"), "export file must end in .npy; got 'k.pt'"),
    (("sobelx", "--npy", "k.npy"), "unknown kernel 'sobelx' (did you mean 'sobel_x'?)"),
])
def test_kernels_export_errors(workdir, args, message):
    result = run("kernels", "export", *args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert ANSI.sub("", result.stderr) == f"Error: {message}\n"
    assert not Path("k.npy").exists() and not Path("k.pt").exists()


def test_kernels_export_help():
    text = " ".join(ANSI.sub("", run("kernels", "export", "--help").stdout).split())
    assert "O x I x kh x kw" in text and "--npy" in text and "torch.nn.Conv2d(1, O, (kh, kw))" in text
