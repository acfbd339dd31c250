"""pipeline.writer: one writer per data home, across processes and threads."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from pipeline.settings import Settings
from pipeline.writer import BusyError, writing
from tests.helpers import assert_one_line_error, cli, hold_in_process


def test_second_process_waits_then_gives_up_naming_the_holder(settings: Settings) -> None:
    proc = hold_in_process(settings.home)
    try:
        started = time.monotonic()
        with pytest.raises(BusyError) as caught, writing(settings, "second", wait=0.5):
            pass
        assert time.monotonic() - started >= 0.5
        message = caught.value.one_line()
        assert f"a test holder (pid {proc.pid}" in message and "DUALUSE_WRITE_WAIT" in message
    finally:
        proc.kill()
        proc.wait()


def test_lock_is_freed_when_the_holder_is_killed(settings: Settings) -> None:
    proc = hold_in_process(settings.home)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    started = time.monotonic()
    with writing(settings, "after a kill", wait=5):
        pass
    assert time.monotonic() - started < 1.0


def test_reentrant_in_one_thread_and_exclusive_between_threads(settings: Settings) -> None:
    order: list[str] = []
    with writing(settings, "outer"), writing(settings, "inner"):  # nested: no deadlock
        def other() -> None:
            with writing(settings, "other thread", wait=10):
                order.append("other")

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        order.append("first done")
    thread.join(10)
    assert order == ["first done", "other"]


def test_cli_writer_gives_one_line_when_busy(settings: Settings) -> None:
    proc = hold_in_process(settings.home)
    try:
        result = cli("--home", settings.home, "reindex", env={"DUALUSE_WRITE_WAIT": "0.2"})
        assert_one_line_error(result, 3, "being written by a test holder", str(proc.pid))
    finally:
        proc.kill()
        proc.wait()
