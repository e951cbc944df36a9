"""Faces stage: detect (YuNet, its ONNX file shipped in `yunet/` and run by ONNX Runtime), follow each person
across the sampled frames, and cut the square face crop the classifiers were trained on.

One public entry: `track_faces(frames) -> list[FaceTrack]`. `detect_faces` and `crop_face` are public too because
face-crop extraction for training must use exactly the same recipe as detection at serving time.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from .media import Frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceConfig:
    detect_max_side: int = 640  # frames are downscaled to this for detection (YuNet cost grows with pixels)
    retry_max_side: int = 960  # a video with no face at all is searched once more at this size
    # YuNet score, 0..1. The yuface wheel used before kept faces at 0.60 on scores truncated to whole percent, and
    # its compiled arithmetic differs from ONNX Runtime's by up to about 0.01 near there: at 0.595 every face it
    # found is still found (3085 of 3085 on the sample sets), plus 19 tiny crowd faces (scripts/compare_detectors.py).
    min_confidence: float = 0.595
    nms_iou: float = 0.45  # of two overlapping detections, the weaker goes when they overlap more than this
    min_face_px: int = 16  # shorter box side in original-frame pixels
    dark_luma: float = 70.0  # frames darker than this (mean Y, 0..255) get an enhanced retry
    # Crop recipe, measured with YuNet landmarks on 600 DFDC training crops: the eye-to-mouth distance is 0.438
    # of the crop side (0.355 of max(box w, h) on full frames) and the crop is centred on the midpoint of eyes
    # and mouth. So: a square of side 0.81 * max(w, h) around that midpoint. (Centring on the box with side
    # max(w, h) showed visibly more hair and neck than the training crops.)
    crop_scale: float = 0.81
    crop_size: int = 128
    match_iou: float = 0.25  # a detection continues a track when boxes overlap this much...
    match_dist: float = 0.6  # ...or its centre is within this fraction of the track's face size
    max_gap: int = 4  # sampled frames a track may miss before it is closed
    min_track_fraction: float = 0.15  # tracks seen in fewer of the sampled frames are dropped as flukes
    max_tracks: int = 16
    # Between full-frame detections (every `detect_every`-th sampled frame) each face of the previous frame is
    # re-found in a window `roi_scale` times its size, shrunk to at most `roi_max_side` px: about 3 ms instead of
    # 20-40 ms for a whole 640 px frame. A face lost that way triggers a full detection of that frame.
    detect_every: int = 8
    roi_scale: float = 2.0
    roi_max_side: int = 160


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
    score: float
    landmarks: tuple[tuple[float, float], ...]  # right eye, left eye, nose tip, mouth right, mouth left
    enhanced: bool = False  # found only after the low-light retry


@dataclass(frozen=True)
class FaceQuality:
    """How much one face crop can be trusted as evidence."""

    size: float  # shorter side of the detector box, frame pixels
    sharpness: float  # detail relative to contrast, low for upscaled or out-of-focus faces (see `sharpness`)
    yaw: float  # approximate head turn in degrees from the five landmarks (0 = frontal)


@dataclass(frozen=True)
class FaceTrack:
    """One person across the sampled frames. Lists are parallel; `frame_positions` index `Frames.images`."""

    track_id: int
    frame_positions: list[int]
    detections: list[Detection]
    crops: list[np.ndarray] = field(repr=False)  # uint8 RGB [crop_size, crop_size, 3]
    quality: list[FaceQuality] = field(default_factory=list)

    @property
    def mean_size(self) -> float:
        return float(np.mean([box_size(d) for d in self.detections]))


def box_size(det: Detection) -> float:
    return float(min(det.box[2] - det.box[0], det.box[3] - det.box[1]))


def yaw_degrees(landmarks) -> float:
    """Head turn from the nose tip's sideways offset from the eye midpoint, in the eyes' own frame (roll removed).
    The nose tip stands about 0.55 inter-eye distances in front of the eyes, so offset / distance ≈ 0.55 tan(yaw)."""
    (rx, ry), (lx, ly), (nx, ny) = landmarks[0], landmarks[1], landmarks[2]
    ex, ey = lx - rx, ly - ry
    dist = math.hypot(ex, ey)
    if dist < 1e-6:
        return 90.0
    along = ((nx - (rx + lx) / 2) * ex + (ny - (ry + ly) / 2) * ey) / dist
    return float(math.degrees(math.atan(abs(along) / dist / 0.55)))


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian over the variance of the grey crop, both at 64 px: detail relative to contrast,
    so dark but focused faces are not mistaken for blurred ones, and at 64 px so codec noise averages out.
    Measured: ≈ 0.04-0.07 for faces under a Gaussian blur of σ 2-4 px, 0.02-0.2 for 37-55 px faces upscaled into
    the crop, 0.25-1.0 for 180-250 px talking heads."""
    grey = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32), (64, 64), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var() / max(float(grey.var()), 1.0))


def face_quality(det: Detection, crop: np.ndarray) -> FaceQuality:
    return FaceQuality(box_size(det), sharpness(crop), yaw_degrees(det.landmarks))


def _enhance(rgb: np.ndarray) -> np.ndarray:
    """Low-light boost: CLAHE on lightness, then a brightening gamma."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(lab[..., 0])
    out = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    lut = (np.linspace(0, 1, 256) ** 0.6 * 255).astype(np.uint8)
    return cv2.LUT(out, lut)


# YuNet (libfacedetection's network, the 2023mar weights; licence and provenance in yunet/NOTICE.md). The file is
# the published one with its input size declared symbolic (scripts/yunet_dynamic.py), so any frame size runs.
YUNET_MODEL = Path(__file__).parent / "yunet" / "face_detection_yunet_2023mar_dynamic.onnx"
_STRIDES = (8, 16, 32)


@cache
def _yunet(threads: int = 1):
    """The ONNX Runtime session, made on first use. One intra-op thread: a window is 1-2 ms of work, and detection
    runs beside the decoder, which holds the other core. Sessions are thread-safe, so one serves every thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(YUNET_MODEL), opts, providers=["CPUExecutionProvider"])


def yunet(bgr: np.ndarray, min_score: float, nms_iou: float) -> np.ndarray:
    """Raw YuNet on one BGR uint8 image at its own size: rows of x1, y1, x2, y2, score, then five (x, y)
    landmarks (right eye, left eye, nose tip, mouth right, mouth left), in the image's pixels, best first.

    The image is zero-padded at the bottom and right to a multiple of 32, the coarsest stride. Scores are
    sqrt(class x objectness), 0..1. Candidates under `min_score` are dropped before the greedy non-maximum
    suppression: with scores sorted, a dropped box could never have suppressed a kept one."""
    h, w = bgr.shape[:2]
    ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
    x = np.zeros((1, 3, ph, pw), np.float32)
    x[0, :, :h, :w] = bgr.transpose(2, 0, 1)
    sess = _yunet()
    out = dict(zip((o.name for o in sess.get_outputs()), sess.run(None, {"input": x})))
    rows = []
    for s in _STRIDES:
        cols = pw // s
        cls, obj = out[f"cls_{s}"].reshape(-1), out[f"obj_{s}"].reshape(-1)
        score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        idx = np.flatnonzero(score >= min_score)
        if not len(idx):
            continue
        gx, gy = (idx % cols).astype(np.float32), (idx // cols).astype(np.float32)
        box = out[f"bbox_{s}"].reshape(-1, 4)[idx]
        cx, cy = (gx + box[:, 0]) * s, (gy + box[:, 1]) * s
        bw, bh = np.exp(box[:, 2]) * s, np.exp(box[:, 3]) * s
        kps = out[f"kps_{s}"].reshape(-1, 5, 2)[idx]
        kps = (kps + np.stack([gx, gy], 1)[:, None, :]) * s
        rows.append(
            np.column_stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, score[idx], kps.reshape(-1, 10)])
        )
    if not rows:
        return np.zeros((0, 15), np.float32)
    cand = np.concatenate(rows)
    return cand[_nms(cand[:, :4], cand[:, 4], nms_iou)]


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy non-maximum suppression, best score first: indices of the boxes kept."""
    order = np.argsort(-scores, kind="stable")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while len(order):
        i, order = order[0], order[1:]
        keep.append(int(i))
        ix = np.clip(np.minimum(boxes[i, 2], boxes[order, 2]) - np.maximum(boxes[i, 0], boxes[order, 0]), 0, None)
        iy = np.clip(np.minimum(boxes[i, 3], boxes[order, 3]) - np.maximum(boxes[i, 1], boxes[order, 1]), 0, None)
        inter = ix * iy
        order = order[inter <= iou * (area[i] + area[order] - inter)]
    return keep


def _run_detector(
    rgb: np.ndarray, max_side: int, cfg: FaceConfig, enhanced: bool, offset: tuple[int, int] = (0, 0)
) -> list[Detection]:
    h, w = rgb.shape[:2]
    ox, oy = offset
    scale = min(1.0, max_side / max(h, w))
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    raw = yunet(np.ascontiguousarray(small[..., ::-1]), cfg.min_confidence, cfg.nms_iou).astype(np.float64)
    # Whole detector pixels, truncated, as libfacedetection returned them: box corner, size and landmarks. The
    # classifier was trained and calibrated on crops cut from those; measured on UADFV, the sub-pixel boxes moved
    # P(fake) by 0.019 on average against 0.010 with this (scripts/compare_detectors.py, docs/PERFORMANCE.md).
    size = np.trunc(raw[:, 2:4] - raw[:, 0:2])
    raw[:, 0:2] = np.trunc(raw[:, 0:2])
    raw[:, 2:4] = raw[:, 0:2] + size
    raw[:, 5:15] = np.trunc(raw[:, 5:15])
    dets = []
    for row in raw:
        x1, y1, x2, y2 = row[:4] / scale + (ox, oy, ox, oy)
        if min(x2 - x1, y2 - y1) < cfg.min_face_px:
            continue
        pts = (row[5:15] / scale).reshape(5, 2) + (ox, oy)
        dets.append(
            Detection(
                (float(x1), float(y1), float(x2), float(y2)),
                float(row[4]),
                tuple((float(px), float(py)) for px, py in pts),
                enhanced,
            )
        )
    return dets


def detect_faces(rgb: np.ndarray, cfg: FaceConfig = FaceConfig(), max_side: int | None = None) -> list[Detection]:
    """Faces in one RGB frame, best first. Dark frames with no face get a contrast/gamma-boosted retry."""
    max_side = max_side or cfg.detect_max_side
    dets = _run_detector(rgb, max_side, cfg, enhanced=False)
    if not dets and cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).mean() < cfg.dark_luma:
        dets = _run_detector(_enhance(rgb), max_side, cfg, enhanced=True)
    return sorted(dets, key=lambda d: -d.score)


def redetect(rgb: np.ndarray, prev: Detection, cfg: FaceConfig = FaceConfig()) -> Detection | None:
    """The face that continues `prev` in this frame, searched in a small window around `prev`'s box."""
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = prev.box
    half = max(x2 - x1, y2 - y1) * cfg.roi_scale / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = max(0, int(cx - half)), max(0, int(cy - half))
    right, bottom = min(w, int(cx + half) + 1), min(h, int(cy + half) + 1)
    if right - left < cfg.min_face_px or bottom - top < cfg.min_face_px:
        return None
    region = rgb[top:bottom, left:right]
    dets = _run_detector(region, cfg.roi_max_side, cfg, prev.enhanced, offset=(left, top))
    if not dets and prev.enhanced:
        dets = _run_detector(_enhance(region), cfg.roi_max_side, cfg, True, offset=(left, top))
    scored = [(_affinity(prev.box, d.box, cfg), d) for d in dets]
    best = max(scored, key=lambda x: x[0], default=(0.0, None))
    return best[1] if best[0] > 0 else None


class SequenceDetector:
    """Faces frame by frame: full detection on every `detect_every`-th frame (and whenever the previous frame had
    no face or one of its faces got lost), window re-detection of the previous frame's faces in between. Frames
    can be pushed while the video is still decoding."""

    def __init__(self, cfg: FaceConfig = FaceConfig(), max_side: int | None = None):
        self.cfg, self.max_side = cfg, max_side
        self.per_frame: list[list[Detection]] = []

    def push(self, img: np.ndarray) -> list[Detection]:
        cfg, pos = self.cfg, len(self.per_frame)
        previous = self.per_frame[-1] if self.per_frame else []
        dets: list[Detection] | None = None
        if previous and cfg.detect_every > 1 and pos % cfg.detect_every:
            found = [f for d in previous if (f := redetect(img, d, cfg)) is not None]
            if len(found) == len(previous):
                dets = _distinct(found)
        if dets is None:
            dets = detect_faces(img, cfg, self.max_side)
        self.per_frame.append(dets)
        return dets


def detect_sequence(
    images: list[np.ndarray], cfg: FaceConfig = FaceConfig(), max_side: int | None = None
) -> list[list[Detection]]:
    """Faces in each of a sequence of frames (see `SequenceDetector`)."""
    seq = SequenceDetector(cfg, max_side)
    for img in images:
        seq.push(img)
    return seq.per_frame


def _distinct(dets: list[Detection]) -> list[Detection]:
    """Drop a window detection that is the same face as a better one (two windows can find one face)."""
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        if all(_iou(d.box, k.box) < 0.5 for k in kept):
            kept.append(d)
    return kept


def crop_box(det: Detection, scale: float) -> tuple[int, int, int, int]:
    """The square crop region (x1, y1, x2, y2): side max(box w, h) * scale, centred between eyes and mouth."""
    x1, y1, x2, y2 = det.box
    side = max(x2 - x1, y2 - y1) * scale
    (rx, ry), (lx, ly), _, (mrx, mry), (mlx, mly) = det.landmarks
    cx, cy = (rx + lx + mrx + mlx) / 4, (ry + ly + mry + mly) / 4
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(1, int(round(side)))
    return left, top, left + s, top + s


def crop_face(rgb: np.ndarray, det: Detection, size: int = 128, scale: float = FaceConfig.crop_scale) -> np.ndarray:
    """The one crop recipe for extraction, training and inference: square region, edge-padded, INTER_AREA resize."""
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = crop_box(det, scale)
    pad = max(0, -x1, -y1, x2 - w, y2 - h)
    if pad:
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x1, y1, x2, y2 = x1 + pad, y1 + pad, x2 + pad, y2 + pad
    region = rgb[y1:y2, x1:x2]
    interp = cv2.INTER_AREA if region.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(region, (size, size), interpolation=interp)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _affinity(a, b, cfg: FaceConfig) -> float:
    """How well box b continues box a: IoU, or a near-enough centre for fast motion. 0 means no match."""
    iou = _iou(a, b)
    size = max(a[2] - a[0], a[3] - a[1])
    dist = math.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2) / max(size, 1.0)
    if iou >= cfg.match_iou or dist <= cfg.match_dist:
        return iou + max(0.0, 1.0 - dist)
    return 0.0


def link_tracks(per_frame: list[list[Detection]], cfg: FaceConfig = FaceConfig()) -> list[list[tuple[int, Detection]]]:
    """Greedy frame-to-frame association of detections into tracks of (frame position, detection)."""
    open_tracks: list[dict] = []
    closed: list[list[tuple[int, Detection]]] = []
    for pos, dets in enumerate(per_frame):
        pairs = sorted(
            (
                (_affinity(t["items"][-1][1].box, d.box, cfg), ti, di)
                for ti, t in enumerate(open_tracks)
                for di, d in enumerate(dets)
            ),
            reverse=True,
        )
        used_t, used_d = set(), set()
        for aff, ti, di in pairs:
            if aff <= 0:
                break
            if ti in used_t or di in used_d:
                continue
            open_tracks[ti]["items"].append((pos, dets[di]))
            open_tracks[ti]["last"] = pos
            used_t.add(ti)
            used_d.add(di)
        for di, d in enumerate(dets):
            if di not in used_d:
                open_tracks.append({"items": [(pos, d)], "last": pos})
        closed += [t["items"] for t in open_tracks if pos - t["last"] > cfg.max_gap]
        open_tracks = [t for t in open_tracks if pos - t["last"] <= cfg.max_gap]
    return closed + [t["items"] for t in open_tracks]


def track_faces(
    frames: Frames, cfg: FaceConfig = FaceConfig(), per_frame: list[list[Detection]] | None = None
) -> list[FaceTrack]:
    """Find the faces in the sampled frames, link them into per-person tracks and crop them.

    `per_frame` takes detections already made (by a `SequenceDetector` fed during decoding); they are used only
    when there is one list per frame. Tracks are ordered by face size, largest first. An empty list means no face
    was found, even after the low-light and higher-resolution retries.
    """
    if per_frame is None or len(per_frame) != len(frames.images):
        per_frame = detect_sequence(frames.images, cfg)
    h, w = frames.images[0].shape[:2]
    if not any(per_frame) and max(w, h) > cfg.detect_max_side:
        per_frame = detect_sequence(frames.images, cfg, max_side=cfg.retry_max_side)
    linked = link_tracks(per_frame, cfg)
    need = max(1, math.ceil(cfg.min_track_fraction * len(frames.images)))
    # Flukes seen in few frames are dropped, unless nothing else was seen: then the longest track stays.
    kept = [items for items in linked if len(items) >= need]
    if not kept and linked:
        kept = [max(linked, key=len)]
    linked = kept
    tracks = []
    for items in linked:
        crops = [crop_face(frames.images[pos], d, cfg.crop_size, cfg.crop_scale) for pos, d in items]
        quality = [face_quality(d, c) for (_, d), c in zip(items, crops)]
        tracks.append(FaceTrack(0, [p for p, _ in items], [d for _, d in items], crops, quality))
    tracks.sort(key=lambda t: -t.mean_size * len(t.detections))
    tracks = tracks[: cfg.max_tracks]
    return [replace(t, track_id=i) for i, t in enumerate(tracks)]
