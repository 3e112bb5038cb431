"""`edgekit export MODEL --target executorch|tflite|coreml|onnx|all --precision fp32|fp16|int8 ...`"""
from __future__ import annotations

import argparse
import json
import sys


def _target_choices() -> tuple:
    from ..formats import target_names

    return (*target_names(), "all")


def register(sub) -> None:
    p = sub.add_parser("export", help="export a model to ExecuTorch, TFLite, Core ML or ONNX",
                       description="Capture MODEL once with torch.export, lower it to the target(s), check parity "
                                   "against PyTorch on real inputs, and write ARTIFACT + ARTIFACT.json (manifest).")
    p.add_argument("model", help="a zoo name (`edgekit zoo`), torchvision:NAME, timm:NAME "
                                 "(`edgekit zoo --source timm --filter TEXT`), or a torch.export program FILE.pt2")
    p.add_argument("--target", "-t", default="tflite", metavar="TARGET",
                   help=f"one of {', '.join(_target_choices())} (default: tflite)")
    p.add_argument("--precision", "-p", default=None, metavar="P",
                   help="fp32 | fp16 | int8 (default: fp16 for coreml, fp32 elsewhere)")
    p.add_argument("--quant", default=None, metavar="MODE",
                   help="int8 flavour: static (default; full integer, needs --calib) | dynamic (dynamic-range, "
                        "tflite) | weight (weight-only, tflite/coreml)")
    p.add_argument("--int8-io", action="store_true",
                   help="tflite static int8: int8 input/output tensors (default: float in, float out)")
    from ..quant.recipe import MAX_FLOAT_LAYERS, MIN_AGREEMENT

    p.add_argument("--min-agreement", type=float, default=MIN_AGREEMENT, metavar="A",
                   help="static int8 accuracy guard: top-1 agreement with float wanted on held-out calibration "
                        f"images (default {MIN_AGREEMENT})")
    p.add_argument("--max-float-layers", type=int, default=MAX_FLOAT_LAYERS, metavar="N",
                   help=f"static int8: layers the guard may keep in float to reach it (default {MAX_FLOAT_LAYERS}; "
                        "0: only measure)")
    p.add_argument("--weights", "-w", default=None,
                   help="'imagenet', another pretrained tag, or a state-dict file (.pth/.pt/.safetensors)")
    m = p.add_argument_group("model card (what the source's metadata says, unless given)")
    m.add_argument("--num-classes", type=int, default=None, metavar="N",
                   help="classes of the head (default: the checkpoint's head width, else the model's)")
    m.add_argument("--labels", default=None, metavar="FILE", help="class names: .txt (one per line) or .json")
    m.add_argument("--card", default=None, metavar="FILE.json", help="a .pt2 program's card (input_size, resize, "
                                                                       "mean, std, interpolation, labels)")
    m.add_argument("--resize", type=int, default=None, metavar="PX", help="resize the shorter side to PX, then crop")
    m.add_argument("--mean", type=_floats3, default=None, metavar="R,G,B", help="normalisation mean (0..1 pixels)")
    m.add_argument("--std", type=_floats3, default=None, metavar="R,G,B", help="normalisation std")
    from ..card import INTERPOLATIONS

    m.add_argument("--interpolation", choices=INTERPOLATIONS, default=None, help="resize interpolation")
    p.add_argument("--calib", default=None, metavar="DIR", help="calibration images (jpg/png/webp, recursive)")
    p.add_argument("--calib-count", type=int, default=100, metavar="N", help="calibration images drawn (default 100)")
    p.add_argument("--calib-seed", type=int, default=0, metavar="S", help="seed of the calibration draw (default 0)")
    p.add_argument("--out", "-o", default="out", metavar="DIR", help="output folder (default: out)")
    p.add_argument("--layout", default="nchw", metavar="L", help="input layout nchw | nhwc (default nchw)")
    p.add_argument("--input-size", type=int, default=None, metavar="PX",
                   help="override the card's input size (smaller = faster; the crop follows)")
    p.add_argument("--no-verify", action="store_true", help="skip the parity check")
    p.add_argument("--verify-images", default=None, metavar="DIR",
                   help="photos for the parity check (default: --calib images not used for calibration, "
                        "else random inputs)")
    p.add_argument("--verify-count", type=int, default=8, metavar="N", help="inputs for the parity check (default 8)")
    p.add_argument("--bundle", default=None, metavar="APP_DIR",
                   help="also copy the artifact, manifest and golden vectors into a demo app "
                        "(android_demo: tflite/executorch; ios_demo: coreml), see edgekit/bundle.py")
    p.add_argument("--bundle-photo", default=None, metavar="IMAGE",
                   help="photo for the --bundle golden vectors (default: edgekit's fixed synthetic photo)")
    p.add_argument("--trainable-head", action="store_true",
                   help="also write the backbone (image -> embedding), a head training program in the same format "
                        "and the head weights (.npz), for `edgekit tune` / on-device training (executorch, tflite, coreml)")
    p.add_argument("--max-classes", type=int, default=100, metavar="N",
                   help="--trainable-head: classes the training program can hold (default 100)")
    p.add_argument("--train-batch", type=int, default=32, metavar="B",
                   help="--trainable-head: batch size of the training program (default 32)")
    add_output_options(p)
    p.set_defaults(func=run)


def add_output_options(p) -> None:
    """-v, --json and --report: what the export shows and writes besides the artifacts."""
    o = p.add_argument_group("output")
    o.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="also show the converters' and runtimes' own output live (it always goes to "
                        "OUT/edgekit-export.log) and full tracebacks")
    o.add_argument("--json", action="store_true",
                   help="print one JSON document (the manifests, paths and the log file) on stdout and nothing else")
    o.add_argument("--report", action="store_true", help="also write OUT/report.html (see `edgekit report`)")


def _floats3(text: str) -> tuple:
    import argparse

    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 3:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers R,G,B, got {text!r}")
    return vals


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _portable_share(path) -> str:
    """What the ops left outside XNNPACK cost, from ExecuTorch's own profiler (one line)."""
    from ..bench.op_profile import executorch_op_times
    from ..errors import first_line

    from ..converter_log import ConverterLog

    runtime_lines = ConverterLog()  # the runtime's own lines (cpuinfo) stay off the terminal
    try:
        with runtime_lines:
            t = executorch_op_times(path)
    except Exception as e:  # profiling is a diagnosis: its failure must not fail the export
        return f"portable kernels' share of the latency: not measured ({type(e).__name__}: {first_line(e, 120)})"
    finally:
        runtime_lines.discard()
    ops = ", ".join(f"{op} {ms:.2f} ms" for op, ms in list(t["portable_ops"].items())[:4])
    share = f"{t['portable_fraction']:.0%}" if t["portable_fraction"] is not None else "?"
    return f"portable kernels take {t['portable_ms']:.2f} ms of {t['method_ms']:.2f} ms per call ({share}): {ops}"


def _parity_cell(parity: dict) -> str:
    st = parity.get("status")
    if st == "not_run":
        return f"not run: {parity.get('reason', '')}"
    cell = f"{st} top1 {parity.get('top1_agreement', 0):.0%} maxabs {parity.get('max_abs_error', 0):.1e}"
    return cell


def _print_one(a) -> None:
    m = a.manifest
    print(f"wrote {a.path} ({_size(a.size_bytes)}) and {a.path.name}.json")
    print(f"  {m['target']['name']} {m['precision']}"
          + (f" [{m['quantization']['recipe']}]" if m.get("quantization") else "")
          + f", input {m['inputs'][0]['dtype']}{m['inputs'][0]['shape']} {m['inputs'][0].get('layout')}"
          + f", export {a.export_seconds:.1f} s")
    d = m["target"].get("delegation")
    if d:
        left = ", ".join(f"{k} x{v}" for k, v in d["portable_ops"].items()) or "none"
        print(f"  XNNPACK: {d['delegated_nodes']} nodes in {d['delegate_calls']} delegate call(s); "
              f"left to portable kernels: {d['portable_nodes']} ({left})")
        if d["portable_nodes"]:
            print(f"  {_portable_share(a.path)}")
    p = a.parity
    if p["status"] == "not_run":
        print(f"  parity: not run: {p.get('reason', '')}")
    else:
        print(f"  parity: {p['status'].upper()} on {p.get('inputs', '')} via {p.get('runtime', '')}: "
              f"top-1 agreement {p['top1_agreement']:.1%}, top-5 overlap {p['top5_overlap']:.1%}, "
              f"max abs error {p['max_abs_error']:.2e}, min cosine {p['cosine']:.6f}"
              + (f" ({p['reason']})" if p.get("reason") else ""))


def _print_table(arts) -> None:
    rows = [("target", "precision", "size", "parity", "export s", "file")]
    for a in arts:
        rows.append((a.target, a.manifest["target"]["details"].get("variant", a.precision), _size(a.size_bytes),
                     _parity_cell(a.parity), f"{a.export_seconds:.1f}", a.path.name))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def run(args) -> int:
    from ..converter_log import ConverterLog
    from ..errors import ParityError
    from ..export import export
    from ..progress import Reporter

    kwargs = dict(target=args.target, precision=args.precision, weights=args.weights, calib=args.calib,
                  out=args.out, layout=args.layout, verify=not args.no_verify, quant=args.quant,
                  io="int8" if args.int8_io else "float", input_size=args.input_size,
                  calib_count=args.calib_count, calib_seed=args.calib_seed, verify_images=args.verify_images,
                  verify_count=args.verify_count, min_agreement=args.min_agreement,
                  max_float_layers=args.max_float_layers, num_classes=args.num_classes, labels=args.labels,
                  resize=args.resize, mean=args.mean, std=args.std, interpolation=args.interpolation,
                  card=args.card)
    if args.target not in _target_choices():
        from ..errors import UnknownNameError

        raise UnknownNameError("target", args.target, _target_choices())
    if args.bundle:
        from ..bundle import app_kind

        app_kind(args.bundle)  # a wrong app folder fails before the export, not after
    if args.trainable_head and args.target == "onnx":
        from ..errors import ExportError

        raise ExportError("--trainable-head supports targets executorch, tflite, coreml (and all), not onnx")
    rc, parity_error = 0, None
    verbose = getattr(args, "verbose", False)
    clog = ConverterLog(verbose=verbose)
    try:
        with clog:
            # -v: plain lines, between the converters' own
            board = Reporter(stream=clog.terminal, after=10.0, plain=verbose).board()
            try:
                try:
                    result = export(args.model, progress=board.update, **kwargs)
                except ParityError as e:
                    result, rc, parity_error = e.artifacts, e.exit_code, e
                    if args.target != "all":
                        result = result[0]
                _trainable_head(args, result, rc)
            finally:
                board.close()
    except BaseException as e:
        _keep_log(clog, args.out, failed=True)
        e.edgekit_log = clog  # edgekit.cli shows its last lines under the one-line error
        raise
    log_path = _keep_log(clog, args.out)
    if parity_error is not None:
        print(f"edgekit: error: {parity_error}", file=sys.stderr)
    arts = result if isinstance(result, list) else [result]
    report_path = None
    if args.report:
        from ..report import write_report

        report_path = write_report(arts[0].path.parent)
    if args.json:
        doc = {"artifacts": [{"path": str(a.path), "manifest_path": f"{a.path}.json", "manifest": a.manifest}
                             for a in arts],
               "log": str(log_path) if log_path else None, "report": str(report_path) if report_path else None,
               "exit_code": rc}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        if args.bundle and rc == 0:
            _bundle(arts, args.bundle, args.bundle_photo, out=sys.stderr)
        return rc
    if isinstance(result, list):
        _print_table(result)
        print(f"manifests: {', '.join(a.path.name + '.json' for a in result)} in {result[0].path.parent}"
              if result else "")
    else:
        _print_one(result)
    if log_path:
        print(f"log: {log_path} ({clog.line_count(foreign=True)} lines from converters and runtimes; -v shows them live)")
    if report_path:
        print(f"report: {report_path}")
    if args.bundle and rc == 0:
        _bundle(arts, args.bundle, args.bundle_photo)
    return rc


def _trainable_head(args, result, rc) -> None:
    if not args.trainable_head or rc != 0:
        return
    import logging

    from ..formats import trainable_formats
    from ..tune.trainable import add_trainable_head

    log = logging.getLogger("edgekit.export")
    for a in (result if isinstance(result, list) else [result]):
        if a.target in trainable_formats():
            a.manifest["trainable_head"] = add_trainable_head(
                a, weights=args.weights, calib=args.calib, calib_count=args.calib_count,
                calib_seed=args.calib_seed, batch=args.train_batch, max_classes=args.max_classes,
                verify=not args.no_verify, log=log.info)


def _keep_log(clog, out, failed: bool = False):
    """The log goes beside the artifacts. A failed export whose log holds nothing but edgekit's
    own lines (a typo in a name) leaves no log, and does not replace an earlier run's; one that
    stopped before the output folder existed leaves it where it is (the error names it)."""
    from pathlib import Path

    if clog.kept:
        return clog.path
    if failed and not clog.tail(1):
        clog.discard()
        return None
    if Path(out).is_dir():
        return clog.keep(out)
    return clog.path


def _bundle(artifacts, app_dir, photo, out=None) -> None:
    """--bundle: each artifact the demo app can run goes into its asset folder."""
    from ..bundle import APP_LAYOUTS, app_kind, bundle

    runs = APP_LAYOUTS[app_kind(app_dir)]
    usable = [a for a in artifacts if a.manifest["artifact"]["format"] in runs]
    if not usable:
        from ..errors import InputError

        raise InputError(f"{app_dir} runs {', '.join(sorted(runs))} artifacts; none was exported "
                         f"(use --target {' or '.join(sorted(runs))})")
    for a in usable:
        r = bundle(a.path, app_dir, photo=photo)
        top = ", ".join(f"{t['label']} {t['score']:.3f}" for t in r.top3) if r.top3 else f"none ({r.reason})"
        print(f"bundled into {r.folder}: {', '.join(r.files)}; golden top-3: {top}", file=out or sys.stdout)
