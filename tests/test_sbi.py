"""Self-blended images: identity outside the mask is untouched, the inside changes, the sheet is written."""

import numpy as np

from conftest import FACES_SAMPLE, needs
from deepfake_detection.train.sbi import face_mask, self_blend

# Five landmarks of a frontal 128 px crop: eyes, nose, mouth corners.
LANDMARKS = np.array([[44, 52], [84, 52], [64, 72], [48, 92], [80, 92]], np.float32)


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


def test_different_seeds_give_different_masks():
    a = face_mask((128, 128), LANDMARKS, np.random.default_rng(1))
    b = face_mask((128, 128), LANDMARKS, np.random.default_rng(2))
    assert np.abs(a - b).mean() > 0.01


@needs(FACES_SAMPLE)
def test_sbi_preview_writes_a_contact_sheet(tmp_path):
    import cv2

    from deepfake_detection.cli import main

    out = tmp_path / "sheet.png"
    assert main(["sbi-preview", str(FACES_SAMPLE), "--out", str(out), "--n", "3"]) == 0
    sheet = cv2.imread(str(out))
    assert sheet.shape == (4 * 128, 3 * 128, 3)
