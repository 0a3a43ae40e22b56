"""The CNN peer for ``dfscan bench --peer``: Xception (Chollet, CVPR 2017) in plain PyTorch.

Xception on 299x299 face crops is the FaceForensics++ baseline (Rössler et al., ICCV 2019).
Weights are random: the cost of a forward pass does not depend on them. Written here rather
than taken from timm/torchvision so that only ``torch`` is needed (the ``peer`` extra).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np

INPUT_SIZE = 299


def available() -> bool:
    return importlib.util.find_spec("torch") is not None


def build_xception(num_classes: int = 2):  # type: ignore[no-untyped-def]
    """Xception: entry flow, 8 middle blocks of 728 channels, exit flow (~22.9 M params)."""
    from torch import nn

    class SepConv(nn.Sequential):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__(
                nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),  # depthwise
                nn.Conv2d(cin, cout, 1, bias=False),  # pointwise
                nn.BatchNorm2d(cout),
            )

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, reps: int, stride: int, relu_first: bool):
            super().__init__()
            layers: list[nn.Module] = []
            for i in range(reps):
                if relu_first or i > 0:
                    layers.append(nn.ReLU())
                # The entry/exit blocks widen in the first (or, in the exit, last) conv.
                layers.append(SepConv(cin if i == 0 else cout, cout))
            if stride != 1:
                layers.append(nn.MaxPool2d(3, stride, padding=1))
            self.body = nn.Sequential(*layers)
            self.skip = (
                nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                if (cin != cout or stride != 1)
                else nn.Identity()
            )

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.body(x) + self.skip(x)

    class ExitBlock(Block):
        def __init__(self) -> None:
            nn.Module.__init__(self)
            self.body = nn.Sequential(
                nn.ReLU(), SepConv(728, 728), nn.ReLU(), SepConv(728, 1024),
                nn.MaxPool2d(3, 2, padding=1),
            )  # fmt: skip
            self.skip = nn.Sequential(nn.Conv2d(728, 1024, 1, 2, bias=False), nn.BatchNorm2d(1024))

    def conv_bn(cin: int, cout: int, stride: int, pad: int = 0) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *conv_bn(3, 32, 2),
        *conv_bn(32, 64, 1),
        Block(64, 128, 2, 2, relu_first=False),
        Block(128, 256, 2, 2, relu_first=True),
        Block(256, 728, 2, 2, relu_first=True),
        *[Block(728, 728, 3, 1, relu_first=True) for _ in range(8)],
        ExitBlock(),
        SepConv(1024, 1536),
        nn.ReLU(),
        SepConv(1536, 2048),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2048, num_classes),
    )


class XceptionPeer:
    """Scores 299x299 BGR crops with a random-weight Xception on one CPU thread."""

    def __init__(self, threads: int = 1, batch: int = 16) -> None:
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(threads)
        self.torch = torch
        self.model = build_xception().eval()
        self.batch = batch
        self.params = sum(p.numel() for p in self.model.parameters())

    def score(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Fake probability per crop (meaningless with random weights; the cost is real)."""
        torch = self.torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(crops), self.batch):
                x = np.stack(crops[i : i + self.batch])[..., ::-1]  # BGR -> RGB
                t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float()
                t = (t / 127.5) - 1.0  # Xception's [-1, 1] input range
                out.append(torch.softmax(self.model(t), dim=1)[:, 1].numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)
