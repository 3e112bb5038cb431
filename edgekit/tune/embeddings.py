"""Backbone embeddings of image files, computed in the artifact's own runtime and cached on disk.

The cache is one .npz per backbone program (named by the program's sha256) holding one embedding
per image, keyed by the image file's sha256 and the preprocessing, so renamed or moved photos hit
the cache and edited ones do not. Unreadable images are returned as skipped, not raised."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ..errors import InputError
from ..files import staged
from ..manifest import sha256_file
from ..preprocess import preprocess


def default_cache_dir() -> Path:
    env = os.environ.get("EDGEKIT_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgekit"
    return base / "embeddings"


def _key(image: Path, pre_hash: str) -> str:
    return hashlib.sha256((sha256_file(image) + pre_hash).encode()).hexdigest()


class EmbeddingCache:
    def __init__(self, backbone_sha256: str, cache_dir=None):
        self.dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.file = self.dir / f"{backbone_sha256[:32]}.npz"
        self._data: dict = {}
        self._dirty = False
        if self.file.is_file():
            try:
                with np.load(self.file) as z:
                    self._data = {k: z[k] for k in z.files}
            except (OSError, ValueError):
                self._data = {}  # a corrupt cache is rebuilt, never trusted

    def get(self, key):
        return self._data.get(key)

    def put(self, key, value):
        self._data[key] = np.asarray(value, np.float32)
        self._dirty = True

    def save(self):
        if not self._dirty:
            return
        with staged(self.file) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **self._data)
        self._dirty = False


def embed_images(embed: Callable[[np.ndarray], np.ndarray], paths: Sequence[Path], preprocessing: dict,
                 backbone_sha256: str, cache_dir=None, progress: Optional[Callable[[int, int], None]] = None):
    """-> (embeddings [n_ok, D] float32, ok_mask [len(paths)] bool, skipped paths, cache hits).
    `embed` maps one preprocessed (1, ...) image array to a (1, D) embedding."""
    cache = EmbeddingCache(backbone_sha256, cache_dir)
    pre_hash = hashlib.sha256(json.dumps(preprocessing, sort_keys=True).encode()).hexdigest()
    out, ok, skipped, hits = [], np.zeros(len(paths), bool), [], 0
    try:
        for i, p in enumerate(paths):
            key = _key(Path(p), pre_hash)
            e = cache.get(key)
            if e is None:
                try:
                    x = preprocess(p, preprocessing)
                except InputError:
                    skipped.append(p)
                    continue
                e = np.asarray(embed(x), np.float32).reshape(-1)
                cache.put(key, e)
            else:
                hits += 1
            out.append(e)
            ok[i] = True
            if progress:
                progress(i + 1, len(paths))
    finally:
        cache.save()
    emb = np.stack(out) if out else np.zeros((0, 0), np.float32)
    return emb, ok, skipped, hits
