"""The worker process shared by serve and scan: start, answer, time out, die, restart, ignore Ctrl-C, report a
handler that cannot be built; and the pool of them: one wording, one core share, a start failure once, close.
Handlers are module-level so the spawned process can import them."""

import os
import queue
import signal
import threading
import time
from functools import partial

import pytest

from deepfake_detection import workerproc
from deepfake_detection.workerproc import (
    WorkerBuildError,
    WorkerDied,
    WorkerPool,
    WorkerProcess,
    WorkerStartError,
    WorkerTimeout,
    threads_per_worker,
)


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


def _pool_echo(threads):
    """A pool's handler: also says which core share it was built with and what OpenCV was given."""
    import cv2

    echo = _echo()

    def handle(message):
        if message == "threads":
            return "ok", (threads, cv2.getNumThreads())
        return echo(message)

    return handle


def _pool_broken(attempts, threads):
    with open(attempts, "a") as f:
        f.write("attempt\n")
    raise RuntimeError("no model here")


def _answers(pool, messages, timeout=60):
    """Submit one job asking `messages` in turn; its answers (or the exception `ask` raised)."""
    out = queue.SimpleQueue()

    def job(ask):
        try:
            out.put([ask(m) for m in messages])
        except Exception as e:
            out.put(e)

    pool.submit(job)
    return out.get(timeout=timeout)


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


def test_pool_says_timeout_and_crash_one_way_and_replaces_the_process():
    """serve and scan word a file their worker gave no answer for the same way (the Ray pool too)."""
    pool = WorkerPool(_pool_echo, 1, timeout_s=0.5, start_timeout_s=60)
    pool.start()
    try:
        assert _answers(pool, ["hello"]) == [("hello", None)]  # started, so the timeout below is the request's
        assert _answers(pool, ["sleep", "die", "again"]) == [
            (None, "worker stopped: over the 0.5 s limit per file"),
            (None, "worker crashed while reading this file (exit code 3)"),
            ("again", None),
        ]
    finally:
        pool.close()


def test_pool_gives_each_worker_its_share_of_the_cores_it_may_use(monkeypatch):
    with monkeypatch.context() as mp:
        mp.setattr(workerproc.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
        mp.setattr(workerproc.os, "cpu_count", lambda: 64)  # what the machine has, not what this process may use
        assert [threads_per_worker(n) for n in (1, 2, 3, 4)] == [3, 1, 1, 1]
        assert WorkerPool(_pool_echo, 1, timeout_s=30).threads == 3
    pool = WorkerPool(_pool_echo, 2, timeout_s=30, threads=2, start_timeout_s=60)
    pool.start()
    try:
        assert _answers(pool, ["threads"]) == [((2, 2), None)]  # built with its share, OpenCV limited to it
    finally:
        pool.close()


def test_pool_tries_a_handler_that_cannot_be_built_once_not_per_job(tmp_path):
    attempts = tmp_path / "attempts"
    pool = WorkerPool(partial(_pool_broken, str(attempts)), 1, timeout_s=30, start_timeout_s=60)
    pool.start()
    try:
        errors = [_answers(pool, [f"file{i}"]) for i in range(3)]
    finally:
        pool.close()
    assert all(isinstance(e, WorkerBuildError) for e in errors)
    assert {str(e) for e in errors} == {"the worker could not load the model: RuntimeError: no model here"}
    assert attempts.read_text().count("attempt") == 1


def test_pool_close_kills_the_running_request_and_runs_no_more_jobs():
    pool = WorkerPool(_pool_echo, 1, timeout_s=60, start_timeout_s=60)
    pool.start()
    asked, answers = threading.Event(), queue.SimpleQueue()

    def job(ask):
        ask("hello")  # the process is up: the next request is in flight when close() comes
        asked.set()
        answers.put(ask("sleep"))

    pool.submit(job)
    assert asked.wait(60)
    time.sleep(0.2)
    t = time.monotonic()
    pool.close()
    assert time.monotonic() - t < 10  # no waiting for the 30 s request
    assert answers.get(timeout=5) == (None, "worker stopped: shutting down")
    ran = threading.Event()
    pool.submit(lambda ask: ran.set())
    pool.start()  # closed: starts nothing
    assert not ran.wait(0.5)
    assert pool.closed and all(p.proc is None for p in pool.procs)
