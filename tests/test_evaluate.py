"""Evaluation metrics against values worked out by hand: every reported AUC, EER and threshold depends on them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from deepfake_detection.datasets import Sample
from deepfake_detection.evaluate import (
    binary_metrics,
    equal_error_rate,
    expected_calibration_error,
    plot_roc_and_reliability,
    tpr_at_fpr,
    video_scores,
)


def test_binary_metrics_hand_example() -> None:
    """Pairs (fake > real): 0.35>0.1, 0.8>0.1, 0.8>0.4, but 0.35<0.4 -> AUC 3/4."""
    y, p = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    m = binary_metrics(y, p)
    assert m["n"] == 4 and m["n_fake"] == 2
    assert m["auc"] == pytest.approx(0.75)
    assert m["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4)
    assert m["accuracy"] == pytest.approx(0.75)  # predictions 0,0,0,1
    assert m["balanced_accuracy"] == pytest.approx(0.75)  # (TNR 1 + TPR 1/2) / 2
    assert m["always_fake_accuracy"] == pytest.approx(0.5)
    assert m["eer"] == pytest.approx(0.5)  # at threshold 0.4: FPR 1/2 = FNR 1/2
    assert m["ap"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)  # ranked: F R F R
    assert m["ece"] == pytest.approx((0.1 + 0.4 + 0.65 + 0.2) / 4)  # one sample in each of four bins
    assert m["threshold"] == 0.5


def test_binary_metrics_threshold_and_imbalance() -> None:
    """Balanced accuracy must differ from accuracy on imbalanced data, and the threshold must be honoured."""
    y, p = [0, 0, 0, 1], [0.2, 0.6, 0.1, 0.9]
    m = binary_metrics(y, p, threshold=0.5)  # predictions 0,1,0,1
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["always_fake_accuracy"] == pytest.approx(0.25)
    assert m["real_flagged"] == pytest.approx(1 / 3) and m["fake_caught"] == pytest.approx(1.0)
    assert m["auc"] == pytest.approx(1.0) and m["eer"] == pytest.approx(0.0)
    strict = binary_metrics(y, p, threshold=0.7)  # predictions 0,0,0,1
    assert strict["accuracy"] == pytest.approx(1.0) and strict["balanced_accuracy"] == pytest.approx(1.0)


def test_binary_metrics_clips_and_handles_one_class() -> None:
    """A confident wrong 0.0 must cost -log(1e-6), not infinity; one class gives NaN AUC instead of crashing."""
    m = binary_metrics([1, 0], [0.0, 0.0])
    assert m["log_loss"] == pytest.approx(-(math.log(1e-6) + math.log(1 - 1e-6)) / 2)
    one = binary_metrics([0, 0, 0], [0.1, 0.2, 0.7])
    assert math.isnan(one["auc"]) and math.isnan(one["eer"]) and math.isnan(one["balanced_accuracy"])
    assert one["accuracy"] == pytest.approx(2 / 3) and one["always_fake_accuracy"] == 0.0


def test_ece_hand_examples() -> None:
    y80 = np.array([1] * 8 + [0] * 2)
    assert expected_calibration_error(y80, np.full(10, 0.8)) == pytest.approx(0.0, abs=1e-12)
    y50 = np.array([1] * 5 + [0] * 5)
    assert expected_calibration_error(y50, np.full(10, 0.9)) == pytest.approx(0.4)
    # two bins, half each: |0 - 0.2| and |1 - 0.7| -> 0.5 * 0.2 + 0.5 * 0.3
    assert expected_calibration_error([0, 0, 1, 1], [0.2, 0.2, 0.7, 0.7]) == pytest.approx(0.25)
    assert expected_calibration_error([1], [1.0]) == pytest.approx(0.0)  # p = 1 falls in the last bin


def test_equal_error_rate_extremes() -> None:
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(0.0)
    assert equal_error_rate([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == pytest.approx(1.0)


def test_tpr_at_fpr_respects_the_budget() -> None:
    """With 20 REALs and a 5 % budget at most one REAL may score at or above the operating threshold."""
    reals = np.array([i / 20 for i in range(20)])  # 0.00 .. 0.95
    np.random.default_rng(0).shuffle(reals)
    fakes = np.array([0.3, 0.92, 0.95, 0.97, 0.99])
    y = np.r_[np.zeros(20, int), np.ones(5, int)]
    p = np.r_[reals, fakes]
    tpr, thr = tpr_at_fpr(y, p, 0.05)
    assert (reals >= thr).sum() == 1
    assert 0.9 < thr < 0.92
    assert tpr == pytest.approx(4 / 5)  # 0.92, 0.95, 0.97, 0.99
    tpr0, thr0 = tpr_at_fpr(y, p, 0.0)
    assert (reals >= thr0).sum() == 0 and 0.95 < thr0 < 0.97
    assert tpr0 == pytest.approx(2 / 5)  # a FAKE tied with the top REAL (0.95) is not caught
    nan_tpr, default_thr = tpr_at_fpr(np.ones(3, int), np.array([0.1, 0.5, 0.9]), 0.05)
    assert math.isnan(nan_tpr) and default_thr == 0.5


def test_video_scores_mean_logit_per_video() -> None:
    """Crops of one video vote in logit space: 0.9 and 0.1 cancel to 0.5; 0.8 and 0.5 give expit(ln 4 / 2) = 2/3."""
    samples = [
        Sample("v1_a.jpg", "FAKE", "g1", video="v1"),
        Sample("v2_a.jpg", "REAL", "g2", video="v2"),
        Sample("v1_b.jpg", "FAKE", "g1", video="v1"),
        Sample("v2_b.jpg", "REAL", "g2", video="v2"),
        Sample("v3_a.jpg", "FAKE", "g3", video="v3"),
        Sample("v3_b.jpg", "FAKE", "g3", video="v3"),
        Sample("lone.jpg", "REAL", "g4"),  # no video: keyed by its path
    ]
    probs = np.array([0.9, 0.5, 0.1, 0.5, 0.8, 0.5, 0.3])
    y, p, names = video_scores(samples, probs)
    assert names == ["lone.jpg", "v1", "v2", "v3"]
    assert y.tolist() == [0, 1, 0, 1]
    assert p == pytest.approx([0.3, 0.5, 0.5, 2 / 3])


def test_plots_are_written(tmp_path: Path) -> None:
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    p = np.array([0.1, 0.3, 0.55, 0.45, 0.8, 0.95, 0.2, 0.7])
    paths = plot_roc_and_reliability(y, p, tmp_path / "plots", "test")
    assert [Path(x).name for x in paths] == ["roc.png", "reliability.png"]
    for x in paths:
        data = Path(x).read_bytes()
        assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_threshold_rule_for_export_metrics_and_fusion():
    """tpr_at_fpr and the operating point use the same threshold: the lowest one flagging ≤ target of REAL."""
    from deepfake_detection.calibration import threshold_for_fpr
    from deepfake_detection.evaluate import tpr_at_fpr

    rng = np.random.default_rng(0)
    real, fake = rng.random(200), rng.random(100) * 0.5 + 0.5
    y = np.r_[np.zeros(200, int), np.ones(100, int)]
    tpr, thr = tpr_at_fpr(y, np.r_[real, fake], 0.05)
    assert thr == threshold_for_fpr(real, 0.05, floor=-np.inf)
    assert (real >= thr).mean() <= 0.05 and (real >= np.nextafter(thr, 0)).mean() > 0.05
    assert tpr == (fake >= thr).mean()


def test_platt_fit_recovers_a_known_calibration():
    from deepfake_detection.calibration import fit_platt

    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 20000)
    y = (rng.random(len(z)) < 1 / (1 + np.exp(-(0.5 * z - 1.0)))).astype(int)
    fit = fit_platt(z, y)
    assert abs(fit["a"] - 0.5) < 0.05 and abs(fit["b"] + 1.0) < 0.08


def test_unscored_videos_count_at_half_in_the_all_inputs_auc() -> None:
    from deepfake_detection.evaluate import auc_all_inputs

    def row(label, p):
        return {"label": label, "probability": p}

    scored = [row("REAL", 0.1), row("REAL", 0.3), row("FAKE", 0.8), row("FAKE", 0.9)]
    assert auc_all_inputs(scored) == 1.0  # nothing unscored: the plain AUC
    # A fake without a face sits between the reals and the scored fakes: it outranks both reals, no fake
    assert auc_all_inputs(scored + [row("FAKE", None)]) == 1.0
    # A real without a face (0.5) outranks a fake scored 0.4: one of the nine pairs goes wrong
    assert auc_all_inputs([*scored, row("REAL", None), row("FAKE", 0.4)]) == pytest.approx(1 - 1 / 9)
    assert np.isnan(auc_all_inputs([row("REAL", None), row("REAL", 0.2)]))


def test_videos_that_all_lack_a_face_are_a_clear_error(tmp_path: Path) -> None:
    import cv2

    from deepfake_detection.errors import DeepfakeError
    from deepfake_detection.evaluate import evaluate_videos
    from deepfake_detection.models.serving import load_scorer
    from deepfake_detection.pipeline import Detector

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 128, np.uint8))
    samples = [Sample(str(blank), "REAL", "a"), Sample(str(tmp_path / "missing.mp4"), "FAKE", "b")]
    with pytest.raises(DeepfakeError, match="1 of 2 had no face .* 1 failed"):
        evaluate_videos(Detector(load_scorer()), samples, 0.5)


def test_auc_standard_error_matches_hanley_mcneil_and_shrinks_with_data() -> None:
    from deepfake_detection.evaluate import auc_standard_error

    # By hand: AUC 0.8 on 50 + 50 -> Q1 = 2/3, Q2 = 0.7111, var = (0.16 + 49 (Q1 - 0.64) + 49 (Q2 - 0.64)) / 2500
    assert auc_standard_error(0.8, 50, 50) == pytest.approx(0.0445, abs=2e-4)
    assert auc_standard_error(0.55, 680, 370) < auc_standard_error(0.55, 68, 37) / 3
    assert auc_standard_error(1.0, 10, 10) == 0.0
