"""The page and /docs in a real browser: Debian's Chromium driven by Playwright (no browser download), against a
live server.

The page test takes its screenshot into a temporary folder, so running the tests leaves the work tree as it was.
To regenerate the README picture docs/web-app.png, run:  python scripts/screenshot_page.py
(it runs that one test with DEEPFAKE_SCREENSHOT=docs/web-app.png)."""

import os
import shutil
import socket
import threading
import time

import httpx
import pytest
from helpers import VIDEOS_SAMPLE

from deepfake_detection.server import Settings, create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT_TO = os.environ.get("DEEPFAKE_SCREENSHOT")  # also save the page screenshot here (the README picture)

REQUIRED = os.environ.get("DEEPFAKE_REQUIRE_BROWSER") == "1"  # set by .ci/run: there a missing browser is a failure

pytestmark = [
    pytest.mark.slow,  # a real Chromium driving a live server
    pytest.mark.skipif(CHROMIUM is None and not REQUIRED, reason="no system Chromium (apt-get install chromium)"),
]


def _serve(settings: Settings):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """One server (and so one worker process, loaded once) for the page tests of this module."""
    yield from _serve(Settings(data_dir=tmp_path_factory.mktemp("browser") / "data", num_frames=16))


@pytest.fixture
def token_server(tmp_path):
    yield from _serve(Settings(data_dir=tmp_path / "data", num_frames=8, token="s3cret-token"))


ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_page_uploads_a_clip_and_shows_verdict_timeline_and_face(live_server, face_clip, tmp_path):
    assert CHROMIUM, "DEEPFAKE_REQUIRE_BROWSER=1 but no chromium on PATH"
    from playwright import sync_api as playwright

    sample = VIDEOS_SAMPLE / "fake_abqwwspghj_s0.mp4"
    clip = sample if sample.is_file() else face_clip  # a real deepfake makes the better screenshot
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(live_server)
            page.set_input_files("#file", str(clip))
            page.wait_for_selector("#banner.fake, #banner.real", timeout=120_000)
            banner = page.inner_text("#banner")
            assert banner.startswith(("Likely deepfake", "No manipulation found")) and "%" in banner
            page.wait_for_selector("#timeline .main-svg", timeout=10_000)  # plotly drew the chart
            assert page.locator("#timeline .scatterlayer .trace").count() >= 1
            thumb = page.locator("#faces img.thumb").first
            assert thumb.is_visible()
            assert page.evaluate("(img) => img.naturalWidth", thumb.element_handle()) > 0  # the picture decoded
            assert page.locator("#faces img.frame").count() >= 1
            page.wait_for_selector("#recent tbody tr")
            assert clip.name in page.inner_text("#recent")
            assert not errors, errors
            shot = tmp_path / "web-app.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if SCREENSHOT_TO:
                shutil.copyfile(shot, SCREENSHOT_TO)
        finally:
            browser.close()


def test_page_asks_once_for_the_token_of_a_protected_server(token_server, face_clip):
    """With --token the API answers 401 without it; the page asks once, keeps it, and the upload goes through."""
    assert CHROMIUM, "DEEPFAKE_REQUIRE_BROWSER=1 but no chromium on PATH"
    from playwright import sync_api as playwright

    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept("s3cret-token")

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("dialog", answer)
            page.goto(token_server)
            page.wait_for_function("() => localStorage.getItem('deepfake-token') !== null", timeout=30_000)
            page.set_input_files("#file", str(face_clip))
            page.wait_for_selector("#banner.fake, #banner.real, #banner.no-face", timeout=120_000)
            assert len(asked) == 1 and "token" in asked[0]
        finally:
            browser.close()


def test_page_greys_out_faces_that_were_not_judged(live_server, tmp_path):
    """A clip with one clear face and a row of tiny ones: the tiny faces' cards are greyed with the reason, and the
    clear face is marked as the one that decided."""
    assert CHROMIUM, "DEEPFAKE_REQUIRE_BROWSER=1 but no chromium on PATH"
    import cv2
    import numpy as np
    from playwright import sync_api as playwright

    from benchmarks.synthetic import drawn_face, write_video

    tile = cv2.resize(drawn_face(w=120, h=120, cx=60, cy=62, s=0.55), (44, 44), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(12):
        frame = np.full((380, 320, 3), 90, np.uint8)
        frame[:240] = drawn_face(cx=150 + i)
        for x in (10, 70, 130):
            frame[300:344, x : x + 44] = tile
        frames.append(frame)
    clip = write_video(tmp_path / "crowd.mp4", frames)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(live_server)
            page.set_input_files("#file", str(clip))
            page.wait_for_selector("#banner.fake, #banner.real", timeout=120_000)
            greyed = page.locator("#faces .face.not-judged")
            assert greyed.count() >= 1
            assert "not judged: small" in greyed.first.inner_text()
            assert page.locator("#faces .face:not(.not-judged)", has_text="decided the verdict").count() == 1
        finally:
            browser.close()


def _wait_scan(base: str, scan_id: str, timeout: float = 120.0) -> dict:
    end = time.monotonic() + timeout
    while (scan := httpx.get(f"{base}/api/v1/scans/{scan_id}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < end, f"scan {scan_id} still {scan['status']}"
        time.sleep(0.3)
    return scan


def test_the_address_hash_switches_scans_and_a_failed_scan_shows_no_empty_chart(live_server, face_clip, tmp_path):
    """/#<id> shows that scan; editing the hash (or going back) switches scans without a reload. A failed scan shows
    its reason and no "Probability over time" box. The tab icon is served."""
    assert CHROMIUM, "DEEPFAKE_REQUIRE_BROWSER=1 but no chromium on PATH"
    from playwright import sync_api as playwright

    corrupt = tmp_path / "broken.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(5000))
    ids = {}
    for name, path in (("done", face_clip), ("failed", corrupt)):
        with open(path, "rb") as f:
            answer = httpx.post(f"{live_server}/api/v1/scans", files={"file": (path.name, f)}, timeout=30)
        ids[name] = answer.json()["id"]
        assert _wait_scan(live_server, ids[name])["status"] == name
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{live_server}/#{ids['failed']}")
            page.wait_for_selector("#banner.failed", timeout=30_000)
            assert "Could not scan this file" in page.inner_text("#banner")
            assert page.locator("#timeline").is_hidden() and page.get_by_text("Probability over time").is_hidden()

            page.evaluate("(id) => { location.hash = id; }", ids["done"])  # an edited address, no reload
            page.wait_for_selector("#banner.fake, #banner.real", timeout=30_000)
            page.wait_for_selector("#timeline .main-svg", timeout=10_000)
            assert page.get_by_text("Probability over time").is_visible()

            page.go_back()  # the previous hash: the failed scan again
            page.wait_for_selector("#banner.failed", timeout=30_000)
            assert page.locator("#timeline").is_hidden()

            icon = page.evaluate("""async () => {
                const r = await fetch(document.querySelector("link[rel=icon]").href);
                return [r.status, r.headers.get("content-type"), (await r.arrayBuffer()).byteLength];
            }""")
            assert icon[0] == 200 and icon[1] == "image/x-icon" and icon[2] > 100
            assert not errors, errors
        finally:
            browser.close()


def test_docs_render_every_operation(live_server):
    """Swagger UI (from an installed package, nothing fetched elsewhere) renders the OpenAPI 3.1 document: each
    operation appears as a rendered block with its path and summary."""
    assert CHROMIUM, "DEEPFAKE_REQUIRE_BROWSER=1 but no chromium on PATH"
    from playwright import sync_api as playwright

    spec = httpx.get(f"{live_server}/openapi.json").json()
    expected = {(m.upper(), path, op["summary"]) for path, ops in spec["paths"].items() for m, op in ops.items()}
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            elsewhere, errors = [], []
            page.on(
                "request",
                lambda r: r.url.startswith(live_server) or r.url.startswith("data:") or elsewhere.append(r.url),
            )
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{live_server}/docs")
            page.locator(".opblock-summary-path").or_(page.get_by_text("Unable to render")).first.wait_for(
                timeout=30_000
            )
            assert "Unable to render" not in page.inner_text("body")  # what Swagger UI 4 says of OpenAPI 3.1
            rendered = {
                (
                    b.locator(".opblock-summary-method").inner_text().strip(),
                    b.locator(".opblock-summary-path").get_attribute("data-path"),
                    b.locator(".opblock-summary-description").inner_text().strip(),
                )
                for b in page.locator(".opblock").all()
            }
            assert rendered == expected
            assert page.locator(".version-stamp .version").first.inner_text().startswith("OAS 3.1")
            assert not elsewhere and not errors, (elsewhere, errors)
        finally:
            browser.close()


def test_page_shows_the_content_credentials_line_of_each_signed_sample(live_server, tmp_path):
    """Files signed in the test (benchmarks/credentials.py): the page shows each one's credentials line under the
    reason; credentials declaring AI generation give the 'Declared AI-generated' banner."""
    assert CHROMIUM, "DEEPFAKE_REQUIRE_BROWSER=1 but no chromium on PATH"
    from playwright import sync_api as playwright

    from benchmarks.credentials import signed_samples

    samples = signed_samples(tmp_path / "signed")
    names = ["ai.jpg", "ai.mp4", "capture.mp4", "ai_media_flip.mp4", "ai_manifest_flip.jpg", "plain.jpg"]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(live_server)
            for name in names:
                page.set_input_files("#file", str(samples[name]))
                page.wait_for_function(
                    "(name) => document.querySelector('#meta').textContent.startsWith(name)", arg=name, timeout=120_000
                )
                scan_id = page.evaluate("() => location.hash.slice(1)")
                report = httpx.get(f"{live_server}/api/v1/scans/{scan_id}").json()["report"]
                credentials = report["provenance"]
                line = page.locator("#provenance")
                assert line.is_visible(), name
                assert line.inner_text().startswith(credentials["summary"]), (name, line.inner_text())
                assert f"state-{credentials['state']}" in line.get_attribute("class")
                banner = page.inner_text("#banner")
                if name.startswith("ai."):
                    assert "this decided the verdict" in line.inner_text()
                    assert banner == "Declared AI-generated — by its content credentials", banner
                else:
                    assert "decided" not in line.inner_text() and not banner.startswith("Declared"), banner
                if "flip" in name:
                    assert line.inner_text().startswith("content credentials present but invalid")
                    assert page.locator("#warnings li", has_text="content credentials present but invalid").count()
            assert page.locator("#provenance").inner_text() == "no content credentials"
            assert not errors, errors
        finally:
            browser.close()
