"""Training-time augmentation on uint8 RGB face crops (numpy + OpenCV, cheap at 128 px).

Each transform imitates something real footage does to a face crop: detector box jitter, mirror, light, dark
rooms (gamma), low resolution, blur and recompression.
"""

from __future__ import annotations

import cv2
import numpy as np


def augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    if rng.random() < 0.5:
        img = img[:, ::-1]
    # Box jitter: the detector never frames a face exactly like the training crop did.
    angle, scale = rng.uniform(-8, 8), rng.uniform(0.92, 1.1)
    m = np.asarray(cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale), np.float64)
    m[:, 2] += rng.uniform(-0.05, 0.05, 2) * (w, h)
    img = cv2.warpAffine(np.ascontiguousarray(img), m, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    # Light: brightness, contrast, saturation, gamma.
    x = img.astype(np.float32) / 255.0
    x = (x - 0.5) * rng.uniform(0.75, 1.25) + 0.5 + rng.uniform(-0.12, 0.12)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.7, 1.3)
    x = np.clip(x, 0, 1) ** rng.uniform(0.7, 1.5)
    img = (x * 255.0 + 0.5).astype(np.uint8)
    if rng.random() < 0.25:  # low-resolution source face, upscaled back
        f = rng.uniform(0.35, 0.8)
        small = cv2.resize(img, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.1:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.3))
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 96))])
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None
        img = img if decoded is None else decoded
    return img


def erase(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random erasing: one rectangle (2-25 % of the crop, aspect 1:3 to 3:1) filled with one flat grey.

    A fake's tell-tale region (a blended jaw line, a re-rendered mouth) is sometimes hidden, so the model cannot
    lean on one region alone; a flat fill adds no texture that could itself pass for an artefact.
    """
    h, w = img.shape[:2]
    area = rng.uniform(0.02, 0.25) * h * w
    aspect = np.exp(rng.uniform(np.log(1 / 3), np.log(3)))
    eh, ew = min(h, round(np.sqrt(area * aspect))), min(w, round(np.sqrt(area / aspect)))
    y, x = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
    out = img.copy()
    out[y : y + eh, x : x + ew] = int(rng.integers(0, 256))
    return out


def augment_batch(batch: np.ndarray, rng: np.random.Generator, erase_p: float = 0.0) -> np.ndarray:
    """`augment` every crop; then, with probability `erase_p` each, `erase` one rectangle of it."""
    out = [augment(im, rng) for im in batch]
    return np.stack([erase(im, rng) if erase_p > 0 and rng.random() < erase_p else im for im in out])
