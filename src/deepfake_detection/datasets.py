"""Datasets as manifests: one CSV row per face crop with its label and its leakage group.

Manifest columns: path,label,group,split[,video,track,time,source,method]. `group` is the source real video (or
person): a FAKE shares the actor, room and light of the REAL it was made from, so both must land on the same side of
every split. `source` names the dataset (dfdc, ffpp, talking_heads, ...) and `method` the generator of a FAKE
("real" for REAL rows), so training can weight them and validation can hold one out.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import DeepfakeError

LABELS = ("REAL", "FAKE")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


@dataclass(frozen=True)
class Sample:
    path: str
    label: str  # REAL | FAKE, or "" for a teacher-only row (distillation, `read_manifest(unlabelled=True)`)
    group: str
    split: str = ""
    video: str = ""
    track: int = 0
    time: float = 0.0
    source: str = ""
    method: str = ""

    @property
    def y(self) -> int:
        return int(self.label == "FAKE")


def _stem(name: str) -> str:
    return Path(name).stem


def load_dfdc_crops(root: str | Path) -> list[Sample]:
    """The DFDC face-crop set: `faces_224/<id>.jpg` plus `metadata.csv` (videoname,...,label,original)."""
    root = Path(root)
    meta = root / "metadata.csv"
    if not meta.is_file():
        raise DeepfakeError(f"{meta} not found: pass the folder that holds metadata.csv and faces_224/")
    samples = []
    with meta.open(newline="") as f:
        for row in csv.DictReader(f):
            vid = _stem(row["videoname"])
            label = row["label"].strip().upper()
            group = vid if label == "REAL" or not row.get("original") else _stem(row["original"])
            path = root / "faces_224" / f"{vid}.jpg"
            if path.is_file():
                samples.append(
                    Sample(
                        str(path), label, group, video=vid, source="dfdc", method="real" if label == "REAL" else "dfdc"
                    )
                )
    return samples


def load_dfdc_videos(folder: str | Path) -> list[Sample]:
    """A DFDC-style video folder with `metadata.json`: {"x.mp4": {"label", "original"}}."""
    folder = Path(folder)
    meta = json.loads((folder / "metadata.json").read_text())
    samples = []
    for name, info in sorted(meta.items()):
        path = folder / name
        if not path.is_file():
            continue
        label = info["label"].upper()
        group = _stem(name) if label == "REAL" or not info.get("original") else _stem(info["original"])
        samples.append(Sample(str(path), label, group, video=_stem(name)))
    return samples


def load_real_fake_folder(folder: str | Path, group_fn=None) -> list[Sample]:
    """A plain `REAL/` + `FAKE/` layout of images or videos. `group_fn(path) -> str` defaults to the file stem
    with a trailing `_fake` removed (UADFV pairs `0001.mp4` with `0001_fake.mp4`)."""
    folder = Path(folder)
    group_fn = group_fn or (lambda p: _stem(p).removesuffix("_fake"))
    samples = []
    for label in LABELS:
        sub = next((d for d in folder.iterdir() if d.is_dir() and d.name.upper() == label), None)
        if sub is None:
            raise DeepfakeError(f"{folder} has no {label}/ sub-folder")
        for p in sorted(sub.rglob("*")):
            if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                samples.append(Sample(str(p), label, group_fn(str(p)), video=_stem(p.name)))
    return samples


def dedupe(samples: list[Sample]) -> list[Sample]:
    """Drop byte-identical files (the DFDC crop set has 103 such groups), keeping the first of each."""
    seen, kept = set(), []
    for s in samples:
        digest = hashlib.blake2b(Path(s.path).read_bytes(), digest_size=16).digest()
        if digest not in seen:
            seen.add(digest)
            kept.append(s)
    return kept


def grouped_split(samples: list[Sample], val: float = 0.1, test: float = 0.1, seed: int = 0) -> list[Sample]:
    """Assign train/val/test by group with a fixed seed: no group ever appears on two sides."""
    groups = sorted({s.group for s in samples})
    random.Random(seed).shuffle(groups)
    n_val, n_test = round(len(groups) * val), round(len(groups) * test)
    side = {g: "test" for g in groups[:n_test]}
    side.update({g: "val" for g in groups[n_test : n_test + n_val]})
    return [replace(s, split=side.get(s.group, "train")) for s in samples]


def balance_fakes(samples: list[Sample], per_group: dict[str, int], seed: int = 0) -> list[Sample]:
    """Keep every REAL and at most `per_group[split]` FAKEs per source group (the set is ≈1:4.9)."""
    rng = random.Random(seed)
    by_group: dict[str, list[Sample]] = {}
    for s in samples:
        if s.label == "FAKE":
            by_group.setdefault(s.group, []).append(s)
    kept = [s for s in samples if s.label == "REAL"]
    for fakes in by_group.values():
        rng.shuffle(fakes)
        kept += fakes[: per_group.get(fakes[0].split, 1)]
    return sorted(kept, key=lambda s: s.path)


FIELDS = ("path", "label", "group", "split", "video", "track", "time", "source", "method")


def write_manifest(samples: list[Sample], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        for s in samples:
            w.writerow([getattr(s, k) for k in FIELDS])


def read_manifest(path: str | Path, unlabelled: bool = False) -> list[Sample]:
    """Rows of a manifest CSV. `unlabelled`: an empty label is allowed and kept as "" (teacher-only rows when
    distilling); otherwise every label must be REAL or FAKE."""
    path = Path(path)
    if not path.is_file():
        raise DeepfakeError(f"manifest {path} not found")
    out = []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"path", "label", "group"} - set(reader.fieldnames or [])
        if missing:
            raise DeepfakeError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for i, row in enumerate(reader, start=2):
            label = row["label"].strip().upper()
            if label not in LABELS and not (unlabelled and label == ""):
                raise DeepfakeError(f"{path}:{i}: label must be REAL or FAKE, got {row['label']!r}")
            p = Path(row["path"])
            out.append(
                Sample(
                    path=str(p if p.is_absolute() else path.parent / p),
                    label=label,
                    group=row["group"],
                    split=row.get("split") or "",
                    video=row.get("video") or "",
                    track=int(row.get("track") or 0),
                    time=float(row.get("time") or 0.0),
                    source=row.get("source") or "",
                    method=row.get("method") or "",
                )
            )
    return out


def read_manifests(data: str, unlabelled: bool = False) -> list[Sample]:
    """Rows of one manifest or of several, comma-separated (one per source)."""
    return [s for part in data.split(",") if part.strip() for s in read_manifest(part.strip(), unlabelled)]


def load_crops(samples: list[Sample], size: int, cache: str | Path | None = None, progress=None) -> np.ndarray:
    """Decode and resize every crop once to uint8 [N, size, size, 3] RGB, memoised in an .npy file."""
    import cv2

    if cache is not None and Path(cache).is_file():
        arr = np.load(cache, mmap_mode="r")
        if arr.shape == (len(samples), size, size, 3):
            return arr
    arr = np.empty((len(samples), size, size, 3), np.uint8)
    items = progress(samples) if progress else samples
    for i, s in enumerate(items):
        img = cv2.imread(s.path, cv2.IMREAD_COLOR)
        if img is None:
            raise DeepfakeError(f"cannot read image {s.path}")
        arr[i] = cv2.cvtColor(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, arr)
    return arr


def load_labelled(data: str) -> tuple[str, list[Sample]]:
    """("crops", rows) for manifest CSV(s), ("videos", rows) for a DFDC metadata.json folder or REAL/ FAKE/ folders."""
    p = Path(data)
    if data.endswith(".csv") and all(Path(part.strip()).is_file() for part in data.split(",")):
        return "crops", read_manifests(data)
    if p.is_dir() and (p / "metadata.json").is_file():
        return "videos", load_dfdc_videos(p)
    if p.is_dir():
        return "videos", load_real_fake_folder(p)
    raise DeepfakeError(
        f"{data}: expected a manifest .csv, a folder with metadata.json, or a folder with REAL/ and FAKE/"
    )
