import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deepfake_detection.config import load_config  # noqa: E402
from deepfake_detection.models.serving import load_scorer  # noqa: E402
from deepfake_detection.train import TrainConfig, train  # noqa: E402
from deepfake_detection.train.export import export_run  # noqa: E402


def tiny_config(data, tmp_path, **overrides) -> TrainConfig:
    """A run small enough for a test: 64 px, batches of 4, an evaluation every step, caches under tmp_path."""
    base = dict(
        data=str(data),
        out=str(tmp_path / "run"),
        cache_dir=str(tmp_path / "cache"),
        input_size=64,
        batch_size=4,
        max_steps=2,
        eval_every=1,
        warmup_steps=1,
    )
    return load_config(TrainConfig, None, **(base | overrides))


def test_train_resume_and_export_agree(tiny_crops, tmp_path):
    cfg = tiny_config(tiny_crops, tmp_path)
    run = train(cfg, progress=False)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and {"auc", "log_loss", "step"} <= set(json.loads(lines[-1]))
    assert (run / "best.pt").is_file() and (run / "last.pt").is_file()

    # Resume: a larger budget continues from step 2 instead of starting over.
    cfg.max_steps = 3
    train(cfg, progress=False)
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]

    card = export_run(run, tmp_path / "m.onnx", name="tiny")
    assert card["onnx_vs_torch_max_abs_diff"] < 1e-3
    assert 0.5 <= card["threshold"] <= 1.0
    scorer = load_scorer(str(tmp_path / "m.onnx"))
    out = scorer.logits(np.zeros((3, 64, 64, 3), np.uint8))
    assert out.shape == (3,) and np.isfinite(out).all()


def test_sbi_training_needs_faces_and_runs_on_real_crops(tiny_crops, tmp_path):
    """SBI mode replaces FAKE slots with self-blended REAL crops; without detectable faces it says so."""
    from helpers import FACES_SAMPLE

    from deepfake_detection.errors import DeepfakeError

    cfg = tiny_config(tiny_crops, tmp_path, max_steps=1, sbi=1.0, pretrained=False)
    with pytest.raises(DeepfakeError, match="SBI needs"):
        train(cfg, progress=False)
    if not FACES_SAMPLE.is_dir():
        pytest.skip("shared face sample absent")
    rows = ["path,label,group,split"] + [
        f"{p},{'REAL' if i % 2 == 0 else 'FAKE'},g{i},{'train' if i < 12 else 'val'}"
        for i, p in enumerate(sorted(FACES_SAMPLE.glob("*.jpg"))[:16])
    ]
    (tmp_path / "faces.csv").write_text("\n".join(rows) + "\n")
    cfg.data, cfg.out, cfg.input_size = str(tmp_path / "faces.csv"), str(tmp_path / "run2"), 128
    run = train(cfg, progress=False)
    assert (run / "best.pt").is_file()


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite0_224", "efficientnet_lite0_lower"])
def test_the_shipped_onnx_starts_a_torch_model_that_agrees_with_it(name: str) -> None:
    """Fine-tuning starts from the exported weights (folded BatchNorms): torch must give ONNX Runtime's logits."""
    from dataclasses import replace

    from deepfake_detection.models import create_model
    from deepfake_detection.models._torch import load_folded_onnx
    from deepfake_detection.models.serving import FrameScorer, weights_dir

    scorer = load_scorer(name)
    assert isinstance(scorer, FrameScorer)
    scorer.card = replace(scorer.card, tta="none")
    model = create_model(scorer.card.extra["architecture"], pretrained=False)
    load_folded_onnx(model, weights_dir() / f"{scorer.name}.onnx")
    x = np.random.default_rng(0).integers(0, 256, (4, scorer.input_size, scorer.input_size, 3), dtype=np.uint8)
    with torch.inference_mode():
        got = model.eval()(torch.from_numpy(x)).numpy()
    assert np.allclose(got, scorer.logits(x), atol=1e-3)


def test_two_manifests_with_a_held_out_source_train_and_select_by_source_auc(tiny_crops, tmp_path):
    """Several manifests (comma-separated), one source held out of every batch, checkpoints chosen by the mean
    per-source AUC of the other sources."""
    import csv

    rows = list(csv.DictReader(open(tiny_crops)))
    for name in ("a", "b"):
        with open(tmp_path / f"{name}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=[*rows[0].keys(), "source", "method"])
            w.writeheader()
            for r in rows:
                path = r["path"] if r["path"].startswith("/") else str(tiny_crops.parent / r["path"])
                w.writerow(
                    {
                        **r,
                        "path": path,
                        "group": name + r["group"],
                        "source": name,
                        "method": "real" if r["label"] == "REAL" else f"gen_{name}",
                    }
                )
    data = f"{tmp_path / 'a.csv'},{tmp_path / 'b.csv'}"
    cfg = tiny_config(data, tmp_path, pretrained=False, holdout=["b"], select="source_auc")
    run = train(cfg, progress=False)
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"a", "b"} <= set(last["per_source_auc"])  # the held-out source is still measured
    assert last["n"] == sum(1 for r in rows if r["split"] == "val")  # ...but only source a's rows select


def test_the_lower_face_model_sees_only_the_lower_face_and_exports_as_it_trains(tiny_crops, tmp_path):
    """`efficientnet_lite0_lower` cuts its region inside the network: the forehead cannot move its logit, the
    mouth can, and ONNX Runtime (which serves it) computes what torch trained."""
    from deepfake_detection.models import create_model
    from deepfake_detection.models._torch import load_folded_onnx
    from deepfake_detection.models.serving import weights_dir

    model = create_model("efficientnet_lite0_lower", pretrained=False).eval()
    load_folded_onnx(model, weights_dir() / "efficientnet_lite0.onnx")  # any Lite0 run starts it
    x = np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    forehead, mouth = x.copy(), x.copy()
    forehead[:, :100] = 0
    mouth[:, 160:200, 60:160] = 0
    with torch.inference_mode():
        z, z_forehead, z_mouth = (model(torch.from_numpy(a)).numpy() for a in (x, forehead, mouth))
    assert np.array_equal(z, z_forehead)
    assert not np.allclose(z, z_mouth, atol=1e-3)

    cfg = tiny_config(tiny_crops, tmp_path, model="efficientnet_lite0_lower", input_size=224, max_steps=1)
    run = train(cfg, progress=False)
    export_run(run, tmp_path / "lower.onnx")
    scorer = load_scorer(str(tmp_path / "lower.onnx"), tta="none")
    from deepfake_detection.train.loop import load_run

    trained, _, _ = load_run(run)
    with torch.inference_mode():
        want = trained.eval()(torch.from_numpy(x)).numpy()
    assert scorer.input_size == 224
    assert np.allclose(scorer.logits(x), want, atol=1e-3)


def test_the_whole_and_lower_face_model_starts_as_the_whole_face_model_and_exports_both_heads(tiny_crops, tmp_path):
    """`efficientnet_lite0_whole_lower` started from Lite0 weights is the whole-face model on the half-size crop
    (its lower-face head starts at zero); once trained, the lower face has its own say and ONNX Runtime computes
    what torch trained."""
    from deepfake_detection.models import create_model
    from deepfake_detection.models._torch import load_folded_onnx
    from deepfake_detection.models.serving import weights_dir

    lite0 = weights_dir() / "efficientnet_lite0.onnx"
    model = create_model("efficientnet_lite0_whole_lower", pretrained=False).eval()
    whole = create_model("efficientnet_lite0", pretrained=False).eval()
    load_folded_onnx(model, lite0)
    load_folded_onnx(whole, lite0)
    x = np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    half = x.reshape(2, 112, 2, 112, 2, 3).astype(np.float32).mean(axis=(2, 4))
    with torch.inference_mode():
        z, z_whole = model(torch.from_numpy(x)).numpy(), whole(torch.from_numpy(half)).numpy()
    assert np.allclose(z, z_whole, atol=1e-3)

    cfg = tiny_config(tiny_crops, tmp_path, model="efficientnet_lite0_whole_lower", input_size=224, max_steps=1)
    run = train(cfg, progress=False)
    export_run(run, tmp_path / "whole_lower.onnx")
    from deepfake_detection.train.loop import load_run

    trained, _, _ = load_run(run)
    trained.eval()
    assert trained.part_head.weight.abs().sum() > 0
    with torch.inference_mode():
        want = trained(torch.from_numpy(x)).numpy()
    assert np.allclose(load_scorer(str(tmp_path / "whole_lower.onnx"), tta="none").logits(x), want, atol=1e-3)
    # the exporter cannot fold the BatchNorms of a backbone that runs twice: such a graph cannot start a run
    with pytest.raises(ValueError, match="no folded BatchNorm"):
        load_folded_onnx(
            create_model("efficientnet_lite0_whole_lower", pretrained=False), tmp_path / "whole_lower.onnx"
        )


def test_the_patch_model_scores_each_patch_from_its_own_neighbourhood_and_exports_as_it_trains(tiny_crops, tmp_path):
    """`efficientnet_lite0_patch` starts from Lite0 weights at logit 0, a change in one corner of the crop moves
    only the patch logits near it, and ONNX Runtime computes what torch trained; its own export starts it again."""
    from deepfake_detection.models import create_model
    from deepfake_detection.models._torch import load_folded_onnx
    from deepfake_detection.models.serving import weights_dir

    model = create_model("efficientnet_lite0_patch", pretrained=False).eval()
    load_folded_onnx(model, weights_dir() / "efficientnet_lite0.onnx")
    x = np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    with torch.inference_mode():
        assert np.array_equal(model(torch.from_numpy(x)).numpy(), np.zeros(2, np.float32))  # the head starts at 0
    torch.nn.init.normal_(model.patch_head[2].weight)
    corner = x.copy()
    corner[:, 180:, 180:] = 0
    with torch.inference_mode():
        a, b = (model.patch_logits(torch.from_numpy(v)).numpy() for v in (x, corner))
    assert a.shape == (2, 28, 28)
    moved = np.abs(a - b).max(axis=0) > 1e-5
    assert moved[-1, -1] and not moved[:16, :].any() and not moved[:, :16].any()  # 67 px receptive field

    cfg = tiny_config(tiny_crops, tmp_path, model="efficientnet_lite0_patch", input_size=224, max_steps=1)
    run = train(cfg, progress=False)
    export_run(run, tmp_path / "patch.onnx")
    from deepfake_detection.train.loop import load_run

    trained, _, _ = load_run(run)
    with torch.inference_mode():
        want = trained.eval()(torch.from_numpy(x)).numpy()
    assert np.allclose(load_scorer(str(tmp_path / "patch.onnx"), tta="none").logits(x), want, atol=1e-3)
    again = create_model("efficientnet_lite0_patch", pretrained=False).eval()
    load_folded_onnx(again, tmp_path / "patch.onnx")
    with torch.inference_mode():
        assert np.allclose(again(torch.from_numpy(x)).numpy(), want, atol=1e-3)
