"""The artifact formats edgekit knows, each described once.

A Format says what a file of that kind is called and how it is recognised, and names (as
"module:attribute" strings, imported only when used) the code that handles it: the exporter that
writes it, the runtime that runs it, the pure-Python reader that validates it and reads its IO
spec and embedded manifest without the runtime package, and the exporter of its head-training
program. Every list edgekit shows or checks (`--target` choices, the suffixes `load` accepts, the
runtimes `bench` pre-imports, the formats a manifest may name) is derived from this registry.

Adding a format is one exporter module, one runtime module (and a reader), and one
`register_format(Format(...))` call, here for the built-in ones or in the caller's own code
(tests/test_formats.py registers a toy format that way)."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from .errors import UnknownNameError


@dataclass(frozen=True)
class Format:
    name: str                               # "tflite": the --target name, manifest artifact.format
    suffixes: Tuple[str, ...]               # the first is what the exporter writes
    title: str                              # "TFLite/LiteRT", for messages
    runtime: Optional[str] = None           # "module:Class" of its edgekit.runtimes.RuntimeModel
    exporter: Optional[str] = None          # "module:Class" of its exporters.Exporter (None: not a target)
    reader: Optional[str] = None            # module with validate(path), io(path), embedded_manifest(path)
    trainer: Optional[str] = None           # module with export_train_step(path, D, max_classes, batch)
    is_directory: bool = False              # a folder artifact (.mlpackage)
    folder_marker: str = ""                 # a file every folder artifact of this format holds
    magic: Optional[Callable[[bytes], bool]] = None   # an identifier in the first 16 bytes: a file
                                            # carrying it is this format whatever its name
    magic_text: str = ""                    # what the identifier is, for errors
    plausible: Optional[Callable[[bytes], bool]] = None  # a weaker check of a file named like this format
    plausible_text: str = ""                # what it expects, for errors
    runtime_imports: Tuple[Tuple[str, ...], ...] = ()  # modules its runtime imports once per process

    @property
    def suffix(self) -> str:
        return self.suffixes[0]

    def runtime_class(self):
        if not self.runtime:
            raise UnknownNameError("runtime format", self.name, runtime_formats())
        return load_attr(self.runtime)

    def reader_module(self):
        return importlib.import_module(self.reader) if self.reader else None


_FORMATS: Dict[str, Format] = {}


def load_attr(spec: str):
    """The object a "package.module:attribute" string names."""
    mod, _, attr = spec.partition(":")
    obj = importlib.import_module(mod)
    return getattr(obj, attr) if attr else obj


def register_format(fmt: Format) -> Format:
    """Add a format (or replace one of the same name)."""
    if not fmt.suffixes or not all(s.startswith(".") for s in fmt.suffixes):
        raise ValueError(f"format {fmt.name!r}: suffixes must start with '.', got {fmt.suffixes!r}")
    _FORMATS[fmt.name] = fmt
    return fmt


def unregister_format(name: str) -> None:
    _FORMATS.pop(name, None)


def get_format(name: str) -> Format:
    try:
        return _FORMATS[name]
    except (KeyError, TypeError):
        raise UnknownNameError("format", name, _FORMATS) from None


def formats() -> list:
    """Every registered format, in registration order."""
    return list(_FORMATS.values())


def target_names() -> tuple:
    """Formats edgekit can export to, in the order `--target all` writes them."""
    return tuple(f.name for f in _FORMATS.values() if f.exporter)


def runtime_formats() -> tuple:
    return tuple(f.name for f in _FORMATS.values() if f.runtime)


def trainable_formats() -> tuple:
    return tuple(f.name for f in _FORMATS.values() if f.trainer)


def by_suffix(suffix: str) -> Optional[Format]:
    s = suffix.lower()
    return next((f for f in _FORMATS.values() if s in f.suffixes), None)


def by_magic(head: bytes) -> Optional[Format]:
    return next((f for f in _FORMATS.values() if f.magic is not None and f.magic(head)), None)


def detect_folder(name: str, suffix: str, files: set) -> Format:
    """The format of a folder artifact (named `name`, holding `files` at its top level)."""
    for f in _FORMATS.values():
        if f.is_directory and (suffix.lower() in f.suffixes or (f.folder_marker and f.folder_marker in files)):
            if f.folder_marker and f.folder_marker not in files:
                raise ValueError(f"{name} is not a valid {suffix} folder: {f.folder_marker} missing")
            return f
    raise ValueError(f"{name} is a directory, not a model (supported: {supported_text()})")


def detect(name: str, suffix: str, head: bytes) -> Format:
    """The format of a file called `name` whose first bytes are `head` (ValueError with the one
    line to show otherwise). The suffix decides, checked against the content; a file with an
    unknown suffix is taken by its identifier where it carries one."""
    fmt, known = by_suffix(suffix), by_magic(head)
    if fmt is not None:
        if fmt.magic is not None and not fmt.magic(head):
            seen = f"; it looks like a {known.name} file" if known is not None else ""
            raise ValueError(f"{name} is not a valid {suffix} file: no {fmt.magic_text} identifier at bytes 4..8{seen}")
        if fmt.magic is None and known is not None:
            raise ValueError(f"{name} is not a valid {suffix} file: it looks like a {known.name} file")
        if fmt.plausible is not None and not fmt.plausible(head):
            raise ValueError(f"{name} is not a valid {suffix} file: {fmt.plausible_text}")
        return fmt
    if known is not None:
        return known  # a known format under another name (e.g. model.bin)
    raise ValueError(f"unknown model format: {name} (supported: {supported_text()})")


def supported_text() -> str:
    """'.pte (ExecuTorch), .tflite (TFLite/LiteRT), ...' for messages."""
    return ", ".join(f"{f.suffix} ({f.title})" for f in _FORMATS.values() if f.runtime)


# --- the built-in formats ------------------------------------------------------------------------
def _pte_magic(head: bytes) -> bool:
    return len(head) >= 8 and head[4:6] == b"ET" and head[6:8].isdigit()


def _tflite_magic(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] == b"TFL3"


def _zip_magic(head: bytes) -> bool:
    return head[:4] == b"PK\x03\x04"


def _onnx_plausible(head: bytes) -> bool:
    """An ONNX ModelProto starts with a protobuf field tag of one of its fields (ir_version=1
    varint, opset_import=8, producer_name=2, graph=7, ...), never with a flatbuffer header."""
    if not head:
        return False
    field, wire = head[0] >> 3, head[0] & 7
    return 1 <= field <= 20 and wire in (0, 2)


register_format(Format(
    "executorch", (".pte",), "ExecuTorch",
    runtime="edgekit.runtimes.executorch:ExecuTorchModel", exporter="edgekit.exporters.executorch:ExecuTorchExporter",
    reader="edgekit.runtimes.readers.pte", trainer="edgekit.exporters.train_executorch",
    magic=_pte_magic, magic_text="'ET..' (ExecuTorch)",
    runtime_imports=(("torch",), ("executorch.extension.pybindings.portable_lib",))))
register_format(Format(
    "tflite", (".tflite", ".lite"), "LiteRT/TFLite",
    runtime="edgekit.runtimes.litert:LiteRTModel", exporter="edgekit.exporters.tflite:TFLiteExporter",
    reader="edgekit.runtimes.readers.tflite", trainer="edgekit.exporters.train_tflite",
    magic=_tflite_magic, magic_text="'TFL3' (TFLite)",
    runtime_imports=(("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite"),)))
register_format(Format(
    "coreml", (".mlpackage", ".mlmodel"), "Core ML",
    runtime="edgekit.runtimes.coreml:CoreMLModel", exporter="edgekit.exporters.coreml:CoreMLExporter",
    reader="edgekit.runtimes.readers.coreml", trainer="edgekit.exporters.train_coreml", is_directory=True,
    folder_marker="Manifest.json",
    runtime_imports=(("coremltools",),)))
register_format(Format(
    "onnx", (".onnx",), "ONNX Runtime",
    runtime="edgekit.runtimes.onnxruntime:OnnxRuntimeModel", exporter="edgekit.exporters.onnx:ONNXExporter",
    reader="edgekit.runtimes.readers.onnx",
    plausible=_onnx_plausible, plausible_text="it does not start like a protobuf ModelProto",
    runtime_imports=(("onnxruntime",),)))
register_format(Format(
    "torch", (".pt2",), "PyTorch",
    runtime="edgekit.runtimes.torch:TorchModel",
    plausible=_zip_magic, plausible_text="a torch.export .pt2 is a zip archive (torch.export.save)",
    runtime_imports=(("torch",),)))
