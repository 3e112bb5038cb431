"""Latency-distribution plots of an `edgekit bench` document: a PNG through matplotlib when it
is installed, otherwise (or for a .html/.svg path) the self-contained HTML page of edgekit.report
(the same page parts and SVG chart as `edgekit report`), so a device without matplotlib can still
plot. One row per artifact: every timed run as a dot (outliers in red), a box from p25 to p75,
the median, whiskers from min to p99."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..files import staged, write_text
from ..report.charts import distribution, latency_svg
from ..report.page import bench_page


def svg(doc: dict, width: int = 900) -> str:
    """The inline SVG (a string) for the document's results (edgekit.report.charts draws it)."""
    return latency_svg(doc, width)


def html_page(doc: dict) -> str:
    """The self-contained HTML page: the report's bench section (edgekit.report.page)."""
    return bench_page(doc)


def write_plot(doc: dict, path, prefer_png: Optional[bool] = None) -> Path:
    """Write the plot; returns the path written. A .png path uses matplotlib when it imports,
    else the HTML page is written next to it with a .html suffix. .html/.htm/.svg paths never need
    matplotlib."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        write_text(path, '<?xml version="1.0" encoding="UTF-8"?>\n' + svg(doc) + "\n")
        return path
    if suffix in (".html", ".htm"):
        write_text(path, html_page(doc))
        return path
    if suffix == ".png" or prefer_png:
        try:
            import matplotlib
        except ImportError:
            out = path.with_suffix(".html")
            write_text(out, html_page(doc))
            return out
        matplotlib.use("Agg")
        return _png(doc, path)
    from ..errors import InputError

    raise InputError(f"--plot must end in .png, .html or .svg, got {path.name}")


def _png(doc: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt

    results = doc["results"]
    fig, ax = plt.subplots(figsize=(10, 1.0 + 0.8 * len(results)))
    stats = []
    for r in results:
        d = distribution(r)
        stats.append({"label": f"{r['artifact']}\n{r['runtime']['name']}", "whislo": d["min"], "q1": d["q1"],
                      "med": d["p50"], "q3": d["q3"], "whishi": d["p99"], "fliers": []})
    ax.bxp(stats, vert=False, showfliers=False)
    rng = np.random.default_rng(0)
    for i, r in enumerate(results, start=1):
        s = r.get("samples_ms")
        if s:
            a = np.asarray(s)
            thr = (r.get("outliers") or {}).get("threshold_ms")
            colors = np.where(a > thr, "tab:red", "tab:blue") if thr is not None else "tab:blue"
            ax.scatter(a, i + rng.uniform(-0.25, 0.25, a.size), s=4, c=colors, alpha=0.4)
    ax.set_xlabel("latency per inference (ms)")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    try:
        with staged(path) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        plt.close(fig)
    return path
