"""The manifest: one JSON document per artifact (schema: edgekit/schema/manifest.schema.json).
Sidecar at <artifact>.json; exporters also embed it where the format allows."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional, Union

from .errors import ArtifactError
from .files import write_text

SCHEMA_PATH = Path(__file__).with_name("schema") / "manifest.schema.json"
SCHEMA_VERSION = 1


def schema() -> dict:
    """The manifest JSON Schema. The file lists the built-in formats (it is the contract with the
    apps); formats registered at run time (edgekit.formats) are accepted too."""
    doc = json.loads(SCHEMA_PATH.read_text())
    from .formats import target_names

    names = sorted(set(doc["properties"]["artifact"]["properties"]["format"]["enum"]) | set(target_names()))
    doc["properties"]["artifact"]["properties"]["format"]["enum"] = names
    doc["properties"]["target"]["properties"]["name"]["enum"] = names
    return doc


def sidecar_path(artifact: Union[str, os.PathLike]) -> Path:
    p = Path(artifact)
    return p.with_name(p.name + ".json")


def first_schema_error(schema_doc: dict, doc: dict):
    """(where, message) of the first JSON Schema violation of `doc`, or None (needs jsonschema)."""
    import jsonschema

    v = jsonschema.Draft202012Validator(schema_doc)
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    e = errors[0]
    return "/".join(str(p) for p in e.absolute_path) or "(root)", e.message


def validate(manifest: dict) -> None:
    """Raise ArtifactError with the first schema violation (needs jsonschema, in the dev/export extras)."""
    err = first_schema_error(schema(), manifest)
    if err:
        raise ArtifactError(f"manifest does not match schema at {err[0]}: {err[1]}")


def sha256_file(path: Union[str, os.PathLike], chunk: int = 1 << 20) -> str:
    """sha256 of a file, or of a directory (e.g. .mlpackage) as the hash of its sorted files."""
    p = Path(path)
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(chunk), b""):
                h.update(block)
    return h.hexdigest()


def write_sidecar(artifact: Union[str, os.PathLike], manifest: dict) -> Path:
    out = sidecar_path(artifact)
    write_text(out, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return out


def read_sidecar(artifact: Union[str, os.PathLike]) -> Optional[dict]:
    p = sidecar_path(artifact)
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ArtifactError(f"manifest {p} is not valid JSON: {e}") from None
