"""Recognising an edgekit manifest among an artifact's metadata values. The entry's key does not
matter: any value that parses as a JSON object with `schema_version` and `edgekit_version` is
taken as the edgekit manifest (so a rename on the export side does not break reading)."""
from __future__ import annotations

import json
from typing import Iterable, Optional, Union

MAX_MANIFEST = 64 << 20


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
