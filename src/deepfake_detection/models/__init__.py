"""Models: a registry of PyTorch builders (training) and ONNX Runtime runners (serving)."""

from .registry import ModelCfg, create_model, list_models, model_cfg, register_model

__all__ = ["ModelCfg", "create_model", "list_models", "model_cfg", "register_model"]

# Importing the families runs their @register_model decorators (timm's shape); they import torch only when building.
from . import families  # noqa: E402,F401
