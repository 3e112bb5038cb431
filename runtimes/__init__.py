"""Runtimes, one module each: `edgekit.load(path)` picks the runtime from the file's suffix and
magic bytes and returns a RuntimeModel with one API for all formats. Never imports torch at
module import time (the ExecuTorch and PyTorch runtimes import it when they load a model).

Formats: .pte (ExecuTorch; flatbuffer identifier 'ET..' at bytes 4..8), .tflite (LiteRT/TFLite;
'TFL3' at bytes 4..8), .onnx (ONNX Runtime; a protobuf ModelProto), .mlpackage directory or
.mlmodel (Core ML: runs on macOS only; elsewhere `inspect()` still reads its spec), .pt2
(torch.export ExportedProgram, PyTorch eager reference), and `zoo:NAME` (a zoo model in PyTorch)."""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Optional, Union

from ..errors import ArtifactError
from .base import RuntimeModel, TensorSpec  # noqa: F401  (public)

# format -> (module, class); one registry entry per runtime
RUNTIMES = {
    "executorch": ("edgekit.runtimes.executorch", "ExecuTorchModel"),
    "tflite": ("edgekit.runtimes.litert", "LiteRTModel"),
    "onnx": ("edgekit.runtimes.onnxruntime", "OnnxRuntimeModel"),
    "coreml": ("edgekit.runtimes.coreml", "CoreMLModel"),
    "torch": ("edgekit.runtimes.torch", "TorchModel"),
}
SUFFIXES = {".pte": "executorch", ".tflite": "tflite", ".lite": "tflite", ".onnx": "onnx",
            ".mlpackage": "coreml", ".mlmodel": "coreml", ".pt2": "torch"}
SUPPORTED = ".pte (ExecuTorch), .tflite (LiteRT/TFLite), .onnx (ONNX Runtime), .mlpackage (Core ML), .pt2 (PyTorch)"


def _sniff(head: bytes) -> Optional[str]:
    """The format a file's first bytes say, or None."""
    if len(head) >= 8:
        ident = head[4:8]
        if ident == b"TFL3":
            return "tflite"
        if ident[:2] == b"ET" and ident[2:4].isdigit():
            return "executorch"
    if head[:4] == b"PK\x03\x04":
        return "zip"  # a .pt2 (torch.export.save) is a zip archive
    return None


def _looks_like_onnx(head: bytes) -> bool:
    """An ONNX ModelProto starts with a protobuf field tag of one of its fields (ir_version=1
    varint, opset_import=8, producer_name=2, graph=7, ...), never with a flatbuffer header."""
    if not head:
        return False
    tag = head[0]
    field, wire = tag >> 3, tag & 7
    return 1 <= field <= 20 and wire in (0, 2)


def detect_format(path: Union[str, os.PathLike]) -> str:
    """'executorch' | 'tflite' | 'onnx' | 'coreml' | 'torch' from suffix and content, or
    ArtifactError saying which formats are supported."""
    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"artifact not found: {p}")
    suffix = p.suffix.lower()
    if p.is_dir():
        if suffix == ".mlpackage" or (p / "Manifest.json").is_file():
            if not (p / "Manifest.json").is_file():
                raise ArtifactError(f"{p.name} is not a valid .mlpackage: Manifest.json missing")
            return "coreml"
        raise ArtifactError(f"{p} is a directory, not a model (supported: {SUPPORTED})")
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise ArtifactError(f"cannot read {p}: {e.strerror}") from None
    if not head:
        raise ArtifactError(f"{p.name} is empty (truncated?)")
    sniffed = _sniff(head)
    by_suffix = SUFFIXES.get(suffix)
    if by_suffix in ("executorch", "tflite"):
        if sniffed != by_suffix:
            want = "'ET..' (ExecuTorch)" if by_suffix == "executorch" else "'TFL3' (TFLite)"
            seen = f"; it looks like a {sniffed} file" if sniffed in RUNTIMES else ""
            raise ArtifactError(f"{p.name} is not a valid {suffix} file: no {want} identifier at bytes 4..8{seen}")
        return by_suffix
    if by_suffix == "onnx":
        if sniffed in ("tflite", "executorch"):
            raise ArtifactError(f"{p.name} is not an ONNX model: it looks like a {sniffed} file")
        if not _looks_like_onnx(head):
            raise ArtifactError(f"{p.name} is not a valid .onnx file: it does not start like a protobuf ModelProto")
        return "onnx"
    if by_suffix == "torch":
        if sniffed != "zip":
            raise ArtifactError(f"{p.name} is not a torch.export .pt2 archive (expected a zip file)")
        return "torch"
    if by_suffix == "coreml":  # a single-file .mlmodel (protobuf)
        return "coreml"
    if sniffed in ("tflite", "executorch"):
        return sniffed  # a known format under another name (e.g. model.bin)
    raise ArtifactError(f"unknown model format: {p.name} (supported: {SUPPORTED})")


def runtime_class(fmt: str):
    mod, cls = RUNTIMES[fmt]
    return getattr(importlib.import_module(mod), cls)


def read_manifest(path: Union[str, os.PathLike], fmt: Optional[str] = None) -> Optional[dict]:
    """The artifact's manifest: the sidecar `<artifact>.json` if present, else the copy embedded
    in the artifact (where the exporter put one), else None. Never needs the runtime package."""
    from ..manifest import read_sidecar

    m = read_sidecar(path)
    if m is not None:
        return m
    from .embedded import read_embedded_manifest

    return read_embedded_manifest(path, fmt or detect_format(path))


def load(path: Union[str, os.PathLike], threads: Optional[int] = None, probe: Union[bool, str] = "auto") -> RuntimeModel:
    """Load an artifact with the runtime its format needs.

    threads: intra-op thread count (None: the runtime's default).
    probe: run the first load of an untrusted file in a child process, so a crash inside a native
    loader becomes an ArtifactError instead of killing this process. "auto" probes unless the
    file has a sidecar manifest whose sha256 matches it (an edgekit export) or passed a probe
    before; True always probes; False never does (also env EDGEKIT_PROBE=0/1)."""
    if isinstance(path, str) and path.startswith("zoo:"):
        return runtime_class("torch").from_zoo(path[4:], threads=threads)
    fmt = detect_format(path)
    manifest = read_manifest(path, fmt)
    from .probe import maybe_probe

    maybe_probe(path, fmt, manifest, probe)
    from .headed import HeadedModel, is_headed

    if is_headed(path, manifest):  # a tuned artifact (edgekit tune): backbone program + head weights
        return HeadedModel(path, fmt, threads=threads, manifest=manifest)
    return runtime_class(fmt)(path, threads=threads, manifest=manifest)


def inspect(path: Union[str, os.PathLike]) -> RuntimeModel:
    """Like load(), for reading `.inputs/.outputs/.manifest` only: a Core ML model on Linux comes
    back readable from its spec (its run() raises). Other formats are loaded as usual."""
    fmt = detect_format(path)
    manifest = read_manifest(path, fmt)
    if fmt == "coreml":
        return runtime_class(fmt)(path, manifest=manifest, inspect_only=True)
    from .probe import maybe_probe

    maybe_probe(path, fmt, manifest, "auto")
    return runtime_class(fmt)(path, manifest=manifest)
