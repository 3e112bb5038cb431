"""`edgekit info ARTIFACT [--json]`: the manifest (sidecar `<artifact>.json`, else the copy
embedded in the artifact) and the IO spec read from the artifact file itself. Pure Python: no
runtime package and no torch are needed, and artifacts edgekit did not make work too."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("info", help="show an artifact's manifest and input/output spec",
                       description="Show the manifest (sidecar or embedded) and the IO spec read from the artifact itself.")
    p.add_argument("artifact", help=".pte, .tflite, .onnx or .mlpackage")
    p.add_argument("--json", action="store_true", help="print everything as one JSON document")
    p.set_defaults(func=run)


def _size(n) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _line(d: dict) -> str:
    from ..runtimes.base import TensorSpec

    return TensorSpec(d["name"], tuple(d["shape"]), d["dtype"], d.get("layout"), d.get("quantization")).describe()


def _delegation(t: dict) -> str:
    d = t.get("delegation") or {}
    s = str(t.get("delegate") or d.get("delegate") or "")
    if "delegated_nodes" in d:
        s += f": {d['delegated_nodes']} nodes delegated, {d.get('portable_nodes', 0)} on portable kernels"
        ops = d.get("portable_ops") or {}
        if ops:
            s += " (" + ", ".join(f"{k.split('(')[0]} x{v}" for k, v in ops.items()) + ")"
    elif d:
        s += " " + json.dumps(d)
    return s


def format_text(info: dict) -> str:
    m = info["manifest"] or {}
    rows = []
    match = {None: "", True: ", matches the manifest", False: ", DOES NOT match the manifest (file changed?)"}[info["sha256_matches_manifest"]]
    rows.append(("artifact", f"{info['artifact']} ({info['format']}, {_size(info['size_bytes'])})"))
    rows.append(("sha256", info["sha256"] + match))
    src = info["manifest_source"] or "none (not an edgekit export, or exported without one)"
    if info["manifest_source"] and info["embedded_manifest"] and info["manifest_source"].startswith("sidecar"):
        src += " (also embedded in the artifact)"
    rows.append(("manifest", src + (f"; schema {info['manifest_schema']}" if info["manifest_schema"] else "")))
    for k, key in (("inputs", "inputs"), ("outputs", "outputs")):
        for i, d in enumerate(info[key]):
            rows.append((k if i == 0 else "", _line(d)))
    if m:
        model = m.get("model") or {}
        w = model.get("weights") or {}
        rows.append(("model", f"{model.get('name')} ({model.get('num_classes')} classes, weights {w.get('source')})"))
        q = m.get("quantization") or {}
        prec = str(m.get("precision"))
        if q:
            prec += f" ({q.get('recipe')}, io {q.get('io', 'float')}"
            cal = q.get("calibration") or {}
            prec += f", calibrated on {cal['count']} images" if cal.get("count") else ""
            fl = q.get("float_layers") or []
            prec += f", {len(fl)} layers kept float" if fl else ""
            prec += ")"
        rows.append(("precision", prec))
        t = m.get("target") or {}
        if t.get("delegate") or t.get("delegation"):
            rows.append(("delegate", _delegation(t)))
        pre = m.get("preprocessing") or {}
        if pre:
            rows.append(("preprocess", f"resize {pre.get('resize')} -> crop {pre.get('crop')} {pre.get('interpolation')}, "
                                       f"x{pre.get('scale', 1 / 255):.6g}, mean {pre.get('mean')}, std {pre.get('std')}, "
                                       f"{pre.get('channel_order')} {pre.get('layout')}"))
        labels = m.get("labels") or []
        if labels:
            shown = ", ".join(labels[:4]) + (", ..." if len(labels) > 4 else "")
            rows.append(("labels", f"{len(labels)}: {shown}"))
        par = m.get("parity") or {}
        if par:
            detail = ", ".join(f"{k} {par[k]:.4g}" if isinstance(par[k], float) else f"{k} {par[k]}"
                               for k in ("runtime", "n", "max_abs_error", "cosine", "top1_agreement", "top5_overlap") if par.get(k) is not None)
            rows.append(("parity", f"{par.get('status')}" + (f" ({detail})" if detail else "") + (f": {par['reason']}" if par.get("reason") else "")))
        for isa in ("aarch64",):
            e = par.get(isa)
            if isinstance(e, dict):
                ref = e.get("vs_eager") if e.get("judged_against") == "eager" else e.get("vs_x86")
                where = f"{e.get('runtime')}" + (f", emulated by {e.get('emulator')} {e.get('cpu_model', '')}".rstrip()
                                                 if e.get("emulated") else "")
                nums = (f", top1_agreement {ref['top1_agreement']:.4g}, max_abs_error {ref['max_abs_error']:.4g}, "
                        f"cosine {ref['cosine']:.4g}" if isinstance(ref, dict) else "")
                rows.append((f"parity {isa}", f"{e.get('status')} vs {e.get('judged_against')} ({where}; n {e.get('n')}{nums})"))
        vers = m.get("versions") or {}
        if vers:
            rows.append(("versions", ", ".join(f"{k} {v}" for k, v in vers.items() if v)))
        if m.get("created"):
            secs = m.get("export_seconds")
            rows.append(("exported", str(m["created"]) + (f" in {secs:.1f} s" if isinstance(secs, (int, float)) else "")))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def run(args) -> int:
    from ..runtimes.info import artifact_info

    info = artifact_info(args.artifact)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(format_text(info))
    return 0
