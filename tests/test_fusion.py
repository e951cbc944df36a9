import json
import shutil

import av
import numpy as np
import pytest

from benchmarks.synthetic import drawn_face, write_video
from deepfake_detection.calibration import threshold_for_fpr
from deepfake_detection.errors import ModelError
from deepfake_detection.models.serving import FusionScorer, load_scorer, weights_dir
from deepfake_detection.pipeline import Detector
from deepfake_detection.train import fusion


def test_stacking_weights_the_informative_model():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    informative = (2 * y - 1) * 2.0 + rng.normal(0, 1, len(y))
    noise = rng.normal(0, 1, len(y))
    w, b = fusion.fit_stack(np.stack([informative, noise], 1), y)
    assert w[0] > 1.0 and abs(w[1]) < 0.2 and abs(b) < 0.3


def test_threshold_keeps_real_flags_at_or_below_the_target():
    real = np.linspace(0.0, 0.99, 100)
    thr = threshold_for_fpr(real, 0.05)
    assert (real >= thr).sum() == 5 and thr > real[-6]
    assert threshold_for_fpr(np.full(10, 0.1), 0.05) == 0.5  # never below the floor
    assert (np.array([0.9, 0.2]) >= threshold_for_fpr(np.array([0.9, 0.2]), 0.05)).sum() == 0


@pytest.fixture
def two_model_card(tmp_path):
    """A fusion card of the shipped model twice (copies under other names), next to its ONNX files."""
    for name in ("a", "b"):
        shutil.copy(weights_dir() / "efficientnet_lite0.onnx", tmp_path / f"{name}.onnx")
        card = json.loads((weights_dir() / "efficientnet_lite0.json").read_text())
        (tmp_path / f"{name}.json").write_text(json.dumps(dict(card, name=name)))
    card = fusion.build_card("pair", ["a.onnx", "b.onnx"], np.array([0.5, 0.25]), 0.1, 128)
    path = tmp_path / "pair.json"
    path.write_text(json.dumps(dict(card, threshold=0.6)))
    return path


def test_fusion_card_loads_and_fuses_linearly(two_model_card):
    scorer = load_scorer(str(two_model_card))
    assert isinstance(scorer, FusionScorer) and scorer.threshold == 0.6 and scorer.input_size == 128
    crops = np.random.default_rng(1).integers(0, 255, (3, 128, 128, 3), np.uint8)
    single = load_scorer("efficientnet_lite0").logits(crops)
    np.testing.assert_allclose(scorer.logits(crops), 0.75 * single + 0.1, rtol=1e-6)


def test_report_shows_each_fused_models_score(two_model_card, face_clip):
    report = Detector(load_scorer(str(two_model_card)), num_frames=6).detect(face_clip)
    face = report.faces[0]
    assert set(face.components) == {"a", "b"}
    assert face.components["a"] == pytest.approx(face.components["b"])  # same network twice
    assert report.model == "pair"
    plain = Detector(load_scorer("efficientnet_lite0"), num_frames=6).detect(face_clip)
    assert plain.faces[0].components == {}


def test_component_tta_of_a_fusion_card_overrides_each_models_own(two_model_card):
    """The shipped model's card asks for flip TTA; a fusion that forces `component_tta: none` must serve its
    components without it (that is how its weights were fitted), and `hflip` with it."""
    crops = np.random.default_rng(2).integers(0, 255, (4, 128, 128, 3), np.uint8)
    own = load_scorer("efficientnet_lite0")
    assert own.card.tta == "hflip"
    plain = own._run(crops, 64)
    flipped = own._run(np.ascontiguousarray(crops[:, :, ::-1]), 64)
    card = json.loads(two_model_card.read_text())
    for tta, expect in (("none", plain), ("hflip", (plain + flipped) / 2)):
        two_model_card.write_text(json.dumps(dict(card, component_tta=tta)))
        scorer = load_scorer(str(two_model_card))
        assert all(c.card.tta == tta for c in scorer.components)
        np.testing.assert_allclose(scorer.logits(crops), 0.75 * expect + 0.1, rtol=1e-5, atol=1e-5)
    two_model_card.write_text(json.dumps(dict(card, component_tta="rot90")))
    with pytest.raises(ModelError, match="unknown component_tta"):
        load_scorer(str(two_model_card))


def test_fusion_card_with_wrong_weight_count_is_a_clear_error(two_model_card):
    card = json.loads(two_model_card.read_text())
    two_model_card.write_text(json.dumps(dict(card, weights=[1.0])))
    with pytest.raises(ModelError, match="1 weights for 2 models"):
        load_scorer(str(two_model_card))


def test_recompressed_variants_are_made_once(tmp_path):
    src = tmp_path / "real"
    src.mkdir()
    write_video(src / "talk.mp4", [drawn_face(w=640, h=480, cx=300 + i) for i in range(12)])
    made = fusion.recompressed(src, tmp_path / "variants")
    assert len(made) == 3
    heights = []
    for p in made:
        with av.open(str(p)) as c:
            heights.append(c.streams.video[0].codec_context.height)
    assert heights == [480, 480, 360]
    stamp = [p.stat().st_mtime_ns for p in made]
    assert [p.stat().st_mtime_ns for p in fusion.recompressed(src, tmp_path / "variants")] == stamp


def test_self_blended_stacking_fakes_come_from_real_crops_only(tmp_path):
    import cv2

    from deepfake_detection.datasets import Sample

    samples = []
    for i in range(6):
        img = cv2.resize(drawn_face(cx=160 + 3 * i), (224, 224))[40:200, 60:220]
        path = tmp_path / f"real_{i}.png"
        cv2.imwrite(str(path), img[..., ::-1])
        samples.append(Sample(str(path), "REAL", f"g{i}", "val"))
    samples.append(Sample(str(tmp_path / "missing_fake.png"), "FAKE", "g9", "val"))  # never read: fakes are skipped
    blends = fusion.self_blended(samples, 128, share=0.5, cache_dir=tmp_path / "cache")
    assert blends.shape == (3, 128, 128, 3) and blends.dtype == np.uint8


def test_flip_tta_scores_a_crop_and_its_mirror_alike(tmp_path):
    card = json.loads((weights_dir() / "efficientnet_lite0.json").read_text())
    shutil.copy(weights_dir() / "efficientnet_lite0.onnx", tmp_path / "m.onnx")
    crops = np.random.default_rng(2).integers(0, 255, (4, 128, 128, 3), np.uint8)
    mirrored = np.ascontiguousarray(crops[:, :, ::-1])
    (tmp_path / "m.json").write_text(json.dumps(dict(card, tta="hflip")))
    tta = load_scorer(str(tmp_path / "m.onnx"))
    np.testing.assert_allclose(tta.logits(crops), tta.logits(mirrored), rtol=1e-5, atol=1e-5)
    (tmp_path / "m.json").write_text(json.dumps(dict(card, tta="none")))
    plain = load_scorer(str(tmp_path / "m.onnx"))
    assert not np.allclose(plain.logits(crops), plain.logits(mirrored), atol=1e-5)
    np.testing.assert_allclose(tta.logits(crops), (plain.logits(crops) + plain.logits(mirrored)) / 2, rtol=1e-5)
    (tmp_path / "m.json").write_text(json.dumps(dict(card, tta="rot90")))
    with pytest.raises(ModelError, match="unknown tta"):
        load_scorer(str(tmp_path / "m.onnx"))


def test_calibrate_refits_platt_and_keeps_real_flags_within_target(tiny_crops, tmp_path, capsys):
    from deepfake_detection.cli import main
    from deepfake_detection.datasets import read_manifest

    out = tmp_path / "card.json"
    assert (
        main(
            [
                "calibrate",
                "efficientnet_lite0",
                "--data",
                str(tiny_crops),
                "--tta",
                "hflip",
                "--target-fpr",
                "0.25",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    card = json.loads(out.read_text())
    assert card["tta"] == "hflip" and card["threshold"] >= 0.5 and set(card["calibration"]) == {"a", "b"}
    assert card["operating_point"]["val_real_crops_flagged"] <= 0.25
    assert card["validation"]["n"] == sum(s.split == "val" for s in read_manifest(tiny_crops))


def test_operating_point_bounds_real_videos_and_crops(tmp_path):
    from deepfake_detection.errors import DeepfakeError

    real = tmp_path / "real"
    real.mkdir()
    write_video(real / "talk.mp4", [drawn_face(cx=150 + i) for i in range(10)])
    scorer = load_scorer()
    p_val, y_val = np.array([0.1, 0.2, 0.95, 0.9, 0.8]), np.array([0, 0, 0, 1, 1])
    point = fusion.operating_point(scorer, p_val, y_val, 0.05, real, tmp_path / "variants", num_frames=4)
    op = point["operating_point"]
    assert point["threshold"] > 0.95 and op["val_real_crops_flagged"] == 0  # no REAL crop may be flagged
    assert op["real_videos"] == 3 and op["real_videos_flagged"] == 0 and op["real_sources"] == ["talk.mp4"]
    assert "held-apart REAL videos" in point["threshold_rule"]
    crops_only = fusion.operating_point(scorer, p_val, y_val, 0.05)
    assert "real_videos" not in crops_only["operating_point"]
    (tmp_path / "blank").mkdir()
    write_video(tmp_path / "blank" / "wall.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 5)
    with pytest.raises(DeepfakeError, match="no face found"):
        fusion.operating_point(scorer, p_val, y_val, 0.05, tmp_path / "blank", tmp_path / "v2", num_frames=4)


class _MeanPixel:
    """A stand-in frame model: logit = mean pixel value / 100 of crops of its own size (refuses any other)."""

    def __init__(self, name: str, size: int):
        self.name, self.input_size = name, size

    def ready(self):
        return self

    def logits(self, crops):
        assert crops.shape[1:] == (self.input_size, self.input_size, 3), crops.shape
        return crops.reshape(len(crops), -1).mean(axis=1) / 100.0


def test_fusion_of_models_at_different_sizes_cuts_at_the_largest_and_brings_down_the_rest(tiny_crops):
    import cv2

    from deepfake_detection.datasets import read_manifests
    from deepfake_detection.models.card import ModelCard

    small, large = _MeanPixel("small", 32), _MeanPixel("large", 64)
    card = ModelCard.from_dict(fusion.build_card("pair", ["small", "large"], np.array([1.0, 2.0]), 0.5, 64))
    scorer = FusionScorer(card, [small, large])
    assert scorer.input_size == 64
    crops = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), np.uint8)
    down = np.stack([cv2.resize(c, (32, 32), interpolation=cv2.INTER_AREA) for c in crops])
    np.testing.assert_allclose(scorer.logits(crops), small.logits(down) + 2 * large.logits(crops) + 0.5)
    # The stacking set is scored the way the fusion serves: decoded at 64 px, brought down to 32 for `small`
    samples = read_manifests(str(tiny_crops))
    z = fusion.component_logits([small, large], samples)
    assert z.shape == (len(samples), 2) and np.isfinite(z).all()
    np.testing.assert_allclose(z[:, 0], z[:, 1], atol=0.02)  # a mean pixel barely changes with INTER_AREA


def test_mean_fusion_keeps_equal_weights_where_stacking_would_not():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    strong = (2 * y - 1) * 2.0 + rng.normal(0, 1, len(y))
    weak = (2 * y - 1) * 0.5 + rng.normal(0, 1, len(y))
    z = np.stack([strong, weak], 1)
    w_mean, b_mean = fusion.fit_fusion(z, y, mean=True)
    assert w_mean[0] == w_mean[1] > 0
    (scale,), bias = fusion.fit_stack(z.mean(axis=1, keepdims=True), y)
    np.testing.assert_allclose(z @ w_mean + b_mean, scale * z.mean(axis=1) + bias)  # Platt on the mean logit
    w_lr, _ = fusion.fit_fusion(z, y)
    assert w_lr[0] > 2 * w_lr[1]  # stacking would trust the strong model more


def test_mean_fusion_with_relative_weights_keeps_their_ratio():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    z = np.stack([(2 * y - 1) * s + rng.normal(0, 1, len(y)) for s in (1.0, 1.0, 2.0)], 1)
    w, b = fusion.fit_fusion(z, y, mean=True, relative=[1, 1, 0.5])
    np.testing.assert_allclose(w / w[0], [1, 1, 0.5])  # fixed before fitting: the strong third model stays at half
    (scale,), bias = fusion.fit_stack((z @ np.array([1, 1, 0.5]) / 2.5)[:, None], y)
    np.testing.assert_allclose(z @ w + b, scale * z @ np.array([1, 1, 0.5]) / 2.5 + bias)
    equal, _ = fusion.fit_fusion(z, y, mean=True, relative=[2, 2, 2])
    np.testing.assert_allclose(equal, fusion.fit_fusion(z, y, mean=True)[0])


@pytest.mark.parametrize("weights", [["1"], ["1", "-1"], ["0", "0"]])
def test_fuse_rejects_wrong_mean_weights_before_any_work(tiny_crops, tmp_path, capsys, monkeypatch, weights):
    from deepfake_detection.cli import main
    from deepfake_detection.models import serving

    monkeypatch.setattr(serving, "load_scorer", lambda *a, **k: pytest.fail("a model was loaded"))
    args = ["fuse", "--models", "efficientnet_lite0", "efficientnet_lite0", "--mean", *weights]
    args += ["--data", str(tiny_crops), "--real-videos", str(tmp_path), "--out", str(tmp_path / "f.json")]
    assert main(args) == 1
    assert "mean weights take 2 non-negative numbers" in capsys.readouterr().err
    assert not (tmp_path / "f.json").exists()


def test_calibrate_takes_a_fusion_card_and_keeps_its_models_reachable(two_model_card, tiny_crops, tmp_path, capsys):
    from deepfake_detection.calibration import fit_platt
    from deepfake_detection.cli import main
    from deepfake_detection.datasets import load_crops, read_manifests

    out = tmp_path / "elsewhere" / "pair_calibrated.json"
    args = ["calibrate", str(two_model_card), "--data", str(tiny_crops), "--target-fpr", "0.25", "--out", str(out)]
    assert main([*args, "--tta", "hflip"]) == 1
    assert "keep their own test-time augmentation" in capsys.readouterr().err
    out.parent.mkdir()
    assert main(args) == 0
    card = json.loads(out.read_text())
    assert card["kind"] == "fusion" and card["components"] == ["../a.onnx", "../b.onnx"]
    assert card["weights"] == [0.5, 0.25] and card["operating_point"]["val_real_crops_flagged"] <= 0.25
    # Served from its new place, the card's probability is Platt refitted on the fused validation logits
    scorer = load_scorer(str(out))
    val = [s for s in read_manifests(str(tiny_crops)) if s.split == "val"]
    z = scorer.logits(load_crops(val, 128))
    platt = fit_platt(z, np.array([s.y for s in val]))
    assert card["calibration"] == pytest.approx({"a": platt["a"], "b": platt["b"]})


def test_a_component_that_skips_frames_scores_only_its_positions():
    from deepfake_detection.models.card import ModelCard

    small, large = _MeanPixel("small", 32), _MeanPixel("large", 64)
    card = ModelCard.from_dict(
        dict(fusion.build_card("pair", ["small", "large"], np.ones(2), 0.0, 64), component_every=[1, 2])
    )
    scorer = FusionScorer(card, [small, large])
    crops = np.random.default_rng(3).integers(0, 255, (5, 64, 64, 3), np.uint8)
    every = scorer.component_logits(crops)  # no positions: every component scores every crop
    some = scorer.component_logits(crops, positions=[4, 5, 6, 7, 9])
    np.testing.assert_array_equal(some["small"], every["small"])
    np.testing.assert_array_equal(np.isnan(some["large"]), [False, True, False, True, True])
    np.testing.assert_array_equal(some["large"][[0, 2]], every["large"][[0, 2]])
    assert card.to_dict()["component_every"] == [1, 2] and ModelCard.from_dict(card.to_dict()) == card


@pytest.mark.parametrize("every", [[0, 2], [2]])
def test_component_every_needs_one_positive_step_per_component(every):
    from deepfake_detection.models.card import ModelCard

    with pytest.raises(ModelError, match="component_every"):
        ModelCard.from_dict(dict(fusion.build_card("pair", ["a", "b"], np.ones(2), 0.0, 64), component_every=every))


def _counting(scorer, name):
    """Count the crops component `name` of a fusion is asked to score."""
    comp = next(c for c in scorer.components if c.name == name)
    seen = []
    logits = comp.logits
    comp.logits = lambda crops: seen.append(len(crops)) or logits(crops)
    return seen


@pytest.mark.parametrize("overlap", [True, False])
def test_skipped_frames_get_the_component_logit_interpolated_within_the_track(two_model_card, face_clip, overlap):
    """`component_every: [1, 2]`: the second model sees every other sampled frame; the reported frame scores equal
    the full pair's where it looked and lie between their neighbours' where it did not (same network twice)."""
    full = Detector(load_scorer(str(two_model_card)), num_frames=12, overlap=overlap).detect(face_clip)
    card = json.loads(two_model_card.read_text())
    two_model_card.write_text(json.dumps(dict(card, component_every=[1, 2])))
    scorer = load_scorer(str(two_model_card))
    seen = _counting(scorer, "b")
    half = Detector(scorer, num_frames=12, overlap=overlap).detect(face_clip)
    frames_a, frames_b = full.faces[0].frames, half.faces[0].frames
    assert len(frames_a) == len(frames_b) == 12 and sum(seen) == 6  # positions 0, 2, ..., 10
    z = np.log([f.probability / (1 - f.probability) for f in frames_b])
    za = np.log([f.probability / (1 - f.probability) for f in frames_a])
    np.testing.assert_allclose(z[::2], za[::2], atol=1e-5)
    # fused = 0.5 z_a + 0.25 z_b + 0.1 with z_a = z_b on a frame, so on a skipped frame z_b = mean of its neighbours'
    own = (za - 0.1) / 0.75
    expect = 0.5 * own[1:-1:2] + 0.25 * (own[0:-2:2] + own[2::2]) / 2 + 0.1
    np.testing.assert_allclose(z[1:-1:2], expect, atol=1e-4)
    assert half.faces[0].components["b"] == pytest.approx(full.faces[0].components["b"], abs=0.05)


def test_a_track_on_no_frame_of_a_skipping_component_is_scored_by_it_in_full(two_model_card, face_clip):
    from deepfake_detection.faces import track_faces

    def odd_only(frames, cfg, found=None):
        tracks = track_faces(frames, cfg) if found is None else track_faces(frames, cfg, found)
        keep = [[i for i, p in enumerate(tr.frame_positions) if p % 2] for tr in tracks]
        return [
            type(tr)(
                tr.track_id, [tr.frame_positions[i] for i in k], [tr.detections[i] for i in k], [tr.crops[i] for i in k]
            )
            for tr, k in zip(tracks, keep)
        ]

    card = json.loads(two_model_card.read_text())
    two_model_card.write_text(json.dumps(dict(card, component_every=[1, 2])))
    scorer = load_scorer(str(two_model_card))
    seen = _counting(scorer, "b")
    report = Detector(scorer, num_frames=12, overlap=False, track=odd_only).detect(face_clip)
    frames = report.faces[0].frames
    assert len(frames) == 6 and sum(seen) == 6 and all(0 < f.probability < 1 for f in frames)
    assert report.faces[0].components["a"] == pytest.approx(report.faces[0].components["b"], abs=1e-5)


def test_memoised_footage_reports_are_keyed_by_what_serves_them(two_model_card):
    """`calibrate` memoises the full pipeline's reports per scoring key: two fusions of the same networks that
    combine them differently (weights, frames each sees) must not share reports; the same card twice must."""
    from deepfake_detection.train.operating import scoring_key

    card = json.loads(two_model_card.read_text())
    keys = []
    for change in ({}, {}, {"component_every": [1, 2]}, {"weights": [0.5, 0.5]}, {"component_tta": "hflip"}):
        two_model_card.write_text(json.dumps(dict(card, **change)))
        keys.append(scoring_key(load_scorer(str(two_model_card)), 32))
    assert keys[0] == keys[1] and len(set(keys)) == 4
    assert scoring_key(load_scorer("efficientnet_lite0"), 32) != scoring_key(load_scorer("efficientnet_lite0"), 16)


@pytest.mark.parametrize("every", [["1"], ["1", "0"]])
def test_fuse_rejects_a_wrong_every_before_any_work(tiny_crops, tmp_path, capsys, monkeypatch, every):
    from deepfake_detection.cli import main
    from deepfake_detection.models import serving

    monkeypatch.setattr(serving, "load_scorer", lambda *a, **k: pytest.fail("a model was loaded"))
    args = ["fuse", "--models", "efficientnet_lite0", "efficientnet_lite0", "--every", *every]
    args += ["--data", str(tiny_crops), "--real-videos", str(tmp_path), "--out", str(tmp_path / "f.json")]
    assert main(args) == 1
    assert "component_every" in capsys.readouterr().err and not (tmp_path / "f.json").exists()
