"""The shared photos the int8 benchmarks measure on (../shared/data/imagenet-sample-200, or
$EDGEKIT_SHARED/data/...): the calibration / evaluation splits, the model built for them, and the
two fidelity measures (fp32's top-1 margin, KL to fp32)."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PHOTOS = Path(os.environ.get("EDGEKIT_SHARED", REPO.parent / "shared")) / "data" / "imagenet-sample-200"
SPLITS = ("even-odd", "odd-even", "export")


def photo_split(split: str = "even-odd"):
    """(calibration files, evaluation files, labels). even-odd / odd-even: the two halves of the
    sorted file list, each calibrating for the other (two folds: every photo is evaluated once,
    never by a model calibrated on it). export: the draw `edgekit export --calib` makes (100
    photos, seed 0) and the photos it did not draw."""
    with open(PHOTOS / "labels.csv", newline="") as f:
        rows = {r["file"]: int(r["class_index"]) for r in csv.DictReader(f)}
    files = sorted(rows)
    if split == "export":
        import random

        from edgekit.calib import find_images

        found = find_images(PHOTOS)
        chosen = sorted(random.Random(0).sample(found, 100))  # as edgekit.calib.load_calibration
        names = {Path(p).name for p in chosen}
        return [f for f in files if f in names], [f for f in files if f not in names], rows
    if split not in SPLITS:
        raise SystemExit(f"unknown split {split!r}: one of {', '.join(SPLITS)}")
    even, odd = files[0::2], files[1::2]
    return (even, odd, rows) if split == "even-odd" else (odd, even, rows)


def build(name: str, calib_x: np.ndarray | None = None):
    """(model, preprocessing spec, weights note)."""
    import torch

    from edgekit import zoo

    real = name.startswith("efficientnet_lite")
    torch.manual_seed(0)
    m = zoo.create_model(name, weights="imagenet" if real else None)
    c = m.card
    spec = {"resize": c.resize, "crop": c.crop, "interpolation": c.interpolation, "mean": list(c.mean), "std": list(c.std)}
    if real:
        return m.eval(), spec, "real ImageNet weights"
    return m, spec, "random init (seed 0), BatchNorm stats re-estimated on the calibration photos"


def bn_recalibrate(m, x: np.ndarray):
    import torch

    for mod in m.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average over all calibration photos
    m.train()
    with torch.no_grad():
        for i in range(0, len(x), 10):
            m(torch.from_numpy(x[i : i + 10]))
    return m.eval()


def fp32_margin(ref: np.ndarray) -> np.ndarray:
    z = ref - ref.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    s = np.sort(p, 1)
    return s[:, -1] - s[:, -2]


def kl(ref: np.ndarray, y: np.ndarray) -> float:
    from edgekit.quant.measure import kl_to_float

    return kl_to_float(ref, y)



