"""Leave-one-source-out: for each held-out source, fine-tune the recipe without it and measure video AUC on it.

    python scripts/loso.py --config configs/efficientnet_lite0_multisource.yaml --steps 1000 --out runs/loso [--seed N]

Held-out sets (never in a batch, never in checkpoint selection):
- an FF++ method (`ffpp/Face2Face`, ...): its fakes in the val and test groups against the FF++ REAL crops of the
  same groups (the train groups' REAL crops were trained on);
- `talking_heads`: every talking-head video of the source (all splits: none was trained on);
- `dfdc`: the DFDC validation groups. The recipe starts from the shipped model, which was trained on DFDC, so this
  run starts from ImageNet instead (`pretrained: true`, no `init_from`, lr 3e-4) and is not comparable one to one.

Writes OUT/loso.json (one line per held-out source: AUC, n, steps, wall time) and prints a Markdown table. Each run
resumes from its own checkpoint when rerun.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from deepfake_detection.config import load_config
from deepfake_detection.datasets import load_crops, read_manifests
from deepfake_detection.evaluate import per_source_auc
from deepfake_detection.train import TrainConfig, train
from deepfake_detection.train.trainer import predict_logits

HOLDOUTS = ("ffpp/Face2Face", "ffpp/NeuralTextures", "ffpp/FaceSwap", "ffpp/Deepfakes", "talking_heads", "dfdc")


def held_out_rows(samples, holdout: str):
    if holdout.startswith("ffpp/"):
        method = holdout.split("/", 1)[1]
        return [
            s for s in samples if s.source == "ffpp" and s.split in ("val", "test") and s.method in (method, "real")
        ]
    if holdout == "talking_heads":
        return [s for s in samples if s.source == "talking_heads"]
    return [s for s in samples if s.source == holdout and s.split == "val"]


def held_out_logits(run: Path, rows) -> np.ndarray:
    """One logit per row from the run's selected checkpoint (best.pt), at the run's own input size, no TTA."""
    import torch

    from deepfake_detection.train.loop import load_run

    model, cfg, _ = load_run(run)
    torch.set_num_threads(2)
    return predict_logits(model, load_crops(rows, cfg.input_size or 128))


def measure(run: Path, rows) -> float:
    return per_source_auc(rows, held_out_logits(run, rows))[rows[0].source]


def measure_shipped(model: str, rows) -> float:
    from deepfake_detection.models.serving import load_scorer

    scorer = load_scorer(model)
    z = np.concatenate(
        [scorer.logits(load_crops(rows[i : i + 256], scorer.input_size)) for i in range(0, len(rows), 256)]
    )
    return per_source_auc(rows, z)[rows[0].source]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="the recipe (TrainConfig YAML) to rank")
    ap.add_argument("--holdouts", nargs="+", default=list(HOLDOUTS))
    ap.add_argument("--steps", type=int, default=1000, help="fine-tuning steps per held-out source")
    ap.add_argument("--out", default="runs/loso", help="folder of the runs and loso.json")
    ap.add_argument("--baseline", help="also measure this shipped model (or .onnx) on each held-out set, untrained")
    ap.add_argument(
        "--seed", type=int, help="the sampling seed, instead of the recipe's (to measure run-to-run spread)"
    )
    args = ap.parse_args()

    base = load_config(TrainConfig, args.config)
    if args.seed is not None:
        base = dataclasses.replace(base, seed=args.seed)
    samples = read_manifests(base.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for holdout in args.holdouts:
        name = holdout.replace("/", "_")
        cfg = dataclasses.replace(
            base,
            holdout=[holdout],
            out=str(out / name),
            max_steps=args.steps,
            eval_every=min(base.eval_every, args.steps),
            patience=10**6,
        )
        if holdout == "dfdc":  # the shipped weights have seen DFDC: start from ImageNet
            cfg = dataclasses.replace(cfg, init_from="", pretrained=True, lr=3e-4, warmup_steps=200)
        rows = held_out_rows(samples, holdout)
        res = {"holdout": holdout, "videos": len({(s.method, s.video) for s in rows})}
        if args.baseline:
            res["baseline_auc"] = measure_shipped(args.baseline, rows)
        t0 = time.time()
        if args.steps > 0:
            train(cfg, progress=False)
            res["auc"] = measure(Path(cfg.out), rows)
        res.update(steps=args.steps, wall_s=round(time.time() - t0), init=cfg.init_from or "ImageNet")
        results.append(res)
        print(json.dumps(res), flush=True)
        (out / "loso.json").write_text("\n".join(json.dumps(r) for r in results) + "\n")
    print("\n| held-out source | videos | baseline AUC | recipe AUC | recipe init |\n|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['holdout']} | {r['videos']} | {r.get('baseline_auc', float('nan')):.3f} | "
            f"{r.get('auc', float('nan')):.3f} | {r['init']} |"
        )
    for key in ("baseline_auc", "auc"):
        aucs = np.array([r[key] for r in results if key in r])
        if len(aucs):
            print(f"{key}: mean {aucs.mean():.3f}, worst {aucs.min():.3f}")


if __name__ == "__main__":
    main()
