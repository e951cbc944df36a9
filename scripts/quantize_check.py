"""Would INT8 quantisation of the shipped model pay? Quantises it with ONNX Runtime (static QDQ, per-channel,
calibrated on training crops), then compares validation AUC / log loss (DFDC val crops, frame level) and the
speed of one 64-crop batch against the FP32 model. Issue 9 keeps a quantised model only when AUC drops < 0.005.

    python scripts/quantize_check.py data/dfdc/manifest.csv [--calib 256] [--out runs/quant]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from deepfake_detection.datasets import load_crops, read_manifest
from deepfake_detection.models.serving import FrameScorer, load_scorer, weights_dir
from deepfake_detection.train.fusion import component_logits, validation_split


def speed(scorer: FrameScorer, crops: np.ndarray, repeat: int = 7) -> float:
    scorer.logits(crops)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        scorer.logits(crops)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest")
    ap.add_argument("--calib", type=int, default=256, help="training crops used to calibrate activation ranges")
    ap.add_argument("--out", default="runs/quant")
    args = ap.parse_args()
    fp32 = load_scorer()
    src = weights_dir() / f"{fp32.name}.onnx"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    train = [s for s in read_manifest(args.manifest) if s.split == "train"]
    calib = load_crops([train[i] for i in rng.choice(len(train), args.calib, replace=False)], fp32.input_size)
    name = fp32.session.get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{name: calib[i : i + 32]} for i in range(0, len(calib), 32)])

        def get_next(self):
            return next(self.batches, None)

    pre = out / "pre.onnx"
    quant_pre_process(str(src), str(pre))
    int8 = out / f"{fp32.name}_int8.onnx"
    quantize_static(
        str(pre),
        str(int8),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    q = FrameScorer(int8, fp32.card)
    val, y = validation_split(args.manifest)
    z = component_logits([fp32, q], val)
    crops = load_crops(val[:32], fp32.input_size)
    for k, (label, scorer) in enumerate([("fp32", fp32), ("int8", q)]):
        p = fp32.probability(z[:, k])
        print(
            f"{label}: val AUC {roc_auc_score(y, p):.4f}  log loss {log_loss(y, p):.4f}  "
            f"32 crops (+flips) {speed(scorer, crops) * 1000:.1f} ms  size {Path(src if k == 0 else int8).stat().st_size / 2**20:.1f} MiB"
        )


if __name__ == "__main__":
    main()
