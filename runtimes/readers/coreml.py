"""Reading a Core ML model spec (the protobuf inside a .mlpackage, or a .mlmodel) in pure Python:
its inputs and outputs and its user-defined metadata (where exporters/coreml.py keeps the
manifest). No coremltools: this is what `edgekit info` uses on Linux."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ...errors import ArtifactError
from ..tensors import TensorSpec
from .manifest_json import find_manifest_json
from .wire import WireError, pb_message, pb_packed_ints, pb_str

# ArrayFeatureType.ArrayDataType -> numpy dtype names
_ARRAY_TYPES = {65568: "float32", 65600: "float64", 65552: "float16", 131104: "int32", 131080: "int8"}
_COLOR = {10: "GRAY", 20: "RGB", 30: "BGR", 40: "GRAY"}


def spec_path(path: Path) -> Path:
    """The model spec protobuf inside a .mlpackage (or the .mlmodel file itself)."""
    if path.is_file():
        return path
    try:
        man = json.loads((path / "Manifest.json").read_text())
        entry = man["itemInfoEntries"][man["rootModelIdentifier"]]
        p = path / "Data" / entry["path"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ArtifactError(f"{path.name}: unreadable .mlpackage Manifest.json ({type(e).__name__})") from None
    if not p.is_file():
        raise ArtifactError(f"{path.name}: model spec {entry.get('path')} missing from the package")
    return p


def read_spec(path: Path) -> dict:
    """{"inputs": [TensorSpec], "outputs": [TensorSpec], "metadata": {key: value}, "spec_version": int}."""
    data = spec_path(path).read_bytes()
    try:
        model = pb_message(data)
        if 2 not in model:
            raise WireError("no model description")
        desc = pb_message(data, *model[2][0])
        inputs = [_feature(data, span) for span in desc.get(1, [])]
        outputs = [_feature(data, span) for span in desc.get(10, [])]
        meta = {}
        for span in desc.get(100, []):
            m = pb_message(data, *span)
            for k, name in ((1, "shortDescription"), (2, "versionString"), (3, "author"), (4, "license")):
                if k in m:
                    meta[name] = pb_str(data, m[k][0])
            for entry in m.get(100, []):
                e = pb_message(data, *entry)
                if 1 in e:
                    meta[pb_str(data, e[1][0])] = pb_str(data, e[2][0]) if 2 in e else ""
    except WireError as e:
        raise ArtifactError(f"{path.name}: corrupt Core ML model spec ({e})") from None
    if not inputs or not outputs:
        raise ArtifactError(f"{path.name}: Core ML model spec declares no inputs or outputs")
    return {"inputs": inputs, "outputs": outputs, "metadata": meta, "spec_version": model.get(1, [0])[0]}


def _feature(data: bytes, span: tuple) -> TensorSpec:
    f = pb_message(data, *span)
    name = pb_str(data, f[1][0]) if 1 in f else ""
    if 3 not in f:
        return TensorSpec(name, (), "unknown")
    t = pb_message(data, *f[3][0])
    if 5 in t:  # multiArrayType
        a = pb_message(data, *t[5][0])
        shape = tuple(pb_packed_ints(data, a.get(1, [])))
        code = a.get(2, [0])[0]
        if code not in _ARRAY_TYPES:
            raise WireError(f"unknown array data type {code} for feature {name!r}")
        if any(d < 0 for d in shape):
            raise WireError(f"negative dimension in feature {name!r}")
        return TensorSpec(name, shape, _ARRAY_TYPES[code])
    if 4 in t:  # imageType: the app hands Core ML a CVPixelBuffer; edgekit treats it as NHWC uint8
        im = pb_message(data, *t[4][0])
        w, h = im.get(1, [0])[0], im.get(2, [0])[0]
        c = 1 if _COLOR.get(im.get(3, [20])[0]) == "GRAY" else 3
        return TensorSpec(name, (1, int(h), int(w), c), "uint8", "NHWC", None, "image")
    if 1 in t:
        return TensorSpec(name, (), "int64")
    if 2 in t:
        return TensorSpec(name, (), "float64")
    if 6 in t:
        return TensorSpec(name, (-1,), "dict", None, None, "probabilities")
    return TensorSpec(name, (), "string" if 3 in t else "unknown")


def embedded_manifest(path: Path) -> Optional[dict]:
    """An edgekit manifest kept in the user-defined metadata (any value that parses as one)."""
    return find_manifest_json(read_spec(path)["metadata"])


def validate(path: Path) -> None:
    read_spec(Path(path))


def io(path: Path) -> tuple:
    s = read_spec(Path(path))
    return s["inputs"], s["outputs"]
