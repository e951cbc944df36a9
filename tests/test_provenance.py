"""Content credentials (C2PA): the provenance stage on files signed here with a throw-away certificate chain, its
limits, the decision rule, and the pipeline's use of it. The interfaces (detect --json, API, scan, page) are in
test_provenance_interfaces.py and test_server_browser.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.credentials import CAPTURE, make_chain, sign, signed_samples
from benchmarks.synthetic import drawn_face, write_video
from deepfake_detection import provenance as prov
from deepfake_detection.decision import credentials_decide, credentials_warnings
from deepfake_detection.errors import ConfigError
from deepfake_detection.provenance import ProvenanceLimits, TrustList, read_provenance
from deepfake_detection.report import PROVENANCE_STATES, Provenance

AI_URI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    return signed_samples(tmp_path_factory.mktemp("credentials"))


@pytest.mark.parametrize("ext", [".jpg", ".mp4"])
def test_no_credentials_is_said_plainly(samples, ext):
    p = read_provenance(samples[f"plain{ext}"])
    assert p.state == "none" and p.summary == "no content credentials" and not p.declares_ai and p.error is None


@pytest.mark.parametrize("ext", [".jpg", ".mp4"])
def test_ai_declaration_is_read_with_its_signer_and_untrusted_without_a_trust_list(samples, ext):
    p = read_provenance(samples[f"ai{ext}"])
    assert p.state == "untrusted" and p.declares_ai and not p.trust_list
    assert p.digital_source_types == [AI_URI] and p.actions == ["c2pa.created"]
    assert p.claim_generator == "TestGen 1.0" and p.manifests == 1 and p.active_manifest.startswith("urn:c2pa:")
    assert p.signer == "CN=Test Signer, O=Test Org" and p.issuer == "CN=Test Org Root CA, O=Test Org"
    assert p.signed_at is None  # no time-stamp authority reachable here: the signature carries no time
    assert p.failures == ["signingCredential.untrusted"]
    assert p.summary == (
        "content credentials: made with TestGen 1.0, signed by Test Signer (Test Org; not checked: no trust list), "
        "declares AI-generated"
    )
    assert json.loads(json.dumps(p.__dict__))["declares_ai"] is True


@pytest.mark.parametrize("ext", [".jpg", ".mp4"])
def test_trust_list_makes_the_signer_trusted_or_says_it_is_not_on_it(samples, ext):
    trusted = read_provenance(samples[f"ai{ext}"], TrustList.load(samples["trust.pem"]))
    assert trusted.state == "valid" and trusted.trust_list and trusted.failures == []
    assert "(Test Org; on the trust list)" in trusted.summary
    other = read_provenance(samples[f"ai{ext}"], TrustList.load(samples["other_trust.pem"]))
    assert other.state == "untrusted" and other.trust_list and "not on the trust list" in other.summary


def test_capture_declaration_is_not_an_ai_declaration(samples):
    p = read_provenance(samples["capture.mp4"])
    assert p.state == "untrusted" and not p.declares_ai and p.digital_source_types == [CAPTURE]
    assert p.summary.endswith("declares digitalCapture")


@pytest.mark.parametrize(
    "ext, code", [(".jpg", "assertion.dataHash.mismatch"), (".mp4", "assertion.bmffHash.mismatch")]
)
def test_a_flipped_media_byte_makes_the_credentials_invalid(samples, ext, code):
    p = read_provenance(samples[f"ai_media_flip{ext}"])
    assert p.state == "invalid" and code in p.failures
    assert p.summary == f"content credentials present but invalid: {code} (the file changed after signing)"
    assert p.declares_ai  # still read, but (below) never used


@pytest.mark.parametrize("ext", [".jpg", ".mp4"])
def test_a_flipped_manifest_byte_is_an_unreadable_manifest(samples, ext):
    p = read_provenance(samples[f"ai_manifest_flip{ext}"])
    assert p.state == "invalid" and p.error and "\n" not in p.summary
    assert p.summary.startswith("content credentials present but invalid: unreadable manifest (")


def test_format_c2pa_does_not_cover_is_unchecked_without_a_warning(tmp_path):
    clip = write_video(tmp_path / "clip.mkv", [drawn_face() for _ in range(3)])
    p = read_provenance(clip)
    assert p.state == "unchecked" and p.error is None and "does not cover this file format" in p.summary
    assert credentials_warnings(p) == []


def test_huge_manifest_stops_at_the_memory_limit(tmp_path, samples):
    """The guard limits the growth of the process's resident memory. In a process whose allocator already holds
    free memory (here, after the rest of the test suite) a read can reuse it without growing, so it runs in a fresh
    process, as one file does in a scan or server worker."""
    big = sign(samples["plain.mp4"], tmp_path / "big.mp4", make_chain(), CAPTURE, thumbnail_bytes=24 * 2**20)
    code = (
        "import json, sys, time\n"
        "from deepfake_detection.provenance import ProvenanceLimits, read_provenance\n"
        "t = time.perf_counter()\n"
        "p = read_provenance(sys.argv[1], limits=ProvenanceLimits(max_memory_mb=8))\n"
        "print(json.dumps([p.state, p.error, time.perf_counter() - t]))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(big)], capture_output=True, text=True, check=True)
    state, error, seconds = json.loads(out.stdout)
    assert seconds < 2.0
    assert state == "unchecked" and error == "they need over 8 MiB of memory to read"
    assert read_provenance(big).state == "untrusted"  # within the default limit: read in full


def test_time_limit_on_reads_and_on_a_stalled_library(samples, monkeypatch):
    slow = ProvenanceLimits(timeout_s=0.0)
    p = read_provenance(samples["ai.mp4"], limits=slow)  # every read the library makes is refused
    assert p.state == "unchecked" and p.error == "reading them took over 0 s"

    def stall(*args):
        time.sleep(5)

    monkeypatch.setattr(prov, "_read", stall)  # a library call that never reads again
    t = time.perf_counter()
    p = read_provenance(samples["ai.mp4"], limits=ProvenanceLimits(timeout_s=0.2))
    assert time.perf_counter() - t < 1.5 and p.state == "unchecked" and "took over 0.2 s" in p.summary


def test_json_over_the_limit_is_not_summarised(samples):
    p = read_provenance(samples["ai.jpg"], limits=ProvenanceLimits(max_json_mb=0.0001))
    assert p.state == "unchecked" and "over the 0.0001 MiB limit" in p.error


def test_items_kept_are_bounded():
    store = {
        "active_manifest": "m",
        "validation_state": "Valid",
        "manifests": {
            "m": {
                "assertions": [
                    {"label": "c2pa.actions", "data": {"actions": [{"action": f"a{i}"} for i in range(500)]}},
                    {"label": "x", "data": {"nested": [{"digitalSourceType": f"{AI_URI}{i}"} for i in range(500)]}},
                ],
                "claim_generator_info": [{"name": "n" * 5000}],
            }
        },
    }
    p = prov._summarise(store, {}, False, 32)
    assert len(p.actions) == 32 and len(p.digital_source_types) == 32 and len(p.claim_generator) <= 200


def test_deep_or_odd_json_never_raises():
    deep: dict = {}
    node = deep
    for _ in range(100_000):  # deeper than Python's recursion limit
        node["x"] = {}
        node = node["x"]
    node["digitalSourceType"] = AI_URI
    p = prov._summarise({"manifests": {"m": deep}, "active_manifest": "m", "validation_state": "Valid"}, {}, False, 8)
    assert p.declares_ai
    for odd in (None, [], {"manifests": []}, {"manifests": {"m": None}, "active_manifest": 3}):
        assert prov._summarise(odd, {"manifests": "x"}, False, 8).state in PROVENANCE_STATES


def test_missing_library_is_unchecked(samples, monkeypatch):
    monkeypatch.setitem(sys.modules, "c2pa", None)  # import c2pa raises ImportError
    p = read_provenance(samples["ai.jpg"])
    assert p.state == "unchecked" and p.summary == "content credentials not checked: c2pa-python is not installed"


def test_trust_list_file_errors_are_one_line(tmp_path, samples):
    assert TrustList.load(samples["trust.pem"]).subjects == ("O=Test Org,CN=Test Org Root CA",)
    (tmp_path / "notes.pem").write_text("not a certificate\n")
    for path, said in ((tmp_path / "absent.pem", "No such file"), (tmp_path / "notes.pem", "no readable PEM")):
        with pytest.raises(ConfigError, match=said):
            TrustList.load(path)


# --- the decision --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state, declares_ai, trust_list, decides",
    [
        ("valid", True, True, True),
        ("untrusted", True, False, True),  # no trust list: any intact signature's declaration counts
        ("untrusted", True, True, False),  # a trust list, and the signer is not on it
        ("valid", False, True, False),  # a capture declaration never decides (and never makes REAL)
        ("invalid", True, False, False),
        ("unchecked", True, False, False),
        ("none", False, False, False),
    ],
)
def test_which_credentials_decide(state, declares_ai, trust_list, decides):
    p = Provenance(state=state, declares_ai=declares_ai, trust_list=trust_list, summary="s")
    assert credentials_decide(p) is decides


def test_warnings_for_credentials_that_do_not_hold():
    assert credentials_warnings(Provenance(state="invalid", summary="content credentials present but invalid: x")) == [
        "content credentials present but invalid: x: not used in the verdict"
    ]
    limited = Provenance(state="unchecked", summary="content credentials not checked: slow", error="slow")
    assert credentials_warnings(limited) == ["content credentials not checked: slow; judged on the pixels alone"]
    assert (
        "not on the trust list"
        in credentials_warnings(Provenance(state="untrusted", declares_ai=True, trust_list=True))[0]
    )
    assert credentials_warnings(Provenance(state="none")) == credentials_warnings(Provenance(state="valid")) == []


# --- the pipeline --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector():
    from deepfake_detection.models.serving import load_scorer
    from deepfake_detection.pipeline import Detector

    return Detector(load_scorer(), num_frames=8)


def test_declared_ai_makes_the_verdict_fake_and_keeps_the_faces(detector, samples):
    plain = detector.detect(samples["plain.jpg"])
    r = detector.detect(samples["ai.jpg"])
    assert plain.verdict == "REAL" and plain.provenance.state == "none" and not plain.provenance.decided
    assert r.verdict == "FAKE" and r.deciding_face is None and r.probability is None
    assert r.provenance.decided and r.provenance.declares_ai
    assert [f.probability for f in r.faces] == [f.probability for f in plain.faces]  # face scores still shown
    assert r.reason.startswith("content credentials: made with TestGen 1.0") and "the faces alone: REAL" in r.reason
    assert "provenance" in r.timings
    d = json.loads(r.to_json())
    assert d["provenance"]["state"] == "untrusted" and d["provenance"]["decided"] is True


def test_credentials_that_fail_never_decide_and_warn(detector, samples):
    r = detector.detect(samples["ai_media_flip.mp4"])
    assert r.verdict == "REAL" and r.deciding_face is not None and not r.provenance.decided
    assert any(w.startswith("content credentials present but invalid") for w in r.warnings)


def test_with_a_trust_list_only_its_signers_decide(detector, samples):
    strict = replace(detector, trust=TrustList.load(samples["other_trust.pem"]))
    r = strict.detect(samples["ai.jpg"])
    assert r.verdict == "REAL" and r.provenance.trust_list and not r.provenance.decided
    assert any("not on the trust list" in w for w in r.warnings)
    trusted = replace(detector, trust=TrustList.load(samples["trust.pem"])).detect(samples["ai.mp4"])
    assert trusted.verdict == "FAKE" and trusted.provenance.state == "valid"


def test_declared_ai_decides_even_without_a_face(detector, tmp_path):
    import cv2
    import numpy as np

    wall = tmp_path / "wall.jpg"
    cv2.imwrite(str(wall), np.full((240, 320, 3), 127, np.uint8))
    r = detector.detect(sign(wall, tmp_path / "ai_wall.jpg", make_chain()))
    assert r.verdict == "FAKE" and r.faces == [] and "the faces alone: NO_FACE" in r.reason
