"""int8 fidelity: model x target -> fp32 top-1, int8 top-1, int8-vs-fp32 top-1 agreement, and
export seconds, measured on real photos NOT used for calibration.

    python -m benchmarks.fidelity [--models efficientnet_lite0,resnet18]
        [--targets executorch,tflite,onnx] [--calib-count 100] [--seed 0] [--weights imagenet]

The 200 photos of shared/data/imagenet-sample-200 are split by edgekit's own calibration draw
(`edgekit.calib.load_calibration(count, seed)`, the same draw `edgekit export --calib` makes):
the drawn images calibrate, the others are the evaluation set. Every artifact runs in its own
runtime (ExecuTorch, LiteRT, ONNX Runtime); top-1 is against the ImageNet labels in labels.csv.
Models whose pretrained weights are not available offline are reported as skipped.

Writes benchmarks/results/fidelity.json and fidelity.md and prints the markdown table."""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from .output import write_pair

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PHOTOS = Path(os.environ.get("EDGEKIT_SHARED", REPO.parent / "shared")) / "data" / "imagenet-sample-200"


def _labels(photos: Path) -> dict:
    with open(photos / "labels.csv", newline="") as f:
        return {r["file"]: int(r["class_index"]) for r in csv.DictReader(f)}


def _top1(logits: np.ndarray) -> np.ndarray:
    return np.asarray(logits).reshape(len(logits), -1).argmax(1)


def evaluate(model_name: str, targets: list, args, log) -> list:
    import torch

    import edgekit
    from edgekit import zoo
    from edgekit.calib import load_calibration, load_images
    from edgekit.errors import EdgekitError
    from edgekit.parity import artifact_logits

    try:
        model = zoo.create_model(model_name, weights=args.weights)
    except EdgekitError as e:
        log(f"{model_name}: skipped ({e})")
        return [{"model": model_name, "skipped": str(e)}]
    card = model.card
    if args.input_size:
        from dataclasses import replace

        card = replace(card, input_size=args.input_size, crop=args.input_size,
                       resize=round(args.input_size * card.resize / card.crop))
    spec = card.preprocessing()
    draw = load_calibration(args.photos, spec, count=args.calib_count, seed=args.seed)
    held = draw.rest[: args.eval_count] if args.eval_count else draw.rest
    x = load_images(held, spec)
    labels = _labels(args.photos)
    truth = np.array([labels[p.name] for p in held])
    with torch.no_grad():
        eager = np.concatenate([model(torch.from_numpy(x[i:i + 16])).numpy() for i in range(0, len(x), 16)])
    eager_top1 = float((_top1(eager) == truth).mean())
    log(f"{model_name}: eager top-1 {eager_top1:.1%} on {len(held)} held-out photos")
    rows = []
    for target in targets:
        row = {"model": model_name, "target": target, "input_size": card.input_size, "eval_images": len(held),
               "calib_images": draw.count, "calib_sha256": draw.sha256, "eager_top1": eager_top1}
        with tempfile.TemporaryDirectory(prefix="edgekit-fidelity-") as work:
            try:
                logits = {}
                for precision in ("fp32", "int8"):
                    t0 = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        art = edgekit.export(model_name, target=target, precision=precision, weights=args.weights,
                                             out=work, verify=False, input_size=args.input_size,
                                             calib=args.photos if precision == "int8" else None,
                                             calib_count=args.calib_count, calib_seed=args.seed)
                    row[f"{precision}_export_s"] = round(time.perf_counter() - t0, 2)
                    row[f"{precision}_size_bytes"] = art.size_bytes
                    logits[precision], _ = artifact_logits(str(art.path), target, x)
                    if precision == "int8":
                        q = art.manifest.get("quantization") or {}
                        row["int8_recipe"] = q.get("recipe")
                        row["float_layers"] = q.get("float_layers", [])
                        row["guard_agreement"] = (q.get("guard") or {}).get("agreement")
                row["fp32_top1"] = float((_top1(logits["fp32"]) == truth).mean())
                row["int8_top1"] = float((_top1(logits["int8"]) == truth).mean())
                row["agreement"] = float((_top1(logits["int8"]) == _top1(logits["fp32"])).mean())
                row["top1_drop_points"] = round(100 * (row["fp32_top1"] - row["int8_top1"]), 2)
                row["fp32_max_abs_vs_eager"] = float(np.abs(logits["fp32"] - eager).max())
                log(f"  {target}: fp32 {row['fp32_top1']:.1%}  int8 {row['int8_top1']:.1%}  "
                    f"agreement {row['agreement']:.1%}")
            except Exception as e:  # a failing lowering is a result to report, not a crash
                row["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:300]
                log(f"  {target}: ERROR {row['error']}")
        rows.append(row)
    return rows


def markdown(rows: list, meta: dict) -> str:
    out = [f"# int8 fidelity ({meta['date']})", "",
           f"Photos: {meta['photos']} split by the calibration draw (count {meta['calib_count']}, seed "
           f"{meta['seed']}); evaluation on the held-out photos only. Weights: {meta['weights']}.", "",
           "| model | target | eval imgs | eager top-1 | fp32 top-1 | int8 top-1 | drop (pts) | agreement | "
           "fp32 export s | int8 export s | int8 recipe | kept float |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "skipped" in r:
            out.append(f"| {r['model']} | - | - | - | - | - | - | - | - | - | skipped: {r['skipped']} | |")
        elif "error" in r:
            out.append(f"| {r['model']} | {r['target']} | {r['eval_images']} | {r['eager_top1']:.1%} | "
                       f"{r.get('fp32_top1', '-')} | error | | | {r.get('fp32_export_s', '-')} | "
                       f"{r.get('int8_export_s', '-')} | {r['error']} | |")
        else:
            out.append(f"| {r['model']} | {r['target']} | {r['eval_images']} | {r['eager_top1']:.1%} | "
                       f"{r['fp32_top1']:.1%} | {r['int8_top1']:.1%} | {r['top1_drop_points']:+.1f} | "
                       f"{r['agreement']:.1%} | {r['fp32_export_s']:.1f} | {r['int8_export_s']:.1f} | "
                       f"{r.get('int8_recipe')} | {', '.join(r.get('float_layers') or []) or '-'} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="efficientnet_lite0")
    ap.add_argument("--targets", default="executorch,tflite,onnx")
    ap.add_argument("--weights", default="imagenet")
    ap.add_argument("--calib-count", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-count", type=int, default=0, help="0: every held-out photo")
    ap.add_argument("--input-size", type=int, default=None)
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="fidelity", help="result file stem")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    rows = []
    for m in [s for s in args.models.split(",") if s]:
        rows += evaluate(m, [t for t in args.targets.split(",") if t], args, log)
    from importlib import metadata

    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "photos": args.photos.name,
            "calib_count": args.calib_count, "seed": args.seed, "weights": args.weights,
            "machine": f"{platform.machine()} {os.cpu_count()} cpus", "versions": {
                p: metadata.version(p) for p in ("torch", "executorch", "litert-torch", "onnxruntime")}}
    write_pair(args.out / f"{args.name}.json", args.out / f"{args.name}.md", {"meta": meta, "rows": rows},
               markdown(rows, meta), echo=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
