"""The PT2E quantizer edgekit calibrates with: the backend's stock quantizer (XNNPACK's, or
LiteRT's) plus edgekit's annotation changes: one observer after ReLU6/hardtanh (clamp fusion),
layers kept in float, 7-bit weights for ONNX Runtime, and a float output for the layer that
writes the model's output (int8 weights; see float_output_annotation). Used by
edgekit/quantize.py."""
from __future__ import annotations

import dataclasses
from typing import Callable

from .quantize import _in_layers, _is_weighted, output_layer_nodes

# ONNX Runtime's int8 conv/gemm kernels on x86 without VNNI (AVX2, this machine) add pairs of
# u8 x s8 products in int16 (vpmaddubsw) and saturate with full-range int8 weights: on
# EfficientNet-Lite0 the fused int8 model's logits had cosine 0.93 to the same QDQ graph run in
# float. 7-bit weights (ORT's own reduce_range) cannot saturate; the "onnx" backend uses them.
ONNX_WEIGHT_RANGE = (-63, 63)


def _act_observer(name: str):
    from torchao.quantization.pt2e.observer import (
        HistogramObserver,
        MinMaxObserver,
        MovingAverageMinMaxObserver,
    )

    ctor = {"histogram": HistogramObserver, "minmax": MinMaxObserver, "moving_average": MovingAverageMinMaxObserver}[name]
    return ctor.with_args(eps=2**-12)


def _config(backend: str, per_channel: bool, observer: str):
    if backend == "litert":
        from litert_torch.quantize import pt2e_quantizer as lq

        cfg = lq.get_symmetric_quantization_config(is_per_channel=per_channel)
    else:
        from executorch.backends.xnnpack.quantizer import xnnpack_quantizer as xq

        lo, hi = ONNX_WEIGHT_RANGE if backend == "onnx" else (-127, 127)
        cfg = xq.get_symmetric_quantization_config(is_per_channel=per_channel, weight_qmin=lo, weight_qmax=hi)
    if observer != "histogram":
        act = dataclasses.replace(cfg.input_activation, observer_or_fake_quant_ctr=_act_observer(observer))
        cfg = dataclasses.replace(cfg, input_activation=act, output_activation=act)
    return cfg


def _base_quantizer(backend: str, cfg, keep: Callable):
    """The backend's stock PT2E quantizer, with an extra node filter (False = leave in float)."""
    if backend == "litert":
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer

        class _Litert(PT2EQuantizer):
            def _annotate_all_static_patterns(self, model, quantization_config, filter_fn=None):
                f = (lambda n: keep(n) and filter_fn(n)) if filter_fn is not None else keep
                return super()._annotate_all_static_patterns(model, quantization_config, f)

        return _Litert().set_global(cfg)
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

    return XNNPACKQuantizer().set_global(cfg).set_filter_function(keep)


def make_quantizer(backend, per_channel, observer, float_layers, fuse_clamp, float_output=False):
    from torchao.quantization.pt2e.quantizer import Quantizer

    cfg = _config(backend, per_channel, observer)
    layers = tuple(float_layers)
    base = _base_quantizer(backend, cfg, lambda n: not _in_layers(n, layers))

    class EdgekitQuantizer(Quantizer):
        """The backend's quantizer plus edgekit's annotation fixes (see module docstring)."""

        def __init__(self):
            super().__init__()
            self.base = base
            self.global_config = cfg
            self.float_layers = layers
            self.float_output_layers: list[str] = []  # filled by annotate (float_output)

        def transform_for_annotation(self, model):
            return base.transform_for_annotation(model)

        def annotate(self, model):
            model = base.annotate(model)
            if fuse_clamp:
                _fuse_clamp_annotations(model, cfg.output_activation)
            if layers and float_inputs_allowed(backend):
                _release_float_inputs(model, layers)
            if float_output:
                self.float_output_layers = float_output_annotation(model, backend, per_channel, layers)
            return model

        def validate(self, model):
            return base.validate(model)

    return EdgekitQuantizer()


def float_output_annotation(model, backend: str, per_channel: bool, float_layers=()) -> list[str]:
    """The linear layers that write the model's output (a classifier's head) keep int8 weights but write
    float: no int8 rounding of the logits. Static int8 logits are the largest single activation
    error measured on EfficientNet-Lite0 (docs/export.md, "int8"): a step of ~0.07 on logits whose
    top two are often closer than that. Per backend:
    - xnnpack: the head's input is quantized per run (dynamic int8, XNNPACK's qd8 x qc8w fully
      connected with a float output), the static int8 weights stay;
    - litert, onnx: the head's input stays static int8 (for LiteRT it is often the only
      quantization of the add -> pool -> flatten chain before it); the head reads it dequantized
      with its int8 weights and computes in float (LiteRT's converter writes that layer's
      unrounded float32 weights; exporters/tflite.py stores the int8 ones instead, which makes
      it a hybrid FULLY_CONNECTED). Returns the layer names changed."""
    import torch

    from .quantize import node_layer

    key = "quantization_annotation"
    changed = []
    for n in output_layer_nodes(model):
        ann = n.meta.get(key)
        if n.target != torch.ops.aten.linear.default or ann is None or _in_layers(n, float_layers):
            continue  # (a conv head keeps its int8 output)
        if backend == "xnnpack":
            from executorch.backends.xnnpack.quantizer import xnnpack_quantizer as xq

            dyn = xq.get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=True).input_activation
            ann.input_qspec_map = {**ann.input_qspec_map, n.args[0]: dyn}
        ann.output_qspec = None
        changed.append(node_layer(n) or n.name)
    return changed


def _clamp_targets():
    import torch

    return (
        torch.ops.aten.hardtanh.default,
        torch.ops.aten.hardtanh_.default,
        torch.ops.aten.relu6.default,
        torch.ops.aten.relu6_.default if hasattr(torch.ops.aten, "relu6_") else torch.ops.aten.relu6.default,
        torch.ops.aten.relu.default,
        torch.ops.aten.relu_.default,
        torch.ops.aten.clamp.default,
    )


def _fusable_producers():
    import torch

    return (
        torch.ops.aten.conv2d.default,
        torch.ops.aten.conv1d.default,
        torch.ops.aten.linear.default,
        torch.ops.aten.add.Tensor,
        torch.ops.aten.add_.Tensor,
    )


def _fuse_clamp_annotations(model, act_spec) -> int:
    """op -> clamp (ReLU6/ReLU) where the clamp only shares the op's output observer: move the
    observer after the clamp, so int8 covers the clamped range (XNNPACK and TFLite both fuse
    the clamp into the op's output min/max). Returns how many were fused."""
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

    key = "quantization_annotation"
    n_fused = 0
    for n in model.graph.nodes:
        if n.op != "call_function" or n.target not in _clamp_targets():
            continue
        prev = n.args[0]
        if not hasattr(prev, "op") or prev.target not in _fusable_producers() or len(prev.users) != 1:
            continue
        pa, na = prev.meta.get(key), n.meta.get(key)
        if pa is None or pa.output_qspec is None:
            continue
        if na is not None and not isinstance(na.output_qspec, SharedQuantizationSpec):
            continue  # already annotated on its own (e.g. a conv_relu pattern)
        out_spec = pa.output_qspec if not isinstance(pa.output_qspec, SharedQuantizationSpec) else act_spec
        pa.output_qspec = None
        n.meta[key] = QuantizationAnnotation(input_qspec_map={}, output_qspec=out_spec, _annotated=True)
        n_fused += 1
    return n_fused


def float_inputs_allowed(backend: str) -> bool:
    """May a float layer read its input unquantized? Not for XNNPACK (ExecuTorch): dropping the
    int8 output of the producer leaves an int8 conv with a float output, which XNNPACK cannot run;
    it stays outside the delegate and the program fails at to_executorch (no portable kernel for
    dequantize_per_channel). Measured on EfficientNet-Lite0 with blocks.0.0.conv_dw in float: the
    stem conv was the one left out. There the float layer reads the dequantized int8 tensor."""
    return backend != "xnnpack"


def _release_float_inputs(model, layers) -> None:
    """A float layer reads float: drop the output observer of its producer when nothing
    quantized reads that tensor (otherwise the producer's int8 rounding stays in front of it)."""
    key = "quantization_annotation"
    for n in model.graph.nodes:
        if not (_is_weighted(n) and _in_layers(n, layers)):
            continue
        p = n.args[0]
        pa = p.meta.get(key) if hasattr(p, "meta") else None
        if pa is None or pa.output_qspec is None:
            continue
        if all(u.meta.get(key) is None or (_is_weighted(u) and _in_layers(u, layers)) for u in p.users):
            pa.output_qspec = None
