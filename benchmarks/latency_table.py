"""The full latency table: zoo model x target x precision x threads (1 and 2).

For every combination: p50 latency of one 1x3xHxW image (edgekit.load(...).run), speed-up over
PyTorch eager fp32 at the same thread count, and achieved GFLOP/s = 2 x MACs / p50. MACs come
from edgekit.stats (torch's FlopCounterMode on the zoo model), never typed in. Artifacts are
exported once with edgekit.export (random weights: latency does not depend on weight values; int8
is calibrated on real photos from ../shared/data/imagenet-sample-200) and reused.

The run is resumable and filterable: every finished cell is saved to benchmarks/results/
latency.json at once, a second run skips cells already there (--force redoes them; a failed
export or run is saved with its error and retried only with --retry-failed), and --models /
--targets / --precisions / --threads pick a part of the table. The markdown table
(latency.md) is rebuilt from all saved cells after every cell.

On a machine shared with other work, wall-clock latency includes time the core was given to
other processes; with 1 thread the inference runs on the calling thread, so its CPU time
(thread_cpu_p50_ms) is also recorded as a load-independent figure, and the 1-minute load average
is saved with each cell.

    python -m benchmarks.latency_table --models mobilenet_v3_small efficientnet_lite0 --targets tflite executorch
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from .artifacts import REPO, ensure_artifact
from .output import stamp, write_pair

RESULTS = REPO / "benchmarks" / "results"
JSON_PATH, MD_PATH = RESULTS / "latency.json", RESULTS / "latency.md"
TARGETS = ("tflite", "executorch", "onnx", "coreml")
PRECISIONS = ("fp32", "int8")
CALIB = REPO.parent / "shared" / "data" / "imagenet-sample-200"


def key(c: dict) -> str:
    return f"{c['model']}|{c['target']}|{c['precision']}|{c['threads']}"


def load_cells() -> dict:
    if JSON_PATH.is_file():
        doc = json.loads(JSON_PATH.read_text())
        return {key(c): c for c in doc.get("cells", [])}
    return {}


def order(c: dict) -> tuple:
    return (c["model"], c["target"] != "torch", c["target"], c["precision"], c["threads"])


def save(cells: dict, host: dict) -> None:
    ordered = sorted(cells.values(), key=order)
    doc = {"benchmark": "latency_table", "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": host,
           "method": "p50 of edgekit.load(artifact, threads).run(x) on one random 1x3xHxW float image after warm-up; "
                     "torch rows: PyTorch eager fp32 under inference_mode with torch.set_num_threads(threads)",
           "cells": ordered}
    write_pair(JSON_PATH, MD_PATH, doc, markdown(ordered, host), host=host)


def markdown(cells: list, host: dict) -> str:
    lines = ["# Latency table: zoo model x target x precision x threads", "",
             f"Machine: {host['cpu']}, {host['cores']} cores, {host['os']} {host['machine']}. Batch 1, random weights, "
             "p50 of timed runs after warm-up. speed-up: PyTorch eager fp32 p50 / this p50 at the same thread count. "
             "GFLOP/s: 2 x MACs / p50. min: fastest timed run (least disturbed by other load). (cpu) columns use cpu p50. cpu p50 (1 thread only): CPU time of the calling thread, which does not count time "
             "the core spent on other processes; load: 1-minute load average when the cell was measured (this machine is "
             "shared; wall-clock numbers above ~1.0 load are inflated). 2-thread rows need an idle machine: with every core busy, "
             "a second worker thread mostly waits for a core (PyTorch eager's spinning pool worst of all), so their "
             "speed-ups say little when the load column is high.", "",
             "measured: when the cell was measured and the int8-relevant ISA of that machine (cells from before the "
             "ISA was recorded say so).", "",
             "| model | target | precision | threads | p50 ms | min ms | cpu p50 ms | speed-up vs eager fp32 | speed-up (cpu) | GFLOP/s | GFLOP/s (cpu) | MACs (G) | size MiB | load | measured | note |",
             "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|"]
    eager = {(c["model"], c["threads"]): c for c in cells if c["target"] == "torch" and "p50_ms" in c}
    for c in cells:
        if "error" in c:
            lines.append(f"| {c['model']} | {c['target']} | {c['precision']} | {c['threads']} | - | - | - | - | - | - | - | - | - | - | "
                         f"{_measured(c)} | failed: {c['error'][:160].replace('|', '/')} |")
            continue
        base = eager.get((c["model"], c["threads"]))
        speed = base["p50_ms"] / c["p50_ms"] if base else None
        cpu = c.get("thread_cpu_p50_ms")
        size = "-" if c.get("size_bytes") is None else f"{c['size_bytes'] / 2**20:.1f}"
        cpu_s = "-" if cpu is None or c["threads"] != 1 else f"{cpu:.2f}"
        speed_s = "-" if speed is None else f"{speed:.2f}x"
        one = c["threads"] == 1 and cpu and base and base.get("thread_cpu_p50_ms")
        speed_cpu = f"{base['thread_cpu_p50_ms'] / cpu:.2f}x" if one else "-"
        gf_cpu = f"{2.0 * c['macs'] / (cpu / 1e3) / 1e9:.1f}" if c["threads"] == 1 and cpu else "-"
        lines.append(
            f"| {c['model']} | {c['target']} | {c['precision']} | {c['threads']} | {c['p50_ms']:.2f} | {c['min_ms']:.2f} | "
            f"{cpu_s} | {speed_s} | {speed_cpu} | {c['gflops']:.1f} | {gf_cpu} | {c['macs'] / 1e9:.3f} | {size} | "
            f"{c.get('loadavg') or 0:.1f} | {_measured(c)} | {c.get('note', '')} |")
    return "\n".join(lines) + "\n"


def _measured(c: dict) -> str:
    when = (c.get("measured") or "?")[:16].replace("T", " ")
    isa = c.get("isa")
    if not isa:
        return f"{when}, ISA not recorded"
    return f"{when}, {' '.join(isa.get('features') or []) or '?'}"


def time_calls(fn, warmup: int, iters: int, min_seconds: float) -> dict:
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    t_end = time.perf_counter() + min_seconds
    while len(wall) < iters or time.perf_counter() < t_end:
        a, c = time.perf_counter_ns(), time.thread_time_ns()
        fn()
        cpu.append(time.thread_time_ns() - c)
        wall.append(time.perf_counter_ns() - a)
    w, c = np.asarray(wall) / 1e6, np.asarray(cpu) / 1e6
    return {"p50_ms": float(np.median(w)), "p90_ms": float(np.percentile(w, 90)), "min_ms": float(w.min()),
            "count": int(w.size), "thread_cpu_p50_ms": float(np.median(c))}


def eager_cell(model_name: str, threads: int, macs: int, args) -> dict:
    import torch

    from edgekit import zoo

    torch.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = zoo.create_model(model_name).eval()
    size = m.card.input_size
    x = torch.randn(1, 3, size, size)
    with torch.inference_mode():
        t = time_calls(lambda: m(x), args.warmup, args.iters, args.min_seconds)
    return {"model": model_name, "target": "torch", "precision": "fp32", "threads": threads, "runtime": f"torch {torch.__version__}",
            "size_bytes": None, **t}


def artifact_cell(model_name: str, target: str, precision: str, threads: int, args) -> dict:
    import edgekit

    path = ensure_artifact(model_name, target, precision, calib=str(CALIB) if precision == "int8" else None,
                           log=lambda *a, **k: print(*a, **k))
    m = edgekit.load(path, threads=threads)
    try:
        x = np.random.default_rng(0).standard_normal(tuple(1 if d < 0 else d for d in m.inputs[0].shape)).astype(np.float32)
        t = time_calls(lambda: m.run(x), args.warmup, args.iters, args.min_seconds)
        runtime = f"{m.runtime_name} {m.runtime_version}"
    finally:
        m.close()
    from edgekit.files import size_bytes as artifact_size

    return {"model": model_name, "target": target, "precision": precision, "threads": threads, "runtime": runtime,
            "artifact": str(Path(path).relative_to(REPO)), "size_bytes": artifact_size(path), **t}


def pick(names, patterns):
    if not patterns:
        return list(names)
    out = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
    missing = [p for p in patterns if not any(fnmatch.fnmatch(n, p) for n in names)]
    if missing:
        raise SystemExit(f"unknown: {', '.join(missing)} (choose from {', '.join(names)})")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="zoo model x target x precision x threads latency table (resumable)")
    ap.add_argument("--models", nargs="+", help="zoo names or globs (default: all)")
    ap.add_argument("--targets", nargs="+", help=f"of torch (the eager baseline), {', '.join(TARGETS)} (default: all runnable here)")
    ap.add_argument("--precisions", nargs="+", default=list(PRECISIONS))
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--min-seconds", type=float, default=1.0, help="and time at least this long")
    ap.add_argument("--force", action="store_true", help="measure cells that are already saved again")
    ap.add_argument("--retry-failed", action="store_true", help="retry cells saved with an error")
    ap.add_argument("--list", action="store_true", help="print the saved table (and rewrite latency.md) and exit")
    args = ap.parse_args(argv)

    from edgekit import zoo
    from edgekit.bench import host_info

    host = host_info()
    cells = load_cells()
    if args.list:  # also rewrites latency.md from the saved cells
        from edgekit.files import write_text

        saved = json.loads(JSON_PATH.read_text()).get("host") if cells else None
        _, text = stamp({}, markdown(sorted(cells.values(), key=order), saved or host), host=saved or host)
        if cells:
            write_text(MD_PATH, text)
        sys.stdout.write(text)
        return 0
    models = pick(zoo.list_models(), args.models)
    targets = pick(("torch",) + TARGETS, args.targets)
    # the PyTorch eager rows are the baseline of every speed-up: measured when missing, and
    # again under --force only when "torch" is among the targets (or no --targets were given)
    redo_eager = "torch" in targets
    if "torch" in targets:
        targets.remove("torch")
    if "coreml" in targets and sys.platform != "darwin":
        print("coreml: Core ML runs on macOS only: its rows are left out here", file=sys.stderr)
        targets.remove("coreml")

    def todo(c: dict) -> bool:
        old = cells.get(key(c))
        return old is None or args.force or ("error" in old and args.retry_failed)

    for name in models:
        card = zoo.get_card(name)
        macs = int(card.macs)
        for threads in args.threads:
            c = {"model": name, "target": "torch", "precision": "fp32", "threads": threads}
            if key(c) not in cells or (redo_eager and todo(c)):
                print(f"[{name} torch fp32 {threads}T]", file=sys.stderr, flush=True)
                done = eager_cell(name, threads, macs, args)
                cells[key(done)] = finish(done, macs)
                save(cells, host)
        for target in targets:
            for precision in args.precisions:
                for threads in args.threads:
                    c = {"model": name, "target": target, "precision": precision, "threads": threads}
                    if not todo(c):
                        continue
                    print(f"[{name} {target} {precision} {threads}T]", file=sys.stderr, flush=True)
                    try:
                        done = finish(artifact_cell(name, target, precision, threads, args), macs)
                    except Exception as e:  # noqa: BLE001 - one failed cell must not stop the table
                        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                        print(f"  failed: {msg}", file=sys.stderr)
                        if os.environ.get("EDGEKIT_DEBUG"):
                            traceback.print_exc()
                        done = {**c, "error": f"{type(e).__name__}: {msg}"}
                    cells[key(done)] = done
                    save(cells, host)
    sys.stdout.write(MD_PATH.read_text() if MD_PATH.is_file() else "")
    return 0


def finish(cell: dict, macs: int) -> dict:
    cell["macs"] = macs
    cell["gflops"] = 2.0 * macs / (cell["p50_ms"] / 1e3) / 1e9
    cell["loadavg"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    cell["measured"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    from edgekit.bench import cpu_isa

    cell["isa"] = cpu_isa()
    return cell


if __name__ == "__main__":
    sys.exit(main())
