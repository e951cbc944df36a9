"""Self-blended images (SBI; Shiohara & Yamasaki, CVPR 2022): pseudo-fakes made from REAL faces only.

A face is blended with a slightly altered copy of itself inside a soft, randomly deformed face mask. The result
keeps the identity but carries what face swaps leave behind: a blending boundary, a colour or sharpness
mismatch and a small misalignment. A detector trained on these learns those generic traces rather than the
fingerprints of one generator.
"""

from __future__ import annotations

import cv2
import numpy as np

REGIONS = ("face", "lower")  # where a self-blend may fall: the whole face, or the mouth and jaw only


def _lower_points(pts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Outline of a lower-face blend: half the time the mouth alone (its landmarks widened, more in height), else the
    region from the nose tip down to the chin, cheek to cheek. Reenactment and lip-sync re-render these parts."""
    if len(pts) == 68:
        mouth, lower = pts[48:68], np.concatenate([pts[3:14], pts[30:36]])  # iBUG: jaw 3-13, nose tip and base
        chin = pts[8]
    else:  # five points: eyes, nose, mouth corners; guess the rest from the eye-to-mouth line
        eye_mid, mouth_mid = pts[:2].mean(axis=0), pts[3:5].mean(axis=0)
        down = mouth_mid - eye_mid
        chin = mouth_mid + 0.6 * down
        mouth = np.stack([pts[3], pts[4], mouth_mid - 0.25 * down, mouth_mid + 0.25 * down])
        wide = (pts[3:5] - mouth_mid) * 1.9 + mouth_mid
        lower = np.concatenate([pts[2:3], wide - 0.3 * down, wide + 0.3 * down, chin[None]])
    if rng.random() < 0.5:
        centre = mouth.mean(axis=0)
        # A closed mouth is a thin line: widen it more in height so the blend takes the lips and their surround.
        scale = np.array([rng.uniform(1.2, 1.6), rng.uniform(1.5, 2.5)], np.float32)
        return centre + (mouth - centre) * scale
    # Lower the top edge by a random share of nose-to-chin, so the blend line does not always cross the nose.
    top = lower[:, 1].min()
    cut = top + rng.uniform(0.0, 0.3) * (chin[1] - top)
    lower = lower.copy()
    lower[:, 1] = np.maximum(lower[:, 1], cut)
    return lower


def _hull_points(landmarks: np.ndarray, rng: np.random.Generator, region: str = "face") -> np.ndarray:
    """Outline points of the region to blend: the 68-point hull with the brows lifted towards the forehead, or, from
    five points (eyes, nose, mouth corners), the points plus guessed brow and chin points; `region="lower"`: the
    mouth or the nose-to-chin region only."""
    pts = np.asarray(landmarks, np.float32).reshape(-1, 2)
    if region == "lower":
        return _lower_points(pts, rng)
    centre = pts.mean(axis=0)
    if len(pts) == 68:
        # iBUG order: 0-16 jaw, 17-26 brows, 27-35 nose, 36-47 eyes, 48-67 mouth. The hull of the 68 points stops at
        # the brows; SBI's 81-point masks reach the forehead, so lift the brows by a random share of brow-to-chin.
        up = pts[8] - pts[17:27].mean(axis=0)
        brows = pts[17:27] - up * rng.uniform(0.0, 0.25)
        return np.concatenate([pts[:17], brows])
    eye_mid, mouth_mid = pts[:2].mean(axis=0), pts[3:5].mean(axis=0)
    down = mouth_mid - eye_mid
    # Add brow and chin points so the mask reaches forehead and jaw like a landmark hull of 68 points would.
    extra = np.stack(
        [
            eye_mid - 0.7 * down + (pts[0] - eye_mid) * 1.2,
            eye_mid - 0.7 * down + (pts[1] - eye_mid) * 1.2,
            mouth_mid + 0.6 * down,
        ]
    )
    pts = np.concatenate([pts, extra])
    scale = rng.uniform(1.05, 1.35, size=2).astype(np.float32)
    return centre + (pts - centre) * scale


def face_mask(
    shape: tuple[int, int], landmarks: np.ndarray, rng: np.random.Generator, region: str = "face"
) -> np.ndarray:
    """Soft float mask [H, W] in 0..1 covering the face (or, `region="lower"`, the mouth or nose-to-chin only), from
    68 landmarks (or five, with guessed outline points).

    The hull of the outline points is randomly warped, eroded or dilated and blurred so the boundary varies from
    sample to sample, as in the paper.
    """
    if region not in REGIONS:
        raise ValueError(f"SBI region is one of {REGIONS}, got {region!r}")
    h, w = shape
    pts = _hull_points(landmarks, rng, region)
    mask: np.ndarray = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(pts.round().astype(np.int32)), 255)
    # Deformation, erosion and blur scale with the region: a mouth blurred like a whole face would vanish.
    extent = h if region == "face" else float(np.ptp(pts, axis=0).max())
    # Random elastic-ish deformation: a smooth random displacement field.
    grid = max(4, h // 16)
    field = cv2.resize(
        rng.normal(0, extent * 0.03, (grid, grid, 2)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mask = cv2.remap(mask, xs + field[..., 0], ys + field[..., 1], cv2.INTER_LINEAR, borderValue=0)
    if rng.random() < 0.5:
        k = int(rng.integers(1, max(2, int(extent) // 20)))
        op = cv2.erode if rng.random() < 0.5 else cv2.dilate
        mask = op(mask, np.ones((k, k), np.uint8))
    sigma = rng.uniform(0.02, 0.08) * extent
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma)
    soft[mask == 0] *= rng.uniform(0.0, 1.0) < 0.5  # half the time the blur only feathers inwards
    soft = np.clip(soft / max(soft.max(), 1e-6), 0.0, 1.0)
    soft[soft < 0.02] = 0.0  # a blur tail this faint changes no pixel value; cutting it keeps the outside exact
    return soft


def _alter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The 'source' face: the same face with a colour, sharpness, scale/shift and compression change."""
    h, w = img.shape[:2]
    x: np.ndarray = img.astype(np.float32)
    x = x * rng.uniform(0.9, 1.1, 3) + rng.uniform(-15, 15, 3)  # per-channel gain and shift
    x = (x - x.mean()) * rng.uniform(0.85, 1.15) + x.mean() + rng.uniform(-12, 12)
    x = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.5))
    else:
        blur = cv2.GaussianBlur(x, (0, 0), 1.0)
        x = cv2.addWeighted(x, 1.6, blur, -0.6, 0)
    s = rng.uniform(0.95, 1.05)
    m = np.array(
        [
            [s, 0, (1 - s) * w / 2 + rng.uniform(-0.03, 0.03) * w],
            [0, s, (1 - s) * h / 2 + rng.uniform(-0.03, 0.03) * h],
        ],
        np.float32,
    )
    x = cv2.warpAffine(x, m, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 95))])
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None
        x = x if decoded is None else decoded
    return x


def self_blend(
    img: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, region: str = "face"
) -> tuple[np.ndarray, np.ndarray]:
    """(pseudo-fake uint8 image, blend mask 0..1) from one REAL face crop and its landmarks (5 or 68, crop pixels)."""
    mask = face_mask(img.shape[:2], landmarks, rng, region)
    mask = mask * rng.choice([0.5, 0.75, 1.0, 1.0, 1.0])  # partial blends too, as in the paper
    source = _alter(img, rng)
    out = source.astype(np.float32) * mask[..., None] + img.astype(np.float32) * (1.0 - mask[..., None])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), mask


def contact_sheet(
    images: list[np.ndarray], landmarks: list[np.ndarray], seed: int = 0, region: str = "face"
) -> np.ndarray:
    """Rows: originals, masks, blends, |blend - original| x4. RGB uint8, for checking SBI by eye."""
    rng = np.random.default_rng(seed)
    rows: list[list[np.ndarray]] = [[], [], [], []]
    for img, lm in zip(images, landmarks):
        blend, mask = self_blend(img, lm, rng, region)
        rows[0].append(img)
        rows[1].append(np.repeat((mask[..., None] * 255).astype(np.uint8), 3, axis=2))
        rows[2].append(blend)
        rows[3].append(np.clip(np.abs(blend.astype(int) - img.astype(int)) * 4, 0, 255).astype(np.uint8))
    return np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0)
