"""Fusion: stack several frame models by logistic regression on validation crops, then choose the operating point
on held-apart REAL footage (re-encoded at several qualities) so that at most `target_fpr` of real videos are
flagged. The result is a fusion card that `load_scorer` serves like any model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..calibration import threshold_for_fpr
from ..datasets import VIDEO_SUFFIXES, Sample, load_crops, read_manifests
from ..errors import DeepfakeError
from ..evaluate import binary_metrics
from ..media import DEFAULT_NUM_FRAMES
from ..models.card import ModelCard, Tta
from ..models.serving import Scorer

log = logging.getLogger(__name__)


def validation_split(manifest: str | Path) -> tuple[list[Sample], np.ndarray]:
    """The manifest's split=val rows and their labels (1 = FAKE)."""
    val = [s for s in read_manifests(str(manifest)) if s.split == "val"]
    if not val:
        raise DeepfakeError(f"no split=val rows in {manifest}")
    return val, np.array([s.y for s in val])


def component_logits(scorers: Sequence[Scorer], samples: list[Sample], batch_size: int = 64) -> np.ndarray:
    """[N, K] logits of each model on each manifest crop (decoded at the largest input size and brought down for
    the others, as `FusionScorer` serves them)."""
    from ..models.serving import resized_crops

    size = max(s.input_size for s in scorers)
    out = np.zeros((len(samples), len(scorers)))
    for i in range(0, len(samples), batch_size):
        crops = load_crops(samples[i : i + batch_size], size)
        for k, s in enumerate(scorers):
            out[i : i + len(crops), k] = s.logits(resized_crops(crops, s.input_size))
    return out


def self_blended(samples: list[Sample], size: int, share: float, cache_dir: Path, seed: int = 0) -> np.ndarray:
    """Self-blended pseudo-fakes of a random `share` of the REAL samples' crops (one blend each): a second,
    generator-free FAKE family for the stacking set, so the stack also values blending-artefact evidence."""
    import hashlib

    from .landmarks import crop_landmarks
    from .sbi import self_blend

    real = [s for s in samples if s.y == 0]
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(real), int(round(share * len(real))), replace=False).tolist())
    real = [real[i] for i in picked]
    if not real:
        return np.zeros((0, size, size, 3), np.uint8)
    crops = load_crops(real, size)
    key = hashlib.sha1("\n".join(s.path for s in real).encode()).hexdigest()[:12]
    marks = crop_landmarks(crops, np.arange(len(crops)), Path(cache_dir) / f"landmarks_{size}_{key}.npy")
    blends = [self_blend(c, m, rng)[0] for c, m in zip(crops, marks) if not np.isnan(m).any()]
    return np.stack(blends) if blends else np.zeros((0, size, size, 3), np.uint8)


def fit_stack(z: np.ndarray, y: np.ndarray, c: float = 1.0) -> tuple[np.ndarray, float]:
    """Logistic regression on the models' logits: (weights, bias); its output is a calibrated logit."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=c, max_iter=1000).fit(z, y)
    return lr.coef_[0].astype(float), float(lr.intercept_[0])


def fit_fusion(
    z: np.ndarray, y: np.ndarray, mean: bool = False, relative: Sequence[float] | None = None
) -> tuple[np.ndarray, float]:
    """(weights, bias) of the fused logit z @ weights + bias: one weight per model (`fit_stack`), or with `mean`
    fixed weights (equal, or proportional to `relative`) whose common scale and the bias are Platt-fitted on the
    weighted mean logit. Fixed weights are what leave-one-source-out ranked; fitted ones would follow the
    validation sources."""
    if not mean:
        return fit_stack(z, y)
    r = mean_weights(relative, z.shape[1])
    (scale,), bias = fit_stack((z @ r)[:, None], y)
    return scale * r, bias


def mean_weights(relative: Sequence[float] | None, n: int) -> np.ndarray:
    """`relative` (or equal weights) normalised to sum 1; a clear error for a wrong count or sign."""
    r = np.ones(n) if relative is None else np.asarray(relative, np.float64)
    if r.shape != (n,) or not np.isfinite(r).all() or (r < 0).any() or r.sum() <= 0:
        raise DeepfakeError(
            f"mean weights take {n} non-negative numbers (one per model), not all zero; got {list(relative or [])}"
        )
    return r / r.sum()


def recompressed(src_dir: Path, out_dir: Path, settings=((None, 23), (None, 32), (360, 36))) -> list[Path]:
    """Each video of `src_dir` re-encoded with H.264 at (height or None = same, CRF): what a platform's upload
    pipeline does to real footage. Cached: existing outputs are reused."""
    import av

    if not src_dir.is_dir():
        raise DeepfakeError(f"{src_dir} is not a folder of videos")
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for src in sorted(p for p in src_dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES):
        for height, crf in settings:
            dst = out_dir / f"{src.stem}_h{height or 0}_crf{crf}.mp4"
            if not dst.is_file():
                _reencode(av, src, dst, height, crf)
            made.append(dst)
    return made


def _reencode(av, src: Path, dst: Path, height: int | None, crf: int) -> None:
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate or 25
        w, h = vin.codec_context.width, vin.codec_context.height
        if height and h > height:
            w, h = round(w * height / h / 2) * 2, height
        vout = out.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": "veryfast"})
        vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
        for i, frame in enumerate(inp.decode(vin)):
            img = frame.reformat(width=w, height=h, format="yuv420p")
            img.pts, img.time_base = i, Fraction(1) / rate  # frame i at i / rate (None made every timestamp 0)
            for pkt in vout.encode(img):
                out.mux(pkt)
        for pkt in vout.encode():
            out.mux(pkt)
    tmp.rename(dst)


def video_probabilities(
    scorer: Scorer, paths: list[Path], num_frames: int = DEFAULT_NUM_FRAMES, progress=None
) -> np.ndarray:
    """P(FAKE) of each video through the full pipeline (NaN where no face was found)."""
    from ..pipeline import Detector

    detector = Detector(scorer, num_frames=num_frames, threshold=0.5)
    out = []
    for p in progress(paths) if progress else paths:
        r = detector.detect(p)
        out.append(np.nan if r.probability is None else r.probability)
    return np.array(out)


def operating_point(
    scorer: Scorer,
    p_val: np.ndarray,
    y_val: np.ndarray,
    target_fpr: float,
    real_dir: Path | None = None,
    work: Path = Path("data/real_variants"),
    num_frames: int = DEFAULT_NUM_FRAMES,
    progress=None,
) -> dict:
    """Card fields `threshold`, `threshold_rule` and `operating_point` for a calibrated scorer: the lowest threshold
    (≥ 0.5) flagging at most `target_fpr` of the validation REAL crops and, when `real_dir` is given, of its REAL
    videos re-encoded (`recompressed`) and run through the full pipeline; plus what that threshold flags."""
    threshold = threshold_for_fpr(p_val[y_val == 0], target_fpr)
    rule = f"max(0.5, ≤{target_fpr:.0%} of validation REAL crops flagged"
    op: dict = {}
    if real_dir is not None:
        real_p = video_probabilities(scorer, recompressed(real_dir, work), num_frames, progress)
        found = real_p[~np.isnan(real_p)]
        if len(found) == 0:
            raise DeepfakeError(f"no face found in any video of {real_dir}")
        threshold = max(threshold, threshold_for_fpr(found, target_fpr))
        rule += f", ≤{target_fpr:.0%} of held-apart REAL videos flagged"
        op = {
            "real_videos": int(len(found)),
            "real_sources": sorted(p.name for p in real_dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES),
            "real_videos_flagged": float((found >= threshold).mean()),
            "real_videos_no_face": int(np.isnan(real_p).sum()),
        }
    op.update(
        threshold=threshold,
        val_real_crops_flagged=float((p_val[y_val == 0] >= threshold).mean()),
        val_fake_crops_caught=float((p_val[y_val == 1] >= threshold).mean()),
    )
    return {"threshold": threshold, "threshold_rule": rule + ")", "operating_point": op}


def relative_to_card(path: Path, card: Path) -> str:
    """A component's path as a fusion card written at `card` names it (cards resolve components from their folder)."""
    import os

    return os.path.relpath(path.resolve(), card.parent.resolve())


def build_card(name: str, components: list[str], weights: np.ndarray, bias: float, input_size: int) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "fusion",
        "components": components,
        "weights": [float(w) for w in weights],
        "bias": bias,
        "input_size": input_size,
    }


def component_metrics(scorers: Sequence[Scorer], z_val: np.ndarray, y_val: np.ndarray) -> dict[str, Any]:
    """Validation metrics of each component with its own calibration (at 0.5)."""
    return {s.name: binary_metrics(y_val, s.probability(z_val[:, k])) for k, s in enumerate(scorers)}


def write_card(card: dict[str, Any], out: Path) -> None:
    """Write a card built as a dict, through `ModelCard` (so it is checked as `load_scorer` will read it)."""
    ModelCard.from_dict(card, str(out)).save(out)


def fuse_models(
    models: list[str],
    data: str,
    out: Path,
    name: str,
    target_fpr: float,
    real_dir: Path | None,
    work: Path,
    frames: int = DEFAULT_NUM_FRAMES,
    sbi: float = 0.0,
    cache_dir: Path = Path("data/cache"),
    progress=None,
    mean: bool = False,
    tta: Tta | None = None,
    every: list[int] | None = None,
    relative: Sequence[float] | None = None,
) -> dict:
    """Stack frame models (logistic regression on the manifest's validation crops, plus self-blends of `sbi` of its
    REAL crops as a second FAKE family), set the operating point and write the fusion card to `out`. With `mean`,
    the models' logits are averaged with equal weights, or with `relative` ones (the ensembles that
    leave-one-source-out ranks), and only the mean's scale and bias are fitted (Platt). `tta` forces one test-time
    augmentation on every model (recorded in the card as `component_tta`); None keeps each model's own. `every`
    (one step per model, `component_every`) lets costly models score only some of a video's sampled frames, in the
    operating point's videos as when served."""

    from ..models.serving import FusionScorer, load_scorer, resized_crops

    # The card's own checks of `every`, before any model is loaded or crop scored.
    ModelCard(name, kind="fusion", components=tuple(models), component_every=tuple(every or ()))
    if mean:
        mean_weights(relative, len(models))
    scorers = [load_scorer(m, tta=tta) for m in models]
    val, y_val = validation_split(data)
    log.info("scoring %d validation crops with %d models", len(val), len(scorers))
    z_val = component_logits(scorers, val)
    z_fit, y_fit = z_val, y_val
    if sbi > 0:
        blends = self_blended(val, max(s.input_size for s in scorers), sbi, cache_dir)
        z_sbi = np.stack([s.logits(resized_crops(blends, s.input_size)) for s in scorers], axis=1)
        z_fit, y_fit = np.concatenate([z_val, z_sbi]), np.concatenate([y_val, np.ones(len(z_sbi), int)])
    weights, bias = fit_fusion(z_fit, y_fit, mean, relative)
    names = [m if not Path(m).suffix else relative_to_card(Path(m), out) for m in models]
    card = build_card(name, names, weights, bias, max(s.input_size for s in scorers))
    if tta is not None:
        card["component_tta"] = tta
    if every:
        card["component_every"] = list(every)
    fused = FusionScorer(ModelCard.from_dict(card), scorers)
    p_val = fused.probability(z_val @ weights + bias)
    point = operating_point(fused, p_val, y_val, target_fpr, real_dir, work, frames, progress)
    card.update(point, validation=component_metrics(scorers, z_val, y_val))
    card["validation"][name] = binary_metrics(y_val, p_val, point["threshold"])
    if sbi > 0:
        card["stacking_set"] = {
            "validation_crops": int(len(y_val)),
            "self_blends": int(len(z_sbi)),
            "self_blends_caught": float((fused.probability(z_sbi @ weights + bias) >= point["threshold"]).mean()),
        }
    write_card(card, out)
    return card
