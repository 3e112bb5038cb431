"""XNNPACK lowering configuration shared by the ExecuTorch exporter.

exporters/executorch.py imports this module; whatever lowering settings make
the ExecuTorch XNNPACK path fast live here, so the exporter picks them up.
"""
from __future__ import annotations


def partitioners(precision: str = "fp32") -> list:
    """Partitioners to pass to ``to_edge_transform_and_lower``."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    return [XnnpackPartitioner()]
