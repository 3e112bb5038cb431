"""TensorSpec: one input or output tensor as an artifact declares it, and filling in what the
artifact cannot say from its manifest. The leaf of edgekit.runtimes (numpy not even needed)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

FLOAT_DTYPES = ("float32", "float16")
QUANT_DTYPES = ("int8", "uint8")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor as the artifact declares it.

    shape: -1 marks a dynamic dimension. dtype: numpy dtype name of the native tensor.
    layout: "NCHW" / "NHWC" for images, "NC" for logits, None when unknown.
    quantization: {"scale": float, "zero_point": int} for int8/uint8 tensors, else None."""

    name: str
    shape: tuple
    dtype: str
    layout: Optional[str] = None
    quantization: Optional[dict] = None
    kind: Optional[str] = None

    def describe(self) -> str:
        """One line: `image float32[1,3,224,224] NCHW` (+ quantization)."""
        dims = ",".join("?" if d < 0 else str(d) for d in self.shape)
        s = f"{self.name} {self.dtype}[{dims}]"
        if self.layout:
            s += f" {self.layout}"
        if self.quantization:
            s += f" (scale={self.quantization['scale']:.6g}, zero_point={self.quantization['zero_point']})"
        return s

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d

    @property
    def is_quantized(self) -> bool:
        return self.dtype in QUANT_DTYPES and self.quantization is not None


def guess_layout(shape: Sequence[int]) -> Optional[str]:
    """NCHW/NHWC from a 4-D image shape (channels 1 or 3), NC for 2-D, else None."""
    shape = tuple(shape)
    if len(shape) == 2:
        return "NC"
    if len(shape) != 4:
        return None
    c_first, c_last = shape[1] in (1, 3), shape[3] in (1, 3)
    if c_first and not c_last:
        return "NCHW"
    if c_last and not c_first:
        return "NHWC"
    return None


def _manifest_tensor(manifest: Optional[dict], key: str, i: int) -> dict:
    if not manifest:
        return {}
    items = manifest.get(key) or []
    return items[i] if i < len(items) and isinstance(items[i], dict) else {}


def merge_specs(native: Sequence[TensorSpec], manifest: Optional[dict], key: str) -> list:
    """Fill what the artifact itself cannot say (layout, kind, names for .pte, missing int8
    scale/zero point) from the manifest's `inputs`/`outputs`. The artifact's shape and dtype win."""
    out = []
    for i, t in enumerate(native):
        m = _manifest_tensor(manifest, key, i)
        layout = m.get("layout") or t.layout or guess_layout(t.shape)
        quant = t.quantization
        if quant is None and t.dtype in QUANT_DTYPES and m.get("quantization"):
            quant = {"scale": float(m["quantization"]["scale"]), "zero_point": int(m["quantization"]["zero_point"])}
        name = t.name or m.get("name") or f"{key[:-1]}_{i}"
        out.append(TensorSpec(name, tuple(int(d) for d in t.shape), t.dtype, layout, quant, m.get("kind") or t.kind))
    return out
