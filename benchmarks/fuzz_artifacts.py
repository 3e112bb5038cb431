"""How often do corrupt artifacts crash the native runtimes, and does edgekit keep the caller alive?

For each format, N mutated copies of a tiny real artifact (benchmarks/fuzzcases.py: truncations, bit
flips, smashed offsets, inserted/deleted bytes...) go through three paths:
  raw        the runtime's own loader + one run, no edgekit validation, in a worker process:
             a worker death is what would have killed an unprotected caller (native crash)
  validated  edgekit's static validation (runtimes/readers/) first: how many files it
             rejects, and how many of the raw crashes it already stops
  edgekit    edgekit.load(path).run(zeros) in THIS process (validation + probe worker): every
             outcome must be success or an EdgekitError; finishing at all shows no crash

Writes benchmarks/results/fuzz_artifacts.json and .md and prints the markdown table.
Usage: python -m benchmarks.fuzz_artifacts [--count 200] [--formats tflite,onnx,executorch,coreml]"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from .output import write_pair

REPO = Path(__file__).resolve().parents[1]

FILES = {"tflite": "tiny.tflite", "onnx": "tiny.onnx", "executorch": "tiny.pte", "coreml": "tiny.mlpackage"}


def run_format(fmt: str, count: int, work: Path, seed: int) -> dict:
    import numpy as np

    from .tiny import cached_build
    from .fuzzcases import mutations
    from edgekit.errors import EdgekitError
    from edgekit.runtimes import inspect, load, probe
    from edgekit.runtimes.readers import validate

    src = cached_build() / FILES[fmt]
    muts = mutations(src, work / fmt, count, seed=seed)
    raw = collections.Counter()
    signals = collections.Counter()
    rejected_static = crashes_after_validation = 0
    edge = collections.Counter()
    other_errors = []
    native = fmt != "coreml" or sys.platform == "darwin"
    worker = None
    t0 = time.time()
    for path, kind in muts:
        crashed = False
        if native:
            if worker is None or not worker.alive():
                worker = probe._Worker(fmt)
            ans = worker.ask(str(path), 300, raw=True)
            if ans.get("ok"):
                raw["ok"] += 1
            elif "error" in ans:
                raw["error"] += 1
            else:
                crashed = True
                raw["crash"] += 1
                rc = ans.get("died")
                signals[f"signal {-rc}" if isinstance(rc, int) and rc < 0 else ("timeout" if ans.get("timeout") else f"exit {rc}")] += 1
                worker = None
        try:
            validate(path, fmt)
        except EdgekitError:
            rejected_static += 1
        except Exception:  # validate itself must only raise EdgekitError
            rejected_static += 1
            other_errors.append(f"validate {path.name}")
        else:
            crashes_after_validation += crashed
        try:
            m = inspect(path) if fmt == "coreml" else load(path)
            m.run([np.zeros(tuple(max(d, 1) for d in s.shape), np.float32) for s in m.inputs])
            edge["ok"] += 1
        except EdgekitError as e:
            edge[type(e).__name__] += 1
        except Exception as e:
            edge["non-edgekit exception"] += 1
            other_errors.append(f"{path.name} ({kind}): {type(e).__name__}: {str(e)[:120]}")
    if worker is not None:
        worker.kill()
    return {
        "format": fmt, "mutations": count, "seconds": round(time.time() - t0, 1),
        "raw": dict(raw) if native else "n/a (no native loader runs on this OS)",
        "raw_crash_signals": dict(signals),
        "rejected_by_static_validation": rejected_static,
        "raw_crashes_that_pass_validation": crashes_after_validation if native else None,
        "edgekit_load_run": dict(edge),
        "caller_crashes": 0,  # this process is still running
        "non_edgekit_exceptions": other_errors,
    }


def markdown(rows: list, meta: dict) -> str:
    lines = [f"Fuzzing artifact loaders ({meta['count']} mutations per format, seed {meta['seed']}, {meta['machine']})", "",
             "| format | mutations | raw loader: crashes (signals) | raw: errors / ok | rejected by static validation | "
             "raw crashes that pass validation | edgekit.load+run: outcomes | caller crashes |",
             "|---|---:|---|---|---:|---:|---|---:|"]
    for r in rows:
        raw = r["raw"]
        if isinstance(raw, dict):
            crash = f"{raw.get('crash', 0)} ({', '.join(f'{k}: {v}' for k, v in r['raw_crash_signals'].items()) or '-'})"
            rest = f"{raw.get('error', 0)} / {raw.get('ok', 0)}"
        else:
            crash, rest = raw, "-"
        edge = ", ".join(f"{k} {v}" for k, v in sorted(r["edgekit_load_run"].items()))
        lines.append(f"| {r['format']} | {r['mutations']} | {crash} | {rest} | {r['rejected_by_static_validation']} | "
                     f"{r['raw_crashes_that_pass_validation'] if r['raw_crashes_that_pass_validation'] is not None else '-'} | "
                     f"{edge} | {r['caller_crashes']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--formats", default="tflite,onnx,executorch,coreml")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "fuzz_artifacts"))
    args = ap.parse_args(argv)
    os.environ["EDGEKIT_CACHE"] = tempfile.mkdtemp(prefix="edgekit-fuzz-cache-")
    work = Path(tempfile.mkdtemp(prefix="edgekit-fuzz-"))
    rows = [run_format(f, args.count, work, args.seed) for f in args.formats.split(",")]
    meta = {"count": args.count, "seed": args.seed, "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"}
    out = Path(args.out)
    write_pair(out.with_suffix(".json"), out.with_suffix(".md"), {"meta": meta, "results": rows}, markdown(rows, meta),
               echo=True)
    return 1 if any(r["non_edgekit_exceptions"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
