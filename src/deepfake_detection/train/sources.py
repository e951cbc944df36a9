"""One manifest per training source, all in the same format (`datasets.FIELDS`): path, label, group, split,
source, method. Each `prepare_*` takes the path of a fetched snapshot (see shared DATA.md) and is rerunnable.

- dfdc: one still crop per DFDC video, grouped by source real video (`prepare.prepare_dfdc`).
- ffpp: FaceForensics++ c23 crops of four methods, only the keep-listed files, re-cut to the serving framing and
  grouped by contiguous `roi_N` blocks aligned across the method folders.
- talking_heads: generator outputs and real talking-head videos, cut by `extract-faces` (the `detect` stages),
  grouped by person (repositories that show the same person are one group).
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..datasets import Sample, grouped_split, write_manifest
from ..errors import DeepfakeError
from ..media import DEFAULT_NUM_FRAMES

log = logging.getLogger(__name__)

FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
FFPP_REAL = "youtube"
# Crops are in video-id order, about one per fake video and two per real video: block N // 20 of every method
# folder and block N // 40 of `youtube` cover the same target videos (DATA.md §4).
FFPP_BLOCK = {FFPP_REAL: 40, **{m: 20 for m in FFPP_METHODS}}

# Repositories of the talking-head manifest that show the same person (from the manifest's notes): one group each.
TALKING_HEAD_SAME_PERSON = (
    ("HuyVux-dev/Wav2Lip-Preprocess-Face", "Zz-ww/SadTalker-Video-Lip-Sync"),  # video-retalking example face 1
    ("semchan/HyperLips", "iperov/DeepFaceLive", "ai-forever/ghost", "prismosoft/Thin-Plate-Spline-Motion-Model"),
    ("ZiqiaoPeng/SyncTalk", "yerfor/MimicTalk"),  # Theresa May
    ("Akash-Jariwala/lipsync-assignment", "kuwarkapur/Wav2Lip_testing"),
    ("xiaoou2/Wav2Lip", "Sakthivel3130/Wav2Lip-lipsync"),  # Chaplin
)


# Fakes made from DATA.md §3's real talking heads (video-retalking's example face 1), whose real clips stay out of
# training (they serve real-only uses and the operating point). Trained on alone, they teach the model that this
# person is fake: the first multi-source model called the real clip of face 1 FAKE at P = 1.00. Their rows keep
# the split name "excluded": never trained on, never in validation.
TALKING_HEAD_EXCLUDED_PERSONS = ("HuyVux-dev/Wav2Lip-Preprocess-Face", "Zz-ww/SadTalker-Video-Lip-Sync")
EXCLUDED = "excluded"


def ffpp_group(method: str, roi: int) -> str:
    return f"ffpp_b{roi // FFPP_BLOCK[method]:03d}"


def recut(img: np.ndarray, size: int = 224, pad: float = 0.25) -> np.ndarray | None:
    """Cut a face crop of another framing again with the serving recipe (`faces.crop_face` on a YuNet detection),
    so training sees what `detect` feeds the model. A tight crop gets a black border for the detector to see the
    whole face; the crop itself is cut from the original pixels (edge-replicated where it runs past them)."""
    from ..faces import Detection, crop_face, detect_faces

    found = detect_faces(img)
    if not found:
        b = int(pad * max(img.shape[:2]))
        found = [
            Detection(_shifted(d.box, -b), d.score, tuple((x - b, y - b) for x, y in d.landmarks))
            for d in detect_faces(np.pad(img, ((b, b), (b, b), (0, 0))))
        ]
    if not found:
        return None
    return crop_face(img, found[0], size)


def _shifted(box: tuple[float, float, float, float], by: float) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    return (x1 + by, y1 + by, x2 + by, y2 + by)


def prepare_ffpp(
    snapshot: str | Path,
    keep_list: str | Path,
    out: str | Path,
    size: int = 224,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    progress=None,
) -> dict:
    """Re-cut the keep-listed 299 px FF++ crops (`image/train/<method>/roi_N.jpg`) into OUT/crops and write
    OUT/manifest.csv. Files not on the keep-list are never read."""
    import cv2

    snapshot, out = Path(snapshot), Path(out)
    keep = [ln.strip() for ln in Path(keep_list).read_text().splitlines() if ln.strip().startswith("image/")]
    if not keep:
        raise DeepfakeError(f"{keep_list}: no image/... paths")
    pattern = re.compile(r"image/train/([^/]+)/roi_(\d+)\.jpg$")
    samples, missing, no_face = [], 0, 0
    for rel in progress(keep) if progress else keep:
        m = pattern.search(rel)
        if not m or m.group(1) not in FFPP_BLOCK:
            raise DeepfakeError(f"{keep_list}: unexpected path {rel}")
        method, roi = m.group(1), int(m.group(2))
        src = snapshot / rel
        if not src.is_file():
            missing += 1
            continue
        dst = out / "crops" / method / f"roi_{roi}.jpg"
        if not dst.is_file():
            img = cv2.imread(str(src), cv2.IMREAD_COLOR)
            crop = None if img is None else recut(np.ascontiguousarray(img[..., ::-1]), size)
            if crop is None:
                no_face += 1
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(dst), crop[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        real = method == FFPP_REAL
        samples.append(
            Sample(
                str(dst.relative_to(out)),
                "REAL" if real else "FAKE",
                ffpp_group(method, roi),
                video=f"{method}_{roi}",
                source="ffpp",
                method="real" if real else method,
            )
        )
    if missing == len(keep):
        raise DeepfakeError(f"none of the keep-listed files is under {snapshot}: pass the extracted snapshot folder")
    samples = grouped_split(samples, val=val, test=test, seed=seed)
    write_manifest(samples, out / "manifest.csv")
    counts = Counter((s.split, s.method) for s in samples)
    return {
        "rows": len(samples),
        "missing": missing,
        "no_face": no_face,
        **{f"{k[0]}/{k[1]}": v for k, v in sorted(counts.items())},
    }


def _person_groups(repos: list[str]) -> dict[str, str]:
    """Repository -> group name, merging the repositories listed together in TALKING_HEAD_SAME_PERSON."""
    group = {r: r for r in repos}
    for linked in TALKING_HEAD_SAME_PERSON:
        present = [r for r in linked if r in group]
        for r in present:
            group[r] = present[0] if present else r
    return group


def talking_head_samples(manifest: str | Path, folder: str | Path) -> list[Sample]:
    """The videos of DATA.md §5's MANIFEST.csv found in `folder` (named by its `file` column), one Sample each,
    method = generator family, group = person (by repository, merged where one person spans several)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DeepfakeError(f"{folder} is not a folder of talking-head videos")
    if not Path(manifest).is_file():
        raise DeepfakeError(f"manifest {manifest} not found")
    with Path(manifest).open(newline="") as f:
        rows = list(csv.DictReader(f))
    groups = _person_groups([r["source_repo"] for r in rows])
    samples, missing = [], []
    for r in rows:
        path = folder / r["file"]
        if not path.is_file():
            missing.append(r["file"])
            continue
        label = r["label"].strip().upper()
        samples.append(
            Sample(
                str(path),
                label,
                "th_" + groups[r["source_repo"]].replace("/", "_"),
                video=Path(r["file"]).stem,
                source="talking_heads",
                method="real" if label == "REAL" else r["generator"],
            )
        )
    if not samples:
        raise DeepfakeError(f"no file of {manifest} found in {folder}")
    if missing:
        log.warning(
            "%d of %d files of %s are not in %s (e.g. %s)", len(missing), len(rows), manifest, folder, missing[0]
        )
    return samples


def talking_head_videos(manifest: str | Path, folder: str | Path, seed: int = 0) -> list[Sample]:
    """The talking-head videos with their train/val/test split by person (60/20/20: few people, and val and test
    must each hold some of every kind); the excluded persons' videos get the split "excluded" (after splitting,
    so the other groups keep their sides)."""
    split = grouped_split(talking_head_samples(manifest, folder), val=0.2, test=0.2, seed=seed)
    excluded = {"th_" + r.replace("/", "_") for r in TALKING_HEAD_EXCLUDED_PERSONS}
    return [replace(s, split=EXCLUDED) if s.group in excluded else s for s in split]


def prepare_talking_heads(
    manifest: str | Path,
    folder: str | Path,
    out: str | Path,
    frames: int = DEFAULT_NUM_FRAMES,
    seed: int = 0,
    progress=None,
) -> dict:
    """Split the talking-head videos by person, cut their faces with `extract-faces` and write OUT/crops.csv
    with source and method columns (OUT/manifest.csv is extract-faces' own, with boxes and landmarks)."""
    from ..datasets import read_manifest
    from .extract import extract_faces

    videos = talking_head_videos(manifest, folder, seed)
    counts = extract_faces(videos, out, num_frames=frames, progress=progress)
    by_video = {s.video: s for s in videos}
    crops = [
        replace(
            c,
            source="talking_heads",
            method=by_video[c.video].method,
            split=by_video[c.video].split,
            path=str(Path(c.path).relative_to(out)),
        )
        for c in read_manifest(Path(out) / "manifest.csv")
        if c.video in by_video
    ]
    write_manifest(crops, Path(out) / "crops.csv")
    counts.update({f"{k[0]}/{k[1]}": v for k, v in sorted(Counter((s.split, s.label) for s in crops).items())})
    return counts
