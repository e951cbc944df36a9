"""Faults: the server killed with SIGKILL mid-scan with work queued, an unusable data dir, a full disk, a worker
process killed mid-scan. No record is lost, none stays 'running', errors are one clear line."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import pytest
from fastapi.testclient import TestClient

from benchmarks import load  # start/stop a real server
from benchmarks.synthetic import drawn_face, write_video
from deepfake_detection.server import Settings, create_app
from deepfake_detection.server.routes import scans as scans_route

pytestmark = pytest.mark.slow  # `serve` processes killed mid-scan and restarted


def slow_clip(path: Path, shift: int = 0) -> Path:
    return write_video(path, [drawn_face(w=640, h=480, cx=300 + (i + shift) % 20, s=1.5) for i in range(120)])


def photo(path: Path, cx: int) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(drawn_face(cx=cx), cv2.COLOR_RGB2BGR))
    return path


def post(base: str, path: Path) -> dict:
    with open(path, "rb") as f:
        r = httpx.post(f"{base}/api/v1/scans", files={"file": (path.name, f)}, timeout=30)
    assert r.status_code in (200, 202), r.text
    return r.json()


def wait_until(base: str, scan_id: str, statuses, timeout: float = 180.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        scan = httpx.get(f"{base}/api/v1/scans/{scan_id}", timeout=10).json()
        if scan["status"] in statuses:
            return scan
        time.sleep(0.1)
    raise AssertionError(f"scan {scan_id} still {scan['status']} after {timeout} s")


def test_kill_9_with_scans_done_running_and_queued_loses_none(tmp_path):
    """Extends test_server_api's single-scan SIGKILL test: a finished scan, one running and two queued behind it
    all survive the kill; after the restart each ends 'done' and the uploads folder is empty."""
    data, port = tmp_path / "data", load.free_port()
    base = f"http://127.0.0.1:{port}"
    server = load.start_server(data, port, env={"DEEPFAKE_NUM_FRAMES": "64"})
    try:
        finished = post(base, photo(tmp_path / "done.jpg", 150))["id"]
        wait_until(base, finished, ("done",))
        running = post(base, slow_clip(tmp_path / "running.mp4"))["id"]
        queued = [post(base, photo(tmp_path / f"queued{i}.jpg", 160 + 10 * i))["id"] for i in range(2)]
        wait_until(base, running, ("running",), timeout=60)
        load.stop_server(server, signal.SIGKILL)  # the server and its worker, no shutdown code runs
        server = load.start_server(data, port, env={"DEEPFAKE_NUM_FRAMES": "64"})
        listed = {s["id"]: s for s in httpx.get(f"{base}/api/v1/scans", params={"limit": 100}).json()["items"]}
        assert {finished, running, *queued} <= set(listed)  # no record lost
        assert listed[finished]["status"] == "done"
        for scan_id in (running, *queued):
            scan = wait_until(base, scan_id, ("done", "failed"))
            assert scan["status"] == "done", scan["error"]
    finally:
        load.stop_server(server, signal.SIGKILL)
    assert list((data / "uploads").iterdir()) == []


@pytest.mark.parametrize("kind", ["file in the way", "under a file"])
def test_unusable_data_dir_is_a_one_line_startup_error(tmp_path, kind):
    """Works as root too (permissions would not stop root): a regular file where a folder must be."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    data = blocker if kind == "file in the way" else blocker / "data"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "deepfake_detection.cli",
            "serve",
            "--port",
            str(load.free_port()),
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "data dir" in run.stderr and "not usable" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_full_disk_during_upload_is_507_and_leaves_nothing(tmp_path, monkeypatch, face_clip):
    def disk_full(src, dest, max_bytes):
        Path(dest).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(scans_route, "_receive", disk_full)
    with TestClient(create_app(Settings(data_dir=tmp_path, num_frames=4))) as c:
        with open(face_clip, "rb") as f:
            r = c.post("/api/v1/scans", files={"file": ("clip.mp4", f)})
        assert r.status_code == 507 and "disk" in r.json()["error"] and r.headers["Retry-After"]
        assert c.get("/api/v1/scans").json()["total"] == 0
    assert list((tmp_path / "uploads").iterdir()) == []


def test_full_disk_while_recording_the_scan_is_507_and_leaves_nothing(tmp_path, monkeypatch, face_clip):
    import sqlite3

    from deepfake_detection.server.store import ScanStore

    def disk_full(self, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ScanStore, "create", disk_full)
    with TestClient(create_app(Settings(data_dir=tmp_path, num_frames=4))) as c:
        with open(face_clip, "rb") as f:
            r = c.post("/api/v1/scans", files={"file": ("clip.mp4", f)})
        assert r.status_code == 507 and "disk" in r.json()["error"] and r.headers["Retry-After"]
    assert list((tmp_path / "uploads").iterdir()) == []


def test_killed_worker_fails_its_scan_and_is_replaced(tmp_path, face_clip):
    clip = slow_clip(tmp_path / "slow.mp4", shift=7)
    with TestClient(create_app(Settings(data_dir=tmp_path / "data", num_frames=64))) as c:
        with open(face_clip, "rb") as f:  # the worker process starts with the first scan: let it be up
            warm_id = c.post("/api/v1/scans", files={"file": ("warm.mp4", f)}).json()["id"]
        end = time.monotonic() + 120
        while c.get(f"/api/v1/scans/{warm_id}").json()["status"] != "done":
            assert time.monotonic() < end
            time.sleep(0.1)
        with open(clip, "rb") as f:
            scan_id = c.post("/api/v1/scans", files={"file": ("slow.mp4", f)}).json()["id"]
        end = time.monotonic() + 60
        while c.get(f"/api/v1/scans/{scan_id}").json()["status"] != "running":
            assert time.monotonic() < end
            time.sleep(0.05)
        worker = c.app.state.workers.pool.procs[0].proc
        os.kill(worker.pid, signal.SIGKILL)  # as the kernel's OOM killer or a decoder segfault would
        end = time.monotonic() + 60
        while (scan := c.get(f"/api/v1/scans/{scan_id}").json())["status"] == "running":
            assert time.monotonic() < end
            time.sleep(0.1)
        assert (
            scan["status"] == "failed" and scan["error"] == "worker crashed while reading this file (killed by SIGKILL)"
        )
        with open(photo(tmp_path / "next.jpg", 170), "rb") as f:
            next_id = c.post("/api/v1/scans", files={"file": ("next.jpg", f)}).json()["id"]
        end = time.monotonic() + 120
        while (after := c.get(f"/api/v1/scans/{next_id}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < end
            time.sleep(0.2)
        assert after["status"] == "done", after["error"]
        assert c.app.state.workers.pool.procs[0].proc.pid != worker.pid  # a fresh worker process
    assert list((tmp_path / "data" / "uploads").iterdir()) == []
