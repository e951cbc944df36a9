"""The typed, JSON-serialisable result of one detection."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

Verdict = Literal["REAL", "FAKE", "NO_FACE", "ERROR"]  # ERROR: the input could not be judged (see `error`)
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)


@dataclass(frozen=True)
class FrameResult:
    index: int  # frame number in the video (0 for an image)
    time: float  # seconds
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in upright frame pixels
    landmarks: tuple[tuple[float, float], ...]
    detector_score: float
    probability: float  # calibrated P(FAKE) of this single frame's crop
    enhanced: bool = False  # face found only after the low-light retry
    size: float = 0.0  # shorter side of the face box, source pixels
    sharpness: float = 0.0  # variance of the Laplacian of the 128 px grey crop
    yaw: float = 0.0  # approximate head turn, degrees (0 = frontal)


@dataclass(frozen=True)
class Explanation:
    """Where the evidence for one face lies, on its most suspicious frame (pictures are base64 JPEG)."""

    frame_index: int
    time: float
    probability: float  # that frame's calibrated P(FAKE)
    method: str  # how `heatmap` was made, e.g. "occlusion 8x8"
    heatmap: list[list[float]]  # grid over the face crop, 1 = the region that carried the FAKE evidence most
    face_jpeg: str  # the crop the model saw
    heatmap_jpeg: str  # the crop with the heatmap blended over it
    frame_jpeg: str  # the whole frame (at most 640 px) with the face box drawn


@dataclass(frozen=True)
class DynamicsScore:
    """The landmark-dynamics model's view of one track (only with `detect --dynamics MODEL`; not in the verdict)."""

    probability: float
    signal: str  # the feature that added most suspicion, e.g. "jitter_vs_motion"


@dataclass(frozen=True)
class FaceQualitySummary:
    """One face track's quality: medians over its frames, and how much of the video it covers."""

    size: float  # px, shorter box side in source pixels
    detector_score: float
    sharpness: float
    yaw: float  # degrees
    frames: int  # sampled frames the track was seen in
    coverage: float  # frames / sampled frames


@dataclass(frozen=True)
class FaceResult:
    track_id: int
    probability: float  # calibrated P(FAKE) of the whole track
    frames: list[FrameResult]
    quality: FaceQualitySummary | None = None
    judged: bool = True  # False: below the quality bar, reported but not part of the verdict
    not_judged_reason: str | None = None  # e.g. "small (31 px < 48 px)"
    span: tuple[float, float] | None = None  # seconds: first and last frame at or above the threshold
    explanation: Explanation | None = None  # filled when asked for (`detect --explain`, the web app)
    components: dict[str, float] = field(default_factory=dict)  # a fusion's models, each one's own P(FAKE)
    dynamics: DynamicsScore | None = None


@dataclass(frozen=True)
class MediaInfo:
    width: int = 0
    height: int = 0
    fps: float = 0.0
    duration: float = 0.0
    rotation: int = 0
    is_image: bool = False
    sampled_frames: int = 0


ProvenanceState = Literal["none", "valid", "untrusted", "invalid", "unchecked"]
PROVENANCE_STATES: tuple[ProvenanceState, ...] = get_args(ProvenanceState)


@dataclass(frozen=True)
class Provenance:
    """What the file's C2PA content credentials say, and whether they hold (see `provenance.read_provenance`).

    `state`: "none" (no credentials found), "valid" (intact and signed under an anchor of the trust list),
    "untrusted" (intact, but the signer is not on the trust list, or no trust list was given), "invalid" (present
    but failing validation, see `failures`, or unreadable, see `error`), "unchecked" (not read: the format is one
    C2PA does not cover, c2pa-python is missing, or a time or memory limit was hit, see `error`)."""

    state: ProvenanceState = "unchecked"
    summary: str = "content credentials not checked"  # one line for tables, pages and CSV
    claim_generator: str | None = None  # the software that made the active manifest, e.g. "Adobe Firefly 1.0"
    signer: str | None = None  # subject of the signing certificate, e.g. "CN=Firefly, O=Adobe Inc."
    issuer: str | None = None  # issuer of the signing certificate
    signed_at: str | None = None  # ISO 8601 time from the signature's time-stamp (None without one)
    actions: list[str] = field(default_factory=list)  # the active manifest's actions, e.g. ["c2pa.created"]
    digital_source_types: list[str] = field(default_factory=list)  # every IPTC digitalSourceType URI in the store
    declares_ai: bool = False  # a source type says trained-algorithmic (AI) media, generated or composited in
    failures: list[str] = field(default_factory=list)  # validation failure codes, e.g. "assertion.bmffHash.mismatch"
    manifests: int = 0  # manifests in the store (the active one and its ingredients')
    active_manifest: str | None = None  # the active manifest's label (urn:c2pa:...)
    trust_list: bool = False  # a trust list was given (without one, no signer is trusted)
    decided: bool = False  # these credentials made the verdict FAKE (set by the pipeline)
    error: str | None = None  # why the credentials could not be read or checked


@dataclass(frozen=True)
class Report:
    path: str
    verdict: Verdict
    probability: float | None  # calibrated P(FAKE) of the deciding face; None without one (or when credentials decide)
    threshold: float  # the threshold the deciding face was held to (it grows with the number of judged faces)
    model: str
    reason: str
    faces: list[FaceResult] = field(default_factory=list)
    deciding_face: int | None = None  # track_id of the face that decided the verdict (None: none, or provenance did)
    media: MediaInfo = field(default_factory=MediaInfo)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    provenance: Provenance = field(default_factory=Provenance)  # C2PA content credentials (`detect --trust-list`)

    @classmethod
    def failed(cls, path: str, error: str, model: str = "", threshold: float = 0.5) -> Report:
        return cls(
            path=path, verdict="ERROR", probability=None, threshold=threshold, model=model, reason=error, error=error
        )

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)


def _finite(obj: Any) -> Any:
    """Round floats for readable JSON and turn NaN/inf into null (JSON has neither)."""
    if isinstance(obj, float):
        return round(obj, 4) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
