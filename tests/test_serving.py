"""Serving: the ONNX Runtime session is built on a second thread; a model that cannot load still fails clearly."""

import shutil

import numpy as np
import pytest

from deepfake_detection.errors import ModelError
from deepfake_detection.models.serving import load_scorer, weights_dir


@pytest.fixture
def broken_model(tmp_path):
    shutil.copy(weights_dir() / "efficientnet_lite0.json", tmp_path / "broken.json")  # one network, not a fusion
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x07 not a protobuf graph" * 10)
    return tmp_path / "broken.onnx"


def test_a_model_that_cannot_load_fails_at_load_by_default(broken_model):
    with pytest.raises(ModelError, match="cannot load model"):
        load_scorer(str(broken_model))


def test_loading_in_the_background_fails_at_ready_and_at_first_use(broken_model):
    scorer = load_scorer(str(broken_model), wait=False)  # returns while the session builds
    with pytest.raises(ModelError, match="cannot load model"):
        scorer.ready()
    with pytest.raises(ModelError, match="cannot load model"):
        scorer.logits(np.zeros((1, scorer.input_size, scorer.input_size, 3), np.uint8))


def test_background_load_gives_the_same_logits():
    crops = np.random.default_rng(0).integers(0, 255, (4, 128, 128, 3), dtype=np.uint8)
    waited = load_scorer().logits(crops)
    background = load_scorer(wait=False).logits(crops)  # first use waits for the session
    np.testing.assert_allclose(background, waited, rtol=0, atol=1e-6)
