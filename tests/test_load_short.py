"""The load benchmark's short mode as a test: concurrent clients against a real `serve` process; every accepted
scan ends with a stored result, a full queue answers 503 (never an error or a hang), memory is measured."""

import pytest

from benchmarks import load

pytestmark = pytest.mark.slow  # concurrent clients against a real `serve` process


def test_short_load_run_loses_no_scan():
    res = load.run_load(clients=5, seconds=5.0, workers=1, queue_size=1, drain_s=240.0)
    print(res.summary())
    assert res.ok, (res.other_errors, res.unfinished)
    assert res.accepted + res.rejected_503 == res.uploads
    assert res.done + res.failed == res.accepted and res.failed == 0
    assert res.rejected_503 > 0  # five clients at once against room for two: the rest are told to retry
    assert 0 < res.accept_p95_s < 30 and res.complete_p50_s >= res.accept_p50_s
    assert res.peak_rss_mib > 50
