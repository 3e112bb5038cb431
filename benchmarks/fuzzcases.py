"""Deterministic mutations of artifact files for the fuzz test and benchmarks/fuzz_artifacts.py:
truncations, bit flips, random bytes, smashed 32-bit words (offsets/lengths set to 0, -1,
INT_MAX, past-the-end...), zeroed ranges, inserted and deleted bytes, header damage. For a
.mlpackage the same mutations hit the model spec, the weights or Manifest.json, or a file is
removed."""
from __future__ import annotations

import random
import shutil
import struct
from pathlib import Path

KINDS = ("truncate", "bitflip", "bytes", "word", "zero", "insert", "delete", "header")


def mutate(data: bytes, rng: random.Random, kind: str) -> bytes:
    n = len(data)
    b = bytearray(data)
    if kind == "truncate":
        cut = rng.choice([rng.randrange(0, min(n, 64)), rng.randrange(0, n), n - rng.randrange(1, min(n, 256))])
        return bytes(b[:max(cut, 0)])
    if kind == "bitflip":
        for _ in range(rng.randint(1, 16)):
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == "bytes":
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(n)] = rng.randrange(256)
        return bytes(b)
    if kind == "word":
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(0, max(n - 4, 1)) & ~3
            v = rng.choice([0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, n, n + 1, n - 4, rng.randrange(1 << 32), rng.randrange(256)])
            b[i:i + 4] = struct.pack("<I", v)
        return bytes(b)
    if kind == "zero":
        i = rng.randrange(n)
        j = min(n, i + rng.randint(1, 256))
        b[i:j] = bytes(j - i)
        return bytes(b)
    if kind == "insert":
        i = rng.randrange(n)
        return bytes(b[:i]) + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))) + bytes(b[i:])
    if kind == "delete":
        i = rng.randrange(n)
        return bytes(b[:i]) + bytes(b[i + rng.randint(1, 64):])
    if kind == "header":
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(min(n, 64))] = rng.randrange(256)
        return bytes(b)
    raise ValueError(kind)


def mutations(src: Path, out_dir: Path, count: int, seed: int = 0) -> list:
    """`count` mutated copies of `src` (a file or an .mlpackage) in out_dir; [(path, kind)]."""
    rng = random.Random(f"{src.name}:{seed}")
    out_dir.mkdir(parents=True, exist_ok=True)
    res = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        dst = out_dir / f"m{i:04d}_{kind}{src.suffix}"
        if src.is_dir():
            shutil.copytree(src, dst)
            files = sorted(f for f in dst.rglob("*") if f.is_file())
            spec = next(f for f in files if f.suffix == ".mlmodel")
            r = rng.random()
            if r < 0.6:
                target = spec
            elif r < 0.8:
                target = dst / "Manifest.json"
            elif r < 0.9:
                target = rng.choice(files)
            else:
                rng.choice(files).unlink()
                res.append((dst, "remove-file"))
                continue
            target.write_bytes(mutate(target.read_bytes(), rng, kind))
            res.append((dst, f"{kind}:{target.name}"))
        else:
            dst.write_bytes(mutate(src.read_bytes(), rng, kind))
            res.append((dst, kind))
    return res
