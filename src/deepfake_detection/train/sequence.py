"""Sequence-model training: frozen CNN features per face frame, cached once; a GRU learns over face tracks.

Input is one or more `extract-faces` manifests (several crops per video, with `video`, `track` and `time`). One
sequence is one face track; its label and group are its video's. The per-frame network is ImageNet Lite0/Lite2
(the stand-ins) or a frame model trained here first (`backbone_from`: a run or its exported .onnx).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..calibration import fit_platt
from ..datasets import Sample, load_crops, read_manifests
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


FeatureFn = Callable[[np.ndarray], np.ndarray]  # uint8 crops [N, S, S, 3] -> features [N, F]


@dataclass(frozen=True)
class Backbone:
    """A sequence model's frozen per-frame network: the tag that names its cached features, the crop side it reads,
    and how to build it (only when features are not cached yet)."""

    tag: str  # "lite0" (ImageNet stand-in) or "<frame model>-<sha1 of the checkpoint or .onnx, 8 hex>"
    size: int
    build: Callable[[], FeatureFn]


def backbone_of(cfg: TrainConfig) -> Backbone:
    """The per-frame network of sequence model `cfg.model`: `cfg.backbone_from` when set, else its ImageNet
    stand-in; models without one (inceptionv3_gru, efficientnet_b2_gru) need `backbone_from`."""
    extra = model_cfg(cfg.model).extra
    frame_model = extra.get("frame_model", "")
    if cfg.backbone_from:
        if not frame_model:
            raise DeepfakeError(f"{cfg.model} takes no backbone_from: its features are ImageNet {extra['backbone']}")
        return frame_run_backbone(cfg.backbone_from, frame_model, cfg.input_size, cfg.threads)
    if "backbone" not in extra:
        raise DeepfakeError(
            f"{cfg.model} needs backbone_from: a trained {frame_model} frame run (its directory, best.pt or exported "
            f".onnx); no ImageNet weights for {frame_model} install offline"
        )
    variant = int(extra["backbone"])

    def build() -> FeatureFn:
        from ..models.families.sequence import feature_extractor

        return _torch_features(feature_extractor(variant))

    return Backbone(f"lite{variant}", cfg.input_size or model_cfg(cfg.model).input_size, build)


def frame_run_backbone(path: str, frame_model: str, input_size: int = 0, threads: int = 2) -> Backbone:
    """The network of a trained `frame_model` run without its classifier: `path` is the run directory, its
    best.pt / last.pt, or its exported .onnx (cut before the classifier, run with ONNX Runtime). Features are read at
    the size the run was trained at unless `input_size` says otherwise."""
    import torch
    import yaml

    p = Path(path)
    p = p / "best.pt" if p.is_dir() else p
    if not p.is_file():
        raise DeepfakeError(f"backbone_from {path}: no such file")
    digest = hashlib.sha1(p.read_bytes()).hexdigest()[:8]
    if p.suffix == ".onnx":
        card = json.loads(p.with_suffix(".json").read_text()) if p.with_suffix(".json").is_file() else {}
        arch, size = card.get("architecture", ""), int(card.get("input_size", 0))

        def build() -> FeatureFn:
            return _onnx_features(p, threads)

    else:
        ck = torch.load(p, map_location="cpu", weights_only=False)
        run_cfg = ck.get("cfg") or yaml.safe_load((p.parent / "config.yaml").read_text())  # last.pt keeps no cfg
        arch = run_cfg["model"]
        size = run_cfg.get("input_size") or model_cfg(arch).input_size

        def build() -> FeatureFn:
            from ..models.families.sequence import frame_features

            model = create_model(arch, pretrained=False)
            model.load_state_dict(ck["model"])
            return _torch_features(frame_features(model))

    if arch != frame_model:
        raise DeepfakeError(
            f"backbone_from {path} is a {arch or 'unknown'} model; this sequence model takes {frame_model}"
        )
    if input_size and input_size != size:
        log.warning("backbone %s was trained at %d px; its features are read at %d px", p, size, input_size)
    return Backbone(f"{arch}-{digest}", input_size or size, build)


def _torch_features(net) -> FeatureFn:
    import torch

    def run(crops: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(np.ascontiguousarray(crops))).float().numpy()

    return run


def _onnx_features(path: Path, threads: int) -> FeatureFn:
    """An exported frame classifier cut before its classifier (the last Gemm/MatMul on the way to the output)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    weights = {init.name for init in graph.initializer}
    name = graph.output[0].name
    while name in producer and producer[name].op_type not in ("Gemm", "MatMul"):
        name = producer[name].input[0]
    if name not in producer:
        raise DeepfakeError(f"{path}: no classifier layer (Gemm/MatMul) found before its output")
    feats = next(i for i in producer[name].input if i not in weights)
    sub = onnx.utils.Extractor(model).extract_model([graph.input[0].name], [feats])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    session = ort.InferenceSession(sub.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def run(crops: np.ndarray) -> np.ndarray:
        return session.run(None, {graph.input[0].name: np.ascontiguousarray(crops)})[0].astype(np.float32)

    return run


def cached_features(
    samples: list[Sample], backbone: Backbone, cache_dir: str, threads: int, progress=None
) -> np.ndarray:
    """Pooled features [N, F] for every crop, computed once and kept in an .npy file named by the backbone."""
    import torch

    named = "\n".join(s.path for s in samples) + f"|{backbone.tag}|{backbone.size}"
    key = hashlib.sha1(named.encode()).hexdigest()[:12]
    cache = Path(cache_dir) / f"features_{backbone.tag}_{backbone.size}_{key}.npy"
    if cache.is_file():
        return np.load(cache)
    torch.set_num_threads(threads)
    net = backbone.build()
    feats = []
    chunks = range(0, len(samples), 64)
    for i in progress(chunks) if progress else chunks:
        feats.append(net(np.asarray(load_crops(samples[i : i + 64], backbone.size))))
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
    samples = read_manifests(cfg.data)
    bar = (lambda it: tqdm(it, desc="features", unit="batch", leave=False)) if progress else None
    feats = cached_features(samples, backbone_of(cfg), cfg.cache_dir, cfg.threads, bar)
    if feats.shape[1] != mcfg.extra["feature_dim"]:
        raise DeepfakeError(f"{cfg.model} takes {mcfg.extra['feature_dim']} features per frame, got {feats.shape[1]}")
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
    model = create_model(cfg.model)
    model.load_state_dict(ck["model"])
    backbone = backbone_of(cfg)

    def tracks_and_feats(path):
        samples = read_manifests(str(path))
        return tracks_from(samples), cached_features(samples, backbone, cfg.cache_dir, cfg.threads)

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
