"""Regenerate the README's pictures from samples/ with convcli itself.

    python scripts/readme_pictures.py

Runs ``convcli apply`` (in-process, through the CLI) on the sample images with the headline kernels
and lays the results out in a labelled grid: docs/tour.png.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from convcli.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ("shapes.png", "zoneplate.png", "sprite.png")
KERNELS = ("edge", "blur", "sharpen", "emboss")
CELL = 160


def cell(path: Path) -> Image.Image:
    """The image scaled into a CELL x CELL tile over a checkerboard (so transparency shows)."""
    image = Image.open(path).convert("RGBA")
    image.thumbnail((CELL, CELL))
    board = Image.new("RGBA", (CELL, CELL), (255, 255, 255, 255))
    draw = ImageDraw.Draw(board)
    for y in range(0, CELL, 10):
        for x in range(0, CELL, 10):
            if (x + y) // 10 % 2:
                draw.rectangle([x, y, x + 9, y + 9], fill=(220, 220, 220, 255))
    board.alpha_composite(image, ((CELL - image.width) // 2, (CELL - image.height) // 2))
    return board


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        args = ["apply", *(str(ROOT / "samples" / name) for name in SAMPLES), "-o", str(out)]
        for kernel in KERNELS:
            args += ["-k", kernel]
        result = CliRunner().invoke(app, args)
        if result.exit_code != 0:
            raise SystemExit(result.output)
        label_height = 22
        columns = ("input", *KERNELS)
        grid = Image.new("RGB", (CELL * len(columns), label_height + CELL * len(SAMPLES)), "white")
        draw = ImageDraw.Draw(grid)
        font = ImageFont.load_default(size=16)
        for col, title in enumerate(columns):
            draw.text((col * CELL + 6, 3), title, fill="black", font=font)
        for row, name in enumerate(SAMPLES):
            stem = Path(name).stem
            paths = [ROOT / "samples" / name] + [out / f"{stem}_{kernel}.png" for kernel in KERNELS]
            for col, path in enumerate(paths):
                grid.paste(cell(path).convert("RGB"), (col * CELL, label_height + row * CELL))
        target = ROOT / "docs" / "tour.png"
        target.parent.mkdir(exist_ok=True)
        grid.save(target, optimize=True)
        print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
