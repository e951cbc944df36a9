"""Serving: packaged ONNX frame classifiers run with ONNX Runtime (no torch), plus their calibration."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import ModelError

DEFAULT_MODEL = "efficientnet_lite0"


def weights_dir() -> Path:
    return Path(str(resources.files("deepfake_detection") / "models" / "weights"))


def shipped_models() -> list[str]:
    """Names of models whose ONNX weights ship inside the package."""
    return sorted(p.stem for p in weights_dir().glob("*.json") if (p.with_suffix(".onnx")).is_file())


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the network's logit: P(FAKE) = sigmoid(a * logit + b), fitted on validation data."""

    a: float = 1.0
    b: float = 0.0

    def __call__(self, logit):
        z = self.a * np.asarray(logit, np.float64) + self.b
        return 1.0 / (1.0 + np.exp(-z))


class FrameScorer:
    """A face-crop classifier: uint8 RGB crops [N, S, S, 3] in, FAKE logits out."""

    def __init__(self, onnx_path: str | Path, card: dict, threads: int = 2):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own untyped errors for unreadable graphs
            raise ModelError(f"cannot load model {onnx_path}: {e}") from e
        self.card = card
        self.name: str = card["name"]
        self.input_size: int = int(card["input_size"])
        self.calibration = Calibration(**card.get("calibration", {}))
        self.threshold: float = float(card.get("threshold", 0.5))
        self._input = self.session.get_inputs()[0].name

    def logits(self, crops: np.ndarray, batch_size: int = 32) -> np.ndarray:
        crops = np.ascontiguousarray(crops, dtype=np.uint8)
        if crops.ndim != 4 or crops.shape[1:] != (self.input_size, self.input_size, 3):
            raise ModelError(f"{self.name} expects crops [N, {self.input_size}, {self.input_size}, 3], got {crops.shape}")
        out = [self.session.run(None, {self._input: crops[i : i + batch_size]})[0].reshape(-1)
               for i in range(0, len(crops), batch_size)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def probability(self, logit) -> np.ndarray:
        return self.calibration(logit)


def load_scorer(name_or_path: str | None = None, threads: int = 2) -> FrameScorer:
    """Load a shipped model by name (default: the package default) or an exported `.onnx` with its `.json` card."""
    name_or_path = name_or_path or DEFAULT_MODEL
    p = Path(name_or_path)
    if p.suffix == ".onnx" or p.is_file():
        onnx_path, card_path = p.with_suffix(".onnx"), p.with_suffix(".json")
    else:
        onnx_path, card_path = weights_dir() / f"{name_or_path}.onnx", weights_dir() / f"{name_or_path}.json"
        if not onnx_path.is_file():
            shipped = ", ".join(shipped_models()) or "none"
            raise ModelError(f"no shipped weights for model {name_or_path!r}; shipped: {shipped}")
    if not onnx_path.is_file() or not card_path.is_file():
        raise ModelError(f"need both {onnx_path.name} and {card_path.name} next to each other")
    card = json.loads(card_path.read_text())
    return FrameScorer(onnx_path, card, threads)


def logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))
