"""Frames and pages: which frames of a file are filtered (``--frame``), and how an animation plays.

Frames are numbered from 0, as ImageMagick numbers them (``anim.gif[0]``), and from the end with a
minus (``-1`` is the last). A selection is a comma-separated list of numbers and inclusive ranges, in
the order to write them: ``0``, ``2-5``, ``0,3,7-`` (7 to the end), ``-1``, ``3,0`` (backwards),
``all``. A file's frames are resolved against it when it is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from convcli.errors import InputError, ParameterError

_PART = re.compile(r"^(\d+)-(\d*)$|^(-?\d+)$")


@dataclass(frozen=True)
class FrameSelection:
    """Parsed ``--frame``: ranges ``(first, last)``, ``last`` None for "to the end", negative numbers
    counted from the end."""

    text: str
    ranges: tuple[tuple[int, int | None], ...]

    @classmethod
    def parse(cls, text: str | None) -> FrameSelection | None:
        """The selection written ``text`` (None or ``all`` for every frame)."""
        if text is None or text.strip().lower() == "all":
            return None
        ranges = []
        for part in text.replace(" ", "").split(","):
            match = _PART.match(part)
            if not match:
                raise ParameterError(f"`frame` takes numbers from 0 (-1 the last) and ranges such as 0, 2-5, "
                                     f"0,3,7-, -1 or all; got {text!r}")
            if match.group(3) is not None:
                ranges.append((int(match.group(3)), int(match.group(3))))
                continue
            first = int(match.group(1))
            last = int(match.group(2)) if match.group(2) else None
            if last is not None and last < first:
                raise ParameterError(f"`frame` range {part} runs backwards; write {last}-{first}")
            ranges.append((first, last))
        return cls(text, tuple(ranges))

    def pick(self, total: int, name: str) -> tuple[int, ...]:
        """The frame numbers of a file of ``total`` frames, in the order asked (a frame asked twice is
        written twice); an :class:`InputError` when a number is past the last frame."""
        picked: list[int] = []
        for first, last in self.ranges:
            end = total - 1 if last is None else last
            start, end = (total + first, total + end) if first < 0 else (first, end)
            if not (0 <= start < total and 0 <= end < total):
                frames = f"{total} frame{'s' if total != 1 else ''}"
                wanted = first if not 0 <= start < total else end
                raise InputError(f"{name}: has {frames} (0-{total - 1}); `frame` {self.text} asks for {wanted}")
            picked.extend(range(start, end + 1))
        return tuple(picked)


def pick_frames(selection: FrameSelection | None, total: int, name: str) -> tuple[int, ...]:
    """The frames of a file of ``total`` frames that ``selection`` (None: all) picks."""
    return tuple(range(total)) if selection is None else selection.pick(total, name)


@dataclass(frozen=True)
class Timing:
    """How an animation plays: each written frame's duration in milliseconds (None where the file gave
    none), how many times it plays (0 for ever; APNG's and WebP's count, where a GIF's loop count is the
    plays after the first: :func:`gif_plays`, :func:`gif_loop`) and whether the first frame is an APNG's
    default image (shown where animation is not, and not part of the animation)."""

    durations: tuple[int | None, ...]
    plays: int = 0
    default_image: bool = False


def gif_plays(loop: int | None) -> int:
    """The plays of a GIF whose NETSCAPE loop count is ``loop`` (None: no loop block, it plays once)."""
    return 1 if loop is None else 0 if loop == 0 else loop + 1


def gif_loop(plays: int) -> int | None:
    """The NETSCAPE loop count of a GIF that plays ``plays`` times (None: write no loop block)."""
    return 0 if plays == 0 else None if plays == 1 else plays - 1
