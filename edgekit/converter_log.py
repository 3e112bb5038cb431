"""Keep other libraries' output out of edgekit's own lines, and keep all of it in a log file.

Converters and runtimes write to the terminal from C++ (ExecuTorch's cpuinfo lines, absl,
TensorFlow's notices, XNNPACK's "Created delegate"), from Python (warnings, tqdm bars, their own
loggers) and from child processes. `ConverterLog` redirects file descriptors 1 and 2 themselves
(`os.dup2`) for the duration of the block, so all of that lands in one file, whatever wrote it.
edgekit's own lines go to `terminal`, a duplicate of the original stderr taken before the
redirect (the progress display draws there). With `verbose=True` the output is also copied to
the terminal live (a pipe and a reader thread: a tee).

Python warnings raised from edgekit's own code are shown on the terminal as one
`edgekit: warning: ...` line (and logged); other libraries' warnings only go to the log. Records
of the `edgekit` logger go to the log, WARNING and above also to the terminal.

The log is written to a temporary file and `keep(folder)` moves it beside the artifacts when the
block is done; `tail()` gives the last lines that say something (progress bars collapsed) for
the one-line error of a failed export."""
from __future__ import annotations

import ctypes
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

LOG_NAME = "edgekit-export.log"
_EDGEKIT_DIR = os.path.dirname(os.path.abspath(__file__))
_EDGEKIT_ROOTS = (_EDGEKIT_DIR,) + tuple(  # exporters/ and runtimes/ are mapped into the package
    os.path.join(os.path.dirname(_EDGEKIT_DIR), d) for d in ("exporters", "runtimes"))
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _flush_c_stdio() -> None:
    """fflush(NULL): C code's buffered stdout must reach the redirected descriptor before it is
    put back, or it would surface on the terminal later."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


def _from_edgekit(filename: str) -> bool:
    path = os.path.abspath(filename or "")
    return any(path.startswith(root + os.sep) for root in _EDGEKIT_ROOTS)


class _Tee(threading.Thread):
    """Copies what arrives on a pipe to the log file and to the terminal."""

    def __init__(self, read_fd: int, log_fd: int, term_fd: int):
        super().__init__(daemon=True, name="edgekit-log-tee")
        self.read_fd, self.log_fd, self.term_fd = read_fd, log_fd, term_fd

    def run(self) -> None:
        while True:
            chunk = os.read(self.read_fd, 65536)
            if not chunk:
                break
            os.write(self.log_fd, chunk)
            try:
                os.write(self.term_fd, chunk)
            except OSError:
                pass
        os.close(self.read_fd)


class ConverterLog:
    """with ConverterLog(verbose=False) as log: ... -- see the module docstring."""

    def __init__(self, verbose: bool = False, prefix: str = "edgekit-export-"):
        self.verbose = verbose
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".log")
        os.close(fd)
        self.path = Path(name)
        self.terminal = None  # a text stream on the original stderr, valid inside the block
        self.stdout = None    # the same for the original stdout
        self.kept = False     # moved beside the artifacts (keep())
        self._saved: dict = {}
        self._file = None
        self._tee: Optional[_Tee] = None
        self._handler: Optional[logging.Handler] = None
        self._showwarning = None
        self._active = False

    # --- the redirect -------------------------------------------------------------------------
    def __enter__(self) -> "ConverterLog":
        sys.stdout.flush()
        sys.stderr.flush()
        _flush_c_stdio()
        self._file = open(self.path, "ab", buffering=0)
        self._saved = {fd: os.dup(fd) for fd in (1, 2)}
        self._python_streams = (sys.stdout, sys.stderr)
        self.stdout = self._outer(sys.stdout, self._saved[1])
        self.terminal = self._outer(sys.stderr, self._saved[2])
        if self.verbose:
            r, w = os.pipe()
            self._tee = _Tee(r, self._file.fileno(), self._saved[2])
            self._tee.start()
            target = w
        else:
            target = self._file.fileno()
        for fd in (1, 2):
            os.dup2(target, fd)
        if self.verbose:
            os.close(target)
        # Python-level writes go to the log too, also where sys.stdout/err were replaced (pytest)
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        self._active = True
        self._install_python_hooks()
        from .progress import output_to

        self._progress_ctx = output_to(self.terminal)
        self._progress_ctx.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
            from .errors import EdgekitError

            if isinstance(exc, EdgekitError):
                self.write_line(f"edgekit: error: {exc}")
            else:  # an internal error: its traceback belongs in the log too
                import traceback

                for ln in "".join(traceback.format_exception(exc_type, exc, tb)).splitlines():
                    self.write_line("edgekit: " + ln)
        self.restore()

    def restore(self) -> None:
        if not self._active:
            return
        self._active = False
        self._progress_ctx.__exit__(None, None, None)
        self._remove_python_hooks()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        sys.stdout, sys.stderr = self._python_streams
        _flush_c_stdio()
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)
        if self._tee is not None:  # every write end is closed now: the reader sees the end
            self._tee.join(timeout=10)
            self._tee = None
        for saved in self._saved.values():
            os.close(saved)
        self._saved = {}
        self._file.close()
        for stream in (self.terminal, self.stdout):
            if stream not in self._python_streams:  # our duplicate of the descriptor
                try:
                    stream.close()
                except OSError:
                    pass

    @staticmethod
    def _outer(stream, saved_fd: int):
        """Where edgekit's own lines go: `stream` itself when it is not the process's descriptor
        (pytest's capture, an app's own stream), else a duplicate of the saved descriptor."""
        try:
            on_fd = stream.fileno() in (1, 2)
        except (AttributeError, ValueError, OSError):
            on_fd = False
        if not on_fd:
            return stream
        return os.fdopen(os.dup(saved_fd), "w", buffering=1, encoding="utf-8", errors="replace")

    # --- Python-level output ------------------------------------------------------------------
    def write_line(self, text: str) -> None:
        """Append one line of edgekit's own to the log."""
        if self._file is not None and not self._file.closed:
            self._file.write((text.rstrip("\n") + "\n").encode("utf-8", "replace"))

    def _install_python_hooks(self) -> None:
        log = self

        class _ToLog(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    msg = self.format(record)
                    log.write_line(f"[edgekit {record.levelname.lower()}] {msg}")
                    if record.levelno >= logging.WARNING and log.terminal is not None:
                        log.terminal.write(f"edgekit: {record.levelname.lower()}: {record.getMessage()}\n")
                except Exception:  # noqa: BLE001 - logging must never break the export
                    self.handleError(record)

        self._handler = _ToLog(logging.INFO)
        logger = logging.getLogger("edgekit")
        self._level = logger.level
        logger.addHandler(self._handler)
        # converters configure the root logger (basicConfig): edgekit's records would appear twice
        self._propagate, logger.propagate = logger.propagate, False
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)

        self._showwarning = warnings.showwarning

        def showwarning(message, category, filename, lineno, file=None, line=None):
            text = warnings.formatwarning(message, category, filename, lineno, line)
            ours = _from_edgekit(filename)
            log.write_line(f"[edgekit warning] {message}" if ours else text)
            if log.terminal is None:
                return
            if ours:
                log.terminal.write(f"edgekit: warning: {message}\n")
            elif log.verbose:
                log.terminal.write(text)

        warnings.showwarning = showwarning

    def _remove_python_hooks(self) -> None:
        if self._handler is not None:
            logger = logging.getLogger("edgekit")
            logger.removeHandler(self._handler)
            logger.setLevel(self._level)
            logger.propagate = self._propagate
            self._handler = None
        if self._showwarning is not None:
            warnings.showwarning = self._showwarning
            self._showwarning = None

    # --- afterwards ---------------------------------------------------------------------------
    def keep(self, folder) -> Path:
        """Move the log into `folder` as edgekit-export.log (appending to an earlier run's log
        would mix two runs: it is replaced). Returns its new path."""
        folder = Path(folder)
        final = folder / LOG_NAME
        import shutil

        from .files import staged

        with staged(final) as tmp:
            shutil.copyfile(self.path, tmp)
        self.path.unlink(missing_ok=True)
        self.path, self.kept = final, True
        return final

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)

    def line_count(self, foreign: bool = False) -> int:
        """Lines in the log; foreign=True: only other libraries' (not edgekit's own records)."""
        lines = self.text().splitlines()
        if foreign:
            lines = [ln for ln in lines if ln.strip() and not ln.startswith(("[edgekit ", "edgekit: "))]
        return len(lines)

    def text(self) -> str:
        try:
            raw = self.path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        # a progress bar redraws with \r: keep what it showed last
        return "\n".join(_ANSI.sub("", ln.split("\r")[-1] if ln.rstrip("\r") else ln) for ln in raw.split("\n"))

    def tail(self, n: int = 12) -> list:
        """The last `n` lines that say something about the step that failed: what came after
        edgekit's last record (`exporting ... -> tflite`), without blank lines, bare progress bars
        and edgekit's own lines (its records and warnings, the error it already printed)."""
        lines = self.text().splitlines()
        marks = [i for i, ln in enumerate(lines) if ln.startswith("[edgekit ")]
        keep = []
        for ln in lines[marks[-1] + 1:] if marks else lines:
            s = ln.strip()
            if not s or s.startswith(("[edgekit ", "edgekit: ")) or re.fullmatch(r"[\d%|#=> .:/\-\[\]it/s,?]*", s):
                continue
            keep.append(ln.rstrip())
        return keep[-n:]


@contextmanager
def quiet(verbose: bool = False, prefix: str = "edgekit-") -> Iterator[ConverterLog]:
    """A ConverterLog for a command without an output folder (bench, predict, tune): the log is
    removed when the block succeeds; on an exception it stays, and the exception carries it
    (`edgekit_log`) for edgekit.cli to show its last lines under the error."""
    clog = ConverterLog(verbose=verbose, prefix=prefix)
    try:
        with clog:
            yield clog
    except BaseException as e:
        e.edgekit_log = clog
        raise
    clog.discard()
