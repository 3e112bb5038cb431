"""ONNX Runtime (CPU execution provider). numpy only besides onnxruntime."""
from __future__ import annotations

from ..errors import ArtifactError, MissingDependencyError, first_line
from .base import RuntimeModel, TensorSpec

# ONNX element type strings -> numpy dtype names
_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int32)": "int32", "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError("onnxruntime", "onnxruntime", "run .onnx models") from None
    return onnxruntime


def _spec(arg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else -1 for d in (arg.shape or ()))
    return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, arg.type), None, None)


class OnnxRuntimeModel(RuntimeModel):
    runtime_name = "onnxruntime"
    package = "onnxruntime"

    def _load(self) -> None:
        ort = _ort()
        so = ort.SessionOptions()
        if self._threads:
            so.intra_op_num_threads = self._threads
            so.inter_op_num_threads = 1
        so.log_severity_level = 3  # errors only; failures still raise
        try:
            self._sess = ort.InferenceSession(str(self.path), sess_options=so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf/... classes
            msg = first_line(e)
            raise ArtifactError(f"cannot load {self.path.name} as an ONNX model: {msg[:300]}") from None
        self._in_names = [i.name for i in self._sess.get_inputs()]

    def _native_inputs(self) -> list:
        return [_spec(a) for a in self._sess.get_inputs()]

    def _native_outputs(self) -> list:
        return [_spec(a) for a in self._sess.get_outputs()]

    def _invoke(self, arrays: list) -> list:
        try:
            return self._sess.run(None, dict(zip(self._in_names, arrays)))
        except Exception as e:  # onnxruntime's Fail/RuntimeException on a model that cannot run
            msg = first_line(e)
            raise ArtifactError(f"{self.path.name}: ONNX Runtime failed to run it: {msg[:300]}") from None

    def embedded_manifest(self):
        """The manifest stored in the model's metadata_props (key 'edgekit_manifest'), if any."""
        import json

        props = self._sess.get_modelmeta().custom_metadata_map or {}
        for key in ("edgekit_manifest", "edgekit.manifest", "manifest"):
            if key in props:
                try:
                    return json.loads(props[key])
                except ValueError:
                    return None
        return None

    @property
    def runtime_version(self) -> str:
        return _ort().__version__

    def close(self) -> None:
        self._sess = None
