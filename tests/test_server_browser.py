"""The page in a real browser: Debian's Chromium driven by Playwright (no browser download), against a live
server. Saves docs/web-app.png for the README."""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO, VIDEOS_SAMPLE

from deepfake_detection.server import Settings, create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = REPO / "docs" / "web-app.png"

REQUIRED = os.environ.get("DEEPFAKE_REQUIRE_BROWSER") == "1"  # set by .ci/run: there a missing browser is a failure

pytestmark = pytest.mark.skipif(CHROMIUM is None and not REQUIRED, reason="no system Chromium (apt-get install chromium)")


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


@pytest.fixture
def live_server(tmp_path):
    yield from _serve(Settings(data_dir=tmp_path / "data", num_frames=16))


@pytest.fixture
def token_server(tmp_path):
    yield from _serve(Settings(data_dir=tmp_path / "data", num_frames=8, token="s3cret-token"))


ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_page_uploads_a_clip_and_shows_verdict_timeline_and_face(live_server, face_clip):
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
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
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
    from conftest import drawn_face, write_video
    from playwright import sync_api as playwright

    tile = cv2.resize(drawn_face(w=120, h=120, cx=60, cy=62, s=0.55), (44, 44), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(12):
        frame = np.full((380, 320, 3), 90, np.uint8)
        frame[:240] = drawn_face(cx=150 + i)
        for x in (10, 70, 130):
            frame[300:344, x:x + 44] = tile
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
