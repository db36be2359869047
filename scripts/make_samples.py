"""Regenerate the sample images in samples/ (deterministic: the same bytes on every run).

    python scripts/make_samples.py
"""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
from PIL import Image, ImageDraw, ImageFont

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def shapes(width: int = 320, height: int = 240) -> Image.Image:
    """A colour scene: a sky-to-ground gradient, a sun, a house, stripes and some text."""
    y = np.mgrid[0:height, 0:width][0] / height
    sky = np.stack([0.35 + 0.3 * y, 0.55 + 0.3 * y, 0.95 - 0.2 * y], axis=-1)
    image = Image.fromarray((np.clip(sky, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 170, width, height], fill=(70, 140, 60))
    draw.ellipse([230, 20, 290, 80], fill=(250, 210, 60))
    draw.rectangle([60, 110, 160, 190], fill=(190, 80, 60))
    draw.polygon([(50, 112), (110, 60), (170, 112)], fill=(120, 50, 40))
    draw.rectangle([95, 145, 125, 190], fill=(90, 60, 30))
    for i in range(6):
        draw.rectangle([190 + 20 * i, 130, 199 + 20 * i, 190], fill=(240, 240, 240))
    draw.text((12, 12), "convcli", fill=(20, 20, 60), font=ImageFont.load_default(size=28))
    noise = np.random.default_rng(7).normal(0, 4, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8))


def zoneplate(size: int = 256) -> Image.Image:
    """Gray concentric rings whose frequency rises outwards: blur fades the outside, edges light it."""
    y, x = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    rings = 0.5 + 0.5 * np.cos(np.pi * 28 * (x * x + y * y))
    return Image.fromarray((rings * 255).round().astype(np.uint8))


def sprite(size: int = 160) -> Image.Image:
    """An RGBA disc on a transparent background whose hidden colour is bright green.

    A filter that ignored alpha would bleed that green into the disc's edge; convcli does not.
    """
    y, x = np.mgrid[0:size, 0:size]
    inside = (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size * 0.35) ** 2
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[...] = (0, 255, 0, 0)  # transparent, but green underneath
    rgba[inside] = (200, 40, 160, 255)
    rgba[inside & ((x // 16 + y // 16) % 2 == 0)] = (250, 180, 40, 255)
    return Image.fromarray(rgba)


def depth16(width: int = 200, height: int = 150) -> Image.Image:
    """A 16-bit grayscale ramp with a raised square: detail finer than 8 bits can hold."""
    ramp = np.tile(np.linspace(0.2, 0.3, width), (height, 1))
    ramp[40:110, 60:140] += 0.002  # a step of about 130 in 16 bits, below one 8-bit level
    return Image.fromarray((ramp * 65535).round().astype(np.uint16))


def spinner(size: int = 64, frames: int = 4) -> list[Image.Image]:
    """An animated GIF's frames: a bar turning a quarter turn over four frames, on a soft vignette."""
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2
    background = 200 - 80 * (x * x + y * y) / (size * size / 2)
    images = []
    for index in range(frames):
        angle = np.pi / 2 * index / frames
        across = np.abs(-np.sin(angle) * x + np.cos(angle) * y)
        along = np.abs(np.cos(angle) * x + np.sin(angle) * y)
        bar = (across < size / 12) & (along < size * 0.4)
        images.append(Image.fromarray(np.where(bar, 30, background).round().astype(np.uint8)))
    return images


def sunset16(width: int = 180, height: int = 120) -> np.ndarray:
    """A 16-bit RGB sky: gradients smoother than 8 bits can hold (a RAW converter's kind of export)."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    sky = np.stack([0.9 - 0.5 * y + 0.05 * x, 0.5 - 0.3 * y, 0.3 + 0.4 * y], axis=-1)
    return (np.clip(sky, 0, 1) * 65535).round().astype(np.uint16)


def main() -> None:
    SAMPLES.mkdir(exist_ok=True)
    shapes().save(SAMPLES / "shapes.png", optimize=True)
    zoneplate().save(SAMPLES / "zoneplate.png", optimize=True)
    sprite().save(SAMPLES / "sprite.png", optimize=True)
    depth16().save(SAMPLES / "depth16.png")
    frames = spinner()
    frames[0].save(SAMPLES / "spinner.gif", save_all=True, append_images=frames[1:], duration=[120, 80, 80, 120],
                   loop=0)
    (SAMPLES / "sunset16.png").write_bytes(imagecodecs.png_encode(sunset16()))
    for path in sorted([*SAMPLES.glob("*.png"), *SAMPLES.glob("*.gif")]):
        print(path.relative_to(SAMPLES.parent), Image.open(path).mode, Image.open(path).size)


if __name__ == "__main__":
    main()
