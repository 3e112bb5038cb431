"""Core ML .mlpackage (ML Program) through coremltools from the ExportedProgram.

- fp16 (default): float16 compute precision, float32 input/output.
- fp32: float32 compute precision.
- int8 weight: fp16 program whose conv/linear weights are int8 per-channel symmetric
  (coremltools.optimize.coreml.linear_quantize_weights), dequantized on the fly.
- int8 static (W8A8): PT2E with the Core ML quantizer that ExecuTorch's Core ML backend ships
  (runs on Linux), calibrated on real images; int8 weights and activations (quantize/dequantize
  ops in the program, iOS17+). Float input/output.

The output stays the raw `logits` tensor on every target, so apps read the same thing
everywhere; the class labels travel in the manifest, which is embedded as the user-defined
metadata entry `edgekit_manifest` (visible in Xcode, readable as
`MLModel(path).user_defined_metadata["edgekit_manifest"]`). A ClassifierConfig output
(class label + probability dict) was not used because it replaces the logits output.

Core ML models run only on macOS/iOS: the parity check records status not_run ("needs macOS")."""
from __future__ import annotations

from . import Exporter, Lowered, float_io, versions_of

METADATA_KEY = "edgekit_manifest"
DEPLOYMENT_TARGET = "iOS16"


def _quiet_coremltools():
    import logging

    logging.getLogger("coremltools").setLevel(logging.ERROR)


def _w8a8(cap, calib_arrays, recipe):
    """Static W8A8 with the Core ML backend's stock PT2E quantizer (edgekit.quant, backend
    coreml), calibrated on the capture's own graph; returns the re-captured ExportedProgram and
    the QuantResult."""
    import torch

    from ..quant import quantize

    qr = quantize(cap.module, (cap.example,), calib_arrays, recipe, batch_size=1, captured=cap.graph_module())
    return torch.export.export(qr.module, (cap.example,), strict=False), qr


class CoreMLExporter(Exporter):
    default_precision = "fp16"
    precisions = {"fp16": None, "fp32": None, "int8": ("weight", "static")}
    quant_backend = "coreml"
    parity_unavailable = "needs macOS (Core ML runs only on Apple platforms)"

    def lower(self, cap, options, calib=None, num_classes: int = 0) -> Lowered:
        _quiet_coremltools()
        import coremltools as ct

        compute = ct.precision.FLOAT32 if options.precision == "fp32" else ct.precision.FLOAT16
        program, target, qr = cap.program, DEPLOYMENT_TARGET, None
        if options.precision == "int8" and options.quant == "static":
            program, qr = _w8a8(cap, calib.arrays, options.recipe)
            target = "iOS17"  # activation quantize/dequantize ops need iOS17
        mlmodel = ct.convert(
            program.run_decompositions({}),
            inputs=[ct.TensorType(name="image", shape=cap.input_shape)],
            outputs=[ct.TensorType(name="logits")],
            convert_to="mlprogram",
            compute_precision=compute,
            minimum_deployment_target=getattr(ct.target, target),
        )
        if options.precision == "int8" and options.quant == "weight":
            from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

            cfg = OptimizationConfig(global_config=OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8",
                                                                            granularity="per_channel"))
            mlmodel = linear_quantize_weights(mlmodel, config=cfg)
        mlmodel.short_description = f"edgekit {cap.input_size}x{cap.input_size} image classifier ({options.precision})"

        def save(path: str, manifest_json=None) -> None:
            if manifest_json is not None:
                mlmodel.user_defined_metadata[METADATA_KEY] = manifest_json
            mlmodel.save(path)

        inputs, outputs = float_io(cap.input_shape, num_classes, cap.layout)
        return Lowered(
            save=save, inputs=inputs, outputs=outputs, quant_result=qr, delegate=None,
            details={"model_type": "mlprogram", "minimum_deployment_target": target,
                     "compute_precision": "float32" if options.precision == "fp32" else "float16"},
            embedded_manifest=f"Core ML user-defined metadata '{METADATA_KEY}'",
            versions=versions_of("coremltools"),
        )
