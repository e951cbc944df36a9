"""The model card: what serving reads from a model's `.json` (name, input size, calibration, threshold, test-time
augmentation, quality bar, faces rule, and for a fusion its components and weights), typed, plus every other key
(validation metrics, training config, operating point...) kept as read, so a card loads and writes back unchanged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ModelError

Tta = Literal["none", "hflip"]  # "hflip": average the logits of each crop and its mirror image
TTA_MODES: tuple[Tta, ...] = get_args(Tta)
CardKind = Literal["frame", "fusion"]


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the network's logit: P(FAKE) = sigmoid(a * logit + b), fitted on validation data."""

    a: float = 1.0
    b: float = 0.0

    def __call__(self, logit: ArrayLike) -> NDArray[np.float64]:
        z = self.a * np.asarray(logit, np.float64) + self.b
        return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class QualityBar:
    """Faces below any of these are reported but do not decide."""

    min_size: float = 48.0  # px, median shorter box side: smaller faces are mostly upscaling blur
    min_sharpness: float = 0.1  # median `faces.sharpness`: below, the crop is mostly upscaling or focus blur
    max_yaw: float = 60.0  # degrees, median: profile views show half a face
    min_frames: int = 3  # sampled frames a track must cover (fewer when fewer were sampled: a photo needs 1)

    def reasons(self, size: float, sharpness: float, yaw: float, frames: int, sampled: int) -> list[str]:
        """Why a face cannot be judged (empty: it can)."""
        out = []
        if size < self.min_size:
            out.append(f"small ({size:.0f} px < {self.min_size:.0f} px)")
        if sharpness < self.min_sharpness:
            out.append(f"blurred (sharpness {sharpness:.2f} < {self.min_sharpness:.2f})")
        if yaw > self.max_yaw:
            out.append(f"turned away (yaw {yaw:.0f}° > {self.max_yaw:.0f}°)")
        need = min(self.min_frames, max(1, sampled))
        if frames < need:
            out.append(f"seen in {frames} sampled frame(s) < {need}")
        return out


@dataclass(frozen=True)
class FacesRule:
    """Normal fit of the calibrated logits of real judged faces (from `calibrate`); None: one threshold for all."""

    real_logit_mean: float
    real_logit_std: float


@dataclass(frozen=True)
class ModelCard:
    """A model's card. `from_dict(d).to_dict() == d` (key order included) for every valid card `d`."""

    name: str
    input_size: int = 0  # crop side in px; a fusion may leave it to its components
    kind: CardKind = "frame"
    calibration: Calibration = Calibration()
    threshold: float = 0.5  # the operating point for one judged face
    tta: Tta = "none"
    quality_bar: QualityBar = QualityBar()
    faces_rule: FacesRule | None = None  # None: the threshold does not rise with the number of judged faces
    components: tuple[str, ...] = ()  # fusion: shipped names, or paths relative to the card
    component_tta: Tta | None = None  # fusion: forced on every component (None: each component's own card)
    # fusion: component k scores a video's sampled frames whose position is a multiple of component_every[k]; its
    # logits on the frames between are interpolated within the face's track (empty: every component, every frame)
    component_every: tuple[int, ...] = ()
    weights: tuple[float, ...] = ()  # fusion: fused logit = Σ weights[k] · logit_k + bias
    bias: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)  # every other key (architecture, validation, ...)
    key_order: tuple[str, ...] = field(default=(), repr=False, compare=False)  # as read, for writing back

    def __post_init__(self) -> None:
        if self.tta not in TTA_MODES:
            raise ModelError(f"{self.name}: unknown tta {self.tta!r}; known: {', '.join(TTA_MODES)}")
        if self.component_tta is not None and self.component_tta not in TTA_MODES:
            raise ModelError(
                f"{self.name}: unknown component_tta {self.component_tta!r}; known: {', '.join(TTA_MODES)}"
            )
        if any(k < 1 for k in self.component_every) or (
            self.component_every and len(self.component_every) != len(self.components)
        ):
            raise ModelError(
                f"{self.name}: component_every {list(self.component_every)} needs one integer >= 1 per component"
            )
        if self.kind not in get_args(CardKind):
            raise ModelError(f"{self.name}: unknown card kind {self.kind!r}; known: {', '.join(get_args(CardKind))}")
        if not 0.0 <= self.threshold <= 1.0 or math.isnan(self.threshold):
            raise ModelError(f"{self.name}: threshold {self.threshold} is not a probability")

    def effective_threshold(self, threshold: float | None = None) -> float:
        """The one rule for the single-face threshold: the caller's when given, else this card's operating point."""
        return self.threshold if threshold is None else threshold

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "") -> ModelCard:
        """A card from its JSON object; raises ModelError for a missing name or a malformed known field."""
        where = f" {source}" if source else ""
        if not isinstance(d, Mapping) or "name" not in d:
            raise ModelError(f"model card{where} has no name")
        try:
            rule = d.get("faces_rule")
            return cls(
                name=str(d["name"]),
                input_size=int(d.get("input_size", 0)),
                kind=d.get("kind", "frame"),
                calibration=Calibration(**d.get("calibration", {})),
                threshold=float(d.get("threshold", 0.5)),
                tta=d.get("tta", "none"),
                quality_bar=QualityBar(**d.get("quality_bar", {})),
                faces_rule=FacesRule(**rule) if rule else None,
                components=tuple(str(c) for c in d.get("components", ())),
                component_tta=d.get("component_tta"),
                component_every=tuple(int(k) for k in d.get("component_every", ())),
                weights=tuple(float(w) for w in d.get("weights", ())),
                bias=float(d.get("bias", 0.0)),
                extra={k: v for k, v in d.items() if k not in _FIELDS},
                key_order=tuple(d),
            )
        except (TypeError, ValueError) as e:  # a field of the wrong shape or type
            raise ModelError(f"invalid model card{where} ({d['name']}): {e}") from e

    def to_dict(self) -> dict[str, Any]:
        """The card's JSON object: the keys as read, in their order, then keys set since (typed fields that are not
        at their default, then new extra keys)."""
        typed, default = self._typed(), _DEFAULT._typed()
        out: dict[str, Any] = {}
        for key in self.key_order:
            if key in typed:
                out[key] = typed[key]
            elif key in self.extra:
                out[key] = self.extra[key]
        out.update({k: v for k, v in typed.items() if k not in out and (k == "name" or v != default[k])})
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out

    def _typed(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "input_size": self.input_size,
            "calibration": asdict(self.calibration),
            "threshold": self.threshold,
            "tta": self.tta,
            "quality_bar": asdict(self.quality_bar),
            "faces_rule": asdict(self.faces_rule) if self.faces_rule else None,
            "components": list(self.components),
            "component_tta": self.component_tta,
            "component_every": list(self.component_every),
            "weights": list(self.weights),
            "bias": self.bias,
        }

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ModelError(f"unreadable model card {path}: {e}") from e
        return cls.from_dict(data, str(path))

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


_DEFAULT = ModelCard(name="")
# The keys a card's typed fields are read from and written to; any other key stays in `extra`.
_FIELDS = frozenset(f.name for f in fields(ModelCard)) - {"extra", "key_order"}
