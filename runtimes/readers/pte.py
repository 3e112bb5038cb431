"""Reading a .pte (ExecuTorch program flatbuffer, schema executorch/schema/program.fbs) in pure
Python: structural validation with every index and offset checked, the IO spec of the 'forward'
plan, and the embedded manifest (a constant method, or named data). No torch, no executorch."""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Optional

from ..tensors import TensorSpec
from .manifest_json import find_manifest_json
from .wire import FlatTable, WireError

# schema/scalar_type.fbs -> numpy dtype names
SCALAR_TYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32",
                7: "float64", 11: "bool", 12: "int8", 13: "uint8", 14: "int32", 15: "bfloat16", 16: "uint8",
                17: "uint8", 22: "uint16", 23: "float8", 24: "float8", 25: "float8", 26: "float8",
                27: "uint16", 28: "uint32", 29: "uint64"}
_ITEMSIZE = {"uint8": 1, "int8": 1, "bool": 1, "int16": 2, "uint16": 2, "float16": 2, "bfloat16": 2,
             "int32": 4, "uint32": 4, "float32": 4, "int64": 8, "uint64": 8, "float64": 8, "float8": 1}
# KernelTypes union tags (0 is the flatbuffers NONE tag)
_NULL, _INT, _BOOL, _DOUBLE, _TENSOR, _STRING, _INTLIST, _DOUBLELIST, _BOOLLIST, _TENSORLIST, _OPTTENSORLIST = range(1, 12)
# InstructionArguments union tags
_KERNEL, _DELEGATE, _MOVE, _JUMPFALSE, _FREE = range(1, 6)


def extended_header(buf: bytes) -> Optional[dict]:
    """The 'eh00' header after the flatbuffer header: program_size, segment_base_offset and
    segment_data_size (when written)."""
    if len(buf) < 8 or buf[8:12] != b"eh00":
        return None
    if len(buf) < 16:
        raise WireError("truncated ExecuTorch extended header")
    length = struct.unpack_from("<I", buf, 12)[0]
    if length < 24 or 8 + length > len(buf):
        raise WireError("malformed ExecuTorch extended header")
    program_size, segment_base = struct.unpack_from("<QQ", buf, 16)
    h = {"program_size": program_size, "segment_base_offset": segment_base, "segment_data_size": None}
    if length >= 32:
        h["segment_data_size"] = struct.unpack_from("<Q", buf, 32)[0]
    return h


def _check_tensor(t: FlatTable, n_buffers: int, planned: list, const_offsets: Optional[list]) -> None:
    st = t.scalar(0, "b")
    if st not in SCALAR_TYPES:
        raise WireError(f"unknown scalar type {st} in a tensor")
    sizes = t.ints(2)
    if any(d < 0 for d in sizes):
        raise WireError("negative tensor size")
    dim_order = t.ints(3, "B")
    if dim_order and sorted(dim_order) != list(range(len(sizes))):
        raise WireError("tensor dim_order is not a permutation of its dimensions")
    numel = 1
    for d in sizes:
        numel *= d
    nbytes = numel * _ITEMSIZE[SCALAR_TYPES[st]]
    if numel > 1 << 40:
        raise WireError("implausible tensor size")
    alloc = t.table(6)
    if alloc is not None:
        mem_id = alloc.scalar(0, "I")
        off = alloc.scalar(1, "I") | (alloc.scalar(2, "I") << 32)
        if mem_id >= len(planned) or off + nbytes > planned[mem_id]:
            raise WireError("a memory-planned tensor lies outside its planned buffer")
    idx = t.scalar(5, "I")
    if idx and alloc is None:
        limit = max(len(const_offsets or ()), n_buffers)
        if idx >= limit:
            raise WireError("tensor data_buffer_idx out of range")


def check_program(buf: bytes) -> dict:
    """Validate a .pte; returns {"inputs": [TensorSpec], "outputs": [TensorSpec], "methods": [...]}
    for the 'forward' plan (the first plan if there is none)."""
    if len(buf) < 8 or buf[4:6] != b"ET":
        raise WireError("no 'ET' flatbuffer identifier")
    hdr = extended_header(buf)
    prog_end = len(buf)
    segments_base = None
    if hdr:
        if hdr["program_size"] > len(buf):
            raise WireError("the program is larger than the file (truncated)")
        prog_end = hdr["program_size"]
        segments_base = hdr["segment_base_offset"]
        if hdr["segment_data_size"] is not None and segments_base + hdr["segment_data_size"] > len(buf):
            raise WireError("segment data runs past the end of the file (truncated)")
    pbuf = memoryview(buf)[:prog_end]
    prog = FlatTable.root(pbuf)
    plans = prog.tables(1)
    if not plans:
        raise WireError("the program has no execution plan")
    n_const = prog.vector_len(2)
    for b in prog.tables(2):
        b.check_bytes(0)
    inline = prog.tables(3)
    for d in inline:
        d.check_bytes(0)
    segments = []
    for s in prog.tables(4):
        off, size = s.scalar(0, "Q"), s.scalar(1, "Q")
        if segments_base is None or segments_base + off + size > len(buf):
            raise WireError("a data segment lies outside the file (truncated)")
        segments.append((off, size))
    const_offsets = None
    cs = prog.table(5)
    if cs is not None:
        seg_idx = cs.scalar(0, "I")
        const_offsets = cs.ints(1, "Q")
        if const_offsets:
            if seg_idx >= len(segments):
                raise WireError("constant segment index out of range")
            if any(o > segments[seg_idx][1] for o in const_offsets):
                raise WireError("constant offset outside the constant segment")
    for nd in prog.tables(7):
        nd.string(0)
        if nd.scalar(1, "I") >= len(segments):
            raise WireError("named data points at a missing segment")
    methods, io = [], None
    for plan in plans:
        name = plan.string(0) or ""
        methods.append(name)
        spec = _check_plan(plan, n_const, const_offsets, len(inline), len(segments))
        if io is None or name == "forward":
            io = spec
    return {"inputs": io[0], "outputs": io[1], "methods": methods}


def _check_plan(plan: FlatTable, n_const: int, const_offsets, n_inline: int, n_segments: int) -> tuple:
    values = plan.tables(2)
    nv = len(values)
    planned = plan.ints(8, "q")
    if any(s < 0 for s in planned):
        raise WireError("negative planned buffer size")
    tensors = {}
    for i, ev in enumerate(values):
        tag = ev.scalar(0, "B")
        if tag > _OPTTENSORLIST:
            raise WireError(f"unknown value type {tag}")
        if tag in (0, _NULL):
            continue
        val = ev.table(1)
        if val is None:
            raise WireError("value without payload")
        if tag == _TENSOR:
            _check_tensor(val, n_const, planned, const_offsets)
            tensors[i] = val
        elif tag in (_TENSORLIST, _OPTTENSORLIST):
            if any(not -1 <= k < nv for k in val.ints(0)):
                raise WireError("tensor list index out of range")
        elif tag == _STRING:
            val.string(0)
        elif tag == _INTLIST:
            val.ints(0, "q")
        elif tag == _DOUBLELIST:
            val.ints(0, "d")
        elif tag == _BOOLLIST:
            val.ints(0, "B")
    ins, outs = plan.ints(3), plan.ints(4)
    for k in ins + outs:
        if not 0 <= k < nv:
            raise WireError("plan input/output index out of range")
    n_ops = plan.vector_len(6)
    for op in plan.tables(6):
        op.string(0)
        op.string(1)
    delegates = plan.tables(7)
    for d in delegates:
        d.string(0)
        ref = d.table(1)
        if ref is None:
            raise WireError("delegate without data")
        loc, idx = ref.scalar(0, "b"), ref.scalar(1, "I")
        if (loc == 0 and idx >= n_inline) or (loc == 1 and idx >= n_segments) or loc not in (0, 1):
            raise WireError("delegate data reference out of range")
        for c in d.tables(2):
            c.string(0)
            c.check_bytes(1)
    for chain in plan.tables(5):
        for k in chain.ints(0) + chain.ints(1):
            if not 0 <= k < nv:
                raise WireError("chain input/output index out of range")
        n_instr = chain.vector_len(2)
        for ins_t in chain.tables(2):
            tag = ins_t.scalar(0, "B")
            a = ins_t.table(1)
            if a is None or not _KERNEL <= tag <= _FREE:
                raise WireError("malformed instruction")
            if tag == _KERNEL:
                if not 0 <= a.scalar(0, "i") < n_ops:
                    raise WireError("kernel call operator index out of range")
                if any(not 0 <= k < nv for k in a.ints(1)):
                    raise WireError("kernel call argument index out of range")
            elif tag == _DELEGATE:
                if not 0 <= a.scalar(0, "i") < len(delegates):
                    raise WireError("delegate call index out of range")
                if any(not 0 <= k < nv for k in a.ints(1)):
                    raise WireError("delegate call argument index out of range")
            elif tag == _MOVE:
                if not (0 <= a.scalar(0, "i") < nv and 0 <= a.scalar(1, "i") < nv):
                    raise WireError("move index out of range")
            elif tag == _JUMPFALSE:
                if not (0 <= a.scalar(0, "i") < nv and 0 <= a.scalar(1, "i") <= n_instr):
                    raise WireError("jump index out of range")
            elif tag == _FREE:
                if not 0 <= a.scalar(0, "i") < nv:
                    raise WireError("free index out of range")

    def spec(k: int, kind: str, j: int) -> TensorSpec:
        t = tensors.get(k)
        if t is None:
            return TensorSpec(f"{kind}_{j}", (), "unknown")
        return TensorSpec(f"{kind}_{j}", tuple(t.ints(2)), SCALAR_TYPES[t.scalar(0, "b")])

    return [spec(k, "input", j) for j, k in enumerate(ins)], [spec(k, "output", j) for j, k in enumerate(outs)]


def read_named_data(buf: bytes) -> dict:
    """key -> bytes of the program's named data (segments), e.g. an embedded manifest."""
    hdr = extended_header(buf)
    if not hdr:
        return {}
    prog = FlatTable.root(memoryview(buf)[:hdr["program_size"]])
    segs = [(s.scalar(0, "Q"), s.scalar(1, "Q")) for s in prog.tables(4)]
    out = {}
    base = hdr["segment_base_offset"]
    for nd in prog.tables(7):
        key, idx = nd.string(0) or "", nd.scalar(1, "I")
        if idx < len(segs):
            off, size = segs[idx]
            if size <= 64 << 20 and base + off + size <= len(buf):
                out[key] = bytes(buf[base + off:base + off + size])
    return out


def constant_strings(buf: bytes) -> dict:
    """plan name -> string, for constant methods that return a string (no inputs, one String
    output): how exporters/executorch.py embeds the manifest (method 'edgekit_manifest')."""
    hdr = extended_header(buf)
    prog = FlatTable.root(memoryview(buf)[:hdr["program_size"]] if hdr else buf)
    out = {}
    for plan in prog.tables(1):
        outs, values = plan.ints(4), plan.tables(2)
        if plan.ints(3) or len(outs) != 1 or not 0 <= outs[0] < len(values):
            continue
        ev = values[outs[0]]
        if ev.scalar(0, "B") == _STRING and ev.table(1) is not None:
            out[plan.string(0) or ""] = ev.table(1).string(0) or ""
    return out


def validate(path: Path) -> None:
    check_program(Path(path).read_bytes())


def io(path: Path) -> tuple:
    s = check_program(Path(path).read_bytes())
    return s["inputs"], s["outputs"]


def embedded_manifest(path: Path) -> Optional[dict]:
    """The edgekit manifest inside a .pte: a constant method returning its JSON (what
    exporters/executorch.py writes), or named data with 'manifest' in its key."""
    buf = Path(path).read_bytes()
    check_program(buf)
    found = find_manifest_json(constant_strings(buf))
    if found is not None:
        return found
    named = {k: v for k, v in read_named_data(buf).items() if "manifest" in k.lower() or "edgekit" in k.lower()}
    return find_manifest_json(named)
