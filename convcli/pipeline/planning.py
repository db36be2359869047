"""Planning a run before any work: which file each input and kernel is written to, in what format.

Every refusal that depends only on the options and the inputs' headers (a format that cannot hold
the maps or the frames, two outputs with one name, an output that is an input) happens here, before
anything is decoded or computed.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convcli.errors import InputError, ParameterError
from convcli.imageio.atomic import STDOUT
from convcli.imageio.frames import pick_frames
from convcli.imageio.inputs import InputImage
from convcli.imageio.reading import STDIN, count_frames, display_name, megapixels, stream_format
from convcli.imageio.writing import FORMAT_EXTENSIONS, FRAME_FORMATS, WRITE_FORMATS, check_format, output_format
from convcli.kernels.composite import Bank
from convcli.kernels.entry import Entry
from convcli.kernels.kernel import check_anchor_padding
from convcli.pipeline.options import ApplyOptions
from convcli.pixels.mapping import resolve_map

#: The ``{kernel}`` of a ``stack`` file's name.
STACK_NAME = "stack"


@dataclass(frozen=True)
class Target:
    """One output file: ``entries`` applied to ``source`` (several only for a ``stack`` file)."""

    source: Path
    entries: tuple[Entry, ...]
    output: Path
    maps: tuple[str, ...]  # the map policy of each entry, ``auto`` resolved
    format: str = ""  # as writing names it (PNG, TIFF ...); empty: the output's extension decides
    data: bytes | None = field(default=None, repr=False, compare=False)  # the bytes of standard input

    @property
    def name(self) -> str:
        return "+".join(entry.name for entry in self.entries)


def _input_ext(image: InputImage) -> str:
    """The input's own format as an output extension (``png``), or '' when convcli cannot write it."""
    if image.data is not None:
        return FORMAT_EXTENSIONS.get(stream_format(image.data), "")
    suffix = image.path.suffix.lower()
    return suffix[1:] if suffix in WRITE_FORMATS else ""


def _default_ext(image: InputImage, policy: str, stack: bool) -> str:
    if stack:
        return "npz"
    if policy == "raw":
        return "npy"
    return _input_ext(image) or "png"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _identity(path: Path) -> tuple[int, int] | Path:
    """What tells files apart: an existing file's device and inode (a hard link or a symlink is the file it
    links to), else the path resolved."""
    try:
        status = os.stat(path)
    except OSError:
        return path.resolve()
    return status.st_dev, status.st_ino


def _identities(paths: Iterable[Path]) -> set[tuple[int, int] | Path]:
    """The :func:`_identity` of every file among ``paths`` (standard input and output are none), in one pass:
    compared in pairs, a folder of 1000 inputs took 40 s to plan."""
    return {_identity(path) for path in paths if path != STDOUT and str(path) != STDIN}


def name_fields(image: InputImage) -> dict[str, str]:
    """The ``name`` template's fields that come from the input: ``stem``, ``suffix``, ``parent``."""
    if image.data is not None:
        return {"stem": image.relative.stem, "suffix": _input_ext(image), "parent": "stdin"}
    return {"stem": image.relative.stem, "suffix": image.path.suffix.lower().lstrip("."),
            "parent": image.path.resolve().parent.name or "root"}


@dataclass(frozen=True)
class _Run:
    """What names are made from: the inputs, the groups of entries (one per output of an input)."""

    images: list[InputImage]
    groups: list[tuple[Entry, ...]]
    output: Path
    options: ApplyOptions

    def path(self, image: InputImage, group: tuple[Entry, ...], policy: str, template: str) -> Path:
        kernel = STACK_NAME if self.options.stack else group[0].name
        ext = self.options.format or _default_ext(image, policy, self.options.stack)
        name = template.format(kernel=kernel, ext=ext, **name_fields(image))
        path = self.output / image.relative.parent / name
        if not name or any(part in ("", "..") for part in Path(name).parts) or Path(name).is_absolute():
            raise ParameterError(f"`name` {template!r} makes {name!r} for {display_name(image.path)}, which is not "
                                 "a file inside the `output` folder")
        return path

    def collisions(self, template: str) -> bool:
        names = [self.path(image, group, resolve_map(self.options.map, group[0]), template).resolve()
                 for image in self.images for group in self.groups]
        return len(set(names)) < len(names)


def plan(inputs: list[Path | InputImage], entries: list[Entry], output: Path | str,
         options: ApplyOptions) -> list[Target]:
    """Decide every output file: ``output`` is one file for a single output, ``-`` for standard output,
    else a folder.

    ``output`` names a file when it has an extension and is not an existing folder; several outputs
    go into the folder ``output``, named by ``options.name``, in sub-folders mirroring where each input
    was found (:class:`~convcli.imageio.inputs.InputImage`). With ``options.combine`` the kernels become one
    bank reduced to one map; with ``options.stack`` each input's maps share one file. No output may
    be one of the inputs, no two outputs may share a name, and no frame of an input may be left out.
    """
    images = [item if isinstance(item, InputImage) else InputImage(Path(item), Path(Path(item).name))
              for item in inputs]
    output = Path(output)
    if options.combine:
        entries = [Bank(options.combine, tuple(entries), combine=options.combine,
                        description=f"{options.combine} of {', '.join(e.name for e in entries)}")]
    groups = [tuple(entries)] if options.stack else [(entry,) for entry in entries]
    count = len(images) * len(groups)
    to_stdout = output == STDOUT
    single_file = to_stdout or (bool(output.suffix) and not output.is_dir())
    if single_file and count > 1:
        where = "standard output" if to_stdout else "one file"
        raise ParameterError(
            f"`output` {output} names {where}, but this run writes {count} outputs "
            f"({_count(len(images), 'input')} x {_count(len(groups), 'kernel')}); give a folder"
        )
    _check_reach(entries, options)
    _check_combined_sizes(entries, options)
    check_anchor_padding(entries, options.settings.padding)
    _check_channel(entries, options)
    run = _Run(images, groups, output, options)
    frame_counts: dict[Path, int] = {}  # each input's header read once, whatever the number of kernels
    targets = []
    for image in images:
        for group in groups:
            policies = tuple(resolve_map(options.map, entry) for entry in group)
            raw = "raw" in policies
            if to_stdout:
                fmt, path = options.format or _default_ext(image, policies[0], options.stack), output
            elif single_file:
                if options.format and output_format(output, options.format) != output_format(output):
                    raise ParameterError(f"`format` {options.format} and `output` {output} disagree; give one")
                fmt, path = None, output
            else:
                fmt, path = None, run.path(image, group, policies[0], options.name)
            written = check_format(path, fmt=fmt, raw=raw, stack=options.stack)
            _check_frames(image, written, options, frame_counts)
            targets.append(Target(image.path, group, path, policies, written, image.data))
    _check_names(targets, run, [image.path for image in images])
    return targets


def _footprint(entry: Entry) -> tuple[int, int]:
    """The rows and columns of input an entry reads for one output at stride 1, undilated: a chain's
    steps add up, a bank's members overlap."""
    rows = columns = 0
    for step in entry.sequence():
        shapes = [np.shape(weights)[-2:] for kernel in (step.members or (step,))
                  if (weights := getattr(kernel, "weights", None)) is not None]
        rows += max((shape[0] for shape in shapes), default=1) - 1
        columns += max((shape[1] for shape in shapes), default=1) - 1
    return rows + 1, columns + 1


def _taps(entry: Entry) -> int:
    """The rows (or columns) of input an entry reads for one output, undilated."""
    return max(_footprint(entry))


def _check_combined_sizes(entries: list[Entry], options: ApplyOptions) -> None:
    """Refuse, before any work, a bank combined over maps that `padding` other than ``same`` makes of
    different sizes (at stride 1, where the kernels' sizes alone decide; at a stride the image's size
    does too, and combining says so for that input)."""
    if options.settings.padding == "same" or options.settings.stride != 1:
        return
    for entry in entries:
        if not isinstance(entry, Bank) or not entry.combine:
            continue
        sizes = {member.name: _footprint(member) for member in entry.kernels}
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{name} {rows}x{columns}" for name, (rows, columns) in sizes.items())
            raise ParameterError(f"`combine` {entry.combine} needs maps of one size, but with `padding` "
                                 f"{options.settings.padding} kernels of different sizes ({listed}) give maps of "
                                 "different sizes; use `padding` same, or `stack` to keep the maps side by side")


def _check_channel(entries: list[Entry], options: ApplyOptions) -> None:
    """Refuse, before any work, ``channel`` with an entry that mixes the channels it would filter one by one."""
    mixing = next((entry for entry in entries if not entry.per_channel), None)
    if options.channel is not None and mixing is not None:
        raise ParameterError(f"`channel` filters each channel on its own, and {mixing.kind} '{mixing.name}' mixes "
                             "the channels: leave out `channel`")


def _check_reach(entries: list[Entry], options: ApplyOptions) -> None:
    """Refuse, before any work, a dilation or a padding whose padded image alone would pass the
    `max_pixels` limit for an image of any size (``--dilation 1000000000`` would fill the memory)."""
    settings, limit = options.settings, options.max_pixels
    padding = settings.padding if isinstance(settings.padding, int) else 0
    if (2 * padding + 1) ** 2 > limit:
        raise ParameterError(f"`padding` {padding} pads every image to at least {2 * padding + 1}x{2 * padding + 1} "
                             f"pixels, over the `max_pixels` limit of {megapixels(limit)}")
    for entry in entries:
        reach = (_taps(entry) - 1) * settings.dilation + 1
        side = reach + 2 * padding
        if side * side > limit:
            raise ParameterError(f"`dilation` {settings.dilation} spreads {entry.name} over {reach} pixels: every "
                                 f"image would be padded to at least {side}x{side} pixels, over the `max_pixels` "
                                 f"limit of {megapixels(limit)}")


def _check_frames(image: InputImage, fmt: str, options: ApplyOptions, counts: dict[Path, int]) -> None:
    """Refuse an output that could not hold every frame picked from a multi-frame input."""
    if fmt in FRAME_FORMATS and not options.stack:
        return
    if image.path not in counts:
        counts[image.path] = count_frames(image.path, image.data)
    total = counts[image.path]
    if total == 1:
        return
    try:
        frames = len(pick_frames(options.frame_selection, total, display_name(image.path)))
    except InputError:  # a frame past the end: reading that input says so, and the others go on
        return
    if frames == 1:
        return
    name = display_name(image.path)
    if options.stack:
        raise ParameterError(f"`stack` puts every kernel's map of an input in one file, and {name} has {frames} "
                             "frames: leave out `stack` or pick one frame with `frame`")
    raise ParameterError(f"{name} has {frames} frames and {fmt} holds one: write .tif, .gif, .png or .webp "
                         "(every frame), or pick one with `frame`")


def _check_names(targets: list[Target], run: _Run, sources: list[Path]) -> None:
    seen: dict[Path, Target] = {}
    inputs = _identities(sources)
    for target in targets:
        key = target.output if target.output == STDOUT else target.output.resolve()
        if key in seen:
            other = seen[key]
            suggestion = next((t for t in _templates(run.options.name) if not run.collisions(t)), None)
            advice = (f"`name` \"{suggestion}\" tells them apart" if suggestion else
                      "no `name` of {stem}, {suffix} and {parent} tells them apart: give the folder above them as "
                      "INPUT (the output mirrors its tree), or run them apart")
            raise ParameterError(f"{display_name(other.source)} [{other.name}] and {display_name(target.source)} "
                                 f"[{target.name}] would both write {target.output}; {advice}")
        seen[key] = target
        if target.output != STDOUT and _identity(target.output) in inputs:
            raise ParameterError(f"output {target.output} is one of the inputs; refusing to overwrite it")


def check_side_files(targets: list[Target], files: dict[str, Path | None]) -> None:
    """Refuse a file the run writes beside its maps (``report_json``, ``manifest``, ``montage``, by
    option name) that would overwrite one of the inputs, one of the maps, or another of these."""
    inputs = _identities(target.source for target in targets)
    outputs = _identities(target.output for target in targets)
    seen: dict[Path, str] = {}
    for option, path in files.items():
        if path is None or path == STDOUT:
            continue
        if _identity(path) in inputs:
            raise ParameterError(f"`{option}` {path} is one of the inputs; refusing to overwrite it")
        if _identity(path) in outputs:
            raise ParameterError(f"`{option}` {path} is one of the maps this run writes; give it a file of its own")
        key = path.resolve()
        if key in seen:
            raise ParameterError(f"`{option}` and `{seen[key]}` are both {path}; give each a file of its own")
        seen[key] = option


def _templates(template: str) -> list[str]:
    """``name`` templates like ``template`` that say more of the input: its extension, its folder."""
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    base = template
    if "stem" not in fields:
        folder, _, file = base.rpartition("/")
        base = f"{folder}/{{stem}}_{file}" if folder else f"{{stem}}_{file}"
    if "kernel" not in fields:
        base = base.replace("{stem}", "{stem}_{kernel}", 1)
    candidates = [base]
    for extra, needs in (("{stem}_{suffix}", {"suffix"}), ("{parent}_{stem}", {"parent"}),
                         ("{parent}_{stem}_{suffix}", {"suffix", "parent"})):
        if not needs & fields:
            candidates.append(base.replace("{stem}", extra, 1))
    return [candidate for candidate in dict.fromkeys(candidates) if candidate != template]
