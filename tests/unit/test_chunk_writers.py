"""ChunkWriter: keeps each producer's order, prepares only while its writer is quiet, and
hands a failure to the caller."""

from __future__ import annotations

import threading
import time

import pytest

from chatport.ingest.waha.writer_thread import ChunkWriter


def never() -> None:
    return None


def test_items_are_written_in_order_and_finish_waits_for_all() -> None:
    written: list[int] = []

    def write(number: int, quiet) -> None:
        time.sleep(0.001 * (number % 3))
        written.append(number)
        quiet()

    with ChunkWriter(lambda item: item, write) as writer:
        for number in range(40):
            writer.submit(number, never)
        writer.finish(never)
    assert written == list(range(40))


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

    with ChunkWriter(prepare, write) as writer:
        for number in range(4):
            writer.submit(number, never)
        writer.finish(never)
    for number in range(1, 4):  # one prepared at a time, during the previous one's commit
        assert events.index(f"prepare {number}") > events.index(f"quiet {number - 1}")
    assert [e for e in events if e.startswith("write")] == [f"write {n}" for n in range(4)]


@pytest.mark.parametrize("stage", ["prepare", "write"])
def test_a_failure_stops_the_threads_and_reaches_the_caller(stage: str) -> None:
    def prepare(number: int) -> int:
        if stage == "prepare" and number == 3:
            raise ValueError("unreadable chunk")
        return number

    def write(number: int, quiet) -> None:
        if stage == "write" and number == 3:
            raise ValueError("unreadable chunk")

    with pytest.raises(ValueError, match="unreadable chunk"):  # noqa: SIM117
        with ChunkWriter(prepare, write) as writer:
            for number in range(10):
                writer.submit(number, never)
            writer.finish(never)


def test_halt_gives_up_waiting_for_a_busy_writer() -> None:
    release = threading.Event()

    def write(number: int, quiet) -> None:
        release.wait(5)

    def halt() -> None:
        raise TimeoutError("the import's time is up")

    with ChunkWriter(lambda n: n, write) as writer:
        with pytest.raises(TimeoutError):
            for number in range(10):  # it takes one to write and one to prepare
                writer.submit(number, halt)
        release.set()


def test_a_busy_writer_takes_one_item_besides_the_written_and_submit_waits_for_it() -> None:
    release = threading.Event()
    submitted: list[int] = []

    def write(number: int, quiet) -> None:
        quiet()
        release.wait(5)

    with ChunkWriter(lambda item: item, write) as writer:

        def submit_all() -> None:
            for number in range(5):
                writer.submit(number, never)
                submitted.append(number)

        feeder = threading.Thread(target=submit_all)
        feeder.start()
        time.sleep(0.5)
        # 0 is being written, 1 is prepared; 2 stays its producer's until it is taken
        assert submitted == [0, 1]
        release.set()
        feeder.join(5)
        writer.finish(never)
    assert submitted == [0, 1, 2, 3, 4]


def test_producers_sharing_the_writer_keep_their_own_order() -> None:
    written: list[tuple[int, int]] = []

    def write(item: tuple[int, int], quiet) -> None:
        written.append(item)
        quiet()

    with ChunkWriter(lambda item: item, write) as writer:

        def produce(producer: int) -> None:
            for number in range(30):
                assert writer.submit((producer, number))

        producers = [threading.Thread(target=produce, args=(p,)) for p in range(2)]
        for thread in producers:
            thread.start()
        for thread in producers:
            thread.join(10)
        writer.finish(never)
    for producer in range(2):
        assert [n for p, n in written if p == producer] == list(range(30))


def test_a_producer_without_halt_hears_of_a_failure_as_false() -> None:
    def write(number: int, quiet) -> None:
        raise ValueError("the database refused")

    with pytest.raises(ValueError, match="refused"):  # noqa: SIM117
        with ChunkWriter(lambda n: n, write) as writer:
            results = [writer.submit(number) for number in range(4)]
            assert results[-1] is False
            writer.finish(never)


def test_wait_for_room_returns_only_once_an_item_would_be_taken_at_once() -> None:
    release = threading.Event()

    def write(number: int, quiet) -> None:
        quiet()
        release.wait(5)

    with ChunkWriter(lambda n: n, write) as writer:
        assert writer.wait_for_room()
        writer.submit(0)  # being written
        assert writer.wait_for_room()
        writer.submit(1)  # prepared
        waited: list[bool] = []
        waiter = threading.Thread(target=lambda: waited.append(writer.wait_for_room()))
        waiter.start()
        waiter.join(0.5)
        assert waited == []  # the writer is busy: a producer would not read its next item
        release.set()
        waiter.join(5)
        assert waited == [True]
        writer.finish(never)
