"""Head trainers: run the exported head training step in each runtime. All share one interface:

    t.set_weights(W [C,D], b [C])       # C <= the program's class capacity; resets momentum
    loss = t.step(embeddings [n,D], labels [n])   # n <= the program's batch; one SGD step
    W, b = t.weights()                  # the real C rows

The TFLite trainer is torch-free (numpy + a TFLite interpreter). The numpy oracle
(edgekit.tune.head_numpy.NumpyHeadTrainer) has the same interface."""
from __future__ import annotations

import os
from typing import Union

import numpy as np

from ..errors import ArtifactError, DataError, MissingDependencyError
from .head_numpy import NumpyHeadTrainer, one_hot

PathLike = Union[str, os.PathLike]


class _PaddedTrainer:
    """Pads a real-size problem (n rows, C classes) to the program's fixed batch and capacity."""

    name = ""

    def __init__(self, lr: float, momentum: float, weight_decay: float, batch: int, capacity: int, dim: int):
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self.batch, self.capacity, self.dim = int(batch), int(capacity), int(dim)
        self.num_classes = 0

    def _check_weights(self, W, b):
        W, b = np.asarray(W, np.float32), np.asarray(b, np.float32)
        C = W.shape[0]
        if W.shape[1] != self.dim or b.shape != (C,):
            raise ArtifactError(f"head weights must be W [C,{self.dim}] and b [C], got {W.shape} and {b.shape}")
        if C > self.capacity:
            raise DataError(f"{C} classes but the training program holds at most {self.capacity}; "
                            f"re-export with --trainable-head --max-classes {C} or more")
        self.num_classes = C
        Wp = np.zeros((self.capacity, self.dim), np.float32)
        bp = np.zeros((self.capacity,), np.float32)
        Wp[:C], bp[:C] = W, b
        mask = np.zeros((self.capacity,), np.float32)
        mask[:C] = 1.0
        return Wp, bp, mask

    def _pad_batch(self, f, labels):
        f = np.asarray(f, np.float32)
        n = len(labels)
        if n > self.batch:
            raise DataError(f"batch of {n} is larger than the training program's batch {self.batch}")
        fp = np.zeros((self.batch, self.dim), np.float32)
        fp[:n] = f
        return fp, one_hot(labels, self.capacity, self.batch)


class TFLiteHeadTrainer(_PaddedTrainer):
    """Runs the 'train' signature of a training .tflite (exporters/train_tflite.py)."""

    name = "tflite"

    def __init__(self, path: PathLike, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, threads=None):
        Interpreter = _tflite_interpreter()
        try:
            self._it = Interpreter(model_path=str(path), num_threads=threads)
            self._train = self._it.get_signature_runner("train")
        except (ValueError, RuntimeError) as e:
            raise ArtifactError(f"{path} is not an edgekit TFLite training program ({e})") from None
        details = self._train.get_input_details()
        shape = {k: tuple(v["shape"]) for k, v in details.items()}
        B, D = shape["args_0"]
        C = shape["args_1"][1]
        super().__init__(lr, momentum, weight_decay, B, C, D)
        self._hp = np.array([lr, momentum, weight_decay], np.float32)

    def set_weights(self, W, b):
        self._W, self._b, self._mask = self._check_weights(W, b)
        self._mW, self._mb = np.zeros_like(self._W), np.zeros_like(self._b)

    def step(self, f, labels) -> float:
        fp, y = self._pad_batch(f, labels)
        out = self._train(args_0=fp, args_1=y, args_2=self._mask, args_3=self._W, args_4=self._b,
                          args_5=self._mW, args_6=self._mb, args_7=self._hp)
        self._W, self._b, self._mW, self._mb = (np.array(out[k]) for k in ("output_0", "output_1", "output_2", "output_3"))
        return float(out["output_4"][0])

    def weights(self):
        C = self.num_classes
        return self._W[:C].copy(), self._b[:C].copy()


class ExecuTorchHeadTrainer(_PaddedTrainer):
    """Runs a joint forward/backward .pte (exporters/train_executorch.py) with ExecuTorch's SGD."""

    name = "executorch"

    def __init__(self, path: PathLike, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, threads=None):
        try:
            import torch
            from executorch.extension.training import _load_for_executorch_for_training, get_sgd_optimizer
        except ImportError:
            raise MissingDependencyError("executorch", "executorch", "train an ExecuTorch head") from None
        import warnings

        self._torch, self._make_sgd = torch, get_sgd_optimizer
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the training API is marked experimental
            try:
                self._tm = _load_for_executorch_for_training(str(path))
            except RuntimeError as e:
                raise ArtifactError(f"{path} is not an ExecuTorch training program ({e})") from None
        # shapes from the program's own metadata
        meta = self._tm.model.method_meta("forward")
        B, D = tuple(meta.input_tensor_meta(0).sizes())
        C = tuple(meta.input_tensor_meta(1).sizes())[1]
        super().__init__(lr, momentum, weight_decay, B, C, D)
        self._opt = None

    def set_weights(self, W, b):
        torch = self._torch
        Wp, bp, mask = self._check_weights(W, b)
        self._mask = torch.from_numpy(mask)
        if self._tm.named_params is None:  # parameters are exposed after the first run
            self._tm.forward_backward("forward", (torch.zeros(self.batch, self.dim),
                                                  torch.zeros(self.batch, self.capacity), self._mask))
        params = self._tm.named_parameters()
        params["weight"].copy_(torch.from_numpy(Wp))
        params["bias"].copy_(torch.from_numpy(bp))
        # a fresh optimizer: fresh momentum buffers
        self._opt = self._make_sgd(params, self.lr, self.momentum, 0.0, self.weight_decay, False)

    def step(self, f, labels) -> float:
        torch = self._torch
        fp, y = self._pad_batch(f, labels)
        loss = self._tm.forward_backward("forward", (torch.from_numpy(fp), torch.from_numpy(y), self._mask))[0]
        self._opt.step(self._tm.named_gradients())
        return float(loss)

    def weights(self):
        p = self._tm.named_parameters()
        C = self.num_classes
        return p["weight"].numpy()[:C].copy(), p["bias"].numpy()[:C].copy()


def _tflite_interpreter():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise MissingDependencyError("ai-edge-litert", "tflite", "train a TFLite head") from None
    return Interpreter


def make_trainer(runtime: str, path, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, threads=None):
    if runtime == "tflite":
        return TFLiteHeadTrainer(path, lr, momentum, weight_decay, threads)
    if runtime == "executorch":
        return ExecuTorchHeadTrainer(path, lr, momentum, weight_decay, threads)
    return NumpyHeadTrainer(lr, momentum, weight_decay)
