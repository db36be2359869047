"""Regenerate the README's pictures from samples/ with convcli itself.

    python scripts/readme_pictures.py

- docs/sharpen.png: the README's first example, ``convcli apply samples/shapes.png -k sharpen -o sharp.jpg``,
  before and after, whole and a corner enlarged;
- docs/gallery.png: the samples through edge, blur, sharpen, emboss and the Sobel bank, written by
  ``convcli apply --montage``;
- docs/mapping.png: one Sobel x map shown through each output mapping and two colour maps.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from convcli.cli import app
from convcli.pixels.montage import build_montage

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SAMPLES = [ROOT / "samples" / name for name in ("shapes.png", "zoneplate.png", "sprite.png")]


def convcli(*args: str) -> None:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    if result.exit_code != 0:
        raise SystemExit(result.output)


def sharpen(out: Path) -> None:
    shapes = ROOT / "samples" / "shapes.png"
    convcli("apply", shapes, "-k", "sharpen", "-o", out / "sharp.jpg", "--quiet")
    before, after = Image.open(shapes).convert("RGB"), Image.open(out / "sharp.jpg").convert("RGB")
    corner = (8, 8, 168, 128)  # the lettering and the roof, where sharpening shows most

    def enlarged(image: Image.Image) -> Image.Image:
        return image.crop(corner).resize((320, 240), Image.Resampling.NEAREST)

    build_montage([[("samples/shapes.png", before), ("sharp.jpg (-k sharpen)", after)],
                   [("before, top left x2", enlarged(before)), ("after, top left x2", enlarged(after))],
                   ]).save(DOCS / "sharpen.png", optimize=True)


def gallery(out: Path) -> None:
    convcli("apply", *SAMPLES, "-k", "edge", "-k", "blur", "-k", "sharpen", "-k", "emboss", "-k", "sobel",
            "-o", out / "gallery", "--montage", DOCS / "gallery.png", "--quiet")


def mapping(out: Path) -> None:
    shapes = ROOT / "samples" / "shapes.png"
    tiles = [("input", Image.open(shapes).convert("RGB"))]
    for label, extra in [("clip", ["--map", "clip"]), ("abs", ["--map", "abs"]), ("offset", ["--map", "offset"]),
                         ("minmax", ["--map", "minmax"]),
                         ("offset + coolwarm", ["--map", "offset", "--colormap", "coolwarm"]),
                         ("abs + overlay", ["--map", "abs", "--overlay"])]:
        target = out / f"{label.replace(' + ', '_')}.png"
        convcli("apply", shapes, "-k", "sobel_x", "--gray", "-o", target, "--quiet", *extra)
        tiles.append((label, Image.open(target).convert("RGB")))
    for _, tile in tiles:
        tile.thumbnail((200, 200))
    build_montage([tiles[:4], tiles[4:]]).save(DOCS / "mapping.png", optimize=True)


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        sharpen(Path(folder))
        gallery(Path(folder))
        mapping(Path(folder))
    for name in ("sharpen.png", "gallery.png", "mapping.png"):
        print(f"wrote docs/{name}")


if __name__ == "__main__":
    main()
