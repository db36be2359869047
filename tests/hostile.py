"""Files as fuzzers and odd tools leave them, made byte by byte: headers Pillow cannot decode, bombs inside
containers, an ICO a TGA reader accepts, a McIDAS area."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, PngImagePlugin


def dds_with_an_unknown_pixel_format() -> bytes:
    """An 8x8 DDS whose FourCC no decoder knows: Pillow raises NotImplementedError."""
    header = struct.pack("<4sIIIIIII44sIII4sIIIIIIIIII", b"DDS ", 124, 0x1007, 8, 8, 0, 0, 1, bytes(44), 32, 0x4,
                         0, b"ZZZZ", 0, 0, 0, 0, 0, 0x1000, 0, 0, 0, 0)
    return header + bytes(256)


def ico_a_tga_reader_accepts(icon: np.ndarray) -> bytes:
    """An ICO of ``icon`` whose PNG is 65,792 bytes long (a text chunk pads it): read as a TGA header, its
    first bytes then say 'colour-mapped, 1 bit per pixel', which Pillow's TGA reader accepts."""
    plain = io.BytesIO()
    Image.fromarray(icon).save(plain, "PNG")
    info = PngImagePlugin.PngInfo()
    info.add_text("pad", "x" * (0x10100 - len(plain.getvalue()) - 16))
    padded = io.BytesIO()
    Image.fromarray(icon).save(padded, "PNG", pnginfo=info)
    png = padded.getvalue()
    assert len(png) == 0x10100
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(png), 22) + png


def png_of(side: int) -> bytes:
    """A 1-bit PNG of side x side, all zero: a few kilobytes that decode to side² pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = (b"\x00" + bytes((side + 7) // 8)) * side
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def icns_holding_a_png_of(side: int) -> bytes:
    """An ICNS whose header says 512x512 and whose 'ic09' entry is :func:`png_of` ``side``."""
    png = png_of(side)
    entry = b"ic09" + struct.pack(">I", 8 + len(png)) + png
    return b"icns" + struct.pack(">I", 8 + len(entry)) + entry


def ico_holding_a_png_of(side: int) -> bytes:
    """An ICO whose directory says 256x256 and whose one image is :func:`png_of` ``side``."""
    png = png_of(side)
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 22) + png


def mcidas_area(pixels: np.ndarray) -> bytes:
    """A McIDAS area of 8-bit ``pixels`` (Pillow registers no extension for it): a 64-word header, then rows."""
    words = [0] * 64
    height, width = pixels.shape
    # the magic number, height, width, bytes per pixel, bands, offset to the rows
    words[1], words[8], words[9], words[10], words[13], words[33] = 4, height, width, 1, 1, 256
    return struct.pack(">64i", *words) + pixels.astype(np.uint8).tobytes()
