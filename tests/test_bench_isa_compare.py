"""Which CPU a number was measured on (the ISA features int8 speed depends on, in every bench
document, table and benchmark result), and `edgekit bench --compare REFERENCE` (speed-up and
output agreement of an artifact pair side by side)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgekit import bench
from edgekit.bench import system
from edgekit.bench.output import format_table, header_line
from edgekit.cli import main


@pytest.mark.parametrize("machine,flags,features,dot", [
    ("x86_64", {"fpu", "avx", "avx2", "fma"}, ["avx2", "fma"], False),
    ("x86_64", {"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"}, ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"], True),
    ("x86_64", {"avx2", "avx_vnni", "amx_tile", "amx_int8"}, ["avx2", "avx_vnni", "amx_tile", "amx_int8"], True),
    ("aarch64", {"fp", "asimd", "asimddp", "i8mm"}, ["asimd", "asimddp", "i8mm"], True),
    ("aarch64", {"fp", "asimd", "crc32"}, ["asimd"], False),
])
def test_cpu_isa_reads_the_int8_features(monkeypatch, machine, flags, features, dot):
    monkeypatch.setattr(system.platform, "machine", lambda: machine)
    monkeypatch.setattr(system, "_cpu_flags", lambda: set(flags))
    isa = system.cpu_isa()
    assert isa["features"] == features and isa["int8_dot"] is dot
    assert isa["arch"] == ("arm" if machine == "aarch64" else "x86")


def test_cpu_isa_unknown_is_not_no(monkeypatch):
    monkeypatch.setattr(system, "_cpu_flags", lambda: None)
    monkeypatch.setattr(system.sys, "platform", "win32")
    isa = system.cpu_isa()
    assert isa["features"] is None and isa["int8_dot"] is None
    assert "int8 dot products: unknown" in system.isa_line({"cpu": "x", "isa": isa})


def test_this_machine_matches_proc_cpuinfo():
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    isa = bench.host_info()["isa"]
    words = set(text.split())
    assert isa["int8_dot"] == bool(words & {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"})
    assert ("avx2" in isa["features"]) == ("avx2" in words)


def test_bench_header_and_benchmark_results_carry_the_isa(monkeypatch):
    from benchmarks.output import stamp

    monkeypatch.setattr(system, "cpu_isa", lambda: {"arch": "x86", "features": ["avx2", "avx512_vnni"], "int8_dot": True,
                                                     "source": "/proc/cpuinfo"})
    host = bench.host_info()
    doc = {"host": host, "config": {"threads": 1, "warmup": 1, "iters": 3}, "remote": None, "results": []}
    assert header_line(doc).endswith("; ISA avx2 avx512_vnni (int8 dot products: yes)")
    stamped, md = stamp({"rows": []}, "# Some benchmark\n\n| a |\n|---|\n")
    assert stamped["host"]["isa"]["features"] == ["avx2", "avx512_vnni"]
    assert md.split("\n")[:4] == ["# Some benchmark", "", f"_{system.isa_line(stamped['host'])}_", ""]


# --- --compare ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(int8-IO tflite, fp32 tflite) of one tiny model, with manifests."""
    from benchmarks.tiny import cached_build

    src = cached_build()
    d = tmp_path_factory.mktemp("pair")
    for name in ("tiny.tflite", "tiny_int8io.tflite"):
        shutil.copyfile(src / name, d / name)
    return d / "tiny_int8io.tflite", d / "tiny.tflite"


def test_compare_shows_speedup_and_agreement(pair, photos_dir, tmp_path, capsys):
    from edgekit.bench.compare import agreement

    q, f = pair
    out = tmp_path / "b.json"
    rc = main(["bench", str(q), "--compare", str(f), "--images", str(photos_dir), "--count", "6", "--threads", "1",
               "--warmup", "1", "--iters", "5", "--no-progress", "--json", str(out)])
    assert rc == 0
    doc = json.loads(out.read_text())
    bench.validate(doc)
    c = doc["comparison"]
    assert c["reference"] == "tiny.tflite" and c["images"] == 6 and [r["artifact"] for r in c["rows"]] == ["tiny_int8io.tflite"]
    row = c["rows"][0]
    p50 = {r["artifact"]: r["latency_ms"]["p50"] for r in doc["results"]}
    assert row["speedup"] == pytest.approx(p50["tiny.tflite"] / p50["tiny_int8io.tflite"])
    again = agreement(q, f, sorted(photos_dir.glob("*.JPEG"))[:6], threads=1)
    assert row["top1_agreement"] == again["top1_agreement"] and row["max_abs_error"] == pytest.approx(again["max_abs_error"])
    assert 0 < row["max_abs_error"] and 0.9 < row["cosine_mean"] <= 1.0 + 1e-9
    table = capsys.readouterr().out
    assert "vs tiny.tflite on 6 images" in table and f"{row['speedup']:.2f}x" in table


def test_compare_with_itself_agrees_exactly(pair, photos_dir):
    from edgekit.bench.compare import agreement

    _, f = pair
    a = agreement(f, f, sorted(photos_dir.glob("*.JPEG"))[:3])
    assert a["top1_agreement"] == 1.0 and a["max_abs_error"] == 0.0 and a["cosine_min"] == pytest.approx(1.0)


def test_compare_errors_are_one_line(pair, capsys):
    q, f = pair
    for argv, text in ((["bench", str(q), "--images", "x"], "--images goes with --compare"),
                       (["bench", str(f), "--compare", str(f)], "needs at least one other artifact"),
                       (["bench", str(q), "--compare", str(f), "--images", "/nonexistent"], "--images: not found")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("edgekit: error:") and text in err and len(err.splitlines()) == 1
