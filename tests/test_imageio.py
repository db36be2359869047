"""Reading and writing images through :mod:`convcli.imageio`, with real files made by Pillow."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from convcli.errors import InputError, OutputError, ParameterError
from convcli.imageio.atomic import atomic_write
from convcli.imageio.file_warnings import FileWarning
from convcli.imageio.reading import load_image
from convcli.imageio.writing import WRITE_FORMATS, output_format, save_image

H, W = 6, 10  # not square, so a rotation or a transposition changes the shape

PALETTE = [(10, 20, 30), (200, 100, 50), (0, 255, 0), (255, 255, 255)]


def ramp(h: int = H, w: int = W, dtype=np.uint8, top: int = 255) -> np.ndarray:
    """A gray image with no symmetry: every pixel differs from its mirror images and rotations."""
    values = np.arange(h * w, dtype=np.float64).reshape(h, w)
    return np.rint(values / values.max() * top).astype(dtype)


def rgb(h: int = H, w: int = W) -> np.ndarray:
    y, x = np.mgrid[:h, :w]
    return np.dstack([(y * 40 + x * 3) % 256, (x * 25) % 256, (y * x * 7 + 11) % 256]).astype(np.uint8)


def indices(h: int = H, w: int = W) -> np.ndarray:
    y, x = np.mgrid[:h, :w]
    return ((y + 2 * x) % len(PALETTE)).astype(np.uint8)


def palette_image(mode: str, idx: np.ndarray, alpha: np.ndarray | None = None) -> Image.Image:
    planes = idx if alpha is None else np.dstack([idx, alpha])
    image = Image.frombytes(mode, (idx.shape[1], idx.shape[0]), planes.tobytes())
    image.putpalette([v for colour in PALETTE for v in colour])
    return image


def file_pixels(path: Path) -> tuple[str, np.ndarray]:
    """The mode and pixels of an image file, read by Pillow alone."""
    with Image.open(path) as image:
        return image.mode, np.asarray(image)


def folder_names(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# --------------------------------------------------------------------------------------------- loading


def test_load_gray_8bit(tmp_path):
    pixels = ramp()
    Image.fromarray(pixels).save(tmp_path / "g.png")
    picture = load_image(tmp_path / "g.png")
    assert picture.mode == "L"
    assert picture.color.dtype == np.float32
    assert picture.color.shape == (H, W)
    assert picture.alpha is None
    assert picture.bit_depth == 8
    assert picture.color[-1, -1] == 1.0  # 255 -> 1.0
    assert picture.color[0, 0] == 0.0
    np.testing.assert_allclose(picture.color, pixels / 255.0, rtol=0, atol=1e-7)
    assert (picture.height, picture.width, picture.channels) == (H, W, 1)


def test_load_accepts_a_string_path(tmp_path):
    Image.fromarray(ramp()).save(tmp_path / "g.png")
    assert load_image(str(tmp_path / "g.png")).color.shape == (H, W)


def test_load_mode_1_becomes_gray_0_or_1(tmp_path):
    bits = (ramp() % 3) == 0
    Image.fromarray(bits).save(tmp_path / "b.png")
    assert file_pixels(tmp_path / "b.png")[0] == "1"
    picture = load_image(tmp_path / "b.png")
    assert picture.mode == "1"
    assert picture.color.shape == (H, W) and picture.alpha is None and picture.bit_depth == 8
    np.testing.assert_array_equal(picture.color, bits.astype(np.float32))


def test_load_la_splits_alpha(tmp_path):
    gray, alpha = ramp(), ramp()[::-1, ::-1].copy()
    Image.fromarray(np.dstack([gray, alpha])).save(tmp_path / "la.png")
    picture = load_image(tmp_path / "la.png")
    assert picture.mode == "LA"
    assert picture.color.shape == (H, W) and picture.alpha.shape == (H, W)
    assert picture.color.dtype == picture.alpha.dtype == np.float32
    np.testing.assert_allclose(picture.color, gray / 255.0, atol=1e-7)
    np.testing.assert_allclose(picture.alpha, alpha / 255.0, atol=1e-7)
    assert picture.alpha[0, 0] == 1.0 and picture.alpha[-1, -1] == 0.0


def test_load_palette_without_transparency_is_rgb(tmp_path):
    idx = indices()
    palette_image("P", idx).save(tmp_path / "p.png")
    picture = load_image(tmp_path / "p.png")
    assert picture.mode == "P"
    assert picture.alpha is None
    assert picture.color.shape == (H, W, 3)
    expected = np.array(PALETTE, dtype=np.float64)[idx] / 255.0
    np.testing.assert_allclose(picture.color, expected, atol=1e-7)


def test_load_palette_with_transparent_index_is_rgba(tmp_path):
    idx = indices()
    palette_image("P", idx).save(tmp_path / "pt.png", transparency=0)
    picture = load_image(tmp_path / "pt.png")
    assert picture.mode == "P"
    assert picture.color.shape == (H, W, 3)
    np.testing.assert_array_equal(picture.alpha, np.where(idx == 0, 0.0, 1.0).astype(np.float32))
    expected = np.array(PALETTE, dtype=np.float64)[idx] / 255.0
    np.testing.assert_allclose(picture.color, expected, atol=1e-7)


def test_load_pa_is_rgba(tmp_path):
    idx = indices()
    alpha = ramp()
    palette_image("PA", idx, alpha).save(tmp_path / "pa.tif")  # PNG cannot hold PA; TIFF can
    assert file_pixels(tmp_path / "pa.tif")[0] == "PA"
    picture = load_image(tmp_path / "pa.tif")
    assert picture.color.shape == (H, W, 3)
    np.testing.assert_allclose(picture.alpha, alpha / 255.0, atol=1e-7)
    np.testing.assert_allclose(picture.color, np.array(PALETTE, dtype=np.float64)[idx] / 255.0, atol=1e-7)


def test_load_rgb(tmp_path):
    pixels = rgb()
    Image.fromarray(pixels).save(tmp_path / "c.png")
    picture = load_image(tmp_path / "c.png")
    assert picture.mode == "RGB" and picture.bit_depth == 8 and picture.alpha is None
    assert picture.color.shape == (H, W, 3) and picture.color.dtype == np.float32
    np.testing.assert_allclose(picture.color, pixels / 255.0, atol=1e-7)
    assert picture.color[1, 2].tolist() == pytest.approx([46 / 255, 50 / 255, 25 / 255])


def test_load_rgba(tmp_path):
    pixels = np.dstack([rgb(), ramp()])
    Image.fromarray(pixels).save(tmp_path / "c.png")
    picture = load_image(tmp_path / "c.png")
    assert picture.mode == "RGBA"
    assert picture.color.shape == (H, W, 3) and picture.alpha.shape == (H, W)
    assert picture.color.flags.c_contiguous and picture.alpha.flags.c_contiguous
    np.testing.assert_allclose(picture.color, pixels[..., :3] / 255.0, atol=1e-7)
    np.testing.assert_allclose(picture.alpha, pixels[..., 3] / 255.0, atol=1e-7)


def test_load_cmyk_becomes_rgb(tmp_path):
    cmyk = np.zeros((2, 3, 4), np.uint8)
    cmyk[0, 0] = (0, 255, 0, 0)  # pure magenta ink: red and blue light
    cmyk[0, 1] = (0, 0, 0, 255)  # black
    cmyk[0, 2] = (0, 0, 0, 0)  # paper white
    cmyk[1] = (10, 20, 30, 40)
    image = Image.frombytes("CMYK", (3, 2), cmyk.tobytes())
    image.save(tmp_path / "k.tif")
    picture = load_image(tmp_path / "k.tif")
    assert picture.mode == "CMYK" and picture.alpha is None and picture.bit_depth == 8
    assert picture.color.shape == (2, 3, 3)
    assert picture.color[0].tolist() == [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    np.testing.assert_allclose(picture.color, np.asarray(image.convert("RGB")) / 255.0, atol=1e-7)


def test_cmyk_profile_is_dropped_rgb_profile_kept(tmp_path):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("CMYK", (3, 2), (0, 255, 0, 0)).save(tmp_path / "k.tif", icc_profile=profile)
    Image.new("RGB", (3, 2), (1, 2, 3)).save(tmp_path / "c.png", icc_profile=profile, dpi=(300, 300))
    assert load_image(tmp_path / "k.tif").icc_profile is None  # it no longer describes the RGB pixels
    kept = load_image(tmp_path / "c.png")
    assert kept.icc_profile == profile
    assert kept.dpi == pytest.approx((300, 300), rel=1e-3)
    assert load_image(tmp_path / "c.png", gray=True).icc_profile is None


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_load_16bit_gray(tmp_path, ext):
    pixels = np.array([[0, 1, 257], [32768, 65534, 65535]], dtype=np.uint16)
    Image.fromarray(pixels).save(tmp_path / f"d.{ext}")
    assert file_pixels(tmp_path / f"d.{ext}")[0] == "I;16"
    picture = load_image(tmp_path / f"d.{ext}")
    assert picture.bit_depth == 16 and picture.alpha is None and picture.color.dtype == np.float32
    assert picture.color[1, 2] == 1.0  # 65535 -> 1.0
    assert picture.color[0, 2] == pytest.approx(257 / 65535)  # not 1/255: 16-bit precision is kept
    np.testing.assert_allclose(picture.color, pixels / 65535.0, rtol=1e-7, atol=0)


def test_load_16bit_big_endian_tiff(tmp_path):
    pixels = np.array([[1, 2, 65535]], dtype=">u2")
    Image.fromarray(pixels).save(tmp_path / "be.tif")
    assert file_pixels(tmp_path / "be.tif")[0] == "I;16B"
    np.testing.assert_allclose(load_image(tmp_path / "be.tif").color, pixels / 65535.0, rtol=1e-7)


def test_load_32bit_int_is_read_on_the_16bit_scale(tmp_path):
    # Mode I is what older Pillows gave for 16-bit PNGs, so convcli reads it on the 0..65535 scale.
    pixels = np.array([[0, 1000, 65535]], dtype=np.int32)
    Image.fromarray(pixels).save(tmp_path / "i.tif")
    assert file_pixels(tmp_path / "i.tif")[0] == "I"
    picture = load_image(tmp_path / "i.tif")
    assert picture.bit_depth == 16
    np.testing.assert_allclose(picture.color, [[0.0, 1000 / 65535, 1.0]], rtol=1e-7)


def test_load_float_keeps_values(tmp_path):
    pixels = np.array([[0.25, -1.5, 3.0], [1e-6, 0.5, 1.0]], dtype=np.float32)
    Image.fromarray(pixels).save(tmp_path / "f.tif")
    picture = load_image(tmp_path / "f.tif")
    assert picture.mode == "F" and picture.bit_depth == 32 and picture.alpha is None
    assert picture.color.dtype == np.float32
    np.testing.assert_array_equal(picture.color, pixels)


def test_load_gray_option_gives_rec601_luma_and_keeps_alpha(tmp_path):
    pixels = np.dstack([rgb(), ramp()])
    Image.fromarray(pixels).save(tmp_path / "c.png")
    picture = load_image(tmp_path / "c.png", gray=True)
    assert picture.color.shape == (H, W) and picture.color.dtype == np.float32
    r, g, b = (pixels[..., i] / 255.0 for i in range(3))
    np.testing.assert_allclose(picture.color, 0.299 * r + 0.587 * g + 0.114 * b, atol=1e-6)
    np.testing.assert_allclose(picture.alpha, pixels[..., 3] / 255.0, atol=1e-7)


# EXIF orientation: what the viewer shows, from the stored pixels ``a`` (EXIF 2.3, tag 0x0112).
ORIENTATIONS = {
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: np.rot90(a, 2),  # upside down
    4: lambda a: a[::-1],  # mirrored top-bottom
    5: lambda a: a.T,  # transposed
    6: lambda a: np.rot90(a, -1),  # rotate 90 degrees clockwise to view
    7: lambda a: np.rot90(a, 2).T,  # transversed
    8: lambda a: np.rot90(a, 1),  # rotate 90 degrees counter-clockwise to view
}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation_png(tmp_path, orientation):
    pixels = ramp()
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(tmp_path / "o.png", exif=exif)
    picture = load_image(tmp_path / "o.png")
    expected = ORIENTATIONS[orientation](pixels)
    assert picture.color.shape == expected.shape
    np.testing.assert_array_equal(np.rint(picture.color * 255).astype(np.uint8), expected)


def test_exif_orientation_6_jpeg(tmp_path):
    # Big flat blocks so the JPEG round trip is near-exact; the layout cannot be symmetric.
    blocks = np.array([[0, 60, 120], [180, 240, 30]], dtype=np.uint8)
    pixels = np.kron(blocks, np.ones((8, 8), dtype=np.uint8))  # 16 x 24
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "o.jpg", exif=exif, quality=100)
    picture = load_image(tmp_path / "o.jpg")
    assert picture.color.shape == (24, 16)
    np.testing.assert_allclose(picture.color * 255, np.rot90(pixels, -1), atol=3)
    # the top-right of what the viewer sees is the stored top-left block
    assert picture.color[0, -1] * 255 == pytest.approx(0, abs=3)
    assert picture.color[0, 0] * 255 == pytest.approx(180, abs=3)


def test_lab_image_has_no_alpha(tmp_path):
    Image.new("LAB", (3, 2), (50, 10, 20)).save(tmp_path / "lab.tif")
    picture = load_image(tmp_path / "lab.tif")
    assert picture.color.shape == (2, 3, 3)
    assert picture.alpha is None


@pytest.mark.parametrize(("mode", "colour"), [("L", 7), ("RGB", (1, 2, 3))])
def test_transparent_colour_of_gray_and_rgb_png_becomes_alpha(tmp_path, mode, colour):
    image = Image.new(mode, (3, 2), colour)
    image.putpixel((0, 0), 0 if mode == "L" else (9, 9, 9))
    image.save(tmp_path / "t.png", transparency=colour)
    picture = load_image(tmp_path / "t.png")
    assert picture.alpha is not None
    assert picture.alpha.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


# ---------------------------------------------------------------------------------------- load errors


def test_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(InputError) as caught:
        load_image(path)
    assert str(caught.value) == f"{path}: no such file"
    assert caught.value.exit_code == 1


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(InputError) as caught:
        load_image(tmp_path)
    assert str(caught.value) == f"{tmp_path}: is a folder, not an image"


def test_random_bytes_are_not_an_image(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(0).bytes(512))
    with pytest.raises(InputError) as caught:
        load_image(path)
    assert str(caught.value) == f"{path}: not an image Pillow can read"


def test_truncated_png(tmp_path):
    whole = tmp_path / "whole.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(whole)
    data = whole.read_bytes()
    path = tmp_path / "half.png"
    path.write_bytes(data[: len(data) // 2])
    # what Pillow itself says about this file
    with pytest.raises(OSError) as pillow, Image.open(path) as image:
        image.load()
    with pytest.raises(InputError) as caught:
        load_image(path)
    assert str(caught.value) == f"{path}: corrupt or truncated image ({pillow.value})"
    assert str(pillow.value).startswith("image file is truncated")


# --------------------------------------------------------------------------------------------- saving


@pytest.mark.parametrize(("name", "fmt"), sorted(WRITE_FORMATS.items()))
def test_output_format_by_extension(name, fmt):
    assert output_format(Path(f"x{name}")) == fmt
    assert output_format(Path(f"x{name.upper()}")) == fmt


@pytest.mark.parametrize("name", ["out.xcf", "out", "out.PSD", "out.png.bak"])
def test_unsupported_extension(tmp_path, name):
    path = tmp_path / name
    message = (f"unsupported output extension '{path.suffix}' in {path}; "
               "use one of .png, .jpg, .jpeg, .webp, .bmp, .gif, .tif, .tiff, .npy, .npz")
    with pytest.raises(ParameterError) as caught:
        output_format(path)
    assert str(caught.value) == message
    with pytest.raises(ParameterError) as caught:
        save_image(path, np.zeros((2, 2), np.float32))
    assert str(caught.value) == message
    assert folder_names(tmp_path) == []


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_gray_round_trip(tmp_path, ext):
    levels = np.array([[0, 1, 2, 255, 256, 257], [1000, 32767, 32768, 65533, 65534, 65535]], dtype=np.uint16)
    values = (levels / 65535.0).astype(np.float32)
    path = tmp_path / f"d.{ext}"
    assert save_image(path, values, bit_depth=16) == []
    mode, stored = file_pixels(path)
    assert mode == "I;16"
    np.testing.assert_array_equal(stored, levels)
    back = load_image(path)
    assert back.bit_depth == 16
    assert np.max(np.abs(back.color - values)) < 0.5 / 65535


def test_16bit_values_are_clipped_and_rounded(tmp_path):
    values = np.array([[-0.5, 1.5, np.nan, 0.4999 / 65535, 0.5001 / 65535]], dtype=np.float32)
    save_image(tmp_path / "d.png", values, bit_depth=16)
    assert file_pixels(tmp_path / "d.png")[1].tolist() == [[0, 65535, 0, 0, 1]]


def test_8bit_rgb_png(tmp_path):
    pixels = rgb()
    values = (pixels / 255.0).astype(np.float32)
    assert save_image(tmp_path / "c.png", values) == []
    mode, stored = file_pixels(tmp_path / "c.png")
    assert mode == "RGB"
    np.testing.assert_array_equal(stored, pixels)


def test_8bit_gray_png_rounds_to_nearest(tmp_path):
    values = np.array([[0.0, 0.5 / 255 - 1e-4, 0.5 / 255 + 1e-4, 1.0, 7.0, -3.0]], dtype=np.float32)
    save_image(tmp_path / "g.png", values)
    mode, stored = file_pixels(tmp_path / "g.png")
    assert mode == "L"
    assert stored.tolist() == [[0, 0, 1, 255, 255, 0]]


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_rgba_kept_exactly(tmp_path, ext):
    pixels = np.dstack([rgb(), ramp()])
    path = tmp_path / f"c.{ext}"
    assert save_image(path, pixels[..., :3] / 255.0, pixels[..., 3] / 255.0) == []
    mode, stored = file_pixels(path)
    assert mode == "RGBA"
    np.testing.assert_array_equal(stored, pixels)


def test_gray_with_alpha_is_la(tmp_path):
    gray, alpha = ramp(), ramp()[::-1].copy()
    save_image(tmp_path / "g.png", gray / 255.0, alpha / 255.0)
    mode, stored = file_pixels(tmp_path / "g.png")
    assert mode == "LA"
    np.testing.assert_array_equal(stored, np.dstack([gray, alpha]))


def test_rgba_kept_in_webp(tmp_path):
    # flat colour, so the lossy (quality 95) colour planes come back within a few levels
    pixels = np.dstack([np.full((H, W, 3), (200, 40, 90), np.uint8), np.where(ramp() > 100, 255, 0)])
    pixels = pixels.astype(np.uint8)
    assert save_image(tmp_path / "c.webp", pixels[..., :3] / 255.0, pixels[..., 3] / 255.0) == []
    mode, stored = file_pixels(tmp_path / "c.webp")
    assert mode == "RGBA"
    np.testing.assert_array_equal(stored[..., 3], pixels[..., 3])  # lossy colour, lossless alpha
    opaque = pixels[..., 3] == 255
    assert np.max(np.abs(stored[opaque, :3].astype(int) - pixels[opaque, :3])) <= 4


@pytest.mark.parametrize(("name", "fmt"), [("c.jpg", "JPEG"), ("c.jpeg", "JPEG"), ("c.bmp", "BMP")])
def test_formats_without_alpha_drop_it_with_a_warning(tmp_path, name, fmt):
    pixels = np.full((H, W, 3), (200, 40, 90), dtype=np.uint8)
    warnings = save_image(tmp_path / name, pixels / 255.0, np.full((H, W), 0.5, np.float32))
    assert warnings == [FileWarning(name, f"{fmt} has no alpha channel; transparency was dropped")]
    mode, stored = file_pixels(tmp_path / name)
    assert mode == "RGB"
    assert np.max(np.abs(stored.astype(int) - pixels)) <= 3


def test_16bit_gray_to_jpeg_warns_and_writes_8_bits(tmp_path):
    warnings = save_image(tmp_path / "g.jpg", np.full((H, W), 0.5, np.float32), bit_depth=16)
    assert warnings == [FileWarning("g.jpg", "JPEG holds 8 bits per channel; the 16-bit maps were written with 8")]
    assert file_pixels(tmp_path / "g.jpg")[0] == "L"


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_gray_with_alpha_keeps_16_bits(tmp_path, ext):
    import tifffile

    gray, alpha = ramp(top=65535, dtype=np.uint16), ramp(top=65535, dtype=np.uint16)[::-1].copy()
    assert save_image(tmp_path / f"g.{ext}", gray / 65535.0, alpha / 65535.0, bit_depth=16) == []
    stored = tifffile.imread(tmp_path / "g.tif") if ext == "tif" else imagecodecs_decode(tmp_path / "g.png")
    np.testing.assert_array_equal(stored, np.dstack([gray, alpha]))


def imagecodecs_decode(path: Path) -> np.ndarray:
    import imagecodecs

    return imagecodecs.png_decode(path.read_bytes())


@pytest.mark.parametrize("ext", ["tif", "tiff"])
def test_raw_float_tiff_is_exact(tmp_path, ext):
    values = np.array([[-1.25, 0.0, 1e-7], [3.5, 0.1, -0.0]], dtype=np.float32)
    values[0, 0] = np.nextafter(np.float32(-1.25), np.float32(0))  # a value no 8- or 16-bit file could hold
    assert save_image(tmp_path / f"r.{ext}", values, raw=True) == []
    mode, stored = file_pixels(tmp_path / f"r.{ext}")
    assert mode == "F"
    assert stored.dtype == np.float32
    np.testing.assert_array_equal(stored, values)


def test_raw_colour_tiff_keeps_every_channel_and_the_alpha(tmp_path):
    import tifffile

    color = np.random.default_rng(1).normal(size=(H, W, 3)).astype(np.float32)
    alpha = np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W)
    assert save_image(tmp_path / "r.tif", color, alpha, raw=True) == []
    with tifffile.TiffFile(tmp_path / "r.tif") as tif:
        page = tif.pages[0]
        assert (page.photometric.name, page.extrasamples, len(tif.pages)) == ("RGB", (2,), 1)
        np.testing.assert_array_equal(page.asarray(), np.dstack([color, alpha]))


def test_raw_png_is_refused(tmp_path):
    with pytest.raises(ParameterError) as caught:
        save_image(tmp_path / "r.png", np.zeros((H, W), np.float32), raw=True)
    assert str(caught.value) == "map raw keeps floats: write .npy, .npz or .tif, not .png"
    assert folder_names(tmp_path) == []


@pytest.mark.parametrize(("channels", "with_alpha", "shape"), [
    (1, False, (H, W)),
    (1, True, (H, W)),
    (3, False, (H, W, 3)),
    (3, True, (H, W, 3)),
])
def test_npy_shapes_and_exact_values(tmp_path, channels, with_alpha, shape):
    rng = np.random.default_rng(channels + 2 * with_alpha)
    color = rng.normal(size=(H, W) if channels == 1 else (H, W, channels)).astype(np.float32)
    alpha = rng.random((H, W)).astype(np.float32) if with_alpha else None
    warnings = save_image(tmp_path / "m.npy", color, alpha, raw=True)
    assert warnings == ([FileWarning("m.npy", ".npy holds the map alone; .npz keeps the alpha too")] if with_alpha
                        else [])
    stored = np.load(tmp_path / "m.npy", allow_pickle=False)
    assert stored.shape == shape  # the contract: H x W for gray, H x W x C otherwise
    assert stored.dtype == np.float32
    np.testing.assert_array_equal(stored, color)
    if with_alpha:
        assert save_image(tmp_path / "m.npz", color, alpha, raw=True, name="k") == []
        with np.load(tmp_path / "m.npz") as archive:
            np.testing.assert_array_equal(archive["k"], color)
            np.testing.assert_array_equal(archive["k_alpha"], alpha)


def test_npz_key_is_the_name(tmp_path):
    color = np.linspace(-2, 2, H * W, dtype=np.float32).reshape(H, W)
    save_image(tmp_path / "m.npz", color, raw=True, name="sobel_x")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        assert archive.files == ["sobel_x"]
        np.testing.assert_array_equal(archive["sobel_x"], color)


def test_save_keeps_dpi(tmp_path):
    save_image(tmp_path / "d.png", np.zeros((H, W), np.float32), dpi=(150.0, 75.0))
    with Image.open(tmp_path / "d.png") as image:
        assert image.info["dpi"] == pytest.approx((150, 75), rel=1e-3)


def test_pillow_failure_is_an_output_error_and_leaves_nothing(tmp_path):
    path = tmp_path / "wide.webp"
    path.write_bytes(b"the original")
    with pytest.raises(OutputError) as caught:
        save_image(path, np.zeros((1, 16384), np.float32))  # WebP allows 16383 pixels on a side
    assert str(caught.value).startswith(f"{path}: cannot write WEBP (")
    assert folder_names(tmp_path) == ["wide.webp"]
    assert path.read_bytes() == b"the original"


# --------------------------------------------------------------------------------------- atomic_write


def test_atomic_write_writes_and_cleans_up(tmp_path):
    path = tmp_path / "out.bin"
    atomic_write(path, lambda handle: handle.write(b"new content"))
    assert path.read_bytes() == b"new content"
    assert folder_names(tmp_path) == ["out.bin"]
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # like open(), not mkstemp's 0o600


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_atomic_write_failure_leaves_no_temporary_and_the_original(tmp_path, error):
    path = tmp_path / "out.bin"
    path.write_bytes(b"original")

    def writer(handle):
        handle.write(b"half a fi")
        raise error

    with pytest.raises(type(error)):
        atomic_write(path, writer)
    assert folder_names(tmp_path) == ["out.bin"]
    assert path.read_bytes() == b"original"


def test_atomic_write_failure_without_an_original(tmp_path):
    def writer(handle):
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        atomic_write(tmp_path / "out.bin", writer)
    assert folder_names(tmp_path) == []


def test_a_hand_made_sixteen_bit_colour_png_is_read_with_all_sixteen_bits(tmp_path):
    import struct
    import zlib

    height, width = 4, 5
    data = np.random.default_rng(0).integers(0, 65535, (height, width, 3), dtype=np.uint16).astype(">u2")
    rows = b"".join(b"\x00" + data[y].tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)  # 16 bits, truecolour
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    (tmp_path / "deep.png").write_bytes(png)
    picture = load_image(tmp_path / "deep.png")
    assert picture.bit_depth == 16 and picture.mode == "RGB;16" and picture.warnings == ()
    np.testing.assert_array_equal(picture.color, data.astype(np.float32) / np.float32(65535))
