"""Landmark dynamics: how a face's landmarks move over a track, the original design's steps 5-6.

Face swaps and reenactments paste or synthesise the inner face frame by frame; the result tends to jitter
against the head, breathe in size, and turn inconsistently with the head's pose. Each feature below is built so
that larger means less consistent, and the model (logistic regression with non-negative weights, numpy at
serving time) can only add suspicion for inconsistency: it cannot learn a dataset quirk with the opposite sign.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURES = (
    "jitter",  # median |2nd difference| of head-normalised landmarks
    "jitter_vs_motion",  # jitter relative to how much the head itself moves
    "eye_distance_cv",  # variation of eye distance relative to face size
    "mouth_eye_ratio_std",  # variation of mouth width relative to eye distance
    "pose_shape_mismatch",  # eye distance failing to shrink when the nose turns away (yaw proxy)
    "high_freq_energy",  # share of trajectory energy in the upper half of the spectrum
    "centre_drift",  # landmark centre wandering inside the detection box
)
MIN_FRAMES = 6


def _normalised(landmarks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Landmarks [T, 5, 2] in box coordinates: centred on the box centre, divided by the box side."""
    centre = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return (landmarks - centre[:, None, :]) / side[:, None, None]


def track_features(landmarks, boxes) -> np.ndarray | None:
    """The FEATURES vector of one face track (landmarks [T, 5, 2], boxes [T, 4] x1y1x2y2), or None if too short."""
    lm = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    bx = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(lm) < MIN_FRAMES:
        return None
    n = _normalised(lm, bx)
    side = np.maximum(bx[:, 2] - bx[:, 0], bx[:, 3] - bx[:, 1])
    jitter = float(np.median(np.abs(np.diff(n, n=2, axis=0))))
    centre = np.stack([(bx[:, 0] + bx[:, 2]) / 2, (bx[:, 1] + bx[:, 3]) / 2], axis=1) / side.mean()
    motion = float(np.median(np.abs(np.diff(centre, axis=0)))) + 1e-3
    eye = np.linalg.norm(n[:, 1] - n[:, 0], axis=1)
    mouth = np.linalg.norm(n[:, 4] - n[:, 3], axis=1)
    yaw = np.abs(n[:, 2, 0] - (n[:, 0, 0] + n[:, 1, 0]) / 2) / np.maximum(eye, 1e-3)
    # Real heads: turning away (yaw up) shortens the projected eye distance, so corr(yaw, eye) < 0.
    corr = np.corrcoef(yaw, eye)[0, 1] if yaw.std() > 1e-6 and eye.std() > 1e-6 else 0.0
    traj = n.reshape(len(n), -1) - n.reshape(len(n), -1).mean(axis=0)
    power = np.abs(np.fft.rfft(traj, axis=0)) ** 2
    half = power.shape[0] // 2
    hf = float(power[half:].sum() / max(power[1:].sum(), 1e-12))
    drift = float(np.std(n.mean(axis=1), axis=0).sum())
    return np.array(
        [
            jitter,
            jitter / motion,
            float(eye.std() / max(eye.mean(), 1e-6)),
            float(np.std(mouth / np.maximum(eye, 1e-6))),
            float(max(0.0, 1.0 + corr)),
            hf,
            drift,
        ]
    )


@dataclass(frozen=True)
class DynamicsModel:
    """Standardised features -> P(FAKE) with non-negative weights; `explain` names the most telling signal."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def probability(self, features: np.ndarray) -> float:
        z = (features - self.mean) / self.scale
        return float(1 / (1 + np.exp(-(z @ self.weights + self.bias))))

    def explain(self, features: np.ndarray) -> str:
        contrib = (features - self.mean) / self.scale * self.weights
        return FEATURES[int(np.argmax(contrib))]

    def to_json(self) -> dict:
        return {
            "features": list(FEATURES),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "bias": self.bias,
        }

    @classmethod
    def from_json(cls, d: dict) -> DynamicsModel:
        if tuple(d["features"]) != FEATURES:
            raise ValueError("dynamics model was fitted on other features")
        return cls(np.array(d["mean"]), np.array(d["scale"]), np.array(d["weights"]), float(d["bias"]))

    @classmethod
    def load(cls, path: str | Path) -> DynamicsModel:
        return cls.from_json(json.loads(Path(path).read_text()))


def fit_dynamics(X: np.ndarray, y: np.ndarray, l2: float = 1.0) -> DynamicsModel:
    """Logistic regression with weights >= 0 (L-BFGS-B with bounds) on standardised features."""
    from scipy.optimize import minimize

    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-9
    Z = (X - mean) / scale
    sw = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))  # balanced classes

    def loss(theta):
        w, b = theta[:-1], theta[-1]
        s = Z @ w + b
        ll = np.logaddexp(0, s) - y * s
        p = 1 / (1 + np.exp(-s))
        g = sw * (p - y)
        value = (sw * ll).sum() / len(y) + l2 * (w @ w) / (2 * len(y))
        grad = np.concatenate([Z.T @ g / len(y) + l2 * w / len(y), [g.sum() / len(y)]])
        return value, grad

    bounds = [(0, None)] * Z.shape[1] + [(None, None)]
    res = minimize(loss, np.zeros(Z.shape[1] + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    return DynamicsModel(mean, scale, res.x[:-1], float(res.x[-1]))
