"""Shared by tests/test_apps_contract.py and tests/test_apps_kotlin.py: one real export bundled
into a scratch copy of the Android demo's asset layout (by the CLI, `--bundle`), made once per
test session, plus readers of the app sources' key and path lists."""
from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANDROID = REPO / "android_demo"
IOS = REPO / "ios_demo"
KOTLIN_KEYS = ANDROID / "core/src/main/kotlin/dev/edgekit/demo/core/ManifestKeys.kt"
SWIFT_KEYS = IOS / "EdgekitDemo/ManifestKeys.swift"
GOLDEN_PHOTO = "n01530575_brambling.JPEG"


def kotlin_keys() -> list:
    """(path, type, required) of every ManifestKey(...) in the Android app's key list."""
    rx = re.compile(r'ManifestKey\(\s*"([^"]+)"\s*,\s*JsonType\.(\w+)\s*,\s*(true|false)\s*\)')
    return [(p, t.lower(), r == "true") for p, t, r in rx.findall(KOTLIN_KEYS.read_text())]


def swift_keys() -> list:
    """(path, type, required) of every ManifestKey(...) in the iOS app's key list."""
    rx = re.compile(r'ManifestKey\(\s*"([^"]+)"\s*,\s*\.(\w+)\s*,\s*required:\s*(true|false)\s*\)')
    return [(p, t.lower(), r == "true") for p, t, r in rx.findall(SWIFT_KEYS.read_text())]


def kotlin_asset_paths() -> dict:
    """The `AssetPaths` constants of the Android app (name -> value)."""
    text = KOTLIN_KEYS.read_text()
    block = text[text.index("object AssetPaths"):]
    return dict(re.findall(r'const val (\w+) = "([^"]+)"', block))


def swift_asset_paths() -> dict:
    text = SWIFT_KEYS.read_text()
    block = text[text.index("enum AssetPaths"):]
    return dict(re.findall(r'static let (\w+) = "([^"]+)"', block))


@functools.lru_cache(maxsize=None)
def cli_bundle(photos_dir: str) -> Path:
    """`edgekit export mobilenet_v3_small --target executorch --input-size 64 --bundle APP` into a
    scratch app folder (only the Gradle settings file that marks an Android demo); returns APP."""
    root = Path(tempfile.mkdtemp(prefix="edgekit-apps-"))
    atexit.register(shutil.rmtree, root, True)  # removed when the test session ends
    app = root / "android_demo"
    app.mkdir()
    shutil.copy(ANDROID / "settings.gradle.kts", app / "settings.gradle.kts")
    cmd = [sys.executable, "-m", "edgekit", "export", "mobilenet_v3_small", "--target", "executorch", "--input-size", "64", "--no-verify",
           "--out", str(root / "out"), "--bundle", str(app), "--bundle-photo", str(Path(photos_dir) / GOLDEN_PHOTO)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"edgekit export --bundle failed ({r.returncode}):\n{r.stderr[-3000:]}")
    if "bundled into" not in r.stdout:
        raise RuntimeError(f"edgekit export --bundle printed no bundle line:\n{r.stdout[-2000:]}")
    return app
