"""Models: a registry of PyTorch builders (training) and ONNX Runtime runners (serving)."""

from .registry import ModelCfg, create_model, list_models, model_cfg, register_model

__all__ = ["ModelCfg", "create_model", "list_models", "model_cfg", "register_model"]
