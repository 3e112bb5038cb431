"""Shared fixtures. Model-sized tests are marked `slow` and skipped unless EDGEKIT_SLOW=1 or
`-m slow` is given; the default run still exports one real model per target."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    env = os.environ.get("EDGEKIT_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("EDGEKIT_SLOW") == "1" or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: set EDGEKIT_SLOW=1 or pass -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def photos_dir() -> Path:
    """200 real ImageNet photos (../shared/data/imagenet-sample-200). Their absence is a
    broken checkout, not a reason to pass: the test fails."""
    d = _shared_dir() / "data" / "imagenet-sample-200"
    if not (d / "labels.csv").is_file():
        pytest.fail(f"shared photos not found at {d} (set EDGEKIT_SHARED to the shared/ folder)")
    return d


@pytest.fixture(scope="session")
def photo_labels(photos_dir) -> dict:
    """file name -> ImageNet-1k class index."""
    with open(photos_dir / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    key_file = next(k for k in rows[0] if "file" in k.lower())
    key_idx = next(k for k in rows[0] if "index" in k.lower() or k.lower() in ("class", "label", "idx"))
    return {r[key_file]: int(r[key_idx]) for r in rows}
