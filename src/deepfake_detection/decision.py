"""The video decision: which faces may decide (quality bar) and the threshold for the most suspicious of k judged
faces, so that adding real faces to a clip does not add false alarms.

With k judged faces the video is flagged when any one of them is over the threshold. If the single-face threshold
t1 flags a share f of real faces, k independent real faces would flag 1 - (1 - f)^k of real videos. So the
threshold for k faces is the one at which a real face is flagged with probability f_k = 1 - (1 - f)^(1/k) (Šidák),
read off a normal fit of the real faces' logits (the tail that a few hundred real faces cannot show directly).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from .models.card import FacesRule, QualityBar  # model-card fields, re-exported: the decision reads them
from .models.serving import logit

__all__ = ["FacesRule", "QualityBar", "decide", "fit_faces_rule", "threshold_for_faces"]


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


def decide(
    probabilities: Sequence[float], judged: Sequence[bool], threshold: float, rule: FacesRule | None
) -> tuple[int | None, float]:
    """(position of the deciding face or None when no face is judged, the threshold it is held to): the most
    suspicious judged face (the first of equals), against the threshold for the number of judged faces."""
    picks = [i for i, ok in enumerate(judged) if ok]
    if not picks:
        return None, threshold
    best = max(picks, key=lambda i: probabilities[i])
    return best, threshold_for_faces(threshold, len(picks), rule)
