"""The collector held off during batches: on again once no thread is inside one."""

from __future__ import annotations

import gc
import threading

from projections.collector import collector_paused


def test_the_collector_is_off_inside_a_batch_and_on_after_the_last_thread_leaves() -> None:
    assert gc.isenabled()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def second() -> None:
        first_in.wait()
        with collector_paused():
            second_in.set()
            first_out.wait()
            seen.append(gc.isenabled())  # the first left: still off, this one is inside

    thread = threading.Thread(target=second)
    thread.start()
    with collector_paused():
        first_in.set()
        second_in.wait()
        seen.append(gc.isenabled())
    first_out.set()
    thread.join()

    assert seen == [False, False]
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_failing_batch_turns_the_collector_back_on() -> None:
    try:
        with collector_paused():
            raise ValueError("handler failed")
    except ValueError:
        pass
    assert gc.isenabled()
