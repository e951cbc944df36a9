"""What reading content credentials (C2PA) costs `detect`, and that it stays bounded on huge manifests.

    python -m benchmarks.provenance [--repeat 50] [--e2e 5] [--fresh 3]

Prints, for two 10 s 1080p30 clips without a manifest (made with PyAV by benchmarks.pipeline on first use: the
plain one, 0.2 MiB, and the noisy one at ~12 Mbit/s, 15 MiB, as a camera would write):
- `read_provenance` per call, warm (median and 95th percentile of --repeat calls), as `detect` pays it per file;
- the one-time cost in a fresh process: importing c2pa-python (its native library) and the first call; and the
  first `detect` of a fresh process (what `deepfake-detect detect clip.mp4` pays), where the pipeline imports the
  library in a background thread while the clip decodes, with and without the stage, alternating --fresh times;
- `detect` on the plain clip with and without the credentials stage (and a second detector without it, for the
  noise floor), --e2e rotations: the stage's own time as the pipeline records it (`timings["provenance"]`) and the
  paired differences;
then a small clip signed with manifests of growing size (a thumbnail of 1 to 96 MiB; 5000 actions): the state, the
time to answer and the peak resident-memory growth (Linux), under the default limits (2 s, 64 MiB).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def warm_calls(path: Path, repeat: int) -> list[float]:
    from deepfake_detection.provenance import read_provenance

    read_provenance(path)  # the first call sets up the library's format tables
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        p = read_provenance(path)
        times.append(time.perf_counter() - t)
    assert p.state == "none", p
    return times


def cold_call(path: Path) -> dict:
    code = f"""
import json, time
t = time.perf_counter()
import c2pa
imported = time.perf_counter() - t
from deepfake_detection.provenance import read_provenance
t = time.perf_counter()
read_provenance({str(path)!r})
print(json.dumps({{"import_s": imported, "first_call_s": time.perf_counter() - t}}))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def first_file(path: Path, rounds: int) -> tuple[float, float, float]:
    """A fresh process's first `detect` (what `deepfake-detect detect clip.mp4` pays): (median time the stage took
    inside it, the library's import included unless it finished in the background while the clip decoded; median
    detect time with the stage; without it), alternating `rounds` processes of each."""
    code = f"""
import json, sys, time
from deepfake_detection.models.serving import load_scorer
from deepfake_detection.pipeline import Detector
from deepfake_detection.report import Provenance
det = Detector(load_scorer())
if sys.argv[1] == "without":
    det = Detector(det.scorer, credentials=lambda path, trust: Provenance())
t = time.perf_counter()
r = det.detect({str(path)!r})
print(json.dumps({{"stage": r.timings.get("provenance", 0.0), "detect": time.perf_counter() - t}}))
"""
    runs: dict[str, list[dict]] = {"with": [], "without": []}
    for i in range(rounds):
        for kind in ("with", "without") if i % 2 == 0 else ("without", "with"):
            out = subprocess.run(
                [sys.executable, "-c", code, kind], check=True, capture_output=True, text=True, cwd=ROOT
            )
            runs[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return (
        statistics.median(r["stage"] for r in runs["with"]),
        statistics.median(r["detect"] for r in runs["with"]),
        statistics.median(r["detect"] for r in runs["without"]),
    )


def end_to_end(path: Path, rounds: int) -> tuple[float, tuple[float, float], tuple[float, float]]:
    """(median time of the stage inside detect, (mean, standard error) of detect with it minus without it, the same
    for two identical detectors without it: the noise floor), over `rounds` rotations of the three."""
    from dataclasses import replace

    from deepfake_detection.models.serving import load_scorer
    from deepfake_detection.pipeline import Detector
    from deepfake_detection.report import Provenance

    with_stage = Detector(load_scorer())
    arms = {
        "with": with_stage,
        "without": replace(with_stage, credentials=lambda path, trust: Provenance()),
        "without again": replace(with_stage, credentials=lambda path, trust: Provenance()),
    }
    for det in arms.values():
        det.detect(path)
    times: dict[str, list[float]] = {name: [] for name in arms}
    stage = []
    names = list(arms)
    for i in range(rounds):
        for name in names[i % 3 :] + names[: i % 3]:  # rotate the order
            t = time.perf_counter()
            report = arms[name].detect(path)
            times[name].append(time.perf_counter() - t)
            if name == "with":
                stage.append(report.timings["provenance"])

    def paired(a: str, b: str) -> tuple[float, float]:
        d = [x - y for x, y in zip(times[a], times[b])]
        return statistics.mean(d), statistics.stdev(d) / len(d) ** 0.5

    return statistics.median(stage), paired("with", "without"), paired("without again", "without")


def _peak_reset() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak resident size (Linux)
    except OSError:
        pass


def _peak_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def huge_manifests(folder: Path) -> list[tuple[str, str, float, float]]:
    import c2pa

    from benchmarks.credentials import CAPTURE, make_chain, sign
    from benchmarks.synthetic import drawn_face, write_video
    from deepfake_detection.provenance import _resident_bytes, read_provenance

    plain = write_video(folder / "plain.mp4", [drawn_face(cx=150 + i) for i in range(20)])
    chain = make_chain()
    rows = []
    cases: list[tuple[str, Path]] = []
    for mib in (1, 8, 32, 48, 96):
        cases.append(
            (f"thumbnail {mib} MiB", sign(plain, folder / f"t{mib}.mp4", chain, CAPTURE, thumbnail_bytes=mib << 20))
        )
    manifest = {
        "claim_generator_info": [{"name": "Many", "version": "1"}],
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [{"action": "c2pa.created", "digitalSourceType": CAPTURE}]
                    + [{"action": "c2pa.edited", "parameters": {"description": "x" * 50}}] * 4999
                },
            }
        ],
    }
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain.certs_pem, chain.key_pem, None)
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest) as builder:
        with open(plain, "rb") as src, open(folder / "actions.mp4", "w+b") as dst:
            builder.sign(signer, "video/mp4", src, dst)
    cases.append(("5000 actions", folder / "actions.mp4"))
    for label, path in cases:
        before = (_resident_bytes() or 0) / 2**20
        _peak_reset()
        t = time.perf_counter()
        p = read_provenance(path)
        seconds = time.perf_counter() - t
        rows.append((label, p.state + (f" ({p.error})" if p.error else ""), seconds, _peak_mib() - before))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=50, help="warm read_provenance calls (default: %(default)s)")
    ap.add_argument("--e2e", type=int, default=5, help="detect runs with and without the stage (default: %(default)s)")
    ap.add_argument("--fresh", type=int, default=3, help="fresh processes with and without it (default: %(default)s)")
    args = ap.parse_args()

    from benchmarks.pipeline import bench_clip

    clips = [bench_clip("1080p", 10), bench_clip("1080p", 10, noise=6)]
    for clip in clips:
        times = sorted(warm_calls(clip, args.repeat))
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(f"clip {clip.name} ({clip.stat().st_size / 2**20:.1f} MiB, 10 s 1080p30, no manifest)")
        print(
            f"  read_provenance per file, warm: median {1000 * statistics.median(times):.2f} ms, p95 {1000 * p95:.2f} ms"
        )
    clip = clips[-1]
    cold = cold_call(clip)
    print(
        f"once per process: import c2pa {1000 * cold['import_s']:.0f} ms alone, first call "
        f"{1000 * cold['first_call_s']:.1f} ms"
    )
    if args.fresh:
        stage, a, b = first_file(clip, args.fresh)
        print(
            f"first detect in a fresh process, median of {args.fresh}: the stage {1000 * stage:.1f} ms inside it (the "
            f"import overlaps decoding); {a:.3f} s with it, {b:.3f} s without ({1000 * (a - b):+.0f} ms, noise included)"
        )
    if args.e2e:
        stage, (d, se), (d0, se0) = end_to_end(clips[0], args.e2e)
        print(
            f"detect on {clips[0].name}, {args.e2e} rounds: the stage {1000 * stage:.2f} ms inside detect (median); "
            f"with minus without {1000 * d:+.0f} ± {1000 * se:.0f} ms, the same detector twice {1000 * d0:+.0f} ± "
            f"{1000 * se0:.0f} ms (noise floor; mean ± standard error)"
        )
    with tempfile.TemporaryDirectory() as folder:
        print("huge manifests (default limits: 2 s, 64 MiB):")
        for label, state, seconds, grown in huge_manifests(Path(folder)):
            print(f"  {label:18s} {state:58s} {1000 * seconds:6.0f} ms  peak RSS {grown:+5.0f} MiB")


if __name__ == "__main__":
    main()
