"""Landmark dynamics: features react to jitter, and a fitted model scores a jittery track above a smooth one."""

import numpy as np
import pytest

from deepfake_detection.dynamics import FEATURES, DynamicsModel, fit_dynamics, track_features

BASE = np.array([[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]], np.float64)


def make_track(jitter: float, seed: int, frames: int = 32):
    """A head drifting slowly to the right; the inner face shakes by `jitter` pixels independently of it."""
    rng = np.random.default_rng(seed)
    shift = np.linspace(0, 30, frames)[:, None]
    boxes = np.stack([20 + shift[:, 0], np.full(frames, 20.0), 120 + shift[:, 0], np.full(frames, 130.0)], axis=1)
    lm = BASE[None] + np.stack([shift, np.zeros_like(shift)], axis=2) + rng.normal(0, jitter, (frames, 5, 2))
    return lm, boxes


def test_features_grow_with_jitter():
    smooth = track_features(*make_track(0.2, 0))
    shaky = track_features(*make_track(3.0, 0))
    assert smooth.shape == (len(FEATURES),)
    assert shaky[FEATURES.index("jitter")] > 5 * smooth[FEATURES.index("jitter")]
    assert shaky[FEATURES.index("jitter_vs_motion")] > smooth[FEATURES.index("jitter_vs_motion")]


def test_short_track_has_no_features():
    assert track_features(*make_track(1.0, 0, frames=3)) is None


def test_fitted_model_scores_jittery_track_above_smooth_and_names_the_signal():
    X = np.array([track_features(*make_track(j, s)) for s in range(20) for j in (0.3, 2.5)])
    y = np.array([0, 1] * 20)
    model = fit_dynamics(X, y)
    assert (model.weights >= 0).all()
    smooth, shaky = track_features(*make_track(0.3, 99)), track_features(*make_track(2.5, 99))
    assert model.probability(shaky) > 0.7 > 0.3 > model.probability(smooth)
    assert model.explain(shaky) in {
        "jitter",
        "jitter_vs_motion",
        "high_freq_energy",
        "eye_distance_cv",
        "mouth_eye_ratio_std",
        "centre_drift",
    }
    again = DynamicsModel.from_json(model.to_json())
    assert again.probability(shaky) == pytest.approx(model.probability(shaky))


def test_non_negative_weights_cannot_reward_consistency():
    """If training data pairs jitter with REAL, the constrained model ignores jitter rather than learning that a
    shaky face is a sign of a real one."""
    X = np.array([track_features(*make_track(j, s)) for s in range(20) for j in (0.3, 2.5)])
    y = np.array([1, 0] * 20)  # inverted labels
    model = fit_dynamics(X, y)
    for name in ("jitter", "jitter_vs_motion", "high_freq_energy"):
        assert model.weights[FEATURES.index(name)] == 0.0


def test_pipeline_reports_dynamics_score_and_signal_only_with_a_model(face_clip, tmp_path, capsys):
    import json

    from deepfake_detection.cli import main
    from deepfake_detection.models.serving import load_scorer
    from deepfake_detection.pipeline import Detector

    X = np.array([track_features(*make_track(j, s)) for s in range(20) for j in (0.3, 2.5)])
    model = fit_dynamics(X, np.array([0, 1] * 20))
    scorer = load_scorer()
    face = Detector(scorer, num_frames=12, dynamics=model).detect(face_clip).faces[0]
    assert 0 <= face.dynamics.probability <= 1 and face.dynamics.signal in FEATURES
    assert Detector(scorer, num_frames=12).detect(face_clip).faces[0].dynamics is None
    path = tmp_path / "dyn.json"
    path.write_text(json.dumps(model.to_json()))
    assert main(["detect", str(face_clip), "--frames", "12", "--dynamics", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["faces"][0]["dynamics"]["signal"] in FEATURES
