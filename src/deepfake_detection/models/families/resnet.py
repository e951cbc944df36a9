"""ResNet-50 frame classifier (timm architecture).

No package installable here ships ResNet-50 ImageNet weights (hub downloads are blocked), so it starts from
random init; the model card says so. That is a real handicap against the original project's ImageNet ResNet50.
"""

from __future__ import annotations

from .._torch import face_classifier, import_timm
from ..registry import ModelCfg, register_model


@register_model(
    ModelCfg(
        name="resnet50",
        family="resnet",
        kind="frame",
        input_size=128,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        notes="random init: no offline ImageNet weights for ResNet-50",
    )
)
def resnet50(pretrained: bool = False, freeze_blocks: int = 0, drop_rate: float = 0.2):
    import torch

    timm = import_timm()
    net = timm.create_model("resnet50", pretrained=False, num_classes=1, drop_rate=drop_rate)
    torch.nn.init.zeros_(net.fc.weight)
    torch.nn.init.zeros_(net.fc.bias)
    return face_classifier(net, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
