"""Frames between chatport's processes survive short reads and writes, and damage is loud."""

import io

import pytest

from chatport.runtime.frames import FrameError, read_frame, write_frame


class ShortPipe(io.RawIOBase):
    """An unbuffered pipe end whose every write or read moves at most `step` bytes, as a raw
    write to a pipe does when a signal interrupts it (PYTHONUNBUFFERED makes stdout raw)."""

    def __init__(self, step: int) -> None:
        self.data, self.position, self.step = bytearray(), 0, step

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def write(self, chunk) -> int:
        taken = bytes(chunk[: self.step])
        self.data += taken
        return len(taken)

    def read(self, size: int = -1) -> bytes:
        size = self.step if size < 0 else min(size, self.step)
        chunk = bytes(self.data[self.position : self.position + size])
        self.position += len(chunk)
        return chunk


ITEMS = [{"text": "olá " * 5000, "n": list(range(3000))}, ("done", None), b"\x00" * 70_000]


@pytest.mark.parametrize("step", [1, 7, 4096, 65536, 10**9])
def test_frames_round_trip_over_short_reads_and_writes(step):

    pipe = ShortPipe(step)
    for item in ITEMS:
        write_frame(pipe, item)
    assert [read_frame(pipe).load() for _ in ITEMS] == ITEMS
    with pytest.raises(EOFError):
        read_frame(pipe)


def test_a_damaged_frame_is_an_error_not_other_data():
    pipe = ShortPipe(10**9)
    write_frame(pipe, {"text": "hello world"})
    pipe.data[-5] ^= 0x01
    with pytest.raises(FrameError, match="damaged"):
        read_frame(pipe)


def test_a_frame_cut_short_is_the_end_of_the_stream():
    pipe = ShortPipe(10**9)
    write_frame(pipe, {"text": "hello world"})
    del pipe.data[-3:]
    with pytest.raises(EOFError, match="middle of a frame"):
        read_frame(pipe)


def _chunk():
    from chatport.domain.batch import prepare_batch
    from chatport.domain.model import IncomingMessage
    from chatport.ingest.waha.chunks import Chunk

    incoming = [
        IncomingMessage(f"m{i}", "5511999999999@c.us", 1_700_000_000 + i, raw=b'{"x": 1}')
        for i in range(50)
    ]
    return Chunk(prepare_batch(incoming), done=["5511999999999@c.us"])


def test_a_chunk_s_encoding_travels_beside_its_pickle_not_inside_it():
    from chatport.ingest.waha.chunks import _CHUNK_ENCODER

    chunk = _chunk()
    pipe = ShortPipe(4096)
    write_frame(pipe, chunk)
    frame = read_frame(pipe)
    assert frame.buffer == _CHUNK_ENCODER.encode(chunk)
    assert len(frame.data) < 200  # the pickle names PackedChunk; the messages are beside it
    packed = frame.load()
    assert packed.unpack() == chunk


def test_damage_in_a_frame_s_buffer_is_an_error_too():
    pipe = ShortPipe(10**9)
    write_frame(pipe, _chunk())
    pipe.data[-5] ^= 0x01
    with pytest.raises(FrameError, match="damaged"):
        read_frame(pipe)
