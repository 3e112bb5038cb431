"""What each quantization backend is: one object per backend, carrying its stock PT2E config and
quantizer and the facts the rest of edgekit.quant and the exporters ask about it. Adding a
backend is one subclass here and one entry in BACKENDS.

- xnnpack: ExecuTorch's XNNPACK quantizer (int8 weights symmetric, activations asymmetric).
- onnx: the same scheme with 7-bit weights, so ONNX Runtime's AVX2 kernels cannot saturate.
- litert: litert-torch's PT2E quantizer; LiteRT folds weight quantize/dequantize itself.
- coreml: ExecuTorch's Core ML quantizer, used as it comes (W8A8, iOS17 quantize ops); edgekit's
  recipe knobs (clamp fusion, rounding, bias correction, float head, guard) are not applied."""
from __future__ import annotations

import abc
import dataclasses
from typing import Callable

from ..errors import UnknownNameError

OBSERVERS = ("histogram", "minmax", "moving_average")

# ONNX Runtime's int8 conv/gemm kernels on x86 without VNNI (AVX2) add pairs of u8 x s8 products
# in int16 (vpmaddubsw) and saturate with full-range int8 weights: on EfficientNet-Lite0 the fused
# int8 model's logits had cosine 0.93 to the same QDQ graph run in float. 7-bit weights (ORT's own
# reduce_range) cannot saturate; the "onnx" backend uses them.
ONNX_WEIGHT_RANGE = (-63, 63)


def _act_observer(name: str):
    from torchao.quantization.pt2e.observer import (
        HistogramObserver,
        MinMaxObserver,
        MovingAverageMinMaxObserver,
    )

    ctor = {"histogram": HistogramObserver, "minmax": MinMaxObserver, "moving_average": MovingAverageMinMaxObserver}[name]
    return ctor.with_args(eps=2**-12)


def _with_observer(cfg, observer: str):
    if observer == "histogram":
        return cfg
    act = dataclasses.replace(cfg.input_activation, observer_or_fake_quant_ctr=_act_observer(observer))
    return dataclasses.replace(cfg, input_activation=act, output_activation=act)


class QuantBackend(abc.ABC):
    """A quantization backend (see the module docstring). Class attributes are its facts."""

    name: str = ""
    schemes: tuple = ("static",)          # quantization schemes it takes (see recipe.SCHEMES)
    tunable: bool = True                  # edgekit's recipe knobs and the accuracy guard apply
    fold_quantize: bool = True            # convert_pt2e(fold_quantize=...) before lowering
    float_inputs: bool = True             # may a float layer read its input unquantized
    weight_range: tuple = (-127, 127)
    weight_words: str = "int8"            # how the manifest names its weights
    head_words: str = "float output"      # what the float-output head does, in the manifest
    float_activations: str = "float32"    # activations of its weight-only / fp16 schemes
    stock_static_name: str = ""           # manifest recipe name of a stock-only static recipe
    stock_activations: str = ""           # ... and how it quantizes activations

    @abc.abstractmethod
    def stock_config(self, per_channel: bool, observer: str):
        """The backend's own static int8 quantization config (with edgekit's observer choice)."""

    @abc.abstractmethod
    def stock_quantizer(self, cfg, keep: Callable):
        """The backend's own PT2E quantizer with config `cfg`, leaving a node in float where
        keep(node) is False."""

    def head_input_spec(self, per_channel: bool):
        """The input quantization of a float-output head, or None to keep its static int8 input."""
        return None

    def converter_config(self, quantizer):
        """What the target's converter needs to know about the quantizer (LiteRT), or None."""
        return None

    def __repr__(self) -> str:
        return f"<QuantBackend {self.name}>"


class XnnpackBackend(QuantBackend):
    """ExecuTorch / XNNPACK. A float layer cannot read its input unquantized here: dropping the int8
    output of the producer leaves an int8 conv with a float output, which XNNPACK cannot run; it
    stays outside the delegate and the program fails at to_executorch (no portable kernel for
    dequantize_per_channel). Measured on EfficientNet-Lite0 with blocks.0.0.conv_dw in float: the
    stem conv was the one left out. There the float layer reads the dequantized int8 tensor."""

    name = "xnnpack"
    float_inputs = False
    head_words = "int8 weights, input quantized per run (dynamic int8), float output"

    def stock_config(self, per_channel, observer):
        from executorch.backends.xnnpack.quantizer import xnnpack_quantizer as xq

        lo, hi = self.weight_range
        cfg = xq.get_symmetric_quantization_config(is_per_channel=per_channel, weight_qmin=lo, weight_qmax=hi)
        return _with_observer(cfg, observer)

    def stock_quantizer(self, cfg, keep):
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

        return XNNPACKQuantizer().set_global(cfg).set_filter_function(keep)

    def head_input_spec(self, per_channel):
        from executorch.backends.xnnpack.quantizer import xnnpack_quantizer as xq

        return xq.get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=True).input_activation


class OnnxBackend(XnnpackBackend):
    """ONNX Runtime: XNNPACK's scheme with 7-bit weights (ONNX_WEIGHT_RANGE), QDQ in the graph."""

    name = "onnx"
    float_inputs = True
    weight_range = ONNX_WEIGHT_RANGE
    weight_words = "int7 (ONNX Runtime reduce_range)"
    head_words = "int8 input and weights dequantized, float output"

    def head_input_spec(self, per_channel):
        return None


class LiteRTBackend(QuantBackend):
    """LiteRT (TFLite): litert-torch's PT2E quantizer; its converter folds weight q/dq itself."""

    name = "litert"
    schemes = ("static", "dynamic", "weight", "fp16")
    fold_quantize = False
    head_words = "int8 input and weights, float output (hybrid kernel)"

    def stock_config(self, per_channel, observer):
        from litert_torch.quantize import pt2e_quantizer as lq

        return _with_observer(lq.get_symmetric_quantization_config(is_per_channel=per_channel), observer)

    def stock_quantizer(self, cfg, keep):
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer

        class _Litert(PT2EQuantizer):
            def _annotate_all_static_patterns(self, model, quantization_config, filter_fn=None):
                f = (lambda n: keep(n) and filter_fn(n)) if filter_fn is not None else keep
                return super()._annotate_all_static_patterns(model, quantization_config, f)

        return _Litert().set_global(cfg)

    def converter_config(self, quantizer):
        """The `quant_config` argument of litert_torch.convert for a static PT2E module."""
        from litert_torch.quantize.quant_config import QuantConfig

        return QuantConfig(pt2e_quantizer=getattr(quantizer, "base", quantizer))


class CoreMLBackend(QuantBackend):
    """Core ML: ExecuTorch's CoreMLQuantizer as it comes (symmetric int8 per-channel weights,
    uint8 per-tensor activations); int8 weight-only is coremltools' own pass on the program."""

    name = "coreml"
    schemes = ("static", "weight")
    tunable = False
    float_activations = "float16"
    stock_static_name = "pt2e-coreml-w8a8-static"
    stock_activations = "uint8 per-tensor (Core ML quantizer)"

    def stock_config(self, per_channel, observer):
        import torch
        from coremltools.optimize.torch.quantization.quantization_config import LinearQuantizerConfig, QuantizationScheme

        return LinearQuantizerConfig.from_dict({"global_config": {
            "quantization_scheme": QuantizationScheme.symmetric, "activation_dtype": torch.quint8,
            "weight_dtype": torch.qint8, "weight_per_channel": per_channel}})

    def stock_quantizer(self, cfg, keep):
        from executorch.backends.apple.coreml.quantizer import CoreMLQuantizer

        return CoreMLQuantizer(cfg)


BACKENDS = {b.name: b for b in (XnnpackBackend(), LiteRTBackend(), OnnxBackend(), CoreMLBackend())}


def get_backend(name) -> QuantBackend:
    """The backend object for a name (or the object itself)."""
    if isinstance(name, QuantBackend):
        return name
    try:
        return BACKENDS[name]
    except (KeyError, TypeError):
        raise UnknownNameError("quantization backend", name, BACKENDS) from None


def backend_names() -> tuple:
    return tuple(BACKENDS)

