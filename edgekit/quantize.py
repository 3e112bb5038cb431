"""Post-training static int8 quantization (PT2E) for the ExecuTorch/XNNPACK and LiteRT exporters.

How an exporter uses it (the exact call sequence)
-------------------------------------------------
`calib` is a float32 array (N, C, H, W) preprocessed like the model's card (edgekit.preprocess.batch)
or an iterable of such batches. The example input fixes the batch size of the capture (use 1);
calibration is fed in chunks of that size. int8 without calibration data raises ExportError.

ExecuTorch (.pte, XNNPACK)::

    from edgekit.quantize import guarded_quantize          # or quantize_pt2e (no guard)
    qr = guarded_quantize(model, (x,), calib, backend="xnnpack")
    ep = torch.export.export(qr.module, (x,))              # re-capture the converted fx module
    prog = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    manifest["quantization"] = {**qr.recipe, "io": "float", "calibration": {...}}

LiteRT (.tflite)::

    qr = guarded_quantize(model, (x,), calib, backend="litert")   # int8_edges=True for --io int8
    data = static_int8_flatbuffer(qr, x, io="float")                # exporters/tflite.py: it runs
    # litert_torch.convert(qr.module, (x,), quant_config=qr.litert_quant_config()), stores the
    # float-output head's int8 weights (hybrid_weights) and gives the model float (or int8) IO

`guarded_quantize` = `quantize_pt2e` + the accuracy guard (edgekit/sensitivity.py): it holds out
every 4th calibration image (or takes `eval_inputs`), measures top-1 agreement of the int8 module
with the float module there, and below `min_agreement` (0.99) keeps the most sensitive layers in
float (per-layer sensitivity pass; at most `max_float_layers`, re-calibrated for real). The layers
kept are in `qr.recipe["float_layers"]`; `qr.agreement` and `qr.details["guard_history"]` say
what it measured. `qr.recipe` is the manifest `quantization` block (recipe, weights,
activations, float_layers); add "io" and "calibration".

Why the recipe is what it is (ReLU6 observer placement, GPTQ weight rounding or nearest rounding
with bias correction, the guard, the XNNPACK run-time failure that did not reproduce) and what it
measures: docs/export.md, "int8".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from .errors import ExportError, UnknownNameError

BACKENDS = ("xnnpack", "litert", "coreml", "onnx")
OBSERVERS = ("histogram", "minmax", "moving_average")
BIAS_CORRECTION_IMAGES = 32  # calibration images whose layer-input means drive the bias correction
ROUNDINGS = ("gptq", "nearest")  # int8 weight rounding: error-compensating (edgekit/weight_rounding.py) or plain
ROUNDING_IMAGES = 64  # calibration images whose layer inputs drive the gptq rounding
FLOAT_OUTPUT_KEY = "edgekit_float_output_layers"  # prepared.meta: the output layers left writing float


@dataclass
class QuantResult:
    """A converted (quantize/dequantize annotated) fx GraphModule, ready for torch.export and
    lowering, plus the manifest `quantization` block describing how it was made."""

    module: Any
    recipe: dict
    backend: str
    quantizer: Any = None
    agreement: Optional[float] = None  # top-1 agreement vs float measured by the guard (or None)
    details: dict = field(default_factory=dict)

    def litert_quant_config(self):
        """The `quant_config` argument for `litert_torch.convert` (static PT2E)."""
        if self.backend != "litert":
            raise ExportError(f"litert_quant_config() needs backend='litert', this result was made for {self.backend!r}")
        from litert_torch.quantize.quant_config import QuantConfig

        return QuantConfig(pt2e_quantizer=self.quantizer.base)


# ----------------------------------------------------------------------------------------------
# calibration data


def _iter_batches(calib, batch_size: int = 8):
    """Yield float32 torch tensors (B, ...) from an array or an iterable of batches."""
    import torch

    if calib is None:
        raise ExportError("int8 needs calibration images (--calib DIR); none were given")
    if isinstance(calib, (np.ndarray, torch.Tensor)):
        arr = calib
        if arr.ndim != 4 or len(arr) == 0:
            raise ExportError(f"calibration data must be a non-empty (N, C, H, W) float array, got shape {tuple(arr.shape)}")
        for i in range(0, len(arr), batch_size):
            b = arr[i : i + batch_size]
            yield torch.as_tensor(np.asarray(b, np.float32) if isinstance(b, np.ndarray) else b.float())
        return
    n = 0
    for b in calib:
        b = torch.as_tensor(np.asarray(b, np.float32)) if isinstance(b, np.ndarray) else b
        if isinstance(b, (tuple, list)):
            b = b[0]
        if b.ndim == 3:
            b = b[None]
        n += 1
        yield b.float()
    if n == 0:
        raise ExportError("calibration data is empty: expected at least one image batch")


def calibration_count(calib) -> int:
    if isinstance(calib, np.ndarray) or hasattr(calib, "shape"):
        return int(calib.shape[0])
    return -1


# ----------------------------------------------------------------------------------------------
# graph helpers


def node_layer(node) -> Optional[str]:
    """The innermost nn.Module path a captured fx node came from ("blocks.0.0.conv_dw")."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return None
    path = list(stack.values())[-1][0]
    # torch.export paths look like "blocks.0.0.conv_dw" (sometimes with a "L['self']." prefix)
    for pre in ("L['self'].", "L__self__."):
        if path.startswith(pre):
            path = path[len(pre) :]
    return path


def _is_weighted(node) -> bool:
    import torch

    return node.op == "call_function" and node.target in (
        torch.ops.aten.conv2d.default,
        torch.ops.aten.conv1d.default,
        torch.ops.aten.linear.default,
        torch.ops.aten.convolution.default,
    )


def quantizable_layers(gm) -> list[str]:
    """Names of the conv/linear layers of a captured module, in graph order."""
    out: list[str] = []
    for n in gm.graph.nodes:
        if _is_weighted(n):
            name = node_layer(n)
            if name and name not in out:
                out.append(name)
    return out


_SHAPE_OPS = ("aten.view", "aten.reshape", "aten.flatten", "aten.squeeze", "aten.unsqueeze", "aten._unsafe_view")


def output_layer_nodes(gm) -> list:
    """The conv/linear nodes that write the model's output: their result reaches the graph
    output through shape-only ops (view/reshape/flatten/squeeze). For a classifier: its head."""
    out = []
    for n in gm.graph.nodes:
        if not _is_weighted(n):
            continue
        frontier, ok = list(n.users), bool(n.users)
        while frontier and ok:
            u = frontier.pop()
            if u.op == "output":
                continue
            if u.op == "call_function" and str(u.target).startswith(_SHAPE_OPS):
                frontier.extend(u.users)
            else:
                ok = False
        if ok:
            out.append(n)
    return out


def _in_layers(node, layers: Sequence[str]) -> bool:
    if not layers:
        return False
    name = node_layer(node)
    if name is None:
        return False
    return any(name == l or name.startswith(l + ".") for l in layers)


# ----------------------------------------------------------------------------------------------
# public API


def capture(module, example_inputs: tuple):
    """torch.export the float module and return the fx GraphModule PT2E works on."""
    import torch

    module = module.eval()
    with torch.no_grad():
        return torch.export.export(module, tuple(example_inputs)).module()


def recipe_name(backend: str, per_channel: bool) -> str:
    return f"pt2e-{backend}-{'per-channel' if per_channel else 'per-tensor'}-static"


def prepare_calibrated(
    module,
    example_inputs: tuple,
    calib,
    backend: str = "xnnpack",
    per_channel: bool = True,
    float_layers: Iterable[str] = (),
    observer: str = "histogram",
    fuse_clamp: bool = True,
    batch_size: int = 8,
    captured=None,
    bias_correction: bool = True,
    rounding: str = "gptq",
    float_output: bool = True,
):
    """Capture, annotate and calibrate: returns (prepared fx module with observers, quantizer,
    number of calibration images). `convert_pt2e` turns it into the quantized module.
    rounding: "gptq" rounds the int8 weights to minimise each layer's output error
    (edgekit/weight_rounding.py, on the first ROUNDING_IMAGES calibration images; with
    bias_correction the biases absorb what is left), "nearest" rounds each weight on its own.
    bias_correction with nearest rounding: move the weights' rounding bias into the float biases
    (edgekit/bias_correction.py). What they did is in prepared.meta under their INFO_KEYs.
    float_output: the layer that writes the model's output keeps int8 weights but writes float
    (edgekit.quantizer.float_output_annotation); False for int8 model outputs (TFLite --io int8)."""
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    if backend not in BACKENDS:
        raise UnknownNameError("quantization backend", backend, BACKENDS)
    if observer not in OBSERVERS:
        raise UnknownNameError("activation observer", observer, OBSERVERS)
    if rounding not in ROUNDINGS:
        raise UnknownNameError("weight rounding", rounding, ROUNDINGS)
    backend_q = backend if backend in ("litert", "onnx") else "xnnpack"
    float_layers = tuple(float_layers)
    gm = captured if captured is not None else capture(module, example_inputs)
    known = quantizable_layers(gm)
    bad = [l for l in float_layers if not any(k == l or k.startswith(l + ".") for k in known)]
    if bad:
        raise UnknownNameError("layer", bad[0], known)
    from .quantizer import make_quantizer

    quantizer = make_quantizer(backend_q, per_channel, observer, float_layers, fuse_clamp, float_output)
    prepared = prepare_pt2e(gm, quantizer)
    prepared.meta[FLOAT_OUTPUT_KEY] = list(quantizer.float_output_layers)
    # the captured graph is specialised to the example batch size: feed calibration in chunks of it
    eb = int(example_inputs[0].shape[0])
    n, kept = 0, []
    with torch.no_grad():
        for b in _iter_batches(calib, batch_size):
            for i in range(0, int(b.shape[0]) - eb + 1, eb):
                prepared(b[i : i + eb])
                n += eb
                if n <= max(BIAS_CORRECTION_IMAGES, ROUNDING_IMAGES):
                    kept.append(b[i : i + eb].numpy())
    if n == 0:
        raise ExportError(f"calibration data has fewer images than the example batch ({eb})")
    kept = np.concatenate(kept)
    if rounding == "gptq":
        from .weight_rounding import round_weights

        round_weights(prepared, kept[:ROUNDING_IMAGES], batch=eb, free_bias=bias_correction)
    elif bias_correction:
        from .bias_correction import correct_biases

        correct_biases(prepared, kept[:BIAS_CORRECTION_IMAGES], batch=eb)
    return prepared, quantizer, n


def convert(prepared, backend: str):
    """convert_pt2e with the folding each backend wants (LiteRT folds weight q/dq itself)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    return convert_pt2e(prepared, fold_quantize=(backend != "litert"))


def make_recipe(backend: str, per_channel: bool, observer: str, fuse_clamp: bool, float_layers,
                bias_correction: bool = True, rounding: str = "gptq", float_output_layers=()) -> dict:
    head = {"xnnpack": "int8 weights, input quantized per run (dynamic int8), float output",
            "litert": "int8 input and weights, float output (hybrid kernel)",
            "onnx": "int8 input and weights dequantized, float output"}.get(backend, "float output")
    return {
        "recipe": recipe_name(backend, per_channel),
        "weights": f"{'int7 (ONNX Runtime reduce_range)' if backend == 'onnx' else 'int8'} symmetric "
        f"{'per-channel' if per_channel else 'per-tensor'}"
        + {(True, True): ", GPTQ-rounded, bias absorbs the remaining error", (True, False): ", GPTQ-rounded",
           (False, True): ", bias-corrected", (False, False): ""}[(rounding == "gptq", bool(bias_correction))],
        "activations": f"int8 asymmetric per-tensor, {observer} observer" + (", clamp-fused" if fuse_clamp else "")
        + (f"; output layer {', '.join(float_output_layers)}: {head}" if float_output_layers else ""),
        "float_layers": list(float_layers),
        "float_output_layers": list(float_output_layers),
    }


def quantize_pt2e(
    module,
    example_inputs: tuple,
    calib,
    backend: str = "xnnpack",
    per_channel: bool = True,
    float_layers: Iterable[str] = (),
    observer: str = "histogram",
    fuse_clamp: bool = True,
    batch_size: int = 8,
    captured=None,
    bias_correction: bool = True,
    rounding: str = "gptq",
    float_output: bool = True,
) -> QuantResult:
    """Static int8 PT2E quantization of `module` for `backend`; see the module docstring."""
    prepared, quantizer, n = prepare_calibrated(
        module, example_inputs, calib, backend, per_channel, float_layers, observer, fuse_clamp, batch_size, captured,
        bias_correction, rounding, float_output,
    )
    details = {"calibration_images": n, "observer": observer, "fuse_clamp": fuse_clamp, **edit_details(prepared)}
    converted = convert(prepared, backend)
    return QuantResult(
        module=converted,
        recipe=make_recipe(backend, per_channel, observer, fuse_clamp, float_layers, bias_correction, rounding,
                           prepared.meta[FLOAT_OUTPUT_KEY]),
        backend=backend,
        quantizer=quantizer,
        details=details,
    )


def edit_details(prepared) -> dict:
    """What bias correction and weight rounding did to `prepared` (None where they did not run)."""
    from . import bias_correction, weight_rounding

    return {"bias_correction": prepared.meta.get(bias_correction.INFO_KEY),
            "weight_rounding": prepared.meta.get(weight_rounding.INFO_KEY)}


def guarded_quantize(*args, **kwargs) -> QuantResult:
    """quantize_pt2e plus the accuracy guard; see edgekit.sensitivity.guarded_quantize."""
    from .sensitivity import guarded_quantize as _guarded

    return _guarded(*args, **kwargs)
