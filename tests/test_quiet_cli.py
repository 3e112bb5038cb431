"""A quiet CLI: other libraries' output (C++ included) goes to a log file, edgekit's own lines and
the results stay on the terminal, `--json` prints one document and nothing else, a failure shows
the one-line error plus the log's last lines, and progress off a terminal is plain lines."""
from __future__ import annotations

import ctypes
import io
import json
import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from edgekit.cli import main
from edgekit.converter_log import ConverterLog, quiet
from edgekit.progress import Reporter, stage, stages

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "bench"
TFLITE = DATA / "tiny_conv.tflite"


def _noise():
    """Output the way converters make it: C stdio, raw descriptors, a child process, Python's
    streams, a foreign warning and a foreign logger."""
    ctypes.CDLL(None).printf(b"native printf from C\n")
    os.write(2, b"[cpuinfo_utils.cpp:71] raw descriptor 2\n")
    subprocess.run(["sh", "-c", "echo child process line; echo child stderr line >&2"], check=True)
    print("python stdout line")
    print("python stderr line", file=sys.stderr)
    warnings.warn("a converter's deprecation warning", DeprecationWarning)
    absl = logging.getLogger("absl")  # a library's own handler on the process's stderr, as absl has
    handler = logging.StreamHandler(sys.__stderr__)
    absl.addHandler(handler)
    try:
        absl.warning("absl says hello")
    finally:
        absl.removeHandler(handler)


def test_converter_log_captures_every_kind_of_output(capfd):
    with ConverterLog() as log:
        _noise()
        log.terminal.write("edgekit's own line\n")
        logging.getLogger("edgekit.test").warning("an edgekit warning")
        logging.getLogger("edgekit.test").info("an edgekit info record")
    out, err = capfd.readouterr()
    text = log.path.read_text()
    log.discard()
    for line in ("native printf from C", "raw descriptor 2", "child process line", "child stderr line",
                 "python stdout line", "python stderr line", "a converter's deprecation warning", "absl says hello",
                 "[edgekit info] an edgekit info record"):
        assert line in text, line
        assert line not in out + err, line
    assert out == ""
    assert err == "edgekit's own line\nedgekit: warning: an edgekit warning\n"


def test_verbose_streams_live_and_still_logs(capfd):
    with ConverterLog(verbose=True) as log:
        _noise()
    out, err = capfd.readouterr()
    text = log.path.read_text()
    log.discard()
    for line in ("native printf from C", "raw descriptor 2", "child process line", "python stdout line", "absl says hello"):
        assert line in text and line in out + err, line


def test_quiet_keeps_the_log_only_on_failure():
    with quiet() as ok:
        print("fine")
    assert not ok.path.exists()
    with pytest.raises(RuntimeError) as ei:
        with quiet():
            os.write(2, b"the converter's last words\n")
            raise RuntimeError("boom")
    kept = ei.value.edgekit_log
    assert kept.tail() == ["the converter's last words"]
    kept.discard()


def test_failed_export_prints_error_and_log_tail(tmp_path, capfd, monkeypatch):
    """A converter that fails after writing to the terminal from C: one edgekit error line, then
    the log's last lines that say something; the full log beside the artifacts; stdout empty."""
    import importlib

    from edgekit.errors import ExportError

    def failing_export(model, progress=None, **kw):
        Path(kw["out"]).mkdir(parents=True, exist_ok=True)
        progress("tflite fp32", "capture", None, None)
        _noise()
        ctypes.CDLL(None).printf(b"error: op FOO is not supported by the converter\n")
        raise ExportError("lowering to tflite failed (see the log)")

    monkeypatch.setattr(importlib.import_module("edgekit.export"), "export", failing_export)
    out_dir = tmp_path / "o"
    rc = main(["export", "mobilenet_v3_small", "--target", "tflite", "--out", str(out_dir)])
    out, err = capfd.readouterr()
    assert rc == 2 and out == ""
    lines = err.splitlines()
    assert "edgekit: error: lowering to tflite failed (see the log)" in lines
    at = lines.index("edgekit: error: lowering to tflite failed (see the log)")
    assert lines[at + 1] == f"edgekit: last lines of {out_dir / 'edgekit-export.log'}:"
    assert lines[-1] == "  error: op FOO is not supported by the converter"
    assert "absl says hello" in err  # the tail: the last lines, whoever wrote them
    log = (out_dir / "edgekit-export.log").read_text()
    assert "native printf from C" in log and "edgekit: error: lowering to tflite failed" in log


def test_early_user_error_leaves_no_log(tmp_path, capfd):
    rc = main(["export", "mobilenet_v3_smal", "--target", "tflite", "--out", str(tmp_path / "o")])
    out, err = capfd.readouterr()
    assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("edgekit: error: unknown model")
    assert not (tmp_path / "o").exists()


def test_board_plain_lines_without_control_characters():
    buf = io.StringIO()
    board = Reporter(stream=buf, after=3600.0).board()
    for item in ("executorch fp32", "tflite fp32"):
        board.update(item, "capture")
    for item in ("executorch fp32", "tflite fp32"):
        board.update(item, "waiting")
    for item in ("executorch fp32", "tflite fp32"):
        with stages(lambda name, done, total, item=item: board.update(item, name, done, total)):
            stage("lower")
            time.sleep(0.06)
            for i in range(8):
                stage("parity", i, 8)
            stage("write")
        board.update(item, "done")
    board.close()
    lines = buf.getvalue().splitlines()
    assert lines[0] == "executorch fp32: capture (0.0 s)"
    assert lines[1].startswith("executorch fp32: done in ") and "(lower 0.1" in lines[1]
    assert lines[2].startswith("tflite fp32: done in ")
    assert len(lines) == 3  # within `after` seconds nothing but the first stage and the closing lines
    assert "\x1b" not in buf.getvalue() and "\r" not in buf.getvalue()
    stage("ignored")  # no listener: nothing happens


def test_board_live_on_a_terminal():
    """On a terminal the lines redraw in place (rich): control characters, each target's stage."""
    class TTY(io.StringIO):
        def isatty(self):
            return True

    buf = TTY()
    board = Reporter(stream=buf).board()
    board.update("onnx fp32", "capture")
    board.update("onnx fp32", "parity", 3, 8)
    board.close()
    assert "\x1b" in buf.getvalue() and "onnx fp32" in buf.getvalue() and "parity 3/8" in buf.getvalue()


def test_bench_json_on_stdout_is_one_document(capfd):
    rc = main(["bench", str(TFLITE), "--warmup", "1", "--iters", "5", "--json"])
    out, err = capfd.readouterr()
    assert rc == 0
    doc = json.loads(out)  # the whole of stdout: nothing else was printed there
    assert doc["results"][0]["artifact"] == "tiny_conv.tflite"
    assert "XNNPACK" not in out + err


def _env():
    env = dict(os.environ)
    env.pop("EDGEKIT_SLOW", None)
    return env


def test_export_cli_in_a_fresh_process(tmp_path):
    """The real thing, in its own process (the converters' one-time lines appear there): a TFLite
    export with --json --report. stdout is exactly one JSON document; stderr holds only edgekit's
    lines; the log holds LiteRT's C++ line; the report exists."""
    pytest.importorskip("litert_torch")
    out_dir = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "edgekit", "export", "mobilenet_v3_small", "--target", "tflite",
                        "--input-size", "64", "--verify-count", "2", "--out", str(out_dir), "--json", "--report"],
                       capture_output=True, text=True, timeout=600, env=_env(), cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert [Path(a["path"]).name for a in doc["artifacts"]] == ["mobilenet_v3_small_fp32.tflite"]
    assert doc["artifacts"][0]["manifest"]["parity"]["status"] == "passed"
    log = Path(doc["log"]).read_text()
    assert Path(doc["log"]) == out_dir / "edgekit-export.log"
    assert "Created TensorFlow Lite XNNPACK delegate" in log  # written from C++ by LiteRT
    assert "[edgekit info] exporting mobilenet_v3_small -> tflite fp32" in log
    for line in r.stderr.splitlines():  # the pipe gets plain lines: edgekit's own and the target's stage
        assert line.startswith(("edgekit: warning:", "tflite fp32: ")), line
        assert "\x1b" not in line and "\r" not in line
    assert Path(doc["report"]).is_file() and "mobilenet_v3_small_fp32.tflite" in Path(doc["report"]).read_text()
