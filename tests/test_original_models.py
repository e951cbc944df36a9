"""Issue 19, the original design's models: EfficientNet-B0, ResNet-50, InceptionV3 + GRU and EfficientNet-B2 + GRU.

Frame models learn by distillation from the shipped model (no ImageNet weights install offline); the GRU models take
their frozen backbone from a trained frame run. Everything here runs on tiny generated data at tiny sizes.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deepfake_detection.config import load_config  # noqa: E402
from deepfake_detection.errors import DeepfakeError  # noqa: E402
from deepfake_detection.models import create_model, list_models, model_cfg  # noqa: E402
from deepfake_detection.models.families.sequence import frame_features, track_classifier  # noqa: E402
from deepfake_detection.models.serving import weights_dir  # noqa: E402
from deepfake_detection.train import TrainConfig, train  # noqa: E402
from deepfake_detection.train.distill import distill_loss  # noqa: E402

FRAME_MODELS = ["efficientnet_b0", "resnet50", "efficientnet_b2", "inception_v3"]
GRU_BACKBONES = {"inceptionv3_gru": "inception_v3", "efficientnet_b2_gru": "efficientnet_b2"}
TEST_SIZE = {"inception_v3": 96, "mesonet4": 128}  # InceptionV3 needs >= 75 px, MesoNet 128; the rest run at 64
TEACHER = weights_dir() / "efficientnet_lite0.onnx"


@pytest.fixture(autouse=True)
def _one_thread():
    """A training job shares this machine's two cores: tests take one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(tmp_path, **overrides) -> TrainConfig:
    base = dict(
        out=str(tmp_path / "run"),
        cache_dir=str(tmp_path / "cache"),
        batch_size=4,
        max_steps=1,
        eval_every=1,
        warmup_steps=1,
        augment=False,
        pretrained=False,
        freeze_blocks=0,
        threads=1,
    )
    return load_config(TrainConfig, None, **(base | overrides))


def _with_unlabelled(manifest, n: int = 4):
    """The manifest plus `n` teacher-only train rows (empty label)."""
    lines = manifest.read_text().splitlines()
    extra = [f"{line.split(',')[0]},,u{i},train" for i, line in enumerate(lines[1 : n + 1])]
    out = manifest.with_name("with_unlabelled.csv")
    out.write_text("\n".join(lines + extra) + "\n")
    return out


def _tracks(folder):
    """An extract-faces-like manifest: 8 videos x 1 track x 6 frames; FAKE tracks flicker, REAL ones are steady."""
    import cv2

    rng = np.random.default_rng(1)
    rows = ["path,label,group,split,video,track,time"]
    for v in range(8):
        label = "FAKE" if v % 2 else "REAL"
        base = rng.integers(0, 255, (32, 32, 3), np.uint8)
        for f in range(6):
            cv2.imwrite(str(folder / f"v{v}_{f}.png"), 255 - base if label == "FAKE" and f % 2 else base)
            rows.append(f"v{v}_{f}.png,{label},g{v // 2},{'train' if v < 6 else 'val'},v{v},0,{f / 10}")
    (folder / "tracks.csv").write_text("\n".join(rows) + "\n")
    return folder / "tracks.csv"


def _frame_run(name, tiny_crops, tmp_path, **overrides):
    cfg = _config(tmp_path, model=name, data=str(tiny_crops), input_size=TEST_SIZE.get(name, 64), **overrides)
    return train(cfg, progress=False)


# --- the four models build --------------------------------------------------------------------------------------


def test_the_original_models_are_registered_and_say_where_their_init_comes_from():
    names = set(list_models())
    assert set(FRAME_MODELS) | set(GRU_BACKBONES) <= names
    for name in FRAME_MODELS:
        c = model_cfg(name)
        # Only B0 has offline ImageNet weights, through Lite0's; the others start from random init
        assert c.kind == "frame" and (("Lite0" in c.pretrained) if name == "efficientnet_b0" else c.pretrained == "")
    assert model_cfg("inception_v3").input_size == 160 and model_cfg("efficientnet_b2").input_size == 128
    for name, frame in GRU_BACKBONES.items():
        c = model_cfg(name)
        assert c.kind == "sequence" and c.extra["frame_model"] == frame
        assert c.input_size == model_cfg(frame).input_size


@pytest.mark.parametrize("name", sorted(GRU_BACKBONES))
def test_gru_model_builds_on_its_frame_models_features(name):
    frame = GRU_BACKBONES[name]
    size = TEST_SIZE.get(frame, 64)
    features = frame_features(create_model(frame, pretrained=False))
    x = torch.randint(0, 256, (2, 3, size, size, 3), dtype=torch.uint8)
    with torch.inference_mode():
        f = features(x[0])
        out = track_classifier(features, create_model(name).eval())(x)
    assert f.shape == (3, model_cfg(name).extra["feature_dim"])
    assert out.shape == (2,) and torch.isfinite(out).all()


# --- distillation -----------------------------------------------------------------------------------------------


def test_distillation_moves_the_student_towards_the_teacher():
    """A linear student on uninformative labels: with the teacher's soft targets it learns the teacher's function,
    from the labels alone it does not."""
    torch.manual_seed(0)
    x = torch.randn(512, 8)
    teacher = x @ torch.randn(8) * 2.0
    y = (torch.rand(512) < 0.5).float()  # labels carry no information about x
    some_teacher_only = torch.arange(512) % 4 != 0  # a quarter of the rows have no label
    all_labelled = torch.ones(512, dtype=torch.bool)

    def fit(weight: float, labelled) -> tuple[float, float]:
        """(correlation with the teacher's logits, mean |student - teacher| logit) after training."""
        student = torch.nn.Linear(8, 1)
        opt = torch.optim.Adam(student.parameters(), lr=0.05)
        for _ in range(300):
            loss = distill_loss(student(x).reshape(-1), y, labelled, teacher, weight, temperature=2.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            z = student(x).reshape(-1)
        return float(torch.corrcoef(torch.stack([z, teacher]))[0, 1]), float((z - teacher).abs().mean())

    corr, gap = fit(0.9, some_teacher_only)
    assert corr > 0.95 and gap < 0.25 * float(teacher.abs().mean())
    corr, gap = fit(0.0, all_labelled)  # the labels alone: no pull towards the teacher
    assert abs(corr) < 0.5 and gap > 0.5 * float(teacher.abs().mean())


def test_distill_loss_is_the_label_loss_at_weight_zero_and_counts_teacher_only_rows():
    z = torch.tensor([0.3, -1.2, 2.0])
    y = torch.tensor([1.0, 0.0, 0.0])
    t = torch.tensor([1.0, -2.0, 3.0])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    everyone = torch.ones(3, dtype=torch.bool)
    assert torch.isclose(distill_loss(z, y, everyone, t, 0.0, 2.0), bce(z, y))
    soft = bce(z / 2, torch.sigmoid(t / 2), reduction="none") * 4
    got = distill_loss(z, y, torch.tensor([True, True, False]), t, 0.0, 2.0)
    assert torch.isclose(got, (bce(z[:2], y[:2], reduction="sum") + soft[2]) / 3)


@pytest.mark.parametrize("name", FRAME_MODELS)
def test_frame_model_trains_one_step_with_distillation(name, tiny_crops, tmp_path):
    data = _with_unlabelled(tiny_crops)
    run = _frame_run(name, data, tmp_path, teacher=str(TEACHER), distill_weight=0.5, unlabelled_share=0.25)
    m = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert m["step"] == 1 and m["n"] == 8 and np.isfinite(m["log_loss"]) and np.isfinite(m["train_loss"])
    assert len(list((tmp_path / "cache").glob("train_teacher-*_128_*.npy"))) == 1  # teacher at its own 128 px


def test_teacher_logits_are_computed_once_and_a_resumed_run_reuses_them(tiny_crops, tmp_path, monkeypatch):
    import cv2

    from deepfake_detection.datasets import read_manifest
    from deepfake_detection.models import serving

    cfg = _config(tmp_path, model="mesonet4", data=str(tiny_crops), teacher=str(TEACHER))  # 128 px, as the teacher
    run = train(cfg, progress=False)
    (cache,) = (tmp_path / "cache").glob("train_teacher-*.npy")
    rows = [s for s in read_manifest(tiny_crops) if s.split == "train"]
    crops = np.stack(
        [
            cv2.cvtColor(cv2.resize(cv2.imread(s.path), (128, 128), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
            for s in rows
        ]
    )  # the teacher reads its own 128 px, whatever the student's size
    assert np.allclose(np.load(cache), serving.load_scorer(str(TEACHER)).logits(crops), atol=1e-4)

    cfg.max_steps = 2
    monkeypatch.setattr(serving, "load_scorer", lambda *a, **k: pytest.fail("teacher logits recomputed"))
    train(cfg, progress=False)
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_empty_labels_need_a_teacher_and_a_teacher_needs_an_onnx_file(tiny_crops, tmp_path):
    data = _with_unlabelled(tiny_crops)
    with pytest.raises(DeepfakeError, match="label must be REAL or FAKE"):
        train(_config(tmp_path, model="mesonet4", data=str(data), input_size=64), progress=False)
    with pytest.raises(DeepfakeError, match="teacher must be an exported .onnx"):
        train(_config(tmp_path, model="mesonet4", data=str(data), teacher="runs/nothing.pt"), progress=False)
    with pytest.raises(DeepfakeError, match="distill_weight"):
        train(_config(tmp_path, model="mesonet4", data=str(data), teacher=str(TEACHER), distill_weight=1.5))


@pytest.mark.slow
@pytest.mark.parametrize("name", FRAME_MODELS)
def test_distilled_frame_run_exports_and_onnx_runtime_agrees(name, tiny_crops, tmp_path):
    from deepfake_detection.models.serving import load_scorer
    from deepfake_detection.train.export import export_run
    from deepfake_detection.train.loop import load_run

    # lr 0.05: the zero-initialised head moves far enough in 2 steps for the logits to be worth comparing
    run = _frame_run(name, _with_unlabelled(tiny_crops), tmp_path, teacher=str(TEACHER), max_steps=2, lr=0.05)
    card = export_run(run, tmp_path / "m.onnx", name=name)  # raises when ONNX Runtime and PyTorch disagree
    assert card["onnx_vs_torch_max_abs_diff"] < 1e-3
    assert card["train_config"]["teacher"] == str(TEACHER)
    size = TEST_SIZE.get(name, 64)
    x = np.random.default_rng(0).integers(0, 256, (3, size, size, 3), dtype=np.uint8)
    model, _, _ = load_run(run)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    assert np.abs(expected).max() > 1e-3  # the trained head is off zero: the comparison means something
    assert np.allclose(load_scorer(str(tmp_path / "m.onnx")).logits(x), expected, atol=1e-3)


# --- GRU models on a frame run's backbone -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GRU_BACKBONES))
def test_gru_model_trains_on_a_frame_runs_frozen_backbone(name, tiny_crops, tmp_path):
    from deepfake_detection.train.sequence import score_sequence_run

    frame = GRU_BACKBONES[name]
    frame_run = _frame_run(frame, tiny_crops, tmp_path / "frame", teacher=str(TEACHER))
    tracks = _tracks(tmp_path)
    cfg = _config(tmp_path, model=name, data=str(tracks), backbone_from=str(frame_run), max_steps=2, seq_len=4)
    run = train(cfg, progress=False)
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2] and lines[-1]["n"] == 2
    (cache,) = (tmp_path / "cache").glob("features_*.npy")
    size = TEST_SIZE.get(frame, 64)  # the frame run's size, taken from its checkpoint
    assert cache.name.startswith(f"features_{frame}-") and f"_{size}_" in cache.name
    assert np.load(cache).shape == (48, model_cfg(name).extra["feature_dim"])

    y, p = score_sequence_run(run, tracks, "val")
    assert sorted(y.tolist()) == [0, 1] and ((p >= 0) & (p <= 1)).all()


def test_gru_backbone_must_be_given_and_of_the_right_model(tiny_crops, tmp_path):
    tracks = _tracks(tmp_path)
    with pytest.raises(DeepfakeError, match="needs backbone_from"):
        train(_config(tmp_path, model="efficientnet_b2_gru", data=str(tracks), seq_len=4), progress=False)
    meso = _frame_run("mesonet4", tiny_crops, tmp_path / "meso")
    with pytest.raises(DeepfakeError, match="is a mesonet4 model; this sequence model takes efficientnet_b2"):
        cfg = _config(tmp_path, model="efficientnet_b2_gru", data=str(tracks), backbone_from=str(meso / "best.pt"))
        train(cfg, progress=False)
    with pytest.raises(DeepfakeError, match="takes no backbone_from"):
        cfg = _config(tmp_path, model="efficientnet_lite2_gru", data=str(tracks), backbone_from=str(meso))
        train(cfg, progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(GRU_BACKBONES))
def test_gru_model_exports_whole_and_onnx_runtime_agrees(name, tiny_crops, tmp_path):
    """Frozen backbone and GRU head as one graph: uint8 face-track crops [N, T, S, S, 3] in, one logit per track."""
    import onnxruntime as ort

    from deepfake_detection.train.loop import load_run

    frame = GRU_BACKBONES[name]
    frame_model, _, _ = load_run(_frame_run(frame, tiny_crops, tmp_path / "frame", max_steps=2))
    head = create_model(name)
    torch.nn.init.normal_(head.fc.weight, std=0.5)  # a head that is not near zero, so the comparison means something
    model = track_classifier(frame_features(frame_model), head.eval())
    size = TEST_SIZE.get(frame, 64)
    x = torch.randint(0, 256, (2, 4, size, size, 3), dtype=torch.uint8)
    prog = torch.onnx.export(
        model, (x,), dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},), verbose=False
    )
    assert prog is not None
    prog.optimize()
    prog.save(str(tmp_path / "track.onnx"))
    session = ort.InferenceSession(str(tmp_path / "track.onnx"), providers=["CPUExecutionProvider"])
    x3 = torch.randint(0, 256, (3, 4, size, size, 3), dtype=torch.uint8)  # another batch size than exported with
    with torch.inference_mode():
        expected = model(x3).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x3.numpy()})[0].reshape(-1)
    assert np.abs(expected).max() > 1e-3 and np.allclose(got, expected, atol=1e-4)


def test_the_shipped_onnx_as_a_backbone_gives_the_features_of_its_torch_network():
    """backbone_from an exported .onnx runs its graph cut before the classifier; the shipped Lite0 loaded into torch
    (folded BatchNorms) gives the same pooled features."""
    from deepfake_detection.models._torch import load_folded_onnx
    from deepfake_detection.train.sequence import frame_run_backbone

    backbone = frame_run_backbone(str(TEACHER), "efficientnet_lite0", threads=1)
    assert backbone.size == 128 and backbone.tag.startswith("efficientnet_lite0-")
    model = create_model("efficientnet_lite0", pretrained=False)
    load_folded_onnx(model, TEACHER)
    x = np.random.default_rng(0).integers(0, 256, (3, 128, 128, 3), dtype=np.uint8)
    with torch.inference_mode():
        expected = frame_features(model)(torch.from_numpy(x)).numpy()
    got = backbone.build()(x)
    assert got.shape == (3, 1280) and np.allclose(got, expected, atol=1e-3 * max(1.0, float(np.abs(expected).max())))


@pytest.mark.slow
def test_an_exported_frame_run_gives_the_features_of_its_checkpoint(tiny_crops, tmp_path):
    """backbone_from an exported .onnx (cut before its classifier, on ONNX Runtime) equals the run's best.pt."""
    from deepfake_detection.train.export import export_run
    from deepfake_detection.train.sequence import frame_run_backbone

    run = _frame_run("efficientnet_b2", tiny_crops, tmp_path, max_steps=2)
    export_run(run, tmp_path / "b2.onnx")
    from_pt = frame_run_backbone(str(run / "best.pt"), "efficientnet_b2", threads=1)
    from_onnx = frame_run_backbone(str(tmp_path / "b2.onnx"), "efficientnet_b2", threads=1)
    assert from_pt.size == from_onnx.size == 64 and from_pt.tag != from_onnx.tag
    x = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    a, b = from_pt.build()(x), from_onnx.build()(x)
    assert a.shape == b.shape == (3, 1408)
    assert np.allclose(a, b, atol=1e-4 * max(1.0, float(np.abs(a).max())))


def test_b0_from_lite0_imagenet_computes_what_lite0_does_at_step_0():
    """B0's init from Lite0's ImageNet weights: with Lite0's activation (ReLU6) put back, the open SE gates and the
    stem's change of normalisation leave Lite0's features almost untouched (SE gates pass 99.75 %)."""
    from deepfake_detection.models._torch import import_timm
    from deepfake_detection.models.families.efficientnet import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        _load_in_order,
        lite0_imagenet_into_b0,
        lite_imagenet_state,
    )

    timm = import_timm()
    lite = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0).eval()
    _load_in_order(lite, lite_imagenet_state(0))
    b0 = timm.create_model("tf_efficientnet_b0", pretrained=False, num_classes=0).eval()
    lite0_imagenet_into_b0(b0)
    for name, mod in list(b0.named_modules()):  # Swish -> ReLU6 where Lite0 has it (SE keeps its own)
        for child, sub in list(mod.named_children()):
            if isinstance(sub, torch.nn.SiLU) and ".se" not in f"{name}.":
                setattr(mod, child, torch.nn.ReLU6())
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 3, 96, 96))).float() / 255
    m, s = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        stem_lite = lite.bn1(lite.conv_stem((x - 0.5) / 0.5))
        stem_b0 = b0.bn1(b0.conv_stem((x - m) / s))
        # Equal away from the zero-padded border (padding is zero in each network's own normalisation)
        np.testing.assert_allclose(stem_b0[..., 1:-1, 1:-1], stem_lite[..., 1:-1, 1:-1], atol=1e-4)
        f_lite, f_b0 = lite((x - 0.5) / 0.5), b0((x - m) / s)
    cos = torch.nn.functional.cosine_similarity(f_lite, f_b0).min().item()
    assert cos > 0.95, cos
    random_b0 = timm.create_model("tf_efficientnet_b0", pretrained=False, num_classes=0).eval()
    with torch.no_grad():
        assert torch.nn.functional.cosine_similarity(f_lite, random_b0((x - m) / s)).max().item() < cos
