"""`edgekit report OUT_DIR [--bench FILE] [-o FILE] [--json]`: one self-contained HTML page about
an export folder (edgekit.report)."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("report", help="write one self-contained HTML report of an export folder",
                       description="Write OUT_DIR/report.html: every artifact's target, precision, size, export time, "
                                   "parity (and int8 guard decisions), manifest, IO spec, preprocessing and labels; "
                                   "with `edgekit bench --json` files in OUT_DIR (or --bench), latency distributions "
                                   "and a size / latency / agreement chart. No network: CSS and SVG charts are inline.")
    p.add_argument("folder", metavar="OUT_DIR", help="the --out folder of `edgekit export`")
    p.add_argument("--bench", action="append", default=[], metavar="FILE",
                   help="an `edgekit bench --json` file from elsewhere (repeatable; *.json bench files in OUT_DIR are read anyway)")
    p.add_argument("-o", "--output", default=None, metavar="FILE", help="where to write the page (default OUT_DIR/report.html)")
    p.add_argument("--json", action="store_true", help="print what the page shows as one JSON document on stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..report import collect, write_report

    path = write_report(args.folder, args.output, args.bench)
    if args.json:
        c = collect(args.folder, args.bench)
        print(json.dumps({"report": str(path), "folder": str(c.folder), "log": str(c.log) if c.log else None,
                          "bench_files": [str(p) for p, _ in c.bench_docs],
                          "artifacts": [{"file": e.file, "manifest": e.manifest, "bench": e.bench} for e in c.entries]},
                         indent=2))
    else:
        print(f"wrote {path}")
    return 0
