"""Security checks of the service (threat model: docs/SECURITY.md): loopback by default, the API token, no
internal detail in error answers, no client-controlled path on disk, nothing read before the token is checked."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from deepfake_detection.errors import ConfigError
from deepfake_detection.server import Settings, create_app
from deepfake_detection.server.settings import is_loopback
from deepfake_detection.server.store import ScanStore


def test_binds_loopback_by_default_and_refuses_an_open_host_without_a_token():
    assert Settings().host == "127.0.0.1" and Settings.from_env({}).host == "127.0.0.1"
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        assert not is_loopback(host)
        with pytest.raises(ConfigError, match="without an API token"):
            Settings.from_env({}, host=host)
    assert Settings.from_env({"DEEPFAKE_TOKEN": "s3cret"}, host="0.0.0.0").token == "s3cret"
    assert Settings.from_env({"DEEPFAKE_INSECURE_NO_TOKEN": "1"}, host="0.0.0.0").insecure_no_token
    for host in ("127.0.0.1", "127.1.2.3", "::1", "localhost"):
        assert is_loopback(host) and Settings.from_env({}, host=host).host == host
    assert "s3cret" not in repr(Settings(token="s3cret"))


def test_serve_refuses_to_start_open_without_a_token(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "deepfake_detection.cli", "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in __import__("os").environ.items() if k != "DEEPFAKE_TOKEN"},
    )
    assert run.returncode == 1 and "--token" in run.stderr and "Traceback" not in run.stderr


@pytest.fixture
def locked(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, token="s3cret", num_frames=4))) as c:
        yield c, tmp_path


def test_token_guards_the_api_but_not_the_page(locked, face_clip):
    c, data = locked
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        r = c.get("/api/v1/scans", headers=headers)
        assert r.status_code == 401 and "token" in r.json()["error"] and r.headers["www-authenticate"] == "Bearer"
    with open(face_clip, "rb") as f:  # refused before the body is read: nothing reaches the disk
        r = c.post("/api/v1/scans", files={"file": ("a.mp4", f)})
    assert r.status_code == 401 and list((data / "uploads").iterdir()) == []
    ok = {"Authorization": "Bearer s3cret"}
    assert c.get("/api/v1/scans", headers=ok).status_code == 200
    assert c.get("/api/v1/scans/nope", headers=ok).status_code == 404
    assert c.get("/").status_code == 200 and c.get("/healthz").status_code == 200  # the page loads, then asks
    script = c.get("/static/app.js").text
    assert "Authorization" in script and "askToken" in script


def test_internal_error_answers_json_without_a_trace(tmp_path, monkeypatch):
    def broken(self, *a, **k):
        raise RuntimeError(f"disk I/O error at {tmp_path}/scans.sqlite3")

    monkeypatch.setattr(ScanStore, "recent", broken)
    with TestClient(create_app(Settings(data_dir=tmp_path)), raise_server_exceptions=False) as c:
        r = c.get("/api/v1/scans")
    assert r.status_code == 500 and r.json() == {"error": "internal server error"}
    assert "Traceback" not in r.text and str(tmp_path) not in r.text


def test_client_paths_never_reach_the_file_system(tmp_path, face_clip):
    with TestClient(create_app(Settings(data_dir=tmp_path / "data", num_frames=4))) as c:
        for path in (
            "/api/v1/scans/..%2F..%2Fetc%2Fpasswd",
            "/static/..%2F..%2Fsettings.py",
            "/static/../server/settings.py",
            "/vendor/swagger/..%2F..%2Fetc%2Fpasswd",
        ):
            r = c.get(path)
            assert r.status_code == 404 and "root:" not in r.text and "ENV_PREFIX" not in r.text, path
        with open(face_clip, "rb") as f:
            r = c.post("/api/v1/scans", files={"file": ("../../../../escaped.mp4", f)}, data={"keep": "true"})
        scan_id = r.json()["id"]
    assert not list(tmp_path.glob("**/escaped.mp4")) and not (tmp_path / "escaped.mp4").exists()
    assert [p.name for p in (tmp_path / "data" / "uploads").iterdir()] == [scan_id]  # named by the server only
