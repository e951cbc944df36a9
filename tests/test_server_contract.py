"""The API against its own OpenAPI schema: Schemathesis generates requests from /openapi.json and checks every
answer (no 5xx, only documented status codes, bodies and content types as declared, 405 with the right Allow).
It calls the app in-process (ASGI), with a fixed seed and a bounded number of examples per operation."""

from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig

from deepfake_detection.server import Settings, create_app
from deepfake_detection.server.pool import ScanWorkers

EXAMPLES_PER_OPERATION = 30
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
UPLOAD_LIMIT_BYTES = 256

CONFIG = {
    "seed": 20261129,
    "generation": {"mode": "all", "max-examples": EXAMPLES_PER_OPERATION, "deterministic": True, "database": "none"},
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": False},
    },
    "checks": {
        # 503 (queue full) and 507 (disk full) are documented "retry later" answers; any other 5xx is a failure
        "not_a_server_error": {"enabled": True, "expected-statuses": ["2xx", "3xx", "4xx", 503, 507]},
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        "response_headers_conformance": {"enabled": True},
        "negative_data_rejection": {"enabled": True},
        "unsupported_method": {"enabled": True},
        "allow_header_conformance": {"enabled": True},
        # Input the schema allows is never a 422; it may still be refused for what it is (empty, not a video, too
        # big, an unknown id) or for the server's state (queue or disk full)
        "positive_data_acceptance": {"enabled": True, "expected-statuses": ["2xx", 400, 404, 413, 415, 503, 507]},
    },
}


def _app(data_dir: Path, **settings) -> FastAPI:
    return create_app(Settings(data_dir=data_dir, **settings))


# Built without starting the app (no lifespan, nothing on disk): the same document /openapi.json serves.
schema = schemathesis.openapi.from_dict(_app(Path("unused")).openapi(), config=SchemathesisConfig.from_dict(CONFIG))


@schema.hook
def map_body(context, body):
    """Random bytes are never a video or image: give half of the generated files a PNG signature, so uploads are
    also accepted (202, then 200/202 duplicates) and fill the queue (503), and make some too big (413), not
    only refused (415)."""
    data = body.get("file") if isinstance(body, dict) else None
    if isinstance(data, str):  # the schema says string (OpenAPI 3.1 `contentMediaType`): sent as UTF-8
        data = data.encode()
    if not isinstance(data, bytes) or len(data) % 2:
        return body
    padding = bytes(UPLOAD_LIMIT_BYTES) if len(data) % 4 == 2 else b""
    return {**body, "file": PNG_SIGNATURE + data + padding}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One app for every generated call (its store and queue fill up as they would in service)."""
    app = _app(tmp_path_factory.mktemp("contract"), max_upload_mb=UPLOAD_LIMIT_BYTES / 2**20, queue_size=0)
    with pytest.MonkeyPatch.context() as mp:
        # Accepted uploads stay queued: no worker process starts and no analysis runs (the queue fills to 503).
        mp.setattr(ScanWorkers, "start", lambda self: None)
        # Schemathesis' ASGI client starts the app's lifespan (store, uploads folder) on the first call of each
        # test and its pytest plugin ends it after the test: queued scans are recovered by the next start.
        yield app


@schema.parametrize()
def test_api_conforms_to_its_schema(case, app):
    case.call_and_validate(app=app)


def test_the_schema_tested_is_the_one_served(app):
    with TestClient(app) as client:
        assert client.get("/openapi.json").json() == schema.raw_schema


def test_401_is_documented_only_when_a_token_is_required(tmp_path):
    def codes(app):
        paths = app.openapi()["paths"]
        return {f"{m.upper()} {p}": set(op["responses"]) for p, ops in paths.items() for m, op in ops.items()}

    open_codes, token_codes = codes(_app(tmp_path)), codes(_app(tmp_path, token="s3cret"))
    assert not any("401" in c for c in open_codes.values())
    assert all("401" in c for op, c in token_codes.items() if " /api/" in op)
    assert "401" not in token_codes["GET /healthz"]
