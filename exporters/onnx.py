"""ONNX .onnx through torch.onnx.export(ExportedProgram, dynamo=True).

- fp32.
- int8 static: QDQ model from onnxruntime.quantization.quantize_static (per-channel symmetric
  int8 weights, int8 activations) calibrated on real images; float input/output.

The manifest is embedded as the model metadata_props entry `edgekit_manifest`."""
from __future__ import annotations

import os
import tempfile

from . import Exporter, Lowered, float_io, register_target, versions_of

METADATA_KEY = "edgekit_manifest"


def _export_fp32(cap):
    import torch

    prog = torch.onnx.export(cap.program, (cap.example,), dynamo=True, input_names=["image"],
                             output_names=["logits"], verbose=False)
    prog.optimize()
    return prog.model_proto


def _quantize_static(model, calib_arrays):
    """onnxruntime static QDQ quantization, calibrated on the preprocessed images."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self, arrays):
            self._it = iter([{"image": a[None]} for a in arrays])

        def get_next(self):
            return next(self._it, None)

    with tempfile.TemporaryDirectory(prefix="edgekit-onnx-") as d:
        f32, pre, q8 = (os.path.join(d, n) for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(model, f32)
        quant_pre_process(f32, pre, skip_symbolic_shape=True)
        quantize_static(pre, q8, Reader(calib_arrays), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
        return onnx.load(q8)


@register_target
class ONNXExporter(Exporter):
    name = "onnx"
    suffix = ".onnx"
    precisions = {"fp32": None, "int8": ("static",)}
    parity_runtime = "onnxruntime"

    def lower(self, cap, options, calib=None, num_classes: int = 0) -> Lowered:
        import onnx

        model = _export_fp32(cap)
        quantization = None
        if options.precision == "int8":
            model = _quantize_static(model, calib.arrays)
            quantization = {"recipe": "onnxruntime-static-qdq", "weights": "int8 per-channel symmetric",
                            "activations": "int8 per-tensor asymmetric", "io": "float"}

        def save(path: str, manifest_json=None) -> None:
            m = model
            if manifest_json is not None:
                m = onnx.ModelProto()
                m.CopyFrom(model)
                for p in [p for p in m.metadata_props if p.key == METADATA_KEY]:
                    m.metadata_props.remove(p)
                m.metadata_props.add(key=METADATA_KEY, value=manifest_json)
            onnx.save(m, path)

        inputs, outputs = float_io(cap.input_shape, num_classes, cap.layout)
        return Lowered(
            save=save, inputs=inputs, outputs=outputs, quantization=quantization, delegate=None,
            details={"opset": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
                     "exporter": "torch.onnx.export(dynamo=True)"},
            embedded_manifest=f"ONNX metadata_props '{METADATA_KEY}'",
            versions=versions_of("onnx", "onnxruntime", "onnxscript"),
        )
