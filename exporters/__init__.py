"""Export targets, one module each.

A target module defines a subclass of `Exporter` (what precisions and quantization modes it
supports, its quantization backend) with a `lower()`; the format registry (edgekit.formats)
names it, and gives it its name and suffix. Adding a target is one new file here plus one
`register_format(...)` entry. `Exporter.options()` runs before any work (no torch import), so an
unsupported combination fails at once with a one-line ExportError. Target modules import their
converter (executorch, litert_torch, coremltools, onnx) only inside `lower()`."""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..errors import ExportError, UnknownNameError
from ..formats import Format, get_format, load_attr, target_names
from ..quant.backends import get_backend
from ..quant.recipe import MAX_FLOAT_LAYERS, MIN_AGREEMENT, QuantRecipe

PRECISIONS = ("fp32", "fp16", "int8")
# int8 flavours: full-integer static (weights + activations, needs calibration images),
# dynamic-range (int8 weights, activations quantized at run time), weight-only (int8 weights
# dequantized to float before the op).
QUANT_MODES = ("static", "dynamic", "weight")
IO_TYPES = ("float", "int8")

_INSTANCES: dict[str, "Exporter"] = {}


@dataclass(frozen=True)
class ExportOptions:
    """What one artifact is to be: precision, input layout and, when it is quantized, the
    QuantRecipe (edgekit.quant) its exporter follows."""

    precision: str
    layout: str = "nchw"
    recipe: Optional[QuantRecipe] = None

    @property
    def quant(self) -> Optional[str]:
        """The int8 flavour (static | dynamic | weight), None for fp32/fp16."""
        return self.recipe.scheme if self.recipe is not None and self.precision == "int8" else None

    @property
    def io(self) -> str:
        """dtype of the artifact's input/output tensors."""
        return self.recipe.io if self.recipe is not None else "float"

    @property
    def needs_calibration(self) -> bool:
        return self.recipe is not None and self.recipe.needs_calibration

    @property
    def tag(self) -> str:
        """File-name suffix describing the variant, e.g. 'int8', 'int8-dynamic', 'int8-int8io'."""
        t = self.precision
        if self.quant and self.quant != "static":
            t += f"-{self.quant}"
        if self.io != "float":
            t += f"-{self.io}io"
        if self.layout != "nchw":
            t += f"-{self.layout}"
        return t


def float_io(shape, num_classes: int, layout: str, in_name: str = "image", out_name: str = "logits") -> tuple[list, list]:
    """Manifest input/output specs of a float-in, float-out classifier."""
    inputs = [{"name": in_name, "shape": [int(s) for s in shape], "dtype": "float32", "layout": layout.upper(),
               "quantization": None, "kind": "image"}]
    outputs = [{"name": out_name, "shape": [int(shape[0]), int(num_classes)], "dtype": "float32", "layout": "NC",
                "quantization": None, "kind": "logits"}]
    return inputs, outputs


@dataclass
class Lowered:
    """A lowered model held in memory. `save(path, manifest_json)` serializes it, embedding the
    manifest text when given (the exporter writes once without it for the parity check, then
    once with the final manifest, which includes the parity results)."""

    save: Callable[[str, Optional[str]], None]
    inputs: list
    outputs: list
    quant_result: Optional[Any] = None       # edgekit.quant.QuantResult of a static int8 lowering
    delegate: Optional[str] = None
    delegation: Optional[dict] = None
    details: dict = field(default_factory=dict)
    embedded_manifest: str = "none"
    versions: dict = field(default_factory=dict)


class Exporter(abc.ABC):
    """Base class of a target. Subclasses set the class attributes and implement lower(); the
    registry gives each instance its Format (name, suffix, whether it is a folder)."""

    default_precision: str = "fp32"
    precisions: dict = {}                    # precision -> allowed quant modes (None = no quant mode)
    int8_io: bool = False                    # can the artifact take/return int8 tensors
    quant_backend: Optional[str] = None      # the edgekit.quant backend its quantized variants use
    parity_unavailable: str = ""             # why its artifacts cannot run here ("" : they can)

    def __init__(self, fmt: Format):
        self.format = fmt

    @property
    def name(self) -> str:
        return self.format.name

    @property
    def suffix(self) -> str:
        return self.format.suffix

    @property
    def is_directory(self) -> bool:
        return self.format.is_directory

    @property
    def runs_here(self) -> bool:
        """Whether parity can run its artifacts in this process's runtime."""
        return not self.parity_unavailable

    def options(self, precision: Optional[str] = None, quant: Optional[str] = None, io: str = "float",
                layout: str = "nchw", min_agreement: float = MIN_AGREEMENT,
                max_float_layers: int = MAX_FLOAT_LAYERS, guard_metric: str = "top1") -> ExportOptions:
        """Validate a combination and return the normalized options; raises before any work."""
        precision = precision or self.default_precision
        if precision not in PRECISIONS:
            raise UnknownNameError("precision", precision, PRECISIONS)
        if precision not in self.precisions:
            raise ExportError(f"target {self.name} does not support precision {precision} "
                              f"(supported: {', '.join(self.precisions)})")
        modes = self.precisions[precision]
        if precision == "int8":
            quant = quant or modes[0]
            if quant not in QUANT_MODES:
                raise UnknownNameError("quantization mode", quant, QUANT_MODES)
            if quant not in modes:
                raise ExportError(f"target {self.name} does not support int8 quantization mode {quant} "
                                  f"(supported: {', '.join(modes)})")
        elif quant:
            raise ExportError(f"--quant applies to int8 only, not {precision}")
        if io not in IO_TYPES:
            raise UnknownNameError("io type", io, IO_TYPES)
        if io != "float" and not (self.int8_io and precision == "int8" and quant == "static"):
            raise ExportError(f"int8 input/output needs --precision int8 with static quantization on a target that "
                              f"supports it (tflite); got target {self.name}, precision {precision}"
                              f"{', ' + quant if quant else ''}")
        if not 0.0 <= float(min_agreement) <= 1.0:
            raise ExportError(f"--min-agreement must be between 0 and 1, got {min_agreement}")
        if int(max_float_layers) != max_float_layers or int(max_float_layers) < 0:
            raise ExportError(f"--max-float-layers must be a whole number >= 0, got {max_float_layers}")
        from ..capture import check_layout

        recipe = None
        if precision == "int8":
            recipe = QuantRecipe.for_backend(self.quant_backend, quant, io=io, min_agreement=float(min_agreement),
                                             max_float_layers=int(max_float_layers), guard_metric=guard_metric)
        elif precision == "fp16" and "fp16" in get_backend(self.quant_backend).schemes:
            recipe = QuantRecipe(backend=self.quant_backend, scheme="fp16")
        return ExportOptions(precision=precision, layout=check_layout(layout), recipe=recipe)

    @abc.abstractmethod
    def lower(self, cap, options: ExportOptions, calib=None, num_classes: int = 0) -> Lowered:
        """Lower the captured program to this target (each target module implements it)."""


def get_target(name: str) -> Exporter:
    """The exporter of a registered target format."""
    if name not in target_names():
        raise UnknownNameError("target", name, (*target_names(), "all"))
    fmt = get_format(name)
    ex = _INSTANCES.get(name)
    if ex is None or ex.format is not fmt:
        ex = _INSTANCES[name] = load_attr(fmt.exporter)(fmt)
    return ex


def resolve_targets(target: str) -> list[Exporter]:
    """'all' -> every target; otherwise the one named."""
    return [get_target(t) for t in target_names()] if target == "all" else [get_target(target)]


def versions_of(*packages: str) -> dict:
    """Installed versions (None when missing) without importing the packages."""
    from importlib import metadata

    out = {}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out
