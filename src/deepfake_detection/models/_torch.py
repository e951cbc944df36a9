"""Torch-side helpers shared by model families (imported only by training/export code)."""

from __future__ import annotations

import functools


@functools.cache
def import_timm():
    """Import timm on a CPU torch next to PyPI's CUDA-linked torchvision.

    torchvision registers fake-kernels for `torchvision::nms`/`qnms` at import and fails when the compiled ops
    are missing. Defining the two schemas first lets the import succeed; we never call those ops.
    """
    import torch

    try:
        import torchvision  # noqa: F401
    except RuntimeError:
        lib = torch.library.Library("torchvision", "FRAGMENT")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import sys

        for mod in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[mod]
        import torchvision  # noqa: F401
    import timm

    return timm


def face_classifier(backbone, mean, std):
    """Wrap a backbone so it takes a uint8 NHWC RGB batch and returns one FAKE logit per face.

    The cast and normalisation live inside the network, so the ONNX graph takes exactly the cached uint8
    crops: training, export and serving cannot disagree on preprocessing.
    """
    import torch
    from torch import nn

    class FaceClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone
            self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0)
            self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255.0)

        def forward(self, x):
            x = (x.permute(0, 3, 1, 2).float() - self.mean) / self.std
            return self.backbone(x.contiguous(memory_format=torch.channels_last)).reshape(-1)

    return FaceClassifier()
