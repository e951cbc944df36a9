"""Print the docs/MODELS.md results rows from evaluation outputs (reports/<model>/.../metrics.json) and runs.

python scripts/models_table.py            # after the commands listed in docs/MODELS.md
"""

from __future__ import annotations

import json
from pathlib import Path

FRAME = ["efficientnet_lite0", "efficientnet_b0", "resnet50", "mesonet4", "mesoinception4"]
SEQUENCE = ["efficientnet_lite0_gru", "efficientnet_lite2_gru"]


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _run(model: str) -> tuple[int, float]:
    lines = (Path("runs") / model / "metrics.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    return last["step"], last.get("wall_s", float("nan"))


def _params(model: str) -> int:
    from deepfake_detection.models import create_model

    return sum(p.numel() for p in create_model(model, pretrained=False).parameters())


def main() -> None:
    print(
        "| model | steps | train min | params | DFDC test AUC | log loss | bal. acc | ECE | UADFV video AUC (crops) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for m in FRAME:
        test = _load(Path("reports") / m / "dfdc_test" / "metrics.json")
        uadfv = _load(Path("reports") / m / "uadfv_crops" / "metrics.json")
        if not test:
            print(f"| {m} | not run | | | | | | | |")
            continue
        steps, wall = _run(m)
        t = test["frame"]
        u = uadfv["video"]["auc"] if uadfv else float("nan")
        print(
            f"| {m} | {steps} | {wall / 60:.0f} | {_params(m) / 1e6:.2f} M | {t['auc']:.3f} | {t['log_loss']:.3f} | "
            f"{t['balanced_accuracy']:.3f} | {t['ece']:.3f} | {u:.3f} |"
        )
    print()
    print("| model | steps | params | UADFV test videos | AUC | log loss | bal. acc @0.5 | ECE |")
    print("|---|---|---|---|---|---|---|---|")
    for m in SEQUENCE:
        r = _load(Path("reports") / m / "uadfv_test" / "metrics.json")
        if not r:
            print(f"| {m} | not run | | | | | | |")
            continue
        steps, _ = _run(m)
        v = r["video"]
        print(
            f"| {m} | {steps} | {_params(m) / 1e6:.2f} M | {v['n']} | {v['auc']:.3f} | {v['log_loss']:.3f} | "
            f"{v['balanced_accuracy']:.3f} | {v['ece']:.3f} |"
        )


if __name__ == "__main__":
    main()
