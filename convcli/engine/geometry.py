"""Where outputs sit on the input, and reading blocks of the input with the boundary mode applied.

Every engine path works tile by tile: a tile is a rectangle of outputs, and :meth:`Window.block` hands
it the input rectangle its taps read. Tiles whose taps stay inside the image get a view (no copy);
only tiles in the frame along the edges gather a padded copy, so no path ever pads the whole image.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from convcli.engine.boundary import boundary_index


def centre(taps: int) -> int:
    """The contract's anchor along an axis of ``taps`` taps, ``(taps - 1) // 2``: the middle tap, or the
    earlier of the two middle ones of an even kernel (as ``scipy.signal.correlate2d(mode="same")``)."""
    return (taps - 1) // 2


def default_anchor(shape: tuple[int, ...]) -> tuple[int, int]:
    """The contract's anchor ``(ai, aj) = ((kh - 1) // 2, (kw - 1) // 2)`` of a ``... x kh x kw`` kernel.

    >>> default_anchor((3, 3)), default_anchor((2, 4)), default_anchor((8, 1, 5))
    ((1, 1), (0, 1), (0, 2))
    """
    return centre(shape[-2]), centre(shape[-1])


@dataclass(frozen=True)
class AxisPlan:
    """Where the outputs along one axis sit on the input.

    Output ``y`` is centred (anchored) on input position ``start + y * stride``; tap ``i`` of the
    kernel reads input position ``start + y * stride + (i - anchor) * dilation``.
    """

    size: int  # input length
    taps: int  # kernel length
    anchor: int
    stride: int
    dilation: int
    start: int
    count: int

    @property
    def span(self) -> int:
        """Distance from the first tap to the last, in input samples."""
        return (self.taps - 1) * self.dilation

    @property
    def pad_before(self) -> int:
        """How many samples the boundary mode must supply before the first input sample."""
        return max(0, self.anchor * self.dilation - self.start)

    @property
    def pad_after(self) -> int:
        """How many samples the boundary mode must supply after the last input sample."""
        last = self.start + (self.count - 1) * self.stride
        return max(0, last + (self.taps - 1 - self.anchor) * self.dilation - (self.size - 1))

    def first_read(self, y: int) -> int:
        """The input position tap 0 reads for output ``y`` (negative or past the end: boundary)."""
        return self.start + y * self.stride - self.anchor * self.dilation

    def reach(self, y0: int, y1: int) -> tuple[int, int]:
        """The input positions ``lo .. hi - 1`` read by outputs ``y0 .. y1 - 1``."""
        return self.first_read(y0), self.first_read(y1 - 1) + self.span + 1

    def inside(self) -> tuple[int, int]:
        """Outputs ``lo .. hi - 1`` read only input samples (no boundary); ``lo == hi`` when none do."""
        first = self.first_read(0)
        lo = max(0, -(first // self.stride))  # ceil(-first / stride)
        hi = min(self.count, (self.size - 1 - self.span - first) // self.stride + 1)
        return (lo, hi) if lo < hi else (0, 0)


def reach_radius(taps: int, dilation: int, padding: str | int) -> int:
    """How far from ``y * stride`` the inputs read by output ``y`` may lie, either way, for any anchor
    (a bound, for cutting an image into bands of rows: see :mod:`convcli.pipeline.bands`)."""
    return (taps - 1) * dilation + (padding if isinstance(padding, int) else 0)


def plan_axis(size: int, taps: int, *, anchor: int, stride: int, dilation: int,
              padding: str | int) -> AxisPlan:
    """Work out the output positions along one axis (see the contract's padding rules)."""
    span = dilation * (taps - 1)  # extent of the dilated kernel, minus one
    if padding == "same":
        start, count = 0, -(-size // stride)
    elif padding == "valid":
        start, count = anchor * dilation, (size - span - 1) // stride + 1
    elif padding == "full":
        start, count = -(taps - 1 - anchor) * dilation, (size + span - 1) // stride + 1
    else:
        start, count = anchor * dilation - padding, (size + 2 * padding - span - 1) // stride + 1
    return AxisPlan(size, taps, anchor, stride, dilation, start, max(count, 0))




@dataclass(frozen=True)
class Tile:
    """Outputs ``y0 .. y1 - 1`` by ``x0 .. x1 - 1``."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


class Window:
    """The image seen through the boundary mode: blocks of it, as read by a rectangle of outputs.

    ``image`` is ``H x W x C`` in the working dtype.
    """

    def __init__(self, image: np.ndarray, rows: AxisPlan, cols: AxisPlan, boundary: str, cval: float):
        self.image, self.rows, self.cols = image, rows, cols
        self.boundary = boundary
        self.fill = cval if boundary == "constant" else 0.0

    @property
    def channels(self) -> int:
        return self.image.shape[2]

    def block(self, tile: Tile) -> np.ndarray:
        """The input rectangle tile's taps read: a view inside the image, a padded copy at its edges.

        Output ``(y, x)`` of the tile reads ``block[(y - y0) * stride + i * dilation, ...]`` for tap ``i``.
        """
        (r0, r1), (c0, c1) = self.rows.reach(tile.y0, tile.y1), self.cols.reach(tile.x0, tile.x1)
        height, width = self.image.shape[:2]
        if r0 >= 0 and c0 >= 0 and r1 <= height and c1 <= width:
            return self.image[r0:r1, c0:c1]
        row_src = boundary_index(np.arange(r0, r1), height, self.boundary)
        col_src = boundary_index(np.arange(c0, c1), width, self.boundary)
        # Gather along the axis that shrinks the copy most first.
        if len(col_src) * height < len(row_src) * width:
            picked = self.image.take(np.maximum(col_src, 0), axis=1).take(np.maximum(row_src, 0), axis=0)
        else:
            picked = self.image.take(np.maximum(row_src, 0), axis=0).take(np.maximum(col_src, 0), axis=1)
        if self.boundary in ("zero", "constant"):
            picked[row_src < 0] = self.fill
            picked[:, col_src < 0] = self.fill
        return picked

    def tiles(self, budget: int, bytes_per_output: int, *, full_width: bool = False,
              pieces: bool = False) -> list[Tile]:
        """Row strips of about ``budget`` bytes of output each (see :func:`strips`)."""
        return strips(self.rows, self.cols, budget, bytes_per_output, full_width=full_width, pieces=pieces)

    def column_pieces(self, tile: Tile) -> list[Tile]:
        """``tile`` cut where the columns' taps start and stop needing the boundary (each piece's block is
        then a view or a small gathered copy)."""
        return [Tile(tile.y0, tile.y1, max(a, tile.x0), min(b, tile.x1))
                for a, b in _pieces(self.cols) if max(a, tile.x0) < min(b, tile.x1)]

    def grid(self, tile_rows: int, tile_cols: int) -> list[Tile]:
        """Cut the outputs into a grid of ``tile_rows x tile_cols`` rectangles (the last ones smaller)."""
        return [Tile(y, min(y + tile_rows, self.rows.count), x, min(x + tile_cols, self.cols.count))
                for y in range(0, self.rows.count, tile_rows) for x in range(0, self.cols.count, tile_cols)]


def strips(rows: AxisPlan, cols: AxisPlan, budget: int, bytes_per_output: int, *,
           full_width: bool = False, pieces: bool = False) -> list[Tile]:
    """Cut the outputs into row strips of about ``budget`` bytes (at ``bytes_per_output``) each.

    The outputs whose taps stay inside the image get strips of their own (read as views); the
    frame around them (rows and columns that reach into the boundary) gets separate tiles, narrow
    and tall, so gathering the padding copies only the frame. With ``full_width`` every strip spans
    all columns (see :meth:`Window.column_pieces`). Outputs that fit the budget make one tile, unless
    ``pieces``: then the columns are cut alike at any size (so that a band of rows, which fits, is cut
    as the whole image is).

    The widest strips come first, so that the threads start on them and each writes its own part of a
    freshly allocated output first (the kernel then finds and zeroes those pages on that thread). The
    frame's tall columns, taken first, made one thread fault in the whole output: 10% of a 12 MP run.
    """
    if rows.count * cols.count * bytes_per_output <= budget and not pieces:
        return [Tile(0, rows.count, 0, cols.count)]  # one small block: copying it is cheapest
    tiles = []
    col_pieces = [(0, cols.count)] if full_width else list(_pieces(cols))
    for ry0, ry1 in _pieces(rows):
        for rx0, rx1 in col_pieces:
            step = max(1, budget // max(1, (rx1 - rx0) * bytes_per_output))
            tiles += [Tile(y, min(y + step, ry1), rx0, rx1) for y in range(ry0, ry1, step)]
    return sorted(tiles, key=lambda tile: tile.x1 - tile.x0, reverse=True)  # stable: rows stay in order


def _pieces(plan: AxisPlan) -> Iterator[tuple[int, int]]:
    """The outputs before, inside and after the stretch whose taps need no boundary (empty ones left out)."""
    lo, hi = plan.inside()
    if lo == hi:
        lo = hi = plan.count
    for a, b in ((0, lo), (lo, hi), (hi, plan.count)):
        if a < b:
            yield a, b


def pixels(array: np.ndarray) -> np.ndarray:
    """``array`` (``... x C``, last axis contiguous) seen as one opaque item per pixel, without copying.

    Copying every s-th pixel of an RGB image float by float runs at about half the speed of copying
    whole 12-byte pixels; :func:`unpixels` turns the copy back into floats.
    """
    return array.view(np.dtype((np.void, array.shape[-1] * array.itemsize)))[..., 0]


def unpixels(array: np.ndarray, dtype: np.dtype, channels: int) -> np.ndarray:
    """The inverse of :func:`pixels` for a contiguous ``array``."""
    return array.view(dtype).reshape(*array.shape, channels)
