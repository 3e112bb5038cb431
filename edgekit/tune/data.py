"""The tuning data folder: one subfolder per class. Scans it, rejects what cannot be trained on
(empty class, a single class, colliding labels), lists what is skipped (non-image files), and
makes a seeded, stratified held-out split. numpy only."""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from ..errors import DataError
from ..preprocess import IMAGE_SUFFIXES


@dataclass
class Dataset:
    labels: list            # class names, index == class id (sorted folder names)
    paths: list             # image paths
    targets: np.ndarray     # class id per path
    skipped: list           # files that are not images (by suffix), relative to the root


def label_key(name: str) -> str:
    """Two folder names that give the same key would be the same label to a user."""
    return re.sub(r"[\s_\-]+", " ", name).strip().casefold()


def scan(root: Union[str, os.PathLike]) -> Dataset:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"--data must be a folder with one subfolder per class, got {root}")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        found = f"only {folders[0].name!r}" if folders else "none"
        raise DataError(f"{root} needs at least 2 class subfolders to train a classifier, found {found}")
    seen: dict = {}
    for f in folders:
        other = seen.setdefault(label_key(f.name), f.name)
        if other != f.name:
            raise DataError(f"class folders {other!r} and {f.name!r} in {root} name the same label; merge or rename one")
    paths, targets, skipped, empty = [], [], [], []
    for ci, folder in enumerate(folders):
        n = 0
        for p in sorted(folder.rglob("*")):
            if not p.is_file() or p.name.startswith("."):
                continue
            if p.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(p)
                targets.append(ci)
                n += 1
            else:
                skipped.append(str(p.relative_to(root)))
        if n == 0:
            empty.append(folder.name)
    warn_skipped(skipped, "not an image file")
    if empty:
        raise DataError(f"class folder(s) without images in {root}: {', '.join(empty)} "
                        f"(expected {'/'.join(IMAGE_SUFFIXES)} files)")
    return Dataset([f.name for f in folders], paths, np.asarray(targets, np.int64), skipped)


def warn_skipped(items, why: str) -> None:
    if items:
        shown = ", ".join(str(s) for s in items[:20]) + (f" (+{len(items) - 20} more)" if len(items) > 20 else "")
        warnings.warn(f"skipped {len(items)} file(s), {why}: {shown}", stacklevel=3)


def split(targets: np.ndarray, val_split: float, seed: int):
    """Stratified: per class, round(n * val_split) held out (at least 1 when the class has 2 or
    more images, never all of them). Returns (train_idx, val_idx)."""
    if not 0.0 <= val_split < 1.0:
        raise DataError(f"--val-split must be in [0, 1), got {val_split}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(targets):
        idx = np.flatnonzero(targets == c)
        idx = idx[rng.permutation(len(idx))]
        k = int(round(len(idx) * val_split))
        if val_split > 0 and len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        else:
            k = 0
        val.extend(idx[:k])
        train.extend(idx[k:])
    return np.sort(np.asarray(train, np.int64)), np.sort(np.asarray(val, np.int64))
