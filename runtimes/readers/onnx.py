"""Reading a .onnx (protobuf ModelProto) in pure Python: its structure, the graph's inputs (less
initializers) and outputs, and metadata_props (where exporters/onnx.py keeps the manifest). No
onnx, no onnxruntime."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..tensors import TensorSpec
from .manifest_json import find_manifest_json
from .wire import WireError, pb_fields, pb_message, pb_packed_ints, pb_str

# ONNX TensorProto.DataType -> numpy dtype names
ONNX_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
              9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}


def check(buf: bytes) -> None:
    """The ModelProto's top-level structure and its graph (WireError if broken)."""
    top = pb_message(buf)
    if 7 not in top:
        raise WireError("ONNX model has no graph")
    graph = pb_message(buf, *top[7][0])
    if 1 not in graph:
        raise WireError("ONNX graph has no nodes")
    for f, _w, _v in pb_fields(buf, *top[7][0]):
        pass


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


def onnx_metadata(buf: bytes) -> dict:
    """ONNX ModelProto.metadata_props (field 14) as a dict."""
    out = {}
    for span in pb_message(buf).get(14, []):
        e = pb_message(buf, *span)
        if 1 in e:
            out[pb_str(buf, e[1][0])] = pb_str(buf, e[2][0]) if 2 in e else ""
    return out


def validate(path: Path) -> None:
    check(Path(path).read_bytes())


def io(path: Path) -> tuple:
    return onnx_io(Path(path).read_bytes())


def embedded_manifest(path: Path) -> Optional[dict]:
    return find_manifest_json(onnx_metadata(Path(path).read_bytes()))
