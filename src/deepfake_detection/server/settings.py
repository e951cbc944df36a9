"""One typed settings object for the service. Defaults work with no configuration; every field can also be set by
an environment variable DEEPFAKE_<FIELD> (e.g. DEEPFAKE_MAX_UPLOAD_MB=50), and the CLI flags override both."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..media import DEFAULT_NUM_FRAMES

ENV_PREFIX = "DEEPFAKE_"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("deepfake-data")  # SQLite database and uploads waiting for their scan
    workers: int = 1  # scans run at once, each in its own worker process
    queue_size: int = 16  # scans waiting beyond the running ones; more answer 503 + Retry-After
    max_upload_mb: float = 200.0  # larger uploads answer 413
    scan_timeout_s: float = 300.0  # a scan running longer is stopped and marked failed
    model: str = ""  # shipped model name or exported .onnx path; "" = the shipped default
    num_frames: int = DEFAULT_NUM_FRAMES  # frames sampled per video
    keep_uploads: bool = False  # default for the per-upload `keep` choice
    trust_list: str = ""  # PEM trust anchors for C2PA content credentials; "" = no signer is trusted
    host: str = "127.0.0.1"
    port: int = 8000
    token: str = field(default="", repr=False)  # when set, /api/* needs "Authorization: Bearer <token>"
    insecure_no_token: bool = False  # allow listening beyond loopback without a token (behind your own auth)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, environ=None, **overrides) -> Settings:
        """Defaults, then DEEPFAKE_* variables, then `overrides` whose value is not None."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _parse(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        s = cls(**values)
        s.validate()
        return s

    def validate(self) -> None:
        if self.workers < 1 or self.queue_size < 0:
            raise ConfigError("workers must be ≥ 1 and queue_size ≥ 0")
        if self.max_upload_mb <= 0 or self.scan_timeout_s <= 0 or self.num_frames < 1:
            raise ConfigError("max_upload_mb, scan_timeout_s and num_frames must be positive")
        if not self.token and not self.insecure_no_token and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to listen on {self.host} without an API token: set --token (or "
                f"DEEPFAKE_TOKEN), or pass --insecure-no-token if something in front already "
                f"authenticates clients"
            )


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_data_dir(path: Path) -> None:
    """Fail early, with one line, when the data folder cannot be created or written (a file in the way, no
    permission, read-only or full disk), instead of a traceback from the first upload or the database."""
    probe = Path(path) / f".write-test-{os.getpid()}"
    try:
        (Path(path) / "uploads").mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"data dir {path} is not usable: {e.strerror or e}") from None


def _parse(name: str, type_name, raw: str):
    kind = str(type_name)
    try:
        if kind == "bool":
            if raw.strip().lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return raw.strip().lower() in ("1", "true", "yes")
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
        return raw
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind}") from None
