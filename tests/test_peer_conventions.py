"""What docs/coming-from.md says of ImageMagick and OpenCV, run against the tools themselves.

Skipped where the tool is not installed (ImageMagick's ``convert``, OpenCV's ``cv2``). The kernel is
asymmetric with taps all different, 5x5 so that ``edge``, ``symmetric`` and ``mirror`` differ at the
border, and each claim is also checked not to hold the other way round (a flip must matter).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli import conv2d

KERNEL = np.arange(1, 26, dtype=np.float64).reshape(5, 5)
KERNEL[4, 4] = 40
KERNEL /= KERNEL.sum()
IMAGE = np.random.default_rng(1).integers(0, 256, (9, 11), dtype=np.uint8)
STEP = 1 / 65535  # one 16-bit level: ImageMagick writes 16-bit samples


def imagemagick(tmp_path: Path, *args: str) -> np.ndarray:
    if shutil.which("convert") is None:
        pytest.skip("ImageMagick's convert is not installed")
    source, out = tmp_path / "in.png", tmp_path / "out.pgm"
    Image.fromarray(IMAGE).save(source)
    subprocess.run(["convert", str(source), *args, "-depth", "16", str(out)], check=True, capture_output=True)
    with Image.open(out) as image:
        return np.asarray(image).astype(np.float64) / 65535


def spelled(kernel: np.ndarray, anchor: str = "") -> str:
    height, width = kernel.shape
    return f"{width}x{height}{anchor}: " + ",".join(f"{v:.12f}" for v in kernel.ravel())


@pytest.mark.parametrize(("operator", "flip"), [("Convolve", True), ("Correlate", False)])
@pytest.mark.parametrize(("virtual_pixel", "boundary", "cval"), [
    ("Edge", "edge", 0.0), ("Mirror", "symmetric", 0.0), ("Tile", "wrap", 0.0), ("Black", "zero", 0.0),
    ("White", "constant", 1.0),
])
def test_imagemagick_morphology_convolve_is_flip_and_correlate_is_the_default(tmp_path, operator, flip,
                                                                               virtual_pixel, boundary, cval):
    theirs = imagemagick(tmp_path, "-virtual-pixel", virtual_pixel, "-morphology", operator, spelled(KERNEL))
    ours = conv2d(IMAGE / 255.0, KERNEL, boundary=boundary, cval=cval, flip=flip)
    assert np.abs(theirs - ours).max() <= STEP
    assert np.abs(theirs - conv2d(IMAGE / 255.0, KERNEL, boundary=boundary, cval=cval, flip=not flip)).max() > 0.1


def test_imagemagick_s_default_virtual_pixel_is_edge(tmp_path):
    theirs = imagemagick(tmp_path, "-morphology", "Correlate", spelled(KERNEL))
    assert np.abs(theirs - conv2d(IMAGE / 255.0, KERNEL, boundary="edge")).max() <= STEP
    assert np.abs(theirs - conv2d(IMAGE / 255.0, KERNEL)).max() > 0.01  # convcli's default differs


def test_imagemagick_6_convolve_correlates_and_divides_by_the_sum(tmp_path):
    weights = np.arange(1, 10, dtype=np.float64).reshape(3, 3) / 10  # sums to 4.5
    theirs = imagemagick(tmp_path, "-convolve", spelled(weights))
    version = subprocess.run(["convert", "-version"], capture_output=True, text=True).stdout
    if "ImageMagick 6" not in version:
        pytest.skip("the page's claim is about ImageMagick 6")
    ours = conv2d(IMAGE / 255.0, weights / weights.sum(), boundary="edge")
    assert np.abs(theirs - ours).max() <= STEP


@pytest.mark.parametrize(("define", "scale", "bias"), [
    ("convolve:scale=!", None, 0.0), ("convolve:scale=0.5", 0.5, 0.0), ("convolve:bias=20%", 1.0, 0.2),
])
def test_imagemagick_scale_and_bias(tmp_path, define, scale, bias):
    weights = np.arange(1, 10, dtype=np.float64).reshape(3, 3) / 40
    theirs = imagemagick(tmp_path, "-define", define, "-morphology", "Correlate", spelled(weights))
    scaled = weights / weights.sum() if scale is None else weights * scale
    ours = np.clip(conv2d(IMAGE / 255.0, scaled, boundary="edge") + bias, 0, 1)
    assert np.abs(theirs - ours).max() <= 2 * STEP


def test_imagemagick_s_anchor_is_column_then_row(tmp_path):
    weights = np.arange(1, 10, dtype=np.float64).reshape(3, 3) / 45
    theirs = imagemagick(tmp_path, "-virtual-pixel", "Edge", "-morphology", "Correlate", spelled(weights, "+0+2"))
    padded = np.pad(IMAGE / 255.0, 2, mode="edge")
    height, width = IMAGE.shape
    expected = sum(weights[i, j] * padded[2 + i - 2:2 + i - 2 + height, 2 + j:2 + j + width]
                   for i in range(3) for j in range(3))  # anchor row 2, column 0
    assert np.abs(theirs - expected).max() <= STEP


CV_BORDERS = {"edge": "BORDER_REPLICATE", "symmetric": "BORDER_REFLECT", "mirror": "BORDER_REFLECT_101",
              "zero": "BORDER_CONSTANT"}


@pytest.mark.parametrize("boundary", list(CV_BORDERS))
def test_opencv_filter2d_is_the_default_and_its_flipped_kernel_is_flip(boundary):
    cv2 = pytest.importorskip("cv2")
    image = (IMAGE / 255.0).astype(np.float32)
    border = getattr(cv2, CV_BORDERS[boundary])
    weights = KERNEL.astype(np.float32)
    assert np.abs(cv2.filter2D(image, -1, weights, borderType=border) - conv2d(image, weights, boundary=boundary)
                  ).max() < 1e-6
    flipped = cv2.filter2D(image, -1, cv2.flip(weights, -1), borderType=border)
    assert np.abs(flipped - conv2d(image, weights, boundary=boundary, flip=True)).max() < 1e-6
    assert np.abs(flipped - conv2d(image, weights, boundary=boundary)).max() > 0.01


def test_opencv_anchors_an_even_kernel_one_cell_further_and_takes_column_then_row():
    cv2 = pytest.importorskip("cv2")
    image = (IMAGE / 255.0).astype(np.float32)
    weights = np.arange(1, 13, dtype=np.float32).reshape(3, 4) / 78
    padded = np.pad(image, 4, mode="symmetric")
    height, width = image.shape

    def anchored(row: int, column: int) -> np.ndarray:
        return sum(weights[i, j] * padded[4 + i - row:4 + i - row + height, 4 + j - column:4 + j - column + width]
                   for i in range(3) for j in range(4))

    default = cv2.filter2D(image, -1, weights, borderType=cv2.BORDER_REFLECT)
    assert np.abs(default - anchored(1, 2)).max() < 1e-6  # OpenCV: (kh // 2, kw // 2)
    assert np.abs(conv2d(image, weights) - anchored(1, 1)).max() < 1e-6  # convcli: (kh - 1) // 2, (kw - 1) // 2
    chosen = cv2.filter2D(image, -1, weights, anchor=(0, 2), borderType=cv2.BORDER_REFLECT)
    assert np.abs(chosen - anchored(2, 0)).max() < 1e-6


def test_opencv_filter2d_refuses_wrap():
    cv2 = pytest.importorskip("cv2")
    with pytest.raises(cv2.error):
        cv2.filter2D((IMAGE / 255.0).astype(np.float32), -1, KERNEL.astype(np.float32), borderType=cv2.BORDER_WRAP)
