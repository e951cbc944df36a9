"""media → faces → model → aggregate (+ content credentials) → Report, top to bottom.

One public entry: `detect(path)`. The seams (frame reader, face tracker, track and video aggregation, credentials
reader) are plain callables so tests and other interfaces can swap them without subclassing.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from . import explain as xp
from .decision import QualityBar, credentials_decide, credentials_warnings, decide, threshold_for_faces
from .dynamics import MIN_FRAMES, DynamicsModel, track_features
from .errors import DeepfakeError
from .faces import Detection, FaceConfig, FaceTrack, SequenceDetector, crop_face, face_quality, track_faces
from .media import DEFAULT_NUM_FRAMES, Frames, MediaLimits, read_frames
from .models.serving import Scorer, load_scorer
from .provenance import TrustList, preload, read_provenance
from .report import (
    DynamicsScore,
    Explanation,
    FaceQualitySummary,
    FaceResult,
    FrameResult,
    MediaInfo,
    Provenance,
    Report,
    Verdict,
)

Box = tuple[float, float, float, float]
_CropKey = tuple[int, Detection]  # (sampled frame position, detection in that frame): one crop
EARLY_MAX_FACES = 4  # frames with more faces than this are scored after decoding, only for the tracks kept


def mean_logit(logits: np.ndarray) -> float:
    """Track score: the mean frame logit (a geometric mean of odds; one odd frame cannot dominate)."""
    return float(np.mean(logits))


@dataclass(frozen=True)
class Detector:
    """A configured pipeline. Build once (loads the model), call `detect` for many inputs."""

    scorer: Scorer
    num_frames: int = DEFAULT_NUM_FRAMES
    threshold: float | None = None  # None: the model card's operating point
    face_cfg: FaceConfig = FaceConfig()
    limits: MediaLimits = MediaLimits()
    read: Callable[..., Frames] = read_frames
    track: Callable[..., list[FaceTrack]] = track_faces  # (frames, cfg[, per_frame detections]) like track_faces
    aggregate_track: Callable[[np.ndarray], float] = mean_logit
    explain: bool = False  # add an occlusion heatmap and pictures of each face's most suspicious frame
    dynamics: DynamicsModel | None = None  # also score each track's landmark motion (reported, not in the verdict)
    overlap: bool = True  # find faces in a second thread while the video decodes (with the stock `read` seam)
    quality_bar: QualityBar | None = None  # None: the model card's (or the defaults)
    trust: TrustList | None = None  # anchors for content credentials; None: no signer is trusted
    credentials: Callable[..., Provenance] = read_provenance  # (path, trust) like read_provenance

    @property
    def effective_threshold(self) -> float:
        """The single-face threshold: the one given to this detector, else the model card's."""
        return self.scorer.card.effective_threshold(self.threshold)

    def detect(self, path: str | os.PathLike[str]) -> Report:
        return self.detect_with_crop(path)[0]

    def detect_with_crop(self, path: str | os.PathLike[str]) -> tuple[Report, np.ndarray | None]:
        """`detect`'s report and the crop the model saw on the deciding face's most suspicious frame (uint8 RGB, the
        model's input size; None when no face decides). The report is the same as `detect`'s."""
        threshold = self.effective_threshold
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        if self.credentials is read_provenance:
            preload()  # the credentials library loads while the video decodes (once per process)

        face_cfg = self.face_cfg
        if face_cfg.crop_size != self.scorer.input_size:
            face_cfg = replace(face_cfg, crop_size=self.scorer.input_size)
        early: dict[_CropKey, dict[str, float]] = {}  # crops the model scored while the video decoded
        if self.overlap and self.read is read_frames:
            frames, found = self._read_while_detecting(path, face_cfg, early)
        else:
            frames, found = self.read(path, self.num_frames, self.limits), None
        timings["media"] = time.perf_counter() - t0  # with overlap, includes the faces found meanwhile

        t = time.perf_counter()
        tracks = self.track(frames, face_cfg) if found is None else self.track(frames, face_cfg, found)
        timings["faces"] = time.perf_counter() - t

        t = time.perf_counter()
        parts = self._track_logits(tracks, early)
        logits = self.scorer.fuse(parts) if parts else np.zeros(0)
        timings["model"] = time.perf_counter() - t

        card = self.scorer.card
        bar, rule = self.quality_bar or card.quality_bar, card.faces_rule
        # A custom `track` seam may hand over tracks without quality: measure it here then.
        tracks = [
            tr if tr.quality else replace(tr, quality=[face_quality(d, c) for d, c in zip(tr.detections, tr.crops)])
            for tr in tracks
        ]
        qualities = [_summary(tr, frames) for tr in tracks]
        whys = [bar.reasons(q.size, q.sharpness, q.yaw, q.frames, len(frames.images)) for q in qualities]
        # More faces, more chances for one real face to look fake: the bar rises with the number judged.
        threshold = threshold_for_faces(threshold, sum(not w for w in whys), rule)
        faces: list[FaceResult] = []
        start = 0
        for tr, quality, why in zip(tracks, qualities, whys):
            rows = slice(start, start + len(tr.crops))
            lg = logits[rows]
            start += len(tr.crops)
            frame_p = self.scorer.probability(lg)
            over = [frames.times[pos] for pos, p in zip(tr.frame_positions, frame_p) if p >= threshold]
            faces.append(
                FaceResult(
                    track_id=tr.track_id,
                    probability=float(self.scorer.probability(self.aggregate_track(lg))),
                    frames=[
                        FrameResult(
                            index=frames.indices[pos],
                            time=frames.times[pos],
                            box=_scaled_box(d.box, 1 / frames.scale),
                            landmarks=tuple(_scaled_point(pt, 1 / frames.scale) for pt in d.landmarks),
                            detector_score=d.score,
                            probability=float(p),
                            enhanced=d.enhanced,
                            size=q.size / frames.scale,
                            sharpness=q.sharpness,
                            yaw=q.yaw,
                        )
                        for pos, d, p, q in zip(tr.frame_positions, tr.detections, frame_p, tr.quality)
                    ],
                    quality=quality,
                    judged=not why,
                    not_judged_reason="; ".join(why) or None,
                    span=(over[0], over[-1]) if over else None,
                    components=self._components(parts, rows),
                    dynamics=self._dynamics(tr),
                )
            )
        if self.explain and faces:
            t = time.perf_counter()
            faces = [replace(f, explanation=self._explain(frames, tr, f)) for f, tr in zip(faces, tracks)]
            timings["explain"] = time.perf_counter() - t

        t = time.perf_counter()
        provenance = self.credentials(path, self.trust)
        timings["provenance"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0

        warnings = list(frames.warnings) + credentials_warnings(provenance)
        declared_ai = credentials_decide(provenance)
        media = MediaInfo(
            frames.width,
            frames.height,
            frames.fps,
            frames.duration,
            frames.rotation,
            frames.is_image,
            len(frames.images),
        )

        def report(verdict: Verdict, reason: str, deciding: FaceResult | None = None) -> Report:
            credentials = provenance
            if declared_ai:  # intact credentials declaring AI generation decide; the faces' view stays in the reason
                credentials = replace(provenance, decided=True)
                verdict, reason, deciding = "FAKE", f"{provenance.summary}; the faces alone: {verdict}, {reason}", None
            return Report(
                path=str(path),
                verdict=verdict,
                probability=None if deciding is None else deciding.probability,
                threshold=threshold,
                model=self.scorer.name,
                reason=reason,
                faces=faces,
                deciding_face=None if deciding is None else deciding.track_id,
                media=media,
                timings=timings,
                warnings=warnings,
                provenance=credentials,
            )

        if not faces:
            return report("NO_FACE", f"no face found in {len(frames.images)} sampled frame(s)"), None

        if any(d.enhanced for tr in tracks for d in tr.detections):
            warnings.append("dark footage: some faces were found only after low-light enhancement")
        pos, _ = decide([f.probability for f in faces], [f.judged for f in faces], threshold, None)
        if pos is None:
            return report("NO_FACE", _none_judged(faces, bar)), None
        if len(faces) > 1:
            n_judged = sum(f.judged for f in faces)
            skipped = len(faces) - n_judged
            warnings.append(
                f"{len(faces)} faces, {n_judged} judged"
                + (f" ({skipped} below the quality bar)" if skipped else "")
                + f": the most suspicious judged face decides at threshold "
                f"{threshold:.2f}"
            )
        best = faces[pos]
        verdict: Verdict = "FAKE" if best.probability >= threshold else "REAL"
        k = max(range(len(best.frames)), key=lambda i: best.frames[i].probability)
        peak = best.frames[k]
        where = (
            "in the image"
            if frames.is_image
            else (f"over {len(best.frames)} of {len(frames.images)} sampled frames, most at {peak.time:.1f} s")
        )
        relation = "≥" if verdict == "FAKE" else "<"
        reason = (
            f"face {best.track_id} scores P(fake)={best.probability:.2f} {relation} threshold {threshold:.2f} {where}"
        )
        return report(verdict, reason, deciding=best), tracks[pos].crops[k]

    def _read_while_detecting(
        self, path: str | os.PathLike[str], cfg: FaceConfig, early: dict[_CropKey, dict[str, float]]
    ) -> tuple[Frames, list[list[Detection]]]:
        """Decode on this thread while a second one finds faces in each sampled frame as it arrives: FFmpeg's
        decoder threads leave part of the two cores idle. Detections are returned only if every frame got them
        (otherwise, e.g. for long videos read by seeking, track_faces detects after decoding as usual).

        Whenever that thread has caught up with the decoder, it also runs the model on the crops of the faces
        found so far and leaves their logits in `early`, so that little of the model's work is left for the end
        (the crop of a detection depends only on its frame, so it is the crop `track_faces` cuts later)."""
        seq = SequenceDetector(cfg)
        inbox: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        pending: list[tuple[_CropKey, np.ndarray]] = []

        def work() -> None:
            while (img := inbox.get()) is not None:
                try:
                    pos = len(seq.per_frame)
                    dets = seq.push(img)
                    if len(dets) <= EARLY_MAX_FACES:  # crowds: most faces end in no kept track; score after
                        pending.extend(((pos, d), crop_face(img, d, cfg.crop_size, cfg.crop_scale)) for d in dets)
                    if pending and inbox.empty():
                        keys, crops = zip(*pending)
                        pending.clear()
                        parts = self.scorer.component_logits(np.stack(crops), [p for p, _ in keys])
                        early.update((k, {name: float(z[i]) for name, z in parts.items()}) for i, k in enumerate(keys))
                except Exception:  # a detector or model bug: the main thread redoes the work, where it raises
                    seq.per_frame.clear()
                    early.clear()
                    while inbox.get() is not None:
                        pass
                    return

        worker = threading.Thread(target=work, name="faces", daemon=True)
        worker.start()
        try:
            frames = read_frames(path, self.num_frames, self.limits, on_frame=inbox.put)
        finally:
            inbox.put(None)
            worker.join()
        return frames, seq.per_frame

    def _track_logits(self, tracks: list[FaceTrack], early: dict[_CropKey, dict[str, float]]) -> dict[str, np.ndarray]:
        """Each model component's logits for every crop of every track, in track order; crops already scored while
        decoding are not scored again; frames a component skips (a fusion's `component_every`) are filled in."""
        keys = [(pos, d) for tr in tracks for pos, d in zip(tr.frame_positions, tr.detections)]
        if not keys:
            return {}
        crops = [c for tr in tracks for c in tr.crops]
        todo = [i for i, k in enumerate(keys) if k not in early]
        late = (
            self.scorer.component_logits(np.stack([crops[i] for i in todo]), [keys[i][0] for i in todo]) if todo else {}
        )
        row = {i: j for j, i in enumerate(todo)}
        names = list(late) if late else list(early[keys[0]])
        parts = {
            name: np.array([late[name][row[i]] if i in row else early[k][name] for i, k in enumerate(keys)])
            for name in names
        }
        self._fill_skipped_frames(parts, tracks)
        return parts

    def _fill_skipped_frames(self, parts: dict[str, np.ndarray], tracks: list[FaceTrack]) -> None:
        """In place: a component's NaN logits (frames it skipped) interpolated from the frames of the same track it
        scored, in sampled-frame positions."""
        start = 0
        for tr in tracks:
            rows = slice(start, start + len(tr.crops))
            start += len(tr.crops)
            gaps = [name for name, z in parts.items() if np.isnan(z[rows]).any()]
            if not gaps:
                continue
            scored = np.isfinite(np.stack([parts[name][rows] for name in gaps]))
            # A track on none of a component's frames (a short one): that component scores all of its crops.
            full = self.scorer.component_logits(np.stack(tr.crops)) if not scored.any(axis=1).all() else {}
            positions = np.asarray(tr.frame_positions, np.float64)
            for name, ok in zip(gaps, scored):
                z = parts[name][rows]
                parts[name][rows] = full[name] if not ok.any() else np.interp(positions, positions[ok], z[ok])

    def _dynamics(self, track: FaceTrack) -> DynamicsScore | None:
        if self.dynamics is None or len(track.detections) < MIN_FRAMES:
            return None
        feats = track_features([d.landmarks for d in track.detections], [d.box for d in track.detections])
        if feats is None:
            return None
        return DynamicsScore(self.dynamics.probability(feats), self.dynamics.explain(feats))

    def _components(self, parts: dict[str, np.ndarray], rows: slice) -> dict[str, float]:
        """Each fused model's own calibrated P(FAKE) for one track (empty for a single model)."""
        if len(parts) < 2:
            return {}
        by_name = {c.name: c for c in self.scorer.components}
        return {name: float(by_name[name].probability(self.aggregate_track(z[rows]))) for name, z in parts.items()}

    def _explain(self, frames: Frames, track: FaceTrack, face: FaceResult) -> Explanation:
        k = int(np.argmax([fr.probability for fr in face.frames]))
        crop, peak, grid = track.crops[k], face.frames[k], 8
        heat = xp.occlusion_map(self.scorer.logits, crop, grid=grid)
        image = frames.images[track.frame_positions[k]]
        label = f"face {face.track_id}  P(fake) {peak.probability:.2f}"
        return Explanation(
            frame_index=peak.index,
            time=peak.time,
            probability=peak.probability,
            method=f"occlusion {grid}x{grid}",
            heatmap=heat.round(3).tolist(),
            face_jpeg=xp.b64_jpeg(crop),
            heatmap_jpeg=xp.b64_jpeg(xp.heat_overlay(crop, heat)),
            frame_jpeg=xp.b64_jpeg(xp.frame_with_box(image, _scaled_box(peak.box, frames.scale), label)),
        )


def _summary(track: FaceTrack, frames: Frames) -> FaceQualitySummary:
    q = track.quality
    return FaceQualitySummary(
        size=float(np.median([x.size for x in q])) / frames.scale,
        detector_score=float(np.median([d.score for d in track.detections])),
        sharpness=float(np.median([x.sharpness for x in q])),
        yaw=float(np.median([x.yaw for x in q])),
        frames=len(track.detections),
        coverage=len(track.detections) / max(1, len(frames.images)),
    )


def _none_judged(faces: list[FaceResult], bar: QualityBar) -> str:
    """E.g. "3 faces found, all under 48 px: too small to judge"."""
    n = f"{len(faces)} face{'s' if len(faces) > 1 else ''} found"
    if all((f.not_judged_reason or "").startswith("small") for f in faces):
        return f"{n}, {'all' if len(faces) > 1 else 'it is'} under {bar.min_size:.0f} px: too small to judge"
    return f"{n}, none can be judged: " + "; ".join(f"face {f.track_id} {f.not_judged_reason}" for f in faces)


def _scaled_box(box: Box, factor: float) -> Box:
    """A box between stored (possibly downscaled) frame pixels and source pixels."""
    x1, y1, x2, y2 = box
    return box if factor == 1 else (x1 * factor, y1 * factor, x2 * factor, y2 * factor)


def _scaled_point(point: tuple[float, float], factor: float) -> tuple[float, float]:
    return point if factor == 1 else (point[0] * factor, point[1] * factor)


def detect(
    path: str | os.PathLike[str],
    model: str | None = None,
    num_frames: int = DEFAULT_NUM_FRAMES,
    threshold: float | None = None,
    explain: bool = False,
    trust: TrustList | None = None,
) -> Report:
    """One-call detection on the shipped model. For many inputs build a `Detector` once instead. `trust`: anchors
    for content credentials (`TrustList.load(path)`); without it no signer is trusted."""
    scorer = load_scorer(model)
    return Detector(scorer, num_frames=num_frames, threshold=threshold, explain=explain, trust=trust).detect(path)


def detect_or_error(detector: Detector, path: str | os.PathLike[str], report_as: str | None = None) -> Report:
    """`detector.detect(path)` that never raises: a `DeepfakeError` becomes an ERROR report with its message, anything
    else (a bug, a decoder surprise) an ERROR report saying "internal error", logged with its traceback. One input's
    failure costs that input only. `report_as` names the input in the report (e.g. the client's name for a staged copy).
    """
    return _or_error(lambda p: (detector.detect(p), None), detector, path, report_as)[0]


def detect_with_crop_or_error(
    detector: Detector, path: str | os.PathLike[str], report_as: str | None = None
) -> tuple[Report, np.ndarray | None]:
    """`detect_or_error` with `Detector.detect_with_crop`'s deciding crop (None for an ERROR report)."""
    return _or_error(detector.detect_with_crop, detector, path, report_as)


def _or_error(
    run: Callable[[str | os.PathLike[str]], tuple[Report, np.ndarray | None]],
    detector: Detector,
    path: str | os.PathLike[str],
    report_as: str | None,
) -> tuple[Report, np.ndarray | None]:
    shown = str(report_as or path)
    try:
        report, crop = run(path)
    except DeepfakeError as e:
        error = str(e).replace(str(path), shown)
    except Exception as e:
        logging.getLogger(__name__).debug("internal error on %s", shown, exc_info=True)
        error = f"internal error: {type(e).__name__}: {e}".splitlines()[0]
    else:
        return (report if report_as is None else replace(report, path=shown)), crop
    return Report.failed(shown, error, model=detector.scorer.name, threshold=detector.effective_threshold), None
