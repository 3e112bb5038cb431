"""Calibration images for int8 export (`--calib DIR`).

Images (jpg/jpeg/png/webp) are found recursively, a seeded random subset of `count` is drawn,
each is preprocessed exactly as the model card says, and the set is identified by a sha256 of
its image contents (independent of file names and order), which goes into the manifest. The
images left over (not drawn) are the default parity inputs, so parity runs on photos the
quantizer did not see."""
from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .errors import DataError, EdgekitError
from .manifest import sha256_file
from .preprocess import batch as preprocess_batch

CALIB_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
DEFAULT_COUNT = 100


def find_images(folder: Union[str, os.PathLike]) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"calibration directory not found (expected a folder of jpg/png/webp images): {folder}")
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in CALIB_SUFFIXES)
    if not found:
        raise DataError(f"no jpg/png/webp images under {folder}")
    return found


def content_sha256(paths) -> str:
    """sha256 over the sorted per-file content hashes: the same images give the same hash
    whatever their names or order."""
    h = hashlib.sha256()
    for digest in sorted(sha256_file(p) for p in paths):
        h.update(bytes.fromhex(digest))
    return h.hexdigest()


@dataclass
class ImageSet:
    """Preprocessed images: `arrays` is float32 (N, C, H, W) or (N, H, W, C) per the layout."""

    paths: list
    arrays: np.ndarray
    sha256: str
    seed: Optional[int]
    source: str
    rest: list = field(default_factory=list)  # images in the folder that were not drawn

    @property
    def count(self) -> int:
        return len(self.paths)

    def manifest(self) -> dict:
        return {"count": self.count, "sha256": self.sha256, "seed": self.seed, "source": self.source}


def load_images(paths, preprocessing: dict) -> np.ndarray:
    try:
        return preprocess_batch(paths, preprocessing)
    except EdgekitError as e:
        raise DataError(f"cannot use calibration image: {e}") from None


def load_calibration(folder: Union[str, os.PathLike], preprocessing: dict, count: int = DEFAULT_COUNT,
                     seed: int = 0) -> ImageSet:
    """Draw `count` images (all if fewer) from `folder` with `seed`, preprocess them by the card."""
    if int(count) < 1:
        raise DataError(f"calibration count must be at least 1, got {count}")
    found = find_images(folder)
    rng = random.Random(seed)
    chosen = sorted(rng.sample(found, int(count))) if len(found) > count else list(found)
    chosen_set = set(chosen)
    rest = [p for p in found if p not in chosen_set]
    return ImageSet(paths=chosen, arrays=load_images(chosen, preprocessing), sha256=content_sha256(chosen),
                    seed=seed, source=Path(folder).name, rest=rest)


def load_verify_images(folder: Union[str, os.PathLike], preprocessing: dict, count: int, seed: int = 0) -> ImageSet:
    """Images given for the parity check (`--verify-images DIR`)."""
    return load_calibration(folder, preprocessing, count=count, seed=seed)
