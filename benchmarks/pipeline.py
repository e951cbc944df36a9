"""End-to-end speed of `detect` on a 10 s 1080p30 clip against the naive floor and a plain FFmpeg decode.

    python -m benchmarks.pipeline [--repeat 3] [--frames 32] [--scaling] [--model M ...]

Prints, in one run: the naive floor (benchmarks/floor.py: plain decode + YuNet on every sampled frame + one ONNX
batch), a plain `ffmpeg -threads 2` full decode of the same clip (the ffmpeg on PATH, else imageio-ffmpeg's
static build of the `bench` extra as in benchmarks.command and benchmarks.scan, else PyAV's full decode; the output
says which), end-to-end time and the ratios, per-stage times, peak RSS and model load time.
End to end runs in a fresh Python process so that load time and peak RSS are those of a real first call.
--scaling adds time and peak RSS for 360p / 1080p / 4K and 10 s / 60 s / 10 min clips. --model (repeatable: a
shipped name, an exported .onnx or a fusion card) also times other models end to end on the same clips, in the same
run, each against the shipped default (a candidate may be at most 25 % slower, issue 15).

Clips are made once in the temp folder: frames of a real talking-head sample (../shared/data) placed on a 1080p
canvas, else a drawn cartoon face; longer clips repeat a 10 s encoding by remuxing (no re-encoding), keyframe
every 2 s as phones and streaming sites do. The 10 s 1080p clip keeps x264's defaults (keyframes 8 s apart).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared/data/dfdc-videos-sample/real_videoretalking_face1.mp4"
TMP = Path(tempfile.gettempdir())


def _face_frames() -> tuple[list[np.ndarray], str]:
    if SAMPLE.is_file():
        with av.open(str(SAMPLE)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)], "real face"
    from benchmarks.synthetic import drawn_face  # a cartoon face YuNet finds

    face = drawn_face()
    return [np.roll(face, i % 8, axis=1) for i in range(16)], "drawn face"


def make_clip(
    path: Path,
    seconds: int = 10,
    fps: int = 30,
    size=(1920, 1080),
    gop: int | None = None,
    noise: float = 0.0,
    start: int = 0,
    sway_px: int = 0,
    bit_rate: int = 12_000_000,
) -> str:
    """A face (2/3 of the height) on a grey canvas; `start` offsets the source frames (distinct clips), `sway_px`
    moves the head sideways."""
    source, kind = _face_frames()
    rng = np.random.default_rng(0)
    w, h = size
    # With sensor noise the encoder is given a camera's bitrate (`bit_rate`: a phone's 12 Mbit/s at 1080p) to spend.
    options = {"preset": "veryfast"} if noise else {"preset": "veryfast", "crf": "23"}
    if gop:
        options["g"] = str(gop)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps, options=options)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        if noise:
            s.bit_rate = bit_rate
        side = h * 2 // 3
        for i in range(seconds * fps):
            img = np.full((h, w, 3), 60, np.uint8)
            x = (w - side) // 2 + int(sway_px * np.sin(i / 25))
            img[h // 6 : h // 6 + side, x : x + side] = cv2.resize(source[(start + i) % len(source)], (side, side))
            if noise:  # camera sensor noise: real footage's bitrate and decoding cost
                img = np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return kind


def repeat_clip(src: Path, dst: Path, times: int) -> None:
    """`src` played `times` times in a row, by copying its packets with shifted timestamps (no re-encoding)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        ins = inp.streams.video[0]
        outs = out.add_stream_from_template(ins)
        packets = [p for p in inp.demux(ins) if p.size]
        span = (
            max(p.pts for p in packets) - min(p.pts for p in packets) + packets[1].duration if len(packets) > 1 else 1
        )
        for k in range(times):
            for p in packets:
                q = av.Packet(bytes(p))
                q.pts, q.dts = p.pts + k * span, p.dts + k * span
                q.time_base, q.is_keyframe, q.stream = p.time_base, p.is_keyframe, outs
                out.mux(q)


def bench_clip(name: str = "1080p", seconds: int = 10, gop: int | None = None, noise: float = 0.0) -> Path:
    """The benchmark clip `name` (360p / 1080p / 4k) of `seconds` (10, 60 or 600), made on first use."""
    sizes = {"360p": (640, 360), "1080p": (1920, 1080), "4k": (3840, 2160)}
    tag = f"{name}_{seconds}s" + (f"_g{gop}" if gop else "") + (f"_noise{noise:g}" if noise else "")
    path = TMP / f"deepfake_bench_{tag}.mp4"
    if path.is_file():
        return path
    if seconds == 10:
        make_clip(path, size=sizes[name], gop=gop, noise=noise)
    else:
        repeat_clip(bench_clip(name, 10, gop, noise), path, seconds // 10)
    return path


def ffmpeg_program() -> tuple[str | None, str]:
    """The FFmpeg program to compare with: the one on PATH, else imageio-ffmpeg's static build (the `bench` extra)."""
    if exe := shutil.which("ffmpeg"):
        return exe, "ffmpeg on PATH"
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe(), "imageio-ffmpeg's static build"
    except (ImportError, RuntimeError):
        return None, "no ffmpeg program: PyAV full decode in a fresh process"


def decode_command(ffmpeg: str | None, clip: Path, threads: int = 2) -> list[str]:
    if ffmpeg:
        return [ffmpeg, "-v", "error", "-threads", str(threads), "-i", str(clip), "-map", "0:v:0", "-f", "null", "-"]
    code = (
        "import av, sys\nwith av.open(sys.argv[1]) as c:\n s = c.streams.video[0]\n s.thread_type = 'AUTO'\n"
        " for _ in c.decode(s): pass"
    )
    return [sys.executable, "-c", code, str(clip)]


def plain_decode(path: Path) -> tuple[float, str]:
    """A plain full decode of every frame with 2 threads: the FFmpeg program (`ffmpeg_program`), else PyAV."""
    exe, how = ffmpeg_program()
    if exe:
        t = time.perf_counter()
        subprocess.run(decode_command(exe, path), check=True)
        return time.perf_counter() - t, f"ffmpeg -threads 2 -f null, {how}"
    t = time.perf_counter()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for _ in c.decode(s):
            pass
    return time.perf_counter() - t, "PyAV full decode (no ffmpeg program)"


def end_to_end(path: Path, frames: int, repeat: int, model: str | None = None) -> dict:
    """Load `model` (default: the shipped one) and run `detect` `repeat` times in a fresh process; timings and
    peak RSS."""
    code = f"""
import json, time, statistics
def peak_rss_mb():
    # VmHWM belongs to this process's own memory map; ru_maxrss would carry the parent's peak across fork + exec.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
from deepfake_detection.models.serving import load_scorer
from deepfake_detection.pipeline import Detector
scorer = load_scorer({model!r})
load = time.perf_counter() - t
det = Detector(scorer, num_frames={frames})
runs = [det.detect({str(path)!r}) for _ in range({repeat})]
stages = {{k: statistics.median(r.timings[k] for r in runs) for k in runs[0].timings}}
r = runs[-1]
print(json.dumps({{"load": load, "first": runs[0].timings["total"], "stages": stages, "verdict": r.verdict,
                  "faces": len(r.faces), "frames": r.media.sampled_frames,
                  "peak_rss_mb": peak_rss_mb()}}))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else "?"
    )
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--scaling", action="store_true", help="also time 360p/4K and 60 s/10 min clips")
    ap.add_argument("--noise", type=float, default=6.0, help="sensor-noise sigma of the second clip")
    ap.add_argument("--model", action="append", default=[], help="also time this model against the default")
    args = ap.parse_args()
    from benchmarks.floor import naive_floor

    print(f"machine: {machine()}")
    goals = []
    for label, clip in [("low-bitrate", bench_clip()), ("sensor noise", bench_clip(noise=args.noise))]:
        mbit = clip.stat().st_size * 8 / 10 / 1e6
        print(
            f"\nclip ({label}): {clip.name} (1920x1080, 30 fps, 10 s, {mbit:.1f} Mbit/s, x264 default "
            f"keyframes); {args.frames} sampled frames; medians of {args.repeat}"
        )
        floor = naive_floor(clip, args.frames, args.repeat)
        plain = [plain_decode(clip) for _ in range(args.repeat)]
        plain_s, plain_how = statistics.median(p[0] for p in plain), plain[0][1]
        e2e = end_to_end(clip, args.frames, args.repeat)
        total = e2e["stages"]["total"]
        print(
            f"naive floor: {floor['floor']:.3f} s = decode {floor['decode']:.3f} + faces {floor['faces']:.3f} "
            f"+ classify {floor['classify']:.3f} (decode by seeking: {floor['decode_seeking']:.3f} s)"
        )
        print(f"plain full decode ({plain_how}): {plain_s:.3f} s")
        print(
            f"end to end: {total:.3f} s   (first call {e2e['first']:.3f} s)   "
            f"= {total / floor['floor']:.2f} x naive floor, {total / plain_s:.2f} x plain full decode"
        )
        print(
            "stages: "
            + ", ".join(f"{k} {v:.3f} s" for k, v in e2e["stages"].items() if k != "total")
            + "  (media includes the faces found while decoding; faces is what is left after it)"
        )
        print(
            f"peak RSS {e2e['peak_rss_mb']:.0f} MB; model load {e2e['load']:.3f} s (imports + ONNX session); "
            f"verdict {e2e['verdict']}, {e2e['faces']} face(s)"
        )
        goals += [
            (f"{label}: end to end <= 2 s", total <= 2.0),
            (f"{label}: <= 1.6 x plain decode", total <= 1.6 * plain_s),
            (f"{label}: peak RSS <= 1.5 GB", e2e["peak_rss_mb"] <= 1536),
            (f"{label}: model load <= 1 s", e2e["load"] <= 1.0),
        ]
        for model in args.model:
            # Alternate default and candidate so that a drift in the machine's speed hits both alike.
            pairs = [
                (end_to_end(clip, args.frames, args.repeat), end_to_end(clip, args.frames, args.repeat, model))
                for _ in range(3)
            ]
            base = statistics.median(a["stages"]["total"] for a, _ in pairs)
            cand = statistics.median(b["stages"]["total"] for _, b in pairs)
            rss = max(b["peak_rss_mb"] for _, b in pairs)
            print(
                f"model {model}: end to end {cand:.3f} s against the default's {base:.3f} s "
                f"(x{cand / base:.2f}); peak RSS {rss:.0f} MB; verdict {pairs[-1][1]['verdict']}"
            )
            goals += [
                (f"{label}: {model} at most 25 % slower than the default", cand <= 1.25 * base),
                (f"{label}: {model} peak RSS <= 1.5 GB", rss <= 1536),
            ]
    if args.scaling:
        print("\nscaling (fresh process each; clips with a keyframe every 2 s):")
        print(f"{'clip':>14s} {'MiB':>7s} {'total s':>8s} {'media s':>8s} {'faces s':>8s} {'RSS MB':>7s}")
        for name, seconds in [("360p", 10), ("1080p", 10), ("4k", 10), ("1080p", 60), ("1080p", 600), ("4k", 600)]:
            path = bench_clip(name, seconds, gop=60)
            r = end_to_end(path, args.frames, 1)
            s = r["stages"]
            print(
                f"{name + ' ' + str(seconds) + ' s':>14s} {path.stat().st_size / 2**20:7.1f} {s['total']:8.3f} "
                f"{s['media']:8.3f} {s['faces']:8.3f} {r['peak_rss_mb']:7.0f}"
            )
            if (name, seconds) == ("4k", 600):
                goals.append(("10 min 4K <= 10 s", s["total"] <= 10.0))
    print("\ngoals:\n" + "\n".join(f"  {g}: {'met' if ok else 'NOT met'}" for g, ok in goals))


if __name__ == "__main__":
    main()
