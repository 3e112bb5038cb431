"""Reading a .tflite (TFLite flatbuffer, schema version 3) in pure Python: structural validation with
every offset and index checked, the IO tensors of the first subgraph, and the metadata entries
(where exporters/tflite.py keeps the manifest). No runtime package."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..tensors import TensorSpec
from .manifest_json import MAX_MANIFEST, find_manifest_json
from .wire import FlatTable, WireError

# TFLite schema TensorType -> numpy dtype names
TFLITE_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool", 7: "int16",
                8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64", 13: "resource",
                14: "variant", 15: "uint32", 16: "uint16", 17: "int4"}


def check(buf: bytes) -> None:
    """Walk the whole flatbuffer: every offset, vector length and index (WireError if broken)."""
    m = FlatTable.root(buf)
    if m.scalar(0, "I") != 3:
        raise WireError(f"unsupported TFLite schema version {m.scalar(0, 'I')} (expected 3)")
    n_opcodes = m.vector_len(1)
    buffers = m.tables(4)
    for b in buffers:
        b.check_bytes(0)
        off, size = b.scalar(1, "Q"), b.scalar(2, "Q")
        if off > 1 and off + size > len(buf):
            raise WireError("a TFLite buffer points past the end of the file (truncated?)")
    subgraphs = m.tables(2)
    if not subgraphs:
        raise WireError("TFLite model has no subgraph")
    for sg in subgraphs:
        tensors = sg.tables(0)
        nt = len(tensors)
        for t in tensors:
            if any(d < -1 for d in t.ints(0)):
                raise WireError("negative TFLite tensor dimension")
            if t.scalar(1, "b") < 0:
                raise WireError("bad TFLite tensor type")
            if t.scalar(2, "I") >= max(len(buffers), 1):
                raise WireError("TFLite tensor points at a missing buffer")
            t.string(3)
        for idx in sg.ints(1) + sg.ints(2):
            if not 0 <= idx < nt:
                raise WireError("TFLite subgraph input/output index out of range")
        for op in sg.tables(3):
            if op.scalar(0, "I") >= n_opcodes:
                raise WireError("TFLite operator code index out of range")
            for idx in op.ints(1) + op.ints(2) + op.ints(8):  # inputs, outputs, intermediates
                if not -1 <= idx < nt:
                    raise WireError("TFLite operator tensor index out of range")
            op.check_bytes(5)  # custom options
    for md in m.tables(6):
        md.string(0)
        if md.scalar(1, "I") >= len(buffers):
            raise WireError("TFLite metadata points at a missing buffer")
    for sd in m.tables(7):
        sd.string(2)
        if sd.scalar(4, "I") >= len(subgraphs):
            raise WireError("TFLite signature points at a missing subgraph")


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


def tflite_metadata(buf: bytes) -> dict:
    """TFLite Model.metadata entries: name -> raw bytes of the buffer it points at."""
    model = FlatTable.root(buf)
    buffers = model.tables(4)
    out = {}
    for md in model.tables(6):
        name = md.string(0) or ""
        idx = md.scalar(1, "I")
        if idx >= len(buffers):
            raise WireError("TFLite metadata points at a missing buffer")
        b = buffers[idx]
        data = b.bytes_(0)
        offset, size = b.scalar(1, "Q"), b.scalar(2, "Q")
        if not data and offset > 1:  # large models keep buffers after the flatbuffer
            if offset + size > len(buf) or size > MAX_MANIFEST:
                raise WireError("TFLite metadata buffer out of range")
            data = bytes(buf[offset:offset + size])
        out[name] = data or b""
    return out


def validate(path: Path) -> None:
    check(Path(path).read_bytes())


def io(path: Path) -> tuple:
    return tflite_io(Path(path).read_bytes())


def embedded_manifest(path: Path) -> Optional[dict]:
    return find_manifest_json(tflite_metadata(Path(path).read_bytes()))
