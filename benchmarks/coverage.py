"""Coverage matrix: ~60 edge-class image classifiers x the four targets (fp32) and static int8
(ExecuTorch, TFLite, ONNX), measured through edgekit's public API.

Per cell: exported or the one-line error; export seconds; size; parity against PyTorch eager on
the shared photos (max abs error, cosine, top-1 agreement); latency p50 at 1 thread; for
ExecuTorch the nodes delegated to XNNPACK and those left to portable kernels; for Core ML
whether it converted (it cannot run off Apple platforms).

Weights: random (seed 0) with BatchNorm statistics re-estimated on the shared photos, so
activations have the ranges of real images; the zoo's EfficientNet-Lite0 uses its real ImageNet
weights; one user checkpoint (a 10-class MobileNetV3-Small state dict) stands for fine-tuned
models. With random weights, top-1 agreement of int8 is a near coin toss on near-uniform logits,
so an int8 cell passes on cosine >= INT8_MIN_COSINE; the accuracy guard measures and records its
agreement but searches for float layers only on real weights (--max-float-layers 0 otherwise).

The whole matrix takes hours on 2 cores. It is resumable (cells in the results file are skipped;
--redo measures them again) and splittable (--only, --targets, --shard I/N); results merge.

    python -m benchmarks.coverage [--only SPEC,SPEC] [--targets executorch,tflite:int8,...]
        [--shard 1/4] [--redo] [--results DIR] [--list]
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .output import RESULTS
from .photos import PHOTOS, bn_recalibrate

NAME = "coverage"
CHECKPOINT = "checkpoint:mobilenet_v3_small-10"   # a user's 10-class fine-tuned torchvision model
INT8_MIN_COSINE = 0.95
VERIFY_COUNT = 32
LATENCY_ITERS = 20
CELLS = (("executorch", "fp32"), ("tflite", "fp32"), ("coreml", "fp32"), ("onnx", "fp32"),
         ("executorch", "int8"), ("tflite", "int8"), ("onnx", "int8"))

TORCHVISION = [
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0",
    "mnasnet1_3", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "squeezenet1_0", "squeezenet1_1", "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_v2_s", "regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_y_400mf", "regnet_y_800mf",
    "regnet_y_1_6gf", "resnet18", "resnet34", "resnet50", "resnext50_32x4d", "googlenet", "densenet121",
    "convnext_tiny",
]
TIMM = [
    "mobilenetv4_conv_small", "mobilenetv4_conv_medium", "mobilenetv2_100", "mobilenetv3_large_100", "ghostnet_100",
    "lcnet_100", "mobileone_s0", "repvit_m1", "fastvit_t8", "efficientvit_b0", "tinynet_a", "tinynet_b",
    "hardcorenas_a", "mixnet_s", "rexnet_100", "edgenext_xx_small", "mobilevit_xs", "mobilevitv2_050", "levit_128s",
    "tf_efficientnet_lite0", "fbnetc_100", "semnasnet_100", "spnasnet_100", "efficientformerv2_s0", "regnetx_002",
    "resnet10t", "ese_vovnet19b_dw",
]
MODELS = [f"torchvision:{n}" for n in TORCHVISION] + [f"timm:{n}" for n in TIMM] + ["efficientnet_lite0", CHECKPOINT]


def cell_key(spec: str, target: str, precision: str) -> str:
    return f"{spec}|{target}|{precision}"


def parse_cells(text: str) -> list:
    """"executorch,tflite:int8" -> the matching (target, precision) cells."""
    if not text:
        return list(CELLS)
    out = []
    for part in text.split(","):
        target, _, prec = part.partition(":")
        hit = [c for c in CELLS if c[0] == target and (not prec or c[1] == prec)]
        if not hit:
            raise SystemExit(f"unknown cell {part!r}: targets {', '.join(sorted({c[0] for c in CELLS}))}, "
                             f"precisions fp32, int8")
        out += hit
    return out


def photos(count: int, seed: int, preprocessing: dict) -> np.ndarray:
    from edgekit.calib import load_verify_images

    return load_verify_images(PHOTOS, preprocessing, count=count, seed=seed).arrays


def build_model(spec: str, workdir: Path):
    """(module with BN statistics from the photos, weights note, real weights?). The checkpoint row saves a
    10-class torchvision state dict the way a training script does and loads it back by file."""
    import torch

    from edgekit import zoo

    torch.manual_seed(0)
    if spec == CHECKPOINT:
        import torchvision

        ckpt = workdir / "my_finetuned_mobilenet_v3_small.pth"
        torch.save(torchvision.models.mobilenet_v3_small(num_classes=10).state_dict(), ckpt)
        labels = [f"class_{i}" for i in range(10)]
        model = zoo.create_model("torchvision:mobilenet_v3_small", weights=str(ckpt), labels=labels)
        note = "user checkpoint, 10 classes"
    elif spec == "efficientnet_lite0" and _has_real_weights():
        return zoo.create_model(spec, weights="imagenet").eval(), "real ImageNet weights", True
    else:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = zoo.create_model(spec)
        note = "random (seed 0)"
    prep = model.card.preprocessing()
    bn_recalibrate(model, photos(100, 1, prep))
    return model.eval(), note + ", BN stats from the photos", False


def _has_real_weights() -> bool:
    from edgekit.weights import PackageSource
    from edgekit.zoo import resolve_entry

    return any(isinstance(s, PackageSource) and s.local_file() for s in resolve_entry("efficientnet_lite0").weights["imagenet"])


def measure_cell(model, spec: str, target: str, precision: str, workdir: Path, input_size=None,
                 calib_count: int = 100, verify_count: int = VERIFY_COUNT, real: bool = False) -> dict:
    from edgekit import export
    from edgekit.bench import bench_artifact
    from edgekit.errors import EdgekitError, first_line

    out = workdir / f"{target}_{precision}"
    row = {"model": spec, "target": target, "precision": precision, "verify_count": verify_count,
           "input_size": input_size or model.card.input_size}
    kwargs = dict(target=target, precision=precision, card=model.card, out=out, strict=False,
                  verify_images=PHOTOS, verify_count=verify_count, input_size=input_size)
    if precision == "int8":
        kwargs.update(calib=PHOTOS, quant="static", calib_count=calib_count)
        row["calib_count"] = calib_count
        if not real:
            # random weights: logits are near-uniform, so the guard's top-1 search would only chase
            # coin tosses through every layer; it measures and records its agreement instead
            kwargs["max_float_layers"] = 0
    t = time.perf_counter()
    try:
        art = export(model, **kwargs)
    except EdgekitError as e:
        row.update(exported=False, error=f"{type(e).__name__}: {first_line(e)}",
                   export_s=round(time.perf_counter() - t, 1))
        return row
    except Exception as e:  # a converter crash edgekit did not turn into a one-line error: recorded as such
        row.update(exported=False, error=f"unhandled {type(e).__name__}: {first_line(e)}",
                   export_s=round(time.perf_counter() - t, 1))
        return row
    m = art.manifest
    p = art.parity
    row.update(exported=True, export_s=round(art.export_seconds, 1), size_bytes=art.size_bytes,
               parity_status=p.get("status"), max_abs_error=p.get("max_abs_error"), cosine=p.get("cosine"),
               top1_agreement=p.get("top1_agreement"))
    q = m.get("quantization") or {}
    if q:
        row["guard_agreement"] = (q.get("guard") or {}).get("agreement", q.get("agreement"))
        row["float_layers"] = len(q.get("float_layers") or [])
    d = m["target"].get("delegation")
    if d:
        row.update(delegated_nodes=d["delegated_nodes"], portable_nodes=d["portable_nodes"],
                   portable_ops=d["portable_ops"])
    row["passed"] = _passed(row, precision)
    if target != "coreml":
        try:
            r = bench_artifact(art.path, threads=1, warmup=3, iters=LATENCY_ITERS, keep_samples=False)
            row["latency_p50_ms"] = round(r["latency_ms"]["p50"], 3)
        except Exception as e:
            row["latency_error"] = f"{type(e).__name__}: {first_line(e)}"
    return row


def _passed(row: dict, precision: str):
    if row["target"] == "coreml":
        return row["exported"]           # converted; parity needs macOS
    if row.get("parity_status") not in ("passed", "failed"):
        return None
    if precision == "int8":
        return (row.get("cosine") or 0) >= INT8_MIN_COSINE
    return row["parity_status"] == "passed"


def load_results(path: Path) -> dict:
    if path.is_file():
        doc = json.loads(path.read_text())
        return {cell_key(r["model"], r["target"], r["precision"]): r for r in doc.get("rows", [])}
    return {}


def summary(rows: dict, models: list) -> list:
    """One line per target, over the fixed model list."""
    n = len(models)
    lines = []
    for target, precision in CELLS:
        cells = [rows.get(cell_key(m, target, precision)) for m in models]
        measured = [c for c in cells if c is not None]
        ok = sum(1 for c in measured if c.get("passed"))
        exported = sum(1 for c in measured if c.get("exported"))
        what = "convert" if target == "coreml" else "export with parity"
        if precision == "int8":
            what = f"export with cosine >= {INT8_MIN_COSINE}"
        full = ""
        if target == "executorch":
            full = f", {sum(1 for c in measured if c.get('exported') and c.get('portable_nodes') == 0)} fully delegated"
        lines.append(f"{precision} {target}: {ok}/{n} {what} ({exported} exported{full}; "
                     f"{len(measured)}/{n} measured)")
    return lines


def write(rows: dict, models: list, results_dir: Path) -> None:
    from edgekit.bench.system import host_info
    from edgekit.files import write_text

    ordered = [rows[k] for k in sorted(rows)]
    doc = {"benchmark": NAME, "host": host_info(), "models": models, "cells": [list(c) for c in CELLS],
           "int8_min_cosine": INT8_MIN_COSINE, "verify_count": VERIFY_COUNT, "summary": summary(rows, models),
           "rows": ordered}
    md = ["# Coverage matrix", "", "Generated by `python -m benchmarks.coverage` (see its docstring for the method).",
          "", *[f"- {s}" for s in doc["summary"]], "",
          "| model | " + " | ".join(f"{t} {p}" for t, p in CELLS) + " |",
          "|---|" + "---|" * len(CELLS)]
    for m in models:
        md.append(f"| {m} | " + " | ".join(_md_cell(rows.get(cell_key(m, t, p))) for t, p in CELLS) + " |")
    failures = [r for r in ordered if not r.get("exported")]
    if failures:
        md += ["", "## Failures", ""] + [f"- {r['model']} {r['target']} {r['precision']}: {r['error']}" for r in failures]
    results_dir.mkdir(parents=True, exist_ok=True)
    write_text(results_dir / f"{NAME}.json", json.dumps(doc, indent=1) + "\n")
    write_text(results_dir / f"{NAME}.md", "\n".join(md) + "\n")


def _md_cell(r) -> str:
    if r is None:
        return "not measured"
    if not r.get("exported"):
        return "FAIL"
    mark = {True: "ok", False: "parity FAIL", None: "converted"}[r.get("passed")]
    bits = [mark]
    if r.get("cosine") is not None:
        bits.append(f"cos {r['cosine']:.4f}")
    if r.get("latency_p50_ms") is not None:
        bits.append(f"{r['latency_p50_ms']:.1f} ms")
    if r.get("portable_nodes"):
        bits.append(f"{r['portable_nodes']} portable")
    return ", ".join(bits)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="comma-separated model specs (default: the fixed list)")
    ap.add_argument("--targets", default="", help="cells, e.g. executorch,tflite:int8 (default: all seven)")
    ap.add_argument("--shard", default="1/1", help="I/N: every N-th model starting at the I-th")
    ap.add_argument("--redo", action="store_true", help="measure cells already in the results again")
    ap.add_argument("--results", default=str(RESULTS), help="results folder (default benchmarks/results)")
    ap.add_argument("--list", action="store_true", help="print the model list and exit")
    ap.add_argument("--calib-count", type=int, default=100, help="int8 calibration photos (default 100)")
    ap.add_argument("--verify-count", type=int, default=VERIFY_COUNT, help=f"parity photos (default {VERIFY_COUNT})")
    ap.add_argument("--input-size", type=int, default=None,
                    help="override every card's input size (quick slices in tests; the committed matrix uses none)")
    args = ap.parse_args(argv)
    if args.list:
        print("\n".join(MODELS))
        return 0
    models = [m for m in args.only.split(",") if m] or MODELS
    listed = MODELS if set(models) <= set(MODELS) else models   # the table's rows: the fixed list, or a slice
    i, _, n = args.shard.partition("/")
    models = models[int(i) - 1::int(n)]
    cells = parse_cells(args.targets)
    results_dir = Path(args.results)
    rows = load_results(results_dir / f"{NAME}.json")
    for spec in models:
        todo = [c for c in cells if args.redo or cell_key(spec, *c) not in rows]
        if not todo:
            continue
        work = Path(tempfile.mkdtemp(prefix="edgekit-coverage-"))
        try:
            try:
                model, note, real = build_model(spec, work)
            except Exception as e:
                from edgekit.errors import first_line

                for t, p in todo:
                    rows[cell_key(spec, t, p)] = {"model": spec, "target": t, "precision": p, "exported": False,
                                                  "error": f"build: {type(e).__name__}: {first_line(e)}"}
                write(rows, listed, results_dir)
                continue
            for t, p in todo:
                row = measure_cell(model, spec, t, p, work, args.input_size, args.calib_count, args.verify_count,
                                   real)
                row["weights"] = note
                rows[cell_key(spec, t, p)] = row
                print(json.dumps({k: row.get(k) for k in ("model", "target", "precision", "passed", "export_s",
                                                         "cosine", "latency_p50_ms", "error")}), flush=True)
                write(rows, listed, results_dir)       # after every cell: a killed run loses one cell
        finally:
            shutil.rmtree(work, ignore_errors=True)
    for line in summary(rows, listed):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
