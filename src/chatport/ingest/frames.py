"""Python objects over a pipe between chatport's own processes: length-prefixed pickles.

Only for pipes between a chatport process and a child it started (never for outside input:
unpickling runs code named by the data)."""

from __future__ import annotations

import pickle
import struct
from typing import Any, BinaryIO

_LENGTH = struct.Struct(">Q")


def write_frame(stream: BinaryIO, item: Any) -> None:
    """Send one object (raises BrokenPipeError once the reader is gone)."""
    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_frame(stream: BinaryIO) -> bytes:
    """The next object, still pickled (`pickle.loads` it in the thread that will use it), or
    EOFError when the writer closed the pipe."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError("the pipe closed")
    (length,) = _LENGTH.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError("the pipe closed in the middle of a frame")
    return data
