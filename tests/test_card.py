"""The model card: typed fields for what serving reads, every other key kept, written back unchanged."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from deepfake_detection.errors import ModelError
from deepfake_detection.models.card import Calibration, FacesRule, ModelCard, QualityBar
from deepfake_detection.models.serving import FrameScorer, load_scorer, weights_dir


def test_the_shipped_card_loads_and_writes_back_byte_for_byte(tmp_path) -> None:
    path = weights_dir() / "efficientnet_lite0.json"
    card = ModelCard.load(path)
    assert card.name == "efficientnet_lite0" and card.kind == "frame" and card.input_size == 128
    assert card.tta == "hflip" and isinstance(card.calibration, Calibration) and 0.5 <= card.threshold < 1.0
    assert card.quality_bar == QualityBar() and isinstance(card.faces_rule, FacesRule)
    assert card.extra["architecture"] == "efficientnet_lite0" and "validation" in card.extra
    card.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == path.read_text()


def test_a_changed_card_keeps_its_key_order_and_adds_new_fields_at_the_end() -> None:
    raw = {"name": "m", "input_size": 64, "notes": "kept", "calibration": {"a": 1.0, "b": 0.0}}
    card = replace(ModelCard.from_dict(raw), threshold=0.8, calibration=Calibration(2.0, -1.0))
    out = card.to_dict()
    assert list(out) == ["name", "input_size", "notes", "calibration", "threshold"]
    assert out["calibration"] == {"a": 2.0, "b": -1.0} and out["notes"] == "kept"
    assert ModelCard.from_dict(raw).to_dict() == raw  # defaults that were never written stay unwritten


def test_a_fusion_card_round_trips() -> None:
    raw = {"name": "pair", "kind": "fusion", "components": ["a.onnx", "b"], "weights": [0.5, 0.25], "bias": 0.1}
    card = ModelCard.from_dict(dict(raw, input_size=128, threshold=0.6))
    assert card.kind == "fusion" and card.components == ("a.onnx", "b") and card.weights == (0.5, 0.25)
    assert card.to_dict() == dict(raw, input_size=128, threshold=0.6)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"input_size": 128}, "has no name"),
        ({"name": "m", "tta": "rot90"}, "unknown tta"),
        ({"name": "m", "kind": "ensemble"}, "unknown card kind"),
        ({"name": "m", "threshold": 1.5}, "not a probability"),
        ({"name": "m", "quality_bar": {"min_size": 48, "max_blur": 3}}, "invalid model card"),
        ({"name": "m", "input_size": "large"}, "invalid model card"),
    ],
)
def test_a_malformed_card_is_a_model_error(raw, message) -> None:
    with pytest.raises(ModelError, match=message):
        ModelCard.from_dict(raw)


def test_an_unreadable_card_file_is_a_model_error(tmp_path) -> None:
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable model card"):
        ModelCard.load(tmp_path / "m.json")


def test_the_effective_threshold_is_the_callers_else_the_cards() -> None:
    card = ModelCard(name="m", threshold=0.9)
    assert card.effective_threshold(None) == 0.9 and card.effective_threshold() == 0.9
    assert card.effective_threshold(0.3) == 0.3 and card.effective_threshold(0.0) == 0.0


def test_a_scorer_reads_its_card_and_follows_a_replaced_one() -> None:
    scorer = load_scorer("efficientnet_lite0")
    assert isinstance(scorer, FrameScorer)
    assert (scorer.name, scorer.input_size, scorer.threshold) == ("efficientnet_lite0", 128, scorer.card.threshold)
    assert scorer.components == (scorer,)
    scorer.card = replace(scorer.card, calibration=Calibration(0.0, 0.0))
    assert scorer.probability([5.0, -5.0]).tolist() == [0.5, 0.5]


def test_load_scorer_says_which_card_is_malformed(tmp_path) -> None:
    card = json.loads((weights_dir() / "efficientnet_lite0.json").read_text())
    del card["input_size"]
    (tmp_path / "m.json").write_text(json.dumps(card))
    (tmp_path / "m.onnx").write_bytes((weights_dir() / "efficientnet_lite0.onnx").read_bytes())
    with pytest.raises(ModelError, match="no input_size"):
        load_scorer(str(tmp_path / "m.onnx"))
