"""Bounds-checked readers for the two container encodings the artifacts use: protobuf (ONNX,
Core ML) and flatbuffers (TFLite, ExecuTorch). Pure Python, so manifests and IO specs can be read
without the runtime package, and a corrupt file gives an ArtifactError instead of a native crash.
Only what edgekit reads is implemented: field access, strings, vectors of tables."""
from __future__ import annotations

import struct
from typing import Iterator, Optional

from ...errors import ArtifactError


class WireError(ArtifactError):
    """Malformed protobuf/flatbuffer data."""


# ---- protobuf ---------------------------------------------------------------------------------
def _varint(buf: bytes, pos: int, end: int) -> tuple:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError("truncated or malformed protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def pb_fields(buf: bytes, start: int = 0, end: Optional[int] = None) -> Iterator[tuple]:
    """(field number, wire type, value) of one protobuf message; value is an int for varint and
    fixed types, a (start, end) slice for length-delimited fields."""
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise WireError("malformed protobuf: field number 0")
        if wire == 0:
            val, pos = _varint(buf, pos, end)
        elif wire == 1:
            if pos + 8 > end:
                raise WireError("truncated protobuf fixed64")
            val, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 5:
            if pos + 4 > end:
                raise WireError("truncated protobuf fixed32")
            val, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        elif wire == 2:
            n, pos = _varint(buf, pos, end)
            if pos + n > end:
                raise WireError("truncated protobuf field (length beyond the end of the data)")
            val, pos = (pos, pos + n), pos + n
        else:
            raise WireError(f"malformed protobuf: wire type {wire}")
        yield field, wire, val


def pb_message(buf: bytes, start: int = 0, end: Optional[int] = None) -> dict:
    """field number -> list of values (see pb_fields)."""
    out: dict = {}
    for f, _w, v in pb_fields(buf, start, end):
        out.setdefault(f, []).append(v)
    return out


def pb_str(buf: bytes, span: tuple) -> str:
    return bytes(buf[span[0]:span[1]]).decode("utf-8", errors="replace")


def pb_packed_ints(buf: bytes, values: list) -> list:
    """Repeated int64 in either packed (a span) or unpacked (ints) form."""
    out = []
    for v in values:
        if isinstance(v, tuple):
            pos, end = v
            while pos < end:
                x, pos = _varint(buf, pos, end)
                out.append(x - (1 << 64) if x >= 1 << 63 else x)
        else:
            out.append(v - (1 << 64) if v >= 1 << 63 else v)
    return out


# ---- flatbuffers -------------------------------------------------------------------------------
class FlatTable:
    """One flatbuffer table at `pos` in `buf`, with every offset checked against the buffer."""

    __slots__ = ("buf", "pos", "_vt", "_vtlen")

    def __init__(self, buf: bytes, pos: int):
        self.buf = buf
        self.pos = pos
        n = len(buf)
        if pos < 0 or pos + 4 > n:
            raise WireError("flatbuffer table offset out of range")
        vt = pos - struct.unpack_from("<i", buf, pos)[0]
        if vt < 0 or vt + 4 > n:
            raise WireError("flatbuffer vtable offset out of range")
        vtlen = struct.unpack_from("<H", buf, vt)[0]
        if vtlen < 4 or vtlen % 2 or vt + vtlen > n:
            raise WireError("malformed flatbuffer vtable")
        self._vt, self._vtlen = vt, vtlen

    @classmethod
    def root(cls, buf: bytes) -> "FlatTable":
        if len(buf) < 8:
            raise WireError("file too short to be a flatbuffer")
        return cls(buf, struct.unpack_from("<I", buf, 0)[0])

    def _field(self, i: int) -> Optional[int]:
        o = 4 + 2 * i
        if o + 2 > self._vtlen:
            return None
        off = struct.unpack_from("<H", self.buf, self._vt + o)[0]
        if not off:
            return None
        p = self.pos + off
        if p + 1 > len(self.buf):
            raise WireError("flatbuffer field out of range")
        return p

    def _indirect(self, p: int) -> int:
        if p + 4 > len(self.buf):
            raise WireError("flatbuffer offset out of range")
        q = p + struct.unpack_from("<I", self.buf, p)[0]
        if q + 4 > len(self.buf):
            raise WireError("flatbuffer reference out of range")
        return q

    def scalar(self, i: int, fmt: str, default=0):
        p = self._field(i)
        if p is None:
            return default
        if p + struct.calcsize(fmt) > len(self.buf):
            raise WireError("flatbuffer scalar out of range")
        return struct.unpack_from("<" + fmt, self.buf, p)[0]

    def table(self, i: int) -> Optional["FlatTable"]:
        p = self._field(i)
        return None if p is None else FlatTable(self.buf, self._indirect(p))

    def _vector(self, i: int, elem_size: int) -> Optional[tuple]:
        p = self._field(i)
        if p is None:
            return None
        v = self._indirect(p)
        n = struct.unpack_from("<I", self.buf, v)[0]
        if v + 4 + n * elem_size > len(self.buf):
            raise WireError("flatbuffer vector runs past the end of the file (truncated?)")
        return v + 4, n

    def string(self, i: int) -> Optional[str]:
        """A flatbuffer string; invalid UTF-8 is corruption (flatbuffers strings are UTF-8, and
        native loaders have been seen to abort when they log such a string)."""
        vec = self._vector(i, 1)
        if vec is None:
            return None
        s, n = vec
        try:
            return bytes(self.buf[s:s + n]).decode("utf-8")
        except UnicodeDecodeError:
            raise WireError("a string is not valid UTF-8") from None

    def bytes_(self, i: int) -> Optional[bytes]:
        vec = self._vector(i, 1)
        if vec is None:
            return None
        s, n = vec
        return bytes(self.buf[s:s + n])

    def check_bytes(self, i: int) -> int:
        """Bounds-check a [ubyte] vector without copying it; its length (0 if absent)."""
        vec = self._vector(i, 1)
        return 0 if vec is None else vec[1]

    def vector_len(self, i: int, elem_size: int = 4) -> int:
        vec = self._vector(i, elem_size)
        return 0 if vec is None else vec[1]

    def tables(self, i: int) -> list:
        vec = self._vector(i, 4)
        if vec is None:
            return []
        s, n = vec
        return [FlatTable(self.buf, self._indirect(s + 4 * k)) for k in range(n)]

    def ints(self, i: int, fmt: str = "i") -> list:
        size = struct.calcsize(fmt)
        vec = self._vector(i, size)
        if vec is None:
            return []
        s, n = vec
        return list(struct.unpack_from(f"<{n}{fmt}", self.buf, s))
