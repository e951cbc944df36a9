"""The worker process shared by serve and scan: start, answer, time out, die, restart, ignore Ctrl-C, report a
handler that cannot be built. Handlers are module-level so the spawned process can import them."""

import os
import signal
import time

import pytest

from deepfake_detection.workerproc import WorkerDied, WorkerProcess, WorkerStartError, WorkerTimeout


def _echo():
    def handle(message):
        if message == "sleep":
            time.sleep(30)
        if message == "die":
            os._exit(3)
        if message == "pid":
            return "ok", os.getpid()
        return "ok", message

    return handle


def _broken():
    raise RuntimeError("no model here")


def test_answers_requests_in_one_long_lived_process():
    w = WorkerProcess(_echo, start_timeout_s=60)
    try:
        assert w.request("hello", 30) == ("ok", "hello")
        pid = w.request("pid", 30)[1]
        assert w.request("pid", 30)[1] == pid  # the same process answers again: the model is loaded once
    finally:
        w.close()


def test_timeout_kills_and_the_next_request_gets_a_fresh_process():
    w = WorkerProcess(_echo, start_timeout_s=60)
    try:
        first = w.request("pid", 30)[1]
        with pytest.raises(WorkerTimeout):
            w.request("sleep", 0.5)
        assert w.request("pid", 30)[1] != first
    finally:
        w.close()


def test_a_crash_costs_the_request_and_says_how_the_process_ended():
    w = WorkerProcess(_echo, start_timeout_s=60)
    try:
        with pytest.raises(WorkerDied) as info:
            w.request("die", 30)
        assert "3" in str(info.value.args[0] if info.value.args else info.value)
        assert w.request("again", 30) == ("ok", "again")
    finally:
        w.close()


def test_a_handler_that_cannot_be_built_is_one_line_at_start():
    w = WorkerProcess(_broken, start_timeout_s=60)
    try:
        with pytest.raises(WorkerStartError, match="RuntimeError: no model here"):
            w.request("hello", 30)
    finally:
        w.close()


def test_ctrl_c_to_the_process_group_does_not_kill_a_worker_mid_request():
    w = WorkerProcess(_echo, start_timeout_s=60)
    try:
        pid = w.request("pid", 30)[1]
        os.kill(pid, signal.SIGINT)  # what a terminal's Ctrl-C sends to every process of the group
        time.sleep(0.3)
        assert w.request("pid", 30) == ("ok", pid)  # still alive, no traceback: the caller decides what stops
    finally:
        w.close()


def test_close_stops_for_good():
    w = WorkerProcess(_echo, start_timeout_s=60)
    w.request("hello", 30)
    w.close()
    with pytest.raises(WorkerStartError, match="shutting down"):
        w.request("hello", 30)


def test_every_worker_failure_is_a_deepfake_error_with_its_own_type():
    """Callers catch the three apart (a timeout, a crash, a model that does not load); anything that only knows
    the package's errors still catches them all."""
    from deepfake_detection.errors import DeepfakeError

    assert all(issubclass(e, DeepfakeError) for e in (WorkerStartError, WorkerTimeout, WorkerDied))
    assert WorkerDied("killed by SIGKILL").status == "killed by SIGKILL"
