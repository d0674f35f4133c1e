"""A child's frames cross a pipe wider than Linux's default of 64 KiB."""

import sys

import pytest

from chatport.runtime.frames import PIPE_BYTES, read_frame, start_child

ECHO = [
    "-c",
    "from chatport.runtime.frames import stdout_frames; stdout_frames()(b'x' * 3_000_000)",
]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_SETPIPE_SZ is Linux's")
def test_a_child_s_stdout_pipe_holds_a_mebibyte() -> None:
    import fcntl

    child = start_child(ECHO)
    try:
        assert fcntl.fcntl(child.stdout.fileno(), fcntl.F_GETPIPE_SZ) == PIPE_BYTES
        assert read_frame(child.stdout).load() == b"x" * 3_000_000
    finally:
        child.stdin.close()
        child.wait(10)
