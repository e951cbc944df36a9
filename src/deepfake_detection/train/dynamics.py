"""Fit the landmark-dynamics model on face tracks from an `extract-faces` manifest (box + landmarks columns)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..dynamics import fit_dynamics, track_features
from ..errors import DeepfakeError
from ..evaluate import binary_metrics


def track_table(manifest: str | Path) -> list[dict]:
    """One row per face track: label, group, split, video and its FEATURES (tracks too short are left out)."""
    by: dict[tuple[str, str], list[dict]] = {}
    with open(manifest, newline="") as f:
        reader = csv.DictReader(f)
        if not {"box", "landmarks", "video", "track", "time"} <= set(reader.fieldnames or []):
            raise DeepfakeError(f"{manifest}: needs box/landmarks/video/track/time columns (from extract-faces)")
        for row in reader:
            by.setdefault((row["video"], row["track"]), []).append(row)
    out = []
    for (video, _), rows in sorted(by.items()):
        rows.sort(key=lambda r: float(r["time"]))
        feats = track_features([json.loads(r["landmarks"]) for r in rows], [json.loads(r["box"]) for r in rows])
        if feats is not None:
            r = rows[0]
            out.append(
                {
                    "video": video,
                    "y": int(r["label"].upper() == "FAKE"),
                    "group": r["group"],
                    "split": r["split"],
                    "features": feats,
                }
            )
    return out


def fit_from_manifest(manifest: str | Path, out: str | Path) -> dict:
    """Fit on the train split, report validation and test metrics per video; write the model JSON to `out`."""
    table = track_table(manifest)
    train = [t for t in table if t["split"] == "train"]
    if len({t["y"] for t in train}) < 2:
        raise DeepfakeError(f"{manifest}: the train split needs REAL and FAKE tracks")
    model = fit_dynamics(np.stack([t["features"] for t in train]), np.array([t["y"] for t in train]))
    report: dict[str, Any] = {"train_tracks": len(train)}
    for split in ("val", "test"):
        rows = [t for t in table if t["split"] == split]
        per_video: dict[str, tuple[int, float]] = {}
        for t in rows:
            p = model.probability(t["features"])
            per_video[t["video"]] = (t["y"], max(p, per_video.get(t["video"], (0, 0.0))[1]))
        if per_video and len({y for y, _ in per_video.values()}) == 2:
            ys, ps = map(np.array, zip(*per_video.values()))
            report[split] = binary_metrics(ys, ps)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(
        json.dumps(model.to_json() | {"trained_on": str(manifest), "metrics": report}, indent=2) + "\n"
    )
    return report
