"""Latency-distribution plots of an `edgekit bench` document: a PNG through matplotlib when it
is installed, otherwise (or for a .html/.svg path) a self-contained HTML page with an inline SVG
drawn here, so a device without matplotlib can still plot. One row per artifact: every timed run
as a dot (outliers in red), a box from p25 to p75, the median, whiskers from min to p99."""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Optional

import numpy as np

from ..files import staged, write_text


def _dist(r: dict) -> dict:
    """Box-plot numbers of one result: from its samples when present, else its summary."""
    lat = r["latency_ms"]
    s = r.get("samples_ms")
    if s:
        a = np.asarray(s, dtype=np.float64)
        q1, q3 = np.percentile(a, [25, 75])
        return {"samples": a, "min": float(a.min()), "q1": float(q1), "p50": float(np.median(a)), "q3": float(q3),
                "p99": float(np.percentile(a, 99)), "max": float(a.max())}
    p50 = lat.get("p50") if lat.get("p50") is not None else lat["mean"]
    return {"samples": None, "min": lat.get("min") or p50, "q1": lat.get("p5") or p50, "p50": p50,
            "q3": lat.get("p95") or p50, "p99": lat.get("p99") or lat.get("max") or p50, "max": lat.get("max") or p50}


def _nice_ticks(lo: float, hi: float, n: int = 6) -> list:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


def svg(doc: dict, width: int = 900) -> str:
    """The inline SVG (a string) for the document's results."""
    results = doc["results"]
    dists = [_dist(r) for r in results]
    row_h, top, bottom, left, right = 56, 30, 46, 230, 30
    height = top + row_h * len(results) + bottom
    lo = 0.0
    hi = max(d["max"] for d in dists) * 1.05
    ticks = _nice_ticks(lo, hi)
    hi = max(hi, ticks[-1])
    plot_w = width - left - right

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    e = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'font-family="sans-serif" font-size="12" role="img" aria-label="latency distributions">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>']
    for t in ticks:
        parts.append(f'<line x1="{x(t):.1f}" y1="{top - 8}" x2="{x(t):.1f}" y2="{height - bottom}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{x(t):.1f}" y="{height - bottom + 16}" text-anchor="middle" fill="#333">{t:g}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="#333">latency per inference (ms)</text>')
    rng = np.random.default_rng(0)
    for i, (r, d) in enumerate(zip(results, dists)):
        cy = top + row_h * i + row_h / 2
        label = f"{r['artifact']}"
        sub = f"{r['runtime']['name']} {r['runtime']['version']}, p50 {d['p50']:.2f} ms"
        parts.append(f'<text x="{left - 10}" y="{cy - 2:.1f}" text-anchor="end" fill="#111">{e(label)}</text>')
        parts.append(f'<text x="{left - 10}" y="{cy + 13:.1f}" text-anchor="end" fill="#666" font-size="10">{e(sub)}</text>')
        out = r.get("outliers") or {}
        thr = out.get("threshold_ms")
        if d["samples"] is not None:
            jitter = rng.uniform(-row_h * 0.3, row_h * 0.3, size=d["samples"].size)
            for v, j in zip(d["samples"], jitter):
                color = "#d62728" if thr is not None and v > thr else "#1f77b4"
                parts.append(f'<circle cx="{x(v):.1f}" cy="{cy + j:.1f}" r="1.6" fill="{color}" fill-opacity="0.45"/>')
        bh = row_h * 0.36
        parts.append(f'<line x1="{x(d["min"]):.1f}" y1="{cy:.1f}" x2="{x(d["p99"]):.1f}" y2="{cy:.1f}" stroke="#222"/>')
        for v in (d["min"], d["p99"]):
            parts.append(f'<line x1="{x(v):.1f}" y1="{cy - bh / 2:.1f}" x2="{x(v):.1f}" y2="{cy + bh / 2:.1f}" stroke="#222"/>')
        parts.append(f'<rect x="{x(d["q1"]):.1f}" y="{cy - bh:.1f}" width="{max(1.0, x(d["q3"]) - x(d["q1"])):.1f}" '
                     f'height="{2 * bh:.1f}" fill="#9ecae1" fill-opacity="0.6" stroke="#222"/>')
        parts.append(f'<line x1="{x(d["p50"]):.1f}" y1="{cy - bh:.1f}" x2="{x(d["p50"]):.1f}" y2="{cy + bh:.1f}" stroke="#d62728" stroke-width="2"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def html_page(doc: dict) -> str:
    from .output import format_table

    title = "edgekit bench: latency distributions"
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:24px}pre{font-size:12px;background:#f6f6f6;padding:8px;overflow-x:auto}</style>"
        f"</head><body>\n<h1>{html.escape(title)}</h1>\n"
        "<p>Dots: every timed run (red: above p75 + 3*IQR). Box: p25 to p75; red line: median; whiskers: min to p99.</p>\n"
        f"{svg(doc)}\n<pre>{html.escape(format_table(doc))}</pre>\n</body></html>\n"
    )


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
        d = _dist(r)
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
