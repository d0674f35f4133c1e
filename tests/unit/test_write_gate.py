"""The deliverer's gate of SQLite writes: one at a time, a claim before the stores waiting."""

from __future__ import annotations

import threading

from chatport.agent.gate import WriteGate
from tests.waiting import eventually


def test_a_claim_waiting_goes_before_the_stores_waiting() -> None:
    gate = WriteGate(enabled=True)
    order: list[str] = []

    def write(name: str, first: bool) -> None:
        with gate.write(first=first):
            order.append(name)

    with gate.write():  # a write under way
        store = threading.Thread(target=write, args=("store", False))
        store.start()
        eventually(lambda: gate.waiting == 1, "the store waits")
        claim = threading.Thread(target=write, args=("claim", True))
        claim.start()
        eventually(lambda: gate.waiting == 2, "the claim waits too")
    store.join()
    claim.join()
    assert order == ["claim", "store"]


def test_a_disabled_gate_lets_writes_through_at_once() -> None:
    gate = WriteGate(enabled=False)
    with gate.write(), gate.write(first=True):  # would wait for itself if it gated
        pass
