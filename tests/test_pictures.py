"""Kernel pictures: the frequency response against NumPy's FFT, the heat map's cells and the PNG it writes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from convcli.cli import app
from convcli.errors import ParameterError
from convcli.kernels.composite import Chain
from convcli.kernels.kernel import Kernel
from convcli.kernels.library import load_library
from convcli.tools.pictures import (
    cell_size,
    diverging,
    drawn_kernels,
    frequency_response,
    heat_map,
    kernel_figure,
    save_kernel_figure,
    sequential,
)

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TILT = np.array([[1, 2, 4], [-8, 0, 16], [-32, -64, 128]], dtype=float) / 128


pytestmark = pytest.mark.usefixtures("workdir")  # an empty folder of its own (conftest.py)


def run(*args):
    return runner.invoke(app, [str(arg) for arg in args])


# ------------------------------------------------------------------------------------ frequency response


def test_frequency_response_is_the_shifted_fft_magnitude():
    h = frequency_response(TILT)
    assert h.shape == (64, 64)
    padded = np.zeros((64, 64))
    padded[:3, :3] = TILT
    np.testing.assert_allclose(h, np.fft.fftshift(np.abs(np.fft.fft2(padded))), atol=1e-12)


def test_dc_is_the_sum_and_a_real_kernel_is_point_symmetric():
    h = frequency_response(TILT)
    assert h[32, 32] == pytest.approx(abs(TILT.sum()))
    # |H(-f)| = |H(f)| for real kernels: the shifted array is symmetric about its centre (row/col 0 is -0.5)
    np.testing.assert_allclose(h[1:, 1:], h[1:, 1:][::-1, ::-1], atol=1e-12)


def test_a_blur_passes_low_frequencies_and_an_edge_detector_removes_them():
    library = load_library()
    blur, edge = frequency_response(library["gaussian5"].weights), frequency_response(library["edge"].weights)
    assert np.unravel_index(np.argmax(blur), blur.shape) == (32, 32) and blur[32, 32] == pytest.approx(1.0)
    assert edge[32, 32] == pytest.approx(0.0, abs=1e-12)
    # H(u, v) = 9 - (1 + 2 cos u)(1 + 2 cos v): 12 for stripes at (+-0.5, 0), 8 for the checkerboard
    assert edge.max() == pytest.approx(12.0) and edge[0, 32] == pytest.approx(12.0)
    assert edge[0, 0] == pytest.approx(8.0)


def test_large_kernels_get_a_larger_transform():
    assert frequency_response(np.ones((40, 40))).shape == (128, 128)
    with pytest.raises(ParameterError, match=r"^kernel must be a non-empty kh x kw matrix; got shape \(3,\)$"):
        frequency_response(np.ones(3))


# --------------------------------------------------------------------------------------------- drawing


def test_colour_scales():
    assert diverging(np.array([-2.0, -1.0, 0.0, 0.5, 1.0]), 1.0).tolist() == [
        [33, 102, 172], [33, 102, 172], [255, 255, 255], [216, 140, 149], [178, 24, 43]]
    assert sequential(np.array([0.0, 0.5, 1.0]), 1.0).tolist() == [[68, 1, 84], [33, 145, 140], [253, 231, 37]]


def test_heat_map_colours_each_cell_by_its_value():
    kernel = Kernel("tilt", TILT)
    cell = cell_size(kernel)
    image = np.asarray(heat_map(kernel))
    assert cell == 64 and image.shape == (192, 192, 3)
    expected = diverging(TILT, 1.0)
    for (i, j), _ in np.ndenumerate(TILT):
        corner = image[i * cell + 8, j * cell + 8]  # away from the value written in the middle
        assert corner.tolist() == expected[i, j].tolist(), (i, j)


def test_heat_map_writes_values_and_outlines_the_anchor():
    kernel = Kernel("tilt", TILT)
    image = np.asarray(heat_map(kernel)).astype(int)
    middle = image[64 + 24:64 + 40, 128 + 8:128 + 56]  # cell (1, 2), 16/128 = 0.125, pale red
    assert (middle.sum(axis=2) < 200).any()  # dark text
    anchor_edge = image[64, 64 + 10:128 - 10]  # top edge of cell (1, 1)
    assert (anchor_edge.sum(axis=1) < 100).all()
    other_edge = image[0, 10:54]  # top edge of cell (0, 0): no outline
    assert (other_edge.sum(axis=1) > 300).all()


def test_big_kernels_get_small_cells_without_numbers():
    kernel = Kernel("big", np.ones((33, 33)) / 33**2)
    assert cell_size(kernel) == 7
    image = np.asarray(heat_map(kernel))
    outside_anchor = image[:7 * 16, :7 * 16].reshape(-1, 3)
    assert len({tuple(p) for p in outside_anchor}) == 1  # one flat colour: nothing written


def test_figure_has_one_row_per_kernel():
    one = kernel_figure([Kernel("a", TILT)])
    bank = load_library()["sobel"]
    two = kernel_figure([bank])
    chain = Chain("c", (Kernel("a", TILT), Kernel("b", TILT)))
    three = kernel_figure([chain])
    assert [k.name for k in drawn_kernels([bank])] == ["sobel_x", "sobel_y"]
    assert [k.name for k in drawn_kernels([chain])] == ["a", "b", "c"]  # the steps, then the folded kernel
    row = one.height - 16
    # the folded 5x5 has 51-pixel cells (256 // 5): its row is 255 - 192 pixels taller
    assert (two.height - 16, three.height - 16) == (2 * row, 3 * row + 5 * 51 - 3 * 64)
    with pytest.raises(ParameterError, match=r"^no kernels to draw$"):
        kernel_figure([])


def test_save_writes_a_png_and_only_a_png(workdir):
    path = save_kernel_figure("k.png", [Kernel("a", TILT)])
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "RGB"
    with pytest.raises(ParameterError, match=r"^picture file must end in .png; got 'k.jpg'$"):
        save_kernel_figure("k.jpg", [Kernel("a", TILT)])
    assert not Path("k.jpg").exists()


def test_kernels_show_png(workdir):
    plain = run("kernels", "show", "sobel")
    result = run("kernels", "show", "sobel", "--png", "sobel.png")
    assert result.exit_code == 0, result.output
    assert result.stdout == plain.stdout  # the text is unchanged
    assert ANSI.sub("", result.stderr) == "wrote sobel.png\n"
    with Image.open("sobel.png") as image:
        assert image.format == "PNG" and image.height > 2 * 192


def test_kernels_show_png_refuses_other_extensions(workdir):
    result = run("kernels", "show", "sobel_x", "--png", "sobel.jpg")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert ANSI.sub("", result.stderr) == "Error: picture file must end in .png; got 'sobel.jpg'\n"


def test_kernels_show_help_mentions_png():
    text = " ".join(ANSI.sub("", run("kernels", "show", "--help").stdout).split())
    assert "--png" in text and "frequency response" in text


def test_library_modules_import_neither_typer_rich_nor_matplotlib():
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import convcli.tools.probe, convcli.tools.explain, convcli.tools.fit, convcli.tools.pictures, "
        "convcli.engine.layers\n"
        "from convcli.kernels.kernel import Kernel\n"
        "convcli.tools.pictures.kernel_figure([Kernel('k', [[1, 2], [3, 4]])])\n"
        "convcli.tools.probe.probe(Kernel('k', [[1, 2], [3, 4]]))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'click', 'matplotlib'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
