"""Configs load strictly: every shipped YAML is valid, and typos or duplicates are errors, not silent defaults."""

from pathlib import Path

import pytest

from deepfake_detection.config import load_config
from deepfake_detection.errors import ConfigError
from deepfake_detection.models import list_models
from deepfake_detection.train import TrainConfig

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load_and_name_registered_models(path):
    cfg = load_config(TrainConfig, path)
    assert cfg.model in list_models()
    assert len(path.read_text().splitlines()) <= 25


def test_every_registered_model_has_a_config():
    assert {load_config(TrainConfig, p).model for p in CONFIGS} == set(list_models())


def test_unknown_key_is_an_error(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: mesonet4\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config(TrainConfig, p)


def test_duplicate_key_is_an_error(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("lr: 0.1\nmax_steps: 10\nlr: 0.2\n")
    with pytest.raises(ConfigError, match="duplicate key 'lr'"):
        load_config(TrainConfig, p)


def test_wrong_type_is_an_error_and_overrides_win(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("max_steps: many\n")
    with pytest.raises(ConfigError, match="max_steps"):
        load_config(TrainConfig, p)
    p.write_text("max_steps: 10\nlr: 1\n")
    cfg = load_config(TrainConfig, p, max_steps=20, out=None)
    assert cfg.max_steps == 20 and cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.out == TrainConfig.out
