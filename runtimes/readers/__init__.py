"""Pure-Python readers of artifact files, one module per format (tflite, pte, onnx, coreml), each
with `validate(path)`, `io(path)` and `embedded_manifest(path)`. They need no runtime package and
no torch, so `edgekit info` works anywhere, on files edgekit did not make too. The format
registry (edgekit.formats) names each format's reader; these three functions dispatch to it and
turn a broken file into one ArtifactError line.

Static validation comes before any native code sees a file: structure, offsets and indices are
checked here, so most corrupt or truncated files give a one-line error without a child-process
probe. Passing it does not prove a file is good (weights, delegate payloads and op semantics are
not checked); runtimes/probe.py covers the rest."""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Optional, Union

from ...errors import ArtifactError
from ...formats import get_format
from .wire import WireError

PathLike = Union[str, os.PathLike]


def _reader(fmt: str):
    return get_format(fmt).reader_module()


def validate(path: PathLike, fmt: str) -> None:
    """Raise ArtifactError (one line, with the file name) if `path` is structurally broken."""
    p = Path(path)
    r = _reader(fmt)
    if r is None:
        return
    try:
        r.validate(p)
    except WireError as e:
        raise ArtifactError(f"{p.name} is corrupt or truncated: {e}") from None
    except (struct.error, UnicodeDecodeError, IndexError, RecursionError) as e:
        raise ArtifactError(f"{p.name} is corrupt or truncated ({type(e).__name__})") from None


def static_io(path: PathLike, fmt: str) -> tuple:
    """(inputs, outputs) as TensorSpecs, read from the file (layout not filled in)."""
    p = Path(path)
    r = _reader(fmt)
    if r is None:
        raise ArtifactError(f"{p.name}: no static IO reader for format {fmt}")
    try:
        return r.io(p)
    except WireError as e:
        raise ArtifactError(f"{p.name} is corrupt or truncated: {e}") from None


def embedded_manifest(path: PathLike, fmt: str) -> Optional[dict]:
    """The manifest inside the artifact, or None (none embedded, or a format that keeps none).
    A corrupt file raises ArtifactError."""
    p = Path(path)
    r = _reader(fmt)
    if r is None:
        return None
    try:
        return r.embedded_manifest(p)
    except WireError as e:
        raise WireError(f"{p.name} is corrupt or truncated: {e}") from None
