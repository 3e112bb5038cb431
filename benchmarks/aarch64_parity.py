"""Parity on ARM kernels: fp32 / fp16 / int8 artifacts run in the aarch64 environment
(scripts/aarch64-env.sh: arm64 Python under qemu-user, the aarch64 wheels of LiteRT and ONNX
Runtime) and compared with the same artifact on this x86 machine and with PyTorch eager.

    python -m benchmarks.aarch64_parity [--models efficientnet_lite0,mobilenet_v3_small,resnet18]
        [--targets tflite,onnx] [--precisions fp32,fp16,int8] [--n 200] [--n-model resnet18=40]

Models: EfficientNet-Lite0 with real ImageNet weights; the others random init (seed 0) with
BatchNorm statistics re-estimated on the calibration photos (their ImageNet weights need a
network). int8: static PT2E through `edgekit.export` (calibration: the export split's 100 photos,
seed 0). Inputs: the first N of the 200 shared photos (sorted), preprocessed once here; x86 and
eager run on the same N. Emulated timings are recorded only to size runs: they are not latency.

Writes benchmarks/results/aarch64_parity.json and .md and prints the markdown table."""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .output import RESULTS, write_results
from .photos import PHOTOS, bn_recalibrate, build, fp32_margin, photo_split

TMP = RESULTS / "tmp" / "aarch64"
PRECISIONS = {"tflite": ("fp32", "fp16", "int8"), "onnx": ("fp32", "int8"), "executorch": ("fp32", "int8")}


def _model(name: str, calib_x):
    m, spec, note = build(name)
    if not name.startswith("efficientnet_lite"):
        m = bn_recalibrate(m, calib_x)
    return m, note


def _export(name, module, target, precision, calib_dir, log):
    import edgekit

    out = TMP / f"{name}-{target}-{precision}"
    found = sorted(p for p in out.glob("*") if p.suffix in (".tflite", ".onnx", ".pte"))
    if found and Path(str(found[0]) + ".json").is_file():
        return found[0], None
    out.mkdir(parents=True, exist_ok=True)
    log(f"exporting {name} -> {target} {precision} ...")
    t = time.perf_counter()
    kw = {"calib": str(calib_dir)} if precision == "int8" else {}
    if precision == "int8" and not name.startswith("efficientnet_lite"):
        kw["max_float_layers"] = 0  # random weights: the accuracy guard would keep float layers for nothing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        art = edgekit.export(module, card=module.card, target=target, precision=precision, out=str(out),
                             verify=False, **kw)
    return Path(art.path), time.perf_counter() - t


def _top1(y):
    return np.asarray(y).argmax(1)


def _flips(ref, a, b):
    """Inputs where a and b disagree on top-1, with ref's top-1 margin there (the evidence that a
    flip is a near-tie, not a broken kernel)."""
    idx = np.nonzero(_top1(a) != _top1(b))[0]
    margin = fp32_margin(ref)
    return [{"input": int(i), "top1_a": int(_top1(a)[i]), "top1_b": int(_top1(b)[i]),
             "eager_margin": round(float(margin[i]), 4)} for i in idx]


def main(argv=None) -> int:
    from edgekit.isa import isa_logits
    from edgekit.parity import artifact_logits, eager_logits, metrics
    from edgekit.preprocess import batch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="efficientnet_lite0,mobilenet_v3_small,resnet18")
    ap.add_argument("--targets", default="tflite,onnx")
    ap.add_argument("--precisions", default="fp32,fp16,int8")
    ap.add_argument("--n", type=int, default=200, help="photos per artifact on aarch64 (first N of the sorted 200)")
    ap.add_argument("--n-model", action="append", default=[], metavar="MODEL=N", help="per-model N (emulation is slow)")
    ap.add_argument("--out", default="aarch64_parity")
    ap.add_argument("--append", action="store_true",
                    help="keep the rows already in the results file (a row of the same model, target, precision and n is replaced)")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    n_model = {k: int(v) for k, v in (s.split("=") for s in args.n_model)}
    cal, _, labels = photo_split("export")
    files = sorted(labels)
    rows, arm_host = [], None
    if args.append and (RESULTS / f"{args.out}.json").is_file():
        import json

        old = json.loads((RESULTS / f"{args.out}.json").read_text())
        rows, arm_host = old["results"], old["aarch64_host"]
    for name in args.models.split(","):
        n = n_model.get(name, args.n)
        module = None
        for target in args.targets.split(","):
            for precision in args.precisions.split(","):
                if precision not in PRECISIONS[target]:
                    continue
                if module is None:
                    from edgekit.zoo import get_card

                    spec = get_card(name).preprocessing("NCHW")
                    calib_x = batch([PHOTOS / f for f in cal], spec)
                    module, note = _model(name, calib_x)
                    x = batch([PHOTOS / f for f in files[:n]], spec)
                    truth = np.array([labels[f] for f in files[:n]])
                    ref = eager_logits(module, x)
                art, export_s = _export(name, module, target, precision, PHOTOS, log)
                fmt = "onnx" if art.suffix == ".onnx" else "executorch" if art.suffix == ".pte" else "tflite"
                x86, x86_rt = artifact_logits(str(art), fmt, x)
                log(f"{art.name}: running {n} photos on aarch64 (emulated) ...")
                t = time.perf_counter()
                arm, remote = isa_logits(art, fmt, x)
                wall = time.perf_counter() - t
                arm_host = remote["host"]
                row = {
                    "model": name, "weights": note, "target": target, "precision": precision, "artifact": art.name,
                    "n": n, "runtime_x86": x86_rt, "runtime_arm": f"{remote['runtime']} {remote['runtime_version']}",
                    "arm_vs_x86": metrics(x86, arm), "arm_vs_eager": metrics(ref, arm), "x86_vs_eager": metrics(ref, x86),
                    "top1": {"eager": float((_top1(ref) == truth).mean()), "x86": float((_top1(x86) == truth).mean()),
                             "arm": float((_top1(arm) == truth).mean())} if name.startswith("efficientnet_lite") else None,
                    "flips_arm_vs_x86": _flips(ref, arm, x86),
                    "identical_outputs": bool(np.array_equal(arm, x86)),
                    "emulated_seconds_per_photo": round(remote["seconds"] / n, 3), "wall_seconds": round(wall, 1),
                    "export_seconds": None if export_s is None else round(export_s, 1),
                }
                key = lambda r: (r["model"], r["target"], r["precision"], r["n"])  # noqa: E731
                rows = [r for r in rows if key(r) != key(row)] + [row]
                _save(args.out, rows, arm_host, quiet=True)  # a run cut short keeps what it measured
                log(f"  arm vs x86: top-1 {row['arm_vs_x86']['top1_agreement']:.3f}, max abs "
                    f"{row['arm_vs_x86']['max_abs_error']:.2e}; {row['emulated_seconds_per_photo']} s/photo emulated")
    _save(args.out, rows, arm_host)
    return 0


def _save(name, rows, arm_host, quiet=False):
    from edgekit.bench import host_info

    doc = {"benchmark": "aarch64_parity", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "x86_host": host_info(), "aarch64_host": arm_host, "photos": str(PHOTOS), "results": rows,
           "note": "aarch64 runs are emulated (qemu-user): real ARM kernel results; their timings are not latency"}
    if quiet:
        import json

        from edgekit.files import write_text

        RESULTS.mkdir(parents=True, exist_ok=True)
        write_text(RESULTS / f"{name}.json", json.dumps(doc, indent=2) + "\n")
        write_text(RESULTS / f"{name}.md", "\n".join(_markdown(doc)) + "\n")
    else:
        write_results(name, doc, _markdown(doc))


def _top1_cell(t) -> str:
    return "-" if t is None else f"{t['eager']:.1%} / {t['x86']:.1%} / {t['arm']:.1%}"


def _markdown(doc) -> list:
    a = doc["aarch64_host"] or {}
    emu = a.get("emulation") or {}
    lines = ["# Parity on aarch64 kernels (emulated)", "",
             f"aarch64: {a.get('machine')} under {emu.get('by', '?')}, CPU model {emu.get('cpu_model', '?')} "
             f"(features seen: {' '.join(a.get('cpu_features') or []) or '-'}), Python {a.get('python')}, numpy {a.get('numpy')}; "
             f"x86: {doc['x86_host']['cpu']} ({' '.join(doc['x86_host'].get('cpu_features') or [])}). {doc['note']}.", "",
             "| model | target | precision | n | ARM vs x86: top-1 / max abs / cos | ARM vs eager: top-1 / max abs / cos | "
             "x86 vs eager: top-1 | top-1 eager / x86 / ARM | identical | s/photo (emulated) |",
             "|---|---|---|--:|---|---|--:|---|---|--:|"]
    for r in doc["results"]:
        ax, ae, xe = r["arm_vs_x86"], r["arm_vs_eager"], r["x86_vs_eager"]
        t = r["top1"]
        lines.append(
            f"| {r['model']} | {r['target']} | {r['precision']} | {r['n']} | {ax['top1_agreement']:.1%} / "
            f"{ax['max_abs_error']:.2e} / {ax['cosine']:.6f} | {ae['top1_agreement']:.1%} / {ae['max_abs_error']:.2e} / "
            f"{ae['cosine']:.6f} | {xe['top1_agreement']:.1%} | "
            f"{_top1_cell(t)} | "
            f"{'yes' if r['identical_outputs'] else 'no'} | {r['emulated_seconds_per_photo']:.2f} |")
    flips = [(r, f) for r in doc["results"] for f in r["flips_arm_vs_x86"]]
    if flips:
        lines += ["", "Top-1 flips ARM vs x86 (input index, ARM / x86 class, eager top-1 margin):"]
        lines += [f"- {r['model']} {r['target']} {r['precision']}: input {f['input']}, {f['top1_a']} / {f['top1_b']}, "
                  f"margin {f['eager_margin']}" for r, f in flips]
    weights = sorted({f"{r['model']}: {r['weights']}" for r in doc["results"]})
    lines += ["", "Weights: " + "; ".join(weights) + "."]
    return lines


if __name__ == "__main__":
    sys.exit(main())
