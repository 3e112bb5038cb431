"""edgekit.quant: post-training quantization for the exporters.

Modules, lowest first (each imports only those above it in this list):
  graph.py        the leaf: which layer a node is, conv/linear and output layers, q/dq pairs
  params.py       reading and replacing a graph's weights and biases
  measure.py      running a module over images; agreement and KL with float
  backends.py     one QuantBackend per backend (xnnpack, litert, onnx, coreml): stock config, facts
  recipe.py       QuantRecipe (frozen; to_manifest() writes the manifest block) and QuantResult
  annotate.py     edgekit's quantizer: the backend's plus clamp fusion, float layers, float head
  rounding.py     GPTQ weight rounding
  bias.py         bias correction for nearest rounding
  calibrate.py    prepare, calibrate, round, convert: quantize()
  sensitivity.py  per-layer sensitivity by bypassing one layer's quantization
  guard.py        the accuracy guard: guarded_quantize()

Why the recipe is what it is and what it measures: docs/int8-notes.md."""
from __future__ import annotations

from .backends import BACKENDS, QuantBackend, get_backend
from .calibrate import quantize
from .guard import guarded_quantize
from .recipe import MAX_FLOAT_LAYERS, MIN_AGREEMENT, SCHEMES, QuantRecipe, QuantResult

__all__ = ["BACKENDS", "QuantBackend", "get_backend", "QuantRecipe", "QuantResult", "SCHEMES", "MIN_AGREEMENT",
           "MAX_FLOAT_LAYERS", "quantize", "guarded_quantize"]
