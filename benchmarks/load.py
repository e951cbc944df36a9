"""Load test for `deepfake-detect serve`: N concurrent clients upload and poll against a real server process.

    python -m benchmarks.load                      # 50 clients for 60 s against 1 worker, queue 16
    python -m benchmarks.load --short              # 4 clients for 6 s (what tests/test_load_short.py runs)
    python -m benchmarks.load --clients 20 --seconds 30 --workers 2 --json

Starts the server on a free 127.0.0.1 port with a temporary data dir, runs the clients for a bounded time, lets
every accepted scan finish, then checks each has a stored result. Reports p50/p95 latency of upload acceptance
and of scan completion, the 503 count, and the peak RSS of the server and its worker processes (from /proc).
Every upload has unique content (a JPEG comment or a trailing MP4 'free' box), so none is answered from the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int, *args: str, env: dict | None = None, wait_s: float = 120.0):
    """`deepfake-detect serve` in its own process group, returned once /healthz answers."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deepfake_detection.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            *args,
        ],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"server did not answer /healthz within {wait_s:g} s")


def stop_server(proc, sig=signal.SIGTERM) -> None:
    """Stop the server and its worker processes (the whole process group)."""
    try:
        os.killpg(proc.pid, sig)
        proc.wait(20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and all its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def media_pool(folder: Path) -> list[tuple[str, bytes]]:
    """A few small face files: JPEG photos and short MP4 clips (the drawn faces the tests use)."""
    import cv2

    from benchmarks.synthetic import drawn_face, write_video

    pool = []
    for i in range(4):
        bgr = cv2.cvtColor(drawn_face(cx=140 + 8 * i), cv2.COLOR_RGB2BGR)
        pool.append(("photo.jpg", cv2.imencode(".jpg", bgr)[1].tobytes()))
    for i in range(2):
        clip = write_video(folder / f"clip{i}.mp4", [drawn_face(cx=140 + 8 * i + k) for k in range(20)])
        pool.append(("clip.mp4", clip.read_bytes()))
    return pool


def unique(name: str, data: bytes, n: int) -> bytes:
    """The same picture with different bytes: a JPEG comment segment, or a trailing MP4 'free' box."""
    tag = f"load-{n}-{random.random()}".encode()
    if name.endswith(".jpg"):
        return data[:2] + b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag + data[2:]
    return data + (len(tag) + 8).to_bytes(4, "big") + b"free" + tag


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


@dataclass
class Results:
    clients: int
    seconds: float
    workers: int
    queue_size: int
    uploads: int = 0
    accepted: int = 0
    rejected_503: int = 0
    other_errors: list[str] = field(default_factory=list)
    done: int = 0
    failed: int = 0
    unfinished: list[str] = field(default_factory=list)  # accepted scans without a stored result at the end
    accept_p50_s: float | None = None
    accept_p95_s: float | None = None
    complete_p50_s: float | None = None
    complete_p95_s: float | None = None
    peak_rss_mib: float = 0.0
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.other_errors and not self.unfinished and self.accepted > 0

    def summary(self) -> str:
        f = lambda v: "n/a" if v is None else f"{v:.2f} s"  # noqa: E731
        return "\n".join(
            [
                f"load: {self.clients} clients for {self.seconds:g} s against {self.workers} worker(s), queue "
                f"{self.queue_size} (wall {self.wall_s:.1f} s)",
                f"  uploads {self.uploads}: accepted {self.accepted}, rejected with 503 {self.rejected_503}, "
                f"other errors {len(self.other_errors)}",
                f"  scans: done {self.done}, failed {self.failed}, without a stored result {len(self.unfinished)}",
                f"  upload accepted in: p50 {f(self.accept_p50_s)}, p95 {f(self.accept_p95_s)}",
                f"  scan complete in:   p50 {f(self.complete_p50_s)}, p95 {f(self.complete_p95_s)} (from upload start)",
                f"  peak RSS, server + workers: {self.peak_rss_mib:.0f} MiB",
            ]
        )


def run_load(
    clients: int = 50,
    seconds: float = 60.0,
    workers: int = 1,
    queue_size: int = 16,
    drain_s: float = 300.0,
    poll_s: float = 0.25,
) -> Results:
    res = Results(clients, seconds, workers, queue_size)
    lock = threading.Lock()
    accept_lat: list[float] = []
    complete_lat: list[float] = []
    accepted_ids: list[str] = []
    counter = iter(range(10**9))
    with tempfile.TemporaryDirectory(prefix="deepfake-load-") as tmp:
        pool = media_pool(Path(tmp))
        port = free_port()
        server = start_server(
            Path(tmp) / "data",
            port,
            "--workers",
            str(workers),
            env={"DEEPFAKE_QUEUE_SIZE": str(queue_size), "DEEPFAKE_NUM_FRAMES": "16"},
        )
        base = f"http://127.0.0.1:{port}"
        stop_sampling = threading.Event()

        def sample_rss():
            while not stop_sampling.wait(0.2):
                rss = tree_rss_bytes(server.pid) / 2**20
                with lock:
                    res.peak_rss_mib = max(res.peak_rss_mib, rss)

        def client(k: int, deadline: float, drain_deadline: float):
            rng = random.Random(k)
            with httpx.Client(base_url=base, timeout=60) as http:
                while time.monotonic() < deadline:
                    name, data = rng.choice(pool)
                    body = unique(name, data, next(counter))
                    t0 = time.monotonic()
                    try:
                        r = http.post("/api/v1/scans", files={"file": (name, body, "application/octet-stream")})
                    except httpx.HTTPError as e:
                        with lock:
                            res.uploads += 1
                            res.other_errors.append(f"upload: {type(e).__name__}: {e}")
                        continue
                    with lock:
                        res.uploads += 1
                    if r.status_code == 503:
                        with lock:
                            res.rejected_503 += 1
                        time.sleep(min(float(r.headers.get("Retry-After", 1)), 0.5 + rng.random()))
                        continue
                    if r.status_code not in (200, 202):
                        with lock:
                            res.other_errors.append(f"upload: HTTP {r.status_code}: {r.text[:200]}")
                        continue
                    scan_id = r.json()["id"]
                    with lock:
                        res.accepted += 1
                        accept_lat.append(time.monotonic() - t0)
                        accepted_ids.append(scan_id)
                    while time.monotonic() < drain_deadline:  # follow this scan to its end, as a page does
                        try:
                            status = http.get(f"/api/v1/scans/{scan_id}").json()["status"]
                        except (httpx.HTTPError, ValueError, KeyError) as e:
                            with lock:
                                res.other_errors.append(f"poll: {type(e).__name__}: {e}")
                            break
                        if status in ("done", "failed"):
                            with lock:
                                complete_lat.append(time.monotonic() - t0)
                            break
                        time.sleep(poll_s)

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        start = time.monotonic()
        deadline = start + seconds
        threads = [threading.Thread(target=client, args=(k, deadline, deadline + drain_s)) for k in range(clients)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            res.wall_s = time.monotonic() - start
            with httpx.Client(base_url=base, timeout=30) as http:  # every accepted scan has a stored result
                for scan_id in accepted_ids:
                    scan = http.get(f"/api/v1/scans/{scan_id}").json()
                    if scan.get("status") == "done" and scan.get("report"):
                        res.done += 1
                    elif scan.get("status") == "failed" and scan.get("error"):
                        res.failed += 1
                    else:
                        res.unfinished.append(f"{scan_id}: {scan.get('status')}")
        finally:
            stop_sampling.set()
            stop_server(server)
    res.accept_p50_s, res.accept_p95_s = percentile(accept_lat, 50), percentile(accept_lat, 95)
    res.complete_p50_s, res.complete_p95_s = percentile(complete_lat, 50), percentile(complete_lat, 95)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=60.0, help="time during which clients upload")
    p.add_argument("--workers", type=int, default=1, help="server worker processes")
    p.add_argument("--queue-size", type=int, default=16, help="server queue beyond the running scans")
    p.add_argument("--short", action="store_true", help="4 clients for 6 s (a smoke test)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    if args.short:
        args.clients, args.seconds = 4, 6.0
    res = run_load(args.clients, args.seconds, args.workers, args.queue_size)
    print(json.dumps({**asdict(res), "ok": res.ok}) if args.json else res.summary())
    for e in res.other_errors[:10]:
        print("  error:", e, file=sys.stderr)
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
