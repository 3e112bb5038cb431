"""A tuned artifact (from `edgekit tune`): its main file is the backbone program (image ->
embedding) and the new head lives in a .npz beside it. This wrapper runs the backbone in its own
runtime and applies the head in numpy (logits = f @ W.T + b, the `infer` math of edgekit.head), so
`edgekit.load(tuned).predict(...)` works like any artifact. numpy only."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ArtifactError
from .base import RuntimeModel, TensorSpec


def load_head(path):
    """(W [C, D], b [C]) float32 from a head weights .npz (what edgekit tune writes)."""
    try:
        with np.load(path) as z:
            return np.asarray(z["weight"], np.float32), np.asarray(z["bias"], np.float32)
    except (OSError, ValueError, KeyError) as e:
        raise ArtifactError(f"{path} is not a head weights .npz with 'weight' [C,D] and 'bias' [C] ({e})") from None


def save_head(path, W, b) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, weight=np.asarray(W, np.float32), bias=np.asarray(b, np.float32))


def is_headed(path, manifest: Optional[dict]) -> bool:
    """True when the manifest says the artifact file itself is the backbone of a trainable head."""
    block = (manifest or {}).get("trainable_head") or {}
    return bool(block) and block.get("backbone") == Path(path).name


class HeadedModel(RuntimeModel):
    def __init__(self, path, fmt: str, threads=None, manifest=None):
        self._fmt = fmt
        super().__init__(path, threads=threads, manifest=manifest)

    def _load(self) -> None:
        from ..formats import get_format

        self._inner = get_format(self._fmt).runtime_class()(self.path, threads=self._threads, manifest=None)
        self.runtime_name = self._inner.runtime_name
        block = self.manifest["trainable_head"]
        self.W, self.b = load_head(self.path.parent / block["head_weights"])
        dim = int(self._inner.outputs[0].shape[-1])
        if self.W.shape[1] != dim:
            raise ArtifactError(f"{block['head_weights']} holds a head for {self.W.shape[1]}-d embeddings, "
                                f"the backbone {self.path.name} gives {dim}")

    def _native_inputs(self) -> list:
        return list(self._inner.inputs)

    def _native_outputs(self) -> list:
        return [TensorSpec("logits", (1, int(self.W.shape[0])), "float32", "NC", None, "logits")]

    def _invoke(self, arrays: list) -> list:
        f = self._inner.finish(self._inner._invoke(arrays))[0]
        f = np.asarray(f, np.float32).reshape(f.shape[0], -1)
        return [f @ self.W.T + self.b]

    @property
    def runtime_version(self) -> str:
        return self._inner.runtime_version

    def embed(self, x) -> np.ndarray:
        """The backbone's embedding of preprocessed input(s)."""
        return self._inner.run(x)[0]

    def close(self) -> None:
        self._inner.close()
