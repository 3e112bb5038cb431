"""ExecuTorch .pte with the XNNPACK delegate (fp32; int8 through PT2E + the XNNPACK quantizer).

The manifest is embedded as a constant method `edgekit_manifest` that returns the JSON string
(`Runtime.load_program(p).load_method("edgekit_manifest").execute([])[0]`): it needs no format
extension, survives every ExecuTorch tool, and costs one string in the program.

The manifest's target.delegation counts what XNNPACK took and what stayed on portable kernels,
because an undelegated node is a silent 10x slowdown."""
from __future__ import annotations

from collections import Counter

from . import Exporter, Lowered, float_io, versions_of

MANIFEST_METHOD = "edgekit_manifest"


def delegation_report(edge_program) -> dict:
    """Count the nodes inside XNNPACK delegate blobs vs. the ops left outside them."""
    gm = edge_program.graph_module
    delegated, calls, left = 0, 0, Counter()
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        tname = getattr(node.target, "__name__", str(node.target))
        if tname == "executorch_call_delegate":
            calls += 1
            lowered = getattr(gm, node.args[0].target)
            sub = lowered.original_module.graph_module.graph
            delegated += sum(1 for n in sub.nodes if n.op == "call_function")
        elif tname != "getitem":
            left[tname.split("(")[0].strip()] += 1
    total = delegated + sum(left.values())
    return {
        "delegate": "XnnpackBackend",
        "delegate_calls": calls,
        "delegated_nodes": delegated,
        "portable_nodes": sum(left.values()),
        "portable_ops": dict(sorted(left.items())),
        "delegated_fraction": round(delegated / total, 4) if total else None,
    }


def _partitioners(precision: str) -> list:
    from .xnnpack_lowering import partitioners

    return partitioners(precision)


class ExecuTorchExporter(Exporter):
    precisions = {"fp32": None, "int8": ("static",)}
    quant_backend = "xnnpack"

    def lower(self, cap, options, calib=None, num_classes: int = 0) -> Lowered:
        import torch
        from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
        from executorch.exir.program._program import ExecutorchProgramManager

        qr = None
        program = cap.program
        if options.precision == "int8":
            from ..quant import guarded_quantize
            from .xnnpack_lowering import quantizable_graph
            from .xnnpack_rewrites import drop_requantize_after_zero_pads

            qr = guarded_quantize(cap.module, (cap.example,), calib.arrays, options.recipe,
                                  captured=quantizable_graph(cap.program))
            program = torch.export.export(qr.module, (cap.example,), strict=False)
            drop_requantize_after_zero_pads(program.graph_module)
        else:
            # fp32: route dense KxK convs to XNNPACK's fast GEMM kernel (docs/perf-executorch.md)
            from .xnnpack_lowering import prepare_program

            program = prepare_program(program, options.precision, cap.example)

        edge = to_edge_transform_and_lower(program, partitioner=_partitioners(options.precision))
        delegation = delegation_report(edge.exported_program())
        et = edge.to_executorch(ExecutorchBackendConfig())

        def save(path: str, manifest_json=None) -> None:
            prog = et
            if manifest_json is not None:
                # re-emit the same lowered programs with one extra constant method (no re-lowering)
                prog = ExecutorchProgramManager(et._execution_programs, {MANIFEST_METHOD: manifest_json},
                                                ExecutorchBackendConfig(), et._named_data)
            with open(path, "wb") as f:
                prog.write_to_file(f)

        inputs, outputs = float_io(cap.input_shape, num_classes, cap.layout)
        return Lowered(
            save=save, inputs=inputs, outputs=outputs, quant_result=qr,
            delegate="xnnpack", delegation=delegation,
            details={"backend_config": "default", "method": "forward"},
            embedded_manifest=f"constant method '{MANIFEST_METHOD}' returning the manifest JSON string",
            versions=versions_of("executorch"),
        )
