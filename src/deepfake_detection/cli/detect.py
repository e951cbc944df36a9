"""`deepfake-detect detect`: judge videos or images, one report per input."""

from __future__ import annotations

import argparse
import base64
import logging
import sys
from pathlib import Path

from ..errors import DeepfakeError
from . import _options as opt

log = logging.getLogger(__name__)


def register(sub) -> None:
    s = sub.add_parser(
        "detect",
        help="judge videos or images: REAL / FAKE / NO_FACE per input, per face",
        description="Find every face, score each face track with the model and report whether the "
        "input is a deepfake, with a calibrated probability. Exit status 0 when every "
        "input got a verdict, 1 when any failed.",
    )
    s.add_argument("paths", nargs="+", metavar="PATH", help="video (mp4, mov, avi, mkv, webm...) or image files")
    opt.add_json(s, "one JSON object per input per line on stdout")
    opt.add_frames(s)
    opt.add_model(s)
    opt.add_threshold(s)
    opt.add_trust_list(s)
    s.add_argument(
        "--explain",
        metavar="DIR",
        help="also explain each face: occlusion heatmap of its most suspicious "
        "frame; JPEGs (frame with box, crop, heatmap) written to DIR and "
        "the explanation added to the JSON",
    )
    s.add_argument(
        "--dynamics",
        metavar="MODEL_JSON",
        help="also score each face track's landmark motion with a "
        "model from `train-dynamics` (reported per face, not "
        "used in the verdict)",
    )
    opt.add_quiet(s)
    s.set_defaults(func=run, quick_exit=True)


def _dynamics(path: str | None):
    if not path:
        return None
    from ..dynamics import DynamicsModel

    try:
        return DynamicsModel.load(path)
    except KeyError as e:
        raise DeepfakeError(f"{path} is not a landmark-dynamics model: no {e} field") from e
    except (OSError, ValueError) as e:
        raise DeepfakeError(f"cannot load the dynamics model {path}: {e}") from e


def prepare(args: argparse.Namespace):
    """The detector for these options, model loaded (what a `detect` call spends before its first input)."""
    from ..models.serving import load_scorer

    scorer = load_scorer(args.model, wait=False)  # the session builds while the pipeline imports
    from ..pipeline import Detector

    trust = None
    if args.trust_list:
        from ..provenance import TrustList

        trust = TrustList.load(args.trust_list)
    scorer.ready()
    dynamics = _dynamics(args.dynamics)
    return Detector(
        scorer,
        num_frames=args.frames,
        threshold=args.threshold,
        explain=bool(args.explain),
        dynamics=dynamics,
        trust=trust,
    )


def run(args: argparse.Namespace) -> int:
    detector = prepare(args)
    from ..pipeline import detect_or_error

    explain_dir = Path(args.explain) if args.explain else None
    if explain_dir is not None:
        try:
            explain_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DeepfakeError(f"cannot write explanations to {explain_dir}: {e.strerror}") from e
    failed = 0
    bar = opt.progress(args.paths, args.quiet, "detect", "file", min_items=2)
    for path in bar:
        report = detect_or_error(detector, path)
        failed += report.verdict == "ERROR"
        saved = save_explanations(report, explain_dir) if explain_dir is not None and report.faces else []
        lines = [report.to_json() if args.json else human(report)]
        if saved and not args.json:
            lines.append("\n".join(f"  saved    {p}" for p in saved))
        bar.write("\n".join(lines), file=sys.stdout)  # tqdm.write keeps the bar intact
    return 1 if failed else 0


def save_explanations(report, out: Path) -> list[Path]:
    """Write each face's pictures (frame with box, crop, crop under heatmap) as JPEG files named after the input."""
    stem, saved = Path(report.path).stem, []
    for f in report.faces:
        e = f.explanation
        for kind, data in (("frame", e.frame_jpeg), ("face", e.face_jpeg), ("heatmap", e.heatmap_jpeg)):
            path = out / f"{stem}_face{f.track_id}_{kind}.jpg"
            path.write_bytes(base64.b64decode(data))
            saved.append(path)
    return saved


def _seen(f, is_image: bool) -> str:
    if is_image:
        return "image"
    return f"{f.frames[0].time:.1f}-{f.frames[-1].time:.1f}"


def human(r) -> str:
    """The report as a short table for a person."""
    lines = [f"{r.path}"]
    if r.verdict == "ERROR":
        lines.append(f"  ERROR    {r.error}")
        return "\n".join(lines)
    prob = "   -  " if r.probability is None else f"{r.probability:6.3f}"
    lines.append(
        f"  {r.verdict:8s} P(fake)={prob}  threshold {r.threshold:.2f}  model {r.model}  "
        f"{r.timings.get('total', 0):.2f} s"
    )
    lines.append(f"  reason   {r.reason}")
    lines.append(f"  C2PA     {r.provenance.summary}" + (" (decided the verdict)" if r.provenance.decided else ""))
    is_image = bool(r.media and r.media.is_image)
    if r.faces:
        lines.append("  face  P(fake)  frames  seen s        over threshold s  box (first frame)       size  judged")
        for f in r.faces:
            x1, y1, x2, y2 = f.frames[0].box
            over = "-" if f.span is None or is_image else f"{f.span[0]:.1f}-{f.span[1]:.1f}"
            mark = "*" if f.track_id == r.deciding_face else " "
            box = f"[{x1:.0f},{y1:.0f},{x2:.0f},{y2:.0f}]"
            size = f"{f.quality.size:4.0f}" if f.quality else "   -"
            judged = "yes" if f.judged else f"no: {f.not_judged_reason}"
            lines.append(
                f" {mark}{f.track_id:4d}  {f.probability:7.3f}  {len(f.frames):6d}  "
                f"{_seen(f, is_image):11s}  {over:16s}  {box:22s}  {size}  {judged}"
            )
            if f.components:
                lines.append("        models: " + ", ".join(f"{k} {v:.3f}" for k, v in f.components.items()))
            if f.dynamics:
                lines.append(
                    f"        landmark dynamics {f.dynamics.probability:.3f} (most telling: "
                    f"{f.dynamics.signal}; not in the verdict)"
                )
    for w in r.warnings:
        lines.append(f"  warning  {w}")
    return "\n".join(lines)
