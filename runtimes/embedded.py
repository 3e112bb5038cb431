"""Manifests embedded inside artifacts, read without the runtime package: TFLite model metadata
entries, ONNX metadata_props, Core ML user-defined metadata. The entry's key does not matter:
any value that parses as a JSON object with `schema_version` and `edgekit_version` is taken as
the edgekit manifest (so a rename on the export side does not break reading)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Optional, Union

from .wire import FlatTable, WireError, pb_message, pb_str

_MAX_MANIFEST = 64 << 20


def _as_manifest(value) -> Optional[dict]:
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str) or not value.lstrip().startswith("{"):
        return None
    try:
        d = json.loads(value)
    except ValueError:
        return None
    if isinstance(d, dict) and "schema_version" in d and "edgekit_version" in d:
        return d
    return None


def find_manifest_json(entries: Union[dict, Iterable]) -> Optional[dict]:
    """The first value that is an edgekit manifest; keys with 'edgekit' in them are tried first."""
    items = list(entries.items()) if isinstance(entries, dict) else list(entries)
    items.sort(key=lambda kv: "edgekit" not in str(kv[0]).lower())
    for _k, v in items:
        m = _as_manifest(v)
        if m is not None:
            return m
    return None


def tflite_metadata(buf: bytes) -> dict:
    """TFLite Model.metadata entries: name -> raw bytes of the buffer it points at."""
    model = FlatTable.root(buf)
    buffers = model.tables(4)
    out = {}
    for md in model.tables(6):
        name = md.string(0) or ""
        idx = md.scalar(1, "I")
        if idx >= len(buffers):
            raise WireError("TFLite metadata points at a missing buffer")
        b = buffers[idx]
        data = b.bytes_(0)
        offset, size = b.scalar(1, "Q"), b.scalar(2, "Q")
        if not data and offset > 1:  # large models keep buffers after the flatbuffer
            if offset + size > len(buf) or size > _MAX_MANIFEST:
                raise WireError("TFLite metadata buffer out of range")
            data = bytes(buf[offset:offset + size])
        out[name] = data or b""
    return out


def onnx_metadata(buf: bytes) -> dict:
    """ONNX ModelProto.metadata_props (field 14) as a dict."""
    out = {}
    for span in pb_message(buf).get(14, []):
        e = pb_message(buf, *span)
        if 1 in e:
            out[pb_str(buf, e[1][0])] = pb_str(buf, e[2][0]) if 2 in e else ""
    return out


def read_embedded_manifest(path: Union[str, os.PathLike], fmt: str) -> Optional[dict]:
    """The manifest inside the artifact, or None (none embedded, or a format that keeps none).
    A corrupt file raises ArtifactError."""
    p = Path(path)
    try:
        if fmt == "coreml":
            from .coreml import embedded_manifest

            return embedded_manifest(p)
        if fmt == "tflite":
            return find_manifest_json(tflite_metadata(p.read_bytes()))
        if fmt == "onnx":
            return find_manifest_json(onnx_metadata(p.read_bytes()))
        if fmt == "executorch":
            from .pte import pte_named_manifest

            return pte_named_manifest(p)
    except WireError as e:
        raise WireError(f"{p.name} is corrupt or truncated: {e}") from None
    return None
