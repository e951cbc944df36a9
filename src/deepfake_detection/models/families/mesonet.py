"""MesoNet (Afchar et al., WIFS 2018): small CNNs for mesoscopic face-forgery cues, trained from scratch."""

from __future__ import annotations

from .._torch import face_classifier
from ..registry import ModelCfg, register_model


def _conv_bn_pool(nn, cin: int, cout: int, k: int, pool: int):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU(inplace=True), nn.BatchNorm2d(cout), nn.MaxPool2d(pool, pool)
    )


def _head(nn, features: int):
    return nn.Sequential(
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(features, 16), nn.LeakyReLU(0.1), nn.Dropout(0.5), nn.Linear(16, 1)
    )


def _inception(nn, torch, cin: int, a: int, b: int, c: int, d: int):
    """Meso inception block: 1x1, 1x1→3x3, 1x1→3x3 dilated 2, 1x1→3x3 dilated 3; concatenated."""

    class Inception(nn.Module):
        def __init__(self):
            super().__init__()
            self.b1 = nn.Conv2d(cin, a, 1)
            self.b2 = nn.Sequential(nn.Conv2d(cin, b, 1), nn.ReLU(inplace=True), nn.Conv2d(b, b, 3, padding=1))
            self.b3 = nn.Sequential(
                nn.Conv2d(cin, c, 1), nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, padding=2, dilation=2)
            )
            self.b4 = nn.Sequential(
                nn.Conv2d(cin, d, 1), nn.ReLU(inplace=True), nn.Conv2d(d, d, 3, padding=3, dilation=3)
            )
            self.post = nn.Sequential(nn.ReLU(inplace=True), nn.BatchNorm2d(a + b + c + d), nn.MaxPool2d(2, 2))

        def forward(self, x):
            return self.post(torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1))

    return Inception()


_MEAN, _STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


@register_model(
    ModelCfg(
        name="mesonet4",
        family="mesonet",
        kind="frame",
        input_size=128,
        notes="Meso-4, random init as in the paper (256 px there; 128 px here)",
    )
)
def mesonet4(pretrained: bool = False, freeze_blocks: int = 0):
    """`pretrained` and `freeze_blocks` are accepted for a uniform trainer call; MesoNet has no ImageNet weights."""
    from torch import nn

    net = nn.Sequential(
        _conv_bn_pool(nn, 3, 8, 3, 2),
        _conv_bn_pool(nn, 8, 8, 5, 2),
        _conv_bn_pool(nn, 8, 16, 5, 2),
        _conv_bn_pool(nn, 16, 16, 5, 4),
        _head(nn, 16 * 4 * 4),
    )
    return face_classifier(net, _MEAN, _STD)


@register_model(
    ModelCfg(
        name="mesoinception4",
        family="mesonet",
        kind="frame",
        input_size=128,
        notes="MesoInception-4, random init as in the paper",
    )
)
def mesoinception4(pretrained: bool = False, freeze_blocks: int = 0):
    import torch
    from torch import nn

    net = nn.Sequential(
        _inception(nn, torch, 3, 1, 4, 4, 2),
        _inception(nn, torch, 11, 2, 4, 4, 2),
        _conv_bn_pool(nn, 12, 16, 5, 2),
        _conv_bn_pool(nn, 16, 16, 5, 4),
        _head(nn, 16 * 4 * 4),
    )
    return face_classifier(net, _MEAN, _STD)
