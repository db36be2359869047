"""How every kernel of a run is applied and written (:class:`ApplyOptions`), validated once on creation."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

from convcli.choices import COLORMAPS, COMBINES, DEFAULT_MAX_PIXELS, DEFAULT_NAME, DEFAULT_QUALITY
from convcli.engine.settings import Settings
from convcli.errors import ParameterError
from convcli.imageio.frames import FrameSelection
from convcli.imageio.writing import output_format
from convcli.pipeline.channels import ChannelSelection
from convcli.pixels.mapping import check_map

#: The fields a ``name`` template may use.
NAME_FIELDS = ("stem", "kernel", "ext", "suffix", "parent")


def _whole(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        reach = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ParameterError(f"`{name}` must be a whole number {reach}; got {value!r}")
    return value


@dataclass(frozen=True)
class ApplyOptions:
    """What a run computes and writes, besides its kernels; validated on creation.

    ``settings`` are the engine's (stride, padding, boundary ...); the rest say how maps become files.
    """

    settings: Settings = field(default_factory=Settings)
    gray: bool = False
    map: str = "auto"
    verify: bool = False
    name: str = DEFAULT_NAME
    colormap: str | None = None
    overlay: bool = False
    quality: int = DEFAULT_QUALITY
    stack: bool = False
    combine: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    format: str | None = None  # the output format by extension (``png``), for ``-`` and the names made
    frame: str | None = None  # which frames of each input (``0``, ``2-5``, ``all``); None for every frame
    channel: ChannelSelection | str | None = None  # filter only these channels (``R,G``): see pipeline.channels

    def __post_init__(self) -> None:
        if not isinstance(self.settings, Settings):
            raise ParameterError(f"`settings` must be an engine Settings; got {self.settings!r}")
        object.__setattr__(self, "map", check_map(self.map))
        _check_name(self.name)
        if self.colormap is not None and self.colormap not in COLORMAPS:
            raise ParameterError(f"`colormap` must be one of {', '.join(COLORMAPS)}; got {self.colormap!r}")
        if self.combine is not None and self.combine not in COMBINES:
            raise ParameterError(f"`combine` must be one of {', '.join(COMBINES)}; got {self.combine!r}")
        _whole("quality", self.quality, 1, 100)
        _whole("max_pixels", self.max_pixels, 1)
        if self.overlay and (self.settings.stride != 1 or self.settings.padding != "same"):
            raise ParameterError("`overlay` needs each map the size of its input: `stride` 1 and `padding` same")
        if self.map == "raw" and (self.colormap or self.overlay):
            raise ParameterError("`map` raw keeps floats; `colormap` and `overlay` need pixels (another `map`)")
        if self.format is not None:
            object.__setattr__(self, "format", self.format.lower().lstrip("."))
            output_format(Path("-"), self.format)
        FrameSelection.parse(self.frame)
        if self.combine and self.stack:
            raise ParameterError("`stack` keeps every map and `combine` reduces them to one: choose one")
        if self.channel is not None:
            self._check_channel()

    def _check_channel(self) -> None:
        if not isinstance(self.channel, ChannelSelection):
            object.__setattr__(self, "channel", ChannelSelection.parse(self.channel))
        if self.gray:
            raise ParameterError("`channel` filters some of the image's channels and `gray` makes one channel of "
                                 "them all: choose one")
        if self.settings.stride != 1 or self.settings.padding != "same":
            raise ParameterError("`channel` passes the other channels through, so each map must be the size of its "
                                 "input: `stride` 1 and `padding` same")
        if self.pixels_drawn:
            raise ParameterError("`channel` writes the other channels as they are; `colormap` and `overlay` draw "
                                 "the map in colours of their own: choose one")
        if self.settings.nodata is not None:
            raise ParameterError("`channel` passes the other channels through as they are stored, and `nodata` "
                                 "marks values missing in every channel: leave out one of them")

    @property
    def frame_selection(self) -> FrameSelection | None:
        """The frames to read of each input (None: all of them)."""
        return FrameSelection.parse(self.frame)

    @property
    def pixels_drawn(self) -> bool:
        """Whether the maps are drawn (a colour map, an overlay) rather than written as values."""
        return bool(self.colormap or self.overlay)


def _check_name(template: str) -> None:
    try:
        parsed = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as error:
        raise ParameterError(f"`name` template {template!r}: {error}") from None
    fields = [name for name, _, _ in parsed]
    shaped = next((f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
                   for name, spec, conversion in parsed if spec or conversion), None)
    if shaped:  # {stem:>3000000000} would make a name of three gigabytes
        raise ParameterError(f"`name` template {template!r}: fields are written as they are; {shaped} takes no "
                             "format")
    unknown = [name for name in fields if name not in NAME_FIELDS]
    if unknown or not fields:
        raise ParameterError(
            f"`name` template {template!r} may use only {', '.join(f'{{{n}}}' for n in NAME_FIELDS)}"
            + (f"; got {{{unknown[0]}}}" if unknown else "")
        )
    if any(part in ("..", "") for part in Path(template).parts[:-1]) or Path(template).is_absolute():
        raise ParameterError(f"`name` template {template!r} must stay inside the `output` folder")
