"""`deepfake-detect serve`: the upload page and the REST API under uvicorn."""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DeepfakeError
from . import _options as opt

if TYPE_CHECKING:
    import socket


def register(sub) -> None:
    s = sub.add_parser(
        "serve",
        help="web page + REST API: upload a video, get the verdict, timeline and heatmap",
        description="Start the upload-warning service (FastAPI under uvicorn): the page at /, the "
        "REST API under /api/v1 (OpenAPI at /docs), /healthz. Every option can also be "
        "set as an environment variable, named in its help; an option given here wins.",
    )
    s.add_argument("--host", help="interface to listen on (default: 127.0.0.1; DEEPFAKE_HOST)")
    s.add_argument("--port", type=int, help="port (default: 8000; DEEPFAKE_PORT)")
    s.add_argument(
        "--workers", type=opt.positive_int, help="scans run at once, one process each (default: 1; DEEPFAKE_WORKERS)"
    )
    s.add_argument(
        "--data-dir", help="SQLite database and pending uploads (default: ./deepfake-data; DEEPFAKE_DATA_DIR)"
    )
    s.add_argument(
        "--max-upload-mb", type=float, help="largest accepted upload in MB (default: 200; DEEPFAKE_MAX_UPLOAD_MB)"
    )
    s.add_argument(
        "--model", help="shipped model name or exported .onnx path (default: the shipped default; DEEPFAKE_MODEL)"
    )
    s.add_argument(
        "--queue-size",
        type=int,
        help="uploads waiting beyond the running scans before new ones get 503 (default: 16; DEEPFAKE_QUEUE_SIZE)",
    )
    s.add_argument(
        "--scan-timeout-s",
        type=float,
        help="a scan running longer than this fails with that reason (default: 300; DEEPFAKE_SCAN_TIMEOUT_S)",
    )
    s.add_argument(
        "--frames", type=opt.positive_int, help="frames sampled evenly per video (default: 32; DEEPFAKE_NUM_FRAMES)"
    )
    opt.add_trust_list(s, env="DEEPFAKE_TRUST_LIST")
    s.add_argument(
        "--keep-uploads",
        action="store_true",
        default=None,
        help="keep uploaded files after their scan unless the upload asks otherwise (default: delete "
        "them; DEEPFAKE_KEEP_UPLOADS=1)",
    )
    s.add_argument(
        "--token",
        help="require 'Authorization: Bearer TOKEN' on /api/* (the page asks for it once); "
        "prefer DEEPFAKE_TOKEN, which other users cannot read from the process list",
    )
    s.add_argument(
        "--insecure-no-token",
        action="store_true",
        help="allow a non-loopback --host without a token (only behind a proxy that authenticates; "
        "DEEPFAKE_INSECURE_NO_TOKEN=1)",
    )
    s.set_defaults(func=run)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed: a busy port is one clear error, not a 'serving on'
    line followed by uvicorn's traceback."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise DeepfakeError(f"port {port} on {host} is already in use: stop the other server or pass --port") from e
        raise DeepfakeError(f"cannot listen on {host}:{port}: {e.strerror}") from e
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..models.serving import load_scorer
    from ..provenance import TrustList
    from ..server import Settings, create_app
    from ..server.settings import check_data_dir

    settings = Settings.from_env(
        host=args.host,
        port=args.port,
        workers=args.workers,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        max_upload_mb=args.max_upload_mb,
        model=args.model,
        token=args.token,
        insecure_no_token=args.insecure_no_token or None,
        queue_size=args.queue_size,
        scan_timeout_s=args.scan_timeout_s,
        num_frames=args.frames,
        keep_uploads=args.keep_uploads,
        trust_list=args.trust_list,
    )
    check_data_dir(settings.data_dir)
    if settings.trust_list:
        TrustList.load(settings.trust_list)  # an unusable file fails here, in one line
    load_scorer(settings.model or None)  # a wrong --model fails here, not in every scan
    sock = bind(settings.host, settings.port)
    print(
        f"deepfake-detect serving on http://{settings.host}:{settings.port}/  (API docs: /docs, data: "
        f"{settings.data_dir.resolve()})",
        file=sys.stderr,
    )
    config = uvicorn.Config(create_app(settings), log_level="info" if args.verbose else "warning")
    uvicorn.Server(config).run(sockets=[sock])
    return 0
