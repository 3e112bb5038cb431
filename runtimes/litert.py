"""LiteRT / TFLite runtime: ai_edge_litert, falling back to tflite_runtime, then tensorflow.lite.
numpy only besides the interpreter (runs on a Raspberry Pi with tflite-runtime and numpy<2)."""
from __future__ import annotations

import numpy as np

from ..errors import ArtifactError, MissingDependencyError, first_line
from .base import RuntimeModel, TensorSpec

# (module to import, distribution name for the version)
_BACKENDS = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow.lite", "tensorflow"),
)


def interpreter_class():
    """(Interpreter class, distribution name) of the first TFLite interpreter that imports."""
    import importlib

    for mod, dist in _BACKENDS:
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        return m.Interpreter, dist
    raise MissingDependencyError("ai-edge-litert (or tflite-runtime)", "tflite", "run .tflite models")


def _quant(detail: dict):
    qp = detail.get("quantization_parameters") or {}
    scales = np.asarray(qp.get("scales", []))
    zps = np.asarray(qp.get("zero_points", []))
    if scales.size == 1:
        return {"scale": float(scales[0]), "zero_point": int(zps[0]) if zps.size else 0}
    scale, zp = detail.get("quantization", (0.0, 0))
    if scale:
        return {"scale": float(scale), "zero_point": int(zp)}
    return None


def _spec(detail: dict) -> TensorSpec:
    dtype = np.dtype(detail["dtype"]).name
    sig = detail.get("shape_signature")
    shape = tuple(int(d) for d in (sig if sig is not None and len(sig) else detail["shape"]))
    quant = _quant(detail) if dtype in ("int8", "uint8", "int16") else None
    return TensorSpec(detail.get("name", ""), shape, dtype, None, quant)


class LiteRTModel(RuntimeModel):
    runtime_name = "tflite"
    package = "ai-edge-litert"

    def _load(self) -> None:
        Interpreter, self.package = interpreter_class()
        kw = {"num_threads": self._threads} if self._threads else {}
        try:
            self._interp = Interpreter(model_path=str(self.path), **kw)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            first = first_line(e)
            raise ArtifactError(f"cannot load {self.path.name} as a TFLite model: {first}") from None
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        self._in_idx = [d["index"] for d in self._in]
        self._out_idx = [d["index"] for d in self._out]
        # inputs with a -1 dimension are resized to each call's shape; others skip the check
        sigs = [d.get("shape_signature") for d in self._in]
        self._resizable = any(int(v) < 0 for sig in sigs if sig is not None for v in sig)

    def _native_inputs(self) -> list:
        return [_spec(d) for d in self._in]

    def _native_outputs(self) -> list:
        return [_spec(d) for d in self._out]

    def _invoke(self, arrays: list) -> list:
        it = self._interp
        if self._resizable:
            for idx, a, spec in zip(self._in_idx, arrays, self.inputs):
                if a.shape != tuple(spec.shape) and any(d < 0 for d in spec.shape):
                    it.resize_tensor_input(idx, a.shape)
                    it.allocate_tensors()
        for idx, a in zip(self._in_idx, arrays):
            it.set_tensor(idx, a)
        try:
            it.invoke()
        except RuntimeError as e:
            msg = first_line(e)
            raise ArtifactError(f"{self.path.name}: the TFLite interpreter failed to run it: {msg[:300]}") from None
        return [it.get_tensor(i) for i in self._out_idx]

    @property
    def runtime_version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(self.package)
        except PackageNotFoundError:
            return "unknown"

    def close(self) -> None:
        self._interp = None
