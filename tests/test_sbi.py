"""Self-blended images: identity outside the mask is untouched, the inside changes, the sheet is written."""

import numpy as np
import pytest
from helpers import FACES_SAMPLE, needs

from deepfake_detection.train.sbi import face_mask, self_blend

try:
    import dlib  # noqa: F401  (the `sbi` extra)

    HAS_DLIB = True
except ImportError:
    HAS_DLIB = False

# Five landmarks of a frontal 128 px crop: eyes, nose, mouth corners.
LANDMARKS = np.array([[44, 52], [84, 52], [64, 72], [48, 92], [80, 92]], np.float32)


def _landmarks68() -> np.ndarray:
    """A frontal 68-point layout in a 128 px crop (iBUG order): jaw arc, brows, nose, eyes, mouth."""
    t = np.linspace(np.pi, 0, 17)
    jaw = np.stack([64 + 40 * np.cos(t), 60 + 50 * np.sin(t)], 1)
    brows = np.stack([np.r_[np.linspace(34, 56, 5), np.linspace(72, 94, 5)], np.full(10, 42.0)], 1)
    nose = np.stack(
        [np.r_[np.full(4, 64.0), np.linspace(56, 72, 5)], np.r_[np.linspace(50, 68, 4), np.full(5, 74.0)]], 1
    )
    eyes = np.stack([np.r_[np.linspace(38, 54, 6), np.linspace(74, 90, 6)], np.full(12, 52.0)], 1)
    mouth = np.stack(
        [np.r_[np.linspace(48, 80, 12), np.linspace(52, 76, 8)], np.r_[np.full(12, 92.0), np.full(8, 94.0)]], 1
    )
    return np.concatenate([jaw, brows, nose, eyes, mouth]).astype(np.float32)


def _face(seed=0):
    rng = np.random.default_rng(seed)
    import cv2

    return cv2.GaussianBlur(rng.integers(0, 255, (128, 128, 3), np.uint8), (0, 0), 2)


def test_blend_changes_only_inside_the_mask():
    img = _face()
    for seed in range(10):
        blend, mask = self_blend(img, LANDMARKS, np.random.default_rng(seed))
        assert blend.shape == img.shape and blend.dtype == np.uint8
        outside = mask == 0
        assert outside.mean() > 0.2  # the background and the crop border stay real
        assert np.array_equal(blend[outside], img[outside])
        inside = mask > 0.9
        if inside.any():
            assert np.abs(blend[inside].astype(int) - img[inside].astype(int)).mean() > 1.0


def test_mask_covers_the_inner_face_and_not_the_corners():
    m = face_mask((128, 128), LANDMARKS, np.random.default_rng(3))
    assert m[72, 64] > 0.5  # the nose
    assert m[2, 2] == 0 and m[125, 125] == 0 and m[2, 125] == 0


def test_68_point_mask_follows_the_jaw_and_reaches_above_the_brows():
    marks = _landmarks68()
    assert marks.shape == (68, 2)
    for seed in range(5):
        m = face_mask((128, 128), marks, np.random.default_rng(seed))
        assert m[72, 64] > 0.5 and m[100, 64] > 0.5  # nose and chin area
        assert m[2, 2] == 0 and m[125, 2] == 0 and m[2, 125] == 0
    # The five-point guess stops at the brows far more often than the 68-point hull lifted towards the forehead.
    lifted = np.mean([face_mask((128, 128), marks, np.random.default_rng(s))[36, 64] for s in range(20)])
    assert lifted > 0.3


def test_68_point_blend_changes_only_inside_the_mask():
    img = _face(1)
    blend, mask = self_blend(img, _landmarks68(), np.random.default_rng(0))
    assert np.array_equal(blend[mask == 0], img[mask == 0])


@pytest.mark.skipif(not HAS_DLIB, reason="68-point landmarks need the `sbi` extra (dlib-bin, face-recognition-models)")
@needs(FACES_SAMPLE)
def test_dlib_places_68_points_inside_the_detected_face():
    import cv2

    from deepfake_detection.train.landmarks import landmark_finder

    find = landmark_finder(68)
    path = sorted(FACES_SAMPLE.glob("*.jpg"))[0]
    rgb = cv2.resize(cv2.imread(str(path)), (128, 128))[..., ::-1].copy()
    marks = find(rgb)
    assert marks is not None and marks.shape == (68, 2)
    # Eyes above the mouth, the chin point lowest of the jaw, everything near the crop.
    assert marks[36:48, 1].mean() < marks[48:68, 1].mean() < marks[8, 1] + 1
    assert (marks > -20).all() and (marks < 148).all()


@pytest.mark.parametrize("marks", [LANDMARKS, _landmarks68()], ids=["5 points", "68 points"])
def test_lower_region_blends_the_mouth_and_never_the_eyes_or_forehead(marks):
    img = _face(2)
    mouth_hits = []
    for seed in range(20):
        blend, mask = self_blend(img, marks, np.random.default_rng(seed), region="lower")
        assert mask[:60].max() == 0  # eyes (row 52) and everything above stay real ...
        assert np.array_equal(blend[:60], img[:60])
        mouth_hits.append(mask[92, 64] > 0.3)  # ... the mouth centre is inside (unless a partial blend or erosion)
    assert np.mean(mouth_hits) > 0.7
    # Smaller than a whole-face blend: a region, not the face.
    lower = np.mean([(face_mask((128, 128), marks, np.random.default_rng(s), "lower") > 0).mean() for s in range(10)])
    whole = np.mean([(face_mask((128, 128), marks, np.random.default_rng(s)) > 0).mean() for s in range(10)])
    assert lower < 0.6 * whole


def test_unknown_blend_region_is_a_clear_error(tmp_path):
    from deepfake_detection.config import load_config
    from deepfake_detection.errors import ConfigError
    from deepfake_detection.train.config import TrainConfig

    with pytest.raises(ValueError, match="region"):
        face_mask((128, 128), LANDMARKS, np.random.default_rng(0), region="eyes")
    (tmp_path / "c.yaml").write_text("sbi_region: eyes\n")
    with pytest.raises(ConfigError, match="sbi_region"):
        load_config(TrainConfig, tmp_path / "c.yaml")


def test_unknown_landmark_count_is_a_clear_error():
    from deepfake_detection.errors import DeepfakeError
    from deepfake_detection.train.landmarks import landmark_finder

    with pytest.raises(DeepfakeError, match="5 or 68"):
        landmark_finder(7)


def test_different_seeds_give_different_masks():
    a = face_mask((128, 128), LANDMARKS, np.random.default_rng(1))
    b = face_mask((128, 128), LANDMARKS, np.random.default_rng(2))
    assert np.abs(a - b).mean() > 0.01


@needs(FACES_SAMPLE)
def test_sbi_preview_writes_a_contact_sheet(tmp_path):
    import cv2

    from deepfake_detection.cli import main

    out = tmp_path / "sheet.png"
    assert main(["sbi-preview", str(FACES_SAMPLE), "--out", str(out), "--n", "3", "--landmarks", "5"]) == 0
    sheet = cv2.imread(str(out))
    assert sheet.shape == (4 * 128, 3 * 128, 3)
