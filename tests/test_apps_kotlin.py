"""The Android demo's platform-independent Kotlin (android_demo/core: JSON, manifest parsing,
Pillow-exact resampling, normalization, layout, int8 quantization, top-k, the teach-mode head)
compiled with Debian's JVM Kotlin compiler (package `kotlin`, 1.3) and run against the golden
vectors edgekit writes for real photos. Set EDGEKIT_SKIP_KOTLIN=1 to skip on a machine without it."""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit.bundle import golden_vectors, write_golden

from _apps_fixtures import ANDROID, cli_bundle

CORE = ANDROID / "core/src"
MAIN_SOURCES = sorted((CORE / "main/kotlin").rglob("*.kt"))
JVM_SOURCES = [CORE / "test/kotlin/dev/edgekit/demo/core" / n for n in ("GoldenVerifier.kt", "GoldenMain.kt", "CoreChecks.kt")]
APT_HINT = ("kotlinc not found: install Debian's JVM Kotlin compiler with `apt-get install -y kotlin` "
            "(it needs a JDK, e.g. openjdk-17-jdk-headless), or set EDGEKIT_SKIP_KOTLIN=1 to skip")


def _tools():
    if os.environ.get("EDGEKIT_SKIP_KOTLIN") == "1":
        pytest.skip("EDGEKIT_SKIP_KOTLIN=1")
    kotlinc, java = shutil.which("kotlinc"), shutil.which("java")
    if not kotlinc or not java:
        pytest.fail(APT_HINT)
    return kotlinc, java


def _stdlib(kotlinc: str) -> str:
    """kotlin-stdlib.jar of the installed compiler (Debian: /usr/share/java)."""
    for d in (Path("/usr/share/java"), Path(kotlinc).resolve().parent.parent / "lib"):
        p = d / "kotlin-stdlib.jar"
        if p.is_file():
            return str(p)
    pytest.fail("kotlin-stdlib.jar not found next to kotlinc; " + APT_HINT)


@pytest.fixture(scope="module")
def core_jar(request):
    """Compile once per source state (cached in pytest's cache dir: kotlinc 1.3 takes ~30 s)."""
    kotlinc, java = _tools()
    sources = MAIN_SOURCES + JVM_SOURCES
    h = hashlib.sha256()
    for p in sources:
        h.update(p.name.encode() + p.read_bytes())
    cache = Path(request.config.cache.mkdir("edgekit-kotlin"))
    jar = cache / f"core-{h.hexdigest()[:16]}.jar"
    if not jar.is_file():
        tmp = jar.with_suffix(".tmp.jar")
        r = subprocess.run([kotlinc, *map(str, sources), "-d", str(tmp)], capture_output=True, text=True, timeout=900)
        errors = [ln for ln in r.stderr.splitlines() if "error:" in ln]
        assert r.returncode == 0 and tmp.is_file(), "kotlinc failed:\n" + "\n".join(errors or r.stderr.splitlines()[-30:])
        os.replace(tmp, jar)
        for old in cache.glob("core-*.jar"):  # jars of earlier source states
            if old != jar:
                old.unlink(missing_ok=True)
    return [java, "-cp", f"{jar}{os.pathsep}{_stdlib(kotlinc)}"]


def _run(cmd, *args) -> dict:
    r = subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, timeout=300)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no result from {args[0]} (rc {r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    res = json.loads(lines[-1])
    res["rc"] = r.returncode
    return res


def _decoded(photo: Path, tmp: Path) -> list:
    """Pillow's decoded RGB of a photo as a raw file + its size (to separate decoding from resizing)."""
    from PIL import Image

    with Image.open(photo) as im:
        rgb = np.asarray(im.convert("RGB"))
    raw = tmp / (photo.stem + ".rgb")
    raw.write_bytes(rgb.tobytes())
    return [raw, rgb.shape[1], rgb.shape[0]]


def test_kotlin_preprocessing_equals_edgekit_on_the_bundled_golden_vectors(core_jar, photos_dir, tmp_path):
    """The real `--bundle` output (MobileNetV3-Small, ExecuTorch, a real photo): the Kotlin
    pipeline reproduces the golden tensor exactly and picks the golden top-3 from the golden output."""
    app = cli_bundle(str(photos_dir))
    assets = app / "app/src/executorch/assets"
    photo = assets / "edgekit/golden/photo.jpg"
    res = _run(core_jar, "dev.edgekit.demo.core.GoldenMainKt", assets, *_decoded(photo, tmp_path))
    assert res["ok"] and res["rc"] == 0, res
    assert res["from_crop_max_abs"] == 0.0
    assert res["resize_crop_max_pixel_diff_pil_decoded"] == 0 and res["full_max_abs_pil_decoded"] == 0.0
    # javax.imageio's JPEG decoder: measured identical to Pillow's (libjpeg-turbo) on these photos
    assert res["resize_crop_max_pixel_diff_imageio_decoded"] <= 1, res
    assert res["top3_max_score_diff"] <= 1e-6


VARIANTS = {
    # name: (photo, preprocessing changes, input dtype/quantization)
    "int8_bicubic_nchw": ("n01530575_brambling.JPEG", {"resize": 256, "crop": 224, "interpolation": "bicubic"},
                          ("int8", {"scale": 0.018658, "zero_point": -14})),
    "uint8_nhwc_bgr_portrait": ("n01820546_lorikeet.JPEG", {"resize": 146, "crop": 128, "interpolation": "bilinear",
                                                             "layout": "NHWC", "channel_order": "BGR"},
                                ("uint8", {"scale": 0.0171, "zero_point": 121})),
    "float_lanczos_upscale": ("n02089078_black-and-tan_coonhound.JPEG", {"resize": 300, "crop": 288,
                                                                           "interpolation": "lanczos"}, ("float32", None)),
    "float_bilinear_odd_crop": ("n01843065_jacamar.JPEG", {"resize": 255, "crop": 231, "interpolation": "bilinear",
                                                           "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}, ("float32", None)),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_kotlin_preprocessing_variants_match_edgekit(core_jar, photos_dir, tmp_path, name):
    """Other manifests (int8/uint8 quantized inputs, NHWC, BGR, bicubic, lanczos, upscaling,
    portrait photos, odd crops): Kotlin equals edgekit.preprocess bit for bit."""
    photo_name, pre, (dtype, quant) = VARIANTS[name]
    base = json.loads((cli_bundle(str(photos_dir)) / "app/src/executorch/assets/edgekit/manifest.json").read_text())
    m = copy.deepcopy(base)
    m["preprocessing"].update(pre)
    c, layout = m["preprocessing"]["crop"], m["preprocessing"]["layout"]
    m["inputs"][0].update(dtype=dtype, quantization=quant, layout=layout,
                          shape=[1, 3, c, c] if layout == "NCHW" else [1, c, c, 3])
    from edgekit.manifest import validate

    validate(m)
    assets = tmp_path / "assets"
    (assets / "edgekit").mkdir(parents=True)
    (assets / "edgekit/manifest.json").write_text(json.dumps(m))
    jpeg = (photos_dir / photo_name).read_bytes()
    g = golden_vectors(jpeg, m)
    write_golden(assets / "edgekit/golden", jpeg, m, g, None, "not run", photo_name)
    res = _run(core_jar, "dev.edgekit.demo.core.GoldenMainKt", assets, *_decoded(photos_dir / photo_name, tmp_path))
    assert res["ok"] and res["rc"] == 0, res
    assert res["from_crop_max_abs"] == 0.0 and res["resize_crop_max_pixel_diff_pil_decoded"] == 0, res
    assert res["full_max_abs_pil_decoded"] == 0.0, res


def test_kotlin_core_logic(core_jar, tmp_path):
    """JSON reader edge cases, manifest errors, rotation, the teach-mode head (logits, saved
    bytes, padded batches) against numpy values computed here."""
    rng = np.random.default_rng(0)
    C, D = 3, 5
    W = rng.normal(size=(C, D)).astype(np.float32)
    b = rng.normal(size=C).astype(np.float32)
    e = rng.normal(size=D).astype(np.float32)
    case = {"W": W.ravel().tolist(), "b": b.tolist(), "e": e.tolist(), "logits": (W @ e + b).tolist()}
    f = tmp_path / "case.json"
    f.write_text(json.dumps(case))
    res = _run(core_jar, "dev.edgekit.demo.core.CoreChecksKt", f)
    assert res["rc"] == 0 and res["failed"] == [], res
    assert res["checks"] >= 10


@pytest.mark.slow
@pytest.mark.realweights
def test_real_efficientnet_lite0_trainable_bundle_in_kotlin(core_jar, photos_dir, tmp_path):
    """EfficientNet-Lite0 with real ImageNet weights, TFLite, --trainable-head, bundled by the
    CLI: the trainable-head files sit where the app looks, the manifest parses in Kotlin with
    its trainable head (batch, capacity), the golden top-1 is the photo's true class, and the
    Kotlin pipeline reproduces the tensor and the top-3."""
    import subprocess
    import sys

    app = tmp_path / "android_demo"
    app.mkdir()
    shutil.copy(ANDROID / "settings.gradle.kts", app / "settings.gradle.kts")
    photo = photos_dir / "n01530575_brambling.JPEG"
    r = subprocess.run([sys.executable, "-m", "edgekit", "export", "efficientnet_lite0", "--weights", "imagenet",
                        "--target", "tflite", "--trainable-head", "--max-classes", "8", "--train-batch", "8",
                        "--no-verify", "--out", str(tmp_path / "out"), "--bundle", str(app), "--bundle-photo", str(photo)],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    assets = app / "app/src/litert/assets"
    m = json.loads((assets / "edgekit/manifest.json").read_text())
    head = m["trainable_head"]
    for key in ("backbone", "train_step"):
        assert (assets / "edgekit" / head[key]).is_file()
    assert head["optimizer"]["batch"] == 8 and head["optimizer"]["max_classes"] == 8
    expected = json.loads((assets / "edgekit/golden/expected.json").read_text())
    assert expected["top3"][0]["index"] == 10 and expected["top3"][0]["label"] == "brambling", expected["top3"]
    res = _run(core_jar, "dev.edgekit.demo.core.GoldenMainKt", assets, *_decoded(photo, tmp_path))
    assert res["ok"] and res["rc"] == 0, res
    assert res["full_max_abs_pil_decoded"] == 0.0 and res["top3"].startswith("10,")


def test_kotlin_reads_a_manifest_with_per_isa_parity(core_jar, photos_dir, tmp_path):
    """A manifest that `edgekit verify --isa aarch64` has written to (parity.aarch64) still parses
    and drives the app's preprocessing: the app reads no parity field and ignores the block."""
    m = json.loads((cli_bundle(str(photos_dir)) / "app/src/executorch/assets/edgekit/manifest.json").read_text())
    agree = {"max_abs_error": 8.58e-06, "cosine": 0.99999999, "top1_agreement": 1.0, "top5_overlap": 1.0}
    m["parity"]["aarch64"] = {"status": "passed", "runtime": "tflite 2.3.0", "n": 4, "inputs": "4 photos",
                              "machine": "aarch64", "emulated": True, "emulator": "qemu-user", "cpu_model": "cortex-a76",
                              "cpu_features": ["asimd", "asimddp", "fphp", "asimdhp"], "seconds_per_input": 5.0,
                              "vs_x86": {**agree, "runtime": "tflite 2.3.0"}, "vs_eager": agree, "x86_vs_eager": agree,
                              "judged_against": "eager", "thresholds": {"top1_agreement": 1.0}}
    from edgekit.manifest import validate

    validate(m)
    assets = tmp_path / "assets"
    (assets / "edgekit").mkdir(parents=True)
    (assets / "edgekit/manifest.json").write_text(json.dumps(m))
    photo_name = "n01530575_brambling.JPEG"
    jpeg = (photos_dir / photo_name).read_bytes()
    write_golden(assets / "edgekit/golden", jpeg, m, golden_vectors(jpeg, m), None, "not run", photo_name)
    res = _run(core_jar, "dev.edgekit.demo.core.GoldenMainKt", assets, *_decoded(photos_dir / photo_name, tmp_path))
    assert res["ok"] and res["rc"] == 0, res
