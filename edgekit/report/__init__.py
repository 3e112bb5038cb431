"""`edgekit report OUT`: one self-contained HTML page about an export folder (collect.py reads
it, page.py writes the page, charts.py draws the SVG charts). `edgekit bench --plot x.html` uses
the same page parts (page.bench_page)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from .charts import latency_svg, tradeoff_svg
from .collect import Collected, collect
from .page import bench_page, export_page, where_line

REPORT_NAME = "report.html"


def write_report(folder, out: Optional[str] = None, bench_files=()) -> Path:
    """Write the report of export folder `folder` to `out` (default FOLDER/report.html)."""
    from ..files import write_text

    c = collect(folder, bench_files)
    path = Path(out) if out else Path(folder) / REPORT_NAME
    write_text(path, export_page(c))
    return path


__all__ = ["REPORT_NAME", "Collected", "bench_page", "collect", "export_page", "latency_svg", "tradeoff_svg",
           "where_line", "write_report"]
