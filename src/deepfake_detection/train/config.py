"""What a training run is: its configuration (YAML overrides of `TrainConfig`) and where its caches live."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError


@dataclass
class TrainConfig:
    model: str = "efficientnet_lite0"
    data: str = "data/dfdc/manifest.csv"  # manifest(s) with train/val splits, comma-separated (see `prepare`)
    out: str = "runs/efficientnet_lite0"
    cache_dir: str = "data/cache"  # decoded crops at the model's input size, memoised once
    input_size: int = 0  # 0: the model's default
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    max_steps: int = 6000
    eval_every: int = 500
    patience: int = 4  # evaluations without a better selection score before stopping
    # Checkpoint selection: "log_loss" (pooled validation log loss) or "source_auc" (mean of the per-source video
    # AUCs: every source counts the same, whatever its size or its calibration)
    select: str = "log_loss"
    augment: bool = True
    erase: float = 0.0  # with `augment`: share of crops with one random rectangle erased (random erasing)
    pretrained: bool = True
    freeze_blocks: int = 2  # backbone blocks (after the stem) kept at their ImageNet weights
    seed: int = 0
    threads: int = 2
    seq_len: int = 16  # sequence models: frames per face-track window
    sbi: float = 0.0  # share of each batch's FAKE half made of self-blended REAL crops (1.0: SBI only)
    sbi_landmarks: int = 5  # 68: masks from dlib's 68 points (the `sbi` extra); 5: YuNet's points plus guesses
    sbi_region: str = "face"  # "lower": blends fall on the mouth or nose-to-chin only (what reenactment re-renders)
    init_from: str = ""  # best.pt/last.pt, or an exported .onnx (e.g. the shipped model), that starts this run
    # Knowledge distillation (frame models, `distill.py`): an exported .onnx (with its .json card) whose logits,
    # computed once per crop and cached, soften the labels: loss = (1 - w)·BCE(label) + w·T²·BCE(logit/T, σ(teacher/T)).
    # With a teacher a manifest row may have an empty label: such train rows learn from the teacher alone.
    teacher: str = ""  # e.g. src/deepfake_detection/models/weights/efficientnet_lite0.onnx
    distill_weight: float = 0.5  # w
    distill_temperature: float = 2.0  # T
    unlabelled_share: float = 0.25  # with a teacher and rows without a label: their share of each batch
    # Sequence models: the frozen per-frame network, from a trained frame run (its directory, best.pt or last.pt) or
    # its exported .onnx, instead of ImageNet features (inceptionv3_gru and efficientnet_b2_gru need one)
    backbone_from: str = ""
    # Sampling: each batch is half REAL, half FAKE; within a half a row is drawn with probability proportional to
    # its source's weight (times its method's weight for FAKEs), shared equally by that source's (method's) rows.
    source_weights: dict = field(default_factory=dict)  # e.g. {dfdc: 1, ffpp: 1, talking_heads: 0.5}; unset: 1
    method_weights: dict = field(default_factory=dict)  # e.g. {Face2Face: 1.5}; unset: 1
    holdout: list = field(default_factory=list)  # "source" or "source/method" left out of training (kept in val)

    def __post_init__(self) -> None:
        for name in ("erase", "sbi", "unlabelled_share"):  # shares of a batch or of its crops
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"option {name} is a share between 0 and 1, got {getattr(self, name)!r}")
        if self.sbi_region not in ("face", "lower"):
            raise ConfigError(f"option sbi_region is 'face' or 'lower', got {self.sbi_region!r}")


def cache_path(cfg: TrainConfig, samples, size: int, split: str) -> Path:
    """Where the decoded crops (or landmarks) of these rows at this size are memoised."""
    key = hashlib.sha1("\n".join(s.path for s in samples).encode()).hexdigest()[:12]
    return Path(cfg.cache_dir) / f"{split}_{size}_{key}.npy"
