"""Batch scanning: discovery, one line per file, resume after kill -9, retries, worker crashes, CSV/HTML, Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from benchmarks.synthetic import drawn_face, write_video
from deepfake_detection.errors import DeepfakeError
from deepfake_detection.scan import scan
from deepfake_detection.scan.discover import discover
from deepfake_detection.scan.results import ResultLog
from deepfake_detection.scan.worker import FileScanner


def _clip(path: Path, n: int = 12, shift: int = 0) -> Path:
    return write_video(path, [drawn_face(cx=140 + shift + i) for i in range(n)])


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict:
    """Media and junk in nested folders with a symlink loop. Returns the root and the expected verdict kinds."""
    root = tmp_path_factory.mktemp("scan") / "tree"
    (root / "a" / "b").mkdir(parents=True)
    (root / "c").mkdir()
    _clip(root / "one.mp4")
    _clip(root / "a" / "two.mov", shift=10)
    _clip(root / "a" / "b" / "named.mp4", shift=20).rename(root / "a" / "b" / "no_suffix")  # media by content only
    cv2.imwrite(str(root / "c" / "face.png"), drawn_face()[..., ::-1])
    (root / "a" / "random.mp4").write_bytes(os.urandom(4096))
    (root / "a" / "b" / "text.mp4").write_text("this is not a video\n")
    (root / "c" / "empty.mp4").write_bytes(b"")
    (root / "notes.txt").write_text("non-media note\n")
    (root / "c" / "blob.bin").write_bytes(os.urandom(300))
    os.symlink("..", root / "a" / "b" / "up")  # loop back to a/
    os.symlink(root / "c", root / "c_again")  # a second link to c/: scanned once
    os.symlink(root / "missing", root / "dangling")
    good = {root / "one.mp4", root / "a" / "two.mov", root / "a" / "b" / "no_suffix", root / "c" / "face.png"}
    bad = {root / "a" / "random.mp4", root / "a" / "b" / "text.mp4", root / "c" / "empty.mp4"}
    return {"root": root, "good": {str(p) for p in good}, "bad": {str(p) for p in bad}}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_discover_walks_once_sorted_and_by_content(tree):
    found = discover([tree["root"]])
    assert set(found.files) == tree["good"] | tree["bad"]
    assert found.files == discover([tree["root"]]).files  # deterministic
    assert found.non_media == 2  # notes.txt, blob.bin
    assert found.unreadable["broken symlink"] == 1
    assert sum(found.unreadable.values()) == 3  # + the loop and the second link to c/
    with pytest.raises(DeepfakeError, match="no such file"):
        discover([tree["root"] / "nope"])


def test_results_log_cuts_a_torn_line_and_drops_atomically(tmp_path):
    out = tmp_path / "r.jsonl"
    good = [{"path": f"/x/{i}", "verdict": "REAL"} for i in range(3)]
    out.write_text("".join(json.dumps(r) + "\n" for r in good) + '{"path": "/x/3", "verd')
    log = ResultLog.open(out)
    assert list(log.records) == ["/x/0", "/x/1", "/x/2"]
    assert out.read_text().endswith("\n") and len(_lines(out)) == 3
    log.drop({"/x/1"})
    log.append({"path": "/x/1", "verdict": "FAKE"})
    assert [(r["path"], r["verdict"]) for r in _lines(out)] == [("/x/0", "REAL"), ("/x/2", "REAL"), ("/x/1", "FAKE")]


def test_scan_folder_one_line_per_file_resume_retry_and_reports(tree, tmp_path):
    out, csv_path, html_path = tmp_path / "out.jsonl", tmp_path / "out.csv", tmp_path / "out.html"
    summary = scan([tree["root"]], out, csv=csv_path, html=html_path, num_frames=8, progress=False)
    lines = _lines(out)
    by_path = {r["path"]: r for r in lines}
    assert len(lines) == len(by_path) == len(tree["good"] | tree["bad"])
    assert set(by_path) == tree["good"] | tree["bad"]
    for p in tree["good"]:
        r = by_path[p]
        assert r["verdict"] in ("REAL", "FAKE"), r["reason"]
        assert len(r["sha256"]) == 64 and r["size"] == Path(p).stat().st_size and r["elapsed_s"] >= 0
        assert r["thumbnail"] and r["faces"] and r["faces"][0]["explanation"] is None
        assert (r["duration"] is None) == p.endswith(".png")
    for p in tree["bad"]:
        r = by_path[p]
        assert r["verdict"] == "ERROR" and r["error"] and "\n" not in r["error"] and r["duration"] is None
    assert "empty file" in by_path[str(tree["root"] / "c" / "empty.mp4")]["error"]
    assert summary.errors == 3 and summary.scanned == 7 and not summary.ok
    assert summary.skipped_non_media == 2

    csv_rows = csv_path.read_text().splitlines()
    assert csv_rows[0] == "path,verdict,probability,faces,duration,size,sha256,error,provenance" and len(csv_rows) == 8
    page = html_path.read_text()
    assert page.count('<tr><td class=""') == 7 and page.count("data:image/jpeg;base64,") == 4
    assert "<script>" in page and "http://" not in page and "https://" not in page
    assert all(f'id="f{i}"' in page for i in range(7))

    t = time.perf_counter()
    again = scan([tree["root"]], out, csv=csv_path, progress=False)  # nothing left to do: no worker starts
    assert time.perf_counter() - t < 5
    assert again.scanned == 0 and again.already_done == 7 and _lines(out) == lines

    retried = scan([tree["root"]], out, num_frames=8, retry_failed=True, progress=False)
    assert retried.scanned == 3 and retried.already_done == 4
    after = _lines(out)
    assert len(after) == 7 and {r["path"] for r in after} == set(by_path)
    assert [r for r in after if r["verdict"] != "ERROR"] == [r for r in lines if r["verdict"] != "ERROR"]


def test_changed_content_is_scanned_again(tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    clip = _clip(folder / "x.mp4")
    out = tmp_path / "out.jsonl"
    scan([folder], out, num_frames=4, progress=False)
    first = _lines(out)[0]["sha256"]
    _clip(clip, n=14)
    assert scan([folder], out, num_frames=4, progress=False).scanned == 1
    (line,) = _lines(out)
    assert line["sha256"] != first


def test_rerun_reads_no_unchanged_file_and_rehashes_a_touched_one(tmp_path, monkeypatch):
    """Like rsync: same size and modification time means unchanged, without reading the file again."""
    import os

    import deepfake_detection.scan.run as run

    folder = tmp_path / "media"
    folder.mkdir()
    clip = _clip(folder / "x.mp4")
    out = tmp_path / "out.jsonl"
    scan([folder], out, num_frames=4, progress=False)
    assert _lines(out)[0]["mtime_ns"] == os.stat(clip).st_mtime_ns
    hashed = []
    digest = run.file_digest
    monkeypatch.setattr(run, "file_digest", lambda p: hashed.append(p) or digest(p))
    assert scan([folder], out, num_frames=4, progress=False).already_done == 1
    assert hashed == []
    os.utime(clip, ns=(os.stat(clip).st_atime_ns, os.stat(clip).st_mtime_ns + 10**9))  # touched, same bytes
    again = scan([folder], out, num_frames=4, progress=False)
    assert hashed == [str(clip)] and again.scanned == 0 and again.already_done == 1


def test_thumbnail_is_the_crop_the_model_saw_on_the_deciding_faces_peak_frame(face_clip, tmp_path):
    """The pipeline hands the crop over (`detect_with_crop`); its report is `detect`'s, JSON unchanged."""
    from deepfake_detection.models.serving import load_scorer
    from deepfake_detection.pipeline import Detector, detect_with_crop_or_error
    from deepfake_detection.scan.worker import _thumbnail

    detector = Detector(load_scorer(), num_frames=8, explain=True)
    report, crop = detect_with_crop_or_error(detector, face_clip)
    best = next(f for f in report.faces if f.track_id == report.deciding_face)
    size = detector.scorer.input_size
    assert crop is not None and crop.dtype == "uint8" and crop.shape == (size, size, 3)
    assert best.explanation is not None and _thumbnail(crop) == best.explanation.face_jpeg  # the same picture

    def without_timings(r):
        return {k: v for k, v in r.to_dict().items() if k != "timings"}

    assert without_timings(report) == without_timings(detector.detect(face_clip))
    failed, none = detect_with_crop_or_error(detector, tmp_path / "missing.mp4")
    assert failed.verdict == "ERROR" and none is None


class CrashingScanner(FileScanner):
    """Dies like a decoder segfault on files named crash*."""

    def scan(self, path: str) -> dict:
        if Path(path).name.startswith("crash"):
            os.kill(os.getpid(), signal.SIGSEGV)
        return super().scan(path)


def test_a_worker_crash_fails_only_its_file(tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    _clip(folder / "a.mp4")
    _clip(folder / "crash.mp4", shift=5)
    _clip(folder / "z.mp4", shift=10)
    out = tmp_path / "out.jsonl"
    summary = scan([folder], out, num_frames=4, progress=False, factory=CrashingScanner)
    by_name = {Path(r["path"]).name: r for r in _lines(out)}
    assert set(by_name) == {"a.mp4", "crash.mp4", "z.mp4"}
    assert by_name["crash.mp4"]["verdict"] == "ERROR" and "worker crashed" in by_name["crash.mp4"]["error"]
    assert len(by_name["crash.mp4"]["sha256"]) == 64
    assert by_name["a.mp4"]["verdict"] != "ERROR" and by_name["z.mp4"]["verdict"] != "ERROR"
    assert summary.errors == 1


def test_kill_9_mid_scan_then_rerun_ends_with_one_valid_line_per_file(tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    for i in range(6):
        _clip(folder / f"clip{i}.mp4", n=20, shift=3 * i)
    out = tmp_path / "out.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "deepfake_detection.cli",
        "scan",
        str(folder),
        "--out",
        str(out),
        "--quiet",
        "--frames",
        "8",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.is_file() and out.read_bytes().count(b"\n") >= 1:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the scan ended before it could be killed: {proc.stderr.read().decode()}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its worker process, which would otherwise finish its file
        except ProcessLookupError:
            pass
        proc.stderr.close()
    done_before = len(_lines(out))
    assert 1 <= done_before < 6
    with open(out, "ab") as f:  # as if the kill had landed in the middle of a write
        f.write(b'{"path": "' + str(folder / "clip5.mp4").encode() + b'", "verdict": "RE')

    rerun = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["already_done"] == done_before and summary["scanned"] == 6 - done_before
    lines = _lines(out)  # every line parses
    assert sorted(Path(r["path"]).name for r in lines) == [f"clip{i}.mp4" for i in range(6)]


def test_ctrl_c_stops_a_scan_with_one_line_and_no_worker_left(tmp_path):
    """A terminal's Ctrl-C reaches the whole process group: the driver says "interrupted" and exits 130, the
    workers print nothing and do not outlive it, and the lines written so far stay valid for the rerun."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(16):  # enough work that the interrupt lands mid-scan
        _clip(folder / f"clip{i}.mp4", n=20, shift=3 * i)
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "deepfake_detection.cli", "scan", str(folder), "--out", str(out), "--workers", "2"]
    cmd += ["--frames", "8"]
    # A shell's background job inherits SIGINT ignored (and Python then keeps it ignored): give the scan the
    # disposition a terminal's foreground command has.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.is_file() and out.read_bytes().count(b"\n") >= 1:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the scan ended before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 130
    assert err.strip() == "interrupted", err
    deadline = time.monotonic() + 10  # the workers went with the driver: nothing of the group is left
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("a worker of the interrupted scan is still running")
    assert all(r["verdict"] in ("REAL", "FAKE", "NO_FACE") for r in _lines(out))


def test_ray_local_writes_the_same_lines(tree, tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    local_out, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    scan([tree["root"]], local_out, num_frames=8, progress=False)
    summary = scan([tree["root"]], ray_out, num_frames=8, progress=False, use_ray=True, workers=2)
    assert summary.backend.startswith("ray") and summary.workers == 2

    def key(path):
        return sorted((r["path"], r["verdict"], r["sha256"], r["probability"], r["error"]) for r in _lines(path))

    assert key(ray_out) == key(local_out)

    # A file past the per-file time limit costs its actor (killed, replaced), never the scan.
    folder = tmp_path / "slow"
    folder.mkdir()
    _clip(folder / "a.mp4")
    _clip(folder / "b.mp4", n=14)
    limited = scan(
        [folder], tmp_path / "limited.jsonl", num_frames=8, progress=False, use_ray=True, workers=1, timeout_s=0.01
    )
    assert limited.verdicts["ERROR"] == 2
    assert all("limit per file" in r["error"] for r in _lines(tmp_path / "limited.jsonl"))


def test_cli_ray_before_a_folder_takes_it_as_a_path(tmp_path, capsys):
    from deepfake_detection.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["scan", "--ray", str(empty), "--out", str(tmp_path / "r.jsonl"), "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["files"] == 0 and summary["backend"] == "ray (local)"  # nothing to do: Ray never started
    assert main(["scan", "--out", str(tmp_path / "r.jsonl")]) == 1
    assert "at least one PATH" in capsys.readouterr().err
