"""Text forms of an `edgekit bench` document: the comparison table printed to the terminal and
the CSV file (one row per artifact)."""
from __future__ import annotations

import csv
import io
from typing import Optional

from ..report.page import where_line  # one copy, shared with the HTML pages


def _num(v, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def _mib(b) -> str:
    return "-" if b is None else f"{b / 2**20:.1f}"


def header_line(doc: dict) -> str:
    """The table's first line: where and how (shared with the HTML page), and the CPU's ISA."""
    return where_line(doc) + isa_clause(doc["host"])


def isa_clause(host: dict) -> str:
    """"; ISA avx2 fma (int8 dot products: no)" from the host's isa block ("" where not recorded)."""
    isa = host.get("isa")
    if not isa:
        return ""
    feats = isa.get("features")
    have = "unknown" if feats is None else (" ".join(feats) or "none int8-relevant")
    dot = {True: "yes", False: "no", None: "unknown"}[isa.get("int8_dot")]
    return f"; ISA {have} (int8 dot products: {dot})"


def emulation_line(doc: dict) -> Optional[str]:
    """The warning a document measured under emulation carries, or None for real hardware."""
    emu = doc["host"].get("emulation") or {}
    if not emu.get("emulated"):
        return None
    cpu = f" ({emu['cpu_model']})" if emu.get("cpu_model") else ""
    return (f"EMULATED: {emu.get('machine', doc['host'].get('machine'))}{cpu} under {emu.get('by', 'an emulator')} on an "
            f"{emu.get('executable_machine', '?')} host: these times are the emulator's, NOT device latency")


COLUMNS = ("artifact", "runtime", "threads", "size MiB", "load ms", "first ms", "p50 ms", "p90 ms", "p99 ms",
           "mean ms", "std ms", "min ms", "outliers", "img/s", "peak RSS +MiB", "vs fastest")


def table_rows(doc: dict) -> list:
    rows = []
    for r in doc["results"]:
        lat, out = r["latency_ms"], r.get("outliers")
        rows.append([
            r["artifact"],
            f"{r['runtime']['name']} {r['runtime']['version']}",
            str(r["threads"]) if r.get("threads") else "default",
            _mib(r.get("size_bytes")),
            _num(r.get("load_ms"), "{:.1f}"),
            _num(r.get("first_run_ms")),
            _num(lat.get("p50")),
            _num(lat.get("p90")),
            _num(lat.get("p99")),
            _num(lat.get("mean")),
            _num(lat.get("std")),
            _num(lat.get("min")),
            "-" if out is None else f"{out['count']}/{lat['count']}",
            _num(r.get("throughput_per_s"), "{:.1f}"),
            _mib(r.get("peak_rss_increase_bytes")),
            "-" if r.get("ratio_to_fastest") is None else f"{r['ratio_to_fastest']:.2f}x",
        ])
    return rows


def format_table(doc: dict) -> str:
    """A markdown table (readable as plain text too), one row per artifact, with a title line
    saying where and how it was measured and a note on outliers."""
    rows = table_rows(doc)
    widths = [max(len(COLUMNS[i]), *(len(r[i]) for r in rows)) for i in range(len(COLUMNS))]
    right = set(range(2, len(COLUMNS)))

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    emulated = emulation_line(doc)
    out = [header_line(doc), *([emulated] if emulated else []), "", line(COLUMNS), sep, *(line(r) for r in rows)]
    notes = [emulated] if emulated else []
    for r in doc["results"]:
        o = r.get("outliers")
        if o and o["count"]:
            notes.append(f"{r['artifact']}: {o['count']} run(s) {o['rule']} (> {o['threshold_ms']:.2f} ms, worst {o['max_ms']:.2f} ms); included in the statistics")
        for n in r.get("notes") or ():
            notes.append(f"{r['artifact']}: {n}")
    if notes:
        out += [""] + [f"note: {n}" for n in notes]
    return "\n".join(out) + "\n"


CSV_FIELDS = ("artifact", "path", "format", "runtime", "runtime_version", "threads", "source", "size_bytes",
              "import_ms", "load_ms", "first_run_ms", "warmup", "count", "min_ms", "p50_ms", "p90_ms", "p95_ms",
              "p99_ms", "mean_ms", "std_ms", "max_ms", "outliers", "outlier_threshold_ms", "throughput_per_s",
              "peak_rss_increase_bytes", "rss_method", "ratio_to_fastest", "cpu", "cpu_isa", "int8_dot", "cores", "os", "machine", "emulated", "remote")


def to_csv(doc: dict) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    h = doc["host"]
    remote = f"{doc['remote']['transport']}:{doc['remote']['target']}" if doc.get("remote") else ""
    for r in doc["results"]:
        lat, out = r["latency_ms"], r.get("outliers") or {}
        w.writerow({
            "artifact": r["artifact"], "path": r.get("path", ""), "format": r["format"],
            "runtime": r["runtime"]["name"], "runtime_version": r["runtime"]["version"],
            "threads": _blank(r.get("threads")), "source": r["source"], "size_bytes": r["size_bytes"],
            "import_ms": _blank(r.get("import_ms")), "load_ms": _blank(r.get("load_ms")),
            "first_run_ms": _blank(r.get("first_run_ms")), "warmup": r["warmup"], "count": lat["count"],
            "min_ms": _blank(lat.get("min")), "p50_ms": _blank(lat.get("p50")), "p90_ms": _blank(lat.get("p90")),
            "p95_ms": _blank(lat.get("p95")), "p99_ms": _blank(lat.get("p99")), "mean_ms": _blank(lat.get("mean")),
            "std_ms": _blank(lat.get("std")), "max_ms": _blank(lat.get("max")),
            "outliers": _blank(out.get("count")), "outlier_threshold_ms": _blank(out.get("threshold_ms")),
            "throughput_per_s": _blank(r.get("throughput_per_s")),
            "peak_rss_increase_bytes": _blank(r.get("peak_rss_increase_bytes")), "rss_method": _blank(r.get("rss_method")),
            "ratio_to_fastest": _blank(r.get("ratio_to_fastest")),
            "cpu": h.get("cpu", ""), "cpu_isa": " ".join((h.get("isa") or {}).get("features") or ()),
            "int8_dot": _blank((h.get("isa") or {}).get("int8_dot")), "cores": _blank(h.get("cores")), "os": h.get("os", ""), "machine": h.get("machine", ""),
            "emulated": (h.get("emulation") or {}).get("by", "yes") if (h.get("emulation") or {}).get("emulated") else "",
            "remote": remote,
        })
    return buf.getvalue()


def _blank(v: Optional[object]) -> object:
    return "" if v is None else v
