"""Fuzzing the media edge: small valid files (mp4, jpg, png) with flipped bits, cuts and edited header fields must
give a frame list or a MediaError from `media.read_frames`, and one clean JSON line from `detect --json`: never a
crash, a hang or unbounded memory. Each case runs in a child process under a time and address-space limit.

Hypothesis runs derandomized (the same examples on every run, so CI is reproducible); set
HYPOTHESIS_PROFILE=fuzz-long for a longer random search while developing."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.synthetic import drawn_face, write_video

pytestmark = pytest.mark.slow  # mutated media through `detect` in a subprocess

settings.register_profile(
    "fuzz-ci", max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("fuzz-long", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fuzz-ci")

READ_TIMEOUT_S = 20.0  # one mutated file through read_frames
CLI_TIMEOUT_S = 90.0  # one detect run over three mutated files (includes loading the model)
READ_MEMORY = 1 << 30  # address space of the read_frames child (it needs ~0.5 GiB to import PyAV and numpy)
CLI_MEMORY = 2 << 30

# A child that answers one path per stdin line with one JSON line: frames read, a MediaError, or anything else.
HARNESS = r"""
import json, sys
from deepfake_detection.errors import MediaError
from deepfake_detection.media import read_frames
for line in sys.stdin:
    try:
        frames = read_frames(line.rstrip("\n"), num_frames=8)
        answer = {"ok": len(frames.images), "shapes": sorted({f.shape for f in frames.images})}
        assert frames.images and all(f.ndim == 3 and f.shape[2] == 3 and f.dtype.name == "uint8" for f in frames.images)
    except MediaError as e:
        answer = {"media_error": str(e)}
    except BaseException as e:
        answer = {"crash": f"{type(e).__name__}: {e}"}
    print(json.dumps(answer, default=str), flush=True)
"""


def _limit(address_space: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return apply


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    """Small valid inputs, one per container the service sees most."""
    d = tmp_path_factory.mktemp("seeds")
    small = [cv2.resize(drawn_face(cx=150 + 4 * i), (96, 72), interpolation=cv2.INTER_AREA) for i in range(4)]
    clip = write_video(d / "seed.mp4", small)
    bgr = cv2.cvtColor(small[0], cv2.COLOR_RGB2BGR)
    return Seeds(
        mp4=clip.read_bytes(), jpg=cv2.imencode(".jpg", bgr)[1].tobytes(), png=cv2.imencode(".png", bgr)[1].tobytes()
    )


class Seeds(dict):
    def __repr__(self) -> str:  # Hypothesis prints the arguments of a failing example: keep the bytes out
        return "Seeds(" + ", ".join(f"{k}=<{len(v)} bytes>" for k, v in self.items()) + ")"


INTERESTING = (0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)

mutation = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True)),
    st.tuples(st.just("header"), st.integers(0, 63), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("int32"), st.floats(0, 1, exclude_max=True), st.sampled_from(INTERESTING)),
    st.tuples(st.just("repeat"), st.floats(0, 1, exclude_max=True), st.integers(1, 256), st.integers(2, 64)),
)


def mutate(data: bytes, ops) -> bytes:
    """Apply mutations in order: bit flips, cuts, header overwrites, 32-bit size fields set to edge values, and
    a repeated slice (which makes boxes and chunks overlap)."""
    buf = bytearray(data)
    for op in ops:
        if not buf:
            break
        kind, *a = op
        if kind == "flip":
            buf[int(a[0] * len(buf))] ^= 1 << a[1]
        elif kind == "truncate":
            del buf[int(a[0] * len(buf)) :]
        elif kind == "header":
            at = min(a[0], len(buf) - 1)
            buf[at : at + len(a[1])] = a[1]
        elif kind == "int32":
            at = int(a[0] * max(len(buf) - 4, 1))
            buf[at : at + 4] = a[1].to_bytes(4, "big")
        elif kind == "repeat":
            at = int(a[0] * len(buf))
            buf[at:at] = bytes(buf[at : at + a[1]]) * a[2]
    return bytes(buf)


# The same for content credentials (C2PA): one `read_provenance` answer per path, or the crash.
PROVENANCE_HARNESS = r"""
import json, sys
from deepfake_detection.provenance import read_provenance
for line in sys.stdin:
    try:
        p = read_provenance(line.rstrip("\n"))
        answer = {"state": p.state, "summary": p.summary}
    except BaseException as e:
        answer = {"crash": f"{type(e).__name__}: {e}"}
    print(json.dumps(answer), flush=True)
"""


class ReadHarness:
    """A long-lived read_frames child (or another `code` answering one JSON line per path) under the memory limit,
    restarted after it dies or hangs."""

    def __init__(self, code: str = HARNESS):
        self.proc = None
        self.code = code

    def read(self, path: Path) -> dict:
        if self.proc is None:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", self.code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                preexec_fn=_limit(READ_MEMORY),
            )
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            ready = sel.select(READ_TIMEOUT_S)
        if not ready:
            self.close()
            return {"hang": f"no answer within {READ_TIMEOUT_S:g} s"}
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(5)
            self.proc = None
            return {"crash": f"the reader process died (exit code {code})"}
        return json.loads(line)

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None


@pytest.fixture(scope="module")
def harness():
    h = ReadHarness()
    yield h
    h.close()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(settings.get_profile(PROFILE))
@given(kind=st.sampled_from(["mp4", "jpg", "png"]), ops=st.lists(mutation, min_size=1, max_size=4))
def test_read_frames_survives_mutated_media(seeds, harness, scratch, kind, ops):
    path = scratch / f"mutant.{kind}"
    path.write_bytes(mutate(seeds[kind], ops))
    answer = harness.read(path)
    assert "ok" in answer or "media_error" in answer, f"{kind} {ops}: {answer}"


# Cases the search found once, kept so they run every time.
REGRESSIONS = [
    ("mp4", [("truncate", 0.78125)]),  # the stream's codec context is None: was an AttributeError
    ("mp4", [("int32", 0.8032342721659741, 0x7FFFFFFF)]),  # same, through an edited sample-table field
]


@pytest.mark.parametrize("kind, ops", REGRESSIONS)
def test_read_frames_regressions(seeds, harness, scratch, kind, ops):
    path = scratch / f"regression.{kind}"
    path.write_bytes(mutate(seeds[kind], ops))
    answer = harness.read(path)
    assert "ok" in answer or "media_error" in answer, f"{kind} {ops}: {answer}"


@settings(settings.get_profile(PROFILE), max_examples=max(settings.get_profile(PROFILE).max_examples // 30, 4))
@given(ops=st.lists(st.lists(mutation, min_size=1, max_size=3), min_size=3, max_size=3))
def test_detect_cli_answers_every_mutated_file_with_one_clean_line(seeds, scratch, ops):
    paths = []
    for (kind, data), mutations in zip(seeds.items(), ops):
        paths.append(scratch / f"cli mutant.{kind}")
        paths[-1].write_bytes(mutate(data, mutations))
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "deepfake_detection.cli",
                "detect",
                "--json",
                "--quiet",
                "--frames",
                "8",
                *map(str, paths),
            ],
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            preexec_fn=_limit(CLI_MEMORY),
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"detect did not finish within {CLI_TIMEOUT_S:g} s on {ops}")
    assert run.returncode in (0, 1), f"exit {run.returncode} on {ops}: {run.stderr[-2000:]}"
    assert "Traceback" not in run.stderr, run.stderr
    reports = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["path"] for r in reports] == [str(p) for p in paths]
    for r in reports:
        assert r["verdict"] in ("REAL", "FAKE", "NO_FACE", "ERROR")
        assert (r["verdict"] == "ERROR") == bool(r["error"]) and "internal error" not in (r["error"] or "")
    assert run.returncode == int(any(r["verdict"] == "ERROR" for r in reports))


@pytest.fixture(scope="module")
def signed_seeds(seeds, tmp_path_factory) -> dict[str, bytes]:
    """The mp4 and jpg seeds with content credentials (a throw-away chain): the manifest is most of their bytes."""
    from benchmarks.credentials import make_chain, sign

    d, chain = tmp_path_factory.mktemp("signed-seeds"), make_chain()
    out = {}
    for kind in ("mp4", "jpg"):
        (d / f"seed.{kind}").write_bytes(seeds[kind])
        out[kind] = sign(d / f"seed.{kind}", d / f"signed.{kind}", chain).read_bytes()
    return Seeds(out)


@pytest.fixture(scope="module")
def provenance_harness():
    h = ReadHarness(PROVENANCE_HARNESS)
    yield h
    h.close()


@settings(settings.get_profile(PROFILE))
@given(kind=st.sampled_from(["mp4", "jpg"]), ops=st.lists(mutation, min_size=1, max_size=4))
def test_read_provenance_survives_mutated_credentials(signed_seeds, provenance_harness, scratch, kind, ops):
    """Signed files with their bytes mutated: always a state and a one-line summary, never a crash or a hang."""
    from deepfake_detection.report import PROVENANCE_STATES

    path = scratch / f"signed mutant.{kind}"
    path.write_bytes(mutate(signed_seeds[kind], ops))
    answer = provenance_harness.read(path)
    assert answer.get("state") in PROVENANCE_STATES, f"{kind} {ops}: {answer}"
    assert "\n" not in answer["summary"]


def test_mutate_is_deterministic_and_bounded():
    data = bytes(range(256))
    ops = [
        ("flip", 0.5, 3),
        ("header", 4, b"ftyp"),
        ("int32", 0.1, 0xFFFFFFFF),
        ("repeat", 0.2, 10, 3),
        ("truncate", 0.9),
    ]
    assert mutate(data, ops) == mutate(data, ops) and 0 < len(mutate(data, ops)) <= 256 + 30
    assert mutate(b"", ops) == b""
