"""ExecuTorch runtime (executorch.runtime, XNNPACK and portable kernels as linked in the pip
wheel). The pybindings take torch tensors, so this module imports torch when a .pte is loaded.

Threads: ExecuTorch has ONE process-wide thread pool, and an XNNPACK delegate keeps a pointer to
the pool that existed when its method was loaded. Resizing the pool (`_unsafe_reset_threadpool`)
destroys that pool, so a method loaded before a resize must never run again (it hangs or
crashes: seen here). So resizing goes through set_threads(), which first releases the native
method of every live ExecuTorch model; each reloads its method on its next run (and puts its
own thread count back first). Models with different thread counts in one process therefore
re-initialize whenever they alternate: load them with the same count where speed matters.

Per-call cost: the method runs with clone_outputs=False, so its outputs are views of the
method's own (memory-planned) output buffers; run() copies them into new numpy arrays before
returning, through numpy views made once and reused while the buffer's address and shape stay
the same. The input tensor wrapping a numpy array is reused while the caller passes the same
array object. Measured on MobileNetV3-Small (benchmarks/overhead.py, docs/bench.md): the first
Python calls after an inference run with cold caches, and the default path (a cloned torch
output, then .numpy()) cost 20-35 us each there, about 1% of a 3 ms call."""
from __future__ import annotations

import weakref

import numpy as np

from ..errors import ArtifactError, MissingDependencyError, first_line
from .base import RuntimeModel, TensorSpec
from .readers.pte import SCALAR_TYPES


def _lib():
    try:
        import executorch.extension.pybindings.portable_lib as lib
    except ImportError:
        raise MissingDependencyError("executorch", "executorch", "run .pte programs") from None
    return lib


def _spec(info, name: str) -> TensorSpec:
    code = int(info.dtype())  # ExecuTorch ScalarType code
    return TensorSpec(name, tuple(int(d) for d in info.sizes()), SCALAR_TYPES.get(code, f"scalar_type_{code}"), None, None)


_pool_threads = None  # the pool size as edgekit last saw or set it
_live: "weakref.WeakSet" = weakref.WeakSet()  # ExecuTorch models holding native methods


def set_threads(n: int) -> None:
    """Resize the process-wide pool to n threads, releasing every live model's native method
    first (they reload on their next run). A no-op when the pool already has n threads."""
    global _pool_threads
    if _pool_threads == n:
        return
    lib = _lib()
    if lib._threadpool_get_thread_count() != n:
        for m in list(_live):
            m._release()
        lib._unsafe_reset_threadpool(n)
    _pool_threads = n


class ExecuTorchModel(RuntimeModel):
    runtime_name = "executorch"
    package = "executorch"
    method_name = "forward"

    def _load(self) -> None:
        lib = self._lib = _lib()
        import torch  # the pybindings exchange torch tensors

        self._torch = torch
        self._from_numpy = torch.from_numpy
        self._program = self._method = None
        self._out_views, self._in_cache = {}, None
        if self._threads:
            set_threads(self._threads)
        self._open()
        self._meta = self._program.method_meta(self.method_name)
        _live.add(self)

    def _open(self) -> None:
        """Load the program and its method (bound to the current thread pool)."""
        lib = self._lib
        try:
            kw = {"enable_etdump": False, "debug_buffer_size": 0,
                  "program_verification": lib.Verification.InternalConsistency}
            try:
                self._program = lib._load_program(str(self.path), data_path=None, **kw)
            except TypeError:  # executorch < 1.4 (the aarch64 environment's 1.2.0) takes no data_path
                self._program = lib._load_program(str(self.path), **kw)
            names = [self._program.get_method_name(i) for i in range(self._program.num_methods())]
            if self.method_name not in names:
                raise ArtifactError(f"{self.path.name} has no '{self.method_name}' method (methods: {', '.join(names) or 'none'})")
            self._method = self._program.load_method(self.method_name)
        except ArtifactError:
            raise
        except RuntimeError as e:
            msg = first_line(e)
            raise ArtifactError(f"cannot load {self.path.name} as an ExecuTorch program: {msg[:300]}") from None

    def _release(self) -> None:
        # the output views alias the method's memory: drop them before the method goes
        self._out_views = {}
        self._in_cache = None
        self._method = self._program = None

    def _input_tensor(self, a: np.ndarray):
        """The torch tensor over `a` (no copy), reused while the caller passes the same array
        object: the cache holds that array, so its memory cannot move or be freed meanwhile."""
        c = self._in_cache
        if c is not None and c[0] is a and c[1].shape == a.shape:
            return c[1]
        t = self._from_numpy(a)
        self._in_cache = (a, t)
        return t

    def _output_copy(self, i: int, o) -> np.ndarray:
        """A caller-owned numpy copy of output i (a view of the method's output buffer)."""
        if not hasattr(o, "data_ptr"):
            return np.asarray(o)
        ptr = o.data_ptr()
        v = self._out_views.get(i)
        if v is None or v[0] != ptr or v[1].shape != o.shape:
            v = self._out_views[i] = (ptr, o.numpy())
        return v[1].copy()

    def _native_inputs(self) -> list:
        return [_spec(self._meta.input_tensor_meta(i), f"input_{i}") for i in range(self._meta.num_inputs())]

    def _native_outputs(self) -> list:
        return [_spec(self._meta.output_tensor_meta(i), f"output_{i}") for i in range(self._meta.num_outputs())]

    def _invoke(self, arrays: list) -> list:
        if self._threads and _pool_threads != self._threads:
            set_threads(self._threads)
        if self._method is None:  # released by a pool resize
            self._open()
        try:
            outs = self._method([self._input_tensor(a) for a in arrays], clone_outputs=False)
        except RuntimeError as e:
            msg = first_line(e)
            raise ArtifactError(f"{self.path.name}: ExecuTorch failed to run the program: {msg[:300]}") from None
        return [self._output_copy(i, o) for i, o in enumerate(outs)]

    @property
    def threads(self):
        return self._threads

    @property
    def runtime_version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("executorch")
        except PackageNotFoundError:
            return "unknown"

    def close(self) -> None:
        self._release()
        _live.discard(self)
