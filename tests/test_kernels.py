"""Kernels as validated data: the built-in library, TOML tables, inline matrices and .npy files."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from convcli import conv2d
from convcli.errors import KernelError
from convcli.kernels import Kernel, load_kernel_file, load_library, parse_inline, resolve_kernels


@pytest.fixture(scope="module")
def library():
    return load_library()


def write(tmp_path, text, name="mine.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_builtins_have_descriptions_and_required_names(library):
    for name in ("edge", "blur", "sharpen", "emboss", "laplacian", "sobel_x", "sobel_y", "gaussian5", "identity"):
        assert name in library
    for kernel in library.values():
        assert kernel.description
        assert kernel.source == "built-in"


@pytest.mark.parametrize("name, total, zero_sum", [
    ("edge", 0, True), ("laplacian", 0, True), ("sobel_x", 0, True), ("sobel_y", 0, True),
    ("blur", 1, False), ("box3", 1, False), ("gaussian5", 1, False), ("sharpen", 1, False),
    ("emboss", 1, False), ("identity", 1, False),
])
def test_builtin_sums(library, name, total, zero_sum):
    assert library[name].sum == pytest.approx(total)
    assert library[name].zero_sum is zero_sum


def test_classic_kernels_hand_worked(library):
    np.testing.assert_array_equal(library["sobel_x"].weights, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(library["sobel_y"].weights, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
    np.testing.assert_array_equal(library["sharpen"].weights, [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    np.testing.assert_array_equal(library["laplacian"].weights, [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    np.testing.assert_array_equal(library["blur"].weights * 16, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(library["emboss"].weights, [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])


def test_sobel_x_is_bright_where_intensity_rises_to_the_right(library):
    ramp = np.tile(np.arange(8.0), (6, 1))  # rises to the right by 1 per pixel
    out = conv2d(ramp, library["sobel_x"].weights, boundary="edge")
    assert np.all(out[:, 1:-1] == 8.0)  # (1 + 2 + 1) * (x+1 - (x-1))
    out_y = conv2d(ramp.T, library["sobel_y"].weights, boundary="edge")
    assert np.all(out_y[1:-1, :] == 8.0)


def test_emboss_keeps_flat_areas_and_lights_from_the_top_left(library):
    square = np.full((9, 9), 0.5)
    square[3:6, 3:6] = 1.0  # a bright square on grey
    out = conv2d(square, library["emboss"].weights, boundary="edge")
    assert out[0, 0] == pytest.approx(0.5) and out[4, 4] == pytest.approx(1.0)  # flat areas unchanged
    assert out[2, 2] == pytest.approx(0.5 + 0.5 * 2)  # just above-left: reads the square with +2
    assert out[6, 6] == pytest.approx(0.5 - 0.5 * 2)  # just below-right: reads it with -2


def test_toml_forms_and_scaling(tmp_path):
    path = write(tmp_path, """
[kernels.a]
weights = [[1, 2], [3, 4]]
scale = 0.5
[kernels.b]
row = [1, 0, -1]
col = [1, 2, 1]
divisor = 4
bias = 0.25
map = "offset"
flip = true
description = "b"
[kernels.c]
weights = [[1, 1, 1]]
normalize = true
""")
    kernels = load_kernel_file(path)
    np.testing.assert_array_equal(kernels["a"].weights, [[0.5, 1], [1.5, 2]])
    np.testing.assert_array_equal(kernels["b"].weights, np.outer([1, 2, 1], [1, 0, -1]) / 4)
    assert (kernels["b"].bias, kernels["b"].map, kernels["b"].flip) == (0.25, "offset", True)
    np.testing.assert_allclose(kernels["c"].weights, [[1 / 3] * 3])
    assert kernels["a"].source == str(path)


def test_user_file_overrides_builtin(tmp_path):
    path = write(tmp_path, "[kernels.edge]\nweights = [[1]]\n")
    library = load_library([path])
    assert library["edge"].weights.tolist() == [[1.0]]
    assert library["edge"].source == str(path)
    assert library["blur"].source == "built-in"


@pytest.mark.parametrize("body, problem", [
    ("weights = [[1, 2], [3]]", "weights: row 2 has 1 values, row 1 has 2"),
    ("weights = [[1, 2], []]", "weights: row 2 is empty"),
    ("weights = []", "weights: must be a non-empty list of rows, e.g. [[0, 1], [1, 0]]"),
    ('weights = [[1, "x"]]', "weights: row 1 holds 'x', which is not a number"),
    ("weights = [[1, nan]]", "weights: holds NaN or infinite values"),
    ("weights = [[1, inf]]", "weights: holds NaN or infinite values"),
    ("weights = [[1]]\ndivisor = 0", "divisor must not be 0"),
    ("weights = [[1, -1]]\nnormalize = true", "normalize = true needs a kernel whose weights do not sum to 0"),
    ("weights = [[1]]\nwieghts = 2", "unknown key 'wieghts' (did you mean 'weights'?)"),
    ("weights = [[1]]\nscale = 2\ndivisor = 2",
     "give at most one of scale, divisor and normalize (got scale, divisor)"),
    ("row = [1, 2]", "the separable form needs both row and col; col is missing"),
    ("weights = [[1]]\nrow = [1]", "give either weights or row and col, not both"),
    ("description = 'nothing'", "needs weights (or row and col)"),
    ("weights = [[1]]\nbias = 'high'", "bias: must be a finite number, got 'high'"),
    ("weights = [[1]]\nmap = 'loud'", "map: must be one of clip, abs, offset, minmax, global, raw, got 'loud'"),
    ("weights = [[1]]\nflip = 1", "flip: must be true or false, got 1"),
])
def test_validation_messages_name_file_kernel_and_key(tmp_path, body, problem):
    path = write(tmp_path, f"[kernels.bad]\n{body}\n")
    with pytest.raises(KernelError) as error:
        load_kernel_file(path)
    assert str(error.value) == f"{path}: kernel 'bad': {problem}"


def test_size_limit(tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.ones((2000, 3)))
    with pytest.raises(KernelError) as error:
        resolve_kernels([str(path)], {})
    assert str(error.value) == f"{path}: kernel 'big': weights: 2000x3 is larger than the limit of 1025 on a side"


def test_not_toml_names_the_line(tmp_path):
    path = write(tmp_path, "[kernels.a]\nweights = [[1, 2]]\nscale = = 2\n")
    with pytest.raises(KernelError) as error:
        load_kernel_file(path)
    assert str(error.value) == f"{path}: not valid TOML: Invalid value (at line 3, column 9)"


def test_unknown_table_and_missing_file(tmp_path):
    path = write(tmp_path, "[kernel.a]\nweights = [[1]]\n")
    with pytest.raises(KernelError) as error:
        load_kernel_file(path)
    assert str(error.value) == (f"{path}: unknown table 'kernel' (did you mean 'kernels'?); "
                                "kernels go in [kernels.NAME] tables")
    with pytest.raises(KernelError, match="no such kernel file"):
        load_kernel_file(tmp_path / "absent.toml")


@pytest.mark.parametrize("spec, rows", [
    ("0,-1,0; -1,5,-1; 0,-1,0", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    ("1 2 3;4 5 6", [[1, 2, 3], [4, 5, 6]]),
    ("1,2,1", [[1, 2, 1]]),
    ("1;2;1;", [[1], [2], [1]]),
    (".5, -1e-1; 2.0 3", [[0.5, -0.1], [2, 3]]),
])
def test_inline_matrices(spec, rows):
    (kernel,) = resolve_kernels([spec], {})
    np.testing.assert_array_equal(kernel.weights, rows)
    assert kernel.name == "inline1"


def test_inline_kernels_get_distinct_names(library):
    names = [k.name for k in resolve_kernels(["1,2", "edge", "3;4"], library)]
    assert names == ["inline1", "edge", "inline2"]


@pytest.mark.parametrize("spec, message", [
    ("1,2; 3", "inline kernel '1,2; 3': kernel 'inline1': weights: row 2 has 1 values, row 1 has 2"),
    ("1,x; 3,4", "inline kernel '1,x; 3,4': '1,x' is not a list of numbers"),
    ("edgee", "unknown kernel 'edgee' (did you mean 'edge'?)"),
    ("nothing_like_it", "unknown kernel 'nothing_like_it'"),
])
def test_bad_kernel_specs(library, spec, message):
    with pytest.raises(KernelError) as error:
        resolve_kernels([spec], library)
    assert str(error.value) == message


def test_npy_kernels_and_banks(tmp_path):
    np.save(tmp_path / "one.npy", np.arange(6.0).reshape(2, 3))
    np.save(tmp_path / "bank.npy", np.arange(12.0).reshape(3, 2, 2))
    np.save(tmp_path / "flat.npy", np.arange(3.0))
    (one,) = resolve_kernels([str(tmp_path / "one.npy")], {})
    assert one.name == "one" and one.shape == (2, 3)
    bank = resolve_kernels([str(tmp_path / "bank.npy")], {})
    assert [k.name for k in bank] == ["bank_0", "bank_1", "bank_2"]
    np.testing.assert_array_equal(bank[2].weights, [[8, 9], [10, 11]])
    with pytest.raises(KernelError, match=r"must be 2-D \(kh x kw\) or 3-D \(N x kh x kw\), got shape \(3,\)"):
        resolve_kernels([str(tmp_path / "flat.npy")], {})
    with pytest.raises(KernelError, match="no such kernel file"):
        resolve_kernels([str(tmp_path / "absent.npy")], {})


def test_same_kernel_twice_is_refused(library):
    with pytest.raises(KernelError, match="kernel 'edge' is given twice"):
        resolve_kernels(["edge", "edge"], library)


def test_kernel_is_immutable_and_validates_its_name():
    kernel = parse_inline("1,2")
    with pytest.raises(ValueError):
        kernel.weights[0, 0] = 5
    with pytest.raises(KernelError, match="kernel name 'a b' must start with a letter"):
        Kernel(name="a b", weights=np.ones((1, 1)))


def test_builtin_kernels_through_the_engine_match_scipy(library):
    x = np.random.default_rng(1).random((12, 14))
    for kernel in library.values():
        np.testing.assert_allclose(conv2d(x, kernel.weights, boundary="zero"),
                                   signal.correlate2d(x, kernel.weights, mode="same"), atol=1e-12)
