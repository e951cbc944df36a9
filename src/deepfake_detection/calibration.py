"""Calibration in one place: Platt scaling of a model's logits and the threshold for a target false-alarm rate.

Used by export (a run's first card), calibrate (a shipped model's card), fusion and the sequence models. Torch-free;
scikit-learn is imported when a fit is asked for.
"""

from __future__ import annotations

import numpy as np

# Platt scaling is a two-parameter fit on thousands of validation logits: no regularisation is wanted, but
# scikit-learn's solver needs a finite C; at 1e4 the fit equals the unregularised one to 3 decimals.
PLATT_C = 1e4


def fit_platt(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """P(FAKE) = sigmoid(a * logit + b), fitted by logistic regression: {"a": a, "b": b}."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=PLATT_C, max_iter=1000).fit(np.asarray(logits, float).reshape(-1, 1), y)
    return {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}


def threshold_for_fpr(real_probs: np.ndarray, target_fpr: float, floor: float = 0.5) -> float:
    """The lowest threshold (≥ floor) at which at most `target_fpr` of these REAL scores are flagged (score ≥ it)."""
    p = np.sort(np.asarray(real_probs, np.float64))[::-1]
    allowed = int(np.floor(target_fpr * len(p)))  # how many may sit at or above the threshold
    if allowed >= len(p):
        return floor
    return float(max(floor, np.nextafter(p[allowed], np.inf)))
