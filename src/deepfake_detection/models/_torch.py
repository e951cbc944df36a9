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


def face_classifier(backbone, mean, std, region=None, region_size=None):
    """Wrap a backbone so it takes a uint8 NHWC RGB batch and returns one FAKE logit per face.

    The cast and normalisation live inside the network, so the ONNX graph takes exactly the cached uint8
    crops: training, export and serving cannot disagree on preprocessing. With `region` (top, bottom, left,
    right as fractions of the crop) the network looks only at that part of the face, resized to `region_size`
    (height, width): a crop at the serving size in, a part of it at a finer scale than the whole face would get.
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
            if region is not None:
                x = cut_region(x, region, region_size)
            return self.backbone(x.contiguous(memory_format=torch.channels_last)).reshape(-1)

    return FaceClassifier()


def cut_region(x, region, size):
    """The part of an NCHW batch at `region` (top, bottom, left, right as fractions), resized to `size` (h, w)."""
    from torch import nn

    h, w = x.shape[2], x.shape[3]
    top, bottom, left, right = region
    x = x[:, :, int(top * h) : int(bottom * h), int(left * w) : int(right * w)]
    return nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)


def whole_and_part_classifier(backbone, mean, std, region, region_size):
    """Like `face_classifier`, but one backbone sees two views of each crop and each view has its own linear head:
    the whole face at half the crop's size (a 2 x 2 box average, exact at 224 -> 112 px) and `region` resized to
    `region_size`. The logit is the sum of the two heads. The whole view uses the backbone's own classifier, so
    Lite0 weights (a run or an export) start it; the part head (`part_head`, not in such weights) starts at zero, so
    at step 0 the model is the whole-face model at the coarser scale."""
    import torch
    from torch import nn

    class WholeAndPartClassifier(nn.Module):
        fresh_from_onnx = ("part_head",)

        def __init__(self):
            super().__init__()
            self.backbone = backbone
            self.part_head = nn.Linear(backbone.classifier.in_features, 1)
            nn.init.zeros_(self.part_head.weight)
            nn.init.zeros_(self.part_head.bias)
            self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0)
            self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255.0)

        def features(self, x):
            x = x.contiguous(memory_format=torch.channels_last)
            return self.backbone.forward_head(self.backbone.forward_features(x), pre_logits=True)

        def forward(self, x):
            x = (x.permute(0, 3, 1, 2).float() - self.mean) / self.std
            whole, part = nn.functional.avg_pool2d(x, 2), cut_region(x, region, region_size)
            logit = self.backbone.classifier(self.features(whole)) + self.part_head(self.features(part))
            return logit.reshape(-1)

    return WholeAndPartClassifier()


def patch_classifier(backbone, mean, std, blocks: int, hidden: int = 64):
    """Like `face_classifier`, but the backbone stops after its first `blocks` blocks and a small head scores every
    location of that feature map (a patch of the face, its receptive field) on its own; the logit is the mean of the
    patch logits. After Chai et al. (ECCV 2020): a classifier that sees only local patches cannot learn a generator's
    global look and keeps to the local traces that several generators share. Its stem and blocks take any Lite0
    weights; the head (`patch_head`, not in such weights) starts with its last layer at zero: logit 0 at step 0."""
    import torch
    from torch import nn

    backbone.blocks = backbone.blocks[:blocks]
    backbone.conv_head = backbone.bn2 = backbone.classifier = nn.Identity()  # unused: kept out of the weights
    width = backbone.blocks[-1][-1].conv_pwl.out_channels

    class PatchClassifier(nn.Module):
        fresh_from_onnx = ("patch_head.0", "patch_head.2")

        def __init__(self):
            super().__init__()
            self.backbone = backbone
            last = nn.Linear(hidden, 1)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.patch_head = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), last)
            self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0)
            self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255.0)

        def patch_logits(self, x):
            """[N, H', W'] logits, one per location of the truncated backbone's map."""
            x = ((x.permute(0, 3, 1, 2).float() - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
            f = self.backbone.blocks(self.backbone.bn1(self.backbone.conv_stem(x)))
            n, c, h, w = f.shape
            # Rows of [N·H'·W', C]: the exporter then keeps the head's weights under their names (a Linear on a 4-D
            # tensor becomes a MatMul with a transposed, renamed copy that could not start a run again).
            return self.patch_head(f.permute(0, 2, 3, 1).reshape(-1, c)).reshape(n, h, w)

        def forward(self, x):
            return self.patch_logits(x).mean(dim=(1, 2))

    return PatchClassifier()


def load_folded_onnx(model, onnx_path) -> None:
    """Start a torch model from an exported ONNX graph of the same architecture (e.g. the shipped weights, whose
    training checkpoint is not kept). The exporter folded each BatchNorm into the convolution before it, so every
    conv takes the folded kernel and its BatchNorm becomes the identity plus the folded bias (mean 0, var 1 - eps,
    scale 1). Train such a model with its BatchNorms in eval mode (`freeze_batchnorm`): batch statistics would undo
    the folding.
    """
    import onnx
    import torch
    from onnx import numpy_helper
    from torch import nn

    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(onnx_path)).graph.initializer}
    modules = list(model.named_modules())
    with torch.no_grad():
        for pos, (name, mod) in enumerate(modules):
            if isinstance(mod, nn.Conv2d):
                weight = inits.get(f"{name}.weight")
                if weight is None or tuple(weight.shape) != tuple(mod.weight.shape):
                    raise ValueError(f"{onnx_path}: no kernel of shape {tuple(mod.weight.shape)} for {name}")
                mod.weight.copy_(torch.tensor(weight))
                bias = inits.get(f"{name}.weight_bias")
                if bias is None:  # e.g. a backbone run on two views: the exporter folds none or only some BNs
                    raise ValueError(f"{onnx_path}: {name} has no folded BatchNorm; start from the run's best.pt")
                bn = next(m for _, m in modules[pos + 1 :] if isinstance(m, nn.BatchNorm2d))
                if bn.running_mean is None or bn.running_var is None:
                    raise ValueError(f"{onnx_path}: the BatchNorm after {name} keeps no running statistics")
                bn.weight.fill_(1.0)
                bn.bias.copy_(torch.tensor(bias))
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            elif isinstance(mod, nn.Linear):
                if f"{name}.weight" not in inits and name in getattr(model, "fresh_from_onnx", ()):
                    continue  # a head the exported architecture lacks keeps its own start
                mod.weight.copy_(torch.tensor(inits[f"{name}.weight"]))
                mod.bias.copy_(torch.tensor(inits[f"{name}.bias"]))


def freeze_batchnorm(model) -> None:
    """Keep every BatchNorm in eval mode (running statistics fixed; scale and shift still train)."""
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
