import base64
import json

import cv2
import numpy as np
import pytest

from deepfake_detection import explain as xp
from deepfake_detection.cli import main
from deepfake_detection.models.serving import load_scorer
from deepfake_detection.pipeline import Detector


def test_occlusion_map_points_at_the_region_the_score_depends_on():
    crop = np.zeros((64, 64, 3), np.uint8)
    crop[:32, :32] = 255  # evidence lives in the top-left quadrant only

    def logits(batch):  # a toy scorer: brightness of the top-left quadrant
        return batch[:, :32, :32].mean(axis=(1, 2, 3)) / 255.0

    heat = xp.occlusion_map(logits, crop, grid=8)
    assert heat.shape == (8, 8) and heat.max() == pytest.approx(1.0) and heat.min() >= 0
    i, j = np.unravel_index(np.argmax(heat), heat.shape)
    assert i < 4 and j < 4
    assert heat[5:, 5:].max() == 0  # covering the bottom-right changes nothing


def test_occlusion_map_is_zero_when_nothing_lowers_the_score():
    heat = xp.occlusion_map(lambda b: np.zeros(len(b)), np.full((32, 32, 3), 128, np.uint8), grid=4)
    assert heat.shape == (4, 4) and not heat.any()


def test_pictures_keep_sizes_and_encode():
    crop = np.full((128, 128, 3), 100, np.uint8)
    assert xp.heat_overlay(crop, np.eye(8)).shape == crop.shape
    frame = xp.frame_with_box(np.zeros((1080, 1920, 3), np.uint8), (900, 400, 1100, 650), "face 0")
    assert max(frame.shape[:2]) == xp.FRAME_SIDE and frame.any()  # scaled down, box drawn
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(xp.b64_jpeg(frame)), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == frame.shape


@pytest.fixture(scope="module")
def scorer():
    return load_scorer()


def test_detect_explains_each_face_only_when_asked(face_clip, scorer):
    plain = Detector(scorer, num_frames=8).detect(face_clip)
    assert plain.faces and plain.faces[0].explanation is None
    report = Detector(scorer, num_frames=8, explain=True).detect(face_clip)
    face = report.faces[0]
    e = face.explanation
    assert e.frame_index in [f.index for f in face.frames]
    assert e.probability == max(f.probability for f in face.frames)
    heat = np.array(e.heatmap)
    assert heat.shape == (8, 8) and 0 <= heat.min() and heat.max() <= 1
    for picture in (e.face_jpeg, e.heatmap_jpeg, e.frame_jpeg):
        assert base64.b64decode(picture)[:3] == b"\xff\xd8\xff"
    json.loads(report.to_json())  # still plain JSON


def test_cli_explain_writes_pictures(face_clip, tmp_path, capsys):
    out = tmp_path / "explained"
    assert main(["detect", str(face_clip), "--frames", "6", "--explain", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["faces"][0]["explanation"]["method"] == "occlusion 8x8"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["face_face0_face.jpg", "face_face0_frame.jpg", "face_face0_heatmap.jpg"]
