"""Kernel files: the TOML schema and its validation, banks, chains, sources and the -k forms."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers import load_kernel_file
from scipy import signal

from convcli import conv2d
from convcli.engine.settings import Settings
from convcli.errors import KernelError
from convcli.imageio.reading import Picture
from convcli.kernels.composite import Bank, Chain
from convcli.kernels.kernel import Kernel
from convcli.kernels.library import check_file, kernel_sources, load_library, user_kernel_file
from convcli.kernels.specs import load_mat_kernel, parse_inline, resolve_kernels
from convcli.pipeline.convolver import Convolver


@pytest.fixture(scope="module")
def library():
    return load_library()


def write(tmp_path, text, name="mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


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
[kernels.d]
generator = "box"
size = 3
scale = 9
""")
    kernels = load_kernel_file(path)
    np.testing.assert_array_equal(kernels["a"].weights, [[0.5, 1], [1.5, 2]])
    np.testing.assert_array_equal(kernels["b"].weights, np.outer([1, 2, 1], [1, 0, -1]) / 4)
    assert (kernels["b"].bias, kernels["b"].map, kernels["b"].flip) == (0.25, "offset", True)
    np.testing.assert_allclose(kernels["c"].weights, [[1 / 3] * 3])
    np.testing.assert_allclose(kernels["d"].weights, np.ones((3, 3)))
    assert kernels["a"].source == str(path)


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
    ("weights = [[1]]\nrow = [1]", "give one of weights, row and col, or generator (got weights, row/col)"),
    ("description = 'nothing'", "needs weights, row and col, or generator"),
    ("weights = [[1]]\nbias = 'high'", "bias: must be a finite number, got 'high'"),
    ("weights = [[1]]\nmap = 'loud'", "map: must be one of clip, abs, offset, minmax, global, raw, got 'loud'"),
    ("weights = [[1]]\nflip = 1", "flip: must be true or false, got 1"),
    ('generator = "gausian"', "generator: unknown generator 'gausian' (did you mean 'gaussian'?)"),
    ('generator = "gaussian"\nsigam = 2', "unknown key 'sigam' (did you mean 'sigma'?)"),
    ('generator = "gaussian"\nsize = 4', "generator: size must be an odd whole number, got 4"),
    ('generator = "box"\nsize = 2001', "generator: size 2001 is larger than the limit of 1025"),
])
def test_validation_messages_name_file_kernel_and_key(tmp_path, body, problem):
    path = write(tmp_path, f"[kernels.bad]\n{body}\n")
    with pytest.raises(KernelError) as error:
        load_kernel_file(path)
    assert str(error.value) == f"{path}: kernel 'bad': {problem}"


def test_size_limit_of_a_weights_matrix(tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.ones((2000, 3)))
    with pytest.raises(KernelError) as error:
        resolve_kernels([str(path)], load_library())
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
                                "kernels go in [kernels.NAME], [banks.NAME] or [chains.NAME] tables")
    with pytest.raises(KernelError, match="no such kernel file"):
        load_kernel_file(tmp_path / "absent.toml")


@pytest.mark.parametrize("body, problem", [
    ('[banks.b]\nkernels = ["edge", "nope"]', "bank 'b': kernels: unknown kernel 'nope'"),
    ('[banks.b]\nkernels = ["edge", "b"]', "bank 'b': kernels: 'b' refers back to itself"),
    ('[chains.c]\nkernels = ["blur", "c"]', "chain 'c': kernels: 'c' refers back to itself"),
    ('[chains.c]\nkernels = ["blur", "d"]\n[chains.d]\nkernels = ["c"]',
     "chain 'd': kernels: 'c' refers back to this chain"),
    ('[banks.b]\nkernels = ["sobel"]', "bank 'b': kernels: 'sobel' is a bank; a bank is made of kernels"),
    ('[banks.b]\nkernels = []', "bank 'b': kernels: must be a non-empty list of kernel names"),
    ('[banks.b]\nbase = "kirsch_n"\nrotations = 6', "bank 'b': rotations must be 4 or 8, got 6"),
    ('[banks.b]\nbase = "edge5"\nrotations = 8', "bank 'b': rotations = 8 needs a 3x3 base kernel, 'edge5' is 5x5"),
    ('[banks.b]\nkernels = ["edge"]\ncombine = "mean"',
     "bank 'b': combine: must be one of magnitude, max, sum, argmax, got 'mean'"),
    ('[banks.b]\nkernels = ["edge"]\nbase = "edge"', "bank 'b': give either kernels = [...] or base = NAME with "
                                                   "rotations"),
    ('[chains.c]\ndescription = "x"', "chain 'c': needs kernels = [...]"),
    ('[chains.c]\nkernels = ["blur"]\ncombine = "max"', "chain 'c': unknown key 'combine'"),
])
def test_bank_and_chain_problems(tmp_path, body, problem):
    path = write(tmp_path, body + "\n")
    _, problems = check_file(path)
    assert problems == [f"{path}: {problem}"]


def test_every_problem_of_a_file_at_once(tmp_path):
    path = write(tmp_path, """
[kernels.ragged]
weights = [[1, 2], [3]]
wieghts = 1
[kernels.good]
weights = [[1, 2]]
[kernels.zero]
weights = [[1]]
divisor = 0
[banks.b]
kernels = ["good", "missing"]
[chains.c]
kernels = ["c"]
""")
    entries, problems = check_file(path)
    where = str(path)
    assert problems == [
        f"{where}: kernel 'ragged': unknown key 'wieghts' (did you mean 'weights'?)",
        f"{where}: kernel 'ragged': weights: row 2 has 1 values, row 1 has 2",
        f"{where}: kernel 'zero': divisor must not be 0",
        f"{where}: bank 'b': kernels: unknown kernel 'missing'",
        f"{where}: chain 'c': kernels: 'c' refers back to itself",
    ]
    assert list(entries.entries) == ["good"]


def test_user_banks_and_chains_use_builtin_kernels(tmp_path):
    path = write(tmp_path, """
[banks.grad]
kernels = ["sobel_x", "sobel_y"]
combine = "magnitude"
[chains.twice]
kernels = ["blur", "smooth_edges"]
""")
    library = load_library([path])
    grad, twice = library["grad"], library["twice"]
    assert isinstance(grad, Bank) and [k.name for k in grad.kernels] == ["sobel_x", "sobel_y"]
    assert isinstance(twice, Chain) and [k.name for k in twice.kernels] == ["blur", "gaussian5", "laplacian"]


def test_override_order_builtin_user_env_then_flag(tmp_path, monkeypatch, isolated_user_config):
    user = user_kernel_file()
    assert user == isolated_user_config / "convcli" / "kernels.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[kernels.edge]\nweights = [[1]]\n[kernels.mine]\nweights = [[2]]\n")
    env_file = write(tmp_path, "[kernels.mine]\nweights = [[3]]\n[kernels.env]\nweights = [[4]]\n", "env.toml")
    flag_file = write(tmp_path, "[kernels.env]\nweights = [[5]]\n", "flag.toml")
    monkeypatch.setenv("CONVCLI_KERNELS", f"{env_file}{os.pathsep}")
    library = load_library([flag_file])
    assert library["edge"].weights.tolist() == [[1.0]] and library["edge"].source == str(user)
    assert library["mine"].weights.tolist() == [[3.0]]
    assert library["mine"].source == f"{env_file} (from CONVCLI_KERNELS)"
    assert library["env"].weights.tolist() == [[5.0]] and library["env"].source == str(flag_file)
    assert library["blur"].source == "built-in"
    assert [label for _, label in kernel_sources([flag_file])] == [
        "built-in", str(user), f"{env_file} (from CONVCLI_KERNELS)", str(flag_file)]


def test_a_missing_env_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVCLI_KERNELS", str(tmp_path / "gone.toml"))
    with pytest.raises(KernelError) as error:
        load_library()
    assert str(error.value) == f"{tmp_path / 'gone.toml'} (from CONVCLI_KERNELS): no such kernel file"


def test_mat_files(tmp_path):
    path = tmp_path / "sharp.mat"
    path.write_text("3 3 2 51\n-1 -1 -1\n-1 10 -1\n-1 -1 -1\n")
    kernel = load_mat_kernel(path)
    np.testing.assert_array_equal(kernel.weights, np.array([[-1, -1, -1], [-1, 10, -1], [-1, -1, -1]]) / 2)
    assert kernel.bias == pytest.approx(0.2) and kernel.name == "sharp"
    bad = tmp_path / "bad.mat"
    bad.write_text("3 2\n1 2 3\n4 5\n")
    with pytest.raises(KernelError) as error:
        load_mat_kernel(bad)
    assert str(error.value) == f"{bad}: row 2 has 2 values, the header says 3"


@pytest.mark.parametrize("spec, rows", [
    ("0,-1,0; -1,5,-1; 0,-1,0", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    ("1 2 3;4 5 6", [[1, 2, 3], [4, 5, 6]]),
    ("1,2,1", [[1, 2, 1]]),
    ("1;2;1;", [[1], [2], [1]]),
    (".5, -1e-1; 2.0 3", [[0.5, -0.1], [2, 3]]),
])
def test_inline_matrices(library, spec, rows):
    (kernel,) = resolve_kernels([spec], library)
    np.testing.assert_array_equal(kernel.weights, rows)
    assert kernel.name == "inline1"


def test_spec_forms_and_names(library, tmp_path):
    np.save(tmp_path / "bank.npy", np.arange(12.0).reshape(3, 2, 2))
    entries = resolve_kernels(["1,2", "edge", "3;4", "gaussian:size=5,sigma=1.5", "motion:length=5,angle=-30",
                               "sobel", "compass", str(tmp_path / "bank.npy")], library)
    assert [e.name for e in entries] == ["inline1", "edge", "inline2", "gaussian-size5-sigma1p5",
                                         "motion-length5-anglem30", "sobel"] + [f"compass_{a}" for a in
                                                                               range(0, 360, 45)] + [
                                            "bank_0", "bank_1", "bank_2"]
    assert isinstance(entries[5], Bank) and entries[5].combine == "magnitude"  # a combined bank stays whole


@pytest.mark.parametrize("spec, message", [
    ("1,2; 3", "inline kernel '1,2; 3': kernel 'inline1': weights: row 2 has 1 values, row 1 has 2"),
    ("1,x; 3,4", "inline kernel '1,x; 3,4': '1,x' is not a list of numbers"),
    ("edgee", "unknown kernel 'edgee' (did you mean 'edge'?)"),
    ("nothing_like_it", "unknown kernel 'nothing_like_it'; 'convcli kernels list' shows them all"),
    ("blur", None),
])
def test_bad_kernel_specs(library, spec, message):
    if message is None:
        with pytest.raises(KernelError, match="kernel 'blur' is given twice"):
            resolve_kernels([spec, spec], library)
        return
    with pytest.raises(KernelError) as error:
        resolve_kernels([spec], library)
    assert str(error.value) == message


def test_inline_kernel_is_a_kernel():
    assert isinstance(parse_inline("1 2"), Kernel)


# --- banks and chains applied to pictures ------------------------------------------------------------

def picture(seed=0, shape=(16, 18)):
    return Picture(color=np.random.default_rng(seed).random(shape).astype(np.float64), alpha=None, bit_depth=8,
                   mode="L")


def engine(stride=1):
    return Convolver(Settings(stride=stride, boundary="zero"))


def filter_picture(image, entry, convolver):
    return entry.apply(image.color, image.alpha, convolver)


@pytest.mark.parametrize("how", ["magnitude", "max", "sum", "argmax"])
def test_bank_combines_against_scipy(library, how):
    image = picture()
    members = [library[name] for name in ("sobel_x", "sobel_y", "kirsch_n")]
    maps = np.stack([signal.correlate2d(image.color, k.weights, mode="same") for k in members])
    expected = {"magnitude": np.sqrt((maps ** 2).sum(axis=0)), "max": maps.max(axis=0), "sum": maps.sum(axis=0),
                "argmax": maps.argmax(axis=0)}[how]
    bank = Bank("b", tuple(members), combine=how)
    result = filter_picture(image, bank, engine())
    np.testing.assert_allclose(result.color, expected, atol=1e-12)
    assert result.note == f"bank of 3 kernels combined by {how}"


def test_builtin_orientation_bank_finds_the_edge_direction(library):
    step = np.zeros((9, 9))
    step[:4] = 1.0  # bright above: the north mask responds most
    result = filter_picture(Picture(step, None, 8, "L"), library["orientation"], engine())
    assert result.color[4, 4] == 0  # index 0 is kirsch_0, north
    result = filter_picture(Picture(step.T.copy(), None, 8, "L"), library["orientation"], engine())
    assert result.color[4, 4] == 2  # bright on the left: west, 90 degrees anticlockwise


def test_chain_is_folded_at_stride_one_and_stepped_otherwise(library):
    chain = library["smooth_edges"]
    image = picture(shape=(30, 31))
    folded = filter_picture(image, chain, engine())
    assert folded.note == "chain gaussian5 → laplacian folded into one 7x7 kernel"
    step = conv2d(conv2d(image.color, library["gaussian5"].weights, boundary="zero"),
                  library["laplacian"].weights, boundary="zero")
    np.testing.assert_allclose(folded.color[4:-4, 4:-4], step[4:-4, 4:-4], atol=1e-12)
    strided = filter_picture(image, chain, engine(stride=2))
    assert strided.note == "chain gaussian5 → laplacian applied step by step (stride 2)"
    step = conv2d(conv2d(image.color, library["gaussian5"].weights, boundary="zero", stride=2),
                  library["laplacian"].weights, boundary="zero", stride=2)
    np.testing.assert_allclose(strided.color, step, atol=1e-12)
