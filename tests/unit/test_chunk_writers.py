"""ChunkWriters: lanes keep each lane's order, prepare only while their writer is quiet, and
hand a failure to the caller."""

from __future__ import annotations

import threading
import time

import pytest

from chatport.ingest.chunk_writers import ChunkWriters


def never() -> None:
    return None


def test_each_lane_writes_its_items_in_order_and_finish_waits_for_all() -> None:
    written: dict[int, list[int]] = {0: [], 1: []}

    def write(item: tuple[int, int], quiet) -> None:
        lane, number = item
        time.sleep(0.001 * (number % 3))
        written[lane].append(number)
        quiet()

    with ChunkWriters(lambda item: item, write, lanes=2) as writers:
        for number in range(40):
            writers.submit((number % 2, number), number % 2, never)
        writers.finish(never)
    assert written == {0: list(range(0, 40, 2)), 1: list(range(1, 40, 2))}


def test_the_next_item_is_prepared_only_once_the_writer_is_quiet() -> None:
    events: list[str] = []
    lock = threading.Lock()

    def note(event: str) -> None:
        with lock:
            events.append(event)

    def prepare(number: int) -> int:
        note(f"prepare {number}")
        return number

    def write(number: int, quiet) -> None:
        note(f"write {number}")
        time.sleep(0.05)  # time for a preparer that did not wait to show itself
        note(f"quiet {number}")
        quiet()
        time.sleep(0.05)  # the commit: the next item is prepared meanwhile

    with ChunkWriters(prepare, write, lanes=1) as writers:
        for number in range(4):
            writers.submit(number, 0, never)
        writers.finish(never)
    for number in range(1, 4):  # one prepared at a time, during the previous one's commit
        assert events.index(f"prepare {number}") > events.index(f"quiet {number - 1}")
    assert [e for e in events if e.startswith("write")] == [f"write {n}" for n in range(4)]


@pytest.mark.parametrize("stage", ["prepare", "write"])
def test_a_failure_stops_the_lanes_and_reaches_the_caller(stage: str) -> None:
    def prepare(number: int) -> int:
        if stage == "prepare" and number == 3:
            raise ValueError("unreadable chunk")
        return number

    def write(number: int, quiet) -> None:
        if stage == "write" and number == 3:
            raise ValueError("unreadable chunk")

    with pytest.raises(ValueError, match="unreadable chunk"):  # noqa: SIM117
        with ChunkWriters(prepare, write, lanes=1) as writers:
            for number in range(10):
                writers.submit(number, 0, never)
            writers.finish(never)


def test_halt_gives_up_waiting_for_a_busy_lane() -> None:
    release = threading.Event()

    def write(number: int, quiet) -> None:
        release.wait(5)

    def halt() -> None:
        raise TimeoutError("the import's time is up")

    with ChunkWriters(lambda n: n, write, lanes=1) as writers:
        with pytest.raises(TimeoutError):
            for number in range(10):  # the lane holds one being written and two waiting
                writers.submit(number, 0, halt)
        release.set()


def test_a_busy_lane_holds_one_item_waiting_besides_the_prepared_and_the_written() -> None:
    release = threading.Event()
    submitted: list[int] = []

    def write(number: int, quiet) -> None:
        quiet()
        release.wait(5)

    with ChunkWriters(lambda item: item, write, lanes=1) as writers:

        def submit_all() -> None:
            for number in range(5):
                writers.submit(number, 0, never)
                submitted.append(number)

        feeder = threading.Thread(target=submit_all)
        feeder.start()
        time.sleep(0.5)
        # 0 is being written, 1 is prepared, 2 waits; 3 cannot be taken yet
        assert submitted == [0, 1, 2]
        release.set()
        feeder.join(5)
        writers.finish(never)
    assert submitted == [0, 1, 2, 3, 4]
