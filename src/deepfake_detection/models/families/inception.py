"""InceptionV3 frame classifier (timm architecture), the per-frame backbone of `inceptionv3_gru`.

No package installable here ships InceptionV3 ImageNet weights, so it starts from random init and learns from our
data, helped by distillation from the shipped model (`TrainConfig.teacher`). The original design froze an ImageNet
InceptionV3 under its GRU; here the frozen backbone is this model after a frame run (`TrainConfig.backbone_from`).
"""

from __future__ import annotations

from .._torch import face_classifier, import_timm
from ..registry import ModelCfg, register_model

_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@register_model(
    ModelCfg(
        name="inception_v3",
        family="inception",
        kind="frame",
        # 160 px, not InceptionV3's native 299: on 2 CPU cores its training step costs ~5x a Lite0 step at 128 px
        # (~3.5x at 128 px, ~18x at 299). 160 is the smallest size that keeps a 3x3 final feature map (128: 2x2;
        # below 128 the map is 1x1 and training BatchNorm needs batches of 2 or more).
        input_size=160,
        mean=_IMAGENET_MEAN,
        std=_IMAGENET_STD,
        notes="random init: no offline InceptionV3 weights; distil from the shipped model; backbone of inceptionv3_gru",
    )
)
def inception_v3(pretrained: bool = False, drop_rate: float = 0.2, freeze_blocks: int = 0):
    """`pretrained` and `freeze_blocks` are accepted for a uniform trainer call: there are no ImageNet weights to
    keep, so nothing is frozen."""
    import torch

    timm = import_timm()
    net = timm.create_model("inception_v3", pretrained=False, num_classes=1, drop_rate=drop_rate)
    # timm keeps the TF port's truncated-normal(0.1) kernels, which grow activations ~2-3x per conv: in eval mode,
    # before BatchNorm's running statistics catch up (~50 steps), logits reach 1e7. He init (fan-in) keeps their
    # scale, so even an early checkpoint evaluates and exports with finite, comparable logits.
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    # timm's default head init gives logits of several units at step 0; start every face at P(FAKE) = 0.5.
    torch.nn.init.zeros_(net.fc.weight)
    torch.nn.init.zeros_(net.fc.bias)
    return face_classifier(net, _IMAGENET_MEAN, _IMAGENET_STD)
