"""What a run did, as data: one :class:`MapResult` per output, the :class:`Failure` list, the totals.

The library fills these in and never prints; the CLI renders them (:mod:`convcli.cli.run_view`) and
``--report-json`` writes :meth:`RunResult.to_dict`, whose layout ``report_schema.json`` documents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from convcli.errors import plain
from convcli.imageio.atomic import atomic_write, make_folder

if TYPE_CHECKING:
    from convcli.imageio.file_warnings import FileWarning
    from convcli.pipeline.notices import Notice

#: The version of the JSON report layout; bumped when a field changes meaning or goes away.
REPORT_VERSION = 1


@dataclass
class MapResult:
    """What happened for one output, with its stage timings in milliseconds."""

    source: Path
    kernel: str  # the kernel's name; for a stack, the names joined by "+"
    output: Path
    input_size: tuple[int, int, int]  # height, width, channels (alpha included)
    output_size: tuple[int, int]
    map: str
    method: str  # the engine path (paths, '+'-joined, when the calls of one output differed)
    convention: str
    boundary: str
    padding: str | int
    stride: int
    dilation: int
    load_ms: float
    convolve_ms: float
    map_ms: float
    save_ms: float
    values: int = 0  # values written (pixels x channels), for the clipped fractions
    clipped_low: int = 0
    clipped_high: int = 0
    max_diff: float | None = None
    verify_ms: float | None = None
    method_reason: str = ""  # why the engine chose that path (the cost model, or a forced method)
    note: str = ""
    frames: int = 1  # frames or pages filtered and written
    warnings: list[FileWarning] = field(default_factory=list)  # of reading and writing files
    notices: list[Notice] = field(default_factory=list)  # clipped, nearly black, missing: the report rolls these up

    @property
    def megapixels_per_second(self) -> float:
        """Input megapixels filtered per second of convolution (over every frame)."""
        pixels = self.input_size[0] * self.input_size[1] * self.frames
        return pixels / 1e6 / max(self.convolve_ms / 1e3, 1e-9)

    @property
    def clipped_percent(self) -> tuple[float, float]:
        """The percentages of values clipped low and high."""
        total = max(self.values, 1)
        return 100 * self.clipped_low / total, 100 * self.clipped_high / total

    def to_dict(self) -> dict:
        data = {key: getattr(self, key) for key in self.__dataclass_fields__}
        data.update(source=str(self.source), output=str(self.output), input_size=list(self.input_size),
                    output_size=list(self.output_size), megapixels_per_second=round(self.megapixels_per_second, 3))
        for key in ("load_ms", "convolve_ms", "map_ms", "save_ms", "verify_ms"):
            if data[key] is not None:
                data[key] = round(data[key], 3)
        data["warnings"] = [plain(text) for text in (*map(str, self.warnings), *(n.text for n in self.notices))]
        del data["notices"]
        return data


@dataclass(frozen=True)
class Failure:
    """An input (or one of its outputs) that could not be done, and why."""

    source: Path
    message: str  # parameter names marked (see convcli.errors.spell_parameters)
    kernel: str | None = None
    error_type: str = ""  # the exception's type when it was not one of convcli's own errors (a bug)
    traceback: str = ""  # and its traceback, for the manifest

    def to_dict(self) -> dict:
        return {"source": str(self.source), "kernel": self.kernel, "message": plain(self.message),
                "type": self.error_type or None}


@dataclass
class RunResult:
    """Everything a run did: the maps written, the failures, the total wall time."""

    maps: list[MapResult]
    failures: list[Failure]
    total_ms: float
    global_range: tuple[float, float] | None = None
    montage: Path | None = None
    existing: list[Path] = field(default_factory=list)  # outputs left alone by --skip-existing
    not_images: list[Path] = field(default_factory=list)  # files in the input folders that are not images
    pending: list[Path] = field(default_factory=list)  # inputs not processed (interrupted, or stopped)
    interrupted: bool = False
    stopped: str | None = None  # why the run ended before every input was processed (the cluster was lost)

    @property
    def exit_code(self) -> int:
        """The contract's exit code: 0 when everything was written, 1 when anything failed or the run was
        stopped, 130 when interrupted."""
        return 130 if self.interrupted else 1 if self.failures or self.stopped else 0

    def to_dict(self) -> dict:
        return {
            "version": REPORT_VERSION,
            "total_ms": round(self.total_ms, 3),
            "outputs": [result.to_dict() for result in self.maps],
            "failures": [failure.to_dict() for failure in self.failures],
            "global_range": list(self.global_range) if self.global_range else None,
            "montage": str(self.montage) if self.montage else None,
            "skipped_existing": [str(p) for p in self.existing],
            "not_images": [str(p) for p in self.not_images],
            "interrupted": self.interrupted,
            "stopped": self.stopped,
            "pending": [str(p) for p in self.pending],
        }

    def write_json(self, path: Path) -> None:
        """Write :meth:`to_dict` as JSON to ``path`` (atomically, creating its folder)."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        make_folder(path.parent)
        atomic_write(path, lambda handle: handle.write(text.encode()))


def report_schema() -> dict:
    """The JSON Schema of :meth:`RunResult.to_dict` (``convcli/pipeline/report_schema.json``)."""
    return json.loads(resources.files("convcli.pipeline").joinpath("report_schema.json").read_text(encoding="utf-8"))
