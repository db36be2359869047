"""The files people bring, end to end through ``convcli apply``: 16-bit colour, float colour, animations
and page stacks, pipes, same-named inputs, metadata.

Every input is written by a real codec (Pillow, tifffile, imagecodecs' libpng), and every output is
read back by one other than the writer where there is one; expected maps come from scipy.signal.
"""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps
from scipy.signal import correlate2d
from typer.testing import CliRunner

from convcli.cli import app
from convcli.imageio.reading import load_frames, orient

pytestmark = pytest.mark.usefixtures("workdir")  # an empty folder of its own (conftest.py)

runner = CliRunner()
H, W = 12, 17
#: Every tap different and no symmetry, so that a flipped or shifted kernel cannot pass; sums to 1.
KERNEL = np.array([[1, 2, 0], [3, 4, 1], [0, 2, 3]], dtype=np.float64) / 16
SPEC = "0.0625,0.125,0; 0.1875,0.25,0.0625; 0,0.125,0.1875"  # KERNEL, written out


def run(*args, input: bytes | None = None):
    return runner.invoke(app, [str(arg) for arg in args], input=input)


def assert_ok(result) -> None:
    assert result.exit_code == 0, result.output
    assert result.exception is None, result.output


def assert_error(result, code: int, message: str) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.strip().endswith(message), result.stderr


def pixels(shape, top: int = 255, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, top + 1, shape, dtype=dtype)


def expected(values: np.ndarray, top: int) -> np.ndarray:
    """The contract's map of ``values`` (integer samples) by :data:`KERNEL`: symmetric boundary, clip,
    rounded to the samples' depth."""
    planes = values[..., None] if values.ndim == 2 else values
    out = np.dstack([correlate2d(planes[..., c] / top, KERNEL, mode="same", boundary="symm")
                     for c in range(planes.shape[2])])
    out = np.rint(np.clip(out, 0, 1) * top).astype(values.dtype)
    return out[..., 0] if values.ndim == 2 else out


def close(actual: np.ndarray, wanted: np.ndarray) -> None:
    """Equal but for float32 rounding at a half (one step of the samples' depth)."""
    assert actual.shape == wanted.shape and actual.dtype == wanted.dtype
    assert np.max(np.abs(actual.astype(np.int64) - wanted)) <= 1


def png16(path: str, array: np.ndarray) -> Path:
    Path(path).write_bytes(imagecodecs.png_encode(array))
    return Path(path)


def read_png16(path: str | Path) -> np.ndarray:
    return imagecodecs.png_decode(Path(path).read_bytes())


# ------------------------------------------------------------------------------------- 16-bit colour


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("ext", ["png", "tif"])
def test_identity_on_16bit_colour_gives_back_the_same_16bit_pixels(ext, channels):
    source = pixels((H, W, channels), 65535, dtype=np.uint16)
    if ext == "png":
        png16("deep.png", source)
    else:
        tifffile.imwrite("deep.tif", source, photometric="rgb", extrasamples=["unassalpha"] * (channels == 4))
    assert_ok(run("apply", f"deep.{ext}", "-k", "identity", "-o", f"out.{ext}"))
    back = read_png16("out.png") if ext == "png" else tifffile.imread("out.tif")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, source)


@pytest.mark.parametrize("compression", ["lzw", "zlib", None])
def test_a_filtered_16bit_rgb_tiff_keeps_16_bits(compression):
    source = pixels((H, W, 3), 65535, dtype=np.uint16)
    tifffile.imwrite("deep.tif", source, photometric="rgb", compression=compression)
    assert_ok(run("apply", "deep.tif", "-k", SPEC, "-o", "out.tif"))
    close(tifffile.imread("out.tif"), expected(source, 65535))
    assert_ok(run("apply", "deep.tif", "-k", SPEC, "-o", "out.png"))
    close(read_png16("out.png"), expected(source, 65535))


def test_16bit_colour_to_jpeg_says_it_wrote_8_bits():
    png16("deep.png", pixels((H, W, 3), 65535, dtype=np.uint16))
    result = run("apply", "deep.png", "-k", "identity", "-o", "out.jpg")
    assert_ok(result)
    assert "warning: out.jpg: JPEG holds 8 bits per channel; the 16-bit maps were written with 8" in result.stderr


def test_16bit_gray_with_alpha_png_keeps_both_planes():
    source = pixels((H, W, 2), 65535, dtype=np.uint16)
    png16("la.png", source)
    assert_ok(run("apply", "la.png", "-k", "identity", "-o", "out.png"))
    np.testing.assert_array_equal(read_png16("out.png"), source)


# ----------------------------------------------------------------------------------------- float out


@pytest.mark.parametrize("alpha", [False, True])
def test_map_raw_to_tif_writes_float32_with_every_channel(alpha):
    source = pixels((H, W, 4 if alpha else 3))
    Image.fromarray(source).save("a.png")
    assert_ok(run("apply", "a.png", "-k", SPEC, "--map", "raw", "-o", "out.tif"))
    with tifffile.TiffFile("out.tif") as tif:
        page = tif.pages[0]
        stored = page.asarray()
        assert stored.dtype == np.float32 and page.photometric.name == "RGB"
        assert page.extrasamples == ((2,) if alpha else ())
    colour = source[..., :3] / 255.0
    if alpha:  # alpha-weighted: the colour of transparent pixels does not bleed (convcli.engine.alpha)
        weight = source[..., 3] / 255.0
        filtered_alpha = correlate2d(weight, KERNEL, mode="same", boundary="symm")
        np.testing.assert_allclose(stored[..., 3], filtered_alpha, atol=2e-6)
        stored = stored[..., :3]
        premultiplied = np.dstack([correlate2d(colour[..., c] * weight, KERNEL, mode="same", boundary="symm")
                                   for c in range(3)])
        wanted = np.divide(premultiplied, filtered_alpha[..., None], out=np.zeros_like(premultiplied),
                           where=filtered_alpha[..., None] > 0)
    else:
        wanted = np.dstack([correlate2d(colour[..., c], KERNEL, mode="same", boundary="symm") for c in range(3)])
    np.testing.assert_allclose(stored, wanted, atol=2e-6)


def test_a_float_colour_tiff_is_read_as_it_is():
    source = np.random.default_rng(3).normal(size=(H, W, 3)).astype(np.float32)
    tifffile.imwrite("f.tif", source, photometric="rgb")
    assert_ok(run("apply", "f.tif", "-k", SPEC, "--map", "raw", "-o", "out.npy"))
    wanted = np.dstack([correlate2d(source[..., c].astype(np.float64), KERNEL, mode="same", boundary="symm")
                        for c in range(3)])
    np.testing.assert_allclose(np.load("out.npy"), wanted, atol=1e-5)


def test_map_raw_to_an_image_format_is_refused_before_any_work():
    Image.fromarray(pixels((H, W, 3))).save("a.png")
    result = run("apply", "a.png", "-k", "edge", "--map", "raw", "-o", "out.webp")
    assert_error(result, 2, "Error: --map raw keeps floats: write .npy, .npz or .tif, not .webp")
    assert not Path("out.webp").exists()


# ------------------------------------------------------------------------------------ frames and pages

DURATIONS = [70, 120, 250, 40]


def gif_frames() -> list[np.ndarray]:
    """Four gray frames of 32 levels each (a GIF palette holds them exactly), all different."""
    return [(pixels((H, W), 31, seed=i) * 8).astype(np.uint8) for i in range(4)]


def frames_of(path: str | Path) -> tuple[list[np.ndarray], list, object]:
    """Every frame of an animation as Pillow composes it, the durations and the loop count."""
    with Image.open(path) as image:
        frames, durations = [], []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            image.load()
            frames.append(np.asarray(image.convert("RGB")))
            durations.append(image.info.get("duration"))
        return frames, durations, image.info.get("loop")


def test_every_frame_of_an_animated_gif_is_filtered_with_its_duration():
    frames = gif_frames()
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save("anim.gif", save_all=True, append_images=images[1:], duration=DURATIONS, loop=3)
    result = run("apply", "anim.gif", "-k", "identity", "-k", SPEC, "-o", "out", "--report-json", "r.json")
    assert_ok(result)
    written, durations, loop = frames_of("out/anim_identity.gif")
    assert (len(written), durations, loop) == (4, DURATIONS, 3)
    for frame, source in zip(written, frames):
        np.testing.assert_array_equal(frame[..., 0], source)
    filtered, durations, _ = frames_of("out/anim_inline1.gif")
    assert len(filtered) == 4 and durations == DURATIONS
    for frame, source in zip(filtered, frames):  # the GIF's palette holds at most 256 of the grays made
        assert np.mean(np.abs(frame[..., 0].astype(int) - expected(source, 255))) < 1.5
    report = json.loads(Path("r.json").read_text())
    assert [m["frames"] for m in report["outputs"]] == [4, 4]
    assert "2 written (8 frames) to out, 0 failed" in result.stderr


def test_every_frame_of_an_apng_is_filtered_exactly_with_its_duration():
    frames = [pixels((H, W, 3), seed=i) for i in range(4)]
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save("anim.png", save_all=True, append_images=images[1:], duration=DURATIONS, loop=0)
    assert_ok(run("apply", "anim.png", "-k", SPEC, "-o", "out.png"))
    written, durations, loop = frames_of("out.png")
    assert (len(written), durations, loop) == (4, DURATIONS, 0)
    for frame, source in zip(written, frames):
        close(frame, expected(source, 255))


def test_every_frame_of_an_animated_webp_keeps_its_duration():
    images = [Image.fromarray(pixels((H, W, 3), seed=i)) for i in range(4)]
    images[0].save("anim.webp", save_all=True, append_images=images[1:], duration=DURATIONS, loop=0, lossless=True)
    assert_ok(run("apply", "anim.webp", "-k", SPEC, "-o", "out.webp"))
    written, durations, loop = frames_of("out.webp")
    assert (len(written), durations, loop) == (4, DURATIONS, 0)


@pytest.mark.parametrize("depth", [8, 16])
def test_every_page_of_a_tiff_is_filtered_in_order(depth):
    top, dtype = (255, np.uint8) if depth == 8 else (65535, np.uint16)
    pages = [pixels((H, W, 3), top, seed=i, dtype=dtype) for i in range(3)]
    with tifffile.TiffWriter("pages.tif") as tiff:
        for page in pages:
            tiff.write(page, photometric="rgb")
    result = run("apply", "pages.tif", "-k", SPEC, "-o", "out.tif")
    assert_ok(result)
    with tifffile.TiffFile("out.tif") as tif:
        assert len(tif.pages) == 3
        for page, source in zip(tif.pages, pages):
            close(page.asarray(), expected(source, top))
    with Image.open("out.tif") as image:  # Pillow sees the same three pages
        assert image.n_frames == 3


def test_frames_pick_some_frames():
    frames = [pixels((H, W, 3), seed=i) for i in range(4)]
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save("anim.png", save_all=True, append_images=images[1:], duration=DURATIONS)
    assert_ok(run("apply", "anim.png", "-k", "identity", "--frame", "1,3", "-o", "two.png"))
    written, durations, _ = frames_of("two.png")
    assert durations == [DURATIONS[1], DURATIONS[3]]
    np.testing.assert_array_equal(np.stack(written), np.stack([frames[1], frames[3]]))
    assert_ok(run("apply", "anim.png", "-k", "identity", "--frame", "2", "-o", "one.png"))
    np.testing.assert_array_equal(np.asarray(Image.open("one.png")), frames[2])
    assert_ok(run("apply", "anim.png", "-k", "identity", "--frame", "2", "-o", "one.jpg"))  # one frame fits
    result = run("apply", "anim.png", "-k", "identity", "--frame", "2-9", "-o", "bad.png")
    assert result.exit_code == 1
    assert "failed: anim.png: has 4 frames (0-3); --frame 2-9 asks for 9" in result.stderr
    assert_error(run("apply", "anim.png", "-k", "identity", "--frame", "3-1", "-o", "x.png"), 2,
                 "Error: --frame range 3-1 runs backwards; write 1-3")
    assert_error(run("apply", "anim.png", "-k", "identity", "--frame", "first", "-o", "x.png"), 2,
                 "Error: --frame takes numbers from 0 (-1 the last) and ranges such as 0, 2-5, 0,3,7-, -1 or all; "
                 "got 'first'")
    assert_ok(run("apply", "anim.png", "-k", "identity", "--frame", "-1,0", "-o", "back.png"))
    written, durations, _ = frames_of("back.png")
    assert durations == [DURATIONS[3], DURATIONS[0]]
    np.testing.assert_array_equal(np.stack(written), np.stack([frames[3], frames[0]]))


def test_a_format_of_one_frame_is_refused_before_any_work_naming_those_that_hold_more():
    images = [Image.fromarray(pixels((H, W, 3), seed=i)) for i in range(4)]
    images[0].save("anim.gif", save_all=True, append_images=images[1:], duration=DURATIONS)
    Image.fromarray(pixels((H, W, 3))).save("still.png")
    result = run("apply", "still.png", "anim.gif", "-k", "edge", "-o", "out", "--format", "jpg")
    assert_error(result, 2, "Error: anim.gif has 4 frames and JPEG holds one: write .tif, .gif, .png or .webp "
                            "(every frame), or pick one with --frame")
    assert not Path("out").exists()
    result = run("apply", "anim.gif", "-k", "edge", "-k", "blur", "--stack", "-o", "out")
    assert_error(result, 2, "Error: --stack puts every kernel's map of an input in one file, and anim.gif has 4 "
                            "frames: leave out --stack or pick one frame with --frame")


def test_minmax_stretches_one_range_over_all_the_frames():
    dim, bright = np.full((H, W, 3), 40, np.uint8), np.full((H, W, 3), 200, np.uint8)
    dim[0, 0], bright[0, 0] = 0, 255
    images = [Image.fromarray(frame) for frame in (dim, bright)]
    images[0].save("anim.png", save_all=True, append_images=images[1:], duration=[100, 100])
    assert_ok(run("apply", "anim.png", "-k", "identity", "--map", "minmax", "-o", "out.png"))
    written, _, _ = frames_of("out.png")
    np.testing.assert_array_equal(written[0], dim)  # the range 0..255 of both frames together
    np.testing.assert_array_equal(written[1], bright)


def test_frames_that_repeat_after_filtering_are_said_to_be_merged():
    images = [Image.fromarray(pixels((H, W, 3), seed=i)) for i in range(3)]
    images[0].save("anim.gif", save_all=True, append_images=images[1:], duration=[10, 20, 30])
    result = run("apply", "anim.gif", "-k", "-1", "--map", "clip", "-o", "out.gif")  # every frame clips to black
    assert_ok(result)
    assert ("warning: out.gif: frames 1, 2 repeat the one before after filtering; GIF stores a repeat as a longer "
            "frame") in result.stderr
    _, durations, _ = frames_of("out.gif")
    assert durations == [60]


# ---------------------------------------------------------------------------------------------- pipes


def test_a_pipe_gives_the_same_bytes_as_the_files():
    Image.fromarray(pixels((H, W, 3))).save("a.png")
    assert_ok(run("apply", "a.png", "-k", "edge", "-o", "b.png"))
    piped = run("apply", "-", "-k", "edge", "-o", "-", "--format", "png", input=Path("a.png").read_bytes())
    assert_ok(piped)
    assert piped.stdout_bytes == Path("b.png").read_bytes()
    assert "1 written to standard output, 0 failed" in piped.stderr  # the report stays on stderr
    same_format = run("apply", "-", "-k", "edge", "-o", "-", input=Path("a.png").read_bytes())
    assert same_format.stdout_bytes == Path("b.png").read_bytes()


def test_a_piped_animation_comes_out_with_every_frame():
    images = [Image.fromarray(pixels((H, W, 3), seed=i)) for i in range(4)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=DURATIONS)
    result = run("apply", "-", "-k", "blur", "-o", "-", input=buffer.getvalue())
    assert_ok(result)
    _, durations, _ = frames_of(io.BytesIO(result.stdout_bytes))
    assert durations == DURATIONS


def test_stdin_into_a_folder_is_named_stdin():
    Image.fromarray(pixels((H, W, 3))).save("a.png")
    assert_ok(run("apply", "-", "-k", "edge", "-o", "out", input=Path("a.png").read_bytes()))
    assert os.listdir("out") == ["stdin_edge.png"]


def test_stdout_takes_one_output():
    Image.fromarray(pixels((H, W, 3))).save("a.png")
    assert_error(run("apply", "a.png", "-k", "edge", "-k", "blur", "-o", "-"), 2,
                 "Error: --output - names standard output, but this run writes 2 outputs (1 input x 2 kernels); "
                 "give a folder")


def test_stdin_must_be_piped():
    result = run("apply", "-", "-k", "edge", "-o", "out.png", input=b"")
    assert_error(result, 2, "Error: INPUT - reads an image from standard input, but nothing came")


def _on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run convcli with its standard output on a pseudo-terminal; (exit code, what it printed)."""
    leader, follower = pty.openpty()
    done = subprocess.run([sys.executable, "-m", "convcli", *args], stdout=follower, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    os.close(follower)
    os.close(leader)
    return done.returncode, done.stderr.decode()


def test_binary_output_to_a_terminal_is_refused():
    Image.fromarray(pixels((H, W, 3))).save("a.png")
    code, errors = _on_a_terminal(["apply", "a.png", "-k", "edge", "-o", "-"])
    assert code == 2
    assert errors.strip() == ("Error: --output - writes the image to standard output, which is a terminal; "
                              "redirect it (> out.png) or pipe it")


# ----------------------------------------------------------------------------------- same-named inputs


def paste(result) -> list[str]:
    """The ``--name "..."`` the error suggests, as arguments."""
    text = result.stderr
    start = text.index('--name "') + len('--name "')
    return ["--name", text[start:text.index('"', start)]]


def test_same_stem_different_formats_get_a_template_that_works():
    Image.fromarray(pixels((H, W, 3))).save("logo.png")
    Image.fromarray(pixels((H, W, 3), seed=1)).save("logo.ppm")  # written as PNG: convcli writes no PPM
    result = run("apply", ".", "-k", "edge", "-o", "out")
    assert_error(result, 2, 'Error: logo.png [edge] and logo.ppm [edge] would both write out/logo_edge.png; '
                            '--name "{stem}_{suffix}_{kernel}.{ext}" tells them apart')
    assert_ok(run("apply", ".", "-k", "edge", "-o", "out", *paste(result)))
    assert sorted(os.listdir("out")) == ["logo_png_edge.png", "logo_ppm_edge.png"]
    Image.fromarray(pixels((H, W, 3), seed=1)).save("logo.gif")
    result = run("apply", "logo.png", "logo.gif", "-k", "edge", "-o", "gifs", "--format", "gif")
    assert_ok(run("apply", "logo.png", "logo.gif", "-k", "edge", "-o", "gifs", "--format", "gif", *paste(result)))
    assert sorted(os.listdir("gifs")) == ["logo_gif_edge.gif", "logo_png_edge.gif"]


def test_same_names_in_two_folders_written_flat_get_a_template_that_works():
    for folder in ("a", "b"):
        Path(folder).mkdir()
        Image.fromarray(pixels((H, W, 3))).save(f"{folder}/x.png")
    result = run("apply", "a/x.png", "b/x.png", "-k", "edge", "-o", "out")
    assert_error(result, 2, 'Error: a/x.png [edge] and b/x.png [edge] would both write out/x_edge.png; '
                            '--name "{parent}_{stem}_{kernel}.{ext}" tells them apart')
    assert_ok(run("apply", "a/x.png", "b/x.png", "-k", "edge", "-o", "out", *paste(result)))
    assert sorted(os.listdir("out")) == ["a_x_edge.png", "b_x_edge.png"]


@pytest.mark.parametrize(("ext", "params"), [("jp2", {}), ("ico", {}), ("ppm", {}), ("pcx", {}), ("tga", {})])
def test_formats_convcli_does_not_write_come_out_as_png(ext, params):
    source = pixels((16, 16, 3))
    Image.fromarray(source).save(f"in.{ext}", **params)
    assert_ok(run("apply", f"in.{ext}", "-k", "identity", "-o", "out"))
    assert os.listdir("out") == ["in_identity.png"]
    with Image.open(f"in.{ext}") as image:
        np.testing.assert_array_equal(np.asarray(Image.open("out/in_identity.png")), np.asarray(image.convert("RGB")))


# -------------------------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_icc_profile_and_dpi_stay_through_the_16bit_codecs(ext):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = pixels((H, W, 3), 65535, dtype=np.uint16)
    if ext == "tif":
        tifffile.imwrite("deep.tif", source, photometric="rgb", iccprofile=profile, resolution=(300, 150),
                         resolutionunit="inch")
    else:  # written by libpng; the profile and density added as Pillow would see them
        from convcli.imageio import png16 as codec

        Path("deep.png").write_bytes(codec.encode(source, icc_profile=profile, dpi=(300, 150)))
    assert_ok(run("apply", f"deep.{ext}", "-k", "identity", "-o", f"out.{ext}"))
    with Image.open(f"out.{ext}") as image:
        assert image.info.get("icc_profile") == profile
        assert tuple(round(v) for v in image.info["dpi"]) == (300, 150)
    back = read_png16("out.png") if ext == "png" else tifffile.imread("out.tif")
    np.testing.assert_array_equal(back, source)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_turns_arrays_as_pillow_turns_images(orientation):
    source = pixels((H, W, 3))
    image = Image.fromarray(source)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.info["exif"] = exif.tobytes()
    image.getexif()[0x0112] = orientation
    np.testing.assert_array_equal(orient(source, orientation), np.asarray(ImageOps.exif_transpose(image)))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_16bit_tiff_is_turned_upright_by_its_orientation_tag(orientation):
    source = pixels((H, W, 3), 65535, dtype=np.uint16)
    tifffile.imwrite("deep.tif", source, photometric="rgb", extratags=[(274, "H", 1, orientation, True)])
    assert_ok(run("apply", "deep.tif", "-k", "identity", "-o", "out.tif"))
    np.testing.assert_array_equal(tifffile.imread("out.tif"), orient(source, orientation))
    assert load_frames("deep.tif").first.color.shape[:2] == orient(source, orientation).shape[:2]


def test_a_16bit_png_is_turned_upright_by_its_exif_orientation():
    import struct
    import zlib

    source = pixels((H, W, 3), 65535, dtype=np.uint16)
    exif = Image.Exif()
    exif[0x0112] = 6
    body = exif.tobytes()[6:]  # PNG's eXIf holds the TIFF structure without the "Exif\0\0" of JPEG
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    data = imagecodecs.png_encode(source)
    Path("turned.png").write_bytes(data[:33] + chunk + data[33:])  # after IHDR, before the pixels
    with Image.open("turned.png") as image:
        assert image.getexif()[0x0112] == 6  # Pillow sees the tag
    assert_ok(run("apply", "turned.png", "-k", "identity", "-o", "out.png"))
    np.testing.assert_array_equal(read_png16("out.png"), np.rot90(source, -1))


def test_16bit_colour_with_gray_gives_16bit_gray():
    source = pixels((H, W, 3), 65535, dtype=np.uint16)
    png16("deep.png", source)
    assert_ok(run("apply", "deep.png", "-k", "identity", "--gray", "-o", "gray.tif"))
    stored = tifffile.imread("gray.tif")
    luma = source @ np.array([0.299, 0.587, 0.114])
    assert stored.dtype == np.uint16 and stored.shape == (H, W)
    assert np.max(np.abs(stored - luma)) <= 1.0


@pytest.mark.parametrize("ext", ["npy", "npz"])
def test_frames_to_arrays_get_a_leading_frame_axis(ext):
    frames = [pixels((H, W, 3), seed=i) for i in range(3)]
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save("anim.png", save_all=True, append_images=images[1:], duration=[10, 20, 30])
    assert_ok(run("apply", "anim.png", "-k", "identity", "--map", "raw", "-o", f"out.{ext}"))
    if ext == "npy":
        stored = np.load("out.npy")
    else:
        with np.load("out.npz") as arrays:
            stored = arrays["identity"]
    np.testing.assert_allclose(stored, np.stack(frames) / 255.0, atol=1e-7)


def test_partial_alpha_to_gif_is_said_to_be_on_or_off():
    rgba = pixels((H, W, 4))
    Image.fromarray(rgba).save("a.png")
    result = run("apply", "a.png", "-k", "identity", "-o", "out.gif")
    assert_ok(result)
    assert ("warning: out.gif: GIF transparency is on or off; partly transparent pixels were made opaque or "
            "clear") in result.stderr


def test_the_dask_executor_refuses_pipes_before_any_work():
    from convcli.errors import ParameterError
    from convcli.kernels.library import load_library
    from convcli.pipeline.batch import BatchOptions
    from convcli.pipeline.batch import run as run_batch
    from convcli.pipeline.options import ApplyOptions
    from convcli.pipeline.planning import Target

    edge = load_library([])["edge"]
    target = Target(Path("-"), (edge,), Path("out.png"), ("abs",), "PNG", b"not read")
    with pytest.raises(ParameterError, match="cannot read standard input or write standard output"):
        run_batch([target], ApplyOptions(), BatchOptions(executor="dask", scheduler="tcp://127.0.0.1:1"))


def test_an_animation_to_tiff_pages_says_the_durations_are_not_kept():
    images = [Image.fromarray(pixels((H, W, 3), seed=i)) for i in range(3)]
    images[0].save("anim.gif", save_all=True, append_images=images[1:], duration=[10, 20, 30])
    result = run("apply", "anim.gif", "-k", "identity", "-o", "pages.tif")
    assert_ok(result)
    assert ("warning: pages.tif: TIFF keeps the frames but not their durations; .gif, .png or .webp keep both"
            in result.stderr)
    with tifffile.TiffFile("pages.tif") as tif:
        assert len(tif.pages) == 3


# ------------------------------------------------------------------------------- hostile and odd files


def corrupt_deflate_tiff(path: str) -> None:
    tifffile.imwrite(path, pixels((64, 64, 3), 65535, dtype=np.uint16), photometric="rgb", compression="zlib")
    data = bytearray(Path(path).read_bytes())
    data[-3000:] = bytes(3000)  # the compressed strips, zeroed
    Path(path).write_bytes(bytes(data))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_corrupt_compressed_tiff_fails_alone_in_a_folder(workers):
    Path("in").mkdir()
    corrupt_deflate_tiff("in/a_bad.tif")
    png16("in/b_good.png", pixels((H, W, 3), 65535, dtype=np.uint16))
    Path("in/c_empty.tif").write_bytes(b"II*\x00\x00\x10\x00\x00")  # the first page's offset points past the end
    done = subprocess.run([sys.executable, "-m", "convcli", "apply", "in", "-k", "edge", "-o", "out", "-j", workers],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert os.listdir("out") == ["b_good_edge.png"]
    assert "failed: in/a_bad.tif: corrupt or unreadable TIFF (" in done.stderr
    assert "failed: in/c_empty.tif: " in done.stderr
    assert "1 written to out, 2 failed" in done.stderr


def test_pages_of_different_sizes_stay_apart_in_tiff_and_are_refused_by_animations():
    with tifffile.TiffWriter("sizes.tif") as tiff:
        tiff.write(pixels((20, 30), seed=1))
        tiff.write(pixels((40, 10, 3), seed=2), photometric="rgb")
    assert_ok(run("apply", "sizes.tif", "-k", "identity", "-o", "out.tif"))
    with tifffile.TiffFile("out.tif") as tif:
        assert [page.shape for page in tif.pages] == [(20, 30), (40, 10, 3)]
    for ext in ("gif", "png", "webp", "npz"):
        result = run("apply", "sizes.tif", "-k", "identity", "-o", f"out.{ext}")
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert (f"failed: sizes.tif [identity]: out.{ext}: the frames have different sizes (30x20, 10x40); write "
                ".tif, which keeps each page's size") in result.stderr
        assert not Path(f"out.{ext}").exists()


def test_pages_with_and_without_alpha_line_up_in_npz():
    with tifffile.TiffWriter("mixed.tif") as tiff:
        tiff.write(pixels((H, W, 3)), photometric="rgb")
        tiff.write(pixels((H, W, 4), seed=1), photometric="rgb", extrasamples=["unassalpha"])
    assert_ok(run("apply", "mixed.tif", "-k", "identity", "--map", "raw", "-o", "out.npz"))
    with np.load("out.npz") as stored:
        assert stored["identity"].shape == (2, H, W, 3) and stored["identity_alpha"].shape == (2, H, W)
        np.testing.assert_array_equal(stored["identity_alpha"][0], 1.0)  # the page without alpha is opaque


def test_a_bomb_on_a_later_page_is_refused():
    with tifffile.TiffWriter("bomb.tif") as tiff:
        tiff.write(pixels((10, 10)))
        tiff.write(np.zeros((300, 300), np.uint8))
    result = run("apply", "bomb.tif", "-k", "edge", "-o", "out.tif", "--max-pixels", "1000")
    assert result.exit_code == 1
    assert ("failed: bomb.tif: refused: 300x300 is 90000 pixels, over the --max-pixels limit of 1000 pixels"
            in result.stderr)


@pytest.mark.parametrize("layout", ["planar", "white_is_zero", "mixed_depths"])
def test_16bit_tiff_pages_pillow_would_read_short_keep_16_bits(layout):
    source = pixels((H, W, 3), 65535, dtype=np.uint16)
    with tifffile.TiffWriter("in.tif") as tiff:
        if layout == "planar":
            tiff.write(np.moveaxis(source, -1, 0), photometric="rgb", planarconfig="separate")
        elif layout == "white_is_zero":
            tiff.write(source[..., 0], photometric="miniswhite")
        else:
            tiff.write(pixels((H, W, 3)), photometric="rgb")
            tiff.write(source, photometric="rgb")
    assert_ok(run("apply", "in.tif", "-k", "identity", "-o", "out.tif"))
    with tifffile.TiffFile("out.tif") as tif:
        last = tif.pages[-1].asarray()
    wanted = {"planar": source, "white_is_zero": 65535 - source[..., 0], "mixed_depths": source}[layout]
    np.testing.assert_array_equal(last, wanted)


def test_gray_and_alpha_to_gif_keeps_the_transparency():
    la = np.dstack([pixels((H, W)), np.where(pixels((H, W), seed=3) > 127, 255, 0).astype(np.uint8)])
    Image.fromarray(la, "LA").save("la.png")
    assert_ok(run("apply", "la.png", "-k", "identity", "-o", "out.gif"))
    with Image.open("out.gif") as image:
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
    np.testing.assert_array_equal(alpha, la[..., 1])


def test_a_gray_icc_profile_stays_in_tiff():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # any profile Pillow makes
    Image.fromarray(pixels((H, W))).save("g.tif", icc_profile=profile)
    assert_ok(run("apply", "g.tif", "-k", "identity", "-o", "out.tif"))
    with Image.open("out.tif") as image:
        assert image.info.get("icc_profile") == profile


def test_an_exif_orientation_after_the_pixels_of_a_16bit_png_is_applied():
    import struct
    import zlib

    source = pixels((H, W, 3), 65535, dtype=np.uint16)
    exif = Image.Exif()
    exif[0x0112] = 8
    body = exif.tobytes()[6:]
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    data = imagecodecs.png_encode(source)
    Path("late.png").write_bytes(data[:-12] + chunk + data[-12:])  # just before IEND
    result = run("apply", "late.png", "-k", "identity", "-o", "out.png")
    assert_ok(result)
    assert "eXIf" not in result.stderr
    np.testing.assert_array_equal(read_png16("out.png"), np.rot90(source, 1))


def test_a_gif_that_plays_once_plays_once_as_webp_and_apng():
    images = [Image.fromarray(pixels((H, W, 3), seed=i)) for i in range(3)]
    images[0].save("once.gif", save_all=True, append_images=images[1:], duration=[50, 50, 50])  # no loop block
    for ext in ("webp", "png"):
        assert_ok(run("apply", "once.gif", "-k", "identity", "-o", f"out.{ext}"))
        _, _, loop = frames_of(f"out.{ext}")
        assert loop == 1


def test_stdin_has_a_folder_of_its_own_in_names():
    Image.fromarray(pixels((H, W, 3))).save("a.png")
    result = run("apply", "-", "-k", "edge", "-o", "out", "--name", "{parent}/{stem}_{kernel}.{ext}",
                 input=Path("a.png").read_bytes())
    assert_ok(result)
    assert os.listdir("out") == ["stdin"] and os.listdir("out/stdin") == ["stdin_edge.png"]


def test_the_image_on_stdout_keeps_stdout_to_itself():
    Image.fromarray(pixels((H, W, 3))).save("a.png")
    assert_error(run("apply", "a.png", "-k", "edge", "-o", "-", "--report-json", "-"), 2,
                 "Error: --output - writes the image to standard output; give --report-json, --manifest and "
                 "--montage files of their own")
    assert_error(run("apply", "a.png", "-k", "edge", "-o", "out", "--montage", "sheet"), 2,
                 "Error: unsupported output extension '' in sheet; use one of .png, .jpg, .jpeg, .webp, .bmp, .gif, "
                 ".tif, .tiff, .npy, .npz")


def test_names_no_template_can_tell_apart_say_what_can():
    for folder in ("a", "b"):
        Path(f"{folder}/img").mkdir(parents=True)
        Image.fromarray(pixels((H, W, 3))).save(f"{folder}/img/p.png")
    result = run("apply", "a/img/p.png", "b/img/p.png", "-k", "edge", "-o", "out")
    assert_error(result, 2, "would both write out/p_edge.png; no --name of {stem}, {suffix} and {parent} tells "
                            "them apart: give the folder above them as INPUT (the output mirrors its tree), or run "
                            "them apart")


def test_an_apng_default_image_stays_out_of_the_animation():
    images = [Image.fromarray(np.full((H, W, 3), value, np.uint8)) for value in (10, 100, 200)]
    images[0].save("default.png", save_all=True, append_images=images[1:], default_image=True, duration=[70, 90])
    assert_ok(run("apply", "default.png", "-k", "identity", "-o", "out.png"))
    with Image.open("out.png") as image:
        assert image.info.get("default_image") and image.n_frames == 3
    written, durations, _ = frames_of("out.png")
    assert [int(frame[0, 0, 0]) for frame in written] == [10, 100, 200] and durations[1:] == [70, 90]
    result = run("apply", "default.png", "-k", "identity", "-o", "out.gif")
    assert "warning: out.gif: the APNG's default image, not part of its animation, is frame 0 of this GIF" \
        in result.stderr


# ---------------------------------------------------------------------------- from a second review


def test_files_beside_the_maps_never_overwrite_an_input_or_a_map():
    Image.fromarray(pixels((H, W, 3))).save("a.png")
    before = Path("a.png").read_bytes()
    assert_error(run("apply", "a.png", "-k", "edge", "-o", "out.png", "--manifest", "a.png"), 2,
                 "Error: --manifest a.png is one of the inputs; refusing to overwrite it")
    assert_error(run("apply", "a.png", "-k", "edge", "-o", "out.png", "--report-json", "out.png"), 2,
                 "Error: --report-json out.png is one of the maps this run writes; give it a file of its own")
    assert_error(run("apply", "a.png", "-k", "edge", "-o", "out", "--montage", "out/a_edge.png"), 2,
                 "Error: --montage out/a_edge.png is one of the maps this run writes; give it a file of its own")
    assert_error(run("apply", "a.png", "-k", "edge", "-o", "out", "--manifest", "r.json", "--report-json", "r.json"),
                 2, "Error: --manifest and --report-json are both r.json; give each a file of its own")
    assert Path("a.png").read_bytes() == before and not Path("out").exists() and not Path("out.png").exists()


def test_a_symbolic_link_is_written_through_and_a_named_pipe_into():
    import threading

    Image.fromarray(pixels((H, W, 3))).save("a.png")
    Path("real.png").write_bytes(b"old")
    Path("link.png").symlink_to("real.png")
    assert_ok(run("apply", "a.png", "-k", "edge", "-o", "link.png"))
    assert Path("link.png").is_symlink()
    with Image.open("real.png") as image:
        assert image.size == (W, H)
    os.mkfifo("pipe.json")
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(Path("pipe.json").read_bytes()))
    reader.start()
    assert_ok(run("apply", "a.png", "-k", "edge", "-o", "b.png", "--report-json", "pipe.json"))
    reader.join(timeout=30)
    assert json.loads(received[0])["outputs"][0]["output"] == "b.png"
    assert Path("pipe.json").is_fifo()


def test_many_small_pages_count_together_against_the_pixel_limit():
    with tifffile.TiffWriter("pages.tif") as tiff:
        for _ in range(5):
            tiff.write(np.zeros((100, 100), np.uint8), compression="zlib")
    result = run("apply", "pages.tif", "-k", "edge", "-o", "out.tif", "--max-pixels", "30000")
    assert result.exit_code == 1
    assert ("failed: pages.tif: refused: 4 frames hold 40000 pixels together, over the --max-pixels limit of "
            "30000 pixels; raise it, or pick frames with --frame") in result.stderr
    assert_ok(run("apply", "pages.tif", "-k", "edge", "-o", "out.tif", "--max-pixels", "30000", "--frame", "0-2"))


def test_transparency_that_moves_stays_where_each_frame_has_it_in_a_gif():
    frames = []
    for index in range(3):
        rgba = np.dstack([pixels((H, W, 3), seed=index), np.full((H, W), 255, np.uint8)])
        rgba[2:6, 3 * index:3 * index + 4, 3] = 0  # a clear box that moves
        frames.append(rgba)
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save("anim.png", save_all=True, append_images=images[1:], duration=[50, 50, 50])
    assert_ok(run("apply", "anim.png", "-k", "identity", "-o", "out.gif"))
    with Image.open("out.gif") as image:
        for index, frame in enumerate(frames):
            image.seek(index)
            clear = np.asarray(image.convert("RGBA"))[..., 3] == 0
            np.testing.assert_array_equal(clear, frame[..., 3] == 0)


@pytest.mark.parametrize(("source", "plays", "written", "loop"), [
    ("gif", None, "png", 1),  # no loop block: a GIF plays once
    ("gif", 1, "png", 2),  # a GIF's loop count repeats after the first play
    ("png", 1, "gif", None),  # an APNG that plays once: a GIF without a loop block
    ("png", 3, "gif", 2),
    ("webp", 0, "gif", 0),  # for ever
])
def test_loop_counts_mean_the_same_plays_in_every_format(source, plays, written, loop):
    images = [Image.fromarray(pixels((H, W, 3), seed=i)) for i in range(2)]
    params = {} if plays is None else {"loop": plays}
    images[0].save(f"in.{source}", save_all=True, append_images=images[1:], duration=[50, 50], **params)
    assert_ok(run("apply", f"in.{source}", "-k", "identity", "-o", f"out.{written}"))
    assert frames_of(f"out.{written}")[2] == loop


def test_a_frame_asked_twice_is_written_twice():
    images = [Image.fromarray(pixels((H, W, 3), seed=i)) for i in range(3)]
    images[0].save("anim.png", save_all=True, append_images=images[1:], duration=[10, 20, 30])
    assert_ok(run("apply", "anim.png", "-k", "identity", "--frame", "2,0,-1", "-o", "out.tif"))
    with tifffile.TiffFile("out.tif") as tif:
        pages = [page.asarray() for page in tif.pages]
    assert len(pages) == 3 and np.array_equal(pages[0], pages[2])
