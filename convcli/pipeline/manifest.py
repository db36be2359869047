"""The JSON manifest of a run: per input its outputs, status, errors and timings, and a fingerprint of
the kernels and options that made them.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from convcli import __version__
from convcli.errors import plain
from convcli.imageio.atomic import atomic_write, make_folder
from convcli.kernels.entry import Entry
from convcli.pipeline.options import ApplyOptions
from convcli.pipeline.planning import Target
from convcli.pipeline.results import RunResult

MANIFEST_VERSION = 1


def fingerprint(entries: list[Entry], options: ApplyOptions) -> tuple[str, dict]:
    """A SHA-256 over convcli's version, the options and every kernel's weights: the same fingerprint
    means the same outputs for the same inputs."""
    flat = {**asdict(options.settings), **{k: v for k, v in asdict(options).items() if k != "settings"}}
    flat["channel"] = None if options.channel is None else str(options.channel)  # "R,A", as it is spelled
    settings = {"convcli": __version__, "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in flat.items()},
                "kernels": [entry.describe() for entry in entries]}
    import hashlib

    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return digest, settings


def manifest(result: RunResult, targets: list[Target], options: ApplyOptions) -> dict:
    """The manifest of a run: for each input its outputs, status, error and timings, plus the
    fingerprint of the kernels and options that made them."""
    entries = list({id(e): e for t in targets for e in t.entries}.values())
    digest, settings = fingerprint(entries, options)
    by_source: dict[Path, dict] = {}
    for target in targets:
        item = by_source.setdefault(target.source, {"source": str(target.source), "status": "written",
                                                    "outputs": [], "errors": [], "timings": {}})
        item["outputs"].append(str(target.output))
    written = {m.output: m for m in result.maps}
    for source, item in by_source.items():
        maps = [written[Path(o)] for o in item["outputs"] if Path(o) in written]
        failures = [f for f in result.failures if f.source == source]
        errors = [plain(f.message) for f in failures]
        unexpected = [{"kernel": f.kernel, "type": f.error_type, "traceback": f.traceback}
                      for f in failures if f.error_type]
        if unexpected:
            item["unexpected"] = unexpected
        existing = [o for o in item["outputs"] if Path(o) in set(result.existing)]
        item["errors"] = errors
        if errors:
            item["status"] = "failed"
        elif source in result.pending:
            item["status"] = "interrupted" if result.interrupted else "not processed"
        elif existing and len(existing) == len(item["outputs"]):
            item["status"] = "skipped"
        if maps:
            item["timings"] = {"load_ms": round(maps[0].load_ms, 3),
                               **{key: round(sum(getattr(m, key) for m in maps), 3)
                                  for key in ("convolve_ms", "map_ms", "save_ms")}}
        item["fingerprint"] = digest
    return {"version": MANIFEST_VERSION, "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "fingerprint": digest, "settings": settings, "interrupted": result.interrupted,
            "stopped": result.stopped, "not_images": [str(p) for p in result.not_images],
            "inputs": list(by_source.values())}


def write_manifest(path: Path, result: RunResult, targets: list[Target], options: ApplyOptions) -> None:
    """Write :func:`manifest` as JSON, atomically."""
    text = json.dumps(manifest(result, targets, options), indent=2) + "\n"
    make_folder(path.parent)
    atomic_write(path, lambda handle: handle.write(text.encode()))
