"""The video decision: which faces may decide (quality bar) and the threshold for the most suspicious of k judged
faces, so that adding real faces to a clip does not add false alarms.

With k judged faces the video is flagged when any one of them is over the threshold. If the single-face threshold
t1 flags a share f of real faces, k independent real faces would flag 1 - (1 - f)^k of real videos. So the
threshold for k faces is the one at which a real face is flagged with probability f_k = 1 - (1 - f)^(1/k) (Šidák),
read off a normal fit of the real faces' logits (the tail that a few hundred real faces cannot show directly).

Content credentials (C2PA) are weighed here too, one way only: intact credentials that declare AI generation or AI
editing make the verdict FAKE; nothing in credentials ever makes it REAL (a capture declaration says nothing of
what was in front of the camera, and damaged credentials prove nothing either way: they are a warning).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from .models.card import FacesRule, QualityBar  # model-card fields, re-exported: the decision reads them
from .models.serving import logit
from .report import Provenance

__all__ = [
    "FacesRule",
    "QualityBar",
    "credentials_decide",
    "credentials_warnings",
    "decide",
    "fit_faces_rule",
    "threshold_for_faces",
]


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


def credentials_decide(p: Provenance) -> bool:
    """True when content credentials make the verdict FAKE: they declare AI generation or AI editing and are intact,
    and, when a trust list is set, signed under one of its anchors. Without a trust list any intact signature
    counts: declaring one's own file AI-made is a statement against interest, and the reason says the signer was
    not checked. With one, a signer off the list cannot turn a real clip FAKE (see docs/SECURITY.md)."""
    return p.declares_ai and (p.state == "valid" or (p.state == "untrusted" and not p.trust_list))


def credentials_warnings(p: Provenance) -> list[str]:
    """What a person should know about the credentials beyond the verdict (damaged, unreadable, unbelieved)."""
    if p.state == "invalid":
        return [f"{p.summary}: not used in the verdict"]
    if p.state == "unchecked" and p.error:
        return [f"{p.summary}; judged on the pixels alone"]
    if p.state == "untrusted" and p.declares_ai and p.trust_list:
        return [
            "the content credentials declare AI-generated media, but their signer is not on the trust list: "
            "not used in the verdict"
        ]
    return []
