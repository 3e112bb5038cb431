"""One runtime API over ExecuTorch, LiteRT, ONNX Runtime, Core ML and PyTorch (issue 4 sections
1 and 6): load by suffix + magic bytes, run parity against PyTorch eager on real artifacts,
int8-IO quantization by the wrapper, predict with manifest preprocessing and labels, one-line
input errors, missing-runtime errors naming the pip extra."""
from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import ArtifactError, EdgekitError, InputError, MissingDependencyError
from edgekit.manifest import validate, write_sidecar
from edgekit.preprocess import preprocess
from edgekit.runtimes import detect_format, inspect, load, read_manifest

from benchmarks.tiny import LABELS, cached_build, manifest_for

RUNNABLE = {"tiny.pte": "executorch", "tiny.tflite": "tflite", "tiny.onnx": "onnxruntime", "tiny.pt2": "torch"}


@pytest.fixture(autouse=True)
def _private_probe_cache(tmp_path_factory, monkeypatch):
    """Probe results go to a test folder, not ~/.cache/edgekit."""
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path_factory.getbasetemp() / "edgekit-cache"))


@pytest.fixture(scope="session")
def tiny() -> Path:
    return cached_build()


@pytest.fixture
def copy(tiny, tmp_path):
    """Copy one artifact into a fresh folder (so sidecars written by a test stay there)."""

    def _copy(name: str, as_name: str = None) -> Path:
        src, dst = tiny / name, tmp_path / (as_name or name)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)
        return dst

    return _copy


@pytest.fixture(scope="session")
def xy(tiny):
    return np.load(tiny / "x.npy"), np.load(tiny / "y.npy")


@pytest.fixture(scope="session")
def photo(photos_dir) -> Path:
    return sorted(photos_dir.glob("*.JPEG"))[0]


# ---- load + run, every runnable format -----------------------------------------------------------
@pytest.mark.parametrize("name", sorted(RUNNABLE))
def test_load_runs_like_pytorch(tiny, xy, name):
    x, y = xy
    m = load(tiny / name, threads=1)
    assert m.runtime_name == RUNNABLE[name]
    assert m.runtime_version and m.runtime_version != "unknown"
    assert m.threads == 1 and m.path == tiny / name
    assert [s.shape for s in m.inputs] == [(1, 3, 32, 32)] and m.inputs[0].dtype == "float32"
    assert m.inputs[0].layout == "NCHW" and m.inputs[0].quantization is None
    assert m.outputs[0].shape == (1, 10) and m.outputs[0].dtype == "float32"
    out = m.run(x)
    assert isinstance(out, list) and len(out) == 1 and out[0].dtype == np.float32
    err = float(np.abs(out[0] - y).max())
    assert err < 1e-4, f"{name}: max abs error {err} vs PyTorch eager"
    # a list of inputs and __call__ are the same thing
    assert np.array_equal(m([x])[0], out[0])


@pytest.mark.parametrize("name", sorted(RUNNABLE))
def test_outputs_are_caller_owned_and_inputs_are_read_each_call(tiny, xy, name):
    """The ExecuTorch wrapper runs without output clones and reuses the input tensor of a
    repeated array: results must still be the caller's own, and an array changed in place
    between calls must be read again (same contract for every runtime)."""
    x, y = xy
    m = load(tiny / name, threads=1)
    ref = load(tiny / "tiny.pt2")
    x2 = np.ascontiguousarray(x[:, :, ::-1, :])  # another real input: the image flipped
    y2 = ref.run(x2)[0]
    assert np.abs(y2 - y).max() > 1e-3  # the two inputs give different logits
    first = m.run(x)[0]
    second = m.run(x2)[0]
    assert np.abs(first - y).max() < 1e-4, "an earlier result changed when the model ran again"
    assert np.abs(second - y2).max() < 1e-4
    buf = x.copy()
    a = m.run(buf)[0]
    buf[...] = x2  # same array object, new content
    b = m.run(buf)[0]
    assert np.abs(a - y).max() < 1e-4 and np.abs(b - y2).max() < 1e-4
    b[...] = 0  # writing into a result does not reach the model's buffers
    assert np.abs(m.run(buf)[0] - y2).max() < 1e-4


def test_executorch_models_with_different_thread_counts_alternate_safely(tiny, xy):
    """ExecuTorch's pool is process-wide and XNNPACK methods keep a pointer to it: a resize must
    release the other models' methods first (running one after a bare resize hangs)."""
    import executorch.extension.pybindings.portable_lib as lib

    x, y = xy
    m2, m1 = load(tiny / "tiny.pte", threads=2), load(tiny / "tiny.pte", threads=1)
    for _ in range(2):
        assert np.abs(m1.run(x)[0] - y).max() < 1e-4
        assert lib._threadpool_get_thread_count() == 1
        assert np.abs(m2.run(x)[0] - y).max() < 1e-4
        assert lib._threadpool_get_thread_count() == 2


def test_int8_io_is_quantized_by_the_wrapper(tiny, xy):
    from ai_edge_litert.interpreter import Interpreter

    x, y = xy
    m = load(tiny / "tiny_int8io.tflite", threads=1)
    qi, qo = m.inputs[0], m.outputs[0]
    assert qi.dtype == "int8" and qo.dtype == "int8" and qi.quantization and qo.quantization
    out = m.run(x)[0]
    assert out.dtype == np.float32
    # the same numbers as quantizing by hand with the tensors' own scale/zero point
    it = Interpreter(model_path=str(tiny / "tiny_int8io.tflite"), num_threads=1)
    it.allocate_tensors()
    di, do = it.get_input_details()[0], it.get_output_details()[0]
    si, zi = di["quantization"]
    it.set_tensor(di["index"], np.clip(np.round(x / si) + zi, -128, 127).astype(np.int8))
    it.invoke()
    so, zo = do["quantization"]
    ref = (it.get_tensor(do["index"]).astype(np.float32) - zo) * so
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)
    # and close to the float model (int8 error only)
    assert np.abs(out - y).max() < 0.05 and int(out.argmax()) == int(y.argmax())
    # pre-quantized int8 data passes through untouched
    xq = np.clip(np.round(x / si) + zi, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(m.run(xq)[0], out)


# ---- input errors: one line naming the expected spec ------------------------------------------------
@pytest.mark.parametrize("name", ["tiny.tflite", "tiny.onnx", "tiny.pte"])
def test_wrong_inputs_give_one_line_errors(tiny, name):
    m = load(tiny / name)
    x = np.zeros((1, 3, 32, 32), np.float32)
    cases = {
        "nhwc": (x.transpose(0, 2, 3, 1), ["NCHW", "looks NHWC", "float32[1,3,32,32]"]),
        "size": (np.zeros((1, 3, 64, 64), np.float32), ["[1, 3, 64, 64]", "float32[1,3,32,32]"]),
        "rank": (np.zeros((3, 32, 32), np.float32), ["float32[1,3,32,32]"]),
        "uint8": (np.zeros((1, 3, 32, 32), np.uint8), ["uint8", "float32[1,3,32,32]", "predict()"]),
        "count": ([x, x], ["takes 1 input", "float32[1,3,32,32]"]),
        "type": ("not an array", ["numpy array", "float32[1,3,32,32]"]),
    }
    for case, (bad, words) in cases.items():
        with pytest.raises(InputError) as ei:
            m.run(bad)
        msg = str(ei.value)
        assert "\n" not in msg, case
        for w in words:
            assert w in msg, (case, msg)
    # float64 is accepted (cast) and gives the float32 answer
    np.testing.assert_allclose(m.run(x.astype(np.float64))[0], m.run(x)[0], atol=1e-6)


# ---- predict: manifest preprocessing + labels -----------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny.tflite", "tiny.onnx"])
def test_predict_uses_manifest_preprocessing_and_labels(copy, photo, name):
    from PIL import Image

    art = copy(name)
    fmt = "tflite" if name.endswith(".tflite") else "onnx"
    man = manifest_for(art, fmt)
    validate(man)
    write_sidecar(art, man)
    m = load(art)
    assert m.manifest == man and m.labels == LABELS
    top = m.predict(photo, k=3)
    assert len(top) == 3
    assert all(isinstance(i, int) and lab == LABELS[i] and 0 <= s <= 1 for i, lab, s in top)
    assert [s for _, _, s in top] == sorted((s for _, _, s in top), reverse=True)
    # the same numbers by hand: preprocess with the manifest block, run, softmax
    logits = m.run(preprocess(photo, man["preprocessing"]))[0][0].astype(np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    assert [i for i, _, _ in top] == list(np.argsort(-p)[:3])
    np.testing.assert_allclose([s for _, _, s in top], np.sort(p)[::-1][:3], rtol=1e-6)
    # a PIL image, a decoded uint8 array and a preprocessed float array give the same answer
    img = Image.open(photo).convert("RGB")
    assert m.predict(img, k=3) == top
    assert m.predict(np.asarray(img), k=3) == top
    assert [i for i, _, _ in m.predict(preprocess(photo, man["preprocessing"]), k=3)] == [i for i, _, _ in top]
    with pytest.raises(InputError):
        m.predict(photo, k=0)
    with pytest.raises(InputError, match="not a readable image"):
        m.predict(art, k=1)


def test_predict_nhwc_layout_follows_the_manifest(tiny, tmp_path, photo):
    """An NHWC model (what Android camera code feeds) gets an NHWC image from predict()."""
    import torch

    from benchmarks.tiny import SIZE, tiny_module

    torch.set_num_threads(1)
    m = tiny_module()

    class NHWC(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x.permute(0, 3, 1, 2))

    art = tmp_path / "tiny_nhwc.onnx"
    xh = torch.randn(1, SIZE, SIZE, 3)
    torch.onnx.export(NHWC(m).eval(), (xh,), str(art), dynamo=True, input_names=["image"], output_names=["logits"],
                      external_data=False)
    write_sidecar(art, manifest_for(art, "onnx", layout="NHWC"))
    rt = load(art)
    assert rt.inputs[0].layout == "NHWC" and rt.inputs[0].shape == (1, SIZE, SIZE, 3)
    pre = dict(rt.manifest["preprocessing"], layout="NCHW")
    with torch.no_grad():
        ref = m(torch.from_numpy(preprocess(photo, pre))).numpy()[0]
    top = rt.predict(photo, k=1)
    assert top[0][0] == int(ref.argmax())
    with pytest.raises(InputError, match="looks NCHW"):
        rt.run(np.zeros((1, 3, SIZE, SIZE), np.float32))


def test_predict_without_manifest_warns_and_uses_imagenet_defaults(tiny, photo):
    m = load(tiny / "tiny.tflite")
    assert m.manifest is None and m.labels is None
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        top = m.predict(photo, k=2)
    assert any("no manifest" in str(x.message) for x in w)
    assert all(lab == f"class_{i}" for i, lab, _ in top)
    assert m.preprocessing["crop"] == 32 and m.preprocessing["layout"] == "NCHW"


# ---- format detection ---------------------------------------------------------------------------------------
def test_detect_format_by_suffix_and_magic(tiny, copy, tmp_path):
    assert detect_format(tiny / "tiny.pte") == "executorch"
    assert detect_format(tiny / "tiny.tflite") == "tflite"
    assert detect_format(tiny / "tiny.onnx") == "onnx"
    assert detect_format(tiny / "tiny.mlpackage") == "coreml"
    assert detect_format(tiny / "tiny.pt2") == "torch"
    # known magic under an unknown name is recognized and runs
    assert detect_format(copy("tiny.tflite", "model.bin")) == "tflite"
    assert load(tmp_path / "model.bin").runtime_name == "tflite"
    # a suffix that lies about the content
    with pytest.raises(ArtifactError, match="looks like a tflite file"):
        detect_format(copy("tiny.tflite", "fake.pte"))
    with pytest.raises(ArtifactError, match="TFL3"):
        detect_format(copy("tiny.pte", "fake.tflite"))
    with pytest.raises(ArtifactError, match="not a valid .onnx file: it looks like a executorch file"):
        detect_format(copy("tiny.pte", "fake.onnx"))
    junk = tmp_path / "weights.bin"
    junk.write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(ArtifactError) as ei:
        load(junk)
    assert all(s in str(ei.value) for s in (".pte", ".tflite", ".onnx", ".mlpackage"))
    (tmp_path / "empty.tflite").write_bytes(b"")
    with pytest.raises(ArtifactError, match="empty"):
        load(tmp_path / "empty.tflite")
    with pytest.raises(ArtifactError, match="not found"):
        load(tmp_path / "missing.tflite")
    with pytest.raises(ArtifactError, match="directory"):
        load(tmp_path)


# ---- Core ML on Linux --------------------------------------------------------------------------------------------
@pytest.mark.skipif(sys.platform == "darwin", reason="Core ML runs on macOS")
def test_coreml_on_linux_errors_at_load_but_can_be_inspected(tiny):
    with pytest.raises(ArtifactError) as ei:
        load(tiny / "tiny.mlpackage")
    msg = str(ei.value)
    assert "macOS" in msg and "edgekit info" in msg and ".tflite" in msg and "\n" not in msg
    m = inspect(tiny / "tiny.mlpackage")
    assert m.runtime_name == "coreml"
    assert m.inputs[0].shape == (1, 3, 32, 32) and m.inputs[0].dtype == "float32" and m.inputs[0].layout == "NCHW"
    assert m.outputs[0].shape == (1, 10)
    assert m.metadata["note"] == "edgekit runtime test model"
    with pytest.raises(ArtifactError, match="macOS"):
        m.run(np.zeros((1, 3, 32, 32), np.float32))


def test_inspect_does_not_import_torch_for_coreml(tiny):
    import subprocess

    code = ("import sys; from edgekit.runtimes import inspect; m = inspect(sys.argv[1]); "
            "print(m.inputs[0].shape, 'torch' in sys.modules, 'coremltools' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(tiny / "tiny.mlpackage")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-2:] == ["False", "False"], r.stdout


# ---- manifests: sidecar first, then embedded -------------------------------------------------------------------------
def test_sidecar_wins_and_embedded_manifest_is_read(copy):
    from edgekit.runtimes.readers.onnx import onnx_metadata

    art = copy("tiny.onnx")
    assert read_manifest(art) is None
    man = manifest_for(art, "onnx")
    # embed it the way exporters/onnx.py does: metadata_props entry
    import onnx

    proto = onnx.load(str(art))
    proto.metadata_props.add(key="edgekit_manifest", value=json.dumps(man))
    onnx.save(proto, str(art))
    assert "edgekit_manifest" in onnx_metadata(art.read_bytes())
    assert read_manifest(art)["labels"] == LABELS
    m = load(art)
    assert m.labels == LABELS and m.inputs[0].kind == "image"
    side = dict(man, labels=[f"side_{i}" for i in range(10)])
    write_sidecar(art, side)
    assert load(art).labels[0] == "side_0"


# ---- missing runtime packages ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,blocked,extra", [
    ("tiny.tflite", ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime", "tflite_runtime.interpreter",
                     "tensorflow", "tensorflow.lite"), "tflite"),
    ("tiny.onnx", ("onnxruntime",), "onnxruntime"),
    ("tiny.pte", ("executorch.extension.pybindings.portable_lib",), "executorch"),
])
def test_missing_runtime_names_the_extra(tiny, monkeypatch, name, blocked, extra):
    for mod in blocked:
        monkeypatch.setitem(sys.modules, mod, None)  # import raises ImportError
    with pytest.raises(MissingDependencyError) as ei:
        load(tiny / name, probe=False)
    assert f"edgekit[{extra}]" in str(ei.value) and ei.value.extra == extra


# ---- PyTorch reference runtime ----------------------------------------------------------------------------------------------
def test_torch_runtime_from_zoo_matches_the_module(photo):
    import torch

    import edgekit

    torch.manual_seed(0)
    m = edgekit.load("zoo:mobilenet_v3_small")
    assert m.runtime_name == "torch" and m.inputs[0].shape == (1, 3, 224, 224) and len(m.labels) == 1000
    top = m.predict(photo, k=5)
    x = preprocess(photo, m.preprocessing)
    with torch.no_grad():
        ref = m._module(torch.from_numpy(x)).numpy()[0]
    assert [i for i, _, _ in top] == list(np.argsort(-ref)[:5])
    assert top[0][1] == m.labels[top[0][0]]


def test_errors_are_edgekit_errors(tiny):
    with pytest.raises(EdgekitError):
        load(tiny / "tiny.tflite", threads=0)


# ---- end to end on a real edgekit export (real ImageNet weights, real photos) ---------------------------------------------
@pytest.fixture(scope="session")
def lite0_tflite(tmp_path_factory):
    import edgekit

    out = tmp_path_factory.mktemp("lite0")
    art = edgekit.export("efficientnet_lite0", target="tflite", weights="imagenet", out=out, verify=False)
    return art.path


def test_real_export_predicts_like_pytorch(lite0_tflite, photos_dir, photo_labels, tmp_path, monkeypatch):
    import subprocess

    import torch

    import edgekit
    from edgekit.runtimes import probe
    from edgekit.runtimes.torch import TorchModel

    torch.set_num_threads(1)
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    probes = []
    monkeypatch.setattr(probe, "run_probe", lambda p, f, timeout=0: probes.append(p))
    m = edgekit.load(lite0_tflite, threads=1)
    assert probes == [], "an edgekit export whose sidecar sha256 matches needs no probe"
    assert m.manifest["model"]["name"] == "efficientnet_lite0" and len(m.labels) == 1000
    from edgekit.zoo import create_model

    zm = create_model("efficientnet_lite0", weights="imagenet")
    ref = TorchModel.from_module(zm, zm.card, threads=1)
    files = sorted(photo_labels)[:6]
    correct = 0
    for f in files:
        top = m.predict(photos_dir / f, k=5)
        want = ref.predict(photos_dir / f, k=5)
        assert [i for i, _, _ in top] == [i for i, _, _ in want], f
        np.testing.assert_allclose([s for _, _, s in top], [s for _, _, s in want], atol=1e-3)
        assert top[0][1] == edgekit.get_card("efficientnet_lite0").labels[top[0][0]]
        correct += photo_labels[f] in [i for i, _, _ in top]
    assert correct >= 4, f"real weights should get most of these photos in the top 5 ({correct}/6)"
    # the CLI on the same artifact, and the manifest embedded in the file when the sidecar is gone
    r = subprocess.run([sys.executable, "-m", "edgekit", "predict", str(lite0_tflite), str(photos_dir / files[0]), "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["results"][0]["top_k"][0]["index"] == m.predict(photos_dir / files[0], k=1)[0][0]
    alone = tmp_path / lite0_tflite.name
    shutil.copyfile(lite0_tflite, alone)
    assert read_manifest(alone)["labels"] == m.labels
    r = subprocess.run([sys.executable, "-m", "edgekit", "info", str(alone)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "embedded in the artifact" in r.stdout and "efficientnet_lite0" in r.stdout, r.stdout + r.stderr
