"""Writing files so that nobody ever sees half of one, and measuring what was written.

Every writer in edgekit (artifacts, manifests, tuned heads, app bundles, benchmark plots, caches)
goes through `staged()`: the content is written under a hidden temporary name in the final
folder (same file system, so the rename is atomic), flushed to disk, and renamed into place only
when the block finishes; on any exception (Ctrl-C included) the temporary file or folder is
removed and the final path is untouched. A folder (an .mlpackage, an app's asset folder) replaces
an old one of the same name in two renames.

The temporary name carries the writer's process id, so `clean_stale()` can remove what a killed
process left behind without touching the work of one still running."""
from __future__ import annotations

import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence, Tuple, Union

PathLike = Union[str, os.PathLike]

# ".<stem>.<pid>-<8 hex>.partial<suffix>": the suffix stays last (coremltools insists on .mlpackage)
_PARTIAL = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.partial(\.[A-Za-z0-9]+)?$")


def temp_path(final: PathLike) -> Path:
    """A hidden, unique name beside `final` that keeps its suffix."""
    final = Path(final)
    return final.with_name(f".{final.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial{final.suffix}")


def remove(p: PathLike) -> None:
    """Remove a file or a folder; a missing one is fine."""
    p = Path(p)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def _fsync_tree(p: Path) -> None:
    files = [p] if not p.is_dir() else [f for f in p.rglob("*") if f.is_file()]
    for f in files:
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory
    finally:
        os.close(fd)


def place(tmp: PathLike, final: PathLike) -> None:
    """Move a finished file or folder into place (fsynced first); a folder replaces an old one."""
    tmp, final = Path(tmp), Path(final)
    _fsync_tree(tmp)
    if final.is_dir() and not final.is_symlink():
        old = final.with_name(f".{final.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial.old")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync_dir(final.parent)


@contextmanager
def staged(final: PathLike, mkdir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `final` to write to; it becomes `final` when the block ends
    and is removed if it raises. mkdir=True creates the temporary path as an empty folder."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    if mkdir:
        tmp.mkdir()
    try:
        yield tmp
        place(tmp, final)
    except BaseException:
        remove(tmp)
        raise


def write_bytes(path: PathLike, data: bytes) -> Path:
    with staged(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: PathLike, text: str) -> Path:
    """Write `text` atomically; the file gets the usual permissions (umask), not 0600."""
    return write_bytes(path, text.encode("utf-8"))


def place_all(pairs: Sequence[Tuple[PathLike, PathLike]]) -> None:
    """Move several finished files into place: all of them, or (on any failure) none. A file that
    was moved already is removed again, so a later attempt starts clean."""
    moved = []
    try:
        for tmp, final in pairs:
            place(tmp, final)
            moved.append(Path(final))
    except BaseException:
        for p in moved:
            remove(p)
        raise


def clean_stale(folder: PathLike) -> list:
    """Remove temporary files and folders left in `folder` by writers that were killed (their
    process is gone). Returns what was removed."""
    folder = Path(folder)
    removed = []
    for p in folder.iterdir() if folder.is_dir() else ():
        m = _PARTIAL.match(p.name[:-4] if p.name.endswith(".old") else p.name)
        if m and not _pid_alive(int(m.group(1))):
            remove(p)
            removed.append(p)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def size_bytes(path: PathLike) -> int:
    """Bytes of an artifact: the file, or every file of a folder artifact (.mlpackage), plus an
    external-data file <name>.data that travels with it (ONNX weights over 2 GB)."""
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    size = p.stat().st_size
    data = p.with_name(p.name + ".data")
    return size + (data.stat().st_size if data.is_file() else 0)


def companion_files(path: PathLike) -> list:
    """Files that belong with an artifact when it is copied elsewhere: the sidecar manifest
    <name>.json and an external-data file <name>.data (ONNX)."""
    p = Path(path)
    return [c for c in (p.with_name(p.name + ".json"), p.with_name(p.name + ".data")) if c.is_file()]
