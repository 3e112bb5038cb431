"""The report's charts, drawn as inline SVG strings here.

Why hand-drawn SVG rather than matplotlib's SVG backend: these are two small charts (box plots
with dots, one scatter), about a hundred lines; matplotlib is not a core dependency (a Raspberry
Pi running `edgekit bench --plot` usually lacks it) and costs ~0.5 s to import; its SVG writes
text as glyph paths by default, so the numbers on the chart are not text the page (or a test) can
read, and it embeds ids that change from run to run. Here every label is a real <text> element
with the exact value, and the same input gives the same bytes.

latency_svg(): one row per bench result, every timed run as a dot (outliers red), a box from p25
to p75, the median, whiskers from min to p99. tradeoff_svg(): one point per artifact, to choose
what to ship: latency (or size) across, size (or agreement) up, colour by top-1 agreement with
PyTorch, filled when no other artifact beats it on every axis."""
from __future__ import annotations

import html
import math
from typing import Optional

import numpy as np

_e = html.escape


def distribution(r: dict) -> dict:
    """Box-plot numbers of one bench result: from its samples when present, else its summary."""
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


def nice_ticks(lo: float, hi: float, n: int = 6) -> list:
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


def _open(width: int, height: int, label: str) -> list:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'font-family="sans-serif" font-size="12" role="img" aria-label="{_e(label)}">',
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>']


def latency_svg(doc: dict, width: int = 900) -> str:
    """Latency distributions of an `edgekit bench` document's results."""
    results = doc["results"]
    dists = [distribution(r) for r in results]
    row_h, top, bottom, left, right = 56, 30, 46, 250, 30
    height = top + row_h * len(results) + bottom
    lo = 0.0
    hi = max(d["max"] for d in dists) * 1.05
    ticks = nice_ticks(lo, hi)
    hi = max(hi, ticks[-1])
    plot_w = width - left - right

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    parts = _open(width, height, "latency distributions")
    for t in ticks:
        parts.append(f'<line x1="{x(t):.1f}" y1="{top - 8}" x2="{x(t):.1f}" y2="{height - bottom}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{x(t):.1f}" y="{height - bottom + 16}" text-anchor="middle" fill="#333">{t:g}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="#333">'
                 'latency per inference (ms)</text>')
    rng = np.random.default_rng(0)
    for i, (r, d) in enumerate(zip(results, dists)):
        cy = top + row_h * i + row_h / 2
        sub = f"{r['runtime']['name']} {r['runtime']['version']}, p50 {d['p50']:.2f} ms"
        parts.append(f'<text x="{left - 10}" y="{cy - 2:.1f}" text-anchor="end" fill="#111">{_e(r["artifact"])}</text>')
        parts.append(f'<text x="{left - 10}" y="{cy + 13:.1f}" text-anchor="end" fill="#666" font-size="10">{_e(sub)}</text>')
        thr = (r.get("outliers") or {}).get("threshold_ms")
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
        parts.append(f'<line x1="{x(d["p50"]):.1f}" y1="{cy - bh:.1f}" x2="{x(d["p50"]):.1f}" y2="{cy + bh:.1f}" '
                     'stroke="#d62728" stroke-width="2"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def agreement_color(agreement: Optional[float]) -> str:
    if agreement is None:
        return "#9e9e9e"
    if agreement >= 0.99:
        return "#2ca02c"
    if agreement >= 0.95:
        return "#ff7f0e"
    return "#d62728"


def pareto(points: list) -> list:
    """Indexes of the points no other point beats: at most as slow (x) and as big (y), at least
    as much agreement, and better in one of them. Unknown agreement counts as the lowest."""
    def agr(p):
        return -1.0 if p["agreement"] is None else p["agreement"]

    best = []
    for i, p in enumerate(points):
        beaten = any(q["x"] <= p["x"] and q["y"] <= p["y"] and agr(q) >= agr(p)
                     and (q["x"] < p["x"] or q["y"] < p["y"] or agr(q) > agr(p)) for j, q in enumerate(points) if j != i)
        if not beaten:
            best.append(i)
    return best


def _axis(values: list) -> list:
    """Ticks from zero past the largest value: distances on the chart stay honest (two artifacts
    0.2 MB apart look alike, as they are)."""
    ticks = nice_ticks(0.0, max(values) * 1.1 or 1.0, 5)
    while ticks[-1] < max(values) * 1.05:
        ticks.append(round(ticks[-1] + (ticks[1] - ticks[0]), 10))
    return ticks


def tradeoff_svg(points: list, x_label: str, y_label: str, width: int = 1000, height: int = 360) -> str:
    """A scatter of artifacts: points are dicts name, x, y, agreement (0..1 or None), drawn as
    numbered dots with the numbered list beside the plot (names never overlap). Lower-left is
    faster and smaller; filled dots are the ones nothing else beats (pareto())."""
    top, bottom, left, plot_w = 20, 50, 70, 480
    plot_h = height - top - bottom
    xt, yt = _axis([p["x"] for p in points]), _axis([p["y"] for p in points])
    (xlo, xhi), (ylo, yhi) = (xt[0], xt[-1]), (yt[0], yt[-1])

    def x(v: float) -> float:
        return left + (v - xlo) / (xhi - xlo) * plot_w

    def y(v: float) -> float:
        return top + plot_h - (v - ylo) / (yhi - ylo) * plot_h

    parts = _open(width, height, f"{y_label} against {x_label}, coloured by top-1 agreement")
    for t in xt:
        parts.append(f'<line x1="{x(t):.1f}" y1="{top}" x2="{x(t):.1f}" y2="{top + plot_h}" stroke="#eee"/>')
        parts.append(f'<text x="{x(t):.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="#333">{t:g}</text>')
    for t in yt:
        parts.append(f'<line x1="{left}" y1="{y(t):.1f}" x2="{left + plot_w}" y2="{y(t):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 8}" y="{y(t) + 4:.1f}" text-anchor="end" fill="#333">{t:g}</text>')
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#bbb"/>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 12}" text-anchor="middle" fill="#333">{_e(x_label)}</text>')
    parts.append(f'<text x="16" y="{top + plot_h / 2:.1f}" text-anchor="middle" fill="#333" '
                 f'transform="rotate(-90 16 {top + plot_h / 2:.1f})">{_e(y_label)}</text>')
    front = set(pareto(points))
    lx, ly = left + plot_w + 30, top + 8
    for i, p in enumerate(points):
        cx, cy, color = x(p["x"]), y(p["y"]), agreement_color(p["agreement"])
        fill = color if i in front else "white"
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="9" fill="{fill}" stroke="{color}" stroke-width="2.5"/>')
        parts.append(f'<text x="{cx:.1f}" y="{cy + 4:.1f}" text-anchor="middle" font-size="10" font-weight="bold" '
                     f'fill="{"white" if i in front else "#111"}">{i + 1}</text>')
        agr = "agreement n/a" if p["agreement"] is None else f"agreement {p['agreement'] * 100:.1f}%"
        parts.append(f'<circle cx="{lx}" cy="{ly - 4}" r="8" fill="{fill}" stroke="{color}" stroke-width="2"/>')
        parts.append(f'<text x="{lx}" y="{ly}" text-anchor="middle" font-size="10" font-weight="bold" '
                     f'fill="{"white" if i in front else "#111"}">{i + 1}</text>')
        parts.append(f'<text x="{lx + 16}" y="{ly}" fill="#111">{_e(p["name"])}</text>')
        parts.append(f'<text x="{lx + 16}" y="{ly + 14}" fill="#666" font-size="11">{_e(p["detail"])}, {agr}</text>')
        ly += 36
    ly += 4
    for label, color in (("agreement >= 99%", agreement_color(1.0)), ("95% - 99%", agreement_color(0.96)),
                         ("< 95%", agreement_color(0.5)), ("not measured", agreement_color(None))):
        parts.append(f'<circle cx="{lx}" cy="{ly - 4}" r="6" fill="{color}"/>')
        parts.append(f'<text x="{lx + 16}" y="{ly}" fill="#333" font-size="11">{_e(label)}</text>')
        ly += 18
    parts.append(f'<circle cx="{lx}" cy="{ly - 4}" r="6" fill="white" stroke="#555" stroke-width="2"/>')
    parts.append(f'<text x="{lx + 16}" y="{ly}" fill="#333" font-size="11">hollow: another artifact is as good on every '
                 'axis and better on one</text>')
    parts.append("</svg>")
    return "\n".join(parts).replace(f'height="{height}" viewBox="0 0 {width} {height}"',
                                     f'height="{max(height, ly + 16)}" viewBox="0 0 {width} {max(height, ly + 16)}"', 1) \
        .replace(f'<rect x="0" y="0" width="{width}" height="{height}"', f'<rect x="0" y="0" width="{width}" '
                 f'height="{max(height, ly + 16)}"', 1)
