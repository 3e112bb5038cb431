"""Writing a benchmark's results: benchmarks/results/<name>.json and <name>.md, each written
atomically, and the markdown printed."""
from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def write_results(name: str, doc: dict, md_lines: list) -> None:
    from edgekit.files import write_text

    RESULTS.mkdir(parents=True, exist_ok=True)
    text = "\n".join(md_lines) + "\n"
    write_text(RESULTS / f"{name}.json", json.dumps(doc, indent=2) + "\n")
    write_text(RESULTS / f"{name}.md", text)
    print(text, end="")
