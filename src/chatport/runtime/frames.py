"""Python objects over a pipe between chatport's own processes: length-prefixed pickles, and
the two ends of such a pipe (`start_child` in the parent, `stdout_frames` in the child).

Only for pipes between a chatport process and a child it started (never for outside input:
unpickling runs code named by the data). Each frame carries the CRC-32 of its payload, so a
damaged stream is an error, never different data. An object whose pickling hands over a
`pickle.PickleBuffer` (an import chunk's encoded messages) has that buffer written after the
pickle as it is, not copied into it (pickle protocol 5's out-of-band data): a chunk's
megabytes are then neither copied nor held twice on either side.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import chatport

_HEADER = struct.Struct(">IQQ")  # CRC-32 of the payload, the pickle's length, the buffer's


class Frame(NamedTuple):
    """A frame as read: a pickle and its out-of-band buffer, if it had one."""

    data: bytes
    buffer: bytes | None

    def load(self) -> Any:
        """The object (unpickle it in the thread that will use it)."""
        return pickle.loads(self.data, buffers=() if self.buffer is None else (self.buffer,))


class FrameError(RuntimeError):
    """A frame arrived damaged."""


def start_child(command: list[str]) -> subprocess.Popen:
    """A Python child running `command` (the interpreter's arguments) with this chatport on
    its path and pipes on stdin and stdout."""
    source = str(Path(chatport.__file__).parent.parent)
    path = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
    child = subprocess.Popen(
        [sys.executable, *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": path},
    )
    _widen(child.stdout.fileno())
    return child


PIPE_BYTES = 1 << 20
"""The capacity asked for a child's stdout pipe (Linux; its default is 64 KiB): frames of
megabytes then cross in a few writes instead of dozens, each waking the reader."""


def _widen(descriptor: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(descriptor, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass  # not Linux, or above the system's limit (fs.pipe-max-size): the default stays


def stdout_frames() -> Callable[[Any], None]:
    """In a child: take stdout for frames (`print` goes to stderr from now on, so nothing
    else writes into them); returns `send(item)`, safe to call from any thread."""
    out, sys.stdout = sys.stdout.buffer, sys.stderr
    lock = threading.Lock()

    def send(item: Any) -> None:
        with lock:
            write_frame(out, item)

    return send


def write_frame(stream: BinaryIO, item: Any) -> None:
    """Send one object (raises BrokenPipeError once the reader is gone). `stream` may be
    unbuffered (`PYTHONUNBUFFERED`): a raw write that a signal cuts short is continued."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(item, protocol=5, buffer_callback=buffers.append)
    if len(buffers) > 1:
        raise ValueError("a frame carries at most one out-of-band buffer")
    buffer = buffers[0].raw() if buffers else memoryview(b"")
    crc = zlib.crc32(buffer, zlib.crc32(data))
    _write_all(stream, _HEADER.pack(crc, len(data), buffer.nbytes))
    _write_all(stream, data)
    _write_all(stream, buffer)
    stream.flush()


def read_frame(stream: BinaryIO) -> Frame:
    """The next frame; EOFError when the writer closed the pipe, FrameError when the frame
    is damaged."""
    header = _read_exactly(stream, _HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the pipe closed")
    crc, length, buffer_length = _HEADER.unpack(header)
    data = _read_exactly(stream, length)
    buffer = _read_exactly(stream, buffer_length) if buffer_length else b""
    if len(data) < length or len(buffer) < buffer_length:
        raise EOFError("the pipe closed in the middle of a frame")
    if zlib.crc32(buffer, zlib.crc32(data)) != crc:
        size = length + buffer_length
        raise FrameError(f"a frame of {size:,} bytes arrived damaged (CRC mismatch)")
    return Frame(data, buffer if buffer_length else None)


def _write_all(stream: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = stream.write(view)
        view = view[written or 0 :]


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    """`size` bytes, fewer only at the end of the stream (a raw read may return less)."""
    chunks, missing = [], size
    while missing:
        chunk = stream.read(missing)
        if not chunk:
            break
        chunks.append(chunk)
        missing -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
