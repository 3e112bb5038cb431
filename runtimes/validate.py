"""Static validation of artifacts before any native code sees them: structure, offsets and
indices are checked in Python (runtimes/wire.py), so most corrupt or truncated files give a
one-line ArtifactError without a child-process probe. Passing validation does not prove a file
is good (weights, delegate payloads and op semantics are not checked); probe.py covers the rest."""
from __future__ import annotations

import struct
from pathlib import Path

from ..errors import ArtifactError
from .wire import FlatTable, WireError, pb_fields, pb_message


def _tflite(buf: bytes) -> None:
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


def _pte(buf: bytes) -> None:
    from .pte import check_program

    check_program(buf)


def _onnx(buf: bytes) -> None:
    top = pb_message(buf)
    if 7 not in top:
        raise WireError("ONNX model has no graph")
    graph = pb_message(buf, *top[7][0])
    if 1 not in graph:
        raise WireError("ONNX graph has no nodes")
    for f, _w, _v in pb_fields(buf, *top[7][0]):
        pass


def _coreml(path: Path) -> None:
    from .coreml import read_spec

    read_spec(path)


def validate(path, fmt: str) -> None:
    """Raise ArtifactError (one line, with the file name) if `path` is structurally broken."""
    p = Path(path)
    try:
        if fmt == "coreml":
            _coreml(p)
            return
        if fmt not in ("tflite", "executorch", "onnx"):
            return
        buf = p.read_bytes()
        if fmt == "tflite":
            _tflite(buf)
        elif fmt == "executorch":
            _pte(buf)
        else:
            _onnx(buf)
    except WireError as e:
        raise ArtifactError(f"{p.name} is corrupt or truncated: {e}") from None
    except (struct.error, UnicodeDecodeError, IndexError, RecursionError) as e:
        raise ArtifactError(f"{p.name} is corrupt or truncated ({type(e).__name__})") from None
