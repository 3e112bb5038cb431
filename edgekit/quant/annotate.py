"""The PT2E quantizer edgekit calibrates with: the backend's stock quantizer (backends.py) plus
edgekit's annotation changes: zero pads in int8 on their input's scale, one observer after
ReLU6/hardtanh (clamp fusion), layers kept in
float (reading float input where the backend allows it), and a float output for the layer that
writes the model's output (int8 weights; see float_output_annotation). A backend that is not
tunable (Core ML) gets its stock quantizer unchanged."""
from __future__ import annotations

from .backends import QuantBackend, get_backend
from .graph import in_layers, is_weighted, node_layer, output_layer_nodes, output_pool_nodes
from .recipe import QuantRecipe

_KEY = "quantization_annotation"


def make_quantizer(recipe: QuantRecipe):
    """The quantizer prepare_pt2e annotates with, for `recipe` (its float_output_layers are
    filled in by annotation)."""
    from torchao.quantization.pt2e.quantizer import Quantizer

    backend = get_backend(recipe.backend)
    cfg = backend.stock_config(recipe.per_channel, recipe.observer)
    layers = tuple(recipe.float_layers)
    base = backend.stock_quantizer(cfg, lambda n: not in_layers(n, layers))
    if not backend.tunable:
        base.float_output_layers = []
        base.float_output_pooling = []
        return base
    float_output = recipe.writes_float_output

    class EdgekitQuantizer(Quantizer):
        """The backend's quantizer plus edgekit's annotation fixes (see module docstring)."""

        def __init__(self):
            super().__init__()
            self.base = base
            self.global_config = cfg
            self.float_layers = layers
            self.float_output_layers: list[str] = []  # filled by annotate (float_output)
            self.float_output_pooling: list[str] = []  # ... and the output pooling of a backbone

        def transform_for_annotation(self, model):
            return base.transform_for_annotation(model)

        def annotate(self, model):
            model = base.annotate(model)
            if recipe.fuse_clamp:
                _fuse_clamp_annotations(model, cfg.output_activation)
            if layers and backend.float_inputs:
                _release_float_inputs(model, layers)
            if float_output:
                self.float_output_layers = float_output_annotation(model, backend, recipe.per_channel, layers)
                self.float_output_pooling = float_pooled_output(model)
            _annotate_zero_pads(model, cfg.input_activation)
            return model

        def validate(self, model):
            return base.validate(model)

    return EdgekitQuantizer()


def float_output_annotation(model, backend: QuantBackend, per_channel: bool, float_layers=()) -> list[str]:
    """The linear layers that write the model's output (a classifier's head) keep int8 weights but
    write float: no int8 rounding of the logits. Static int8 logits are the largest single
    activation error measured on EfficientNet-Lite0 (docs/int8-notes.md): a step of ~0.07 on logits
    whose top two are often closer than that. Per backend:
    - xnnpack: the head's input is quantized per run (dynamic int8, XNNPACK's qd8 x qc8w fully
      connected with a float output), the static int8 weights stay;
    - litert, onnx: the head's input stays static int8 (for LiteRT it is often the only
      quantization of the add -> pool -> flatten chain before it); the head reads it dequantized
      with its int8 weights and computes in float (LiteRT's converter writes that layer's
      unrounded float32 weights; exporters/tflite.py stores the int8 ones instead, which makes
      it a hybrid FULLY_CONNECTED). Returns the layer names changed."""
    import torch

    changed = []
    for n in output_layer_nodes(model):
        ann = n.meta.get(_KEY)
        if n.target != torch.ops.aten.linear.default or ann is None or in_layers(n, float_layers):
            continue  # (a conv head keeps its int8 output)
        dyn = backend.head_input_spec(per_channel)
        if dyn is not None:
            ann.input_qspec_map = {**ann.input_qspec_map, n.args[0]: dyn}
        ann.output_qspec = None
        changed.append(node_layer(n) or n.name)
    return changed


def float_pooled_output(model) -> list[str]:
    """A backbone whose output is its pooled embedding (global average pooling, then shape ops)
    pools in float: the embedding is not rounded to int8. That rounding alone cost MobileNetV3-
    Small's int8 embedding 0.0016 of cosine, the largest single activation pair left after its
    stem was fixed (docs/int8-notes.md). The pooling reads the dequantized int8 tensor before it;
    a classifier (output from a layer) is left alone. Returns the pooling nodes' layer names."""
    changed = []
    for pool, shape_ops in output_pool_nodes(model):
        if pool.meta.get(_KEY) is None:
            continue
        for n in [pool] + shape_ops:
            n.meta.pop(_KEY, None)
        changed.append(node_layer(pool) or pool.name)
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

    n_fused = 0
    for n in model.graph.nodes:
        if n.op != "call_function" or n.target not in _clamp_targets():
            continue
        prev = n.args[0]
        if not hasattr(prev, "op") or prev.target not in _fusable_producers() or len(prev.users) != 1:
            continue
        pa, na = prev.meta.get(_KEY), n.meta.get(_KEY)
        if pa is None or pa.output_qspec is None:
            continue
        if na is not None and not isinstance(na.output_qspec, SharedQuantizationSpec):
            continue  # already annotated on its own (e.g. a conv_relu pattern)
        out_spec = pa.output_qspec if not isinstance(pa.output_qspec, SharedQuantizationSpec) else act_spec
        pa.output_qspec = None
        n.meta[_KEY] = QuantizationAnnotation(input_qspec_map={}, output_qspec=out_spec, _annotated=True)
        n_fused += 1
    return n_fused


def _pad_targets():
    import torch

    aten = torch.ops.aten
    return tuple(getattr(aten, name).default for name in ("pad", "constant_pad_nd") if hasattr(aten, name))


def _is_zero_pad(n) -> bool:
    """aten.pad(x, pads, "constant", 0) or aten.constant_pad_nd(x, pads, 0)."""
    import torch

    args = list(n.args) + [None] * 4
    if n.target == torch.ops.aten.constant_pad_nd.default:
        value = n.kwargs.get("value", args[2] if args[2] is not None else 0.0)
        return value == 0
    mode = n.kwargs.get("mode", args[2] if args[2] is not None else "constant")
    value = n.kwargs.get("value", args[3] if args[3] is not None else 0.0)
    return mode == "constant" and (value is None or value == 0)


def _annotate_zero_pads(model, act_spec) -> int:
    """A zero constant pad between two int8 ops (the "same" padding of TF-style models before a
    strided conv) runs in int8 on its input's scale: 0.0 is exactly the zero point, so nothing
    is rounded. Left unannotated, the stock quantizers put it in float between a dequantize and a
    quantize: XNNPACK then runs a float pad plus two converts per pad instead of folding the pad
    into the next convolution. Pads with another value or mode (e.g. -inf before max pooling)
    are left alone. Returns how many pads were annotated."""
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

    n_pads = 0
    for n in model.graph.nodes:
        if n.op != "call_function" or n.target not in _pad_targets() or n.meta.get(_KEY) is not None:
            continue
        if not _is_zero_pad(n):
            continue
        inp = n.args[0]
        if not hasattr(inp, "meta") or not getattr(inp.meta.get("val"), "is_floating_point", lambda: False)():
            continue
        pa = inp.meta.get(_KEY)
        in_spec = SharedQuantizationSpec(inp) if (pa is not None and pa.output_qspec is not None) else act_spec
        n.meta[_KEY] = QuantizationAnnotation(input_qspec_map={inp: in_spec},
                                              output_qspec=SharedQuantizationSpec((inp, n)), _annotated=True)
        n_pads += 1
    return n_pads


def _release_float_inputs(model, layers) -> None:
    """A float layer reads float: drop the output observer of its producer when nothing
    quantized reads that tensor (otherwise the producer's int8 rounding stays in front of it)."""
    for n in model.graph.nodes:
        if not (is_weighted(n) and in_layers(n, layers)):
            continue
        p = n.args[0]
        pa = p.meta.get(_KEY) if hasattr(p, "meta") else None
        if pa is None or pa.output_qspec is None:
            continue
        if all(u.meta.get(_KEY) is None or (is_weighted(u) and in_layers(u, layers)) for u in p.users):
            pa.output_qspec = None
