"""Sequence-model training: frozen CNN features per face frame, cached once; a GRU learns over face tracks.

Input is an `extract-faces` manifest (several crops per video, with `video`, `track` and `time`). One sequence is
one face track; its label and group are its video's.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..calibration import fit_platt
from ..datasets import Sample, load_crops, read_manifest
from ..errors import DeepfakeError
from ..evaluate import binary_metrics
from ..models import create_model, model_cfg
from .config import TrainConfig
from .loop import RunState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Track:
    key: str
    rows: list[int]  # manifest row numbers in time order
    y: int
    group: str
    split: str


def tracks_from(samples: list[Sample]) -> list[Track]:
    by: dict[tuple[str, int], list[int]] = {}
    for i, s in enumerate(samples):
        by.setdefault((s.video or s.path, s.track), []).append(i)
    out = []
    for (video, track), rows in sorted(by.items()):
        rows.sort(key=lambda i: samples[i].time)
        s = samples[rows[0]]
        out.append(Track(f"{video}#{track}", rows, s.y, s.group, s.split))
    return out


def cached_features(
    samples: list[Sample], backbone: int, size: int, cache_dir: str, threads: int, progress=None
) -> np.ndarray:
    """Pooled ImageNet features [N, 1280] for every crop, computed once and kept in an .npy file."""
    import torch

    key = hashlib.sha1(("\n".join(s.path for s in samples) + f"|lite{backbone}|{size}").encode()).hexdigest()[:12]
    cache = Path(cache_dir) / f"features_lite{backbone}_{size}_{key}.npy"
    if cache.is_file():
        return np.load(cache)
    from ..models.families.sequence import feature_extractor

    torch.set_num_threads(threads)
    net = feature_extractor(backbone)
    feats = []
    chunks = range(0, len(samples), 64)
    with torch.inference_mode():
        for i in progress(chunks) if progress else chunks:
            crops = load_crops(samples[i : i + 64], size)
            feats.append(net(torch.from_numpy(np.array(crops))).numpy())
    arr = np.concatenate(feats).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, arr)
    return arr


def _windows(tracks: list[Track], feats: np.ndarray, seq_len: int, rng=None) -> np.ndarray:
    """One [seq_len, F] window per track: a random contiguous window when training, the evenly spread frames
    when evaluating; short tracks repeat their frames."""
    out = np.empty((len(tracks), seq_len, feats.shape[1]), np.float32)
    for k, t in enumerate(tracks):
        n = len(t.rows)
        if rng is not None and n > seq_len:
            start = int(rng.integers(0, n - seq_len + 1))
            idx = np.arange(start, start + seq_len)
        else:
            idx = np.linspace(0, n - 1, seq_len).round().astype(int)
        out[k] = feats[np.asarray(t.rows)[idx]]
    return out


def predict_tracks(model, tracks, feats, seq_len: int) -> np.ndarray:
    import torch

    model.eval()
    with torch.inference_mode():
        return model(torch.from_numpy(_windows(tracks, feats, seq_len))).numpy()


def train_sequence(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train a registered sequence model on face tracks (seq_len frames per window); returns the run directory."""
    import torch
    from tqdm import tqdm

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    mcfg = model_cfg(cfg.model)
    samples = read_manifest(cfg.data)
    bar = (lambda it: tqdm(it, desc="features", unit="batch", leave=False)) if progress else None
    feats = cached_features(
        samples, mcfg.extra["backbone"], cfg.input_size or mcfg.input_size, cfg.cache_dir, cfg.threads, bar
    )
    tracks = tracks_from(samples)
    train_t = [t for t in tracks if t.split == "train"]
    val_t = [t for t in tracks if t.split == "val"]
    if not train_t or not val_t:
        raise DeepfakeError(f"{cfg.data}: needs face tracks with split=train and split=val")
    y_val = np.array([t.y for t in val_t])
    model = create_model(cfg.model)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = RunState.open(cfg, model, opt)
    rng = np.random.default_rng([cfg.seed, state.step])
    real = [t for t in train_t if t.y == 0]
    fake = [t for t in train_t if t.y == 1]
    half = cfg.batch_size // 2
    loss_fn = torch.nn.BCEWithLogitsLoss()
    pbar = tqdm(total=cfg.max_steps, initial=state.step, desc=cfg.model, unit="step", disable=not progress)
    while state.running:
        model.train()
        batch = [real[i] for i in rng.integers(0, len(real), half)] + [
            fake[i] for i in rng.integers(0, len(fake), cfg.batch_size - half)
        ]
        x = torch.from_numpy(_windows(batch, feats, cfg.seq_len, rng))
        y = torch.tensor([t.y for t in batch], dtype=torch.float32)
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state.step += 1
        pbar.update(1)
        if state.due():
            p = 1 / (1 + np.exp(-predict_tracks(model, val_t, feats, cfg.seq_len)))
            m = binary_metrics(y_val, p) | {"step": state.step, "train_loss": loss.item(), "wall_s": state.wall_s}
            state.evaluated(model, opt, m, m["log_loss"])
    pbar.close()
    return state.run


def score_sequence_run(run: str | Path, manifest: str | Path, split: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(labels, P(FAKE)) per video for a trained sequence run: Platt-calibrated on the run's validation tracks,
    the most suspicious track deciding, as in the detect pipeline."""
    import torch

    from ..models.card import Calibration

    ck = torch.load(Path(run) / "best.pt", map_location="cpu", weights_only=False)
    cfg = TrainConfig(**ck["cfg"])
    mcfg = model_cfg(cfg.model)
    model = create_model(cfg.model)
    model.load_state_dict(ck["model"])
    size = cfg.input_size or mcfg.input_size

    def tracks_and_feats(path):
        samples = read_manifest(path)
        return tracks_from(samples), cached_features(samples, mcfg.extra["backbone"], size, cfg.cache_dir, cfg.threads)

    val_tracks, val_feats = tracks_and_feats(cfg.data)
    val_tracks = [t for t in val_tracks if t.split == "val"]
    calib = fit_platt(predict_tracks(model, val_tracks, val_feats, cfg.seq_len), np.array([t.y for t in val_tracks]))
    tracks, feats = tracks_and_feats(manifest)
    tracks = [t for t in tracks if split is None or t.split == split]
    p = Calibration(**calib)(predict_tracks(model, tracks, feats, cfg.seq_len))
    by_video: dict[str, tuple[int, float]] = {}
    for t, pt in zip(tracks, p):
        video = t.key.rsplit("#", 1)[0]
        by_video[video] = (t.y, max(pt, by_video.get(video, (0, 0.0))[1]))
    y, pv = zip(*by_video.values()) if by_video else ((), ())
    return np.array(y), np.array(pv)
