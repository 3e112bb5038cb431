"""Runtimes, one module each: `edgekit.load(path)` picks the runtime from the file's suffix and
content and returns a RuntimeModel with one API for all formats. Never imports torch at module
import time (the ExecuTorch and PyTorch runtimes import it when they load a model).

Which formats exist, their suffixes and identifiers, and which module runs each, is the format
registry's (edgekit.formats): .pte (ExecuTorch), .tflite (LiteRT/TFLite), .onnx (ONNX Runtime),
.mlpackage / .mlmodel (Core ML: runs on macOS only; elsewhere `inspect()` still reads its spec)
and .pt2 (a torch.export program run by PyTorch eager, the reference)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ..formats import get_format
from .base import RuntimeModel, TensorSpec  # noqa: F401  (public)
from .detect import detect_format, read_manifest  # noqa: F401  (public)

PathLike = Union[str, os.PathLike]


def runtime_class(fmt: str):
    """The RuntimeModel class that runs format `fmt`."""
    return get_format(fmt).runtime_class()


@dataclass
class Opened:
    """An artifact checked and ready to load: its format and manifest are read, and (unless it
    is trusted) it has been loaded and run once in a child process (probe.py)."""

    path: Path
    format: str
    manifest: Optional[dict]

    def model_class(self):
        """The class that loads it: the format's runtime, or HeadedModel for a tuned artifact."""
        from .headed import HeadedModel, is_headed

        return HeadedModel if is_headed(self.path, self.manifest) else runtime_class(self.format)

    def load(self, threads: Optional[int] = None) -> RuntimeModel:
        from .headed import HeadedModel, is_headed

        if is_headed(self.path, self.manifest):  # a tuned artifact (edgekit tune): backbone program + head
            return HeadedModel(self.path, self.format, threads=threads, manifest=self.manifest)
        return runtime_class(self.format)(self.path, threads=threads, manifest=self.manifest)


def open_artifact(path: PathLike, probe: Union[bool, str] = "auto") -> Opened:
    """Detect the format, read the manifest and run the crash probe: everything load() does before
    the runtime loads the file (bench times the load itself apart from this)."""
    from .probe import maybe_probe

    fmt = detect_format(path)
    manifest = read_manifest(path, fmt)
    maybe_probe(path, fmt, manifest, probe)
    return Opened(Path(path), fmt, manifest)


def load(path: PathLike, threads: Optional[int] = None, probe: Union[bool, str] = "auto") -> RuntimeModel:
    """Load an artifact with the runtime its format needs.

    threads: intra-op thread count (None: the runtime's default).
    probe: run the first load of an untrusted file in a child process, so a crash inside a native
    loader becomes an ArtifactError instead of killing this process. "auto" probes unless the
    file has a sidecar manifest whose sha256 matches it (an edgekit export) or passed a probe
    before; True always probes; False never does (also env EDGEKIT_PROBE=0/1)."""
    return open_artifact(path, probe).load(threads)


def inspect(path: PathLike) -> RuntimeModel:
    """Like load(), for reading `.inputs/.outputs/.manifest` only: a Core ML model on Linux comes
    back readable from its spec (its run() raises). Other formats are loaded as usual."""
    fmt = detect_format(path)
    if fmt == "coreml":
        return runtime_class(fmt)(path, manifest=read_manifest(path, fmt), inspect_only=True)
    opened = open_artifact(path)
    return runtime_class(fmt)(path, manifest=opened.manifest)
