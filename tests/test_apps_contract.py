"""The demo apps' contract with edgekit: every manifest field the Android and iOS code reads
exists in the manifest JSON Schema with the type the app expects; `edgekit export --bundle` puts
every file where the app code looks; the golden vectors it writes are edgekit's own
preprocessing and runtime output for a real photo."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from edgekit.bundle import APP_LAYOUTS, ASSET_DIR, GOLDEN_DIR, GOLDEN_FILES, MANIFEST_NAME, bundle
from edgekit.errors import ArtifactError, InputError
from edgekit.manifest import schema

from _apps_fixtures import (ANDROID, GOLDEN_PHOTO, IOS, cli_bundle, kotlin_asset_paths, kotlin_keys,
                                swift_asset_paths, swift_keys)

JSON_TYPES = {"string", "integer", "number", "boolean", "array", "object"}


def _types_of(node: dict, root: dict) -> set:
    """JSON types a schema node allows (type, const and enum)."""
    node = _deref(node, root)
    t = node.get("type")
    if t is not None:
        return set([t] if isinstance(t, str) else t)
    values = node.get("enum", []) + ([node["const"]] if "const" in node else [])
    out = set()
    for v in values:
        out.add("null" if v is None else "boolean" if isinstance(v, bool) else "integer" if isinstance(v, int)
                else "number" if isinstance(v, float) else "string" if isinstance(v, str) else type(v).__name__)
    return out


def _deref(node: dict, root: dict) -> dict:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        node = root
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def resolve(path: str, root: dict):
    """Walk a dotted manifest path through the schema: (node, required_all_the_way)."""
    node, required = root, True
    for part in path.split("."):
        node = _deref(node, root)
        if part.isdigit():
            if "items" not in node:
                return None, False
            required = required and node.get("minItems", 0) > int(part)
            node = node["items"]
        else:
            props = node.get("properties", {})
            if part not in props:
                return None, False
            required = required and part in node.get("required", [])
            node = props[part]
    return _deref(node, root), required


@pytest.mark.parametrize("app", ["android", "ios"])
def test_every_key_the_app_reads_is_in_the_schema(app):
    keys = kotlin_keys() if app == "android" else swift_keys()
    assert len(keys) >= 20, f"{app}: the key list was not found or is incomplete ({len(keys)} keys)"
    root = schema()
    problems = []
    for path, typ, app_requires in keys:
        assert typ in JSON_TYPES, (path, typ)
        node, schema_requires = resolve(path, root)
        if node is None:
            problems.append(f"{path}: not in the schema")
            continue
        allowed = _types_of(node, root)
        if typ not in allowed and not (typ == "number" and "integer" in allowed):
            problems.append(f"{path}: app reads {typ}, schema allows {sorted(allowed)}")
        if app_requires and not schema_requires:
            problems.append(f"{path}: the app requires it but the schema does not require it on every level")
    assert not problems, "\n".join(problems)


def test_android_and_ios_read_the_same_keys():
    assert {k[0] for k in kotlin_keys()} == {k[0] for k in swift_keys()}
    assert {k[0]: k[1:] for k in kotlin_keys()} == {k[0]: k[1:] for k in swift_keys()}


TEST_DIRS = ("/src/test/", "/src/androidTest/", "/EdgekitDemoTests/", "/build/")


def _sources(folder, suffix, skip):
    """App sources (tests, which write manifests of their own, excluded)."""
    return [p for p in folder.rglob(f"*{suffix}") if p.name not in skip and not any(d in str(p) for d in TEST_DIRS)]


def test_apps_read_the_manifest_only_through_the_key_lists():
    """No manifest field name written as a string literal outside the key lists: a field the
    app reads is always one the contract test above sees."""
    root = schema()
    fields = set(root["properties"]) | {k[0] for k in kotlin_keys()}
    for block in ("preprocessing", "model", "artifact", "trainable_head"):
        fields |= set(root["properties"][block].get("properties", {}))
    fields |= set(root["$defs"]["tensor"]["properties"])
    fields -= {"name", "file", "format", "shape", "dtype", "layout", "source"}  # too generic to police
    offenders = []
    files = _sources(ANDROID, ".kt", {"ManifestKeys.kt"}) + _sources(IOS, ".swift", {"ManifestKeys.swift"})
    assert len(files) >= 8, "app sources not found"
    for f in files:
        code = re.sub(r"/\*.*?\*/", "", f.read_text(), flags=re.S)  # comments may name fields
        code = re.sub(r"^\s*//.*$|\s//.*$", "", code, flags=re.M)
        for lit in re.findall(r'"([A-Za-z_][A-Za-z0-9_.]*)"', code):
            if lit in fields:
                offenders.append(f"{f.relative_to(ANDROID.parent)}: \"{lit}\"")
    assert not offenders, "manifest fields read outside the key lists:\n" + "\n".join(offenders)


def test_bundle_layout_matches_the_app_code():
    kt = kotlin_asset_paths()
    sw = swift_asset_paths()
    assert kt["DIR"] == ASSET_DIR == sw["dir"]
    assert kt["MANIFEST"] == f"{ASSET_DIR}/{MANIFEST_NAME}" == sw["manifest"]
    assert kt["GOLDEN_DIR"] == f"{ASSET_DIR}/{GOLDEN_DIR}" == sw["goldenDir"]
    golden_kt = sorted(v.rsplit("/", 1)[1] for k, v in kt.items() if k.startswith("GOLDEN_") and k != "GOLDEN_DIR")
    assert golden_kt == sorted(GOLDEN_FILES)
    assert kt["FLAVOR_LITERT_ASSETS"] == APP_LAYOUTS["android"]["tflite"]
    assert kt["FLAVOR_EXECUTORCH_ASSETS"] == APP_LAYOUTS["android"]["executorch"]
    assert sw["appFolder"] == APP_LAYOUTS["ios"]["coreml"]
    # the Gradle flavors and the Xcode project really use those folders
    gradle = (ANDROID / "app/build.gradle.kts").read_text()
    assert 'create("litert")' in gradle and 'create("executorch")' in gradle
    project = (IOS / "project.yml").read_text()
    assert f"path: {APP_LAYOUTS['ios']['coreml']}/{ASSET_DIR}" in project and "type: folder" in project


@pytest.fixture(scope="module")
def bundled(photos_dir):
    return cli_bundle(str(photos_dir))


def test_cli_bundle_puts_every_file_where_the_app_looks(bundled):
    kt = kotlin_asset_paths()
    assets = bundled / kt["FLAVOR_EXECUTORCH_ASSETS"]
    for name, rel in kt.items():
        if name in ("DIR", "GOLDEN_DIR") or name.startswith("FLAVOR_"):
            continue
        assert (assets / rel).is_file(), f"{rel} missing under {assets}"
    manifest = json.loads((assets / kt["MANIFEST"]).read_text())
    art = assets / kt["DIR"] / manifest["artifact"]["file"]
    assert art.is_file() and art.suffix == ".pte"
    from edgekit.manifest import sha256_file, validate

    validate(manifest)
    assert sha256_file(art) == manifest["artifact"]["sha256"]
    assert not list(assets.glob(".*")), "staging folders left behind"


def test_golden_vectors_are_edgekit_preprocessing_and_runtime_output(bundled, photos_dir):
    from edgekit.preprocess import preprocess
    from edgekit.runtimes import load

    d = bundled / APP_LAYOUTS["android"]["executorch"] / ASSET_DIR
    manifest = json.loads((d / MANIFEST_NAME).read_text())
    meta = json.loads((d / "golden/input.json").read_text())
    assert (d / "golden/photo.jpg").read_bytes() == (photos_dir / GOLDEN_PHOTO).read_bytes()
    x = preprocess(photos_dir / GOLDEN_PHOTO, manifest["preprocessing"])
    got = np.frombuffer((d / "golden/input.bin").read_bytes(), "<f4").reshape(meta["shape"])
    assert meta["dtype"] == "float32" and list(x.shape) == meta["shape"] == [1, 3, 64, 64]
    np.testing.assert_array_equal(got, x)
    crop = np.frombuffer((d / "golden/crop_rgb.bin").read_bytes(), np.uint8).reshape(64, 64, 3)
    spec = manifest["preprocessing"]
    recomputed = (crop.astype(np.float32) * np.float32(spec["scale"]) - np.float32(spec["mean"])) / np.float32(spec["std"])
    np.testing.assert_array_equal(recomputed.transpose(2, 0, 1)[None], x)
    with load(d / manifest["artifact"]["file"]) as m:
        out = m.run([x])[0].reshape(-1)
    np.testing.assert_allclose(np.frombuffer((d / "golden/output.bin").read_bytes(), "<f4"), out, atol=1e-6)
    expected = json.loads((d / "golden/expected.json").read_text())
    assert [t["index"] for t in expected["top3"]] == list(np.argsort(-out, kind="stable")[:3])
    p = np.exp(out - out.max()) / np.exp(out - out.max()).sum()
    for t in expected["top3"]:
        assert t["label"] == manifest["labels"][t["index"]]
        assert abs(t["score"] - p[t["index"]]) < 1e-6


def test_bundle_rejects_wrong_inputs_and_changes_nothing(bundled, tmp_path):
    d = bundled / APP_LAYOUTS["android"]["executorch"] / ASSET_DIR
    art = next((bundled.parent / "out").glob("*.pte"))  # the exported artifact, sidecar beside it
    before = {p.name: p.stat().st_mtime_ns for p in d.rglob("*")}
    with pytest.raises(InputError, match="not a demo app folder"):
        bundle(art, tmp_path)
    (tmp_path / "project.yml").write_text("name: x\n")
    with pytest.raises(InputError, match="runs coreml artifacts, not executorch"):
        bundle(art, tmp_path)
    lone = tmp_path / "lone.pte"
    lone.write_bytes(art.read_bytes())
    with pytest.raises(ArtifactError, match="no manifest"):
        bundle(lone, bundled)
    # a photo that is not an image: the error comes before anything in the app is touched
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a jpeg")
    with pytest.raises(InputError, match="not a readable image"):
        bundle(art, bundled, photo=bad)
    assert {p.name: p.stat().st_mtime_ns for p in d.rglob("*")} == before
    assert not list(d.parent.glob(".*")), "staging folders left behind"


def test_bundle_twice_replaces_the_folder(bundled, photos_dir, tmp_path):
    """A second bundle (default synthetic photo) replaces the first atomically: same layout,
    new golden photo, nothing left over."""
    app = tmp_path / "android_demo"
    shutil.copytree(bundled, app)
    art = next((bundled.parent / "out").glob("*.pte"))
    r = bundle(art, app)
    d = app / APP_LAYOUTS["android"]["executorch"] / ASSET_DIR
    assert r.folder == d and sorted(r.files) == sorted([art.name, MANIFEST_NAME] + [f"{GOLDEN_DIR}/{f}" for f in GOLDEN_FILES])
    assert (d / "golden/photo.jpg").read_bytes() != (photos_dir / GOLDEN_PHOTO).read_bytes()
    meta = json.loads((d / "golden/input.json").read_text())
    assert meta["photo_source"] == "edgekit synthetic golden photo"
    assert [t["index"] for t in r.top3] == [t["index"] for t in json.loads((d / "golden/expected.json").read_text())["top3"]]
    assert sorted(p.name for p in d.parent.iterdir()) == [ASSET_DIR]


def test_cli_bundle_into_the_ios_demo(tmp_path, photos_dir):
    """`edgekit export ... --target coreml --bundle ios_demo`: the .mlpackage, manifest and golden
    files land where ManifestKeys.swift's AssetPaths look; off macOS the golden top-3 is absent
    with the reason (the XCTest then skips only the Core ML check)."""
    import subprocess
    import sys

    from edgekit.preprocess import preprocess

    app = tmp_path / "ios_demo"
    app.mkdir()
    shutil.copy(IOS / "project.yml", app / "project.yml")
    photo = photos_dir / "n01820546_lorikeet.JPEG"
    r = subprocess.run([sys.executable, "-m", "edgekit", "export", "mobilenet_v3_small", "--target", "coreml",
                        "--precision", "fp32", "--input-size", "64", "--no-verify", "--out", str(tmp_path / "out"),
                        "--bundle", str(app), "--bundle-photo", str(photo)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    sw = swift_asset_paths()
    root = app / sw["appFolder"]
    for name, rel in sw.items():
        if name in ("appFolder", "dir", "goldenDir"):
            continue
        if name == "goldenOutput" and sys.platform != "darwin":
            assert not (root / rel).exists()
            continue
        assert (root / rel).is_file(), f"{rel} missing under {root}"
    manifest = json.loads((root / sw["manifest"]).read_text())
    assert (root / sw["dir"] / manifest["artifact"]["file"] / "Manifest.json").is_file()
    expected = json.loads((root / sw["goldenExpected"]).read_text())
    if sys.platform != "darwin":
        assert expected["top3"] is None and "macOS" in expected["reason"]
    meta = json.loads((root / sw["goldenInputMeta"]).read_text())
    x = preprocess(photo, manifest["preprocessing"])
    np.testing.assert_array_equal(np.frombuffer((root / sw["goldenInput"]).read_bytes(), "<f4").reshape(meta["shape"]), x)


def _literals(path, pattern):
    return set(re.findall(pattern, path.read_text()))


def test_teach_code_uses_the_training_programs_names():
    """The names the apps' Teach code passes to the exported training steps are the exporters'."""
    from edgekit.exporters import train_coreml, train_executorch, train_tflite

    lite = ANDROID / "app/src/litert/kotlin/dev/edgekit/demo/RuntimeFlavor.kt"
    assert _literals(lite, r'"(args_\d+)"') == {f"args_{i}" for i in range(len(train_tflite.TRAIN_INPUTS))}
    assert _literals(lite, r'"(output_\d+)"') == {f"output_{i}" for i in range(len(train_tflite.TRAIN_OUTPUTS))}
    assert f'SIGNATURE = "{train_tflite.TRAIN_SIGNATURE}"' in lite.read_text()
    et = ANDROID / "app/src/executorch/kotlin/dev/edgekit/demo/RuntimeFlavor.kt"
    assert f'METHOD = "{train_executorch.METHOD}"' in et.read_text()
    assert _literals(et, r'p\["(\w+)"\]') == set(train_executorch.PARAM_NAMES)
    teach = IOS / "EdgekitDemo/Teach.swift"
    assert _literals(teach, r'"(\w+)": try CoreMLEngine\.array') == set(train_coreml.INPUTS)
    assert _literals(teach, r'get\("(\w+)"\)') == set(train_coreml.OUTPUTS)


def test_tflite_train_step_has_the_signature_the_android_app_calls(tmp_path):
    """A real (small) exported TFLite training step: the 'train' signature's inputs/outputs have
    the names and shapes LiteRtHeadTrainer feeds, and one step with the app's padding (zero rows,
    masked classes) equals the numpy oracle on the unpadded problem."""
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.exporters.train_tflite import export_train_step
    from edgekit.tune.head_numpy import sgd_step

    B, C, D = 3, 4, 6
    path = export_train_step(tmp_path / "t.train.tflite", D, C, B)
    run = Interpreter(model_path=str(path)).get_signature_runner("train")
    shapes = {k: [int(x) for x in v["shape"]] for k, v in run.get_input_details().items()}
    assert shapes == {"args_0": [B, D], "args_1": [B, C], "args_2": [C], "args_3": [C, D], "args_4": [C],
                      "args_5": [C, D], "args_6": [C], "args_7": [3]}
    out_shapes = {k: [int(x) for x in v["shape"]] for k, v in run.get_output_details().items()}
    assert out_shapes == {"output_0": [C, D], "output_1": [C], "output_2": [C, D], "output_3": [C], "output_4": [1]}
    rng = np.random.default_rng(0)
    n, classes = 2, 3  # two real rows of three padded, three of four classes
    f = rng.normal(size=(n, D)).astype(np.float32)
    labels = np.array([2, 0])
    fp = np.zeros((B, D), np.float32)
    fp[:n] = f
    y = np.zeros((B, C), np.float32)
    y[np.arange(n), labels] = 1
    mask = np.array([1, 1, 1, 0], np.float32)
    W = np.zeros((C, D), np.float32)
    b = np.zeros(C, np.float32)
    out = run(args_0=fp, args_1=y, args_2=mask, args_3=W, args_4=b, args_5=W, args_6=b,
              args_7=np.array([0.05, 0.9, 0.0], np.float32))
    W2, b2, _, _, loss = sgd_step(f, y[:n, :classes], W[:classes], b[:classes], W[:classes], b[:classes], 0.05, 0.9)
    np.testing.assert_allclose(out["output_0"][:classes], W2, atol=1e-5)
    np.testing.assert_allclose(out["output_1"][:classes], b2, atol=1e-5)
    assert np.all(out["output_0"][classes:] == 0) and abs(float(out["output_4"][0]) - loss) < 1e-5
