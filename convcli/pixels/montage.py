"""A montage: each input beside its feature maps, labelled, in one picture."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: The longest side of one tile.
TILE = 240
LABEL = 20


def thumbnail(values: np.ndarray, alpha: np.ndarray | None = None) -> Image.Image:
    """A small RGB picture of a map in [0, 1] (gray or RGB), transparent areas over a checkerboard."""
    pixels = np.clip(np.nan_to_num(values), 0.0, 1.0)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    if alpha is not None:
        rows, cols = np.indices(alpha.shape)
        board = np.where(((rows // 8 + cols // 8) % 2)[..., None] == 0, 0.85, 1.0)
        pixels = pixels * alpha[..., None] + board * (1 - alpha[..., None])
    image = Image.fromarray(np.rint(pixels * 255).astype(np.uint8))
    image.thumbnail((TILE, TILE))
    return image


def build_montage(rows: list[list[tuple[str, Image.Image]]]) -> Image.Image:
    """Lay out rows of ``(label, tile)`` in a grid, each tile with its label above it."""
    columns = max(len(row) for row in rows)
    width = max(tile.width for row in rows for _, tile in row)
    height = max(tile.height for row in rows for _, tile in row)
    sheet = Image.new("RGB", (columns * (width + 4) + 4, len(rows) * (height + LABEL + 4) + 4), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for r, row in enumerate(rows):
        for c, (label, tile) in enumerate(row):
            x, y = 4 + c * (width + 4), 4 + r * (height + LABEL + 4)
            draw.text((x + 2, y + 2), _fit(draw, label, font, width), fill="black", font=font)
            sheet.paste(tile, (x + (width - tile.width) // 2, y + LABEL + (height - tile.height) // 2))
    return sheet


def _fit(draw: ImageDraw.ImageDraw, label: str, font, width: int) -> str:
    """Shorten ``label`` with an ellipsis until it fits ``width`` pixels."""
    while len(label) > 1 and draw.textlength(label, font=font) > width - 4:
        label = label[:-2] + "…"
    return label
