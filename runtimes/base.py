"""The one object API every runtime implements: RuntimeModel (inputs/outputs specs, run, predict,
manifest, threads). A runtime module only reads its artifact's tensor specs and calls its native
interpreter on native arrays; checking shapes/dtypes/layouts, int8 quantization of the IO,
preprocessing and top-k live here, once. numpy only: no torch at import time."""
from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Optional, Protocol, Sequence, Union

import numpy as np

from .. import preprocess as _pre
from ..errors import ArtifactError, InputError
from .tensors import QUANT_DTYPES, TensorSpec, merge_specs  # noqa: F401  (TensorSpec: public here too)


def _spec_line(specs: Sequence[TensorSpec]) -> str:
    return "; ".join(s.describe() for s in specs)


def _shape_matches(expected: Sequence[int], got: Sequence[int]) -> bool:
    return len(expected) == len(got) and all(e < 0 or e == g for e, g in zip(expected, got))


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def default_preprocessing(spec: TensorSpec) -> dict:
    """ImageNet preprocessing sized from the input tensor, for artifacts without a manifest."""
    layout = spec.layout if spec.layout in ("NCHW", "NHWC") else "NCHW"
    size = spec.shape[2] if layout == "NCHW" else spec.shape[1]
    if size is None or size < 1:
        size = 224
    return {"resize": int(round(size / 0.875)), "crop": int(size), "interpolation": "bilinear",
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "scale": 1.0 / 255.0,
            "channel_order": "RGB", "layout": layout}


class HeadTuner(Protocol):
    """What RuntimeModel.tune() calls: (artifact path, data folder, output, **options) -> result."""

    def __call__(self, artifact: Path, data_dir, out, **kwargs): ...


_HEAD_TUNER: Optional[HeadTuner] = None


def set_head_tuner(fn: Optional[HeadTuner]) -> None:
    """Plug in head tuning for RuntimeModel.tune() (edgekit/__init__.py sets edgekit.tune.tune)."""
    global _HEAD_TUNER
    _HEAD_TUNER = fn


def check_threads(threads) -> Optional[int]:
    """`threads` checked: None (the runtime's default) or an integer >= 1. Every caller that takes a
    thread count (load, bench, tune, the CLI) checks it here."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads must be an integer >= 1, got {threads!r}")
    return threads


class RuntimeModel(ABC):
    """A loaded artifact. Subclasses set `runtime_name`, implement `_load`, `_native_inputs`,
    `_native_outputs`, `_invoke` (native arrays in, native arrays out) and `runtime_version`.

    `run(arrays)` takes float arrays (int8-IO models are quantized/dequantized here with each
    tensor's own scale and zero point) and returns float arrays. `predict(image, k)` applies the
    manifest's preprocessing and labels."""

    runtime_name: str = "?"
    #: package that provides the runtime, for MissingDependencyError and runtime_version
    package: str = "?"

    def __init__(self, path: Union[str, os.PathLike], threads: Optional[int] = None, manifest: Optional[dict] = None):
        self.path = Path(path)
        self._threads = check_threads(threads)
        self.manifest = manifest
        self._load()
        self.inputs = merge_specs(self._native_inputs(), manifest, "inputs")
        self.outputs = merge_specs(self._native_outputs(), manifest, "outputs")
        self._init_fast_path()

    def _init_fast_path(self) -> None:
        """run() on one C-contiguous array of exactly the native dtype and static shape skips all
        checks and conversions (the common case; keeps the wrapper's cost to a few microseconds)."""
        self._fast = None
        if len(self.inputs) == 1 and all(d >= 0 for d in self.inputs[0].shape):
            try:
                self._fast = (np.dtype(self.inputs[0].dtype), tuple(self.inputs[0].shape))
            except TypeError:
                pass
        self._dequant_outputs = any(o.dtype in QUANT_DTYPES and o.quantization is not None for o in self.outputs)

    # ---- what a runtime module implements -------------------------------------------------
    @abstractmethod
    def _load(self) -> None:
        """Open the artifact with the native runtime (raise ArtifactError if it is unreadable)."""

    @abstractmethod
    def _native_inputs(self) -> list:
        """TensorSpecs as the artifact declares them (layout may be None)."""

    @abstractmethod
    def _native_outputs(self) -> list:
        ...

    @abstractmethod
    def _invoke(self, arrays: list) -> list:
        """Native-dtype numpy arrays in (already checked), native numpy arrays out."""

    @property
    @abstractmethod
    def runtime_version(self) -> str:
        ...

    # ---- common API --------------------------------------------------------------------------
    @property
    def threads(self) -> Optional[int]:
        """Thread count requested at load (None: the runtime's default)."""
        return self._threads

    @property
    def format(self) -> str:
        return self.runtime_name

    @property
    def labels(self) -> Optional[list]:
        labels = (self.manifest or {}).get("labels")
        return list(labels) if labels else None

    @property
    def preprocessing(self) -> dict:
        pre = (self.manifest or {}).get("preprocessing")
        if pre:
            pre = dict(pre)
            # the input tensor decides the layout the image is laid out in
            if self.inputs and self.inputs[0].layout in ("NCHW", "NHWC"):
                pre["layout"] = self.inputs[0].layout
            return pre
        return default_preprocessing(self.inputs[0])

    def prepare(self, arrays) -> list:
        """Check float inputs against the specs and convert them to native arrays (quantized
        where the input is int8/uint8). Raises InputError naming the expected spec. (run() skips
        it for one array that already has the native dtype, static shape and C order.)"""
        if isinstance(arrays, np.ndarray) or not isinstance(arrays, (list, tuple)):
            arrays = [arrays]
        if len(arrays) != len(self.inputs):
            raise InputError(f"{self.path.name} takes {len(self.inputs)} input(s) ({_spec_line(self.inputs)}), got {len(arrays)}")
        out = []
        for a, spec in zip(arrays, self.inputs):
            out.append(self._prepare_one(a, spec))
        return out

    def _prepare_one(self, a, spec: TensorSpec) -> np.ndarray:
        if not isinstance(a, np.ndarray):
            if hasattr(a, "numpy") and hasattr(a, "detach"):  # a torch tensor
                a = a.detach().cpu().numpy()
            else:
                raise InputError(f"expected a numpy array for input {spec.describe()}, got {type(a).__name__}")
        if not _shape_matches(spec.shape, a.shape):
            hint = ""
            if a.ndim == 4 and spec.layout in ("NCHW", "NHWC"):
                other = (0, 3, 1, 2) if spec.layout == "NCHW" else (0, 2, 3, 1)
                if _shape_matches(spec.shape, tuple(a.shape[i] for i in other)):
                    got = "NHWC" if spec.layout == "NCHW" else "NCHW"
                    hint = f" (looks {got}: the model wants {spec.layout}, transpose with {other})"
            raise InputError(f"input shape {list(a.shape)} does not match the model's input: expected {spec.describe()}{hint}")
        try:
            native = np.dtype(spec.dtype)
        except TypeError:
            raise ArtifactError(f"{self.path.name}: input {spec.name} has a type edgekit cannot feed ({spec.dtype})") from None
        if spec.dtype in QUANT_DTYPES:
            if a.dtype == native:  # already quantized by the caller
                return np.ascontiguousarray(a)
            if a.dtype.kind != "f":
                raise InputError(f"input dtype {a.dtype} does not match: expected float (quantized by edgekit) or {spec.dtype} for {spec.describe()}")
            if spec.quantization is None:
                raise InputError(f"input {spec.describe()} is {spec.dtype} without scale/zero point; pass {spec.dtype} data")
            q = spec.quantization
            return _pre.quantize(a, q["scale"], q["zero_point"], native)
        if a.dtype.kind != "f" and native.kind == "f":
            raise InputError(f"input dtype {a.dtype} does not match: expected {spec.describe()} (float, preprocessed; use predict() for raw images)")
        if native.kind != "f" and a.dtype != native:
            if a.dtype.kind not in "iu":
                raise InputError(f"input dtype {a.dtype} does not match: expected {spec.describe()}")
        return np.ascontiguousarray(a, dtype=native)

    def finish(self, outputs: list) -> list:
        """Native outputs -> float arrays (int8/uint8 outputs dequantized)."""
        if not self._dequant_outputs:
            return [o if type(o) is np.ndarray else np.asarray(o) for o in outputs]
        res = []
        for o, spec in zip(outputs, self.outputs):
            o = np.asarray(o)
            if spec.dtype in QUANT_DTYPES and spec.quantization is not None:
                o = _pre.dequantize(o, spec.quantization["scale"], spec.quantization["zero_point"])
            res.append(o)
        return res

    def run(self, arrays) -> list:
        """numpy in, numpy out: one array (or a list, one per input) of float data in the
        model's input shape and layout -> list of float output arrays."""
        fast = self._fast  # one ready array: no checks or conversion (see _init_fast_path)
        if fast is not None and type(arrays) is np.ndarray and arrays.dtype == fast[0] and arrays.shape == fast[1] \
                and arrays.flags.c_contiguous:
            outs = self._invoke((arrays,))
        else:
            outs = self._invoke(self.prepare(arrays))
        return self.finish(outs)

    __call__ = run

    def predict(self, image, k: int = 5, preprocessing: Optional[dict] = None) -> list:
        """Top-k (class index, label, score) for one image: a path, a PIL image, an HxWx3 uint8
        RGB array, or an already-preprocessed float array in the input's shape.

        Preprocessing and labels come from the manifest; without a manifest, ImageNet mean/std
        at the input's size (with a warning) and labels "class_<i>". Scores are softmax
        probabilities (outputs marked kind=probabilities are used as they are)."""
        if not isinstance(k, int) or k < 1:
            raise InputError(f"k must be a positive integer, got {k!r}")
        self._check_head_trained()
        x = self._image_to_input(image, preprocessing)
        out = self.run(x)[0]
        scores = np.asarray(out, dtype=np.float64).reshape(out.shape[0] if out.ndim > 1 else 1, -1)[0]
        kind = self.outputs[0].kind
        probs = scores if kind == "probabilities" else softmax(scores)
        k = min(k, probs.shape[-1])
        top = np.argsort(-probs, kind="stable")[:k]
        labels = self.labels
        return [(int(i), labels[i] if labels and i < len(labels) else f"class_{i}", float(probs[i])) for i in top]

    def _check_head_trained(self) -> None:
        """Backbone-only weights (e.g. `imagenet-backbone`) leave the classifier untrained: its
        classes would be noise, so predict refuses until `edgekit tune` has trained a head."""
        weights = ((self.manifest or {}).get("model") or {}).get("weights") or {}
        if weights.get("head") == "untrained":
            raise InputError(f"{self.path.name} has an untrained classifier head (weights {weights.get('source', '?')!r} "
                             f"hold the backbone only), so its classes mean nothing; train a head on your classes with "
                             f"`edgekit tune` (export with --trainable-head), or use run() for the raw outputs")

    def _image_to_input(self, image, preprocessing: Optional[dict]) -> np.ndarray:
        spec = self.inputs[0]
        if isinstance(image, np.ndarray) and image.dtype.kind == "f":
            return image if image.ndim == len(spec.shape) else image[None]
        pre = preprocessing
        if pre is None:
            if not (self.manifest or {}).get("preprocessing"):
                warnings.warn(f"{self.path.name} has no manifest: using ImageNet preprocessing at the input size", stacklevel=3)
            pre = self.preprocessing
        return _pre.preprocess(image, pre)

    def describe(self) -> str:
        t = f", {self._threads} threads" if self._threads else ""
        return (f"{self.path.name} [{self.runtime_name} {self.runtime_version}{t}] "
                f"in: {_spec_line(self.inputs)} -> out: {_spec_line(self.outputs)}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"

    def tune(self, data_dir, out, **kwargs):
        """Retrain the head on `data_dir` (one subfolder per class) in this runtime and write a new
        artifact at `out`; needs an artifact exported with --trainable-head. See edgekit.tune.tune
        (epochs, lr, batch_size, val_split, seed, momentum, weight_decay). Returns a TuneResult.
        The runtime layer does not know how to tune: the function set with set_head_tuner (edgekit
        sets edgekit.tune.tune) does."""
        if _HEAD_TUNER is None:
            raise ArtifactError("head tuning needs edgekit's tune feature: import edgekit (or edgekit.tune)")
        kwargs.setdefault("threads", self._threads)
        return _HEAD_TUNER(self.path, data_dir, out, **kwargs)

    def close(self) -> None:
        """Release the native interpreter (also done when the object is garbage collected)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
