"""Planning a run before any work: which file each input and kernel is written to.

Every refusal that depends only on the options (a format that cannot hold the maps, two outputs with
one name, an output that is an input) happens here, before anything is read or computed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from convcli.errors import ParameterError
from convcli.imageio.inputs import InputImage
from convcli.imageio.writing import WRITE_FORMATS, check_format
from convcli.kernels.composite import Bank
from convcli.kernels.entry import Entry
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

    @property
    def name(self) -> str:
        return "+".join(entry.name for entry in self.entries)


def _default_ext(source: Path, policy: str, stack: bool) -> str:
    if stack:
        return "npz"
    if policy == "raw":
        return "npy"
    suffix = source.suffix.lower()
    return suffix[1:] if suffix in WRITE_FORMATS else "png"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def plan(inputs: list[Path | InputImage], entries: list[Entry], output: Path | str,
         options: ApplyOptions) -> list[Target]:
    """Decide every output file: ``output`` is one file for a single output, else a folder.

    ``output`` names a file when it has an extension and is not an existing folder; several outputs
    go into the folder ``output``, named by ``options.name``, in sub-folders mirroring where each input
    was found (:class:`~convcli.imageio.inputs.InputImage`). With ``options.combine`` the kernels become one
    bank reduced to one map; with ``options.stack`` each input's maps share one file. No output may
    be one of the inputs, and no two outputs may share a name.
    """
    images = [item if isinstance(item, InputImage) else InputImage(Path(item), Path(Path(item).name))
              for item in inputs]
    sources = [image.path for image in images]
    output = Path(output)
    if options.combine:
        entries = [Bank(options.combine, tuple(entries), combine=options.combine,
                        description=f"{options.combine} of {', '.join(e.name for e in entries)}")]
    groups = [tuple(entries)] if options.stack else [(entry,) for entry in entries]
    count = len(sources) * len(groups)
    single_file = bool(output.suffix) and not output.is_dir()
    if single_file and count > 1:
        raise ParameterError(
            f"`output` {output} names one file, but this run writes {count} outputs "
            f"({_count(len(sources), 'input')} x {_count(len(groups), 'kernel')}); give a folder"
        )
    targets = []
    for image in images:
        source = image.path
        for group in groups:
            policies = tuple(resolve_map(options.map, entry) for entry in group)
            if single_file:
                path = output
            else:
                kernel = STACK_NAME if options.stack else group[0].name
                path = output / image.relative.parent / options.name.format(
                    stem=source.stem, kernel=kernel, ext=_default_ext(source, policies[0], options.stack))
            check_format(path, raw="raw" in policies, stack=options.stack)
            targets.append(Target(source, group, path, policies))

    seen: dict[Path, Target] = {}
    for target in targets:
        key = target.output.resolve()
        if key in seen:
            other = seen[key]
            raise ParameterError(
                f"{other.source} [{other.name}] and {target.source} [{target.name}] would both "
                f"write {target.output}; use `name` to tell them apart"
            )
        seen[key] = target
        for source in sources:
            if _same_file(target.output, source):
                raise ParameterError(f"output {target.output} is one of the inputs; refusing to overwrite it")
    return targets
