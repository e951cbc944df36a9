"""Content credentials through every interface: `detect --json` (and its table), the REST API and `scan` (JSON Lines,
CSV, HTML), on files signed in the test (benchmarks/credentials.py), with and without a trust list."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from benchmarks.credentials import signed_samples
from deepfake_detection.cli import main
from deepfake_detection.server import Settings, create_app

pytestmark = pytest.mark.slow  # the shipped model in subprocesses, worker processes and a scan pool

CLI = [sys.executable, "-m", "deepfake_detection.cli"]
CASES = [
    f"{kind}{ext}"
    for kind in ("plain", "ai", "capture", "ai_media_flip", "ai_manifest_flip")
    for ext in (".jpg", ".mp4")
]


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    return signed_samples(tmp_path_factory.mktemp("signed"))


def check(name: str, report: dict, trust: str = "") -> None:
    """What each signed sample must say (`trust`: "" none, "trust.pem" the signer's root, "other_trust.pem" not)."""
    p = report["provenance"]
    kind = name.rsplit(".", 1)[0]
    assert p["trust_list"] is bool(trust)
    if kind == "plain":
        assert p["state"] == "none" and p["summary"] == "no content credentials" and not p["decided"]
    elif kind == "ai" and trust != "other_trust.pem":
        assert report["verdict"] == "FAKE" and p["decided"] and report["deciding_face"] is None
        assert report["probability"] is None and report["faces"]  # face scores still shown
        assert p["state"] == ("valid" if trust else "untrusted") and p["declares_ai"]
        assert p["summary"].startswith("content credentials: made with TestGen 1.0, signed by Test Signer")
        assert p["summary"].endswith("declares AI-generated") and report["reason"].startswith(p["summary"])
    elif kind == "ai":
        assert p["state"] == "untrusted" and not p["decided"] and report["deciding_face"] is not None
        assert any("not on the trust list" in w for w in report["warnings"])
    elif kind == "capture":
        assert p["state"] == "untrusted" and not p["declares_ai"] and not p["decided"]
        assert p["summary"].endswith("declares digitalCapture") and report["deciding_face"] is not None
    else:  # flipped media or manifest byte
        assert p["state"] == "invalid" and not p["decided"] and report["deciding_face"] is not None
        assert p["summary"].startswith("content credentials present but invalid: ")
        assert any(w.startswith("content credentials present but invalid") for w in report["warnings"])
        assert (p["error"] is not None) == ("manifest" in kind)
    if kind != "ai" or trust == "other_trust.pem":
        assert report["verdict"] in ("REAL", "FAKE") and report["probability"] is not None  # the faces decide


# --- detect --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("trust", ["", "trust.pem", "other_trust.pem"])
def test_detect_json(samples, trust):
    names = CASES if not trust else ["ai.jpg", "ai.mp4", "plain.jpg"]
    extra = ["--trust-list", str(samples[trust])] if trust else []
    run = subprocess.run(
        [*CLI, "detect", "--json", "--quiet", "--frames", "8", *extra, *(str(samples[n]) for n in names)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    reports = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["path"] for r in reports] == [str(samples[n]) for n in names]
    for name, report in zip(names, reports):
        check(name, report, trust)


def test_detect_table_shows_the_credentials_line(samples, capsys):
    assert main(["detect", "--quiet", "--frames", "4", str(samples["ai.jpg"]), str(samples["plain.jpg"])]) == 0
    out = capsys.readouterr().out
    assert "  C2PA     content credentials: made with TestGen 1.0" in out and "(decided the verdict)" in out
    assert "  C2PA     no content credentials" in out


def test_bad_trust_list_is_one_line_before_any_work(tmp_path, capsys):
    (tmp_path / "bad.pem").write_text("nothing here")
    for command in (["detect", "x.jpg"], ["scan", str(tmp_path), "--out", str(tmp_path / "o.jsonl")]):
        assert main([*command, "--trust-list", str(tmp_path / "bad.pem")]) == 1
        assert "holds no readable PEM certificate" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()
    assert main(["serve", "--data-dir", str(tmp_path / "d"), "--trust-list", str(tmp_path / "absent.pem")]) == 1
    assert "trust list" in capsys.readouterr().err


# --- the REST API --------------------------------------------------------------------------------------------------


def _scan(client, path: Path) -> dict:
    with open(path, "rb") as f:
        r = client.post("/api/v1/scans", files={"file": (path.name, f, "application/octet-stream")})
    assert r.status_code == 202, r.text
    end = time.monotonic() + 120
    while time.monotonic() < end:
        body = client.get(f"/api/v1/scans/{r.json()['id']}").json()
        if body["status"] in ("done", "failed"):
            assert body["status"] == "done", body["error"]
            return body
        time.sleep(0.2)
    raise AssertionError(f"{path.name} not scanned in time")


@pytest.mark.parametrize("trust", ["", "other_trust.pem"])
def test_api(samples, tmp_path, trust):
    names = CASES if not trust else ["ai.jpg"]
    settings = Settings(data_dir=tmp_path / "data", num_frames=8, trust_list=str(samples[trust]) if trust else "")
    with TestClient(create_app(settings)) as client:
        for name in names:
            body = _scan(client, samples[name])
            check(name, body["report"], trust)
            assert body["verdict"] == body["report"]["verdict"]


def test_server_trust_list_from_the_environment(samples):
    env = {"DEEPFAKE_TRUST_LIST": str(samples["trust.pem"])}
    assert Settings.from_env(env).trust_list == str(samples["trust.pem"])


# --- scan ----------------------------------------------------------------------------------------------------------


def test_scan_records_csv_and_html(samples, tmp_path):
    from deepfake_detection.scan import scan

    out, csv_path, html_path = tmp_path / "out.jsonl", tmp_path / "out.csv", tmp_path / "out.html"
    folder = samples["plain.jpg"].parent
    summary = scan([folder], out, csv=csv_path, html=html_path, num_frames=8, workers=1, progress=False)
    assert summary.scanned == len(CASES) and summary.errors == 0  # the .pem files are not media
    records = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    for name in CASES:
        check(name, records[name])
    rows = {Path(r["path"]).name: r for r in csv.DictReader(csv_path.open())}
    for name in CASES:
        assert rows[name]["provenance"] == records[name]["provenance"]["summary"]
    page = html_path.read_text()
    assert '<th data-type="str">Credentials</th>' in page and "signed, AI" in page and "INVALID" in page
    assert "declares AI-generated" in page and "digital source type: trainedAlgorithmicMedia" in page
    assert "http://" not in page  # source types shown as terms: the page links nowhere

    trusted = scan(
        [samples["ai.mp4"]], tmp_path / "t.jsonl", trust_list=samples["trust.pem"], num_frames=8, progress=False
    )
    assert trusted.verdicts["FAKE"] == 1
    record = json.loads((tmp_path / "t.jsonl").read_text())
    check("ai.mp4", record, "trust.pem")
