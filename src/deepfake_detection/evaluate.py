"""Metrics for binary FAKE-vs-REAL scores (scikit-learn), used by training, evaluation and model cards."""

from __future__ import annotations

import numpy as np

EPS = 1e-6


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |accuracy - confidence| over equal-width probability bins (of P(FAKE))."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            ece += sel.mean() * abs(y[sel].mean() - p[sel].mean())
    return float(ece)


def equal_error_rate(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, p)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def tpr_at_fpr(y: np.ndarray, p: np.ndarray, target_fpr: float) -> tuple[float, float]:
    """(TPR, threshold) at the largest threshold whose false-positive rate on REAL stays ≤ target_fpr."""
    y, p = np.asarray(y), np.asarray(p, float)
    real = np.sort(p[y == 0])
    if len(real) == 0:
        return float("nan"), 0.5
    k = int(np.floor(target_fpr * len(real)))
    thr = float(np.nextafter(real[len(real) - k - 1], 1.0)) if k < len(real) else 0.0
    return float((p[y == 1] >= thr).mean()), thr


def binary_metrics(y, p, threshold: float = 0.5) -> dict[str, float]:
    """AUC, log loss, EER, AP, balanced accuracy and accuracy at `threshold`, ECE, and the always-FAKE baseline."""
    from sklearn.metrics import average_precision_score, balanced_accuracy_score, log_loss, roc_auc_score

    y = np.asarray(y, int)
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    pred = (p >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "n": int(len(y)),
        "n_fake": int(y.sum()),
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "eer": equal_error_rate(y, p) if both else float("nan"),
        "ap": float(average_precision_score(y, p)) if both else float("nan"),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if both else float("nan"),
        "accuracy": float((pred == y).mean()),
        "always_fake_accuracy": float(y.mean()),
        "ece": expected_calibration_error(y, p),
        "threshold": float(threshold),
    }
