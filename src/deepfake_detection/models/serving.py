"""Serving: packaged ONNX frame classifiers run with ONNX Runtime (no torch), calibrated by their model card."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ModelError
from .card import ModelCard, Tta

if TYPE_CHECKING:
    import onnxruntime as ort

DEFAULT_MODEL = "efficientnet_lite0_triple"


def weights_dir() -> Path:
    return Path(str(resources.files("deepfake_detection") / "models" / "weights"))


def shipped_models() -> list[str]:
    """Names of models whose weights ship inside the package (ONNX + card, or a fusion card of shipped models)."""
    return sorted(
        p.stem
        for p in weights_dir().glob("*.json")
        if p.with_suffix(".onnx").is_file() or ModelCard.load(p).kind == "fusion"
    )


class Scorer(Protocol):
    """What serving needs of a frame model (one ONNX network or a fusion of several): uint8 RGB crops
    [N, S, S, 3] in, FAKE logits out, and their calibrated P(FAKE)."""

    @property
    def card(self) -> ModelCard: ...

    @property
    def name(self) -> str: ...

    @property
    def input_size(self) -> int: ...

    @property
    def threshold(self) -> float: ...

    @property
    def components(self) -> Sequence[Scorer]:
        """The models whose logits `fuse` combines (a single model: itself)."""
        ...

    def ready(self) -> Scorer:
        """Wait until the model is loaded; raises ModelError when it cannot be."""
        ...

    def logits(self, crops: np.ndarray) -> np.ndarray: ...

    def probability(self, logit: ArrayLike) -> NDArray[np.float64]: ...

    def component_logits(self, crops: np.ndarray, positions: Sequence[int] | None = None) -> dict[str, np.ndarray]:
        """Each component's logits by name. With `positions` (each crop's sampled-frame position in its video), a
        component that scores only some frames (a fusion's `component_every`) gives NaN for the others."""
        ...

    def fuse(self, components: Mapping[str, np.ndarray]) -> np.ndarray:
        """`component_logits` into the model's logits."""
        ...


class FrameScorer:
    """A face-crop classifier on ONNX Runtime: uint8 RGB crops [N, S, S, 3] in, FAKE logits out. Its card may be
    replaced (e.g. a new calibration or tta while calibrating); everything else reads it."""

    def __init__(self, onnx_path: str | Path, card: ModelCard, threads: int = 2):
        if card.input_size <= 0:
            raise ModelError(f"{card.name}: the model card gives no input_size")
        self.card = card
        self._session: ort.InferenceSession | None = None
        self._error: ModelError | None = None
        # ONNX Runtime builds the session (~50 ms, mostly outside the GIL) on a second thread, while the caller
        # imports the rest of the pipeline or decodes the first frames; `ready()` and every use wait for it.
        # (Imported here, not on that thread: an import holds the GIL, building the session mostly does not.)
        import onnxruntime

        self._loader = threading.Thread(
            target=self._load, args=(onnxruntime, Path(onnx_path), threads), name="model-load", daemon=True
        )
        self._loader.start()

    def _load(self, ort, onnx_path: Path, threads: int) -> None:
        try:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            # Idle pool threads sleep instead of spinning: spinning took a core from the decoder of the next video
            # (10 s 1080p clips back to back in one process: 0.66 s with sleeping threads, 0.75 s spinning; see
            # docs/PERFORMANCE.md).
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own untyped errors for unreadable graphs
            self._error = ModelError(f"cannot load model {onnx_path}: {e}")

    def ready(self) -> FrameScorer:
        """Wait until the model is loaded; raises ModelError when it cannot be."""
        self._loader.join()
        if self._error is not None:
            raise self._error
        return self

    @property
    def session(self) -> ort.InferenceSession:
        self.ready()
        assert self._session is not None
        return self._session

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def input_size(self) -> int:
        return self.card.input_size

    @property
    def threshold(self) -> float:
        return self.card.threshold

    @property
    def components(self) -> tuple[FrameScorer]:
        return (self,)

    def logits(self, crops: np.ndarray, batch_size: int = 64) -> np.ndarray:
        crops = np.ascontiguousarray(crops, dtype=np.uint8)
        if crops.ndim != 4 or crops.shape[1:] != (self.input_size, self.input_size, 3):
            raise ModelError(
                f"{self.name} expects crops [N, {self.input_size}, {self.input_size}, 3], got {crops.shape}"
            )
        if self.card.tta != "hflip":
            return self._run(crops, batch_size)
        # Crops and their mirror images in one batch: one session call instead of two for a video's 32 crops.
        both = self._run(np.concatenate([crops, crops[:, :, ::-1]]), batch_size)
        return (both[: len(crops)] + both[len(crops) :]) / 2

    def _run(self, crops: np.ndarray, batch_size: int) -> np.ndarray:
        session = self.session
        name = session.get_inputs()[0].name
        out = [
            session.run(None, {name: crops[i : i + batch_size]})[0].reshape(-1)
            for i in range(0, len(crops), batch_size)
        ]
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def probability(self, logit: ArrayLike) -> NDArray[np.float64]:
        return self.card.calibration(logit)

    def component_logits(self, crops: np.ndarray, positions: Sequence[int] | None = None) -> dict[str, np.ndarray]:
        """Per-model logits; a single model is its own only component and scores every crop."""
        return {self.name: self.logits(crops)}

    def fuse(self, components: Mapping[str, np.ndarray]) -> np.ndarray:
        return components[self.name]


def resized_crops(crops: np.ndarray, size: int) -> np.ndarray:
    """Crops cut at a larger size brought down to `size` as training brought its stored crops down (INTER_AREA)."""
    import cv2

    if crops.shape[1] == size:
        return crops
    out = np.empty((len(crops), size, size, 3), np.uint8)
    for i, crop in enumerate(crops):
        out[i] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return out


class FusionScorer:
    """Several frame classifiers stacked: fused logit = Σ w_k · logit_k + b, fitted by logistic regression on
    validation data (so the fused logit is already calibrated). Same interface as FrameScorer. Components may take
    different input sizes: faces are cut at the largest and brought down for the others."""

    def __init__(self, card: ModelCard, components: Sequence[Scorer]):
        if len(card.weights) != len(components):
            raise ModelError(f"fusion {card.name!r}: {len(card.weights)} weights for {len(components)} models")
        self.card = card
        self.components = tuple(components)
        self.input_size = max(c.input_size for c in components)
        self._weights = np.asarray(card.weights, np.float64)

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def threshold(self) -> float:
        return self.card.threshold

    def ready(self) -> FusionScorer:
        for c in self.components:
            c.ready()
        return self

    def component_logits(self, crops: np.ndarray, positions: Sequence[int] | None = None) -> dict[str, np.ndarray]:
        every = self.card.component_every or (1,) * len(self.components)
        out = {}
        for c, k in zip(self.components, every):
            if positions is None or k == 1:
                out[c.name] = c.logits(resized_crops(crops, c.input_size))
                continue
            take = np.asarray(positions, np.int64) % k == 0
            z = np.full(len(crops), np.nan)
            if take.any():
                z[take] = c.logits(resized_crops(crops[take], c.input_size))
            out[c.name] = z
        return out

    def fuse(self, components: Mapping[str, np.ndarray]) -> np.ndarray:
        z = np.stack([components[c.name] for c in self.components], axis=-1)
        return z @ self._weights + self.card.bias

    def logits(self, crops: np.ndarray) -> np.ndarray:
        return self.fuse(self.component_logits(crops))

    def probability(self, logit: ArrayLike) -> NDArray[np.float64]:
        return self.card.calibration(logit)


def load_scorer(name_or_path: str | None = None, threads: int = 2, wait: bool = True, tta: Tta | None = None) -> Scorer:
    """Load a shipped model by name (default: the package default), an exported `.onnx` with its `.json` card, or
    a fusion card (`.json`) whose components are shipped names or paths relative to the card.

    `wait=False` returns while ONNX Runtime still builds the session (the card is read and checked already):
    call `ready()` before relying on the model loading without error. `tta` replaces the test-time augmentation
    of a frame model's card (a fusion forces its `component_tta` on its components this way)."""
    name_or_path = name_or_path or DEFAULT_MODEL
    p = Path(name_or_path)
    if p.suffix in (".onnx", ".json") or p.is_file():
        onnx_path, card_path = p.with_suffix(".onnx"), p.with_suffix(".json")
    else:
        onnx_path, card_path = weights_dir() / f"{name_or_path}.onnx", weights_dir() / f"{name_or_path}.json"
        if not card_path.is_file():
            from .registry import list_models

            shipped = ", ".join(shipped_models()) or "none"
            if name_or_path in list_models():
                raise ModelError(
                    f"model {name_or_path!r} is registered but ships no weights (shipped: {shipped}); "
                    f"train and export it, then pass the .onnx path"
                )
            raise ModelError(f"unknown model {name_or_path!r} (shipped: {shipped}; or pass an exported .onnx path)")
    if not card_path.is_file():
        raise ModelError(f"no model card {card_path.name} next to {onnx_path.name}")
    card = ModelCard.load(card_path)
    if card.kind == "fusion":
        parts = []
        for comp in card.components:
            local = card_path.parent / comp
            path = str(local) if local.suffix and local.is_file() else comp
            parts.append(load_scorer(path, threads, wait=False, tta=card.component_tta))
        fusion = FusionScorer(card, parts)
        return fusion.ready() if wait else fusion
    if not onnx_path.is_file():
        raise ModelError(f"need both {onnx_path.name} and {card_path.name} next to each other")
    if tta is not None and tta != card.tta:
        card = replace(card, tta=tta)
    scorer = FrameScorer(onnx_path, card, threads)
    return scorer.ready() if wait else scorer


def logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))
