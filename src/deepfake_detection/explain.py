"""Why a face scored as it did: an occlusion-sensitivity heatmap on its most suspicious crop, and the pictures a
person needs to check it (the crop, the crop under the heatmap, the frame with the face box).

Occlusion (Zeiler & Fergus, 2014) asks the served model itself, so it works for any ONNX scorer without gradients:
each cell of a grid is greyed out in turn and the drop of the FAKE logit is that cell's weight. Like Grad-CAM it
answers "which region carried the evidence", at the cost of grid² extra crops (64 at the default 8×8).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import cv2
import numpy as np

FRAME_SIDE = 640  # longest side of the annotated frame picture


def occlusion_map(
    logits: Callable[[np.ndarray], np.ndarray], crop: np.ndarray, grid: int = 8, patch: float = 0.25
) -> np.ndarray:
    """FAKE-logit drop when each of grid×grid regions of `crop` [S, S, 3] is covered by its mean colour.

    Returns a [grid, grid] array in [0, 1] (1: the region whose removal lowers the FAKE score most); all zeros when
    no region lowers it.
    """
    side = crop.shape[0]
    size = max(1, round(side * patch))
    starts = np.round(np.linspace(0, side - size, grid)).astype(int)
    fill = crop.reshape(-1, 3).mean(0).astype(np.uint8)
    batch = np.repeat(crop[None], grid * grid + 1, axis=0)  # slot 0 stays intact: the reference score
    for i, y in enumerate(starts):
        for j, x in enumerate(starts):
            batch[1 + i * grid + j, y : y + size, x : x + size] = fill
    scores = np.asarray(logits(batch), np.float64)
    drop = np.clip(scores[0] - scores[1:], 0.0, None).reshape(grid, grid)
    peak = drop.max()
    return drop / peak if peak > 0 else drop


def heat_overlay(crop: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The crop with the heatmap blended over it (RGB uint8, same size as the crop)."""
    side = crop.shape[0]
    up = cv2.resize(heat.astype(np.float32), (side, side), interpolation=cv2.INTER_CUBIC)
    colour = cv2.applyColorMap(np.clip(up * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    return cv2.addWeighted(crop, 1 - alpha, colour, alpha, 0)


def frame_with_box(rgb: np.ndarray, box, label: str = "") -> np.ndarray:
    """The frame scaled to at most FRAME_SIDE px with the face box (and a label) drawn on it."""
    scale = min(1.0, FRAME_SIDE / max(rgb.shape[:2]))
    img = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb.copy()
    x1, y1, x2, y2 = (int(round(v * scale)) for v in box)
    thick = max(2, round(max(img.shape[:2]) / 240))
    cv2.rectangle(img, (x1, y1), (x2, y2), (255, 40, 40), thick)
    if label:
        font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thick / 2
        (tw, th), _ = cv2.getTextSize(label, font, size, thick)
        x = min(max(0, x1), max(0, img.shape[1] - tw - 2))  # keep the label inside the picture
        cv2.putText(img, label, (x, max(th + 2, y1 - 6)), font, size, (255, 40, 40), thick, cv2.LINE_AA)
    return img


def encode_jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def b64_jpeg(rgb: np.ndarray) -> str:
    return base64.b64encode(encode_jpeg(rgb)).decode("ascii")
