import cv2
import numpy as np
import pytest
from helpers import FACES_SAMPLE, VIDEOS_SAMPLE, needs

from benchmarks.synthetic import drawn_face
from deepfake_detection.faces import (
    Detection,
    FaceConfig,
    _iou,
    crop_box,
    crop_face,
    detect_faces,
    detect_sequence,
    link_tracks,
    track_faces,
)
from deepfake_detection.media import read_frames


def _det(x, y, s=40, score=0.9):
    # Landmarks placed as on a frontal face: eyes at 35 % height, mouth at 75 %, centre 55 % down the box.
    lm = (
        (x + 0.3 * s, y + 0.35 * s),
        (x + 0.7 * s, y + 0.35 * s),
        (x + 0.5 * s, y + 0.55 * s),
        (x + 0.35 * s, y + 0.75 * s),
        (x + 0.65 * s, y + 0.75 * s),
    )
    return Detection((x, y, x + s, y + s), score, lm)


def test_crop_is_square_between_eyes_and_mouth_and_padded_at_edges():
    img = np.zeros((100, 200, 3), np.uint8)
    img[42:62, 90:110] = 255  # a white square where the middle of the face is
    det = _det(80, 30, 40)  # eyes/mouth midpoint (100, 52)
    assert crop_box(det, 0.5) == (90, 42, 110, 62)  # side = 0.5 * 40, centred on the midpoint
    crop = crop_face(img, det, size=32, scale=0.5)
    assert crop.shape == (32, 32, 3) and crop.mean() > 250
    corner = crop_face(img, _det(-20, -20, 40), size=16)  # half outside the frame: edge-padded, not shifted
    assert corner.shape == (16, 16, 3)


def test_link_tracks_follows_two_people_and_bridges_a_gap():
    per_frame = [
        [_det(10, 10), _det(200, 10)],
        [_det(14, 12), _det(204, 10)],
        [_det(205, 11)],
        [_det(20, 14), _det(206, 12)],
    ]
    tracks = link_tracks(per_frame, FaceConfig())
    assert sorted(len(t) for t in tracks) == [3, 4]
    for t in tracks:
        xs = [d.box[0] for _, d in t]
        assert max(xs) - min(xs) < 20  # never jumps from one person to the other


def test_link_tracks_splits_far_apart_detections():
    tracks = link_tracks([[_det(10, 10)], [_det(300, 300)]], FaceConfig())
    assert len(tracks) == 2


@needs(FACES_SAMPLE)
def test_finds_every_face_in_a_group_picture():
    names = sorted(p for p in FACES_SAMPLE.glob("*.jpg"))[:4]
    grid = np.full((300, 600, 3), 90, np.uint8)
    for i, p in enumerate(names):
        y, x = 20 + (i // 2) * 140, 40 + (i % 2) * 300
        grid[y : y + 128, x : x + 128] = cv2.imread(str(p))[..., ::-1]
    assert len(detect_faces(grid)) == 4


@needs(VIDEOS_SAMPLE)
def test_dark_frame_gets_low_light_retry():
    frame = read_frames(VIDEOS_SAMPLE / "real_videoretalking_face1.mp4", 1).images[0]
    dark = (frame * 0.06).astype(np.uint8)
    found = detect_faces(dark)
    assert found and found[0].enhanced
    assert not detect_faces(dark, FaceConfig(dark_luma=0.0))  # the retry is what finds it


@needs(VIDEOS_SAMPLE)
@pytest.mark.parametrize("name", ["fake_abqwwspghj_s0.mp4", "real_hdtf_sadtalker_wda_aoc.mp4"])
def test_one_person_clip_gives_one_full_track(name):
    frames = read_frames(VIDEOS_SAMPLE / name, 16)
    tracks = track_faces(frames)
    assert len(tracks) == 1
    t = tracks[0]
    assert len(t.crops) == len(t.detections) == len(t.frame_positions) >= 14
    assert t.crops[0].shape == (128, 128, 3)
    assert len(t.detections[0].landmarks) == 5


def test_blank_frames_have_no_face():
    from deepfake_detection.media import Frames

    frames = Frames(
        "x", [np.full((120, 160, 3), v, np.uint8) for v in (0, 128, 255)], [0, 1, 2], [0, 0.1, 0.2], 160, 120, 10, 0.3
    )
    assert track_faces(frames) == []


def _two_faces(shift: int) -> np.ndarray:
    left = drawn_face(w=320, h=240, cx=90 + shift, cy=120, s=0.6)
    right = drawn_face(w=320, h=240, cx=230 - shift, cy=120, s=0.6)
    return np.concatenate([left[:, :160], right[:, 160:]], axis=1)


def test_window_redetection_follows_faces_like_full_detection(monkeypatch):
    """Between full detections, faces are re-found in windows; boxes must match what full detection gives."""
    import deepfake_detection.faces as faces

    images = [_two_faces(3 * i) for i in range(9)]
    full_searches = []
    whole = faces.detect_faces
    monkeypatch.setattr(faces, "detect_faces", lambda *a, **k: full_searches.append(1) or whole(*a, **k))
    fast = detect_sequence(images, FaceConfig(detect_every=4))
    assert len(full_searches) == 3  # frames 0, 4 and 8; the windows found both faces everywhere else
    monkeypatch.undo()
    full = detect_sequence(images, FaceConfig(detect_every=1))
    assert [len(d) for d in fast] == [len(d) for d in full] == [2] * 9
    for fd, gd in zip(fast, full):
        for a in fd:
            assert max(_iou(a.box, b.box) for b in gd) > 0.8


def test_a_lost_face_triggers_a_full_detection():
    images = [drawn_face(w=480, cx=120), drawn_face(w=480, cx=120), drawn_face(w=480, cx=360)]
    found = detect_sequence(images, FaceConfig(detect_every=8))
    assert [len(d) for d in found] == [1, 1, 1]
    assert found[2][0].box[0] > 240  # the face jumped out of its window: the frame was searched whole


def test_a_track_closed_by_a_long_gap_is_returned_as_items() -> None:
    """A face gone for more than max_gap sampled frames closes its track; the closed track must come back as
    (position, detection) pairs like the open ones (it came back as the tracker's own dict and crashed detect)."""
    from deepfake_detection.faces import Detection, FaceConfig, link_tracks

    def det(x):
        return Detection(
            (x, 10.0, x + 50.0, 60.0), 0.9, ((x + 15, 25), (x + 35, 25), (x + 25, 35), (x + 17, 48), (x + 33, 48))
        )

    cfg = FaceConfig(max_gap=2)
    per_frame = [[det(10)], [det(11)], [det(12)], [], [], [], [], [det(200)], [det(201)]]
    tracks = link_tracks(per_frame, cfg)
    assert sorted(len(t) for t in tracks) == [2, 3]
    assert all(isinstance(pos, int) and isinstance(d, Detection) for t in tracks for pos, d in t)


def test_the_shipped_yunet_is_the_one_its_notice_describes() -> None:
    import hashlib
    import re

    from deepfake_detection.faces import YUNET_MODEL

    notice = (YUNET_MODEL.parent / "NOTICE.md").read_text()
    shipped = re.search(r"shipped file \| `(\S+)`.*\n\| sha256 \| `([0-9a-f]{64})`", notice)
    assert shipped and shipped[1] == YUNET_MODEL.name
    assert hashlib.sha256(YUNET_MODEL.read_bytes()).hexdigest() == shipped[2]
    assert "MIT License" in (YUNET_MODEL.parent / "LICENSE").read_text()


@pytest.mark.parametrize("w,h,cx,cy", [(320, 240, 160, 120), (331, 257, 180, 140), (150, 470, 75, 300)])
def test_yunet_finds_a_face_at_any_frame_size_with_landmarks_in_order(w, h, cx, cy) -> None:
    """Frame sizes that are not multiples of the 32 px stride are padded, and boxes come back in frame pixels.
    Landmarks: right eye, left eye, nose tip, mouth right, mouth left (the person's right: image left)."""
    (det,) = detect_faces(drawn_face(w=w, h=h, cx=cx, cy=cy, s=0.6))
    x1, y1, x2, y2 = det.box
    assert 0.6 <= det.score <= 1.0
    assert abs((x1 + x2) / 2 - cx) < 10 and abs((y1 + y2) / 2 - cy) < 15
    (rex, rey), (lex, ley), (nx, ny), (mrx, mry), (mlx, mly) = det.landmarks
    assert rex < nx < lex and mrx < nx < mlx  # right eye and mouth corner on the image's left
    assert max(rey, ley) < ny < min(mry, mly)  # eyes above nose above mouth
    assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in det.landmarks)


def test_yunet_scores_rank_and_a_higher_threshold_drops_weak_faces() -> None:
    from deepfake_detection.faces import yunet

    bgr = np.ascontiguousarray(drawn_face(w=320, h=240, s=0.6)[..., ::-1])
    low = yunet(bgr, 0.05, 0.45)
    assert len(low) >= 1 and np.all(np.diff(low[:, 4]) <= 0)  # best first
    assert len(yunet(bgr, min(0.99, float(low[0, 4]) + 1e-3), 0.45)) == 0
    assert yunet(np.zeros((17, 23, 3), np.uint8), 0.6, 0.45).shape == (0, 15)


def test_nms_keeps_the_better_of_two_overlapping_boxes_and_both_of_two_apart() -> None:
    from deepfake_detection.faces import _nms

    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.7, 0.9, 0.8, 0.1], np.float32)
    assert _nms(boxes, scores, 0.45) == [1, 2]
    assert sorted(_nms(boxes, scores, 0.99)) == [0, 1, 2]  # IoU 0.68 < 0.99; the exact duplicate still goes
