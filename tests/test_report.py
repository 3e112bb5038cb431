"""`edgekit report`: one self-contained page about an export folder, opened in real headless
Chromium (tests/_browser.py): no console errors, no request beyond the file itself, a screenshot
that is not blank, and the numbers in the DOM equal to the manifests' and the bench JSON's.
`edgekit bench --plot x.html` is built from the same page parts.

The browser is Debian's `chromium` (scripts/setup.sh installs it); without it the browser test
skips with one line. EDGEKIT_REPORT_SCREENSHOT=path.png keeps the screenshot (docs/)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from edgekit.cli import main
from edgekit.errors import InputError
from edgekit.report import collect, write_report

DATA = Path(__file__).parent / "data" / "bench"
TFLITE = DATA / "tiny_conv.tflite"


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, photos_dir):
    """A tiny CNN exported to every target (parity on real photos), benchmarked like
    `edgekit bench ... --json OUT/bench.json`."""
    pytest.importorskip("litert_torch")
    import edgekit
    from edgekit import bench
    from test_export_helpers import tiny_card, tiny_cnn

    out = tmp_path_factory.mktemp("report")
    arts = edgekit.export(tiny_cnn(), target="all", card=tiny_card(32), out=out, verify_images=photos_dir,
                          verify_count=6)
    runnable = [a.path for a in arts if a.target != "coreml"]
    results = [bench.bench_artifact(p, threads=1, warmup=2, iters=25) for p in runnable]
    doc = bench.report(results, {"threads": 1, "warmup": 2, "iters": 25, "min_seconds": None})
    (out / "bench.json").write_text(json.dumps(doc))
    return out


def _browser_or_skip():
    from _browser import find_chromium

    if find_chromium() is None:
        pytest.skip("chromium not installed (scripts/setup.sh installs it): the headless browser check did not run")


def _expected(c) -> dict:
    """(k, artifact) -> the text the page must show, computed from the JSON here."""
    exp = {}
    for e in c.entries:
        m, a = e.manifest, e.file
        exp[("size_mb", a)] = f"{m['artifact']['size_bytes'] / 1e6:.1f}"
        exp[("size_bytes", a)] = str(m["artifact"]["size_bytes"])
        exp[("export_seconds", a)] = f"{m['export_seconds']:.1f}"
        exp[("labels_count", a)] = str(len(m["labels"]))
        exp[("parity_status", a)] = m["parity"]["status"] if m["parity"]["status"] != "not_run" \
            else f"not run: {m['parity']['reason']}"
        if m["parity"]["status"] != "not_run":
            exp[("top1_agreement", a)] = f"{m['parity']['top1_agreement'] * 100:.1f}%"
        if e.bench:
            lat = e.bench["latency_ms"]
            for k in ("p50", "p90", "p99"):
                exp[(f"{k}_ms", a)] = f"{lat[k]:.2f}"
            exp[("load_ms", a)] = f"{e.bench['load_ms']:.1f}"
            exp[("peak_rss_mib", a)] = f"{e.bench['peak_rss_increase_bytes'] / 2**20:.1f}"
    return exp


def test_report_in_headless_chromium(export_dir, capsys):
    _browser_or_skip()
    from _browser import Browser, pixel_std

    assert main(["report", str(export_dir)]) == 0
    page = export_dir / "report.html"
    assert capsys.readouterr().out.strip() == f"wrote {page}"
    c = collect(export_dir)
    assert len(c.entries) == 4 and len(c.bench_results) == 3
    with Browser() as b:
        seen = b.open(page)
    if os.environ.get("EDGEKIT_REPORT_SCREENSHOT"):
        Path(os.environ["EDGEKIT_REPORT_SCREENSHOT"]).write_bytes(seen.png)
    assert seen.console_errors == []
    assert seen.requests == [page.resolve().as_uri()]  # the page itself, nothing else
    assert seen.title == "edgekit report: tiny_cnn"
    assert pixel_std(seen.png) > 20.0  # not blank
    shown = {}
    for d in seen.data:
        shown.setdefault((d["k"], d["artifact"]), []).append(d["text"])
    expected = _expected(c)
    assert len(expected) == 4 * 5 + 3 + 3 * 5  # per artifact 5, agreement where parity ran, 5 per bench result
    for key, text in expected.items():
        assert shown.get(key), f"{key} is not on the page"
        assert set(shown[key]) == {text}, (key, shown[key], text)


def test_the_browser_check_can_fail(tmp_path):
    """The same checks on pages that break them: a console error, a request to the network, a
    blank page."""
    _browser_or_skip()
    from _browser import Browser, pixel_std

    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><p data-k="x">1</p><img src="http://192.0.2.1/x.png">'
                   "<script>console.error('broken chart')</script></body></html>")
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    with Browser() as b:
        s1, s2 = b.open(bad), b.open(blank)
    assert "broken chart" in s1.console_errors
    assert s1.external_requests == ["http://192.0.2.1/x.png"]
    assert s1.data == [{"k": "x", "artifact": None, "text": "1"}]
    assert pixel_std(s2.png) == 0.0


def test_report_is_self_contained(export_dir):
    text = (write_report(export_dir, export_dir / "r2.html")).read_text()
    low = text.lower().replace('xmlns="http://www.w3.org/2000/svg"', "")  # a namespace name, not a request
    for needle in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert needle not in low, needle
    assert text.count("<svg") == 2  # the trade-off chart and the latency distributions


def test_report_without_bench_and_bad_folders(export_dir, tmp_path):
    only = tmp_path / "only"
    only.mkdir()
    for p in export_dir.glob("*.onnx*"):
        shutil.copy(p, only / p.name)
    text = write_report(only).read_text()
    assert "size against top-1 agreement" in text and "Latency</h2>" not in text
    with pytest.raises(InputError, match="no edgekit manifests"):
        write_report(tmp_path / "only" / "..")
    with pytest.raises(InputError, match="expected an export folder"):
        write_report(tmp_path / "missing")
    not_bench = tmp_path / "x.json"
    not_bench.write_text("{}")
    with pytest.raises(InputError, match="edgekit bench --json"):
        write_report(only, bench_files=[not_bench])


def test_bench_plot_html_uses_the_report_parts(tmp_path, capsys):
    """`bench --plot x.html` is the report's latency section: the same SVG and table cells."""
    from edgekit.report.page import bench_section

    out_json, out_html = tmp_path / "b.json", tmp_path / "b.html"
    assert main(["bench", str(TFLITE), "--warmup", "1", "--iters", "8", "--no-progress", "--json", str(out_json),
                 "--plot", str(out_html)]) == 0
    doc = json.loads(out_json.read_text())
    page = out_html.read_text()
    for part in bench_section(doc):
        assert part in page
    assert f'data-k="p50_ms" data-artifact="tiny_conv.tflite" class="n">{doc["results"][0]["latency_ms"]["p50"]:.2f}<' in page
