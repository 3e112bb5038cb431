"""A killed export leaves no partial artifact; the next export removes the killed one's
temporary files."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import edgekit
from test_export_helpers import tiny_cnn, tiny_card
edgekit.export(tiny_cnn(), target="onnx", card=tiny_card(64), out={out!r}, verify_count=200)
"""


def _partials(out: Path):
    return [p for p in out.iterdir() if ".partial" in p.name] if out.is_dir() else []


def test_killed_export_leaves_no_artifact(tmp_path, repo_root):
    out = tmp_path / "out"
    code = SCRIPT.format(tests=str(repo_root / "tests"), out=str(out))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        # wait until the exporter has a temporary artifact on disk (it is checking parity on 200
        # inputs), then kill it without a chance to clean up
        while not _partials(out):
            assert proc.poll() is None, f"export ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "no temporary artifact appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    names = [p.name for p in out.iterdir()]
    assert not [n for n in names if not n.startswith(".")], names  # no artifact, no manifest under a final name
    assert _partials(out)  # only hidden temporaries of the dead process

    # the next export into the folder removes the dead process's temporaries
    import edgekit
    from test_export_helpers import tiny_cnn, tiny_card

    art = edgekit.export(tiny_cnn(), target="onnx", card=tiny_card(32), out=out, verify=False)
    assert sorted(p.name for p in out.iterdir()) == sorted([art.path.name, art.path.name + ".json"])


def test_failed_export_cleans_up(tmp_path, monkeypatch):
    """An exception while saving (disk full, converter crash) removes the temporary artifact."""
    import pytest

    import edgekit
    from edgekit.exporters import get_target
    from test_export_helpers import tiny_cnn, tiny_card

    exp = get_target("onnx")
    real_lower = type(exp).lower

    def lower_then_break(self, *a, **k):
        low = real_lower(self, *a, **k)
        real_save = low.save

        def save(path, manifest_json=None):
            real_save(path, manifest_json)
            if manifest_json is not None:
                raise OSError("disk full")

        low.save = save
        return low

    monkeypatch.setattr(type(exp), "lower", lower_then_break)
    with pytest.raises(OSError, match="disk full"):
        edgekit.export(tiny_cnn(), target="onnx", card=tiny_card(32), out=tmp_path, verify_count=2)
    assert list(tmp_path.iterdir()) == []
