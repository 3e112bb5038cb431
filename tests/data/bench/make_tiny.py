"""Regenerate the tiny artifacts the bench/remote tests run (a 3x3 conv + mean + linear on a
1x3x32x32 input, fixed seed): `python tests/data/bench/make_tiny.py`. They are committed so the
default test run needs neither torch nor a converter to benchmark something real."""
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


class TinyConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


def main():
    torch.manual_seed(0)
    model = TinyConvNet().eval()
    x = (torch.randn(1, 3, 32, 32),)

    import litert_torch

    litert_torch.convert(model, x).export(str(HERE / "tiny_conv.tflite"))

    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    ep = torch.export.export(model, x)
    prog = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    (HERE / "tiny_conv.pte").write_bytes(prog.buffer)


if __name__ == "__main__":
    main()
