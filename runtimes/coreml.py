"""Core ML runtime. Running needs macOS (coremltools' MLModel.predict calls the Core ML
framework). Everywhere, the IO spec and user-defined metadata are read straight from the
model spec protobuf (no coremltools, no torch): `edgekit.runtimes.inspect(x.mlpackage)` and
`edgekit info` work on Linux; `edgekit.load(x.mlpackage)` on Linux raises at load with what
would work instead."""
from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from ..errors import ArtifactError, MissingDependencyError, first_line
from .base import RuntimeModel
from .readers.coreml import embedded_manifest, read_spec, spec_path  # noqa: F401  (public here too)

class UnsupportedPlatformError(ArtifactError):
    """The artifact is fine but its runtime does not exist on this operating system."""


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
            raise ArtifactError(f"cannot load {self.path.name} with Core ML: {first_line(e)}") from None

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
