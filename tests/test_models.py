"""Every registered model builds, trains one step through the project's trainer and evaluates on tiny data."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deepfake_detection.config import load_config  # noqa: E402
from deepfake_detection.errors import ModelError  # noqa: E402
from deepfake_detection.models import create_model, list_models, model_cfg  # noqa: E402
from deepfake_detection.train import TrainConfig, train  # noqa: E402

FRAME_MODELS = [n for n in list_models() if model_cfg(n).kind == "frame"]
SEQUENCE_MODELS = [n for n in list_models() if model_cfg(n).kind == "sequence"]
# Sequence models on ImageNet features; the others take a frame run's backbone (tests/test_original_models.py).
IMAGENET_SEQUENCE_MODELS = [n for n in SEQUENCE_MODELS if "backbone" in model_cfg(n).extra]


def test_registry_has_the_original_projects_families():
    names = set(list_models())
    assert {"mesonet4", "mesoinception4", "resnet50", "efficientnet_b0", "efficientnet_lite0"} <= names
    assert set(SEQUENCE_MODELS) == {
        "efficientnet_lite0_gru",
        "efficientnet_lite2_gru",
        "inceptionv3_gru",
        "efficientnet_b2_gru",
    }
    assert list_models("meso*") == ["mesoinception4", "mesonet4"]


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(ModelError, match="mesonet4"):
        create_model("mesonet5")


@pytest.mark.parametrize("name", FRAME_MODELS)
def test_frame_model_forward_takes_uint8_crops(name):
    model = create_model(name, pretrained=False).eval()
    size = model_cfg(name).input_size
    with torch.inference_mode():
        out = model(torch.randint(0, 255, (2, size, size, 3), dtype=torch.uint8))
    assert out.shape == (2,) and torch.isfinite(out).all()


def test_lite0_imagenet_init_changes_the_weights():
    a = create_model("efficientnet_lite0", pretrained=True).state_dict()
    b = create_model("efficientnet_lite0", pretrained=False).state_dict()
    key = "backbone.conv_stem.weight"
    assert not torch.allclose(a[key], b[key])


@pytest.mark.parametrize("name", FRAME_MODELS)
def test_frame_model_trains_one_step_and_evaluates(name, tiny_crops, tmp_path):
    cfg = load_config(
        TrainConfig,
        None,
        model=name,
        data=str(tiny_crops),
        out=str(tmp_path / "run"),
        cache_dir=str(tmp_path / "cache"),
        batch_size=4,
        max_steps=1,
        eval_every=1,
        warmup_steps=1,
        augment=False,
        pretrained=False,
    )
    run = train(cfg, progress=False)
    m = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert m["step"] == 1 and m["n"] == 8 and np.isfinite(m["log_loss"])
    assert (run / "best.pt").is_file()


@pytest.fixture
def tiny_tracks(tmp_path):
    """An extract-faces-like manifest: 8 videos x 1 track x 6 frames; FAKE tracks flicker, REAL ones are steady."""
    import cv2

    rng = np.random.default_rng(1)
    rows = ["path,label,group,split,video,track,time"]
    for v in range(8):
        label = "FAKE" if v % 2 else "REAL"
        split = "train" if v < 6 else "val"
        base = rng.integers(0, 255, (32, 32, 3), np.uint8)
        for f in range(6):
            img = 255 - base if label == "FAKE" and f % 2 else base
            name = f"v{v}_{f}.png"
            cv2.imwrite(str(tmp_path / name), img)
            rows.append(f"{name},{label},g{v // 2},{split},v{v},0,{f / 10}")
    (tmp_path / "tracks.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "tracks.csv"


@pytest.mark.parametrize("name", IMAGENET_SEQUENCE_MODELS)
def test_sequence_model_trains_one_step_on_cached_features(name, tiny_tracks, tmp_path):
    cfg = load_config(
        TrainConfig,
        None,
        model=name,
        data=str(tiny_tracks),
        out=str(tmp_path / "run"),
        cache_dir=str(tmp_path / "cache"),
        batch_size=4,
        max_steps=2,
        eval_every=1,
        seq_len=4,
    )
    run = train(cfg, progress=False)
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2] and lines[-1]["n"] == 2
    assert len(list((tmp_path / "cache").glob("features_*.npy"))) == 1  # features computed once, then reused

    from deepfake_detection.train.sequence import score_sequence_run

    y, p = score_sequence_run(run, tiny_tracks, "val")
    assert sorted(y.tolist()) == [0, 1] and ((p >= 0) & (p <= 1)).all()
