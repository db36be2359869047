"""A folder of unusual files, run as a user would run it: every file Pillow decodes is written, every other
file fails alone with one line, and nothing prints a traceback.

The corpus is made here by real codecs (Pillow's writers, tifffile) in every mode they write, beside the
files fuzzers leave (from :mod:`hostile`) and the plain mistakes (a truncated file, an empty one, text named
``.jpg``). Which files Pillow decodes is asked of Pillow itself, every frame, under its own pixel limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hostile import (
    dds_with_an_unknown_pixel_format,
    icns_holding_a_png_of,
    ico_a_tga_reader_accepts,
    ico_holding_a_png_of,
    mcidas_area,
    png_of,
)
from PIL import Image, features

pytestmark = pytest.mark.usefixtures("workdir")


def _pixels(shape, seed=0, dtype=np.uint8) -> np.ndarray:
    top = np.iinfo(dtype).max + 1 if np.issubdtype(dtype, np.integer) else 1
    values = np.random.default_rng(seed).random(shape) * top
    return values.astype(dtype)


def _frames(count: int, mode: str = "RGB") -> list[Image.Image]:
    return [Image.fromarray(_pixels((20, 24, 3), seed)).convert(mode) for seed in range(count)]


def build_corpus(folder: Path) -> None:
    """Write the corpus into ``folder``: one file per mode and format, then the broken ones."""
    folder.mkdir()
    rgb = Image.fromarray(_pixels((20, 24, 3)))
    gray = Image.fromarray(_pixels((20, 24), 1))
    saves = {
        "gray.png": gray, "gray_alpha.png": Image.merge("LA", (gray, gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT))),
        "palette.png": rgb.quantize(16), "bilevel.png": gray.convert("1"), "rgb.jpg": rgb,
        "rgba.png": rgb.convert("RGBA"), "cmyk.jpg": rgb.convert("CMYK"), "cmyk.tif": rgb.convert("CMYK"),
        "gray16.png": Image.fromarray(_pixels((20, 24), 2, np.uint16)),
        "gray16.tif": Image.fromarray(_pixels((20, 24), 3, np.uint16)),
        "float.tif": Image.fromarray(_pixels((20, 24), 4, np.float32)), "image.bmp": rgb, "image.dib": rgb,
        "image.tga": rgb, "image.ppm": rgb, "gray.pgm": gray, "bilevel.pbm": gray.convert("1"),
        "float.pfm": gray.convert("F"), "image.pcx": rgb, "image.dds": rgb, "image.sgi": rgb,
        "image.qoi": rgb, "image.xbm": gray.convert("1"), "image.msp": gray.convert("1"), "image.icns": rgb,
        "icon.ico": rgb.resize((16, 16)), "rgb.webp": rgb, "one.png": Image.new("L", (1, 1), 7),
        "one.jpg": Image.new("RGB", (1, 1), (1, 2, 3)), "column.png": Image.fromarray(_pixels((40, 1), 5)),
    }
    for name, image in saves.items():
        image.save(folder / name)
    rgb.quantize(16).save(folder / "palette_alpha.png", transparency=3)
    with warnings.catch_warnings(action="ignore", category=DeprecationWarning):  # Pillow 13 deprecates IM
        rgb.save(folder / "image.im")
    gray.convert("F").save(folder / "image.spider", format="SPIDER")
    if features.check("jpg_2000"):
        rgb.save(folder / "image.jp2")
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    rgb.save(folder / "rotated.jpg", exif=exif.tobytes())
    exif = Image.Exif()
    exif[0x011A], exif[0x011B], exif[0x0128] = 4294967295, 4294967295, 2  # a resolution no PNG can hold
    rgb.save(folder / "huge_dpi.jpg", exif=exif.tobytes())
    frames = _frames(3)
    frames[0].save(folder / "animation.gif", save_all=True, append_images=frames[1:], duration=[40, 80, 120], loop=0)
    frames[0].save(folder / "animation.webp", save_all=True, append_images=frames[1:], duration=50, loop=0)
    frames[0].save(folder / "animation.apng", save_all=True, append_images=frames[1:], duration=60)
    frames[0].save(folder / "pages.tif", save_all=True, append_images=frames[1:])
    frames[0].save(folder / "pair.mpo", save_all=True, append_images=frames[1:2], format="MPO")
    tifffile.imwrite(folder / "rgb16.tif", _pixels((20, 24, 3), 6, np.uint16))
    # three pages of 16-bit gray
    tifffile.imwrite(folder / "stack16.tif", _pixels((3, 20, 24), 7, np.uint16), photometric="minisblack")
    (folder / "satellite.ara").write_bytes(mcidas_area(_pixels((6, 9), 8)))
    (folder / "tga_like.ico").write_bytes(ico_a_tga_reader_accepts(_pixels((16, 16, 3), 9)))

    (folder / "odd.dds").write_bytes(dds_with_an_unknown_pixel_format())
    (folder / "bomb.icns").write_bytes(icns_holding_a_png_of(20000))
    (folder / "bomb.ico").write_bytes(ico_holding_a_png_of(20000))
    (folder / "bomb.png").write_bytes(png_of(20000))
    whole = (folder / "rgb.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    whole = (folder / "rgba.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.jpg").write_text("not a picture\n")
    (folder / "readme.txt").write_text("the corpus of the folder test\n")  # not an image: passed over


#: Run in a fresh interpreter with every plugin loaded first, so that no plugin this test process loaded
#: earlier (the TGA reader, which accepts one of these ICOs) decides which reader Pillow tries first.
_DESCRIBE = """
import json, sys, warnings
from PIL import Image, ImageOps, ImageSequence
Image.init()
warnings.simplefilter("ignore", DeprecationWarning)  # Pillow 13 deprecates the IM format
found = {}
for path in sys.argv[1:]:
    try:
        with Image.open(path) as image:
            for frame in ImageSequence.Iterator(image):
                frame.load()
            frames = getattr(image, "n_frames", 1)
            if frames > 1:  # (a SPIDER that is no stack refuses even seek(0))
                image.seek(0)
            found[path] = [*ImageOps.exif_transpose(image).size, frames]
    except Exception:
        pass
print(json.dumps(found))
"""


def describe(paths) -> dict[str, tuple[int, int, int]]:
    """Width, height (as viewed, after any EXIF rotation) and frame count of each of ``paths`` whose every frame
    Pillow decodes whole under its own pixel limit; the others are left out."""
    done = subprocess.run([sys.executable, "-c", _DESCRIBE, *map(str, paths)], capture_output=True, text=True,
                          check=True, timeout=120)
    return {path: tuple(values) for path, values in json.loads(done.stdout).items()}


def test_a_folder_of_unusual_files_writes_every_one_pillow_decodes_and_fails_each_other_one_alone():
    build_corpus(Path("corpus"))
    images = sorted(path for path in Path("corpus").iterdir() if path.suffix != ".txt")
    sources = {Path(path).name: shape for path, shape in describe(images).items()}
    decodable = set(sources)
    broken = {path.name for path in images} - decodable
    assert len(decodable) >= 40
    assert broken == {"odd.dds", "bomb.icns", "bomb.ico", "bomb.png", "truncated.jpg", "truncated.png", "empty.png",
                      "notes.jpg"}

    done = subprocess.run([sys.executable, "-m", "convcli", "apply", "corpus", "-k", "edge", "-o", "out", "-j", "2",
                           "--name", "{stem}_{suffix}_{kernel}.{ext}", "--manifest", "m.json"],
                          capture_output=True, text=True, timeout=240, env={**os.environ, "COLUMNS": "80"})
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode == 1  # some inputs failed, and only those
    records = {Path(item["source"]).name: item for item in json.loads(Path("m.json").read_text())["inputs"]}
    assert {name for name, item in records.items() if item["status"] == "written"} == decodable
    assert {name for name, item in records.items() if item["status"] == "failed"} == broken
    failed_lines = [line for line in done.stderr.splitlines() if line.startswith("failed: ")]
    assert sorted(line.split(":")[1].strip() for line in failed_lines) == sorted(f"corpus/{name}" for name in broken)
    assert done.stderr.splitlines()[-1].startswith(f"{len(decodable)} written (")
    assert f", {len(broken)} failed, 1 non-image file passed over, in " in done.stderr.splitlines()[-1]
    assert not [name for name in os.listdir("out") if name.endswith(".part")]
    warned = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warned) == len(set(warned))  # each said once (Pillow 13 warns of IM at every header field)

    outputs = {name: records[name]["outputs"] for name in decodable}
    assert all(len(paths) == 1 for paths in outputs.values())
    written = describe(paths[0] for paths in outputs.values())
    for name, (path,) in outputs.items():
        width, height, frames = sources[name]
        if name == "pair.mpo":  # a stereo pair: its second photo is told, not dropped unseen
            frames = 1
            assert "warning: corpus/pair.mpo: holds 2 images (MPO)" in done.stderr
        assert written[path] == (width, height, frames), name
