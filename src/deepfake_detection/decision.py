"""The video decision: which faces may decide (quality bar) and the threshold for the most suspicious of k judged
faces, so that adding real faces to a clip does not add false alarms.

With k judged faces the video is flagged when any one of them is over the threshold. If the single-face threshold
t1 flags a share f of real faces, k independent real faces would flag 1 - (1 - f)^k of real videos. So the
threshold for k faces is the one at which a real face is flagged with probability f_k = 1 - (1 - f)^(1/k) (Šidák),
read off a normal fit of the real faces' logits (the tail that a few hundred real faces cannot show directly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from .models.serving import logit


@dataclass(frozen=True)
class QualityBar:
    """Faces below any of these are reported but do not decide."""

    min_size: float = 48.0  # px, median shorter box side: smaller faces are mostly upscaling blur
    min_sharpness: float = 0.1  # median `faces.sharpness`: below, the crop is mostly upscaling or focus blur
    max_yaw: float = 60.0  # degrees, median: profile views show half a face
    min_frames: int = 3  # sampled frames a track must cover (fewer when fewer were sampled: a photo needs 1)

    @classmethod
    def from_card(cls, card: dict) -> QualityBar:
        return cls(**card.get("quality_bar", {}))

    def reasons(self, size: float, sharpness: float, yaw: float, frames: int, sampled: int) -> list[str]:
        """Why a face cannot be judged (empty: it can)."""
        out = []
        if size < self.min_size:
            out.append(f"small ({size:.0f} px < {self.min_size:.0f} px)")
        if sharpness < self.min_sharpness:
            out.append(f"blurred (sharpness {sharpness:.2f} < {self.min_sharpness:.2f})")
        if yaw > self.max_yaw:
            out.append(f"turned away (yaw {yaw:.0f}° > {self.max_yaw:.0f}°)")
        need = min(self.min_frames, max(1, sampled))
        if frames < need:
            out.append(f"seen in {frames} sampled frame(s) < {need}")
        return out


@dataclass(frozen=True)
class FacesRule:
    """Normal fit of the calibrated logits of real judged faces (from `calibrate`); None: one threshold for all."""

    real_logit_mean: float
    real_logit_std: float

    @classmethod
    def from_card(cls, card: dict) -> FacesRule | None:
        rule = card.get("faces_rule")
        return cls(rule["real_logit_mean"], rule["real_logit_std"]) if rule else None


def threshold_for_faces(threshold: float, k: int, rule: FacesRule | None) -> float:
    """The P(FAKE) threshold for the most suspicious of `k` judged faces (k ≤ 1 or no rule: `threshold`)."""
    if rule is None or k <= 1 or rule.real_logit_std <= 0:
        return threshold
    normal = NormalDist(rule.real_logit_mean, rule.real_logit_std)
    f1 = 1.0 - normal.cdf(logit(threshold))  # share of real faces the single-face threshold flags (fitted)
    fk = -math.expm1(math.log1p(-f1) / k)  # 1 - (1 - f1)^(1/k), stable for small f1
    fk = min(max(fk, 1e-12), 1 - 1e-12)
    z = normal.inv_cdf(1.0 - fk)
    return max(threshold, float(1.0 / (1.0 + math.exp(-z))))


def fit_faces_rule(real_face_probs: np.ndarray) -> FacesRule:
    """Robust normal fit (median, 1.4826 × MAD) of the logits of real judged faces' calibrated P(FAKE)."""
    z = np.log(np.clip(real_face_probs, 1e-9, 1 - 1e-9) / np.clip(1 - real_face_probs, 1e-9, 1))
    med = float(np.median(z))
    return FacesRule(med, float(1.4826 * np.median(np.abs(z - med))) or float(np.std(z)))


def decide(probabilities, judged, threshold: float, rule: FacesRule | None) -> tuple[int | None, float]:
    """(position of the deciding face or None when no face is judged, the threshold it is held to): the most
    suspicious judged face (the first of equals), against the threshold for the number of judged faces."""
    picks = [i for i, ok in enumerate(judged) if ok]
    if not picks:
        return None, threshold
    best = max(picks, key=lambda i: probabilities[i])
    return best, threshold_for_faces(threshold, len(picks), rule)
