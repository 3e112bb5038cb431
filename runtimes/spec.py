"""IO specs read from the artifact file itself, in pure Python (no runtime package, no torch):
what `edgekit info` shows for any artifact, also one edgekit did not make."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from ..errors import ArtifactError
from .base import TensorSpec
from .wire import FlatTable, WireError, pb_message, pb_packed_ints, pb_str

# TFLite schema TensorType -> numpy dtype names
TFLITE_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool", 7: "int16",
                8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64", 13: "resource",
                14: "variant", 15: "uint32", 16: "uint16", 17: "int4"}
# ONNX TensorProto.DataType -> numpy dtype names
ONNX_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
              9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}


def _tflite_tensor(t: FlatTable) -> TensorSpec:
    shape = t.ints(7) or t.ints(0)
    dtype = TFLITE_TYPES.get(t.scalar(1, "b"), "unknown")
    quant = None
    q = t.table(4)
    if q is not None:
        scales, zps = q.ints(2, "f"), q.ints(3, "q")
        if len(scales) == 1:
            quant = {"scale": float(scales[0]), "zero_point": int(zps[0]) if zps else 0}
    return TensorSpec(t.string(3) or "", tuple(shape), dtype, None, quant)


def tflite_io(buf: bytes) -> tuple:
    model = FlatTable.root(buf)
    subgraphs = model.tables(2)
    if not subgraphs:
        raise WireError("TFLite model has no subgraph")
    sg = subgraphs[0]
    tensors = sg.tables(0)

    def pick(idx):
        if not 0 <= idx < len(tensors):
            raise WireError("TFLite input/output index out of range")
        return _tflite_tensor(tensors[idx])

    return [pick(i) for i in sg.ints(1)], [pick(i) for i in sg.ints(2)]


def _onnx_value(buf: bytes, span: tuple) -> TensorSpec:
    v = pb_message(buf, *span)
    name = pb_str(buf, v[1][0]) if 1 in v else ""
    dtype, shape = "unknown", ()
    if 2 in v:
        tp = pb_message(buf, *v[2][0])
        if 1 in tp:
            tt = pb_message(buf, *tp[1][0])
            dtype = ONNX_TYPES.get(tt.get(1, [0])[0], "unknown")
            if 2 in tt:
                dims = []
                for d in pb_message(buf, *tt[2][0]).get(1, []):
                    dm = pb_message(buf, *d)
                    dims.append(pb_packed_ints(buf, dm[1])[0] if 1 in dm else -1)
                shape = tuple(dims)
    return TensorSpec(name, shape, dtype)


def onnx_io(buf: bytes) -> tuple:
    top = pb_message(buf)
    if 7 not in top:
        raise WireError("ONNX model has no graph")
    g = pb_message(buf, *top[7][0])
    initializers = set()
    for span in g.get(5, []):
        t = pb_message(buf, *span)
        if 8 in t:
            initializers.add(pb_str(buf, t[8][0]))
    inputs = [_onnx_value(buf, s) for s in g.get(11, [])]
    return [i for i in inputs if i.name not in initializers], [_onnx_value(buf, s) for s in g.get(12, [])]


def static_io(path: Union[str, os.PathLike], fmt: str) -> tuple:
    """(inputs, outputs) as TensorSpecs, read from the file (layout not filled in)."""
    p = Path(path)
    try:
        if fmt == "coreml":
            from .coreml import read_spec

            s = read_spec(p)
            return s["inputs"], s["outputs"]
        buf = p.read_bytes()
        if fmt == "tflite":
            return tflite_io(buf)
        if fmt == "executorch":
            from .pte import check_program

            s = check_program(buf)
            return s["inputs"], s["outputs"]
        if fmt == "onnx":
            return onnx_io(buf)
    except WireError as e:
        raise ArtifactError(f"{p.name} is corrupt or truncated: {e}") from None
    raise ArtifactError(f"{p.name}: no static IO reader for format {fmt}")
