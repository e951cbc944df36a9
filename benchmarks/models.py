"""CPU inference cost per face for exported frame models (ONNX Runtime, 2 threads), and parameter counts.

    python -m benchmarks.models runs/*/model.onnx src/deepfake_detection/models/weights/efficientnet_lite0.onnx

Prints ms per face at batch 1 and batch 32 (median of repeats), relative to the first model given.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from deepfake_detection.models.serving import load_scorer


def per_face_ms(scorer, batch: int, repeat: int) -> float:
    x = np.random.default_rng(0).integers(0, 255, (batch, scorer.input_size, scorer.input_size, 3), np.uint8)
    scorer.logits(x)  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        scorer.logits(x)  # one session call per model: batches up to 64 crops run whole
        times.append((time.perf_counter() - t) / batch * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "models", nargs="+", help="exported .onnx files (with their .json cards), shipped names or fusion cards"
    )
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    base = None
    print(f"{'model':28s} {'ms/face b1':>10s} {'ms/face b32':>11s} {'ratio b32':>9s}")
    for path in args.models:
        scorer = load_scorer(path)
        b1, b32 = per_face_ms(scorer, 1, args.repeat), per_face_ms(scorer, 32, max(3, args.repeat // 3))
        base = base or b32
        print(f"{scorer.name:28s} {b1:10.2f} {b32:11.2f} {b32 / base:9.2f}")


if __name__ == "__main__":
    main()
