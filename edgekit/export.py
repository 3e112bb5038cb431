"""export(): model -> capture (one torch.export) -> per-target lowering -> parity -> artifact +
manifest (sidecar `<artifact>.json` and embedded where the format allows).

Every option combination is checked before any work. Each artifact is written under a hidden
temporary name in the output folder and renamed into place only when complete, so a failed
or killed export never leaves a partial artifact under the final name."""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Union

from ._version import __version__
from .errors import EdgekitError, ExportError, ParityError
from .files import clean_stale, remove, size_bytes, staged, temp_path
from .manifest import SCHEMA_VERSION, sha256_file, validate, write_sidecar
from .progress import stage, stages
from .quant.recipe import MAX_FLOAT_LAYERS, MIN_AGREEMENT

log = logging.getLogger(__name__)

DEFAULT_VERIFY_COUNT = 8


@dataclass
class Artifact:
    path: Path
    manifest: dict
    parity: dict
    options: Optional[object] = None   # the ExportOptions it was made with (exporters.ExportOptions)

    @property
    def target(self) -> str:
        return self.manifest["target"]["name"]

    @property
    def precision(self) -> str:
        return self.manifest["precision"]

    @property
    def size_bytes(self) -> int:
        return int(self.manifest["artifact"]["size_bytes"])

    @property
    def export_seconds(self) -> float:
        return float(self.manifest.get("export_seconds") or 0.0)


# ------------------------------------------------------------------------------------------------
# model + card

def _resolve_model(model, weights, card, input_size, num_classes=None, labels=None, overrides=None):
    """(nn.Module in eval mode, ModelCard, model name, weights_info).

    model: a spec from any model source ("efficientnet_lite0", "timm:NAME", "torchvision:NAME"),
    a saved torch.export program ("model.pt2", card= a ModelCard or a JSON card file), or your
    own nn.Module (with card=). overrides: card fields from the CLI (resize, mean, std,
    interpolation) that replace the source's metadata."""
    from .labels import read_labels
    from .zoo.program import is_program_path

    if isinstance(labels, (str, os.PathLike)):
        labels = read_labels(labels)
    if is_program_path(model):
        from .zoo.program import card_from_json, load_program_module, program_card

        if weights is not None:
            raise ExportError("weights= does not apply to a .pt2 program: its weights are inside it")
        m, shape = load_program_module(model)
        if isinstance(card, (str, os.PathLike)):
            card = program_card(model, shape[-1], str(card))
        elif card is None:
            card = program_card(model, shape[-1])
        if input_size and int(input_size) != shape[-1]:
            raise ExportError(f"{Path(model).name} was saved for {shape[-1]} px inputs; "
                              f"--input-size {input_size} would need a new torch.export")
        input_size = None
        if labels is not None:
            card = card.with_labels(labels)
        info = {"source": f"torch.export program {Path(model).name}", "sha256": sha256_file(model),
                "path": str(Path(model).resolve())}
    elif isinstance(model, str):
        from . import zoo

        if card is not None:
            raise ExportError("card= is for your own nn.Module or a .pt2 program; named models bring their own card "
                              "(override fields with resize=, mean=, std=, interpolation=, input_size=)")
        m = zoo.create_model(model, weights=weights, num_classes=num_classes, labels=labels)
        card = m.card
        info = dict(getattr(m, "weights_info", None) or {"source": str(weights or "random"), "sha256": None})
    else:
        if card is None:
            raise ExportError("exporting your own nn.Module needs card= (edgekit.card.user_card(name, input_size, labels))")
        if weights is not None:
            raise ExportError("weights= applies to model names; load weights into your module before exporting")
        m = model
        if labels is not None:
            card = card.with_labels(labels)
        info = {"source": "user module", "sha256": None}
    if input_size:
        size = int(input_size)
        if size < 8:
            raise ExportError(f"input size must be at least 8 pixels, got {size}")
        resize = max(size, int(round(size * card.resize / max(card.crop, 1))))
        card = replace(card, input_size=size, crop=size, resize=resize)
    if overrides:
        card = card.with_overrides(**overrides)
    return m.eval(), card, card.name, info


def _num_classes(cap) -> int:
    """The class count of a classifier's (batch, classes) output; anything else is refused."""
    import torch

    with torch.no_grad():
        y = cap.module(cap.example)
    if not isinstance(y, torch.Tensor):
        raise ExportError(f"the model returns {type(y).__name__}; edgekit exports classifiers that return one "
                          f"(batch, num_classes) logits tensor")
    shape = tuple(y.shape)
    if len(shape) != 2 or shape[0] != cap.example.shape[0] or shape[1] < 1:
        raise ExportError(f"the model's output has shape {shape}; expected ({cap.example.shape[0]}, num_classes) "
                          f"logits of an image classifier")
    return int(shape[1])


def _count_params(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


# ------------------------------------------------------------------------------------------------
# manifest

def _labels(card, num_classes: int) -> list:
    labels = list(card.labels)
    if labels and len(labels) != num_classes:
        raise ExportError(f"the card has {len(labels)} labels but the model outputs {num_classes} classes")
    return labels or [str(i) for i in range(num_classes)]


def build_manifest(*, card, model_name, weights_info, num_classes, params, exporter, options, lowered, calib_info,
                   parity, file_name, export_seconds) -> dict:
    versions = {"edgekit": __version__}
    from .exporters import versions_of

    versions.update({k: v for k, v in versions_of("torch", "torchvision", "timm").items()})
    versions.update(lowered.versions)
    quant = None
    if options.recipe is not None:  # the result's recipe holds the float layers the guard kept
        calibration = calib_info if options.needs_calibration else None
        quant = lowered.quant_result.manifest(calibration) if lowered.quant_result is not None \
            else options.recipe.to_manifest(None, calibration)
    return {
        "schema_version": SCHEMA_VERSION,
        "edgekit_version": __version__,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": {
            "name": model_name, "family": card.family, "source": card.source, "num_classes": num_classes,
            "params": params, "macs": card.macs, "embedding_dim": card.embedding_dim or None,
            "weights": weights_info,
        },
        "artifact": {"file": file_name, "format": exporter.name, "sha256": None, "size_bytes": None,
                     "embedded_manifest": lowered.embedded_manifest},
        "target": {"name": exporter.name, "delegate": lowered.delegate, "delegation": lowered.delegation,
                   "details": {**lowered.details, "variant": options.tag}},
        "versions": versions,
        "precision": options.precision,
        "quantization": quant,
        "inputs": lowered.inputs,
        "outputs": lowered.outputs,
        "preprocessing": card.preprocessing(options.layout.upper()),
        "labels": _labels(card, num_classes),
        "parity": parity,
        "export_seconds": round(export_seconds, 3),
    }


def artifact_name(model_name: str, exporter, options) -> str:
    return f"{model_name.replace(':', '_')}_{options.tag}{exporter.suffix}"   # no ":" in file names


# ------------------------------------------------------------------------------------------------
# the export

def _parity_inputs(cap, calib, verify, preprocessing, verify_count, seed):
    """(float inputs in the artifact layout, description)."""
    import numpy as np

    from .calib import load_images, load_verify_images

    if verify is not None:
        s = load_verify_images(verify, preprocessing, count=verify_count, seed=seed)
        return s.arrays, f"{s.count} images from {s.source}"
    if calib is not None:
        if calib.rest:
            held = calib.rest[:verify_count]
            return load_images(held, preprocessing), f"{len(held)} images from {calib.source} not used for calibration"
        return calib.arrays[:verify_count], f"{min(verify_count, calib.count)} calibration images from {calib.source}"
    rng = np.random.default_rng(seed)
    shape = (verify_count,) + tuple(cap.input_shape[1:])
    return rng.standard_normal(shape).astype(np.float32), \
        f"{verify_count} random normal inputs (seed {seed}); pass --calib or --verify-images for real photos"


def export(model, target: str = "tflite", precision: Optional[str] = None, weights=None, calib=None,
           out: Union[str, os.PathLike] = "out", layout: str = "nchw", verify: bool = True, card=None, *,
           quant: Optional[str] = None, io: str = "float", input_size: Optional[int] = None,
           calib_count: int = 100, calib_seed: int = 0, verify_images=None, verify_count: int = DEFAULT_VERIFY_COUNT,
           strict: bool = True, progress=None, min_agreement: float = MIN_AGREEMENT,
           max_float_layers: int = MAX_FLOAT_LAYERS, num_classes: Optional[int] = None, labels=None,
           resize: Optional[int] = None, mean=None, std=None, interpolation: Optional[str] = None,
           guard_metric: str = "top1"):
    """Export a model to one target or all: a name from any model source ("efficientnet_lite0",
    "timm:mobilenetv4_conv_small", "torchvision:regnet_y_400mf"), a saved torch.export program
    ("model.pt2", card= a ModelCard or JSON card file) or your own nn.Module (with `card=`).

    num_classes / labels (a list or a .txt/.json file): the head's width and class names (a
    checkpoint's head width is used when not given). resize / mean / std / interpolation:
    override the card's preprocessing.

    precision: fp32 | fp16 | int8 (None: the target's default: fp16 for Core ML, fp32 elsewhere).
    quant: int8 flavour, static (default; needs calib) | dynamic | weight. io: float | int8 (tflite
    static int8 only). calib: a folder of images (int8 static). verify: run the parity check.
    strict: raise ParityError (after writing everything) when a parity check fails.
    min_agreement / max_float_layers: the int8 accuracy guard (static int8 on executorch/tflite):
    below this top-1 agreement with float on held-out calibration images, keep up to this many
    of the most sensitive layers in float (0: measure and record only). guard_metric: what the
    guard compares with float: "top1" (a classifier's logits) or "cosine" (the mean cosine of the
    outputs, for a model that returns embeddings, e.g. a backbone).
    progress: a callable progress(item, stage, done, total) told each target's stage (item: e.g.
    "tflite fp32"; stages capture, lower, calibrate n/N, guard, parity n/N, write, then done;
    waiting while another target runs), as `edgekit export` draws it. Nothing is printed:
    edgekit logs through the `edgekit` logger.
    Returns an Artifact, or a list of them for target="all"."""
    from .exporters import resolve_targets

    t_start = time.perf_counter()
    exporters = resolve_targets(target)
    if target == "all" and precision is not None:
        # 'all' exports every target that supports the precision asked for
        chosen = [e for e in exporters if precision in e.precisions]
        if not chosen:
            exporters[0].options(precision, quant, io, layout)  # raises the one-line reason
        exporters = chosen
    plans = [(e, e.options(precision, quant, io, layout, min_agreement, max_float_layers, guard_metric))
             for e in exporters]
    needs_calib = [e.name for e, o in plans if o.needs_calibration]
    if needs_calib and calib is None:
        raise ExportError("int8 static quantization needs real calibration images: pass --calib DIR "
                          "(or --quant dynamic / weight where the target supports it)")
    if needs_calib or verify_images is not None:
        from .calib import find_images

        for folder in [f for f in ((calib if needs_calib else None), verify_images) if f is not None]:
            find_images(folder)  # a missing or empty folder fails now, before any work
    if int(verify_count) < 1:
        raise ExportError(f"verify count must be at least 1, got {verify_count}")
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"--out must be a directory, {out_dir} is a file")

    overrides = {"resize": resize, "mean": mean, "std": std, "interpolation": interpolation}
    module, card, model_name, weights_info = _resolve_model(model, weights, card, input_size, num_classes, labels,
                                                            overrides)
    items = [f"{e.name} {o.tag}" for e, o in plans]
    notify = progress or (lambda *a: None)
    for item in items:  # the capture is shared: every target's clock runs during it
        notify(item, "capture", None, None)
    from .capture import capture

    log.info("capturing %s at %s px, layout %s", card.name, card.input_size, layout)
    cap = capture(module, card.input_size, layout)
    preprocessing = card.preprocessing(cap.layout.upper())
    calib_set = None
    if needs_calib:
        from .calib import load_calibration

        calib_set = load_calibration(calib, preprocessing, count=calib_count, seed=calib_seed)
    num_classes = _num_classes(cap)
    from .weights.state_dict import state_dict_sha256

    weights_info = {**weights_info, "state_dict_sha256": state_dict_sha256(module)}
    if weights_info.get("path"):  # an artifact ships to devices: keep the file name, not this machine's path
        weights_info["file"] = os.path.basename(str(weights_info.pop("path")))
    params = card.params or _count_params(module)
    parity_inputs = None
    if verify and any(e.runs_here for e, _ in plans):
        parity_inputs = _parity_inputs(cap, calib_set, verify_images, preprocessing, int(verify_count), calib_seed)
    capture_seconds = time.perf_counter() - t_start
    out_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(out_dir)

    for item in items:
        notify(item, "waiting", None, None)
    artifacts = []
    for item, (exporter, options) in zip(items, plans):
        log.info("exporting %s -> %s %s", model_name, exporter.name, options.tag)
        with stages(lambda name, done, total, item=item: notify(item, name, done, total)):
            artifacts.append(_export_one(exporter, options, cap, calib_set, card, model_name, weights_info, params,
                                         num_classes, out_dir, verify, parity_inputs, capture_seconds))
        notify(item, "done", None, None)
        log.info("wrote %s (%d bytes, %.1f s, parity %s)", artifacts[-1].path, artifacts[-1].size_bytes,
                 artifacts[-1].export_seconds, artifacts[-1].parity.get("status"))
    failed = [a for a in artifacts if a.parity.get("status") == "failed"]
    if failed and strict:
        err = ParityError("parity check failed for " + ", ".join(
            f"{a.path.name} ({a.parity.get('reason')})" for a in failed))
        err.artifacts = artifacts
        raise err
    return artifacts if target == "all" else artifacts[0]


def _export_one(exporter, options, cap, calib_set, card, model_name, weights_info, params, num_classes, out_dir,
                verify, parity_inputs, capture_seconds) -> Artifact:
    from . import parity as parity_mod

    t0 = time.perf_counter()
    final = out_dir / artifact_name(model_name, exporter, options)
    stage("lower")
    try:
        lowered = exporter.lower(cap, options, calib=calib_set, num_classes=num_classes)
    except (EdgekitError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as e:   # the converter's own exception, many lines deep: one line instead
        from .exporters.failures import explain

        raise explain(e, exporter.name, options.precision) from e
    export_seconds = capture_seconds + (time.perf_counter() - t0)
    calib_info = calib_set.manifest() if (calib_set is not None and options.needs_calibration) else None

    def manifest_with(parity: dict) -> dict:
        return build_manifest(card=card, model_name=model_name, weights_info=weights_info,
                              num_classes=num_classes, params=params, exporter=exporter, options=options,
                              lowered=lowered, calib_info=calib_info, parity=parity,
                              file_name=final.name, export_seconds=export_seconds)

    if not verify:
        report = parity_mod.not_run("disabled with --no-verify")
    elif not exporter.runs_here:
        report = parity_mod.not_run(exporter.parity_unavailable)
    elif weights_info.get("head") == "untrained":
        report = parity_mod.not_run("the head is untrained (backbone-only weights): every output is 0, so parity "
                                    "would compare nothing; --trainable-head checks the backbone program")
    else:
        # the file checked is written as the artifact will be, manifest embedded: only the
        # parity entry differs, so a fault in the embedding step cannot pass unseen
        probe = temp_path(final)
        try:
            stage("write")
            _save(lowered, probe, manifest_with(parity_mod.not_run("being measured").to_dict()), exporter.name,
                  options.precision)
            arrays, desc = parity_inputs
            stage("parity", 0, len(arrays))  # the reference run and the runtime's load count as parity
            report = parity_mod.check(str(probe), exporter.name, cap.module, arrays, options.precision, desc)
        finally:
            remove(probe)
    manifest = manifest_with(report.to_dict())
    validate(manifest)
    stage("write")
    with staged(final) as tmp:
        _save(lowered, tmp, manifest, exporter.name, options.precision)
        manifest["artifact"]["sha256"] = sha256_file(tmp)
        manifest["artifact"]["size_bytes"] = size_bytes(tmp)
        validate(manifest)
    write_sidecar(final, manifest)
    return Artifact(path=final, manifest=manifest, parity=manifest["parity"], options=options)


def _save(lowered, path, manifest: dict, target: str, precision: str) -> None:
    """Write the artifact; a serializer failure is one line (the caller removes the file)."""
    try:
        lowered.save(str(path), json.dumps(manifest, sort_keys=False))
    except (EdgekitError, OSError, MemoryError, KeyboardInterrupt):   # OSError: the disk, not the converter
        raise
    except Exception as e:
        from .exporters.failures import explain

        raise explain(e, target, precision, stage="serialize") from e
