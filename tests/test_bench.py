"""edgekit bench here: statistics, outlier counting, peak-RSS measurement, the measurement loop,
real benchmarks of small .tflite/.pte artifacts through the CLI, the JSON schema, CSV and plots."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from edgekit import bench
from edgekit.bench.output import format_table, to_csv
from edgekit.bench.plot import svg, write_plot
from edgekit.cli import main
from edgekit.errors import InputError

DATA = Path(__file__).parent / "data" / "bench"
TFLITE, PTE = DATA / "tiny_conv.tflite", DATA / "tiny_conv.pte"


def test_summarize_matches_numpy():
    rng = np.random.default_rng(1)
    s = rng.gamma(4.0, 0.5, size=1000)
    st = bench.summarize(s)
    assert st["count"] == 1000
    assert st["p50"] == pytest.approx(np.median(s)) and st["p90"] == pytest.approx(np.percentile(s, 90))
    assert st["p99"] == pytest.approx(np.percentile(s, 99)) and st["std"] == pytest.approx(np.std(s, ddof=1))
    assert st["min"] <= st["p50"] <= st["p90"] <= st["p99"] <= st["max"]


def test_outliers_are_counted_not_dropped():
    s = [10.0] * 40 + [10.5] * 40 + [11.0] * 18 + [50.0, 80.0]
    o = bench.outliers(s)
    q1, q3 = np.percentile(s, [25, 75])
    assert o["threshold_ms"] == pytest.approx(q3 + 3 * (q3 - q1))
    assert o["count"] == 2 and o["max_ms"] == 80.0 and o["fraction"] == pytest.approx(0.02)
    st = bench.summarize(s)
    assert st["max"] == 80.0 and st["mean"] == pytest.approx(np.mean(s))  # still in the statistics
    assert bench.outliers([5.0] * 10)["count"] == 0


def test_measure_counts_calls_and_times():
    calls = []
    r = bench.measure(lambda: calls.append(1), warmup=3, iters=7)
    assert len(calls) == 1 + 3 + 7 and len(r["samples_ms"]) == 7 and r["first_run_ms"] >= 0
    import time

    r = bench.measure(lambda: time.sleep(0.002), warmup=0, min_seconds=0.05)
    assert len(r["samples_ms"]) >= bench.MIN_SAMPLES and sum(r["samples_ms"]) >= 40
    assert min(r["samples_ms"]) >= 1.9


def test_run_options_are_checked():
    with pytest.raises(InputError):
        bench.check_run_options(1, 10, 2.0)
    with pytest.raises(InputError):
        bench.check_run_options(-1, 10, None)
    with pytest.raises(InputError):
        bench.check_run_options(0, 0, None)
    assert bench.check_run_options(2, None, None) == (2, bench.DEFAULT_ITERS, None)


def _touch_fresh_pages(nbytes: int) -> None:
    """Map and touch nbytes of new anonymous memory, then unmap it. An mmap is never served
    from pages the allocator already holds (np.ones can be, after a large free)."""
    import mmap

    mm = mmap.mmap(-1, nbytes)
    for off in range(0, nbytes, mmap.PAGESIZE):
        mm[off] = 1
    mm.close()


def test_peak_rss_sees_an_allocation():
    with bench.PeakRSS() as m:
        _touch_fresh_pages(48 * 2**20)
    assert m.bytes >= 40 * 2**20, (m.method, m.bytes)
    with bench.PeakRSS() as m2:  # the earlier peak does not hide a smaller later one (VmHWM reset)
        _touch_fresh_pages(8 * 2**20)
    if m2.method == "VmHWM":
        assert 6 * 2**20 <= m2.bytes < 40 * 2**20


def test_progress_bar_plain_text():
    from edgekit.progress import Reporter

    buf = io.StringIO()
    p = Reporter(stream=buf, after=0.0).task("x.tflite measure", 10, "it")
    for i in range(10):
        p.update(i + 1)
    p.close()
    lines = buf.getvalue().splitlines()
    assert lines and lines[-1].startswith("x.tflite measure [") and "100.0% 10/10" in lines[-1]
    assert len(lines) <= 11  # not a line per update on a pipe
    assert "\x1b" not in buf.getvalue() and "\r" not in buf.getvalue()  # no control characters off a terminal
    quiet = io.StringIO()
    q = Reporter(stream=quiet, after=60.0).task("short", 10)
    q.update(10)
    assert quiet.getvalue() == ""


def test_host_info():
    h = bench.host_info()
    assert h["cpu"] and h["cores"] >= 1 and h["os"] and h["machine"]


def test_bench_artifact_tflite_real():
    r = bench.bench_artifact(TFLITE, threads=1, warmup=2, iters=25)
    doc = bench.report([r], {"threads": 1, "warmup": 2, "iters": 25, "min_seconds": None})
    bench.validate(doc)
    assert r["runtime"]["name"] == "tflite" and r["format"] == "tflite" and r["source"] == "edgekit"
    assert r["size_bytes"] == TFLITE.stat().st_size and r["load_ms"] > 0 and r["first_run_ms"] > 0
    assert r["latency_ms"]["count"] == 25 == len(r["samples_ms"])
    assert r["throughput_per_s"] == pytest.approx(25 / (sum(r["samples_ms"]) / 1e3))
    assert r["inputs"] == [{"name": r["inputs"][0]["name"], "shape": [1, 3, 32, 32], "dtype": "float32"}]
    assert r["ratio_to_fastest"] == 1.0 and doc["fastest"] == "tiny_conv.tflite"
    assert r["peak_rss_increase_bytes"] >= 0


def test_schema_rejects_incomplete_documents():
    r = bench.bench_artifact(TFLITE, warmup=0, iters=3)
    doc = bench.report([r], {"threads": None, "warmup": 0, "iters": 3, "min_seconds": None})
    bench.validate(doc)
    bad = json.loads(json.dumps(doc))
    del bad["results"][0]["latency_ms"]["p50"]
    with pytest.raises(ValueError, match="p50"):
        bench.validate(bad)
    bad = json.loads(json.dumps(doc))
    bad["results"][0]["latency_ms"]["mean"] = -1.0
    with pytest.raises(ValueError):
        bench.validate(bad)


def test_cli_compares_tflite_and_pte(tmp_path, capsys):
    """Two real artifacts through `edgekit bench`: one table, ratio to the fastest, JSON (valid),
    CSV, and an HTML plot with an inline SVG."""
    out_json, out_csv, out_html = tmp_path / "b.json", tmp_path / "b.csv", tmp_path / "b.html"
    rc = main(["bench", str(TFLITE), str(PTE), "--threads", "1", "--warmup", "2", "--iters", "15", "--no-progress",
               "--json", str(out_json), "--csv", str(out_csv), "--plot", str(out_html)])
    assert rc == 0
    table = capsys.readouterr().out
    doc = json.loads(out_json.read_text())
    bench.validate(doc)
    names = [r["artifact"] for r in doc["results"]]
    assert names == ["tiny_conv.tflite", "tiny_conv.pte"]
    assert {r["runtime"]["name"] for r in doc["results"]} == {"tflite", "executorch"}
    ratios = sorted(r["ratio_to_fastest"] for r in doc["results"])
    assert ratios[0] == 1.0 and ratios[1] >= 1.0
    fast = next(r for r in doc["results"] if r["artifact"] == doc["fastest"])
    slow = next(r for r in doc["results"] if r is not fast)
    assert slow["ratio_to_fastest"] == pytest.approx(slow["latency_ms"]["p50"] / fast["latency_ms"]["p50"])
    for n in names:
        assert n in table
    assert "vs fastest" in table and f"{slow['ratio_to_fastest']:.2f}x" in table and bench.cpu_model() in table
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["artifact"] for r in rows] == names and float(rows[0]["p50_ms"]) == pytest.approx(doc["results"][0]["latency_ms"]["p50"])
    page = out_html.read_text()
    svg_text = page[page.index("<svg"): page.index("</svg>") + 6]
    root = ET.fromstring(svg_text)
    circles = root.findall("{http://www.w3.org/2000/svg}circle")
    assert len(circles) == 30  # one dot per timed run
    assert "tiny_conv.pte" in page


def test_plot_png_without_matplotlib_writes_html(tmp_path, monkeypatch):
    r = bench.bench_artifact(TFLITE, warmup=0, iters=5)
    doc = bench.report([r], {"threads": None, "warmup": 0, "iters": 5, "min_seconds": None})
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as on a device without matplotlib
    out = write_plot(doc, tmp_path / "p.png")
    assert out == tmp_path / "p.html" and not (tmp_path / "p.png").exists()
    assert "<svg" in out.read_text()
    s = write_plot(doc, tmp_path / "p.svg")
    ET.fromstring(s.read_text().split("\n", 1)[1])


def test_plot_png_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    r = bench.bench_artifact(TFLITE, warmup=0, iters=5)
    doc = bench.report([r], {"threads": None, "warmup": 0, "iters": 5, "min_seconds": None})
    out = write_plot(doc, tmp_path / "p.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_and_csv_for_summary_only_results():
    """A result without per-run samples (as adb gives) still renders: '-' where unknown."""
    from edgekit.remote.adb import parse_benchmark_model, tflite_result

    text = (Path(__file__).parent / "data" / "adb" / "benchmark_model_android_tf42507.txt").read_text()
    r = tflite_result(TFLITE, parse_benchmark_model(text), 4, 5)
    doc = bench.report([r], {"threads": 4, "warmup": 5, "iters": 50, "min_seconds": None},
                       host={"cpu": "Tensor G2", "cores": 8, "os": "Android 14", "machine": "arm64-v8a"})
    bench.validate(doc)
    t = format_table(doc)
    assert "33.21" in t and "| " in t and "benchmark_model reports no percentiles" in t
    assert to_csv(doc).splitlines()[1].split(",")[0] == "tiny_conv.tflite"
    ET.fromstring(svg(doc))


def test_cli_errors_are_one_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "edgekit", "bench", str(tmp_path / "missing.tflite")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.strip() == f"edgekit: error: artifact not found: {tmp_path / 'missing.tflite'}"
    res = subprocess.run([sys.executable, "-m", "edgekit", "bench", str(TFLITE), "--iters", "5", "--min-seconds", "1"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "not allowed with argument" in res.stderr
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    res = subprocess.run([sys.executable, "-m", "edgekit", "bench", str(bad)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.startswith("edgekit: error:") and "bad.tflite" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_json_to_stdout_is_only_json():
    res = subprocess.run([sys.executable, "-m", "edgekit", "bench", str(TFLITE), "--iters", "5", "--warmup", "0", "--json", "-"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    bench.validate(json.loads(res.stdout))
