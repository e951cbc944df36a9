"""`deepfake-detect` command line. Thin: parse, call one public entry, print."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import DeepfakeError


def _cmd_prepare_dfdc(args) -> int:
    from .train.prepare import prepare_dfdc

    counts = prepare_dfdc(args.snapshot, args.out, args.train_fakes_per_group, args.seed)
    for (split, label), n in sorted(counts.items()):
        print(f"{split:5s} {label:4s} {n}")
    print(f"manifest written to {args.out}")
    return 0


def _cmd_prepare(args) -> int:
    from tqdm import tqdm

    from .train import sources

    bar = None if args.quiet else (lambda it: tqdm(it, desc=f"prepare {args.source}", file=sys.stderr))
    if args.source == "ffpp":
        if not args.keep:
            raise DeepfakeError("prepare ffpp needs --keep (shared/data/ffpp-c23-crops/keep.txt)")
        counts = sources.prepare_ffpp(args.snapshot, args.keep, args.out, seed=args.seed, progress=bar)
        manifest = Path(args.out) / "manifest.csv"
    else:
        if not args.manifest:
            raise DeepfakeError("prepare talking-heads needs --manifest (shared/data/talking-heads/MANIFEST.csv)")
        counts = sources.prepare_talking_heads(args.manifest, args.snapshot, args.out, frames=args.frames,
                                               seed=args.seed, progress=bar)
        manifest = Path(args.out) / "crops.csv"
    print(json.dumps(counts) if args.json else "\n".join(f"{k:28s} {v}" for k, v in counts.items()))
    print(f"manifest written to {manifest}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _cmd_train(args) -> int:
    from .config import load_config
    from .train.trainer import TrainConfig, train

    cfg = load_config(TrainConfig, args.config, data=args.data, out=args.out, max_steps=args.max_steps)
    run = train(cfg, progress=not args.quiet)
    print(f"run directory: {run}")
    return 0


def _cmd_detect(args) -> int:
    from tqdm import tqdm

    from .pipeline import Detector
    from .models.serving import load_scorer
    from .report import Report

    scorer = load_scorer(args.model)
    dynamics = None
    if args.dynamics:
        from .dynamics import DynamicsModel

        try:
            dynamics = DynamicsModel.load(args.dynamics)
        except KeyError as e:
            raise DeepfakeError(f"{args.dynamics} is not a landmark-dynamics model: no {e} field") from e
        except (OSError, ValueError) as e:
            raise DeepfakeError(f"cannot load the dynamics model {args.dynamics}: {e}") from e
    explain_dir = Path(args.explain) if args.explain else None
    if explain_dir is not None:
        try:
            explain_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DeepfakeError(f"cannot write explanations to {explain_dir}: {e.strerror}") from e
    detector = Detector(scorer, num_frames=args.frames, threshold=args.threshold, explain=bool(args.explain),
                        dynamics=dynamics)
    threshold = scorer.threshold if args.threshold is None else args.threshold
    failed = 0
    bar = tqdm(args.paths, desc="detect", unit="file", disable=len(args.paths) < 2 or args.quiet, file=sys.stderr)
    for path in bar:
        try:
            report = detector.detect(path)
        except DeepfakeError as e:
            report = Report.failed(str(path), str(e), model=scorer.name, threshold=threshold)
        except Exception as e:  # a bug or a decoder surprise must cost this input only, never the batch
            logging.getLogger(__name__).debug("internal error on %s", path, exc_info=True)
            report = Report.failed(str(path), f"internal error: {type(e).__name__}: {e}".splitlines()[0],
                                   model=scorer.name, threshold=threshold)
        failed += report.verdict == "ERROR"
        if args.explain and report.faces:
            saved = _save_explanations(report, explain_dir)
            if not args.json:
                bar.write("\n".join(f"  saved    {p}" for p in saved))
        bar.write(report.to_json() if args.json else _human(report))  # tqdm.write: stdout, bar kept intact
    return 1 if failed else 0


def _save_explanations(report, out: Path) -> list[Path]:
    """Write each face's pictures (frame with box, crop, crop under heatmap) as JPEG files named after the input."""
    import base64

    stem, saved = Path(report.path).stem, []
    for f in report.faces:
        e = f.explanation
        for kind, data in (("frame", e.frame_jpeg), ("face", e.face_jpeg), ("heatmap", e.heatmap_jpeg)):
            path = out / f"{stem}_face{f.track_id}_{kind}.jpg"
            path.write_bytes(base64.b64decode(data))
            saved.append(path)
    return saved


def _cmd_scan(args) -> int:
    from .scan import scan

    paths = list(args.paths)
    if args.ray not in (None, _RAY_LOCAL, "auto") and ":" not in args.ray and Path(args.ray).exists():
        paths.insert(0, args.ray)  # `scan --ray footage/ ...`: a folder, not an address; Ray runs locally
        args.ray = _RAY_LOCAL
    if not paths:
        raise DeepfakeError("scan needs at least one PATH (file or folder)")
    use_ray = args.ray is not None
    if args.ship_bytes and not use_ray:
        raise DeepfakeError("--ship-bytes goes with --ray")
    summary = scan(paths, args.out, csv=args.csv, html=args.html, workers=args.workers,
                   retry_failed=args.retry_failed, model=args.model, num_frames=args.frames,
                   threshold=args.threshold, use_ray=use_ray,
                   ray_address=None if args.ray in (None, _RAY_LOCAL) else args.ray, ship_bytes=args.ship_bytes,
                   progress=not args.quiet)
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        v = summary.verdicts
        skipped = sum(summary.skipped_unreadable.values())
        print(f"{summary.files} media files: {v['FAKE']} FAKE, {v['REAL']} REAL, {v['NO_FACE']} NO_FACE, "
              f"{v['ERROR']} ERROR; scanned now {summary.scanned}, already done {summary.already_done}; "
              f"skipped {summary.skipped_non_media} non-media, {skipped} unreadable")
        for reason, n in sorted(summary.skipped_unreadable.items()):
            print(f"  skipped {n}: {reason}")
        if summary.scanned:
            print(f"{summary.elapsed_s:.1f} s, {summary.files_per_min:.1f} files/min, {summary.videos_per_min:.1f} "
                  f"videos/min ({summary.backend}, {summary.workers} worker(s) x {summary.threads_per_worker} "
                  f"thread(s))")
        else:
            print(f"{summary.elapsed_s:.1f} s: nothing new to scan (ERROR lines are retried with --retry-failed)")
        print(f"results: {summary.out}" + "".join(f", {p}" for p in (summary.csv, summary.html) if p))
    return 0 if summary.ok else 1


_RAY_LOCAL = "local"  # `--ray` with no address


def _cmd_serve(args) -> int:
    import uvicorn

    from .server import Settings, create_app

    from .server.settings import check_data_dir

    settings = Settings.from_env(host=args.host, port=args.port, workers=args.workers,
                                 data_dir=Path(args.data_dir) if args.data_dir else None,
                                 max_upload_mb=args.max_upload_mb, model=args.model, token=args.token,
                                 insecure_no_token=args.insecure_no_token or None)
    check_data_dir(settings.data_dir)
    from .models.serving import load_scorer

    load_scorer(settings.model or None)  # a wrong --model fails here, not in every scan
    print(f"deepfake-detect serving on http://{settings.host}:{settings.port}/  (API docs: /docs, data: "
          f"{settings.data_dir.resolve()})", file=sys.stderr)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info" if args.verbose else "warning")
    return 0


def _real_dir(args) -> Path | None:
    """--real-videos as a folder, checked before any slow work."""
    if not args.real_videos:
        return None
    real = Path(args.real_videos)
    if not real.is_dir():
        raise DeepfakeError(f"--real-videos {real} is not a folder")
    return real


def _real_video_bar(args):
    from tqdm import tqdm

    return None if args.quiet else (lambda it: tqdm(it, desc="real videos", file=sys.stderr))


def _write_card(card: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(card, indent=2) + "\n")


def _cmd_calibrate(args) -> int:
    from tqdm import tqdm

    from .evaluate import binary_metrics
    from .models.serving import Calibration, load_scorer
    from .train import fusion
    from .train.operating import calibrate_on_footage

    real = _real_dir(args)
    if bool(args.real_footage) != bool(args.real_footage_manifest):
        raise DeepfakeError("--real-footage and --real-footage-manifest go together")
    if bool(args.talking_heads) != bool(args.talking_heads_manifest):
        raise DeepfakeError("--talking-heads and --talking-heads-manifest go together")
    for folder in [args.real_footage, args.talking_heads, *args.fake_videos]:  # checked before any slow work
        if folder and not Path(folder).is_dir():
            raise DeepfakeError(f"{folder} is not a folder")
    for manifest in (args.real_footage_manifest, args.talking_heads_manifest):
        if manifest and not Path(manifest).is_file():
            raise DeepfakeError(f"manifest {manifest} not found")
    scorer = load_scorer(args.model)
    if not hasattr(scorer, "tta"):
        raise DeepfakeError("calibrate takes a single ONNX model; a fusion is calibrated by `fuse`")
    scorer.tta = args.tta
    val, y = fusion.validation_split(args.data)
    z = fusion.component_logits([scorer], val)[:, 0]
    (a,), b = fusion.fit_stack(z[:, None], y)
    scorer.calibration = Calibration(float(a), float(b))
    p_val = scorer.probability(z)
    card = dict(scorer.card, tta=args.tta, calibration={"a": float(a), "b": float(b)})
    if args.real_footage:
        bar = None if args.quiet else (lambda it: tqdm(it, desc="footage", unit="item", file=sys.stderr))
        card.update(calibrate_on_footage(
            scorer, val, p_val, args.target_fpr, Path(args.work), real_footage=(args.real_footage_manifest, args.real_footage),
            talking_heads=(args.talking_heads_manifest, args.talking_heads) if args.talking_heads else None,
            reencode=real, fake_videos=args.fake_videos, frames=args.frames, progress=bar))
    else:
        card.update(fusion.operating_point(scorer, p_val, y, args.target_fpr, real, Path(args.work), args.frames,
                                           _real_video_bar(args)))
    card["validation"] = binary_metrics(y, p_val, card["threshold"])
    _write_card(card, Path(args.out))
    m, op = card["validation"], card["operating_point"]
    print(f"wrote {args.out}: tta {args.tta}, Platt a={a:.3f} b={b:.3f}, threshold {card['threshold']:.3f}; "
          f"validation AUC {m['auc']:.4f}, log loss {m['log_loss']:.4f}, ECE {m['ece']:.4f}; REAL crops flagged "
          f"{m['real_flagged']:.1%}, FAKE crops caught {m['fake_caught']:.1%}")
    held = op.get("held_apart_real", {}).get("condition", {})
    for key, row in held.items():
        print(f"  held-apart real {key:12s} {row['items']:3d} items, flagged {row['flagged']:.1%}, no face judged "
              f"{row['no_face']:.1%}")
    for key, row in op.get("held_apart_real", {}).get("judged_faces", {}).items():
        print(f"  held-apart real, judged faces {key:11s} {row['items']:3d} items, flagged {row['flagged']:.1%}")
    return 0


def _cmd_fuse(args) -> int:
    import os

    import numpy as np

    from .evaluate import binary_metrics
    from .models.serving import FusionScorer, load_scorer
    from .train import fusion

    real = _real_dir(args)
    scorers = [load_scorer(m) for m in args.models]
    if len({s.input_size for s in scorers}) != 1:
        raise DeepfakeError("the fused models must take the same input size")
    val, y_val = fusion.validation_split(args.data)
    print(f"scoring {len(val)} validation crops with {len(scorers)} models", file=sys.stderr)
    z_val = fusion.component_logits(scorers, val)
    z_fit, y_fit = z_val, y_val
    if args.sbi > 0:
        blends = fusion.self_blended(val, scorers[0].input_size, args.sbi, Path(args.cache_dir))
        z_sbi = np.stack([s.logits(blends) for s in scorers], axis=1)
        z_fit, y_fit = np.concatenate([z_val, z_sbi]), np.concatenate([y_val, np.ones(len(z_sbi), int)])
        print(f"stacking set: {len(y_val)} validation crops + {len(z_sbi)} self-blends of validation REAL crops",
              file=sys.stderr)
    weights, bias = fusion.fit_stack(z_fit, y_fit)
    out = Path(args.out)
    names = [m if not Path(m).suffix else os.path.relpath(Path(m).resolve(), out.parent.resolve()) for m in args.models]
    card = fusion.build_card(args.name, names, weights, bias, scorers[0].input_size)
    fused = FusionScorer(card, scorers)
    p_val = fused.probability(z_val @ weights + bias)
    point = fusion.operating_point(fused, p_val, y_val, args.target_fpr, real, Path(args.work), args.frames,
                                   _real_video_bar(args))
    threshold = point["threshold"]
    card.update(point, validation=fusion.component_metrics(scorers, z_val, y_val))
    card["validation"][args.name] = binary_metrics(y_val, p_val, threshold)
    if args.sbi > 0:
        card["stacking_set"] = {"validation_crops": int(len(y_val)), "self_blends": int(len(z_sbi)),
                                "self_blends_caught": float((fused.probability(z_sbi @ weights + bias) >= threshold).mean())}
    _write_card(card, out)
    if args.json:
        print(json.dumps(card))
    else:
        op = card["operating_point"]
        print(f"wrote {out}: weights {np.round(weights, 3).tolist()} bias {bias:.3f}, threshold {threshold:.3f}")
        for name, m in card["validation"].items():
            print(f"  val {name:28s} AUC {m['auc']:.3f}  log loss {m['log_loss']:.3f}  ECE {m['ece']:.3f}")
        print(f"  real videos flagged {op['real_videos_flagged']:.1%} of {op['real_videos']}, val REAL crops "
              f"flagged {op['val_real_crops_flagged']:.1%}, val FAKE crops caught {op['val_fake_crops_caught']:.1%}")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _human(r) -> str:
    lines = [f"{r.path}"]
    if r.verdict == "ERROR":
        lines.append(f"  ERROR    {r.error}")
        return "\n".join(lines)
    prob = "   -  " if r.probability is None else f"{r.probability:6.3f}"
    lines.append(f"  {r.verdict:8s} P(fake)={prob}  threshold {r.threshold:.2f}  model {r.model}  "
                 f"{r.timings.get('total', 0):.2f} s")
    lines.append(f"  reason   {r.reason}")
    if r.faces:
        lines.append("  face  P(fake)  frames  seen s        over threshold s  box (first frame)       size  judged")
        for f in r.faces:
            x1, y1, x2, y2 = f.frames[0].box
            over = "-" if f.span is None else f"{f.span[0]:.1f}-{f.span[1]:.1f}"
            mark = "*" if f.track_id == r.deciding_face else " "
            box = f"[{x1:.0f},{y1:.0f},{x2:.0f},{y2:.0f}]"
            size = f"{f.quality.size:4.0f}" if f.quality else "   -"
            judged = "yes" if f.judged else f"no: {f.not_judged_reason}"
            lines.append(f" {mark}{f.track_id:4d}  {f.probability:7.3f}  {len(f.frames):6d}  "
                         f"{f.frames[0].time:5.1f}-{f.frames[-1].time:<5.1f}  {over:16s}  {box:22s}  {size}  {judged}")
            if f.components:
                lines.append("        models: " + ", ".join(f"{k} {v:.3f}" for k, v in f.components.items()))
            if f.dynamics:
                lines.append(f"        landmark dynamics {f.dynamics.probability:.3f} (most telling: "
                             f"{f.dynamics.signal}; not in the verdict)")
    for w in r.warnings:
        lines.append(f"  warning  {w}")
    return "\n".join(lines)


def _cmd_models(args) -> int:
    from .models import list_models, model_cfg
    from .models.serving import DEFAULT_MODEL, shipped_models

    shipped = set(shipped_models())
    rows = []
    for name in list_models():
        c = model_cfg(name)
        rows.append({"name": name, "family": c.family, "kind": c.kind, "input_size": c.input_size,
                     "pretrained": c.pretrained, "shipped_weights": name in shipped, "default": name == DEFAULT_MODEL})
    for name in sorted(shipped - {r["name"] for r in rows}):
        rows.append({"name": name, "family": "", "kind": "frame", "input_size": None, "pretrained": "",
                     "shipped_weights": True, "default": name == DEFAULT_MODEL})
    if args.json:
        print(json.dumps(rows, indent=None))
    else:
        print(f"{'name':24s} {'family':14s} {'kind':9s} {'size':>4s}  shipped")
        for r in rows:
            mark = "yes (default)" if r["default"] and r["shipped_weights"] else ("yes" if r["shipped_weights"] else "no")
            print(f"{r['name']:24s} {r['family']:14s} {r['kind']:9s} {r['input_size'] or '':>4}  {mark}")
    return 0


def _cmd_export(args) -> int:
    from .train.export import export_run

    card = export_run(args.run, args.out, name=args.name)
    v = card["validation"]
    print(f"wrote {args.out} (+ .json card): validation AUC {v['auc']:.4f}, log loss {v['log_loss']:.4f}, "
          f"threshold {card['threshold']:.3f}, ONNX vs PyTorch max |diff| {card['onnx_vs_torch_max_abs_diff']:.1e}")
    return 0


def _load_eval_samples(data: str):
    from .train.datasets import load_dfdc_videos, load_real_fake_folder, read_manifests

    p = Path(data)
    if data.endswith(".csv") and all(Path(part).is_file() for part in data.split(",")):
        return "crops", read_manifests(data)
    if p.is_dir() and (p / "metadata.json").is_file():
        return "videos", load_dfdc_videos(p)
    if p.is_dir():
        return "videos", load_real_fake_folder(p)
    raise DeepfakeError("--data must be a manifest .csv, a folder with metadata.json, or a folder with REAL/ and FAKE/")


def _cmd_extract_faces(args) -> int:
    from tqdm import tqdm

    from .train.datasets import grouped_split
    from .train.extract import extract_faces

    kind, samples = _load_eval_samples(args.source)
    if args.split_seed is not None and not any(s.split for s in samples):
        samples = grouped_split(samples, val=args.val, test=args.test, seed=args.split_seed)
    bar = None if args.quiet else (lambda it: tqdm(it, desc="extract faces", unit="video", file=sys.stderr))
    counts = extract_faces(samples, args.out, num_frames=args.frames, crop_size=args.crop_size, progress=bar)
    print(", ".join(f"{k}: {v}" for k, v in counts.items()) + f"; manifest {args.out}/manifest.csv")
    return 1 if counts["failed"] else 0


def _cmd_train_dynamics(args) -> int:
    from .train.dynamics import fit_from_manifest

    report = fit_from_manifest(args.data, args.out)
    print(json.dumps(report, default=float) if args.json else
          "\n".join(f"{k}: AUC {v['auc']:.4f}, log loss {v['log_loss']:.4f}, n {v['n']}"
                    for k, v in report.items() if isinstance(v, dict)) + f"\nwrote {args.out}")
    return 0


def _cmd_sbi_preview(args) -> int:
    import cv2
    import numpy as np

    from .train.landmarks import landmark_finder
    from .train.sbi import contact_sheet

    paths = sorted(p for p in Path(args.images).iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".bmp"})
    find = landmark_finder(args.landmarks)
    images, landmarks = [], []
    for p in paths:
        bgr = cv2.imread(str(p))
        if bgr is None:
            continue
        rgb = cv2.resize(bgr, (args.size, args.size), interpolation=cv2.INTER_AREA)[..., ::-1].copy()
        found = find(rgb)
        if found is not None:
            images.append(rgb)
            landmarks.append(found)
        if len(images) == args.n:
            break
    if not images:
        raise DeepfakeError(f"no face found in the images of {args.images}")
    sheet = contact_sheet(images, landmarks, seed=args.seed)
    cv2.imwrite(args.out, sheet[..., ::-1])
    print(f"wrote {args.out}: rows are originals, masks, self-blended images, |difference| x4 ({len(images)} faces)")
    return 0


def _evaluate_sequence_run(args) -> int:
    """Sequence models (CNN features + GRU) are scored from their run directory on a face-track manifest."""
    from . import evaluate as ev
    from .train.sequence import score_sequence_run

    y, p = score_sequence_run(args.model, args.data, args.split)
    if len(y) == 0:
        raise DeepfakeError(f"no face tracks in {args.data}" + (f" with split={args.split}" if args.split else ""))
    threshold = 0.5 if args.threshold is None else args.threshold
    result = {"model": args.model, "data": args.data, "split": args.split or "all", "threshold": threshold,
              "video": ev.binary_metrics(y, p, threshold)}
    if args.out:
        result["plots"] = ev.plot_roc_and_reliability(y, p, args.out, f"{args.model} on {args.data}")
        (Path(args.out) / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result) if args.json else ev.MARKDOWN_HEADER + "\n" + ev.markdown_row(f"video ({result['split']})", result["video"]))
    return 0


def _cmd_evaluate(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from . import evaluate as ev
    from .models.serving import load_scorer
    from .pipeline import Detector

    if args.model and (Path(args.model) / "best.pt").is_file():
        return _evaluate_sequence_run(args)
    scorer = load_scorer(args.model)
    threshold = scorer.threshold if args.threshold is None else args.threshold
    kind, samples = _load_eval_samples(args.data)
    if args.split:
        samples = [s for s in samples if s.split == args.split]
    if not samples:
        raise DeepfakeError(f"no samples in {args.data}" + (f" with split={args.split}" if args.split else ""))
    out = Path(args.out) if args.out else None
    bar = (lambda it: tqdm(it, desc="evaluate", unit="batch" if kind == "crops" else "video", file=sys.stderr)) \
        if not args.quiet else None
    result: dict = {"model": scorer.name, "data": args.data, "split": args.split or "all", "threshold": threshold}
    if kind == "crops":
        probs = ev.score_crops(scorer, samples, progress=bar)
        y = np.array([s.y for s in samples])
        result["frame"] = ev.binary_metrics(y, probs, threshold)
        yv, pv, _ = ev.video_scores(samples, probs)
        if len(yv) < len(y):
            result["video"] = ev.binary_metrics(yv, pv, threshold)
        y_plot, p_plot = (yv, pv) if "video" in result else (y, probs)
        if any(s.source for s in samples):
            q = np.clip(probs, 1e-12, 1 - 1e-12)  # calibrated logits: a monotone map of the network's
            result["per_source_video_auc"] = ev.per_source_auc(samples, np.log(q / (1 - q)))
    else:
        detector = Detector(scorer, num_frames=args.frames, threshold=threshold)
        rows = []
        for s in (bar(samples) if bar else samples):
            try:
                r = detector.detect(s.path)
                rows.append({"path": s.path, "label": s.label, "verdict": r.verdict, "probability": r.probability,
                             "faces": len(r.faces), "seconds": r.timings.get("total")})
            except DeepfakeError as e:
                rows.append({"path": s.path, "label": s.label, "verdict": "ERROR", "probability": None, "error": str(e)})
        scored = [r for r in rows if r["probability"] is not None]
        y_plot = np.array([int(r["label"] == "FAKE") for r in scored])
        p_plot = np.array([r["probability"] for r in scored])
        result["video"] = ev.binary_metrics(y_plot, p_plot, threshold)
        result["video"]["no_face"] = sum(r["verdict"] == "NO_FACE" for r in rows)
        result["video"]["errors"] = sum(r["verdict"] == "ERROR" for r in rows)
        result["video"]["mean_seconds"] = float(np.mean([r["seconds"] for r in scored])) if scored else None
        if out:
            out.mkdir(parents=True, exist_ok=True)
            (out / "videos.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if out:
        result["plots"] = ev.plot_roc_and_reliability(y_plot, p_plot, out, f"{scorer.name} on {Path(args.data).name}")
        table = [ev.MARKDOWN_HEADER] + [ev.markdown_row(f"{level} ({result['split']})", result[level])
                                        for level in ("frame", "video") if level in result]
        (out / "metrics.md").write_text("\n".join(table) + "\n")
        (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    else:
        print(ev.MARKDOWN_HEADER)
        for level in ("frame", "video"):
            if level in result:
                print(ev.markdown_row(f"{level} ({result['split']})", result[level]))
        for key, auc in result.get("per_source_video_auc", {}).items():
            print(f"video AUC {key:32s} {auc:.3f}")
        if "video" in result and "no_face" in result["video"]:
            print(f"videos without a face: {result['video']['no_face']}, errors: {result['video']['errors']}")
    return 0


def _add_operating_point_args(s, real_required: bool) -> None:
    """Options shared by `calibrate` and `fuse`: the validation data and the held-apart real videos."""
    s.add_argument("--data", required=True, help="crop manifest with a val split (e.g. data/dfdc/manifest.csv)")
    s.add_argument("--real-videos", required=real_required,
                   help="folder of held-apart REAL videos for the operating point (never DFDC, never the test family)")
    s.add_argument("--target-fpr", type=_probability, default=0.05,
                   help="share of validation REAL crops and of real videos allowed to be flagged (default: %(default)s)")
    s.add_argument("--frames", type=_positive_int, default=32, help="frames sampled per video (default: %(default)s)")
    s.add_argument("--work", default="data/real_variants", help="cache of re-encoded real videos (default: %(default)s)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deepfake-detect",
        description="Detect deepfaked faces in videos and images; train and evaluate the models behind it.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("detect", help="judge videos or images: REAL / FAKE / NO_FACE per input, per face",
                       description="Find every face, score each face track with the model and report whether the "
                                   "input is a deepfake, with a calibrated probability. Exit status 0 when every "
                                   "input got a verdict, 1 when any failed.")
    s.add_argument("paths", nargs="+", metavar="PATH", help="video (mp4, mov, avi, mkv, webm...) or image files")
    s.add_argument("--json", action="store_true", help="one JSON object per input per line on stdout")
    s.add_argument("--frames", type=_positive_int, default=32, help="frames sampled evenly per video (default: %(default)s)")
    s.add_argument("--model", help="shipped model name or path to an exported .onnx (default: the shipped default)")
    s.add_argument("--threshold", type=_probability, help="P(fake) at or above which a face is FAKE (default: model card)")
    s.add_argument("--explain", metavar="DIR", help="also explain each face: occlusion heatmap of its most suspicious "
                                                    "frame; JPEGs (frame with box, crop, heatmap) written to DIR and "
                                                    "the explanation added to the JSON")
    s.add_argument("--dynamics", metavar="MODEL_JSON", help="also score each face track's landmark motion with a "
                                                           "model from `train-dynamics` (reported per face, not "
                                                           "used in the verdict)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_detect)

    s = sub.add_parser("scan", help="scan folders of videos and images into a resumable JSON Lines file (+ CSV/HTML)",
                       description="Find every video and image under the paths (by name or content, recursively), "
                                   "run detect on each in worker processes (or Ray actors) and append one JSON line "
                                   "per file to --out. Rerunning skips files already done (same path and SHA-256). "
                                   "Lines are in completion order. Exit status 0 when every file got a verdict, 1 "
                                   "when any failed. See docs/SCAN.md.")
    s.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (walked recursively)")
    s.add_argument("--out", required=True, help="JSON Lines results file (appended to; resumable)")
    s.add_argument("--csv", help="also write a CSV table of all results")
    s.add_argument("--html", help="also write a self-contained HTML report (sortable table, thumbnails)")
    s.add_argument("--workers", type=_positive_int,
                   help="worker processes or Ray actors, each with its own model (default: one per core, at most 4)")
    s.add_argument("--retry-failed", action="store_true", help="scan files whose last result was ERROR again")
    s.add_argument("--ray", nargs="?", const=_RAY_LOCAL, metavar="ADDRESS",
                   help="run on Ray: a local instance without ADDRESS, else a cluster (auto, HOST:PORT, "
                        "ray://HOST:PORT); needs the ray extra")
    s.add_argument("--ship-bytes", action="store_true",
                   help="with --ray: send file contents through the object store (no shared filesystem needed)")
    s.add_argument("--frames", type=_positive_int, default=32, help="frames sampled evenly per video (default: %(default)s)")
    s.add_argument("--model", help="shipped model name or path to an exported .onnx (default: the shipped default)")
    s.add_argument("--threshold", type=_probability, help="P(fake) at or above which a face is FAKE (default: model card)")
    s.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_scan)

    s = sub.add_parser("serve", help="web page + REST API: upload a video, get the verdict, timeline and heatmap",
                       description="Start the upload-warning service (FastAPI under uvicorn): the page at /, the "
                                   "REST API under /api/v1 (OpenAPI at /docs), /healthz. Every option can also be "
                                   "set as an environment variable: DEEPFAKE_HOST, DEEPFAKE_PORT, DEEPFAKE_WORKERS, "
                                   "DEEPFAKE_DATA_DIR, DEEPFAKE_MAX_UPLOAD_MB, DEEPFAKE_MODEL, DEEPFAKE_QUEUE_SIZE, "
                                   "DEEPFAKE_SCAN_TIMEOUT_S, DEEPFAKE_NUM_FRAMES, DEEPFAKE_KEEP_UPLOADS, "
                                   "DEEPFAKE_TOKEN, DEEPFAKE_INSECURE_NO_TOKEN.")
    s.add_argument("--host", help="interface to listen on (default: 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default: 8000)")
    s.add_argument("--workers", type=_positive_int, help="scans run at once, one process each (default: 1)")
    s.add_argument("--data-dir", help="SQLite database and pending uploads (default: ./deepfake-data)")
    s.add_argument("--max-upload-mb", type=float, help="largest accepted upload in MB (default: 200)")
    s.add_argument("--model", help="shipped model name or exported .onnx path (default: the shipped default)")
    s.add_argument("--token", help="require 'Authorization: Bearer TOKEN' on /api/* (the page asks for it once); "
                                   "prefer DEEPFAKE_TOKEN, which other users cannot read from the process list")
    s.add_argument("--insecure-no-token", action="store_true",
                   help="allow a non-loopback --host without a token (only behind a proxy that authenticates)")
    s.set_defaults(func=_cmd_serve)

    s = sub.add_parser("models", help="list registered models and which ones ship trained weights")
    s.add_argument("--json", action="store_true", help="machine-readable list")
    s.set_defaults(func=_cmd_models)

    s = sub.add_parser("evaluate", help="score a model on labelled crops (manifest) or labelled videos",
                       description="Frame- and video-level AUC, log loss, EER, AP, balanced accuracy, accuracy at "
                                   "the threshold, ECE and the always-FAKE baseline; ROC and reliability PNGs.")
    s.add_argument("--model", help="shipped model name or exported .onnx path (default: the shipped default)")
    s.add_argument("--data", required=True, help="manifest .csv of crops, a DFDC metadata.json video folder, or REAL/ FAKE/ folders")
    s.add_argument("--split", help="only manifest rows of this split (e.g. test)")
    s.add_argument("--frames", type=int, default=32, help="frames sampled per video (default: %(default)s)")
    s.add_argument("--threshold", type=float, help="decision threshold (default: model card)")
    s.add_argument("--out", help="folder for metrics.json, metrics.md, roc.png, reliability.png")
    s.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("extract-faces", help="cut face crops + landmarks from labelled videos with the detect stages",
                       description="Runs the same media and faces stages as `detect` and writes crops, landmarks "
                                   "and a manifest (label, group = source real video, track, frame time). "
                                   "Resumable: videos already listed in OUT/done.txt are skipped.")
    s.add_argument("source", help="folder with REAL/ and FAKE/, a DFDC metadata.json folder, or a manifest .csv of videos")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--frames", type=int, default=32, help="frames sampled per video (default: %(default)s)")
    s.add_argument("--crop-size", type=int, default=224, help="saved crop side in px (default: %(default)s)")
    s.add_argument("--split-seed", type=int, default=0, help="assign grouped train/val/test splits with this seed")
    s.add_argument("--val", type=float, default=0.2, help="fraction of groups for validation (default: %(default)s)")
    s.add_argument("--test", type=float, default=0.2, help="fraction of groups for test (default: %(default)s)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_extract_faces)

    s = sub.add_parser("train-dynamics", help="fit the landmark-dynamics model on face tracks from extract-faces")
    s.add_argument("--data", required=True, help="extract-faces manifest.csv (with box and landmarks columns)")
    s.add_argument("--out", default="runs/landmark_dynamics.json", help="model JSON to write (default: %(default)s)")
    s.add_argument("--json", action="store_true", help="print the metrics as JSON")
    s.set_defaults(func=_cmd_train_dynamics)

    s = sub.add_parser("sbi-preview", help="contact sheet of self-blended pseudo-fakes made from real face crops")
    s.add_argument("images", help="folder of REAL face crops (jpg/png)")
    s.add_argument("--out", default="sbi_preview.png", help="PNG to write (default: %(default)s)")
    s.add_argument("--n", type=int, default=8, help="number of faces (default: %(default)s)")
    s.add_argument("--size", type=int, default=128, help="crop side in px (default: %(default)s)")
    s.add_argument("--landmarks", type=int, choices=(5, 68), default=68,
                   help="mask from dlib's 68 points (the `sbi` extra) or YuNet's 5 (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_cmd_sbi_preview)

    s = sub.add_parser("calibrate", help="refit a model's Platt calibration and threshold (optionally with flip "
                                          "test-time augmentation) and write its card",
                       description="Scores the manifest's validation crops with the ONNX model (averaging each crop "
                                   "with its mirror image under --tta hflip), refits Platt scaling, and sets the "
                                   "threshold so at most --target-fpr of the validation REAL crops, and of the "
                                   "re-encoded --real-videos, are flagged. Write the card next to its .onnx to use it.")
    s.add_argument("model", help="shipped name or exported .onnx path")
    s.add_argument("--tta", choices=("none", "hflip"), default="none", help="test-time augmentation (default: %(default)s)")
    s.add_argument("--out", required=True, help="model card .json to write")
    s.add_argument("--real-footage", help="folder of real footage of every kind (shared DATA.md §6): half of its "
                                          "sources set the threshold and the number-of-faces rule, half are held apart")
    s.add_argument("--real-footage-manifest", help="its MANIFEST.csv (file, kind, condition, source_repo)")
    s.add_argument("--talking-heads", help="folder of talking-head videos (DATA.md §5): validation REAL videos "
                                           "join the calibration, test videos are held apart, FAKE ones are counted")
    s.add_argument("--talking-heads-manifest", help="its MANIFEST.csv")
    s.add_argument("--fake-videos", action="append", default=[],
                   help="folder with REAL/ and FAKE/ videos only measured at the chosen point (e.g. UADFV); repeatable")
    _add_operating_point_args(s, real_required=False)
    s.set_defaults(func=_cmd_calibrate)

    s = sub.add_parser("fuse", help="stack frame models (logistic regression on validation crops) and set the "
                                     "operating point on held-apart real videos",
                       description="Fits fused logit = Σ w·logit + b on the manifest's validation crops, re-encodes "
                                   "the REAL videos of --real-videos at three qualities, runs the full pipeline on "
                                   "them and sets the threshold so that at most --target-fpr of them (and of the "
                                   "validation REAL crops) are flagged. Writes a fusion card served like any model.")
    s.add_argument("--models", nargs="+", required=True, help="shipped names or exported .onnx paths (same input size)")
    s.add_argument("--out", required=True, help="fusion card .json to write")
    s.add_argument("--name", default="fusion", help="model name recorded in the card (default: %(default)s)")
    s.add_argument("--sbi", type=_probability, default=0.0, help="add self-blends of this share of the validation "
                                                                  "REAL crops as a second FAKE family to the stacking set (default: %(default)s)")
    s.add_argument("--cache-dir", default="data/cache", help="landmark cache for --sbi (default: %(default)s)")
    s.add_argument("--json", action="store_true", help="print the card as JSON")
    _add_operating_point_args(s, real_required=True)
    s.set_defaults(func=_cmd_fuse)

    s = sub.add_parser("export", help="export a training run to ONNX with calibration and a model card")
    s.add_argument("run", help="run directory holding best.pt")
    s.add_argument("--out", required=True, help="output .onnx path (a .json card is written next to it)")
    s.add_argument("--name", help="model name recorded in the card (default: the architecture name)")
    s.set_defaults(func=_cmd_export)

    s = sub.add_parser("prepare-dfdc", help="build a grouped train/val/test manifest from the DFDC face-crop snapshot")
    s.add_argument("snapshot", help="folder holding metadata.csv and faces_224/ (see shared DATA.md)")
    s.add_argument("--out", default="data/dfdc/manifest.csv", help="manifest to write (default: %(default)s)")
    s.add_argument("--train-fakes-per-group", type=int, default=2, help="FAKE crops kept per source video in train")
    s.add_argument("--seed", type=int, default=0, help="split seed (default: %(default)s)")
    s.set_defaults(func=_cmd_prepare_dfdc)

    s = sub.add_parser("prepare", help="build a grouped manifest for one more training source (ffpp, talking-heads)",
                       description="Every source ends as one manifest of the same format (path,label,group,split,"
                                   "video,track,time,source,method). ffpp: the keep-listed FaceForensics++ crops, "
                                   "re-cut with the serving crop recipe, grouped by aligned roi blocks. talking-heads:"
                                   " the videos of the manifest, split by person and cut by extract-faces. Rerunnable:"
                                   " existing crops are reused. DFDC has its own command, prepare-dfdc.")
    s.add_argument("source", choices=("ffpp", "talking-heads"), help="which source")
    s.add_argument("snapshot", help="ffpp: the extracted snapshot folder (holding image/train/...); talking-heads: "
                                    "the folder of videos named by the manifest's file column")
    s.add_argument("--out", required=True, help="output folder (crops + manifest)")
    s.add_argument("--keep", help="ffpp: the keep-list (only these files are used)")
    s.add_argument("--manifest", help="talking-heads: MANIFEST.csv (label, generator, source_repo per file)")
    s.add_argument("--frames", type=_positive_int, default=32, help="talking-heads: frames per video (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="split seed (default: %(default)s)")
    s.add_argument("--json", action="store_true", help="print the counts as JSON")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_prepare)

    s = sub.add_parser("train", help="train a registered model from a YAML config (overrides of TrainConfig)")
    s.add_argument("--config", help="YAML file of TrainConfig overrides, e.g. configs/efficientnet_lite0.yaml")
    s.add_argument("--data", help="override: manifest CSV")
    s.add_argument("--out", help="override: run directory")
    s.add_argument("--max-steps", type=int, help="override: number of optimiser steps")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except DeepfakeError as e:
        print(f"deepfake-detect: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
