"""`edgekit bench ARTIFACT... --compare REFERENCE`: each artifact beside a reference (typically an
int8 artifact beside its fp32 export): the speed-up (reference p50 / artifact p50, from the same
bench run) and, on the user's images, how closely the outputs agree: top-1 agreement, cosine and
max abs error of the outputs. Each artifact preprocesses the images by its own manifest and runs
in its own runtime. numpy and the runtimes only."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import InputError


def _outputs(path, images: list, threads: Optional[int]) -> np.ndarray:
    from ..preprocess import preprocess
    from ..runtimes import load

    m = load(path, threads=threads)
    try:
        weights = ((m.manifest or {}).get("model") or {}).get("weights") or {}
        if weights.get("head") == "untrained":
            block = (m.manifest or {}).get("trainable_head") or {}
            instead = f"compare its backbone program {block['backbone']}" if block.get("backbone") else \
                "compare backbone programs (--trainable-head exports) or tuned artifacts"
            raise InputError(f"{Path(path).name} has an untrained classifier head: its outputs carry no classes; {instead}")
        pre = m.preprocessing
        return np.stack([np.asarray(m.run(preprocess(p, pre))[0], np.float64).reshape(-1) for p in images])
    finally:
        m.close()


def agreement(candidate, reference, images: list, threads: Optional[int] = None) -> dict:
    """Output agreement of `candidate` with `reference` on `images` (paths)."""
    a, r = _outputs(candidate, images, threads), _outputs(reference, images, threads)
    if a.shape != r.shape:
        raise InputError(f"{Path(candidate).name} outputs {a.shape[1]} values per image, {Path(reference).name} "
                         f"{r.shape[1]}: --compare needs two exports of the same model")
    cos = (a * r).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(r, axis=1) + 1e-30)
    same = a.argmax(1) == r.argmax(1)
    return {"images": len(images), "top1_agreement": float(same.mean()), "top1_agreements": int(same.sum()),
            "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
            "max_abs_error": float(np.abs(a - r).max())}


def compare(doc: dict, reference: str, images: Optional[list], threads: Optional[int] = None) -> dict:
    """The `comparison` block of a bench document whose results include `reference` (a path)."""
    by_path = {str(Path(r["path"])): r for r in doc["results"]}
    ref = by_path[str(Path(reference))]
    ref_ms = ref["latency_ms"].get("p50")
    rows = []
    for r in doc["results"]:
        if r is ref:
            continue
        ms = r["latency_ms"].get("p50")
        row = {"artifact": r["artifact"], "path": r["path"], "speedup": ref_ms / ms if ref_ms and ms else None}
        row.update(agreement(r["path"], ref["path"], images, threads) if images else {"images": 0})
        rows.append(row)
    return {"reference": ref["artifact"], "reference_path": ref["path"], "images": len(images or ()), "rows": rows}


def format_comparison(block: dict) -> str:
    lines = [f"vs {block['reference']}" + (f" on {block['images']} images:" if block["images"] else
                                          " (agreement not measured: pass --images DIR):"), "",
             "| artifact | speed-up | top-1 agreement | cosine mean / min | max abs error |", "|---|--:|--:|--:|--:|"]
    for r in block["rows"]:
        speed = "-" if r["speedup"] is None else f"{r['speedup']:.2f}x"
        if r["images"]:
            agree = f"{r['top1_agreement']:.1%} ({r['top1_agreements']}/{r['images']})"
            cos = f"{r['cosine_mean']:.4f} / {r['cosine_min']:.4f}"
            err = f"{r['max_abs_error']:.3g}"
        else:
            agree = cos = err = "-"
        lines.append(f"| {r['artifact']} | {speed} | {agree} | {cos} | {err} |")
    return "\n".join(lines) + "\n"
