"""Writing a benchmark's results: benchmarks/results/<name>.json and <name>.md, each written
atomically, and the markdown printed. Every result says which machine it was measured on: the
JSON gets a `host` block (CPU model, cores, and the ISA features int8 speed depends on, from
edgekit.bench.system.host_info) and the markdown a line with them under its title."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def stamp(doc: dict, md_text: str, host: Optional[dict] = None) -> tuple:
    """(doc with `host`, markdown with the CPU/ISA line under its first heading). A doc that
    already has a host (a remote device's, or one measured earlier) keeps it; an old host
    block without `isa` gets this machine's only when it was measured here."""
    from edgekit.bench import host_info, isa_line

    here = host_info()
    host = host or doc.get("host") or here
    if "isa" not in host and host.get("cpu") == here["cpu"] and host.get("hostname") == here["hostname"]:
        host = {**host, "isa": here["isa"]}
    doc = {**doc, "host": host}
    line = f"_{isa_line(host)}_"
    lines = md_text.split("\n")
    at = next((i + 1 for i, l in enumerate(lines[:3]) if l.startswith("#")), 0)
    block = ([""] if at else []) + [line] + ([] if at < len(lines) and lines[at] == "" else [""])
    lines[at:at] = block
    return doc, "\n".join(lines)


def write_pair(json_path: Path, md_path: Path, doc: dict, md_text: str, host: Optional[dict] = None,
               echo: bool = False) -> tuple:
    """Stamp and write both files atomically; returns the stamped (doc, markdown)."""
    from edgekit.files import write_text

    doc, md_text = stamp(doc, md_text, host)
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    write_text(Path(json_path), json.dumps(doc, indent=2, default=str) + "\n")
    write_text(Path(md_path), md_text if md_text.endswith("\n") else md_text + "\n")
    if echo:
        print(md_text, end="" if md_text.endswith("\n") else "\n")
    return doc, md_text


def write_results(name: str, doc: dict, md_lines: list) -> None:
    write_pair(RESULTS / f"{name}.json", RESULTS / f"{name}.md", doc, "\n".join(md_lines) + "\n", echo=True)
