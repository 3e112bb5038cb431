"""ExecuTorch runtime (executorch.runtime, XNNPACK and portable kernels as linked in the pip
wheel). The pybindings take torch tensors, so this module imports torch when a .pte is loaded.

Threads: ExecuTorch has ONE process-wide thread pool, and an XNNPACK delegate keeps a pointer to
the pool that existed when its method was loaded. Resizing the pool (`_unsafe_reset_threadpool`)
destroys that pool, so a method loaded before a resize must never run again (it hangs or
crashes: seen here). So resizing goes through set_threads(), which first releases the native
method of every live ExecuTorch model; each reloads its method on its next run (and puts its
own thread count back first). Models with different thread counts in one process therefore
re-initialize whenever they alternate: load them with the same count where speed matters."""
from __future__ import annotations

import weakref

import numpy as np

from ..errors import ArtifactError, MissingDependencyError
from .base import RuntimeModel, TensorSpec
from .pte import SCALAR_TYPES


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
        if self._threads:
            set_threads(self._threads)
        self._open()
        self._meta = self._program.method_meta(self.method_name)
        _live.add(self)

    def _open(self) -> None:
        """Load the program and its method (bound to the current thread pool)."""
        lib = self._lib
        try:
            self._program = lib._load_program(str(self.path), enable_etdump=False, debug_buffer_size=0,
                                              program_verification=lib.Verification.InternalConsistency,
                                              data_path=None)
            names = [self._program.get_method_name(i) for i in range(self._program.num_methods())]
            if self.method_name not in names:
                raise ArtifactError(f"{self.path.name} has no '{self.method_name}' method (methods: {', '.join(names) or 'none'})")
            self._method = self._program.load_method(self.method_name)
        except ArtifactError:
            raise
        except RuntimeError as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ArtifactError(f"cannot load {self.path.name} as an ExecuTorch program: {msg[:300]}") from None

    def _release(self) -> None:
        self._method = self._program = None

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
            outs = self._method([self._from_numpy(a) for a in arrays])
        except RuntimeError as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ArtifactError(f"{self.path.name}: ExecuTorch failed to run the program: {msg[:300]}") from None
        return [o.numpy() if hasattr(o, "numpy") else np.asarray(o) for o in outs]

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
