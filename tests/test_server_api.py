"""The REST API through FastAPI's TestClient, with real worker processes and the shipped model."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from benchmarks.synthetic import drawn_face, write_video
from deepfake_detection.errors import ConfigError
from deepfake_detection.server import Settings, create_app
from deepfake_detection.server.store import ScanStore

pytestmark = pytest.mark.slow  # real scans; restarts and kills of `serve` processes


def wait_done(client, scan_id: str, timeout: float = 120.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        body = client.get(f"/api/v1/scans/{scan_id}").json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"scan {scan_id} still {body['status']} after {timeout} s")


def upload(client, path: Path, name: str | None = None, **form):
    with open(path, "rb") as f:
        return client.post(
            "/api/v1/scans", files={"file": (name or path.name, f, "application/octet-stream")}, data=form
        )


def leftovers(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "uploads").iterdir())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("service")


@pytest.fixture(scope="module")
def client(data_dir):
    settings = Settings(data_dir=data_dir, max_upload_mb=1, scan_timeout_s=120, num_frames=8)
    with TestClient(create_app(settings)) as c:
        yield c


def test_upload_poll_report(client, face_clip, data_dir):
    r = upload(client, face_clip, name="../../etc/holiday clip.mp4")
    assert r.status_code == 202 and r.json()["status"] == "queued"
    scan = wait_done(client, r.json()["id"])
    assert scan["status"] == "done", scan["error"]
    report = scan["report"]
    assert report["verdict"] in ("REAL", "FAKE") and 0 <= report["probability"] <= 1
    assert report["path"] == scan["filename"] == "holiday clip.mp4"  # the client name, never a server path
    face = report["faces"][0]
    assert face["explanation"]["heatmap_jpeg"] and len(face["frames"]) >= 4
    assert leftovers(data_dir) == []  # the upload is deleted once scanned


def test_identical_content_is_answered_from_the_stored_result(client, face_clip):
    first = upload(client, face_clip)
    wait_done(client, first.json()["id"])
    again = upload(client, face_clip, name="renamed.mp4")
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "status": "done", "duplicate": True}


def test_oversized_upload_is_413_and_leaves_nothing(client, tmp_path, data_dir):
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2 * 1024 * 1024))
    before = client.get("/api/v1/scans").json()["total"]
    r = upload(client, big)
    assert r.status_code == 413 and "limit" in r.json()["error"]
    assert client.get("/api/v1/scans").json()["total"] == before
    assert leftovers(data_dir) == []


def test_oversized_streamed_upload_without_length_is_cut_off_with_413(client, data_dir):
    def body():  # chunked transfer: no Content-Length to reject up front
        yield b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n'
        for _ in range(40):
            yield b"\0" * 65536
        yield b"\r\n--xx--\r\n"

    r = client.post("/api/v1/scans", content=body(), headers={"content-type": "multipart/form-data; boundary=xx"})
    assert r.status_code == 413 and "limit" in r.json()["error"]
    assert leftovers(data_dir) == []


def test_content_not_name_decides_what_is_accepted(client, tmp_path, data_dir):
    fake_mp4 = tmp_path / "report.mp4"
    fake_mp4.write_bytes(b"%PDF-1.7\n" + b"x" * 1000)
    r = upload(client, fake_mp4)
    assert r.status_code == 415 and "video or image" in r.json()["error"]
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert upload(client, empty).status_code == 400
    assert leftovers(data_dir) == []


def test_corrupt_video_fails_with_a_reason(client, tmp_path):
    corrupt = tmp_path / "broken.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(5000))
    r = upload(client, corrupt)
    assert r.status_code == 202
    scan = wait_done(client, r.json()["id"])
    assert scan["status"] == "failed" and scan["report"] is None
    assert "broken.mp4" not in scan["error"] or "decode" in scan["error"]
    assert scan["error"]  # a reason, not a score
    # One rule for a failure, as `detect` and `scan` report it: the error of detect_or_error's ERROR report
    from deepfake_detection.models.serving import load_scorer
    from deepfake_detection.pipeline import Detector, detect_or_error

    local = detect_or_error(Detector(load_scorer(), num_frames=8), corrupt, report_as="broken.mp4")
    assert local.verdict == "ERROR" and scan["error"] == local.error


def test_image_without_face_is_done_with_no_face(client, tmp_path):
    import cv2
    import numpy as np

    img = tmp_path / "wall.png"
    cv2.imwrite(str(img), np.full((120, 160, 3), 90, np.uint8))
    scan = wait_done(client, upload(client, img).json()["id"])
    assert scan["status"] == "done" and scan["verdict"] == "NO_FACE" and scan["probability"] is None


def test_list_is_paginated_newest_first(client):
    page = client.get("/api/v1/scans", params={"limit": 2}).json()
    assert page["limit"] == 2 and len(page["items"]) == 2 and page["total"] >= 3
    created = [i["created"] for i in page["items"]]
    assert created == sorted(created, reverse=True)
    rest = client.get("/api/v1/scans", params={"limit": 2, "offset": 2}).json()
    assert {i["id"] for i in rest["items"]}.isdisjoint(i["id"] for i in page["items"])
    assert client.get("/api/v1/scans", params={"limit": 0}).status_code == 422


def test_unknown_scan_is_a_json_404(client):
    r = client.get("/api/v1/scans/nope")
    assert r.status_code == 404 and "nope" in r.json()["error"]


def test_health_page_docs_and_scripts_are_served_locally(client):
    assert client.get("/healthz").json()["status"] == "ok"
    page = client.get("/").text
    assert 'id="timeline"' in page and "/vendor/plotly.min.js" in page
    assert client.get("/vendor/plotly.min.js").status_code == 200
    docs = client.get("/docs").text
    assert "/vendor/swagger/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert client.get("/vendor/swagger/swagger-ui-bundle.js").status_code == 200
    assert "/api/v1/scans" in client.get("/openapi.json").json()["paths"]
    icon = client.get("/favicon.ico")  # browsers ask for it on every page
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\0\0\1\0"  # an ICO header


def test_full_queue_answers_503_with_retry_after(tmp_path, face_clip):
    settings = Settings(data_dir=tmp_path, workers=1, queue_size=0, num_frames=8)
    with TestClient(create_app(settings)) as c:
        first = upload(c, face_clip)
        other = write_video(tmp_path / "other.mp4", [drawn_face(cx=140 + i) for i in range(10)])
        second = upload(c, other)
        assert first.status_code == 202
        assert second.status_code == 503 and int(second.headers["Retry-After"]) > 0
        wait_done(c, first.json()["id"])
        assert leftovers(tmp_path) == []


def test_slow_scan_is_stopped_at_the_time_limit(tmp_path, face_clip):
    long_clip = write_video(
        tmp_path / "long.mp4", [drawn_face(w=640, h=480, cx=300 + i % 20, s=1.5) for i in range(150)]
    )
    settings = Settings(data_dir=tmp_path, scan_timeout_s=0.05, num_frames=64)
    with TestClient(create_app(settings)) as c:
        scan = wait_done(c, upload(c, long_clip).json()["id"])
        assert scan["status"] == "failed" and scan["error"] == "worker stopped: over the 0.05 s limit per file"
        assert leftovers(tmp_path) == []


def test_restart_keeps_records_and_recovers_unfinished_scans(tmp_path, face_clip):
    settings = Settings(data_dir=tmp_path, num_frames=8)
    with TestClient(create_app(settings)) as c:
        done_id = wait_done(c, upload(c, face_clip).json()["id"])["id"]
    # what a kill -9 leaves behind: one scan 'running' with its upload on disk, one whose upload is gone
    store = ScanStore(tmp_path / "scans.sqlite3")
    interrupted = store.create("a" * 64, "interrupted.mp4", 1, keep=False)
    store.mark_running(interrupted.id)
    (tmp_path / "uploads" / interrupted.id).write_bytes(face_clip.read_bytes())
    orphan = store.create("b" * 64, "orphan.mp4", 1, keep=False)
    store.mark_running(orphan.id)
    (tmp_path / "uploads" / ".incoming-half").write_bytes(b"partial upload")
    with TestClient(create_app(settings)) as c:
        assert c.get(f"/api/v1/scans/{done_id}").json()["status"] == "done"
        assert wait_done(c, interrupted.id)["status"] == "done"
        lost = c.get(f"/api/v1/scans/{orphan.id}").json()
        assert lost["status"] == "failed" and "restart" in lost["error"]
    assert leftovers(tmp_path) == []


def test_shutdown_mid_scan_leaves_it_for_the_next_start(tmp_path):
    clip = write_video(tmp_path / "slow.mp4", [drawn_face(w=640, h=480, cx=300 + i % 20, s=1.5) for i in range(120)])
    settings = Settings(data_dir=tmp_path / "data", num_frames=64)
    with TestClient(create_app(settings)) as c:
        scan_id = upload(c, clip).json()["id"]
        end = time.monotonic() + 60
        while c.get(f"/api/v1/scans/{scan_id}").json()["status"] != "running":
            assert time.monotonic() < end
            time.sleep(0.05)
        started = time.monotonic()
    assert time.monotonic() - started < 15  # shutting down does not wait for the scan
    assert ScanStore(settings.data_dir / "scans.sqlite3").get(scan_id).status == "running"
    with TestClient(create_app(settings)) as c:
        assert wait_done(c, scan_id)["status"] == "done"
    assert leftovers(settings.data_dir) == []


def test_keep_leaves_the_upload_on_disk(tmp_path, face_clip):
    with TestClient(create_app(Settings(data_dir=tmp_path, num_frames=4))) as c:
        scan_id = upload(c, face_clip, keep="true").json()["id"]
        assert wait_done(c, scan_id)["status"] == "done"
    assert leftovers(tmp_path) == [scan_id]


def test_settings_from_environment():
    s = Settings.from_env(
        {
            "DEEPFAKE_MAX_UPLOAD_MB": "50",
            "DEEPFAKE_WORKERS": "2",
            "DEEPFAKE_KEEP_UPLOADS": "yes",
            "DEEPFAKE_DATA_DIR": "/srv/df",
        },
        port=9000,
    )
    assert (s.max_upload_mb, s.workers, s.keep_uploads, str(s.data_dir), s.port) == (50, 2, True, "/srv/df", 9000)
    with pytest.raises(ConfigError, match="DEEPFAKE_WORKERS"):
        Settings.from_env({"DEEPFAKE_WORKERS": "many"})
    with pytest.raises(ConfigError):
        Settings.from_env({}, workers=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(data_dir: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, DEEPFAKE_NUM_FRAMES="64")
    proc = subprocess.Popen(
        [sys.executable, "-m", "deepfake_detection.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start")


def test_kill_9_mid_scan_loses_nothing(tmp_path):
    """A real server process killed with SIGKILL while scanning: after a restart the scan completes."""
    clip = write_video(tmp_path / "slow.mp4", [drawn_face(w=640, h=480, cx=300 + i % 20, s=1.5) for i in range(120)])
    port, data = _free_port(), tmp_path / "data"
    server = _start_server(data, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with open(clip, "rb") as f:
            scan_id = httpx.post(f"{base}/api/v1/scans", files={"file": ("slow.mp4", f)}, timeout=30).json()["id"]
        for _ in range(600):
            if httpx.get(f"{base}/api/v1/scans/{scan_id}").json()["status"] == "running":
                break
            time.sleep(0.05)
        else:
            pytest.fail("the scan never started running")
        os.killpg(server.pid, signal.SIGKILL)  # the server and its worker process
        server.wait(10)
        server = _start_server(data, port)
        end = time.monotonic() + 120
        while (scan := httpx.get(f"{base}/api/v1/scans/{scan_id}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < end, "scan stuck after restart"
            time.sleep(0.3)
        assert scan["status"] == "done", scan["error"]
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
