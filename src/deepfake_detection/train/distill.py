"""Knowledge distillation for frame models: a teacher's logits, computed once per crop with ONNX Runtime and cached
next to the crops, and the loss that mixes them with the labels.

Models without offline ImageNet weights (ResNet-50, EfficientNet-B0/B2, InceptionV3) learn from our data alone;
the shipped model's soft targets give them more signal per step than the 0/1 labels, and let crops without a label
(teacher-only rows) take part. The teacher sees each crop once, un-augmented; the student sees it augmented.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from ..datasets import Sample, load_crops
from ..errors import DeepfakeError
from .config import TrainConfig, cache_path

log = logging.getLogger(__name__)

_CHUNK = 256  # crops decoded and scored at a time when no crop cache at the teacher's size exists


def check(cfg: TrainConfig) -> None:
    """Raise on distillation settings that cannot work, before anything is decoded."""
    if not 0.0 <= cfg.distill_weight <= 1.0:
        raise DeepfakeError(f"distill_weight must be in [0, 1], got {cfg.distill_weight}")
    if cfg.distill_temperature <= 0:
        raise DeepfakeError(f"distill_temperature must be > 0, got {cfg.distill_temperature}")
    if not 0.0 <= cfg.unlabelled_share < 1.0:
        raise DeepfakeError(f"unlabelled_share must be in [0, 1), got {cfg.unlabelled_share}")
    if cfg.sbi > 0:
        raise DeepfakeError("teacher and sbi together are not supported: the teacher has no logit for a self-blend")
    if Path(cfg.teacher).suffix != ".onnx" or not Path(cfg.teacher).is_file():
        raise DeepfakeError(f"teacher must be an exported .onnx file (with its .json card), got {cfg.teacher!r}")


def teacher_logits(cfg: TrainConfig, samples: list[Sample], split: str) -> np.ndarray:
    """The teacher's logit for every row (float32 [N]), computed once and kept in `cache_dir`, keyed like the crop
    cache plus a digest of the teacher's files (a retrained teacher gets new logits)."""
    from ..models.card import ModelCard
    from ..models.serving import load_scorer

    size = ModelCard.load(Path(cfg.teacher).with_suffix(".json")).input_size
    digest = hashlib.sha1()
    for f in (Path(cfg.teacher), Path(cfg.teacher).with_suffix(".json")):
        digest.update(f.read_bytes())
    cache = cache_path(cfg, samples, size, f"{split}_teacher-{digest.hexdigest()[:8]}")
    if cache.is_file():
        z = np.load(cache)
        if z.shape == (len(samples),):
            return z
    # Reuse the crops at the teacher's size when a run already cached them (the student's size is often the
    # teacher's); otherwise decode in chunks instead of writing another crop cache.
    crops_cache = cache_path(cfg, samples, size, split)
    crops = load_crops(samples, size, crops_cache) if crops_cache.is_file() else None
    scorer = load_scorer(cfg.teacher, threads=cfg.threads)
    out = []
    for i in range(0, len(samples), _CHUNK):
        chunk = crops[i : i + _CHUNK] if crops is not None else load_crops(samples[i : i + _CHUNK], size)
        out.append(scorer.logits(np.asarray(chunk)))
    z = (np.concatenate(out) if out else np.zeros(0)).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, z)
    log.info("teacher %s: %d %s logits cached in %s", scorer.name, len(z), split, cache)
    return z


def distill_loss(logits, y, labelled, teacher, weight: float, temperature: float):
    """Batch mean of (1 - w)·BCE(logit, y) + w·T²·BCE(logit/T, σ(teacher/T)) for labelled rows and of the
    teacher term alone for teacher-only rows (`labelled` False). Against soft targets BCE is the KL divergence
    plus the teacher's entropy, a constant; T² keeps the gradient's scale as T changes (Hinton et al., 2015)."""
    import torch
    import torch.nn.functional as F

    t = float(temperature)
    soft = F.binary_cross_entropy_with_logits(logits / t, torch.sigmoid(teacher / t), reduction="none") * (t * t)
    hard = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    return torch.where(labelled, (1.0 - weight) * hard + weight * soft, soft).mean()
