"""Parameter and MAC counts computed from a model (never typed in).

MACs are multiply-accumulates of the convolution and matrix-multiply ops in one forward pass
at batch 1, counted by torch's own FlopCounterMode (which reports 2 FLOPs per MAC). Element-wise
ops (activations, BN at inference, pooling, adds) are not counted, as in the published tables."""
from __future__ import annotations


def count_params(model) -> int:
    """Number of parameters (shared tensors counted once)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model, input_size: int, channels: int = 3) -> int:
    """MACs of model(x) for one `channels` x `input_size` x `input_size` image.

    Runs on the model's own device; a model built under `torch.device("meta")` is counted from
    shapes alone, without any arithmetic."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    try:
        p = next(model.parameters())
        device, dtype = p.device, p.dtype
    except StopIteration:
        device, dtype = torch.device("cpu"), torch.float32
    x = torch.zeros(1, channels, input_size, input_size, device=device, dtype=dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2


def format_count(n, unit: str = "") -> str:
    """2542856 -> '2.54M', 56510400 -> '0.057G' (MACs are shown in G, as published)."""
    if n is None:
        return "?"
    if unit == "G":
        return f"{n / 1e9:.3f}G"
    return f"{n / 1e6:.2f}M"
