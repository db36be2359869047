"""The built-in kernel library: every kernel's sum, the classics' orientation, rotations and chains."""

from __future__ import annotations

import itertools
import re
import tomllib

import numpy as np
import pytest
from helpers import load_kernel_file
from scipy import signal

from convcli import conv2d
from convcli.engine.geometry import default_anchor
from convcli.errors import KernelError
from convcli.kernels.composite import Bank, Chain
from convcli.kernels.kernel import Kernel, embed, rotations
from convcli.kernels.library import Library, builtin_kernel_file

# The built-in file alone: collected at import time, before any fixture could hide a user's own file.
LIBRARY = Library(load_kernel_file(builtin_kernel_file()))
KERNELS = {name: e for name, e in LIBRARY.entries.items() if isinstance(e, Kernel)}


def square(size=11, value=1.0, background=0.0, box=slice(3, 8)):
    image = np.full((size, size), background)
    image[box, box] = value
    return image


def test_at_least_thirty_kernels_with_the_required_names():
    assert len(KERNELS) >= 30
    for name in ("edge", "blur", "sharpen", "emboss", "laplacian", "sobel_x", "sobel_y", "gaussian5", "identity",
                 "outline", "box3", "box5", "box7", "gaussian3", "gaussian7", "sharpen_mild", "sharpen_strong",
                 "unsharp", "emboss_n", "emboss_e", "emboss_s", "emboss_w", "prewitt_x", "prewitt_y", "scharr_x",
                 "scharr_y", "roberts_x", "roberts_y", "laplacian_of_gaussian", "difference_of_gaussians",
                 "motion_h", "motion_diag", "kirsch_n", "robinson_n"):
        assert isinstance(LIBRARY[name], Kernel), name
    for name in ("kirsch", "robinson", "ridge", "sobel"):
        assert isinstance(LIBRARY[name], Bank), name


def test_every_entry_has_a_description_and_every_kernel_a_source_comment():
    for entry in LIBRARY.entries.values():
        assert entry.description, entry.name
        assert entry.source == str(builtin_kernel_file())
    # Each [kernels.NAME] table carries a comment naming where the kernel comes from.
    text = builtin_kernel_file().read_text()
    for block in re.split(r"\n(?=\[)", text):
        if block.startswith("[kernels."):
            assert re.search(r"^#", block, re.M), block.splitlines()[0]
    assert set(tomllib.loads(text)["kernels"]) == set(KERNELS)


# name: (sum, zero_sum, rank)
EXPECTED = {
    "identity": (1, False, 1), "edge": (0, True, 2), "laplacian": (0, True, 2), "laplacian8": (0, True, 2),
    "edge5": (0, True, 2), "outline": (0, True, 2), "blur": (1, False, 1), "box3": (1, False, 1),
    "box5": (1, False, 1), "box7": (1, False, 1), "gaussian3": (1, False, 1), "gaussian5": (1, False, 1),
    "gaussian7": (1, False, 1), "motion_h": (1, False, 1), "motion_diag": (1, False, 7), "sharpen": (1, False, 2),
    "sharpen_mild": (1, False, 2), "sharpen_strong": (1, False, 2), "unsharp": (1, False, 2),
    "emboss": (1, False, 3), "emboss_n": (1, False, 2), "emboss_e": (1, False, 2), "emboss_s": (1, False, 2),
    "emboss_w": (1, False, 2), "sobel_x": (0, True, 1), "sobel_y": (0, True, 1), "prewitt_x": (0, True, 1),
    "prewitt_y": (0, True, 1), "scharr_x": (0, True, 1), "scharr_y": (0, True, 1), "roberts_x": (0, True, 2),
    "roberts_y": (0, True, 2), "kirsch_n": (0, True, 2), "robinson_n": (0, True, 1), "line_h": (0, True, 1),
    "line_v": (0, True, 1), "line_45": (0, True, 2), "line_135": (0, True, 2),
    "laplacian_of_gaussian": (0, True, None), "difference_of_gaussians": (0, True, None),
}


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_every_builtin_sum_verdict_and_rank(name):
    total, zero_sum, rank = EXPECTED[name]
    kernel = KERNELS[name]
    assert kernel.sum == pytest.approx(total, abs=1e-12)
    assert kernel.zero_sum is zero_sum
    assert kernel.verdict == ("zero-sum" if zero_sum else "normalized")
    if rank is not None:
        assert kernel.rank == rank


def test_classic_kernels_hand_worked():
    w = {name: KERNELS[name].weights for name in KERNELS}
    np.testing.assert_array_equal(w["sobel_x"], [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(w["sobel_y"], [[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
    np.testing.assert_array_equal(w["scharr_x"], [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]])
    np.testing.assert_array_equal(w["prewitt_y"], [[-1, -1, -1], [0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(w["sharpen"], [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    np.testing.assert_array_equal(w["laplacian"], [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    np.testing.assert_array_equal(w["emboss"], [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    np.testing.assert_array_equal(w["blur"] * 16, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(w["gaussian5"] * 256, np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]))
    np.testing.assert_array_equal(w["motion_h"] * 9, np.ones((1, 9)))
    np.testing.assert_allclose(w["unsharp"], 2 * np.eye(5)[2][:, None] * np.eye(5)[2] - w["gaussian5"])
    assert KERNELS["outline"].bias == 1.0


def test_gradients_point_the_documented_way():
    ramp = np.tile(np.arange(9.0), (9, 1))  # rises to the right by 1 per pixel
    for name, per_step in (("sobel_x", 8), ("prewitt_x", 6), ("scharr_x", 32)):
        assert np.all(conv2d(ramp, KERNELS[name].weights, boundary="edge")[:, 1:-1] == per_step), name
        y_name = name.replace("_x", "_y")
        assert np.all(conv2d(ramp.T, KERNELS[y_name].weights, boundary="edge")[1:-1, :] == per_step), y_name
    # Roberts: main diagonal difference in[y, x] - in[y+1, x+1] (anchor top-left).
    diagonal = np.add.outer(np.arange(6.0), np.arange(6.0))
    assert np.all(conv2d(diagonal, KERNELS["roberts_x"].weights, boundary="edge")[:-1, :-1] == -2)
    assert np.all(conv2d(diagonal, KERNELS["roberts_y"].weights, boundary="edge")[:-1, :-1] == 0)


def test_laplacian_is_negative_on_a_bright_peak_and_edge_positive():
    peak = np.zeros((5, 5))
    peak[2, 2] = 1.0
    assert conv2d(peak, KERNELS["laplacian"].weights)[2, 2] == -4
    assert conv2d(peak, KERNELS["edge"].weights)[2, 2] == 8
    assert conv2d(peak, KERNELS["laplacian_of_gaussian"].weights, boundary="zero")[2, 2] < 0


@pytest.mark.parametrize("name, lit, shadow", [
    ("emboss", (2, 2), (8, 8)),  # lit from the top left: just outside the top-left corner brightens
    ("emboss_n", (2, 5), (8, 5)),
    ("emboss_s", (8, 5), (2, 5)),
    ("emboss_w", (5, 2), (5, 8)),
    ("emboss_e", (5, 8), (5, 2)),
])
def test_embosses_light_from_their_direction(name, lit, shadow):
    out = conv2d(square(value=1.0, background=0.5), KERNELS[name].weights, boundary="edge")
    assert out[0, 0] == pytest.approx(0.5) and out[5, 5] == pytest.approx(1.0)  # flat areas keep their value
    assert out[lit] > 0.5 > out[shadow]


def test_line_detectors_prefer_their_orientation():
    lines = {"line_h": np.eye(9)[4][:, None] * np.ones(9), "line_v": np.ones(9)[:, None] * np.eye(9)[4],
             "line_135": np.eye(9), "line_45": np.fliplr(np.eye(9))}
    for name, image in lines.items():
        responses = {other: conv2d(image, KERNELS[other].weights, boundary="zero")[4, 4] for other in lines}
        assert max(responses, key=responses.get) == name, responses


def test_kirsch_bank_is_the_eight_classic_compass_masks():
    (kirsch,) = [LIBRARY["kirsch"]]
    assert [k.name for k in kirsch.kernels] == [f"kirsch_{a}" for a in range(0, 360, 45)]
    expected = [  # north, north-west, west, ... turning anticlockwise (Kirsch 1971)
        [[5, 5, 5], [-3, 0, -3], [-3, -3, -3]], [[5, 5, -3], [5, 0, -3], [-3, -3, -3]],
        [[5, -3, -3], [5, 0, -3], [5, -3, -3]], [[-3, -3, -3], [5, 0, -3], [5, 5, -3]],
        [[-3, -3, -3], [-3, 0, -3], [5, 5, 5]], [[-3, -3, -3], [-3, 0, 5], [-3, 5, 5]],
        [[-3, -3, 5], [-3, 0, 5], [-3, -3, 5]], [[-3, 5, 5], [-3, 0, 5], [-3, -3, -3]],
    ]
    for kernel, weights in zip(kirsch.kernels, expected):
        np.testing.assert_array_equal(kernel.weights, weights)
    assert kirsch.combine == "max"


def test_rotations_by_ninety_and_errors():
    base = Kernel("k", np.arange(6.0).reshape(2, 3))
    turned = rotations(base, 4, "k")
    for i, kernel in enumerate(turned):
        np.testing.assert_array_equal(kernel.weights, np.rot90(base.weights, i))
    with pytest.raises(KernelError, match=r"^mine\.toml: bank 'b': rotations = 8 needs a 3x3 base kernel, 'k' is 2x3"):
        rotations(base, 8, "b", "mine.toml")
    with pytest.raises(KernelError, match="rotations must be 4 or 8, got 6"):
        rotations(base, 6, "b")


def powers(shape):
    return 2.0 ** np.arange(np.prod(shape)).reshape(shape) * np.where(np.arange(np.prod(shape)) % 3, 1, -1).reshape(
        shape)


@pytest.mark.parametrize("shapes", [[(3, 3), (3, 3)], [(2, 2), (2, 2)], [(2, 3), (3, 2), (1, 4)], [(4, 4), (3, 1)]])
@pytest.mark.parametrize("flips", [(False, False, False), (True, False, True)])
def test_chain_folds_into_one_equivalent_kernel(shapes, flips):
    kernels = tuple(Kernel(f"k{i}", powers(shape), flip=flip, bias=0.125 * i)
                    for i, (shape, flip) in enumerate(zip(shapes, flips)))
    chain = Chain("c", kernels)
    folded = chain.fold()
    x = np.random.default_rng(0).random((14, 17))
    # Step by step, with wrap-around boundaries (where folding is exact everywhere) ...
    step = x
    for kernel in kernels:
        step = conv2d(step, kernel.weights, boundary="wrap", flip=kernel.flip) + kernel.bias
    np.testing.assert_allclose(conv2d(x, folded.weights, boundary="wrap") + folded.bias, step, rtol=1e-12)
    # ... and with any boundary away from the borders, where no step reads outside the image.
    step = x
    for kernel in kernels:
        step = conv2d(step, kernel.weights, boundary="symmetric", flip=kernel.flip) + kernel.bias
    reach = max(folded.shape)
    inside = (slice(reach, -reach), slice(reach, -reach))
    np.testing.assert_allclose((conv2d(x, folded.weights) + folded.bias)[inside], step[inside], rtol=1e-12)
    assert folded.note == f"chain {' → '.join(k.name for k in kernels)} folded into one " \
                          f"{folded.shape[0]}x{folded.shape[1]} kernel"


def test_builtin_chain_equals_scipy_step_by_step():
    chain = LIBRARY["smooth_edges"]
    x = np.random.default_rng(1).random((20, 20))
    step = signal.correlate2d(signal.correlate2d(x, LIBRARY["gaussian5"].weights, mode="valid"),
                              LIBRARY["laplacian"].weights, mode="valid")
    np.testing.assert_allclose(signal.correlate2d(x, chain.fold().weights, mode="valid"), step, atol=1e-12)


def test_kernel_is_immutable_and_validates_its_name():
    kernel = Kernel("k", np.ones((1, 2)))
    with pytest.raises(ValueError):
        kernel.weights[0, 0] = 5
    with pytest.raises(KernelError) as error:
        Kernel(name="a b", weights=np.ones((1, 1)))
    assert str(error.value) == ("built-in: kernel name 'a b' must start with a letter or _ and hold only letters, "
                                "digits, _ and -, or be several such names joined by + (a chain's, as blur+edge)")
    assert Kernel(name="blur+edge", weights=np.ones((1, 1))).name == "blur+edge"  # the + the message names


def test_builtin_kernels_through_the_engine_match_scipy():
    x = np.random.default_rng(1).random((12, 14))
    for kernel in KERNELS.values():
        np.testing.assert_allclose(conv2d(x, kernel.weights, boundary="zero"),
                                   signal.correlate2d(x, kernel.weights, mode="same"), atol=1e-12)


def test_embed_puts_the_anchor_where_the_contract_anchors_the_smallest_frame():
    for kh, kw in [(1, 1), (2, 4), (3, 3), (5, 2)]:
        weights = np.arange(1.0, kh * kw + 1).reshape(kh, kw)
        for anchor in itertools.product(range(kh), range(kw)):
            frame, (top, left) = embed(weights, anchor)
            assert default_anchor(frame.shape) == (anchor[0] + top, anchor[1] + left), anchor
            np.testing.assert_array_equal(frame[top:top + kh, left:left + kw], weights)
            assert frame.sum() == weights.sum()
            for axis, (taps, at) in enumerate(zip(weights.shape, anchor)):  # no smaller frame does it
                smallest = min(size for size in range(taps, 4 * taps) for before in range(size - taps + 1)
                               if (size - 1) // 2 == at + before)
                assert frame.shape[axis] == smallest, (anchor, axis)
