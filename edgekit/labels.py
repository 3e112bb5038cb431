"""The 1000 ImageNet-1k class names, index == class id.

They ship as edgekit/data/imagenet_labels.json so torch-free code (a Raspberry Pi with only
numpy and a TFLite interpreter) can read them. The file was written offline from torchvision's
weight metadata by `python -m edgekit.labels` (see `write_imagenet_labels`)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Sequence, Union

IMAGENET_LABELS_PATH = Path(__file__).with_name("data") / "imagenet_labels.json"


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple:
    """The 1000 ImageNet-1k names in class-id order."""
    labels = json.loads(IMAGENET_LABELS_PATH.read_text(encoding="utf-8"))
    if len(labels) != 1000:
        raise RuntimeError(f"{IMAGENET_LABELS_PATH} holds {len(labels)} names, expected 1000")
    return tuple(labels)


def generic_labels(num_classes: int) -> tuple:
    """'class_0' .. 'class_{n-1}' for a new head without given names."""
    return tuple(f"class_{i}" for i in range(num_classes))


def read_labels(path) -> tuple:
    """Class names from a file: .txt (one per line, blank lines ignored), or .json (a list, or
    an {"index": name} mapping with indices 0..n-1). One-line errors for anything else."""
    from .errors import InputError

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"labels file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read labels file {path}: {e}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise InputError(f"{path.name} is not valid JSON ({e})") from None
        if isinstance(data, dict):
            try:
                index = {int(k): str(v) for k, v in data.items()}
            except ValueError:
                raise InputError(f"{path.name}: a labels mapping needs integer class indices as keys") from None
            if sorted(index) != list(range(len(index))):
                raise InputError(f"{path.name}: class indices must be 0..{len(index) - 1} with none missing")
            labels = [index[i] for i in range(len(index))]
        elif isinstance(data, list) and all(isinstance(v, (str, int, float)) for v in data):
            labels = [str(v) for v in data]
        else:
            raise InputError(f"{path.name} must hold a JSON list of class names or an {{index: name}} object")
    else:
        labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise InputError(f"{path.name} holds no class names; expected one name per class")
    return tuple(labels)


def torchvision_imagenet_labels() -> list:
    """The names as torchvision's weight metadata holds them (needs torchvision)."""
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return list(_IMAGENET_CATEGORIES)


def write_imagenet_labels(path: Union[str, Path] = IMAGENET_LABELS_PATH, labels: Sequence[str] = None) -> Path:
    """(Re)write the shipped JSON from torchvision's metadata, atomically."""
    from .files import write_text

    labels = list(labels) if labels is not None else torchvision_imagenet_labels()
    path = Path(path)
    write_text(path, json.dumps(labels, indent=0, ensure_ascii=False) + "\n")
    imagenet_labels.cache_clear()
    return path


if __name__ == "__main__":
    print(write_imagenet_labels())
