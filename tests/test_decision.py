"""The video decision: quality bar, and a threshold that holds the false-alarm rate as judged faces add up."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import VIDEOS_SAMPLE, needs

from benchmarks.synthetic import drawn_face, write_video
from deepfake_detection.decision import FacesRule, QualityBar, decide, fit_faces_rule, threshold_for_faces


def test_one_face_keeps_the_threshold_and_more_faces_raise_it() -> None:
    rule = FacesRule(real_logit_mean=-3.0, real_logit_std=2.0)
    ts = [threshold_for_faces(0.8, k, rule) for k in (1, 2, 4, 16)]
    assert ts[0] == 0.8
    assert ts == sorted(ts) and ts[-1] > ts[0]
    assert threshold_for_faces(0.8, 5, None) == 0.8  # no rule in the card: one threshold


def test_the_video_false_alarm_rate_holds_as_real_faces_add_up() -> None:
    """Real faces drawn from the fitted distribution: a video of k of them is flagged as often as a single face."""
    rng = np.random.default_rng(0)
    rule = FacesRule(-2.0, 1.5)
    t1 = 1 / (1 + np.exp(-(-2.0 + 1.5 * 1.6449)))  # flags 5 % of single real faces
    for k in (1, 3, 8):
        t = threshold_for_faces(t1, k, rule)
        z = rng.normal(-2.0, 1.5, size=(40000, k))
        flagged = (1 / (1 + np.exp(-z.max(axis=1))) >= t).mean()
        assert flagged == pytest.approx(0.05, abs=0.006), k
    # Without the rule, 8 faces would flag about a third of real videos.
    z = rng.normal(-2.0, 1.5, size=(40000, 8))
    assert (1 / (1 + np.exp(-z.max(axis=1))) >= t1).mean() > 0.3


def test_fit_faces_rule_recovers_the_real_distribution() -> None:
    z = np.random.default_rng(1).normal(-1.0, 2.0, 5000)
    rule = fit_faces_rule(1 / (1 + np.exp(-z)))
    assert rule.real_logit_mean == pytest.approx(-1.0, abs=0.1)
    assert rule.real_logit_std == pytest.approx(2.0, abs=0.1)


def test_quality_bar_reasons() -> None:
    bar = QualityBar(min_size=48, min_sharpness=0.3, max_yaw=60, min_frames=3)
    assert bar.reasons(120, 0.5, 10, 20, sampled=32) == []
    assert bar.reasons(120, 0.5, 10, 1, sampled=1) == []  # a photo (or a one-frame video) has one frame
    why = bar.reasons(30, 0.2, 75, 2, sampled=32)
    assert [w.split(" ")[0] for w in why] == ["small", "blurred", "turned", "seen"]


def test_decide_ignores_faces_that_are_not_judged() -> None:
    pos, t = decide([0.99, 0.2, 0.6], [False, True, True], 0.5, None)
    assert pos == 2 and t == 0.5
    assert decide([0.99], [False], 0.5, None) == (None, 0.5)


# --- through the pipeline -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector():
    from deepfake_detection.models.serving import load_scorer
    from deepfake_detection.pipeline import Detector

    return Detector(load_scorer(), num_frames=8)


def _paste(frame: np.ndarray, face: np.ndarray, x: int, y: int) -> None:
    h, w = face.shape[:2]
    frame[y : y + h, x : x + w] = face


def _small_faces(frame: np.ndarray, blur: bool) -> np.ndarray:
    """The same clip with a row of small (or blurred) extra faces along the bottom."""
    out = np.ascontiguousarray(frame.copy())
    h, w = out.shape[:2]
    tile = drawn_face(w=120, h=120, cx=60, cy=62, s=0.55)
    if blur:
        tile = cv2.GaussianBlur(tile, (0, 0), 4)
    else:
        tile = cv2.resize(tile, (44, 44), interpolation=cv2.INTER_AREA)
    step = tile.shape[1] + 8
    for i, x in enumerate(range(4, w - tile.shape[1], step)):
        if i == 4:
            break
        _paste(out, tile, x, h - tile.shape[0] - 4)
    return out


@pytest.mark.parametrize("blur", [False, True], ids=["tiny", "blurred"])
def test_adding_small_or_blurred_faces_does_not_change_the_verdict(tmp_path, detector, blur) -> None:
    base = [np.pad(drawn_face(cx=150 + i), ((0, 140), (0, 0), (0, 0)), constant_values=90) for i in range(16)]
    plain = detector.detect(write_video(tmp_path / "plain.mp4", base))
    crowded = detector.detect(write_video(tmp_path / "crowded.mp4", [_small_faces(f, blur) for f in base]))
    assert plain.verdict in ("REAL", "FAKE")
    extra = [f for f in crowded.faces if not f.judged]
    assert extra, "the added faces should be found and reported"
    assert all(("small" if not blur else "blurred") in f.not_judged_reason for f in extra)
    assert crowded.verdict == plain.verdict
    assert crowded.probability == pytest.approx(plain.probability, abs=0.05)
    assert crowded.threshold == pytest.approx(plain.threshold)  # unjudged faces do not raise the bar


def test_a_clip_whose_faces_are_all_too_small_says_so(tmp_path, detector) -> None:
    canvas = np.full((360, 640, 3), 90, np.uint8)
    tile = cv2.resize(drawn_face(w=120, h=120, cx=60, cy=62, s=0.55), (44, 44), interpolation=cv2.INTER_AREA)
    for x in (100, 300, 500):
        _paste(canvas, tile, x, 150)
    r = detector.detect(write_video(tmp_path / "crowd.mp4", [canvas] * 12))
    assert r.verdict == "NO_FACE" and r.probability is None
    assert r.faces and r.deciding_face is None
    assert r.reason.endswith("too small to judge") and f"{len(r.faces)} face" in r.reason


@needs(VIDEOS_SAMPLE)
def test_small_real_faces_beside_a_real_talking_head_keep_it_real(tmp_path, detector) -> None:
    from deepfake_detection.media import read_frames

    frames = read_frames(VIDEOS_SAMPLE / "real_hdtf_sadtalker_wda_aoc.mp4", 8).images
    small = [cv2.resize(f, (40, 40), interpolation=cv2.INTER_AREA) for f in frames]
    crowded = []
    for f, s in zip(frames, small):
        canvas = np.full((640, 768, 3), 60, np.uint8)
        canvas[:512, :512] = f
        for i in range(5):
            _paste(canvas, s, 540 + (i % 2) * 100, 40 + i * 110)
        crowded.append(canvas)
    plain = detector.detect(VIDEOS_SAMPLE / "real_hdtf_sadtalker_wda_aoc.mp4")
    r = detector.detect(write_video(tmp_path / "crowd.mp4", crowded, fps=10))
    assert plain.verdict == r.verdict == "REAL"
    assert sum(f.judged for f in r.faces) == 1


# --- the operating point on real footage (train/operating.py) --------------------------------------------------


def _item(name, condition="single_face", label="REAL", image=False):
    from deepfake_detection.train.operating import Item

    return Item(name, label, "real_footage", condition, image, "calibration")


def _face(p, size=120.0, sharp=0.5, frames=32, sampled=32):
    from deepfake_detection.train.operating import Face

    return Face(p, size, sharp, 0.0, frames, sampled)


def test_choose_threshold_holds_the_target_on_every_calibration_set() -> None:
    from deepfake_detection.train.operating import choose_threshold, flagged_share

    rng = np.random.default_rng(3)
    singles = [_item(f"s{i}") for i in range(60)]
    groups = [_item(f"g{i}", "multi_face") for i in range(30)]
    faces = {it.path: [_face(float(rng.beta(1, 6)))] for it in singles}
    faces.update({it.path: [_face(float(rng.beta(1, 6))) for _ in range(6)] for it in groups})
    bar = QualityBar()
    t, rule = choose_threshold({"singles": singles, "groups": groups}, faces, bar, 0.05)
    assert flagged_share(singles, faces, bar, t, rule) <= 0.05
    assert flagged_share(groups, faces, bar, t, rule) <= 0.05
    # the same threshold without the faces rule would flag more of the group footage
    assert flagged_share(groups, faces, bar, t, None) >= flagged_share(groups, faces, bar, t, rule)


def test_swapped_halves_set_the_threshold_on_the_held_apart_half_and_measure_the_other() -> None:
    """The second reading of the false-alarm rate: the threshold comes from the held-apart items only, so a
    calibration half with a few high-scoring real items shows up as flagged (and vice versa it would not)."""
    from deepfake_detection.train.operating import choose_threshold, swapped_halves

    rng = np.random.default_rng(4)
    held = [_item(f"h{i}") for i in range(40)]
    calib = [_item(f"c{i}") for i in range(40)]
    faces = {it.path: [_face(float(rng.beta(1, 8)))] for it in held + calib}
    for it in calib[:4]:  # four real items that score like fakes, only in the calibration half
        faces[it.path] = [_face(0.97)]
    bar, crops = QualityBar(), np.array([0.1, 0.2])
    swap = swapped_halves({"real_footage": held, "talking_heads": []}, calib, faces, bar, 0.05, crops)
    t_held, _ = choose_threshold({"real_footage": held}, faces, bar, 0.05, val_real_crops=crops)
    assert swap["threshold"] == t_held < 0.97 and swap["items"] == 40
    assert swap["flagged"] == 4 / 40
    assert swapped_halves({"real_footage": []}, calib, faces, bar, 0.05, crops) == {}


def test_false_alarm_table_by_condition_and_number_of_judged_faces() -> None:
    from deepfake_detection.train.operating import false_alarm_table

    items = [_item("a"), _item("b", "multi_face"), _item("c", image=True), _item("d", "small_face")]
    faces = {
        "a": [_face(0.9)],
        "b": [_face(0.1), _face(0.2), _face(0.95, size=20)],
        "c": [_face(0.2, frames=1, sampled=1)],
        "d": [_face(0.99, size=30)],
    }
    table = false_alarm_table(items, faces, QualityBar(), 0.8, None)
    assert table["condition"]["single_face"]["flagged"] == 1.0
    assert table["condition"]["multi_face"]["flagged"] == 0.0  # its suspicious face is too small to decide
    assert table["condition"]["photo"]["items"] == 1
    assert table["condition"]["small_face"]["no_face"] == 1.0
    assert table["judged_faces"]["2-3"]["items"] == 1 and table["judged_faces"]["0 (NO_FACE)"]["items"] == 1
