"""Training (needs the `train` extra): data sources into manifests, augmentation and self-blends, the frame and
sequence loops, export to ONNX, calibration and the operating point.

The chain runs one way: config → loop → trainer (frames) / sequence → export; `train(cfg)` picks the loop.
"""

from __future__ import annotations

from pathlib import Path

from .config import TrainConfig


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train `cfg.model` (a frame classifier or a sequence model) and return its run directory."""
    from ..models import model_cfg

    if model_cfg(cfg.model).kind == "sequence":
        from .sequence import train_sequence

        return train_sequence(cfg, progress)
    from .trainer import train_frames

    return train_frames(cfg, progress)
