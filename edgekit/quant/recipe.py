"""QuantRecipe: how a model is quantized, as one frozen object; QuantResult: what came out.

A recipe names its backend (backends.py) and scheme, and for static int8 the knobs of edgekit's
PT2E recipe (observer, clamp fusion, weight rounding, bias correction, float-output head, layers
kept in float) and of the accuracy guard. It rejects what does not go together, before any work.
`to_manifest()` is the only writer of an artifact manifest's `quantization` block, and
`from_manifest()` reads one back (an artifact re-lowered later, e.g. its trainable backbone).

Schemes: static (int8 weights and activations, calibrated), dynamic (int8 weights, activations
quantized per run), weight (int8 weights, float compute), fp16 (float16 weights)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from ..errors import ExportError, UnknownNameError
from .backends import OBSERVERS, get_backend
from .measure import GUARD_METRICS

SCHEMES = ("static", "dynamic", "weight", "fp16")
ROUNDINGS = ("gptq", "nearest")  # int8 weight rounding: error-compensating (rounding.py) or plain
IO_TYPES = ("float", "int8")
# the accuracy guard's defaults (also those of `edgekit export`)
MIN_AGREEMENT = 0.99  # top-1 agreement with float wanted on the held-out calibration images
MAX_FLOAT_LAYERS = 8  # layers the guard may keep in float to get there (0: only measure)


@dataclass(frozen=True)
class QuantRecipe:
    backend: str = "xnnpack"
    scheme: str = "static"
    per_channel: bool = True
    observer: str = "histogram"
    fuse_clamp: bool = True            # one observer after ReLU6/ReLU (annotate.py)
    rounding: str = "gptq"
    bias_correction: bool = True       # with gptq: the bias absorbs what rounding leaves
    float_output: bool = True          # the output layer keeps int8 weights but writes float
    float_layers: tuple = ()           # layers kept in float from the start
    io: str = "float"                  # the artifact's input/output dtype (int8: TFLite only)
    min_agreement: float = MIN_AGREEMENT
    max_float_layers: int = MAX_FLOAT_LAYERS
    guard_metric: str = "top1"         # top1: logits of a classifier; cosine: embeddings of a backbone

    def __post_init__(self):
        b = get_backend(self.backend)
        object.__setattr__(self, "backend", b.name)
        object.__setattr__(self, "float_layers", tuple(self.float_layers))
        if self.scheme not in SCHEMES:
            raise UnknownNameError("quantization scheme", self.scheme, SCHEMES)
        if self.scheme not in b.schemes:
            raise ExportError(f"quantization backend {b.name} does not take scheme {self.scheme} "
                              f"(it takes {', '.join(b.schemes)})")
        if self.observer not in OBSERVERS:
            raise UnknownNameError("activation observer", self.observer, OBSERVERS)
        if self.rounding not in ROUNDINGS:
            raise UnknownNameError("weight rounding", self.rounding, ROUNDINGS)
        if self.io not in IO_TYPES:
            raise UnknownNameError("io type", self.io, IO_TYPES)
        if self.guard_metric not in GUARD_METRICS:
            raise UnknownNameError("accuracy guard metric", self.guard_metric, GUARD_METRICS)
        if self.io != "float" and self.scheme != "static":
            raise ExportError(f"int8 input/output needs static quantization, not {self.scheme}")
        if not (isinstance(self.min_agreement, (int, float)) and math.isfinite(self.min_agreement)
                and self.min_agreement >= 0):
            raise ExportError(f"min_agreement must be a number >= 0, got {self.min_agreement!r}")
        if isinstance(self.max_float_layers, bool) or int(self.max_float_layers) != self.max_float_layers \
                or self.max_float_layers < 0:
            raise ExportError(f"max_float_layers must be a whole number >= 0, got {self.max_float_layers!r}")
        if not b.tunable and self.scheme == "static" and self.knobs_on():
            raise ExportError(f"quantization backend {b.name} takes its stock recipe only: "
                              f"use QuantRecipe.stock('{b.name}')")

    def knobs_on(self) -> list:
        """edgekit's static-recipe knobs this recipe turns on."""
        on = [k for k in ("fuse_clamp", "bias_correction", "float_output") if getattr(self, k)]
        on += ["gptq rounding"] if self.rounding == "gptq" else []
        on += ["float_layers"] if self.float_layers else []
        on += ["accuracy guard"] if self.max_float_layers else []
        return on

    @classmethod
    def stock(cls, backend: str, scheme: str = "static", **kw) -> "QuantRecipe":
        """The backend's own recipe with none of edgekit's changes (the baseline a benchmark
        compares with, and the only static recipe of a backend that is not tunable)."""
        return cls(backend=backend, scheme=scheme, fuse_clamp=False, rounding="nearest", bias_correction=False,
                   float_output=False, max_float_layers=0, **kw)

    @classmethod
    def for_backend(cls, backend: str, scheme: str = "static", **kw) -> "QuantRecipe":
        """edgekit's recipe for a backend: the full static recipe where the backend is tunable,
        its stock one where it is not."""
        if scheme == "static" and not get_backend(backend).tunable:
            kw = {k: v for k, v in kw.items() if k not in ("min_agreement", "max_float_layers", "guard_metric")}  # no guard there
            return cls.stock(backend, scheme, **kw)
        return cls(backend=backend, scheme=scheme, **kw)

    # --- derived ---------------------------------------------------------------------------------
    @property
    def needs_calibration(self) -> bool:
        return self.scheme == "static"

    @property
    def backend_object(self):
        return get_backend(self.backend)

    @property
    def backend_tunable(self) -> bool:
        return get_backend(self.backend).tunable

    @property
    def writes_float_output(self) -> bool:
        """int8 model output (io int8): the head writes int8."""
        return self.float_output and self.io != "int8"

    @property
    def name(self) -> str:
        if self.scheme == "static" and not self.backend_tunable:
            return self.backend_object.stock_static_name
        if self.scheme == "static":
            return f"pt2e-{self.backend}-{'per-channel' if self.per_channel else 'per-tensor'}-static"
        return {"dynamic": "dynamic-range", "weight": "weight-only", "fp16": "fp16-weights"}[self.scheme]

    def with_float_layers(self, layers) -> "QuantRecipe":
        return replace(self, float_layers=tuple(layers))

    # --- the manifest's quantization block ---------------------------------------------------------
    def to_manifest(self, result: Optional["QuantResult"] = None, calibration: Optional[dict] = None) -> dict:
        """The manifest `quantization` block (schema: edgekit/schema/manifest.schema.json) of an
        artifact made with this recipe; `result` is what quantize()/guarded_quantize() returned."""
        b = get_backend(self.backend)
        if self.scheme == "fp16":
            return {"recipe": self.name, "weights": "float16", "activations": b.float_activations, "io": self.io,
                    "calibration": None}
        if self.scheme in ("dynamic", "weight"):
            act = "int8 dynamic (per run)" if self.scheme == "dynamic" else b.float_activations
            return {"recipe": self.name, "weights": "int8 per-channel symmetric", "activations": act, "io": self.io,
                    "calibration": None}
        if not b.tunable:
            return {"recipe": self.name, "weights": "int8 per-channel symmetric", "activations": b.stock_activations,
                    "io": self.io, "calibration": calibration}
        head_layers = list(result.float_output_layers) if result is not None else []
        pooling = list(result.float_output_pooling) if result is not None else []
        gptq = self.rounding == "gptq"
        block = {
            "recipe": self.name,
            "weights": f"{b.weight_words} symmetric {'per-channel' if self.per_channel else 'per-tensor'}"
            + {(True, True): ", GPTQ-rounded, bias absorbs the remaining error", (True, False): ", GPTQ-rounded",
               (False, True): ", bias-corrected", (False, False): ""}[(gptq, bool(self.bias_correction))],
            "activations": f"int8 asymmetric per-tensor, {self.observer} observer" + (", clamp-fused" if self.fuse_clamp else "")
            + (f"; output layer {', '.join(head_layers)}: {b.head_words}" if head_layers else "")
            + (f"; output pooling {', '.join(pooling)}: float (reads the dequantized int8 tensor)" if pooling else ""),
            "float_layers": list(result.recipe.float_layers if result is not None else self.float_layers),
            "float_output_layers": head_layers,
            "io": self.io,
        }
        if result is not None and result.guarded:
            block["guard"] = {"agreement": result.agreement, "metric": self.guard_metric,
                              "history": result.details.get("guard_history")}
            block["weight_rounding"] = result.details.get("weight_rounding")
        block["calibration"] = calibration
        return block

    @classmethod
    def from_manifest(cls, block: Optional[dict], backend: str) -> Optional["QuantRecipe"]:
        """The recipe of an artifact's `quantization` block, for re-lowering a part of the same
        model (its trainable backbone) the same way: scheme and backend; the guard decides its
        float layers anew for that part. None for an unquantized artifact."""
        if not block:
            return None
        scheme = {"dynamic-range": "dynamic", "weight-only": "weight", "fp16-weights": "fp16"}.get(
            block.get("recipe", ""), "static")
        return cls.for_backend(backend, scheme)


@dataclass
class QuantResult:
    """A converted (quantize/dequantize annotated) fx GraphModule, ready for torch.export and
    lowering, plus the recipe it was made with (float layers as finally kept) and what the passes
    and the guard measured."""

    module: Any
    recipe: QuantRecipe
    quantizer: Any = None
    agreement: Optional[float] = None   # top-1 agreement vs float measured by the guard (or None)
    guarded: bool = False               # made by guarded_quantize (its findings go in the manifest)
    float_output_layers: tuple = ()     # output layers left writing float (annotate.float_output_annotation)
    float_output_pooling: tuple = ()    # a backbone's output pooling left in float (annotate.float_pooled_output)
    details: dict = field(default_factory=dict)

    @property
    def backend(self):
        return get_backend(self.recipe.backend)

    def manifest(self, calibration: Optional[dict] = None) -> dict:
        """The manifest `quantization` block of this result."""
        return self.recipe.to_manifest(self, calibration)

    def converter_config(self):
        """What the target's converter needs (LiteRT: its quant_config), see backends.py."""
        return self.backend.converter_config(self.quantizer)
