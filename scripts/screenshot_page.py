"""Regenerate the README picture of the web page (docs/web-app.png).

The tests only ever write screenshots to a temporary folder; this runs the page test in Chromium once more and has
it save its screenshot here. It uses the shared DFDC sample clip when present (a real deepfake makes the better
picture), else the drawn test face.

    python scripts/screenshot_page.py [--out docs/web-app.png]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST = "tests/test_server_browser.py::test_page_uploads_a_clip_and_shows_verdict_timeline_and_face"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "web-app.png", help="where to save the picture")
    args = parser.parse_args()
    out = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    # DEEPFAKE_REQUIRE_BROWSER: fail rather than skip when Chromium is missing, since the picture is the point
    env = dict(os.environ, DEEPFAKE_SCREENSHOT=str(out), DEEPFAKE_REQUIRE_BROWSER="1")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST]
    done = subprocess.run(command, cwd=REPO, env=env, check=False)
    if done.returncode == 0:
        print(f"saved {out}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
