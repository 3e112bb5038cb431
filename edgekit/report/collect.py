"""What a report shows, read from an export folder: the manifests (`<artifact>.json` beside each
artifact), any `edgekit bench --json` documents, and the export log."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..converter_log import LOG_NAME
from ..errors import InputError

BENCH_SCHEMA = "edgekit-bench/1"


@dataclass
class Entry:
    """One artifact: its manifest, and its bench result when a bench document has one."""
    file: str
    manifest: dict
    bench: Optional[dict] = None
    bench_host: Optional[dict] = None


@dataclass
class Collected:
    folder: Path
    entries: list = field(default_factory=list)
    bench_docs: list = field(default_factory=list)   # (path, document)
    log: Optional[Path] = None

    @property
    def bench_results(self) -> list:
        return [r for _, d in self.bench_docs for r in d["results"]]


def _read_json(p: Path):
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _is_manifest(d) -> bool:
    return isinstance(d, dict) and "schema_version" in d and isinstance(d.get("artifact"), dict) \
        and "target" in d and "parity" in d


def collect(folder, bench_files=()) -> Collected:
    """Manifests and bench documents in `folder` (not recursive), plus `bench_files`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"expected an export folder (the --out of `edgekit export`), got {folder}")
    c = Collected(folder=folder)
    paths = sorted(folder.glob("*.json")) + [Path(b) for b in bench_files]
    for p in paths:
        d = _read_json(p)
        if d is None and p in map(Path, bench_files):
            raise InputError(f"{p}: expected an `edgekit bench --json` file, could not read it as JSON")
        if _is_manifest(d) and p.name == d["artifact"].get("file", "") + ".json":
            c.entries.append(Entry(file=d["artifact"]["file"], manifest=d))
        elif isinstance(d, dict) and d.get("schema") == BENCH_SCHEMA:
            c.bench_docs.append((p, d))
        elif p in map(Path, bench_files):
            raise InputError(f"{p}: expected an `edgekit bench --json` document (schema {BENCH_SCHEMA})")
    if not c.entries:
        raise InputError(f"no edgekit manifests (<artifact>.json) in {folder}: expected the --out folder of `edgekit export`")
    by_file = {e.file: e for e in c.entries}
    for _, doc in c.bench_docs:  # a later document replaces an earlier one's result for the same file
        for r in doc["results"]:
            e = by_file.get(r.get("artifact"))
            if e is not None:
                e.bench, e.bench_host = r, doc.get("host")
    order = {"executorch": 0, "tflite": 1, "coreml": 2, "onnx": 3}
    c.entries.sort(key=lambda e: (order.get(e.manifest["target"]["name"], 9), e.file))
    log = folder / LOG_NAME
    c.log = log if log.is_file() else None
    return c
