"""TFLite / LiteRT .tflite through litert-torch (no TensorFlow needed).

- fp32: litert_torch.convert of the captured graph.
- fp16: float16 weights (ai-edge-quantizer float casting; compute stays float32).
- int8 static: full-integer PT2E (edgekit.quant, LiteRT quantizer) calibrated on real images;
  float input/output by default (apps feed floats), int8 input/output with io="int8".
- int8 dynamic: dynamic-range (int8 weights, activations quantized at run time; no calibration).
- int8 weight: weight-only int8 (dequantized to float before each op; no calibration).

The manifest is embedded as a model metadata entry named `edgekit_manifest` (a buffer holding
the UTF-8 JSON), the standard TFLite place for metadata."""
from __future__ import annotations

import contextlib
import io
import os
import tempfile

from ..errors import ExportError
from . import Exporter, Lowered, versions_of

METADATA_NAME = "edgekit_manifest"

_NP_DTYPES = {"float32": "float32", "float16": "float16", "int8": "int8", "uint8": "uint8", "int32": "int32",
              "int64": "int64"}


def unpack_model(model_bytes: bytes):
    """The flatbuffer as a mutable ModelT with every buffer's bytes inline. ai-edge-quantizer (fp16,
    dynamic-range and weight-only int8) stores buffers over 256 KB after the flatbuffer, addressed by
    offset and size; packing a ModelT again would drop them, so they are read in here."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    for buf in model.buffers or []:
        if buf.offset > 1:  # 0: inline; 1: a placeholder the quantizer fills in (never left in a file)
            if buf.offset + buf.size > len(model_bytes):
                raise ExportError(f"a TFLite buffer points past the end of the model ({buf.offset}+{buf.size} "
                                  f"> {len(model_bytes)} bytes)")
            buf.data = np.frombuffer(model_bytes, np.uint8, buf.size, buf.offset).copy()
            buf.offset = buf.size = 0
    return model


def pack_model(model, size_hint: int) -> bytes:
    """Serialize a ModelT (all buffers inline) with the TFLite file identifier."""
    import flatbuffers

    builder = flatbuffers.Builder(size_hint + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def add_metadata(model_bytes: bytes, name: str, text: str) -> bytes:
    """Return the flatbuffer with a metadata entry `name` holding `text` (replacing one of that name)."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = unpack_model(model_bytes)
    buf = schema.BufferT()
    buf.data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    keep = [m for m in (model.metadata or []) if (m.name.decode() if isinstance(m.name, bytes) else m.name) != name]
    model.metadata = keep + [entry]
    return pack_model(model, len(model_bytes) + len(text))


def io_specs(model_bytes: bytes, layout: str) -> tuple[list, list]:
    """Manifest input/output specs read back from the converted model (names, dtypes, int8 params)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_bytes)

    def spec(d, kind, lay):
        scale, zp = d.get("quantization", (0.0, 0))
        q = {"scale": float(scale), "zero_point": int(zp)} if scale else None
        return {"name": d["name"], "shape": [int(s) for s in d["shape"]], "dtype": _NP_DTYPES[d["dtype"].__name__],
                "layout": lay, "quantization": q, "kind": kind}

    inputs = [spec(d, "image", layout.upper()) for d in interp.get_input_details()]
    outputs = [spec(d, "logits", "NC") for d in interp.get_output_details()]
    return inputs, outputs


def float_interface(model_bytes: bytes) -> bytes:
    """Give a full-integer model float32 input/output: a QUANTIZE op in front of each int8 input
    and a DEQUANTIZE op after each int8 output (what apps that feed floats want). The int8
    tensors keep their scale/zero point; signature entries are pointed at the float tensors."""
    from ai_edge_litert import schema_py_generated as schema

    model = unpack_model(model_bytes)
    int_types = (schema.TensorType.INT8, schema.TensorType.UINT8)

    def opcode(builtin: int) -> int:
        for i, oc in enumerate(model.operatorCodes):
            if max(oc.builtinCode, oc.deprecatedBuiltinCode) == builtin:
                return i
        oc = schema.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = builtin, min(builtin, 127), 1
        model.operatorCodes.append(oc)
        return len(model.operatorCodes) - 1

    for sg_index, sg in enumerate(model.subgraphs):
        remap, front, back = {}, [], []

        def float_twin(ti: int) -> int:
            t = sg.tensors[ti]
            f = schema.TensorT()
            f.shape, f.shapeSignature, f.type, f.buffer = t.shape, t.shapeSignature, schema.TensorType.FLOAT32, 0
            f.name, t.name = t.name, (t.name or b"") + b"_int8"
            sg.tensors.append(f)
            remap[ti] = len(sg.tensors) - 1
            return remap[ti]

        for pos, ti in enumerate(list(sg.inputs)):
            if sg.tensors[ti].type in int_types:
                op = schema.OperatorT()
                op.opcodeIndex, op.inputs, op.outputs = opcode(schema.BuiltinOperator.QUANTIZE), [float_twin(ti)], [ti]
                front.append(op)
                sg.inputs[pos] = remap[ti]
        for pos, ti in enumerate(list(sg.outputs)):
            if sg.tensors[ti].type in int_types:
                op = schema.OperatorT()
                op.opcodeIndex, op.inputs, op.outputs = opcode(schema.BuiltinOperator.DEQUANTIZE), [ti], [float_twin(ti)]
                back.append(op)
                sg.outputs[pos] = remap[ti]
        sg.operators = front + list(sg.operators or []) + back
        for sig in model.signatureDefs or []:
            if sig.subgraphIndex == sg_index:
                for entry in list(sig.inputs or []) + list(sig.outputs or []):
                    entry.tensorIndex = remap.get(entry.tensorIndex, entry.tensorIndex)
    return pack_model(model, len(model_bytes))


def head_weights(module, layers) -> list:
    """(int8 weights, per-channel scales) of the given output layers of a converted PT2E module
    (fold_quantize=False: their weights pass through quantize -> dequantize); a per-tensor scale
    is repeated per output channel."""
    import numpy as np
    import torch

    from ..quant.graph import in_layers, output_layer_nodes
    from ..quant.params import fake_quant_weights, value

    fq = fake_quant_weights(module)
    out = []
    for n in output_layer_nodes(module):
        q = fq.get(n)
        if q is None or not in_layers(n, layers):
            continue
        w = value(module, q.args[0]).detach().double()
        scale = torch.as_tensor(value(module, q.args[1]), dtype=torch.float64).flatten().expand(w.shape[0])
        qmin, qmax = q.args[4:6] if "per_channel" in str(q.target) else q.args[3:5]  # (per-channel: + axis)
        ints = torch.clamp(torch.round(w / scale.reshape([-1] + [1] * (w.dim() - 1))), int(qmin), int(qmax))
        out.append((ints.numpy().astype(np.int8), scale.numpy().astype(np.float32)))
    return out


def hybrid_weights(model_bytes: bytes, weights: list) -> tuple[bytes, int]:
    """Store the float32 weights of FULLY_CONNECTED ops as the int8 tensors they came from
    (`weights`: [(int8 array, per-channel scales)], matched by shape and value): LiteRT's static
    converter writes a float-output layer's weights as float32 (4x the bytes), and not even the
    fake-quantized ones: it keeps the float weights under the quantize/dequantize pair. With the
    int8 values of the PT2E module and a float input the op runs LiteRT's hybrid kernel (input
    quantized per run, asymmetric), as the module computes it. Returns (model bytes, how many
    weights were replaced)."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = unpack_model(model_bytes)
    fc = [i for i, oc in enumerate(model.operatorCodes)
          if max(oc.builtinCode, oc.deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED]
    done = 0
    for sg in model.subgraphs:
        for op in sg.operators or []:
            if op.opcodeIndex not in fc or len(op.inputs) < 2:
                continue
            t = sg.tensors[op.inputs[1]]
            data = model.buffers[t.buffer].data if t.buffer else None
            if t.type != schema.TensorType.FLOAT32 or data is None or len(data) == 0:
                continue
            w = np.frombuffer(bytes(np.asarray(data, np.uint8)), np.float32).reshape(list(t.shape))
            for ints, scale in weights:
                step = scale.reshape([-1] + [1] * (w.ndim - 1))
                # GPTQ weights come out on the grid; others as the float weights the converter kept
                # (it drops a float-output layer's weight fake-quant): within half a step of it
                if ints.shape != w.shape or not np.all(np.abs(ints * step - w) <= 0.5001 * step + 1e-7):
                    continue
                t.type = schema.TensorType.INT8
                model.buffers[t.buffer].data = np.frombuffer(ints.tobytes(), np.uint8)
                qp = schema.QuantizationParametersT()
                qp.scale, qp.zeroPoint, qp.quantizedDimension = [float(x) for x in scale], [0] * len(scale), 0
                t.quantization = qp
                if isinstance(op.builtinOptions, schema.FullyConnectedOptionsT):
                    op.builtinOptions.asymmetricQuantizeInputs = True
                done += 1
                break
    return pack_model(model, len(model_bytes)), done


def int8_interface(model_bytes: bytes) -> bytes:
    """Turn a full-integer model's float input/output (quantize/dequantize at the edges) into
    int8 tensors, with LiteRT's own modify_model_interface tool."""
    from ai_edge_litert import _pywrap_modify_model_interface as mmi

    int8 = 9  # TensorType.INT8 in the TFLite schema
    with tempfile.TemporaryDirectory(prefix="edgekit-tflite-") as d:
        src, dst = os.path.join(d, "float_io.tflite"), os.path.join(d, "int8_io.tflite")
        with open(src, "wb") as f:
            f.write(model_bytes)
        status = mmi.modify_model_interface(src, dst, int8, int8)
        if status != 0 or not os.path.isfile(dst):
            raise RuntimeError(f"LiteRT modify_model_interface failed with status {status}")
        with open(dst, "rb") as f:
            return f.read()


def static_int8_flatbuffer(qr, example, io: str = "float") -> bytes:
    """The .tflite bytes of a LiteRT PT2E QuantResult (edgekit.quant): convert, put the int8
    weights of a float-output head back (hybrid_weights), and give it `io` edges (the converter
    makes them int8; apps feed floats by default)."""
    import litert_torch

    for m in qr.module.modules():  # a traced graph: eval semantics already, clear the flag
        m.training = False
    edge = litert_torch.convert(qr.module, (example,), quant_config=qr.converter_config())
    model_bytes = bytes(edge.model_content())
    head = list(qr.float_output_layers)
    if head:  # the converter stored the float-output head's weights as float32
        model_bytes, n = hybrid_weights(model_bytes, head_weights(qr.module, head))
        if n != len(head):
            raise ExportError(f"could not store the int8 weights of the output layer(s) {', '.join(head)} "
                              f"({n} of {len(head)} found in the converted model)")
    return int8_interface(model_bytes) if io == "int8" else float_interface(model_bytes)


def _quantize_flatbuffer(model_bytes: bytes, mode: str) -> bytes:
    """ai-edge-quantizer recipes applied to the fp32 flatbuffer: fp16 weights, dynamic-range int8,
    weight-only int8."""
    from ai_edge_quantizer import quantizer, recipe, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import QuantGranularity, TFLOperationName

    if mode == "fp16":
        rm = recipe_manager.RecipeManager()
        rm.add_weight_only_config(regex=".*", operation_name=TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                  granularity=QuantGranularity.TENSORWISE, algorithm_key=AlgorithmName.FLOAT_CASTING)
        rcp = rm.get_quantization_recipe()
    elif mode == "dynamic":
        rcp = recipe.dynamic_wi8_afp32()
    elif mode == "weight":
        rcp = recipe.weight_only_wi8_afp32()
    else:  # internal: options() only lets the modes above through
        raise ValueError(mode)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a size summary
        result = quantizer.Quantizer(bytearray(model_bytes), rcp).quantize()
    return bytes(result.quantized_model)


class TFLiteExporter(Exporter):
    precisions = {"fp32": None, "fp16": None, "int8": ("static", "dynamic", "weight")}
    int8_io = True
    quant_backend = "litert"

    def lower(self, cap, options, calib=None, num_classes: int = 0) -> Lowered:
        os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")  # its per-pass progress lines
        import litert_torch

        qr = None
        if options.precision == "int8" and options.quant == "static":
            from ..quant import guarded_quantize

            qr = guarded_quantize(cap.module, (cap.example,), calib.arrays, options.recipe)
            model_bytes = static_int8_flatbuffer(qr, cap.example, options.io)
        else:
            edge = litert_torch.convert(cap.graph_module(), (cap.example,))
            model_bytes = bytes(edge.model_content())
            if options.recipe is not None:  # fp16 weights, dynamic-range or weight-only int8
                model_bytes = _quantize_flatbuffer(model_bytes, options.recipe.scheme)

        inputs, outputs = io_specs(model_bytes, cap.layout)
        if qr is not None and options.io == "int8" and any(t["dtype"] != "int8" for t in inputs + outputs):
            raise ExportError("--io int8: the quantized model's input or output is not an int8 tensor "
                              f"(float layers kept: {', '.join(qr.recipe.float_layers) or 'none'}); "
                              "use the default float IO")

        def save(path: str, manifest_json=None) -> None:
            data = model_bytes if manifest_json is None else add_metadata(model_bytes, METADATA_NAME, manifest_json)
            with open(path, "wb") as f:
                f.write(data)

        return Lowered(
            save=save, inputs=inputs, outputs=outputs, quant_result=qr, delegate=None,
            details={"converter": "litert_torch.convert", "signature": "serving_default"},
            embedded_manifest=f"TFLite model metadata entry '{METADATA_NAME}' (UTF-8 JSON buffer)",
            versions=versions_of("litert-torch", "ai-edge-litert", "ai-edge-quantizer"),
        )
