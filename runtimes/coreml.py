"""Core ML runtime. Running needs macOS (coremltools' MLModel.predict calls the Core ML
framework). Everywhere, the IO spec and user-defined metadata are read straight from the
model spec protobuf (no coremltools, no torch): `edgekit.runtimes.inspect(x.mlpackage)` and
`edgekit info` work on Linux; `edgekit.load(x.mlpackage)` on Linux raises at load with what
would work instead."""
from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ArtifactError, MissingDependencyError
from .base import RuntimeModel, TensorSpec
from .wire import WireError, pb_message, pb_packed_ints, pb_str

# ArrayFeatureType.ArrayDataType -> numpy dtype names
_ARRAY_TYPES = {65568: "float32", 65600: "float64", 65552: "float16", 131104: "int32", 131080: "int8"}
_COLOR = {10: "GRAY", 20: "RGB", 30: "BGR", 40: "GRAY"}


class UnsupportedPlatformError(ArtifactError):
    """The artifact is fine but its runtime does not exist on this operating system."""


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
    from .embedded import find_manifest_json

    return find_manifest_json(read_spec(path)["metadata"])


def unavailable_message(path: Path) -> str:
    return (f"Core ML models run only on macOS (this is {platform.system()}): read {path.name}'s manifest and IO "
            f"spec with `edgekit info {path.name}`, or run the .tflite, .pte or .onnx export of the same model here")


class CoreMLModel(RuntimeModel):
    runtime_name = "coreml"
    package = "coremltools"

    def __init__(self, path, threads=None, manifest=None, inspect_only: bool = False):
        self._inspect_only = inspect_only
        super().__init__(path, threads=threads, manifest=manifest)

    def _load(self) -> None:
        self._spec = read_spec(self.path)
        self._ml = None
        if self._inspect_only:
            return
        if platform.system() != "Darwin":
            raise UnsupportedPlatformError(unavailable_message(self.path))
        try:
            import coremltools as ct
        except ImportError:
            raise MissingDependencyError("coremltools", "coreml", "run Core ML models") from None
        try:
            self._ml = ct.models.MLModel(str(self.path), compute_units=ct.ComputeUnit.CPU_ONLY)
        except Exception as e:  # coremltools raises plain Exceptions for unreadable packages
            raise ArtifactError(f"cannot load {self.path.name} with Core ML: {str(e).splitlines()[0][:300]}") from None

    def _native_inputs(self) -> list:
        return list(self._spec["inputs"])

    def _native_outputs(self) -> list:
        return list(self._spec["outputs"])

    def _invoke(self, arrays: list) -> list:
        if self._ml is None:
            raise UnsupportedPlatformError(unavailable_message(self.path))
        feed = {}
        for a, spec in zip(arrays, self.inputs):
            if spec.kind == "image":
                from PIL import Image

                feed[spec.name] = Image.fromarray(np.asarray(a[0], dtype=np.uint8))
            else:
                feed[spec.name] = a
        res = self._ml.predict(feed)
        return [np.asarray(res[o.name]) for o in self.outputs]

    @property
    def metadata(self) -> dict:
        return dict(self._spec["metadata"])

    @property
    def runtime_version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("coremltools")
        except PackageNotFoundError:
            return "not installed"
