"""`edgekit verify ARTIFACT --isa aarch64`: the artifact's outputs on ARM kernels.

The same inputs (photos preprocessed here with the manifest's recipe, or seeded random inputs)
run three ways: in the aarch64 environment under qemu-user (`edgekit run` there), in this
machine's runtime, and through PyTorch eager when the model can be rebuilt with the same weights
(zoo name + weights tag, checked by the state_dict sha256 in the manifest). The aarch64 outputs
are compared with both (max abs error, worst cosine, top-1 agreement, top-5 overlap) and judged
with the export's parity thresholds for the precision, against eager when it ran, else against
the x86 run. The result goes to the sidecar manifest as parity.<isa>; the copy embedded in the
artifact is left as exported (rewriting it would change the bytes that were just checked)."""
from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from .._version import __version__
from ..errors import ArtifactError, InputError
from ..manifest import read_sidecar, sha256_file, validate, write_sidecar
from ..parity import THRESHOLDS, artifact_logits, eager_logits, judge, metrics
from ..preprocess import batch, list_images
from .env import find_env

START_TIMEOUT_S = {"et": 300.0}  # importing torch + executorch under qemu: ~70 s here
PER_IMAGE_TIMEOUT_S = 120.0  # emulated: a 1.8 GMAC ResNet-18 takes ~10 s per image here


def _inputs(manifest: dict, images, n: int, seed: int = 0) -> tuple[np.ndarray, str]:
    spec = manifest["preprocessing"]
    if images:
        paths = list_images(images)
        if not paths:
            raise InputError(f"--images {images}: no images (jpg/png/webp/bmp) there")
        paths = paths[:n]
        return batch(paths, spec), f"{len(paths)} photos from {images}"
    shape = [1 if d is None or d < 1 else d for d in manifest["inputs"][0]["shape"]]
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape[1:])).astype(np.float32), f"{n} random normal inputs (seed {seed})"


def isa_logits(artifact, fmt: str, x: np.ndarray, isa: str = "aarch64", env_dir=None,
               threads: Optional[int] = None) -> tuple[np.ndarray, dict]:
    """Run the float inputs `x` (N, ...) through the artifact in the `isa` environment (`edgekit
    run` there, one input at a time); returns (N, C) outputs and what that process reported
    (runtime, version, seconds, host: machine, emulation, CPU features)."""
    env = find_env(isa, fmt, env_dir)
    path = Path(artifact)
    with tempfile.TemporaryDirectory(prefix="edgekit-verify.") as tmp:
        np.save(os.path.join(tmp, "inputs.npy"), np.ascontiguousarray(x, np.float32))
        argv = ["run", str(path.resolve()), "--inputs", os.path.join(tmp, "inputs.npy"),
                "--out", os.path.join(tmp, "outputs.npy")]
        if threads:
            argv += ["--threads", str(threads)]
        start = START_TIMEOUT_S.get(env.site, 60.0)
        res = env.run_edgekit(argv, timeout=start + PER_IMAGE_TIMEOUT_S * len(x), cwd=tmp)
        if res.returncode != 0:
            tail = " | ".join(ln.strip() for ln in res.stderr.strip().splitlines()[-3:])
            raise ArtifactError(f"the {isa} run of {path.name} failed (exit {res.returncode}): {tail}")
        try:
            remote = json.loads(res.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise ArtifactError(f"the {isa} edgekit printed no result line: {res.stdout.strip()[-200:]!r}") from None
        return np.load(os.path.join(tmp, "outputs.npy")), remote


def eager_module(manifest: dict):
    """(module, "") rebuilt from the zoo with the manifest's weights, or (None, why not)."""
    model_info = manifest.get("model", {})
    weights_info = model_info.get("weights") or {}
    src = weights_info.get("source", "random")
    want = weights_info.get("state_dict_sha256")
    if want is None:
        return None, "the manifest has no state_dict_sha256 to rebuild the model against"
    try:
        from ..weights.state_dict import state_dict_sha256
        from ..zoo import create_model
    except ImportError as e:
        return None, f"PyTorch is not installed here ({e.name})"
    tag = None if src == "random" else src.split(" (")[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = create_model(model_info["name"], weights=tag)
    except Exception as e:  # unknown zoo name, weights needing a network: eager is then not run
        return None, f"cannot rebuild {model_info.get('name')!r} with weights {src!r}: {str(e).splitlines()[0]}"
    if state_dict_sha256(module) != want:
        return None, f"{model_info['name']} with weights {src!r} does not reproduce the exported weights"
    return module.eval(), ""


def _nchw(x: np.ndarray, manifest: dict) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if manifest["preprocessing"].get("layout") == "NHWC" else x


def verify(artifact, isa: str = "aarch64", images=None, n: int = 8, env_dir=None, write: bool = True,
           threads: Optional[int] = None, eager: bool = True) -> dict:
    """Run `artifact` on `isa` and compare; returns the parity.<isa> entry (also written to the
    sidecar manifest unless write=False)."""
    from ..runtimes import open_artifact

    path = Path(artifact)
    if not path.exists():
        raise InputError(f"artifact not found: {path}")
    if n < 1:
        raise InputError(f"-n must be at least 1, got {n}")
    opened = open_artifact(path, probe=False)
    fmt, manifest = opened.format, opened.manifest
    find_env(isa, fmt, env_dir)  # a missing environment or qemu: one line, before any work
    if manifest is None:
        raise ArtifactError(f"{path.name} has no edgekit manifest (sidecar or embedded): verify needs its "
                            "preprocessing and precision")
    precision = manifest.get("precision", "fp32")
    x, inputs_desc = _inputs(manifest, images, n)

    arm, remote = isa_logits(path, fmt, x, isa, env_dir, threads)
    entry: dict = {"status": "not_run", "runtime": f"{remote['runtime']} {remote['runtime_version']}".strip(),
                   "n": int(len(x)), "inputs": inputs_desc}
    host = remote["host"]
    emu = host.get("emulation") or {}
    entry["machine"] = host.get("machine")
    entry["emulated"] = bool(emu.get("emulated"))
    if entry["emulated"]:
        entry["emulator"] = emu.get("by", "")
        entry["cpu_model"] = emu.get("cpu_model") or ""
    entry["cpu_features"] = list(host.get("cpu_features") or [])
    entry["seconds_per_input"] = round(remote["seconds"] / max(1, len(x)), 3)
    if entry["emulated"]:
        entry["seconds_note"] = "emulated: not device latency"

    x86, x86_runtime = artifact_logits(str(path), fmt, x)
    entry["vs_x86"] = {**metrics(x86, arm), "runtime": x86_runtime}
    module, why = eager_module(manifest) if eager else (None, "not asked (--no-eager)")
    if module is not None:
        ref = eager_logits(module, _nchw(x, manifest))
        entry["vs_eager"] = metrics(ref, arm)
        entry["x86_vs_eager"] = metrics(ref, x86)
        judged, against = entry["vs_eager"], "eager"
    else:
        entry["vs_eager"] = None
        entry["eager_not_run"] = why
        judged, against = entry["vs_x86"], "x86"
    entry["status"], reason = judge(judged, precision)
    entry["judged_against"] = against
    if reason:
        entry["reason"] = reason
    entry["thresholds"] = THRESHOLDS[precision]
    entry["checked"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    entry["edgekit_version"] = __version__
    if write:
        entry["recorded"] = _record(path, isa, entry)
    return entry


def _record(path: Path, isa: str, entry: dict) -> str:
    """Write parity.<isa> into the sidecar manifest; returns where it went (or why not)."""
    sidecar = read_sidecar(path)
    if sidecar is None:
        return "not recorded: no sidecar manifest (<artifact>.json) beside the artifact"
    if sidecar.get("artifact", {}).get("sha256") not in (None, sha256_file(path)):
        return "not recorded: the sidecar manifest's sha256 does not match the artifact"
    doc = json.loads(json.dumps(sidecar))
    doc.setdefault("parity", {"status": "not_run"})[isa] = {k: v for k, v in entry.items() if k != "recorded"}
    try:
        validate(doc)
    except ImportError:  # a minimal install without jsonschema: the schema is checked by the tests
        pass
    out = write_sidecar(path, doc)
    return f"sidecar {out.name} (parity.{isa}); the embedded copy is left as exported"
