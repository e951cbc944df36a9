"""Where one scan worker's CPU goes, per file, on one folder, next to what a plain decode of the same file costs.

A scan with one worker per core runs at (plain decode CPU per file) / (worker CPU per file) of the plain-decode
rate. This splits the worker's CPU into its own decode of the sampled frames (`read_frames`, one decoder thread,
no faces), the classifiers on the file's crops (the scorer's calls, one ONNX Runtime thread) and the rest (face
search, tracking, crops, quality, report), and prints the **ceiling**: the share of plain decoding a worker would
reach if the face search and everything else but its decode and its classifiers cost nothing.

    python -m benchmarks.scan_costs FOLDER [--model M] [--frames 32] [--files 8]

benchmarks/scan.py runs it after its scans, in its own process (a worker's thread settings are process-wide).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import time
from pathlib import Path

from benchmarks.pipeline import decode_command, ffmpeg_program
from deepfake_detection.workerproc import share_cores


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", help="shipped name, .onnx or fusion card (default: the shipped default)")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--files", type=int, default=8, help="how many of the folder's clips to measure")
    args = ap.parse_args()
    if not args.folder.is_dir():
        raise SystemExit(f"no such folder: {args.folder}")
    clips = sorted(args.folder.glob("*.mp4"))[: args.files]
    if not clips:
        raise SystemExit(f"no .mp4 clips in {args.folder}")

    share_cores(1)  # as a scan worker does, before the pipeline loads
    from deepfake_detection.media import MediaLimits, read_frames
    from deepfake_detection.scan.worker import FileScanner, ScanOptions

    ffmpeg, _ = ffmpeg_program()
    plain = []
    for clip in clips:
        before = children_cpu()
        subprocess.run(decode_command(ffmpeg, clip, threads=1), check=True)
        plain.append(children_cpu() - before)

    limits = MediaLimits(decoder_threads=1)
    read_frames(clips[0], args.frames, limits)  # warm-up
    decode = []
    for clip in clips:
        t = time.process_time()
        read_frames(clip, args.frames, limits)
        decode.append(time.process_time() - t)

    scanner = FileScanner(ScanOptions(model=args.model, threads=1, num_frames=args.frames))
    scorer, spent = scanner.scorer, [0.0]
    score = scorer.component_logits

    def timed(crops, positions=None):  # one ONNX Runtime thread runs on the calling thread: its CPU is this thread's
        t = time.thread_time()
        try:
            return score(crops, positions)
        finally:
            spent[0] += time.thread_time() - t

    scorer.component_logits = timed
    scanner.scan(str(clips[0]))  # warm-up
    worker, classify = [], []
    for clip in clips:
        spent[0] = 0.0
        t = time.process_time()
        scanner.scan(str(clip))
        worker.append(time.process_time() - t)
        classify.append(spent[0])

    med = {
        k: statistics.median(v) for k, v in dict(plain=plain, decode=decode, classify=classify, worker=worker).items()
    }
    rest = med["worker"] - med["decode"] - med["classify"]
    print(
        f"CPU per file, median of {len(clips)} ({args.frames} sampled frames, model {scanner.scorer.name}): "
        f"plain FFmpeg decode {med['plain']:.3f} s; scan worker {med['worker']:.3f} s = its decode {med['decode']:.3f} "
        f"+ classifiers {med['classify']:.3f} + the rest (faces, crops, report) {rest:.3f}"
    )
    print(
        f"  a worker runs at {med['plain'] / med['worker']:.0%} of plain decoding; with the rest free it would run at "
        f"{med['plain'] / (med['decode'] + med['classify']):.0%} (the ceiling), with free classifiers at "
        f"{med['plain'] / (med['worker'] - med['classify']):.0%}"
    )


if __name__ == "__main__":
    main()
