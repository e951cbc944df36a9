"""The operating point on real footage of every kind: the default threshold, the rule that raises it with the
number of judged faces, and the false-alarm table by condition that the model card reports.

Real footage (shared DATA.md §6) is split by source repository, stratified by condition, into a calibration part
(sets the threshold) and a held-apart part (measured only). Every item runs through the full `detect` pipeline
once; the decision is then replayed from each face's calibrated P(FAKE) and quality, so the quality bar and the
threshold can be chosen without decoding anything again.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..decision import FacesRule, QualityBar, decide, fit_faces_rule
from ..errors import DeepfakeError
from ..media import DEFAULT_NUM_FRAMES
from ..models.card import Tta
from ..models.serving import Scorer
from ..report import Verdict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One labelled video or photo for the operating point."""

    path: str
    label: str  # REAL | FAKE
    source: str  # real_footage, talking_heads, uadfv, ...
    condition: str  # DATA.md §6 condition, or the generator family for fakes
    is_image: bool
    part: str  # calibration | held_apart


@dataclass(frozen=True)
class Face:
    """What the decision needs of one face track."""

    probability: float
    size: float
    sharpness: float
    yaw: float
    frames: int
    sampled: int  # frames sampled from the item (1 for a photo)


def real_footage_items(manifest: str | Path, folder: str | Path, seed: int = 0) -> list[Item]:
    """DATA.md §6 items present in `folder`, half of the source repositories (stratified by condition, so both
    halves hold every kind) set apart for the final measurement."""
    from sklearn.model_selection import StratifiedGroupKFold

    with Path(manifest).open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"file", "kind", "condition", "source_repo"} <= set(rows[0]):
        raise DeepfakeError(f"{manifest}: needs the columns file, kind, condition, source_repo")
    _, held = next(
        StratifiedGroupKFold(2, shuffle=True, random_state=seed).split(
            rows, [r["condition"] for r in rows], [r["source_repo"] for r in rows]
        )
    )
    held = set(held.tolist())
    items = [
        Item(
            str(Path(folder) / r["file"]),
            "REAL",
            "real_footage",
            r["condition"],
            r["kind"] == "photo",
            "held_apart" if i in held else "calibration",
        )
        for i, r in enumerate(rows)
    ]
    present = [it for it in items if Path(it.path).is_file()]
    if not present:
        raise DeepfakeError(f"no file of {manifest} found in {folder}")
    return present


def video_items(samples, parts: dict[str, str]) -> list[Item]:
    """Labelled videos (Samples with a split) as Items: `parts` maps a split (val, test) to the part it plays."""
    return [
        Item(s.path, s.label, s.source, "talking_head" if s.label == "REAL" else s.method, False, parts[s.split])
        for s in samples
        if s.split in parts
    ]


def scoring_key(scorer, frames: int) -> str:
    """What the memoised reports depend on: every network (weights, test-time augmentation, input size), how a
    fusion combines them, the calibration and the frames sampled. (A fusion card has no weights of its own: keyed
    on its calibration alone, two fusions of other networks or steps shared one cache.)"""
    card = scorer.card
    served = [[c.card.extra.get("onnx_sha256"), c.card.tta, c.input_size] for c in scorer.components]
    fused = [list(card.weights), card.bias, card.component_tta, list(card.component_every)]
    return hashlib.sha1(
        json.dumps([served, fused, card.calibration.a, card.calibration.b, card.tta, frames]).encode()
    ).hexdigest()[:12]


def score(detector, items: list[Item], cache: Path, progress=None) -> dict[str, list[Face]]:
    """Each item's faces through the full pipeline, memoised in `cache` (JSON lines keyed by path)."""
    done: dict[str, list[Face]] = {}
    if cache.is_file():
        for line in cache.read_text().splitlines():
            rec = json.loads(line)
            done[rec["path"]] = [Face(**f) for f in rec["faces"]]
    todo = [it for it in items if it.path not in done]
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("a") as out:
        for it in progress(todo) if progress else todo:
            try:
                report = detector.detect(it.path)
            except DeepfakeError as e:
                log.warning("skipping %s: %s", it.path, e)
                report = None
            faces = (
                []
                if report is None
                else [
                    Face(
                        f.probability,
                        f.quality.size,
                        f.quality.sharpness,
                        f.quality.yaw,
                        f.quality.frames,
                        report.media.sampled_frames,
                    )
                    for f in report.faces
                ]
            )
            done[it.path] = faces
            out.write(json.dumps({"path": it.path, "faces": [asdict(f) for f in faces]}) + "\n")
            out.flush()
    return done


def judged(f: Face, bar: QualityBar) -> bool:
    return not bar.reasons(f.size, f.sharpness, f.yaw, f.frames, f.sampled)


def verdict(faces: list[Face], bar: QualityBar, threshold: float, rule: FacesRule | None) -> tuple[Verdict, int]:
    """(REAL | FAKE | NO_FACE, number of judged faces), exactly as the pipeline decides."""
    judged_ = [judged(f, bar) for f in faces]
    pos, t = decide([f.probability for f in faces], judged_, threshold, rule)
    if pos is None:
        return "NO_FACE", 0
    return ("FAKE" if faces[pos].probability >= t else "REAL"), sum(judged_)


def flagged_share(
    items: list[Item], faces: dict[str, list[Face]], bar: QualityBar, threshold: float, rule: FacesRule | None
) -> float:
    if not items:
        return 0.0
    return float(np.mean([verdict(faces[it.path], bar, threshold, rule)[0] == "FAKE" for it in items]))


def judged_real_faces(items: list[Item], faces: dict[str, list[Face]], bar: QualityBar) -> np.ndarray:
    return np.array([f.probability for it in items if it.label == "REAL" for f in faces[it.path] if judged(f, bar)])


def choose_threshold(
    real_sets: dict[str, list[Item]],
    faces: dict[str, list[Face]],
    bar: QualityBar,
    target_fpr: float,
    floor: float = 0.5,
    val_real_crops: np.ndarray | None = None,
) -> tuple[float, FacesRule]:
    """The lowest single-face threshold (≥ floor) at which every calibration set flags at most `target_fpr` of
    its real items with the number-of-faces rule fitted on their judged real faces (and, when given, at most
    `target_fpr` of the validation REAL crops are flagged)."""
    every = [it for items in real_sets.values() for it in items]
    probs = judged_real_faces(every, faces, bar)
    if len(probs) < 10:
        raise DeepfakeError(f"only {len(probs)} judged real faces in the calibration footage: need at least 10")
    rule = fit_faces_rule(probs)
    # The threshold for k faces moves continuously with t, so a video's flag flips between face scores too: search
    # a fine grid (in logit space) as well as just above every real face's score.
    grid = 1 / (1 + np.exp(-np.linspace(np.log(floor / (1 - floor)), 12.0, 4000)))
    candidates = np.unique(np.concatenate([[floor], grid, np.nextafter(probs, 1.0)]))
    if val_real_crops is not None and len(val_real_crops):
        candidates = np.unique(np.concatenate([candidates, np.nextafter(val_real_crops, 1.0)]))
    for t in candidates[candidates >= floor]:
        if val_real_crops is not None and len(val_real_crops) and (val_real_crops >= t).mean() > target_fpr:
            continue
        if all(flagged_share(items, faces, bar, float(t), rule) <= target_fpr for items in real_sets.values()):
            return float(t), rule
    return float(np.nextafter(1.0, 0.0)), rule


def _faces_bucket(k: int) -> str:
    return "0 (NO_FACE)" if k == 0 else "1" if k == 1 else "2-3" if k <= 3 else "4+"


def false_alarm_table(
    items: list[Item], faces: dict[str, list[Face]], bar: QualityBar, threshold: float, rule: FacesRule | None
) -> dict:
    """Real items flagged, by condition (photos as their own row) and by number of judged faces."""
    rows: dict[str, dict[str, list]] = {"condition": defaultdict(list), "judged_faces": defaultdict(list)}
    for it in items:
        v, k = verdict(faces[it.path], bar, threshold, rule)
        rows["condition"]["photo" if it.is_image else it.condition].append(v)
        rows["condition"]["all"].append(v)
        rows["judged_faces"][_faces_bucket(k)].append(v)
    return {
        axis: {
            key: {
                "items": len(vs),
                "flagged": float(np.mean([v == "FAKE" for v in vs])),
                "no_face": float(np.mean([v == "NO_FACE" for v in vs])),
            }
            for key, vs in sorted(table.items())
        }
        for axis, table in rows.items()
    }


def caught_table(
    items: list[Item], faces: dict[str, list[Face]], bar: QualityBar, threshold: float, rule: FacesRule | None
) -> dict:
    """Fake videos caught per source and method at this operating point."""
    table: dict[str, list[Verdict]] = defaultdict(list)
    for it in items:
        v, _ = verdict(faces[it.path], bar, threshold, rule)
        if it.condition:
            table[f"{it.source}/{it.condition}"].append(v)
        table[it.source].append(v)
    return {
        key: {
            "videos": len(vs),
            "caught": float(np.mean([v == "FAKE" for v in vs])),
            "no_face": float(np.mean([v == "NO_FACE" for v in vs])),
        }
        for key, vs in sorted(table.items())
    }


def calibrate_on_footage(
    scorer: Scorer,
    val,
    p_val: np.ndarray,
    target_fpr: float,
    work: Path,
    real_footage: tuple[str, str],
    talking_heads: tuple[str, str] | None = None,
    reencode: Path | None = None,
    fake_videos: Sequence[str] = (),
    frames: int = DEFAULT_NUM_FRAMES,
    progress=None,
) -> dict[str, Any]:
    """Card fields for a calibrated scorer: `threshold` (one judged face), `faces_rule` (how it rises with the
    number of judged faces), `quality_bar`, and `operating_point` (calibration sets, held-apart false alarms by
    condition and by number of judged faces, fakes caught per source)."""

    from ..datasets import load_real_fake_folder
    from ..pipeline import Detector
    from .fusion import recompressed
    from .sources import talking_head_videos

    bar = scorer.card.quality_bar
    rf = real_footage_items(*real_footage)
    th = (
        video_items(talking_head_videos(*talking_heads), {"val": "calibration", "test": "held_apart"})
        if talking_heads
        else []
    )
    reenc = (
        [
            Item(str(p), "REAL", "talking_head_reencoded", "single_face", False, "calibration")
            for p in recompressed(reencode, work / "real_variants")
        ]
        if reencode
        else []
    )
    fakes = [
        Item(s.path, s.label, Path(folder).name, "", False, "held_apart")
        for folder in fake_videos
        for s in load_real_fake_folder(folder)
    ]
    items = rf + th + reenc + fakes
    key = scoring_key(scorer, frames)
    faces = score(Detector(scorer, num_frames=frames, threshold=0.5), items, work / f"footage_{key}.jsonl", progress)

    def real(part, source=None):
        return [
            it
            for it in items
            if it.label == "REAL"
            and it.part == part
            and (source is None or it.source == source)
            and it.source in ("real_footage", "talking_heads", "talking_head_reencoded")
        ]

    calib = {name: real("calibration", name) for name in ("real_footage", "talking_heads", "talking_head_reencoded")}
    calib = {k: v for k, v in calib.items() if v}
    calib_items = [it for v in calib.values() for it in v]
    y = np.array([s.y for s in val])
    threshold, rule = choose_threshold(calib, faces, bar, target_fpr, val_real_crops=p_val[y == 0])
    held = real("held_apart")
    single_heads = [it for it in held if it.source == "talking_heads" or it.condition == "single_face"]
    by_cell: dict[str, list[float]] = defaultdict(list)
    for s, p in zip(val, p_val):
        if s.y:
            by_cell[s.source].append(p)
            by_cell[f"{s.source}/{s.method}"].append(p)
    point = {
        "target_fpr": target_fpr,
        "calibration_real_flagged": {
            k: {"items": len(v), "flagged": flagged_share(v, faces, bar, threshold, rule)} for k, v in calib.items()
        },
        "held_apart_real": false_alarm_table(held, faces, bar, threshold, rule),
        "calibration_real": false_alarm_table(calib_items, faces, bar, threshold, rule),
        "held_apart_single_face_talking_heads": {
            "items": len(single_heads),
            "flagged": flagged_share(single_heads, faces, bar, threshold, rule),
        },
        "fake_videos_caught": caught_table([it for it in items if it.label == "FAKE"], faces, bar, threshold, rule),
        "uncalibrated_real_flagged": {
            src: {"items": n, "flagged": flagged_share(v, faces, bar, threshold, rule)}
            for src, v in _by_source([it for it in items if it.label == "REAL" and it.source not in calib]).items()
            for n in [len(v)]
        },
        "val_fake_crops_caught": {k: float((np.array(v) >= threshold).mean()) for k, v in sorted(by_cell.items())},
        "val_real_crops_flagged": float((p_val[y == 0] >= threshold).mean()),
        "halves_swapped": swapped_halves(
            {name: real("held_apart", name) for name in ("real_footage", "talking_heads")},
            calib_items,
            faces,
            bar,
            target_fpr,
            p_val[y == 0],
        ),
    }
    return {
        "threshold": threshold,
        "threshold_rule": f"lowest ≥ 0.5 flagging ≤ {target_fpr:.0%} of validation REAL crops and of each "
        f"calibration set of real footage ({', '.join(calib)}), with the faces rule",
        "faces_rule": asdict(rule),
        "quality_bar": asdict(bar),
        "operating_point": point,
    }


def swapped_halves(
    held_sets: dict[str, list[Item]],
    calibration: list[Item],
    faces: dict[str, list[Face]],
    bar: QualityBar,
    target_fpr: float,
    val_real_crops: np.ndarray,
) -> dict[str, Any]:
    """The same threshold search with the halves' roles swapped: set on the held-apart real items, measured on the
    calibration ones. A second, independent reading of how often the procedure's threshold flags unseen real
    footage, on sets of a few dozen items where one reading alone is mostly noise."""
    held_sets = {k: v for k, v in held_sets.items() if v}
    if not held_sets or not calibration:
        return {}
    try:
        t, rule = choose_threshold(held_sets, faces, bar, target_fpr, val_real_crops=val_real_crops)
    except DeepfakeError:  # too few judged faces in the held-apart half to fit the faces rule
        return {}
    return {
        "threshold": t,
        "items": len(calibration),
        "flagged": flagged_share(calibration, faces, bar, t, rule),
    }


def _by_source(items: list[Item]) -> dict[str, list[Item]]:
    out: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        out[it.source].append(it)
    return out


def _rebased(components: Sequence[str], card_dir: Path, out: Path) -> tuple[str, ...]:
    """A fusion's component paths (relative to its card) made relative to the card written at `out`."""
    from .fusion import relative_to_card

    def rebase(comp: str) -> str:
        local = card_dir / comp
        return relative_to_card(local, out) if local.suffix and local.is_file() else comp  # else a shipped name

    return tuple(rebase(c) for c in components)


def calibrate_model(
    model: str,
    data: str,
    out: Path,
    tta: Tta,
    target_fpr: float,
    work: Path,
    real_footage: tuple[str, str] | None = None,
    talking_heads: tuple[str, str] | None = None,
    reencode: Path | None = None,
    fake_videos: Sequence[str] = (),
    frames: int = DEFAULT_NUM_FRAMES,
    progress=None,
) -> dict[str, Any]:
    """Refit a model's Platt calibration on the manifest's validation crops (with `tta`), set its threshold
    and decision rule (on real footage of every kind when given, else on re-encoded real videos), write the card.
    A fusion card keeps its weights and its models' own test-time augmentation; Platt is refitted on its fused
    logit (identity for a freshly stacked fusion, whose logit is calibrated already; not for one fitted elsewhere)."""
    from ..calibration import fit_platt
    from ..evaluate import binary_metrics
    from ..models.card import Calibration
    from ..models.serving import FrameScorer, FusionScorer, load_scorer
    from . import fusion

    scorer: FrameScorer | FusionScorer
    scorer = load_scorer(model)  # type: ignore[assignment]
    val, y = fusion.validation_split(data)
    if isinstance(scorer, FusionScorer):
        if tta != "none":
            raise DeepfakeError("a fusion's models keep their own test-time augmentation (their cards): drop --tta")
        parts = fusion.component_logits(scorer.components, val)
        z = scorer.fuse({c.name: parts[:, k] for k, c in enumerate(scorer.components)})
        scorer.card = replace(scorer.card, components=_rebased(scorer.card.components, Path(model).parent, out))
    elif isinstance(scorer, FrameScorer):
        scorer.card = replace(scorer.card, tta=tta)
        z = fusion.component_logits([scorer], val)[:, 0]
    else:
        raise DeepfakeError(f"calibrate takes an ONNX model or a fusion card, not {type(scorer).__name__}")
    platt = fit_platt(z, y)
    scorer.card = replace(scorer.card, calibration=Calibration(float(platt["a"]), float(platt["b"])))
    p_val = scorer.probability(z)
    card = scorer.card.to_dict()
    if real_footage:
        card.update(
            calibrate_on_footage(
                scorer,
                val,
                p_val,
                target_fpr,
                work,
                real_footage=real_footage,
                talking_heads=talking_heads,
                reencode=reencode,
                fake_videos=fake_videos,
                frames=frames,
                progress=progress,
            )
        )
    else:
        card.update(fusion.operating_point(scorer, p_val, y, target_fpr, reencode, work, frames, progress))
    card["validation"] = binary_metrics(y, p_val, card["threshold"])
    fusion.write_card(card, out)
    return card
