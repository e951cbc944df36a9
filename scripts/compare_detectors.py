"""Old face detector backend (the `yuface` wheel, libfacedetection's YuNet compiled in) against the current one
(`faces.yunet`: the YuNet ONNX file run by ONNX Runtime), on the same frames and through the same
`faces.detect_faces` (downscale to 640 px, score threshold, size filter, low-light retry).

Needs `yuface` installed beside the package (Python 3.10/3.11 only): `pip install yuface==2023.5.1`.

    python scripts/compare_detectors.py                      # the default folders below, where present
    python scripts/compare_detectors.py --min-confidence 0.55 --frames 8 some/folder clip.mp4
    python scripts/compare_detectors.py --reports old.jsonl new.jsonl   # two `deepfake-detect detect --json` runs

Per set it prints faces found by each, boxes matched at IoU >= 0.5, their mean IoU, mean landmark distance (pixels
and as a fraction of the box size), the correlation of the two scores, detections only the old one made (missed)
and only the new one made (extra), ms per frame for each (CPU and wall; one thread each, as in the pipeline) and, for videos,
the face tracks `track_faces` keeps (the full path with window re-detection between full detections).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from deepfake_detection import faces
from deepfake_detection.faces import Detection, FaceConfig, _iou, detect_faces, track_faces
from deepfake_detection.media import Frames, read_frames

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SETS = [
    ROOT.parent / "shared/data/dfdc-videos-sample",
    ROOT.parent / "shared/data/real-footage",
    Path("/work/data/real-footage"),
    ROOT.parent / "shared/data/dfdc-faces-sample",
    Path("/work/data/uadfv"),
]
VIDEO = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".webm"}
IMAGE = {".jpg", ".jpeg", ".png"}


def _yuface_detector():
    """The detector as it was before the switch, line for line (faces.py at commit 85ddbba)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import yuface

    def run(rgb, max_side, cfg, enhanced, offset=(0, 0)):
        h, w = rgb.shape[:2]
        ox, oy = offset
        scale = min(1.0, max_side / max(h, w))
        small = (
            cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        )
        raw = yuface.c_detect(np.ascontiguousarray(small[..., ::-1]))
        dets = []
        for row in raw.astype(np.float32):
            score = row[0] / 100.0
            x, y, bw, bh = row[1:5] / scale
            if score < cfg.min_confidence or min(bw, bh) < cfg.min_face_px:
                continue
            x, y = x + ox, y + oy
            pts = (row[5:15] / scale).reshape(5, 2) + (ox, oy)
            dets.append(
                Detection(
                    (float(x), float(y), float(x + bw), float(y + bh)),
                    float(score),
                    tuple((float(px), float(py)) for px, py in pts),
                    enhanced,
                )
            )
        return dets

    return run


@dataclass
class Tally:
    frames: int = 0
    old: int = 0
    new: int = 0
    ious: list = field(default_factory=list)
    lm_px: list = field(default_factory=list)
    lm_rel: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    missed: int = 0
    extra: int = 0
    old_s: float = 0.0  # process CPU time, robust to other load on the machine
    new_s: float = 0.0
    old_wall: float = 0.0
    new_wall: float = 0.0
    old_tracks: int = 0
    new_tracks: int = 0
    old_tracked: int = 0
    new_tracked: int = 0
    examples: list = field(default_factory=list)

    def add(self, name: str, old: list[Detection], new: list[Detection]) -> None:
        self.frames += 1
        self.old += len(old)
        self.new += len(new)
        pairs = sorted(((_iou(a.box, b.box), i, j) for i, a in enumerate(old) for j, b in enumerate(new)), reverse=True)
        used_o, used_n = set(), set()
        for iou, i, j in pairs:
            if iou < 0.5:
                break
            if i in used_o or j in used_n:
                continue
            used_o.add(i)
            used_n.add(j)
            a, b = old[i], new[j]
            d = np.linalg.norm(np.subtract(a.landmarks, b.landmarks), axis=1).mean()
            self.ious.append(iou)
            self.lm_px.append(d)
            self.lm_rel.append(d / max(faces.box_size(a), 1.0))
            self.scores.append((a.score, b.score))
        for i in set(range(len(old))) - used_o:
            self.missed += 1
            self.examples.append(f"missed {name} score {old[i].score:.2f} size {faces.box_size(old[i]):.0f}")
        for j in set(range(len(new))) - used_n:
            self.extra += 1
            self.examples.append(f"extra  {name} score {new[j].score:.2f} size {faces.box_size(new[j]):.0f}")

    def line(self, label: str) -> str:
        n = len(self.ious)
        sc = np.array(self.scores) if self.scores else np.zeros((0, 2))
        corr = float(np.corrcoef(sc.T)[0, 1]) if n > 2 and sc[:, 0].std() > 0 and sc[:, 1].std() > 0 else float("nan")
        out = (
            f"{label:<22} frames {self.frames:5d}  faces old {self.old:5d} new {self.new:5d}  matched {n:5d}  "
            f"IoU mean {np.mean(self.ious) if n else float('nan'):.3f} median {np.median(self.ious) if n else float('nan'):.3f}  "
            f"landmarks {np.mean(self.lm_px) if n else float('nan'):.2f} px "
            f"({100 * np.mean(self.lm_rel) if n else float('nan'):.1f} % of box)  "
            f"score r {corr:.3f} (old {sc[:, 0].mean() if n else 0:.3f} new {sc[:, 1].mean() if n else 0:.3f})  "
            f"missed {self.missed}  extra {self.extra}  "
            f"ms/frame CPU old {1000 * self.old_s / max(self.frames, 1):.1f} new {1000 * self.new_s / max(self.frames, 1):.1f}"
            f", wall old {1000 * self.old_wall / max(self.frames, 1):.1f} new {1000 * self.new_wall / max(self.frames, 1):.1f}"
        )
        if self.old_tracks or self.new_tracks:
            out += (
                f"\n{'':<22} tracks old {self.old_tracks} new {self.new_tracks}, tracked detections "
                f"old {self.old_tracked} new {self.new_tracked}"
            )
        return out

    def merge(self, o: Tally) -> None:
        for k, v in vars(o).items():
            setattr(self, k, getattr(self, k) + v)


def _images(path: Path, n_frames: int):
    """(name, [RGB frames], is_video) for every image and video under `path` (or `path` itself)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO | IMAGE)
    for p in files:
        if p.suffix.lower() in IMAGE:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is not None:
                yield p.name, [img[..., ::-1].copy()], False
        else:
            try:
                yield p.name, read_frames(p, n_frames).images, True
            except Exception as e:  # a clip the reader refuses is skipped in both backends alike
                print(f"  skipped {p.name}: {type(e).__name__}: {e}")


def _timed(run, fn, *args):
    faces._run_detector = run
    t, w = time.process_time(), time.perf_counter()
    out = fn(*args)
    return out, time.process_time() - t, time.perf_counter() - w


def compare(path: Path, old_run, new_run, cfg_old: FaceConfig, cfg_new: FaceConfig, n_frames: int) -> Tally:
    tally = Tally()
    for name, images, is_video in _images(path, n_frames):
        for k, img in enumerate(images):
            old, t_old, w_old = _timed(old_run, detect_faces, img, cfg_old)
            new, t_new, w_new = _timed(new_run, detect_faces, img, cfg_new)
            tally.old_s += t_old
            tally.new_s += t_new
            tally.old_wall += w_old
            tally.new_wall += w_new
            tally.add(f"{name}#{k}", old, new)
        if is_video and len(images) > 1:
            fr = Frames(
                name,
                images,
                list(range(len(images))),
                [0.0] * len(images),
                images[0].shape[1],
                images[0].shape[0],
                1.0,
                float(len(images)),
            )
            to = _timed(old_run, track_faces, fr, cfg_old)[0]
            tn = _timed(new_run, track_faces, fr, cfg_new)[0]
            tally.old_tracks += len(to)
            tally.new_tracks += len(tn)
            tally.old_tracked += sum(len(t.detections) for t in to)
            tally.new_tracked += sum(len(t.detections) for t in tn)
    return tally


def _label(path: str) -> int | None:
    """1 FAKE / 0 REAL from a FAKE/REAL folder or a fake_/real_ file name prefix, else None."""
    parts = [q.lower() for q in Path(path).parts]
    name = parts[-1]
    if "fake" in parts[:-1] or name.startswith("fake_"):
        return 1
    if "real" in parts[:-1] or name.startswith("real_"):
        return 0
    return None


def _auc(labels: list[int], scores: list[float]) -> float:
    pos = [s for y, s in zip(labels, scores) if y == 1]
    neg = [s for y, s in zip(labels, scores) if y == 0]
    if not pos or not neg:
        return float("nan")
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def compare_reports(old_path: Path, new_path: Path) -> None:
    """Verdicts and probabilities of two `detect --json` runs over the same inputs."""
    import json

    def load(p):
        return {r["path"]: r for r in (json.loads(line) for line in p.read_text().splitlines() if line.strip())}

    old, new = load(old_path), load(new_path)
    common = sorted(set(old) & set(new))
    same = [k for k in common if old[k]["verdict"] == new[k]["verdict"]]
    dp = [
        abs(old[k]["probability"] - new[k]["probability"])
        for k in common
        if old[k]["probability"] is not None and new[k]["probability"] is not None
    ]
    print(
        f"{old_path.name} vs {new_path.name}: {len(common)} inputs, same verdict {len(same)}, "
        f"|dP| mean {np.mean(dp) if dp else float('nan'):.4f} max {max(dp, default=float('nan')):.4f}, "
        f"faces old {sum(len(old[k]['faces']) for k in common)} new {sum(len(new[k]['faces']) for k in common)}"
    )
    for k in common:
        o, n = old[k], new[k]
        if o["verdict"] != n["verdict"] or len(o["faces"]) != len(n["faces"]):
            print(
                f"    {Path(k).name}: {o['verdict']} {o['probability']} ({len(o['faces'])} faces) -> "
                f"{n['verdict']} {n['probability']} ({len(n['faces'])} faces)"
            )
    labelled = [
        k
        for k in common
        if _label(k) is not None and old[k]["probability"] is not None and new[k]["probability"] is not None
    ]
    if labelled:
        y = [_label(k) for k in labelled]
        for side, rep in (("old", old), ("new", new)):
            flagged = [rep[k]["verdict"] == "FAKE" for k in labelled]
            real = [f for f, t in zip(flagged, y) if t == 0]
            fake = [f for f, t in zip(flagged, y) if t == 1]
            print(
                f"    {side}: AUC {_auc(y, [rep[k]['probability'] for k in labelled]):.3f} over {len(labelled)}, "
                f"real flagged {sum(real)}/{len(real)}, fakes caught {sum(fake)}/{len(fake)}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", type=Path, help="folders or files (default: the sample sets, where present)")
    ap.add_argument("--frames", type=int, default=8, help="frames sampled per video")
    ap.add_argument("--min-confidence", type=float, default=None, help="new backend's score threshold")
    ap.add_argument("--max-side", type=int, default=None, help="new backend's detection size")
    ap.add_argument("--examples", type=int, default=10, help="missed/extra detections to list per set")
    ap.add_argument(
        "--reports",
        nargs=2,
        type=Path,
        metavar=("OLD", "NEW"),
        help="instead: compare two `deepfake-detect detect --json` outputs (JSON lines)",
    )
    args = ap.parse_args()
    if args.reports:
        compare_reports(*args.reports)
        return
    cv2.setNumThreads(1)
    from threadpoolctl import threadpool_limits

    old_run, new_run = _yuface_detector(), faces._run_detector
    cfg_old = replace(FaceConfig(), min_confidence=0.6)  # the threshold used with yuface
    cfg_new = replace(
        FaceConfig(),
        **{
            k: v
            for k, v in (("min_confidence", args.min_confidence), ("detect_max_side", args.max_side))
            if v is not None
        },
    )
    print(
        f"old: yuface, {cfg_old.min_confidence} @ {cfg_old.detect_max_side} px; "
        f"new: {faces.YUNET_MODEL.name} on ONNX Runtime, {cfg_new.min_confidence} @ {cfg_new.detect_max_side} px"
    )
    total = Tally()
    paths = args.paths or [p for p in DEFAULT_SETS if p.exists()]
    with threadpool_limits(limits=1, user_api="openmp"):
        for p in paths:
            t = compare(p, old_run, new_run, cfg_old, cfg_new, args.frames)
            if not t.frames:
                print(f"{p}: nothing to read")
                continue
            print(t.line(p.name))
            for e in t.examples[: args.examples]:
                print("   ", e)
            total.merge(t)
    faces._run_detector = new_run
    print(total.line("ALL"))


if __name__ == "__main__":
    main()
