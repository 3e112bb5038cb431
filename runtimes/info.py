"""Everything `edgekit info` shows about an artifact, as a dict: its format, size and sha256, the
manifest (sidecar, else embedded) and whether it is valid and matches the file, and the IO spec
read from the artifact itself. Pure Python: no runtime package and no torch are needed, and
artifacts edgekit did not make work too."""
from __future__ import annotations

from pathlib import Path

from ..files import size_bytes
from ..manifest import read_sidecar, sha256_file, sidecar_path
from ..manifest import validate as validate_manifest
from . import detect_format
from .readers import embedded_manifest, static_io, validate
from .tensors import merge_specs


def artifact_info(path) -> dict:
    """Everything `info` shows, as a dict."""
    p = Path(path)
    fmt = detect_format(p)
    validate(p, fmt)
    size = size_bytes(p)
    digest = sha256_file(p)
    sidecar = read_sidecar(p)
    embedded = embedded_manifest(p, fmt)
    manifest, source = (sidecar, f"sidecar {sidecar_path(p).name}") if sidecar else (embedded, "embedded in the artifact" if embedded else None)
    inputs, outputs = static_io(p, fmt)
    inputs, outputs = merge_specs(inputs, manifest, "inputs"), merge_specs(outputs, manifest, "outputs")
    recorded = ((manifest or {}).get("artifact") or {}).get("sha256")
    schema_ok = None
    if manifest is not None:
        try:
            validate_manifest(manifest)
            schema_ok = "valid"
        except ImportError:
            schema_ok = "not checked (jsonschema not installed)"
        except Exception as e:  # ArtifactError with the first violation
            schema_ok = f"INVALID: {e}"
    return {
        "artifact": str(p), "format": fmt, "size_bytes": size, "sha256": digest,
        "sha256_matches_manifest": None if not recorded else recorded == digest,
        "manifest_source": source, "manifest_schema": schema_ok,
        "embedded_manifest": embedded is not None,
        "inputs": [s.to_dict() for s in inputs], "outputs": [s.to_dict() for s in outputs],
        "manifest": manifest,
    }
