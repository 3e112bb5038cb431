"""One self-contained HTML page: inline CSS, inline SVG charts, no script, no font, image or link
that would reach the network. `export_page()` is the `edgekit report` page of an export folder;
`bench_page()` is the `edgekit bench --plot x.html` page, built from the same parts.

Every number a reader compares carries `data-k` (what it is) and, in per-artifact rows,
`data-artifact` (the file), so a test can read the page's DOM and check it against the JSON."""
from __future__ import annotations

import html
from datetime import datetime, timezone

from .._version import __version__
from .charts import latency_svg, tradeoff_svg
from .collect import Collected

_e = html.escape

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#1b1b1b;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.sub{color:#555;margin:0 0 12px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.passed{color:#17752b;font-weight:600}.failed{color:#b00020;font-weight:600}.not_run{color:#777}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;margin:12px 0}
.card summary{cursor:pointer;font-weight:600;font-size:15px}code{background:#f4f4f4;padding:1px 4px;border-radius:3px}
.note{color:#555;font-size:13px}pre{font-size:12px;background:#f6f6f6;padding:8px;overflow-x:auto}
"""


def _doc(title: str, body: list) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            # nothing on this page may load from anywhere (the CSP makes the browser refuse it)
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _num(v, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def _mb(b) -> str:
    return "-" if b is None else f"{b / 1e6:.1f}"


def _td(text: str, key: str = "", artifact: str = "", num: bool = False, cls: str = "") -> str:
    attrs = (f' data-k="{key}"' if key else "") + (f' data-artifact="{_e(artifact)}"' if artifact else "")
    classes = " ".join(c for c in ("n" if num else "", cls) if c)
    return f"<td{attrs}{f' class={chr(34)}{classes}{chr(34)}' if classes else ''}>{_e(text)}</td>"


def _table(head: list, rows: list) -> str:
    return ("<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(f"<tr>{''.join(r)}</tr>" for r in rows) + "</tbody></table>")


# ---- bench parts (shared with `edgekit bench --plot`) ------------------------------------------

def bench_rows(results: list) -> list:
    rows = []
    for r in results:
        lat, a = r["latency_ms"], r["artifact"]
        rss = r.get("peak_rss_increase_bytes")
        rows.append([
            _td(a), _td(f"{r['runtime']['name']} {r['runtime']['version']}"),
            _td(str(r.get("threads") or "default"), num=True),
            _td(_num(r.get("load_ms"), "{:.1f}"), "load_ms", a, True),
            _td(_num(r.get("first_run_ms")), "first_run_ms", a, True),
            _td(_num(lat.get("p50")), "p50_ms", a, True), _td(_num(lat.get("p90")), "p90_ms", a, True),
            _td(_num(lat.get("p99")), "p99_ms", a, True), _td(_num(lat.get("mean")), "mean_ms", a, True),
            _td(_num(lat.get("min")), "min_ms", a, True),
            _td(f"{(r.get('outliers') or {}).get('count', '-')}/{lat.get('count')}", num=True),
            _td(_num(r.get("throughput_per_s"), "{:.1f}"), "throughput_per_s", a, True),
            _td("-" if rss is None else f"{rss / 2**20:.1f}", "peak_rss_mib", a, True),
            _td("-" if r.get("ratio_to_fastest") is None else f"{r['ratio_to_fastest']:.2f}x", num=True),
        ])
    return rows


BENCH_HEAD = ["artifact", "runtime", "threads", "load ms", "first ms", "p50 ms", "p90 ms", "p99 ms", "mean ms", "min ms",
              "outliers", "img/s", "peak RSS +MiB", "vs fastest"]
LATENCY_NOTE = ("Dots: every timed run (red: above p75 + 3*IQR). Box: p25 to p75; red line: median; "
                "whiskers: min to p99.")


def where_line(doc: dict) -> str:
    """Where and how a bench document was measured (the first line of `edgekit bench`'s table)."""
    h, c = doc["host"], doc["config"]
    where = f"{h.get('device') + ', ' if h.get('device') else ''}{h['cpu']} ({h.get('cores') or '?'} cores), {h['os']} {h['machine']}"
    if doc.get("remote"):
        where = f"{doc['remote']['transport']} {doc['remote']['target']}: {where}"
    runs = f"{c['iters']} runs" if c.get("iters") else f">= {c['min_seconds']:g} s"
    threads = c["threads"] if c.get("threads") else "default"
    return f"edgekit bench on {where}; threads={threads}, warm-up {c['warmup']}, {runs}"


def bench_section(doc: dict) -> list:
    return [f'<p class="sub">{_e(where_line(doc))}</p>', f'<p class="note">{_e(LATENCY_NOTE)}</p>', latency_svg(doc),
            _table(BENCH_HEAD, bench_rows(doc["results"]))]


def bench_page(doc: dict) -> str:
    """The `edgekit bench --plot FILE.html` page of one bench document."""
    title = "edgekit bench: latency distributions"
    return _doc(title, [f"<h1>{_e(title)}</h1>", *bench_section(doc)])


# ---- the export report ---------------------------------------------------------------------

def _parity_cell(p: dict, a: str) -> str:
    st = p.get("status", "?")
    if st == "not_run":
        return f'<td data-k="parity_status" data-artifact="{_e(a)}" class="not_run">not run: {_e(p.get("reason", ""))}</td>'
    return f'<td data-k="parity_status" data-artifact="{_e(a)}" class="{_e(st)}">{_e(st)}</td>'


def _agreement(m: dict):
    p = m.get("parity") or {}
    return p.get("top1_agreement") if p.get("status") in ("passed", "failed") else None


def summary_rows(c: Collected) -> list:
    rows = []
    for e in c.entries:
        m, a, b = e.manifest, e.file, e.bench or {}
        p, lat = m.get("parity") or {}, b.get("latency_ms") or {}
        agr = _agreement(m)
        rows.append([
            _td(a, "file", a), _td(m["target"]["name"]),
            _td(m["target"].get("details", {}).get("variant") or m["precision"], "variant", a),
            _td(_mb(m["artifact"].get("size_bytes")), "size_mb", a, True),
            _td(_num(m.get("export_seconds"), "{:.1f}"), "export_seconds", a, True),
            _parity_cell(p, a),
            _td("-" if agr is None else f"{agr * 100:.1f}%", "top1_agreement", a, True),
            _td(_num(p.get("max_abs_error"), "{:.1e}"), "max_abs_error", a, True),
            _td(_num(lat.get("p50")), "p50_ms", a, True), _td(_num(lat.get("p90")), "p90_ms", a, True),
            _td(_num(lat.get("p99")), "p99_ms", a, True),
            _td(_num(b.get("load_ms"), "{:.1f}"), "load_ms", a, True),
            _td("-" if b.get("peak_rss_increase_bytes") is None else f"{b['peak_rss_increase_bytes'] / 2**20:.1f}",
                "peak_rss_mib", a, True),
        ])
    return rows


SUMMARY_HEAD = ["artifact", "target", "precision", "size MB", "export s", "parity", "top-1 agreement", "max abs error",
                "p50 ms", "p90 ms", "p99 ms", "load ms", "peak RSS +MiB"]


def tradeoff_section(c: Collected) -> list:
    benched = [e for e in c.entries if e.bench and (e.bench.get("latency_ms") or {}).get("p50") is not None]
    if benched:
        pts = [{"name": e.file, "x": e.bench["latency_ms"]["p50"], "y": e.manifest["artifact"]["size_bytes"] / 1e6,
                "agreement": _agreement(e.manifest),
                "detail": f"p50 {e.bench['latency_ms']['p50']:.2f} ms, {e.manifest['artifact']['size_bytes'] / 1e6:.1f} MB"}
               for e in benched]
        left = [e.file for e in c.entries if e not in benched]
        note = ("Lower left is faster and smaller; colour is top-1 agreement with PyTorch on the parity inputs. "
                "Filled: no other artifact is at least as fast, as small and as faithful and better in one: "
                "these are the ones worth choosing between.")
        if left:
            note += f" Not benchmarked, so not shown: {', '.join(left)}."
        svg = tradeoff_svg(pts, "p50 latency per inference (ms)", "size (MB)")
    else:
        pts = [{"name": e.file, "x": e.manifest["artifact"]["size_bytes"] / 1e6,
                "y": 100.0 * (_agreement(e.manifest) or 0.0), "agreement": _agreement(e.manifest),
                "detail": f"{e.manifest['artifact']['size_bytes'] / 1e6:.1f} MB"} for e in c.entries]
        note = ("No bench results in this folder, so size against top-1 agreement (not measured counts as 0). Add "
                "latency: edgekit bench ARTIFACT... --json OUT/bench.json, then edgekit report OUT.")
        svg = tradeoff_svg(pts, "size (MB)", "top-1 agreement with PyTorch (%)")
    return ["<h2>What to ship: size, latency, agreement</h2>", f'<p class="note">{_e(note)}</p>', svg]


def _kv(rows: list) -> str:
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th>{v if v.startswith('<td') else f'<td>{_e(v)}</td>'}</tr>"
                               for k, v in rows) + "</table>"


def _tensor_rows(ts: list) -> list:
    out = []
    for t in ts:
        q = t.get("quantization")
        out.append([_td(t.get("name", "")), _td(t.get("dtype", "")), _td(str(t.get("shape"))), _td(str(t.get("layout") or "")),
                    _td("-" if not q else f"scale {q['scale']:.6g}, zero point {q['zero_point']}"),
                    _td(str(t.get("kind") or ""))])
    return out


def _quant_block(q: dict) -> list:
    if not q:
        return []
    rows = [("recipe", q.get("recipe", "")), ("weights", q.get("weights", "")),
            ("activations", q.get("activations") or "float"), ("io", q.get("io", "float"))]
    fl = q.get("float_layers")
    if fl is not None:
        rows.append(("kept in float by the guard", ", ".join(fl) or "none"))
    cal = q.get("calibration") or {}
    if cal:
        rows.append(("calibration", f"{cal.get('count')} images from {cal.get('source', '?')} (seed {cal.get('seed')})"))
    out = ["<h3>Quantization</h3>", _kv(rows)]
    g = q.get("guard") or {}
    if g.get("history"):
        hist = [[_td(str(i + 1), num=True), _td(", ".join(h.get("float_layers") or []) or "none"),
                 _td(f"{h['agreement'] * 100:.1f}%", num=True), _td(f"{h['kl']:.5f}", num=True)]
                for i, h in enumerate(g["history"])]
        out += ["<p class=\"note\">The int8 accuracy guard: top-1 agreement with float on held-out calibration images "
                f"for each attempt; kept: {g.get('agreement', 0) * 100:.1f}%.</p>",
                _table(["attempt", "layers in float", "agreement", "KL to float"], hist)]
    return out


def artifact_card(e) -> str:
    m, a = e.manifest, e.file
    model, art, t = m.get("model") or {}, m.get("artifact") or {}, m.get("target") or {}
    p, pre, labels = m.get("parity") or {}, m.get("preprocessing") or {}, m.get("labels") or []
    w = model.get("weights") or {}
    d = t.get("delegation") or {}
    rows = [("model", f"{model.get('name')} ({model.get('family')}, {model.get('source')})"),
            ("weights", str(w.get("source"))),
            ("params / MACs", f"{model.get('params') or 0:,} / {model.get('macs') or 0:,}"),
            ("size", f'<td><span data-k="size_bytes" data-artifact="{_e(a)}">{art.get("size_bytes")}</span> bytes '
                     f'({_mb(art.get("size_bytes"))} MB)</td>'),
            ("sha256", str(art.get("sha256"))),
            ("manifest", f"{a}.json" + (f"; embedded: {art['embedded_manifest']}" if art.get("embedded_manifest") else "")),
            ("delegate", str(t.get("delegate") or "none")
             + (f": {d['delegated_nodes']} nodes delegated, {d.get('portable_nodes', 0)} on portable kernels"
                if "delegated_nodes" in d else "")),
            ("created", f"{m.get('created')} in {m.get('export_seconds', 0):.1f} s"),
            ("versions", ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items() if v))]
    par = [("status", p.get("status", "?") + (f": {p['reason']}" if p.get("reason") else ""))]
    if p.get("status") in ("passed", "failed"):
        par += [("runtime", str(p.get("runtime"))), ("inputs", str(p.get("inputs") or p.get("n"))),
                ("top-1 agreement / top-5 overlap", f"{p['top1_agreement'] * 100:.1f}% / {p['top5_overlap'] * 100:.1f}%"),
                ("max abs error / min cosine", f"{p['max_abs_error']:.3g} / {p['cosine']:.6f}"),
                ("thresholds", ", ".join(f"{k} {v}" for k, v in (p.get("thresholds") or {}).items()))]
    prep = (f"resize {pre.get('resize')} -> crop {pre.get('crop')} {pre.get('interpolation')}, x{pre.get('scale', 1 / 255):.6g}, "
            f"mean {pre.get('mean')}, std {pre.get('std')}, {pre.get('channel_order')} {pre.get('layout')}") if pre else "-"
    shown = ", ".join(labels[:6]) + (", ..." if len(labels) > 6 else "")
    body = [f'<details class="card" open><summary>{_e(a)} &mdash; {_e(t.get("name", ""))} '
            f'{_e(str(t.get("details", {}).get("variant") or m.get("precision")))}</summary>',
            "<h3>Manifest</h3>", _kv(rows), "<h3>Parity against PyTorch</h3>", _kv(par),
            *_quant_block(m.get("quantization")),
            "<h3>Inputs and outputs</h3>",
            _table(["tensor", "dtype", "shape", "layout", "quantization", "kind"],
                   _tensor_rows((m.get("inputs") or []) + (m.get("outputs") or []))),
            "<h3>Preprocessing and labels</h3>",
            _kv([("preprocessing", prep),
                 ("labels", f'<td><span data-k="labels_count" data-artifact="{_e(a)}">{len(labels)}</span>: {_e(shown)}</td>')])]
    if e.bench:
        b = e.bench
        body += ["<h3>Benchmark</h3>",
                 _kv([("runtime", f"{b['runtime']['name']} {b['runtime']['version']}, threads {b.get('threads') or 'default'}"),
                      ("latency", f"p50 {b['latency_ms'].get('p50', 0):.2f} ms, p90 {b['latency_ms'].get('p90', 0):.2f} ms, "
                                  f"p99 {b['latency_ms'].get('p99', 0):.2f} ms over {b['latency_ms'].get('count')} runs"),
                      ("load / first run", f"{_num(b.get('load_ms'), '{:.1f}')} ms / {_num(b.get('first_run_ms'))} ms")])]
    body.append("</details>")
    return "\n".join(body)


def export_page(c: Collected) -> str:
    """The `edgekit report OUT` page."""
    models = sorted({str((e.manifest.get("model") or {}).get("name")) for e in c.entries})
    title = f"edgekit report: {', '.join(models)}"
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="sub">{len(c.entries)} artifact(s) in <code>{_e(str(c.folder))}</code>; '
            f"report by edgekit {_e(__version__)}, {made}.</p>",
            "<h2>Artifacts</h2>", _table(SUMMARY_HEAD, summary_rows(c)),
            *tradeoff_section(c)]
    if c.bench_docs:
        body.append("<h2>Latency</h2>")
        for path, doc in c.bench_docs:
            body += [f'<p class="note">from <code>{_e(path.name)}</code></p>', *bench_section(doc)]
    body.append("<h2>Each artifact</h2>")
    body += [artifact_card(e) for e in c.entries]
    if c.log is not None:
        n = len(c.log.read_text(encoding="utf-8", errors="replace").splitlines())
        body.append(f'<p class="note">Converter and runtime output of the export: <code>{_e(c.log.name)}</code> '
                    f"({n} lines) in the same folder.</p>")
    return _doc(title, body)
