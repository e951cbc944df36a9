"""Frame-classifier training: balanced batches drawn by source and method weights, optional self-blends or
distillation from a teacher (`distill`), AdamW with warm-up and cosine decay, checkpoint selection by validation log
loss or per-source AUC (the run state is `loop`)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets import load_crops, read_manifests
from ..errors import DeepfakeError
from ..evaluate import binary_metrics, per_source_auc
from ..models import create_model, model_cfg
from . import distill
from .augment import augment_batch
from .config import TrainConfig, cache_path
from .loop import RunState

log = logging.getLogger(__name__)


def held_out(sample, holdout) -> bool:
    return sample.source in holdout or f"{sample.source}/{sample.method}" in holdout


MIN_SELECT_VIDEOS = 30  # per class, for a source's validation AUC to take part in checkpoint selection


def selection_score(metrics: dict, select: str, val, logits) -> float:
    """Lower is better."""
    if select == "log_loss":
        return metrics["log_loss"]
    if select == "source_auc":
        # Sources with few validation videos of a class (the talking heads: 5 REAL, 7 FAKE) would swing the choice
        # by a pair or two; they are measured but do not select.
        videos: dict[str, dict[int, set]] = {}
        for s in val:
            videos.setdefault(s.source, {0: set(), 1: set()})[s.y].add(s.video or s.path)
        big = {src for src, v in videos.items() if min(len(v[0]), len(v[1])) >= MIN_SELECT_VIDEOS}
        per = per_source_auc(val, logits)
        picked = [v for k, v in per.items() if k in big] or [v for k, v in per.items() if "/" not in k]
        return -float(np.mean(picked))
    raise DeepfakeError(f"select must be log_loss or source_auc, got {select!r}")


def sampling_weights(samples, source_weights: dict, method_weights: dict) -> np.ndarray:
    """Draw probabilities: a source's share follows its weight (not its size); within a source its methods share
    it by their weights; within a (source, method) cell every row is equally likely."""
    from collections import Counter, defaultdict

    cells = Counter((s.source, s.method) for s in samples)
    mw = {c: float(method_weights.get(c[1], 1.0)) for c in cells}
    per_source: dict[str, float] = defaultdict(float)
    for c, cell_weight in mw.items():
        per_source[c[0]] += cell_weight
    w = np.array(
        [
            float(source_weights.get(s.source, 1.0))
            * mw[(s.source, s.method)]
            / max(per_source[s.source], 1e-12)
            / cells[(s.source, s.method)]
            for s in samples
        ]
    )
    if not w.sum() > 0:
        raise DeepfakeError("every training row has weight 0: check source_weights / method_weights")
    return w / w.sum()


def _with_self_blends(xb, yb, x_train, landmarks, sbi_idx, share: float, rng, region: str = "face"):
    """Replace `share` of the batch's FAKE crops by self-blended REAL crops (labelled FAKE)."""
    from .sbi import self_blend

    xb = np.array(xb)
    fakes = np.flatnonzero(yb == 1)
    swap = fakes[rng.random(len(fakes)) < share]
    for slot, src in zip(swap, rng.choice(sbi_idx, len(swap))):
        xb[slot], _ = self_blend(np.asarray(x_train[src]), landmarks[src], rng, region)
    return xb, yb


def predict_logits(model, images: np.ndarray, batch_size: int = 128) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            out.append(model(torch.from_numpy(np.array(images[i : i + batch_size]))).float().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def train_frames(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train the frame classifier `cfg.model` on the manifests' train rows; returns the run directory."""
    import torch
    from tqdm import tqdm

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    size = cfg.input_size or model_cfg(cfg.model).input_size
    if cfg.teacher:
        distill.check(cfg)
    samples = read_manifests(cfg.data, unlabelled=bool(cfg.teacher))
    train_s = [s for s in samples if s.split == "train"]  # held-out rows stay in the cache, never in a batch
    val_s = [s for s in samples if s.split == "val" and s.label]  # teacher-only rows never validate
    if not train_s or not val_s:
        raise DeepfakeError(f"{cfg.data}: needs rows with split=train and split=val")
    bar = (lambda it: tqdm(it, desc="decode crops", unit="img", leave=False)) if progress else None
    x_train = load_crops(train_s, size, cache_path(cfg, train_s, size, "train"), bar)
    x_val = load_crops(val_s, size, cache_path(cfg, val_s, size, "val"), bar)
    y_train = np.array([s.y for s in train_s])
    labelled = np.array([bool(s.label) for s in train_s])  # all True without a teacher
    z_teacher = distill.teacher_logits(cfg, train_s, "train") if cfg.teacher else None
    y_val = np.array([s.y for s in val_s])
    val_used = np.array([not held_out(s, cfg.holdout) for s in val_s])
    log.info(
        "train %d (%d fake), val %d (%d fake); held out: %s",
        len(y_train),
        y_train.sum(),
        len(y_val),
        y_val.sum(),
        cfg.holdout or "nothing",
    )

    model = create_model(cfg.model, pretrained=cfg.pretrained, freeze_blocks=cfg.freeze_blocks).to(
        memory_format=torch.channels_last
    )
    folded = cfg.init_from.endswith(".onnx")
    if folded:
        from ..models._torch import freeze_batchnorm, load_folded_onnx

        load_folded_onnx(model, cfg.init_from)
    elif cfg.init_from:
        model.load_state_dict(torch.load(cfg.init_from, map_location="cpu", weights_only=False)["model"])
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay
    )

    def lr_at(step: int) -> float:
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    state = RunState.open(cfg, model, opt)
    rng = np.random.default_rng([cfg.seed, state.step]) if state.step else np.random.default_rng(cfg.seed)
    if state.step:
        log.info("resumed %s at step %d", state.run, state.step)

    used = np.array([not held_out(s, cfg.holdout) for s in train_s])
    pool = used & labelled  # teacher-only rows (no label) are drawn apart
    real_idx, fake_idx = np.flatnonzero((y_train == 0) & pool), np.flatnonzero((y_train == 1) & pool)
    unlabelled_idx = np.flatnonzero(used & ~labelled)
    n_unlabelled = round(cfg.batch_size * cfg.unlabelled_share) if len(unlabelled_idx) else 0
    if len(real_idx) == 0 or len(fake_idx) == 0:
        raise DeepfakeError(f"holdout {cfg.holdout} leaves no REAL or no FAKE training row")
    real_p = sampling_weights([train_s[i] for i in real_idx], cfg.source_weights, {})
    fake_p = sampling_weights([train_s[i] for i in fake_idx], cfg.source_weights, cfg.method_weights)
    if cfg.sbi > 0:
        from .landmarks import crop_landmarks

        tag = "landmarks" if cfg.sbi_landmarks == 5 else f"landmarks{cfg.sbi_landmarks}"
        landmarks = crop_landmarks(x_train, real_idx, cache_path(cfg, train_s, size, tag), cfg.sbi_landmarks)
        sbi_idx = real_idx[np.isfinite(landmarks[real_idx, 0, 0])]
        if len(sbi_idx) == 0:
            raise DeepfakeError("SBI needs REAL training crops with a detectable face; none was found")
        log.info("SBI: %d of %d REAL crops have landmarks", len(sbi_idx), len(real_idx))
    half = (cfg.batch_size - n_unlabelled) // 2
    loss_fn = torch.nn.BCEWithLogitsLoss()
    pbar = tqdm(total=cfg.max_steps, initial=state.step, desc=cfg.model, unit="step", disable=not progress)
    running = []
    while state.running:
        model.train()
        if folded:
            freeze_batchnorm(model)  # batch statistics would undo the BatchNorms folded into the convolutions
        # Balanced batches: half REAL, half FAKE, so the 1:4.9 imbalance cannot teach "always FAKE" (the labelled
        # part of the batch, when teacher-only rows take `unlabelled_share` of it).
        picks = [
            rng.choice(real_idx, half, p=real_p),
            rng.choice(fake_idx, cfg.batch_size - n_unlabelled - half, p=fake_p),
        ]
        if n_unlabelled:  # teacher-only rows, drawn uniformly
            picks.append(rng.choice(unlabelled_idx, n_unlabelled))
        idx = np.sort(np.concatenate(picks))
        xb, yb = x_train[idx], y_train[idx]
        if cfg.sbi > 0:
            xb, yb = _with_self_blends(xb, yb, x_train, landmarks, sbi_idx, cfg.sbi, rng, cfg.sbi_region)
        if cfg.augment:
            xb = augment_batch(xb, rng, cfg.erase)
        for g in opt.param_groups:
            g["lr"] = lr_at(state.step)
        logits = model(torch.from_numpy(np.ascontiguousarray(xb)))
        if z_teacher is None:
            loss = loss_fn(logits, torch.from_numpy(yb).float())
        else:
            loss = distill.distill_loss(
                logits,
                torch.from_numpy(yb).float(),
                torch.from_numpy(labelled[idx]),
                torch.from_numpy(z_teacher[idx]),
                cfg.distill_weight,
                cfg.distill_temperature,
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state.step += 1
        running.append(loss.item())
        pbar.update(1)
        pbar.set_postfix(loss=f"{np.mean(running[-50:]):.3f}")
        if state.due():
            z_val = predict_logits(model, x_val)
            p_val = 1 / (1 + np.exp(-z_val))
            # The metrics that select the checkpoint: never on held-out rows.
            m: dict[str, Any] = binary_metrics(y_val[val_used], p_val[val_used])
            m["per_source_auc"] = per_source_auc(val_s, z_val)
            m.update(step=state.step, train_loss=float(np.mean(running)), lr=lr_at(state.step), wall_s=state.wall_s)
            running = []
            log.info("step %d val auc %.4f log loss %.4f", state.step, m["auc"], m["log_loss"])
            pbar.write(
                f"step {state.step}: val AUC {m['auc']:.4f}  log loss {m['log_loss']:.4f}  acc {m['accuracy']:.3f}  "
                + "  ".join(f"{k} {v:.3f}" for k, v in m["per_source_auc"].items())
            )
            score = selection_score(m, cfg.select, [s for s, u in zip(val_s, val_used) if u], z_val[val_used])
            state.evaluated(model, opt, m, score)
    pbar.close()
    return state.run
