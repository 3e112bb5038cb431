"""Give a full-integer .tflite model float32 input/output.

litert-torch's static int8 conversion folds the input QUANTIZE and output DEQUANTIZE into the
model interface, so the model takes and returns int8 (ENVIRONMENT.md). Apps feed floats, so the
LiteRT exporter calls `float_io(model_bytes)`, which adds a QUANTIZE op (float32 -> int8) in
front of every int8 graph input and a DEQUANTIZE op (int8 -> float32) after every int8 graph
output, with the tensors' own scale and zero point, and points the signature at the new float
tensors (which keep the original tensor names). Numbers do not change: the same quantization
now runs inside the model instead of in the caller. numpy-free, torch-free: it needs only
ai-edge-litert's flatbuffer schema module and the `flatbuffers` package it brings.
"""
from __future__ import annotations

from .errors import ArtifactError, MissingDependencyError


def _schema():
    try:
        import flatbuffers  # noqa: F401
        from ai_edge_litert import schema_py_generated as s
    except ImportError:
        raise MissingDependencyError("ai-edge-litert", "tflite", "edit a .tflite model interface") from None
    return s


def _opcode_index(s, model, builtin: int, version: int) -> int:
    for i, oc in enumerate(model.operatorCodes if model.operatorCodes is not None else []):
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        if code == builtin and not oc.customCode:
            oc.version = max(int(oc.version), version)
            return i
    oc = s.OperatorCodeT()
    oc.builtinCode = builtin
    oc.deprecatedBuiltinCode = min(builtin, 127)
    oc.version = version
    model.operatorCodes = list(model.operatorCodes or []) + [oc]
    return len(model.operatorCodes) - 1


def _name(t) -> str:
    n = t.name
    return n.decode() if isinstance(n, bytes) else (n or "")


def _float_twin(s, model, sub, idx: int, suffix: str) -> int:
    """Add a float32 tensor shaped like tensor `idx`; the twin takes the original name."""
    t = sub.tensors[idx]
    nt = s.TensorT()
    nt.shape = list(t.shape) if t.shape is not None else None
    nt.shapeSignature = list(t.shapeSignature) if t.shapeSignature is not None else None
    nt.type = s.TensorType.FLOAT32
    empty = s.BufferT()
    model.buffers = list(model.buffers or []) + [empty]
    nt.buffer = len(model.buffers) - 1
    nt.name = _name(t)
    t.name = _name(t) + suffix
    sub.tensors = list(sub.tensors) + [nt]
    return len(sub.tensors) - 1


def _ints(v) -> list:
    # the object API gives numpy arrays for int vectors: never test them for truth
    return [] if v is None else [int(i) for i in v]


def _is_quantized_io(t, s) -> bool:
    q = t.quantization
    has_scale = q is not None and q.scale is not None and len(q.scale) == 1 and q.zeroPoint is not None
    return t.type in (s.TensorType.INT8, s.TensorType.UINT8) and has_scale


def float_io(model_bytes: bytes, inputs: bool = True, outputs: bool = True) -> bytes:
    """Return a copy of the model whose int8/uint8 graph inputs/outputs are float32."""
    import flatbuffers

    s = _schema()
    try:
        model = s.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    except Exception as e:  # a corrupt or non-tflite buffer
        raise ArtifactError(f"not a readable .tflite flatbuffer ({type(e).__name__})") from None
    q_op = _opcode_index(s, model, s.BuiltinOperator.QUANTIZE, 2)
    dq_op = _opcode_index(s, model, s.BuiltinOperator.DEQUANTIZE, 2)
    changed = False
    for si, sub in enumerate(model.subgraphs or []):
        remap_in: dict[int, int] = {}
        remap_out: dict[int, int] = {}
        new_front, new_back = [], []
        for idx in _ints(sub.inputs) if inputs else []:
            if not _is_quantized_io(sub.tensors[idx], s):
                continue
            f = _float_twin(s, model, sub, idx, "_int8")
            new_front.append(s.OperatorT(opcodeIndex=q_op, inputs=[f], outputs=[idx]))
            remap_in[idx] = f
        for idx in _ints(sub.outputs) if outputs else []:
            if not _is_quantized_io(sub.tensors[idx], s):
                continue
            f = _float_twin(s, model, sub, idx, "_int8")
            new_back.append(s.OperatorT(opcodeIndex=dq_op, inputs=[idx], outputs=[f]))
            remap_out[idx] = f
        if not (remap_in or remap_out):
            continue
        changed = True
        sub.operators = new_front + list(sub.operators or []) + new_back
        sub.inputs = [remap_in.get(i, i) for i in _ints(sub.inputs)]
        sub.outputs = [remap_out.get(i, i) for i in _ints(sub.outputs)]
        for sig in model.signatureDefs or []:
            if sig.subgraphIndex != si:
                continue
            for tm in sig.inputs or []:
                tm.tensorIndex = remap_in.get(tm.tensorIndex, tm.tensorIndex)
            for tm in sig.outputs or []:
                tm.tensorIndex = remap_out.get(tm.tensorIndex, tm.tensorIndex)
    if not changed:
        return bytes(model_bytes)
    b = flatbuffers.Builder(max(1024, len(model_bytes) + 4096))
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())
