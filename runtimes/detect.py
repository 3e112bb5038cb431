"""Which format an artifact file is (by suffix, checked against its first bytes), and its manifest
(the sidecar, else the copy embedded in it). Pure Python; the format facts are edgekit.formats'."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from ..errors import ArtifactError
from ..formats import detect, detect_folder
from ..manifest import read_sidecar
from .readers import embedded_manifest

PathLike = Union[str, os.PathLike]


def detect_format(path: PathLike) -> str:
    """The registered format of `path` ('executorch', 'tflite', ...) from its suffix and content,
    or ArtifactError saying which formats are supported."""
    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"artifact not found: {p}")
    if p.is_dir():
        try:
            return detect_folder(p.name, p.suffix, {c.name for c in p.iterdir()}).name
        except ValueError as e:
            raise ArtifactError(str(e)) from None
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise ArtifactError(f"cannot read {p}: {e.strerror}") from None
    if not head:
        raise ArtifactError(f"{p.name} is empty (truncated?)")
    try:
        return detect(p.name, p.suffix, head).name
    except ValueError as e:
        raise ArtifactError(str(e)) from None


def read_manifest(path: PathLike, fmt: Optional[str] = None) -> Optional[dict]:
    """The artifact's manifest: the sidecar `<artifact>.json` if present, else the copy embedded
    in the artifact (where the exporter put one), else None. Never needs the runtime package."""
    m = read_sidecar(path)
    if m is not None:
        return m
    return embedded_manifest(path, fmt or detect_format(path))
