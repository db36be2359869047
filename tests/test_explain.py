"""``convcli explain``: output sizes, receptive fields and costs against figures worked out by hand.

The reference figures are the well-known ones (VGG-16's first layer has 1,792 parameters, AlexNet's
first layer gives 55x55, ResNet's stem 112x112) and PyTorch's rule computed by hand; when PyTorch is
installed, its own ``conv2d`` shapes and parameter counts are checked too.
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from convcli.cli import app
from convcli.engine.conv import output_shape
from convcli.engine.layers import dense_cost, separable_cost, standard_cost
from convcli.errors import ParameterError
from convcli.kernels.library import load_library
from convcli.tools.explain import LayerKernel, explain, layer_kernels, parse_size

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def run(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in ANSI.sub("", text).splitlines()]


def square(k: int) -> list[LayerKernel]:
    return [LayerKernel(f"{k}x{k}", (k, k))]


# (H, k, stride, padding, dilation) -> H', each worked out by hand with floor((H + 2P - d(k - 1) - 1) / s) + 1
PYTORCH_CASES = [
    (32, 5, 1, 1, 1, 30),      # floor((32 + 2 - 4 - 1) / 1) + 1
    (28, 3, 2, 3, 2, 15),      # floor((28 + 6 - 4 - 1) / 2) + 1 = floor(29 / 2) + 1
    (7, 3, 2, 0, 1, 3),        # floor((7 - 2 - 1) / 2) + 1
    (224, 7, 2, 3, 1, 112),    # ResNet's stem
    (224, 11, 4, 2, 1, 55),    # AlexNet's first layer: floor(217 / 4) + 1
    (10, 3, 1, 0, 3, 4),       # dilation 3: the kernel spans 7
    (5, 3, 1, "valid", 1, 3),  # P = 0
    (5, 3, 2, "full", 1, 4),   # P = d(k - 1) = 2: floor((5 + 2 - 1) / 2) + 1
    (5, 3, 2, "same", 1, 3),   # ceil(5 / 2)
    (224, 3, 2, "same", 2, 112),
]


@pytest.mark.parametrize(("size", "k", "stride", "padding", "dilation", "expected"), PYTORCH_CASES)
def test_output_size_by_hand_and_by_the_engine(size, k, stride, padding, dilation, expected):
    ex = explain((size, size), square(k), channels=1, out_channels=1, stride=stride, padding=padding, dilation=dilation)
    assert ex.out_shape == (expected, expected, 1)
    assert output_shape((size, size), (k, k), stride=stride, padding=padding, dilation=dilation) == (expected,) * 2
    assert ex.layers[0].rows.filled.endswith(f" = {expected}")


def test_output_sizes_match_pytorch():
    torch = pytest.importorskip("torch")
    for size, k, stride, padding, dilation, expected in PYTORCH_CASES:
        if not isinstance(padding, int):
            continue
        out = torch.nn.functional.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, k, k), stride=stride,
                                         padding=padding, dilation=dilation)
        assert tuple(out.shape[2:]) == (expected, expected)


@pytest.mark.parametrize(("padding", "formula", "filled"), [
    (1, "floor((H + 2P - d·(kh - 1) - 1) / s) + 1", "floor((224 + 2·1 - 1·(3 - 1) - 1) / 2) + 1 = 112"),
    ("valid", "floor((H - d·(kh - 1) - 1) / s) + 1", "floor((224 - 1·(3 - 1) - 1) / 2) + 1 = 111"),
    ("full", "floor((H + d·(kh - 1) - 1) / s) + 1", "floor((224 + 1·(3 - 1) - 1) / 2) + 1 = 113"),
    ("same", "ceil(H / s)", "ceil(224 / 2) = 112"),
])
def test_formulas_are_filled_in(padding, formula, filled):
    layer = explain((224, 224), square(3), stride=2, padding=padding).layers[0]
    assert layer.rows.formula == formula
    assert layer.rows.filled == filled
    assert layer.cols.formula == formula.replace("H", "W").replace("kh", "kw")


def test_same_padding_reports_the_padding_it_implies():
    rows = explain((224, 224), square(3), stride=2, padding="same").layers[0].rows
    assert (rows.pad_before, rows.pad_after) == (1, 0)  # outputs on 0, 2, ..., 222 reach 223 at most
    rows = explain((10, 10), [LayerKernel("even", (4, 4))], padding="same").layers[0].rows
    assert (rows.pad_before, rows.pad_after) == (1, 2)  # anchor 1: one row above, two below


def test_vgg_first_layer_costs():
    ex = explain((224, 224), square(3), channels=3, out_channels=64, padding=1)
    assert ex.out_shape == (224, 224, 64)
    standard, separable, dense = (ex.total(kind) for kind in ("standard", "separable", "dense"))
    assert (standard.weights, standard.biases, standard.parameters) == (1728, 64, 1792)  # 3·3·3·64 + 64
    assert standard.macs == 224 * 224 * 1728 == 86_704_128
    assert (separable.weights, separable.biases, separable.parameters) == (27 + 192, 3 + 64, 286)
    assert separable.macs == 224 * 224 * (27 + 192) == 10_988_544
    assert dense.weights == (224 * 224 * 3) * (224 * 224 * 64) == 483_385_147_392
    assert dense.parameters == 483_385_147_392 + 224 * 224 * 64
    assert ex.mac_saving == pytest.approx(1728 / 219)
    assert ex.saving_formula == "1 / (1/64 + 1/9) = 7.89"
    assert ex.total("standard").parameters / ex.total("separable").parameters == pytest.approx(1792 / 286)


@pytest.mark.parametrize(("kernels", "saving"), [(64, 7.89), (256, 8.69), (1024, 8.92)])
def test_the_3x3_saving_approaches_9(kernels, saving):
    ex = explain((56, 56), square(3), channels=kernels, out_channels=kernels)
    assert round(ex.mac_saving, 2) == saving
    assert round(1 / (1 / kernels + 1 / 9), 2) == saving


def test_costs_match_pytorch_parameter_counts():
    torch = pytest.importorskip("torch")

    def count(*layers):
        return sum(p.numel() for layer in layers for p in layer.parameters())

    assert standard_cost(3, 64, (3, 3), 1).parameters == count(torch.nn.Conv2d(3, 64, 3))
    depthwise, pointwise = torch.nn.Conv2d(32, 32, (5, 3), groups=32), torch.nn.Conv2d(32, 48, 1)
    assert separable_cost(32, 48, (5, 3), 1).parameters == count(depthwise, pointwise)
    assert dense_cost(4 * 4 * 2, 3 * 3 * 5).parameters == count(torch.nn.Linear(32, 45))


@pytest.mark.parametrize(("sizes", "stride", "dilation", "field", "filled"), [
    ([3], 1, 1, 3, "1 + (3 - 1)·1·1 = 3"),
    ([3, 3], 1, 1, 5, "1 + (3 - 1)·1·1 + (3 - 1)·1·1 = 5"),          # two 3x3 see what one 5x5 sees
    ([3, 3, 3], 1, 1, 7, "1 + (3 - 1)·1·1 + (3 - 1)·1·1 + (3 - 1)·1·1 = 7"),
    ([3, 3], 2, 1, 7, "1 + (3 - 1)·1·1 + (3 - 1)·1·2 = 7"),          # the second layer's taps are 2 apart
    ([3], 1, 2, 5, "1 + (3 - 1)·2·1 = 5"),
    ([7, 3, 3], 2, 1, 19, "1 + (7 - 1)·1·1 + (3 - 1)·1·2 + (3 - 1)·1·4 = 19"),
])
def test_receptive_field(sizes, stride, dilation, field, filled):
    layers = [LayerKernel(f"{k}x{k}", (k, k)) for k in sizes]
    ex = explain((64, 64), layers, stride=stride, dilation=dilation)
    assert ex.receptive_field == (field, field)
    assert ex.receptive_filled == (filled, filled)
    assert ex.layers[-1].receptive_field == (field, field)


def test_layers_chain_their_channels():
    ex = explain((32, 32), [LayerKernel("a", (3, 3)), LayerKernel("b", (3, 3))], channels=3, out_channels=8, stride=2)
    assert [(layer.in_shape, layer.out_shape) for layer in ex.layers] == [((32, 32, 3), (16, 16, 8)),
                                                                          ((16, 16, 8), (8, 8, 8))]
    assert ex.total("standard").weights == 3 * 3 * 3 * 8 + 3 * 3 * 8 * 8
    assert ex.total("standard").macs == 16 * 16 * 216 + 8 * 8 * 576


def test_layer_kernels_from_sizes_names_chains_and_banks():
    library = load_library()
    layers = layer_kernels(["3x3", "7x1", "sobel_x", "smooth_edges", "sobel", "gaussian:sigma=1"], library)
    assert [(layer.name, layer.shape) for layer in layers] == [
        ("3x3", (3, 3)), ("7x1", (7, 1)), ("sobel_x", (3, 3)), ("gaussian5", (5, 5)), ("laplacian", (3, 3)),
        ("sobel", (3, 3)), ("gaussian-sigma1", (7, 7))]


def test_a_bank_of_mixed_sizes_is_not_one_layer(tmp_path):
    path = tmp_path / "mixed.toml"
    path.write_text('[kernels.a]\nweights = [[1]]\n[kernels.b]\nweights = [[1, 2]]\n'
                    '[banks.mixed]\nkernels = ["a", "b"]\ncombine = "sum"\n')
    with pytest.raises(ParameterError, match=r"^kernel 'mixed': a bank is one layer only when its kernels share a "
                                             r"size; got 1x1, 1x2$"):
        layer_kernels(["mixed"], load_library([path]))


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(channels=0), "channels must be an integer >= 1; got 0"),
    (dict(out_channels=-1), "out_channels must be an integer >= 1; got -1"),
    (dict(stride=0), "stride must be an integer >= 1; got 0"),
    (dict(padding="half"), "padding must be same, valid, full or an integer >= 0; got 'half'"),
    (dict(size=(4, 4), padding="valid"), "padding 'valid' leaves no output at layer 1: the 5x5 kernel '5x5' "
                                         "(dilation 1) does not fit its 4x4 input"),
])
def test_bad_arguments(kwargs, message):
    size = kwargs.pop("size", (32, 32))
    with pytest.raises(ParameterError) as caught:
        explain(size, square(5), **kwargs)
    assert str(caught.value) == message


def test_parse_size():
    assert parse_size("224x224") == (224, 224)
    assert parse_size(" 32 X 48 ") == (32, 48)
    assert parse_size("7") == (7, 7)
    for bad in ("", "0x5", "3x", "axb", "3x3x3"):
        with pytest.raises(ParameterError, match=r"^size must be"):
            parse_size(bad)


# ---------------------------------------------------------------------------------------------- CLI


def test_explain_prints_the_worked_figures():
    result = run("explain", "-k", "3x3", "--padding", "1")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    out = lines(result.stdout)
    assert out[0] == "input 224x224x3 · 64 kernels per layer · stride 1 · padding 1 · dilation 1"
    assert "Output size (padding 1: PyTorch's rule): H' = floor((H + 2P - d·(kh - 1) - 1) / s) + 1" in out
    assert "  layer 1 rows and columns: floor((224 + 2·1 - 1·(3 - 1) - 1) / 1) + 1 = 224" in out
    assert "  rows and columns: 1 + (3 - 1)·1·1 = 3" in out
    rows = {re.split(r"\s{2,}", line.strip())[0]: re.split(r"\s{2,}", line.strip())[1:] for line in out if line}
    assert rows["1"] == ["3x3", "224x224x3", "224x224x64", "3x3"]
    assert rows["parameters"] == ["1,792", "286", "483,388,358,656"]
    assert rows["multiply-adds"] == ["86,704,128", "10,988,544", "483,385,147,392"]
    assert rows["parameters vs standard"] == ["1x", "6.27x fewer", "269,747,968x more"]
    assert rows["multiply-adds vs standard"] == ["1x", "7.89x fewer", "5,575x more"]
    assert out[-1] == "depthwise-separable: 7.89x fewer multiply-adds, 1 / (1/N + 1/(kh·kw)) = 1 / (1/64 + 1/9) = 7.89"


def test_explain_a_chain_with_stride_and_same_padding():
    result = run("explain", "-k", "smooth_edges", "--input-size", "33x20", "-c", "1", "--out-channels", "8",
                 "--stride", "2")
    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    assert "Output size (padding same: one output per s input pixels, TensorFlow's SAME): H' = ceil(H / s)" in out
    assert "  layer 1 rows: ceil(33 / 2) = 17 (pads 2 before, 2 after)" in out
    assert "  layer 1 columns: ceil(20 / 2) = 10 (pads 2 before, 1 after)" in out
    assert "  layer 2 rows: ceil(17 / 2) = 9 (pads 1 before, 1 after)" in out
    assert "  layer 2 columns: ceil(10 / 2) = 5 (pads 1 before, 0 after)" in out
    assert "  rows and columns: 1 + (5 - 1)·1·1 + (3 - 1)·1·2 = 9" in out


def test_explain_errors():
    result = run("explain", "-k", "3x3", "--input-size", "huge")
    assert result.exit_code == 2
    assert lines(result.stderr) == ["Error: --input-size must be HxW, e.g. 224x224, or one number for a square; "
                                    "got 'huge'"]
    result = run("explain", "-k", "9x9", "--input-size", "4x4", "--padding", "valid")
    assert result.exit_code == 2
    assert lines(result.stderr) == ["Error: padding 'valid' leaves no output at layer 1: the 9x9 kernel '9x9' "
                                    "(dilation 1) does not fit its 4x4 input"]
    result = run("explain", "-k", "3x3", "--out-channels", "0")
    assert lines(result.stderr)[-1] == "Error: Invalid value for '--out-channels': 0 is not in the range x>=1."


def test_explain_help():
    result = run("explain", "--help")
    assert result.exit_code == 0
    text = " ".join(ANSI.sub("", result.stdout).split())
    assert "Output shape, receptive field, parameters and multiply-adds" in text
    assert "floor((H + 2P - d(k - 1) - 1) / s) + 1" in text
    for flag in ("--input-size", "--channels", "--out-channels", "--stride", "--padding", "--dilation", "--kernels"):
        assert flag in text
