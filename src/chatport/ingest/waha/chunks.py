"""An import chunk: the prepared messages of one transaction, as a fetch process makes it and
as it crosses to the writer (light: fetch processes import it without the store)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import msgspec

from chatport.domain.batch import PreparedBatch


class Chunk(msgspec.Struct, gc=False):
    """Prepared messages for one transaction, and the chats it completes or gives up."""

    batch: PreparedBatch
    done: list[str] = msgspec.field(default_factory=list)
    failed: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def messages(self) -> int:
        """How many messages the fetcher read for this chunk (valid, invalid, repeated)."""
        batch = self.batch
        return len(batch.messages) + len(batch.invalid) + batch.duplicates

    def __reduce__(self) -> tuple:
        # A chunk crosses to the writer pickled as a PackedChunk: MessagePack (typed msgspec
        # encoding and decoding are several times faster than pickling the objects), decoded
        # by the writer thread that writes it, not by the thread reading the pipe. The
        # encoding is an out-of-band buffer: runtime/frames.py sends it without copying it.
        return (PackedChunk, (pickle.PickleBuffer(_CHUNK_ENCODER.encode(self)),))


_CHUNK_ENCODER = msgspec.msgpack.Encoder()
_CHUNK_DECODER = msgspec.msgpack.Decoder(Chunk)


@dataclass(frozen=True, slots=True)
class PackedChunk:
    """A Chunk as it arrives from a fetcher, encoded (a few times smaller than the objects
    while it waits for its writer)."""

    packed: bytes

    def unpack(self) -> Chunk:
        """The chunk."""
        return _CHUNK_DECODER.decode(self.packed)
