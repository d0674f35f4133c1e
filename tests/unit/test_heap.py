"""heap.for_bulk_work: freed megabyte buffers go back to the system (glibc)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Two rounds of allocating, touching and freeing 8 MiB, then the growth of the resident set in
# MiB. glibc's default serves the second round from its heap (the first free raised its
# mmap threshold) and keeps the pages.
_CHILD = """
import os, sys
from chatport.runtime.heap import for_bulk_work
if sys.argv[1] == "tuned":
    for_bulk_work()
def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
before = resident()
for _ in range(2):
    block = bytearray(8 * 2**20)
    block[::4096] = b"x" * len(block[::4096])
    del block
print(resident() - before)
"""


def grown_mib(mode: str) -> float:
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True
    )
    return float(run.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_megabyte_buffers_are_given_back() -> None:
    assert grown_mib("default") >= 7  # the pitfall, as this machine's glibc shows it
    assert grown_mib("tuned") < 2
