"""Model registry in the spirit of timm: families self-register builders; `create_model` is the one door."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ModelError


@dataclass(frozen=True)
class ModelCfg:
    """What a caller needs to know about a registered model without building it."""

    name: str
    family: str
    kind: str  # "frame" (one face crop -> logit) or "sequence" (face-crop features over time -> logit)
    input_size: int  # square face-crop side in pixels
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    pretrained: str = ""  # where the ImageNet init comes from, or "" for random init
    notes: str = ""
    extra: dict = field(default_factory=dict)


_BUILDERS: dict[str, Callable] = {}
_CFGS: dict[str, ModelCfg] = {}


def register_model(cfg: ModelCfg):
    """Decorator: register `fn(pretrained: bool, **kw) -> torch.nn.Module` under `cfg.name`."""

    def wrap(fn: Callable) -> Callable:
        if cfg.name in _BUILDERS:
            raise ModelError(f"model {cfg.name!r} registered twice")
        _BUILDERS[cfg.name] = fn
        _CFGS[cfg.name] = cfg
        return fn

    return wrap


def list_models(pattern: str = "*") -> list[str]:
    return sorted(n for n in _BUILDERS if fnmatch.fnmatch(n, pattern))


def model_cfg(name: str) -> ModelCfg:
    if name not in _CFGS:
        raise ModelError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return _CFGS[name]


def create_model(name: str, pretrained: bool = True, **kwargs):
    """Build a registered PyTorch model. Unset (None) kwargs keep the model's defaults."""
    model_cfg(name)  # an unknown name fails here with the list of registered ones
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return _BUILDERS[name](pretrained=pretrained, **kwargs)
