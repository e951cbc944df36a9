"""One typed settings object for the service. Defaults work with no configuration; every field can also be set by
an environment variable DEEPFAKE_<FIELD> (e.g. DEEPFAKE_MAX_UPLOAD_MB=50), and the CLI flags override both."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

ENV_PREFIX = "DEEPFAKE_"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("deepfake-data")  # SQLite database and uploads waiting for their scan
    workers: int = 1  # scans run at once, each in its own worker process
    queue_size: int = 16  # scans waiting beyond the running ones; more answer 503 + Retry-After
    max_upload_mb: float = 200.0  # larger uploads answer 413
    scan_timeout_s: float = 300.0  # a scan running longer is stopped and marked failed
    model: str = ""  # shipped model name or exported .onnx path; "" = the shipped default
    num_frames: int = 32  # frames sampled per video
    keep_uploads: bool = False  # default for the per-upload `keep` choice
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Settings":
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
