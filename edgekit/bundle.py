"""`edgekit export ... --bundle APP_DIR`: put an artifact where a demo app looks for it.

    bundle("out/m.tflite", "android_demo")   # -> android_demo/app/src/litert/assets/edgekit/
    bundle("out/m.pte", "android_demo")      # -> android_demo/app/src/executorch/assets/edgekit/
    bundle("out/m.mlpackage", "ios_demo")    # -> ios_demo/EdgekitDemo/edgekit/

The folder gets the artifact (its own file name), `manifest.json` (the sidecar manifest,
unchanged), the trainable-head files named in the manifest if present (backbone, training step,
head weights), and `golden/`: the golden vectors the apps' unit tests check themselves against,
for one fixed photo:

    golden/photo.jpg       the photo (a real photo when given, else edgekit's fixed synthetic one)
    golden/crop_rgb.bin    after resize + centre crop: crop x crop x 3 uint8 RGB (Pillow)
    golden/input.bin       the model input tensor, little-endian, in the manifest's layout and dtype
    golden/input.json      its shape, dtype, layout, quantization and the crop's size
    golden/output.bin      the model's output vector for that input (float32, little-endian)
    golden/expected.json   the top-3 (index, label, score) and which runtime produced them

The paths match the app code (android_demo/core/.../ManifestKeys.kt `AssetPaths`,
ios_demo/EdgekitDemo/ManifestKeys.swift); tests/test_apps_contract.py checks they agree. The
folder is replaced atomically: built beside the target, then renamed into place."""
from __future__ import annotations

import io
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .errors import ArtifactError, InputError
from .files import staged

PathLike = Union[str, os.PathLike]

ASSET_DIR = "edgekit"
MANIFEST_NAME = "manifest.json"
GOLDEN_DIR = "golden"
GOLDEN_FILES = ("photo.jpg", "crop_rgb.bin", "input.bin", "input.json", "output.bin", "expected.json")
# app kind -> {artifact format -> folder (relative to the app dir) that holds ASSET_DIR}
APP_LAYOUTS = {
    "android": {"tflite": "app/src/litert/assets", "executorch": "app/src/executorch/assets"},
    "ios": {"coreml": "EdgekitDemo"},
}
APP_MARKERS = {"android": "settings.gradle.kts", "ios": "project.yml"}
TOP_K = 3


@dataclass
class BundleResult:
    app: str
    folder: Path
    files: list = field(default_factory=list)
    top3: Optional[list] = None
    reason: Optional[str] = None


def app_kind(app_dir: PathLike) -> str:
    """'android' or 'ios' from the demo app's build file."""
    d = Path(app_dir)
    for kind, marker in APP_MARKERS.items():
        if (d / marker).is_file():
            return kind
    raise InputError(f"{d} is not a demo app folder (expected android_demo/ with settings.gradle.kts "
                     f"or ios_demo/ with project.yml)")


def target_folder(app_dir: PathLike, fmt: str) -> Path:
    """The folder the app reads for an artifact of format `fmt`."""
    kind = app_kind(app_dir)
    layout = APP_LAYOUTS[kind]
    if fmt not in layout:
        raise InputError(f"the {kind} demo runs {', '.join(sorted(layout))} artifacts, not {fmt} "
                         f"(export with --target {' or '.join(sorted(layout))})")
    return Path(app_dir) / layout[fmt] / ASSET_DIR


def synthetic_photo() -> "PIL.Image.Image":  # noqa: F821
    """edgekit's fixed golden photo when none is given: a deterministic 320x240 RGB scene
    (gradients, discs, stripes) so resizing, cropping and JPEG decoding are all exercised."""
    from PIL import Image

    h, w = 240, 320
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 255 * xx / (w - 1)
    g = 255 * yy / (h - 1)
    b = 127.5 + 127.5 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    img = np.stack([r, g, b], axis=-1)
    for cx, cy, rad, col in ((90, 110, 50, (220, 40, 40)), (230, 80, 35, (30, 200, 60)), (200, 180, 45, (40, 60, 220))):
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < rad ** 2] = col
    img[::16, :, :] = 255
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def _photo_jpeg(photo: Optional[PathLike]) -> bytes:
    """The golden photo as JPEG bytes: an RGB .jpg is copied byte for byte; anything else (PNG,
    grayscale or CMYK JPEG, which phone decoders treat differently) is re-encoded as RGB JPEG."""
    from PIL import Image

    if photo is None:
        buf = io.BytesIO()
        synthetic_photo().save(buf, "JPEG", quality=92)
        return buf.getvalue()
    p = Path(photo)
    from .preprocess import open_image

    open_image(p)  # one-line InputError for a missing or unreadable file
    with Image.open(p) as im:
        if im.format == "JPEG" and im.mode == "RGB":
            return p.read_bytes()
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=95)
        return buf.getvalue()


def _input_spec(manifest: dict) -> dict:
    inputs = manifest.get("inputs") or [{}]
    return inputs[0]


def golden_vectors(photo_jpeg: bytes, manifest: dict) -> dict:
    """The preprocessed golden input for a manifest: {'crop': HxWx3 uint8, 'float': float32 tensor,
    'tensor': the model's input dtype, 'dtype', 'quantization'}."""
    from PIL import Image

    from .preprocess import preprocess, quantize, resize_center_crop

    spec = manifest["preprocessing"]
    with Image.open(io.BytesIO(photo_jpeg)) as im:
        img = im.convert("RGB")
    crop = np.asarray(resize_center_crop(img, int(spec["resize"]), int(spec["crop"]), spec.get("interpolation", "bilinear")))
    x = preprocess(img, spec)
    ins = _input_spec(manifest)
    dtype = ins.get("dtype", "float32")
    q = ins.get("quantization")
    if dtype in ("int8", "uint8"):
        if not q:
            raise ArtifactError(f"manifest input is {dtype} but has no quantization scale/zero_point")
        tensor = quantize(x, float(q["scale"]), int(q["zero_point"]), np.dtype(dtype))
    elif dtype == "float32":
        tensor = x
    else:
        raise ArtifactError(f"the demo apps feed float32, int8 or uint8 inputs, not {dtype}")
    return {"crop": np.ascontiguousarray(crop, np.uint8), "float": x, "tensor": tensor, "dtype": dtype, "quantization": q}


def reference_output(artifact: PathLike, x: np.ndarray) -> tuple:
    """(output vector float32, runtime description) from edgekit's runtime for the artifact, or
    (None, reason) where that runtime cannot run here (Core ML off macOS)."""
    from .errors import EdgekitError
    from .runtimes import load

    try:
        model = load(artifact)
        out = model.run([x])[0]
    except (EdgekitError, NotImplementedError, RuntimeError, OSError) as e:
        return None, f"{type(e).__name__}: {e}".splitlines()[0]
    desc = f"{model.runtime_name} {model.runtime_version}"
    model.close()
    return np.asarray(out, np.float32).reshape(-1), desc


def expected_top(output: np.ndarray, manifest: dict, k: int = TOP_K) -> list:
    """Top-k as the apps compute it: softmax of the output unless the model outputs probabilities."""
    outs = manifest.get("outputs") or [{}]
    kind = outs[0].get("kind")
    if kind == "probabilities":
        scores = output.astype(np.float64)
    else:
        z = output.astype(np.float64) - output.max()
        scores = np.exp(z) / np.exp(z).sum()
    order = sorted(range(len(output)), key=lambda i: (-float(output[i]), i))[:k]  # rank the raw outputs
    labels = manifest.get("labels") or []
    return [{"index": int(i), "label": labels[i] if i < len(labels) else f"class {i}", "score": float(scores[i])}
            for i in order]


def write_golden(folder: Path, jpeg: bytes, manifest: dict, g: dict, output: Optional[np.ndarray], info: str,
                 photo_source: str) -> None:
    """Write the golden files (module docstring) into `folder` (created)."""
    folder.mkdir(parents=True)
    (folder / "photo.jpg").write_bytes(jpeg)
    (folder / "crop_rgb.bin").write_bytes(g["crop"].tobytes())
    t = np.ascontiguousarray(g["tensor"])
    (folder / "input.bin").write_bytes(t.astype(t.dtype.newbyteorder("<"), copy=False).tobytes())
    meta = {
        "shape": list(t.shape), "dtype": g["dtype"], "byte_order": "little",
        "layout": manifest["preprocessing"]["layout"], "quantization": g["quantization"],
        "crop": {"file": "crop_rgb.bin", "width": int(g["crop"].shape[1]), "height": int(g["crop"].shape[0]),
                 "channels": "RGB", "dtype": "uint8"},
        "photo": "photo.jpg", "photo_source": photo_source,
        "preprocessing": manifest["preprocessing"],
    }
    (folder / "input.json").write_text(json.dumps(meta, indent=2) + "\n")
    top = None
    if output is not None:
        (folder / "output.bin").write_bytes(output.astype("<f4").tobytes())
        top = expected_top(output, manifest)
    expected = {
        "top3": top, "runtime": info if output is not None else None,
        "reason": None if output is not None else f"no reference output: {info}",
        "output_kind": (manifest.get("outputs") or [{}])[0].get("kind"),
        "model": manifest["model"]["name"], "precision": manifest["precision"],
        "tolerance": {"score_abs": 1e-3 if manifest["precision"] == "fp32" else 5e-2,
                      "note": "scores on a phone may differ by its float arithmetic; the top-3 indices must match"},
    }
    (folder / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")


def _trainable_files(manifest: dict, src_dir: Path) -> list:
    head = manifest.get("trainable_head") or {}
    out = []
    for key in ("backbone", "train_step", "head_weights"):
        name = head.get(key)
        if not name:
            continue
        p = src_dir / name
        if not p.exists():
            raise ArtifactError(f"manifest trainable_head.{key} names {name}, which is not beside the artifact in {src_dir}")
        out.append(p)
    return out


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)


def bundle(artifact_path: PathLike, app_dir: PathLike, photo: Optional[PathLike] = None) -> BundleResult:
    """Copy the artifact, its manifest, its trainable-head files and golden vectors into the demo
    app's asset folder (replacing what a previous bundle put there). Nothing is changed on error."""
    from .manifest import read_sidecar, validate
    from .runtimes import detect_format

    artifact = Path(artifact_path)
    if not artifact.exists():
        raise ArtifactError(f"artifact not found: {artifact}")
    manifest = read_sidecar(artifact)
    if manifest is None:
        raise ArtifactError(f"{artifact.name} has no manifest {artifact.name}.json beside it; export it with edgekit export")
    validate(manifest)
    fmt = detect_format(artifact)
    if manifest["artifact"]["format"] != fmt:
        raise ArtifactError(f"manifest says format {manifest['artifact']['format']} but {artifact.name} is {fmt}")
    if manifest["artifact"]["file"] != artifact.name:
        raise ArtifactError(f"manifest artifact.file is {manifest['artifact']['file']!r} but the file is {artifact.name!r}")
    kind = app_kind(app_dir)
    dest = target_folder(app_dir, fmt)
    extra = _trainable_files(manifest, artifact.parent)

    jpeg = _photo_jpeg(photo)
    g = golden_vectors(jpeg, manifest)
    output, info = reference_output(artifact, g["float"])
    top = expected_top(output, manifest) if output is not None else None

    with staged(dest, mkdir=True) as stage:
        _copy(artifact, stage / artifact.name)
        for p in extra:
            _copy(p, stage / p.name)
        (stage / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        write_golden(stage / GOLDEN_DIR, jpeg, manifest, g, output, info,
                     Path(photo).name if photo else "edgekit synthetic golden photo")
    files = sorted([p.name for p in dest.iterdir() if p.name != GOLDEN_DIR]
                   + [f"{GOLDEN_DIR}/{p.name}" for p in (dest / GOLDEN_DIR).iterdir()])
    return BundleResult(app=kind, folder=dest, files=files, top3=top, reason=None if output is not None else info)
