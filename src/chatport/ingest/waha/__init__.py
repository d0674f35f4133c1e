"""The WAHA import step both engines drive: fetch processes (`fetch_process.py`) -> chunks
(`chunks.py`) -> the chunk step (`chunk_step.py`: chunk + checkpoint in one transaction), written
by a writer thread (`writer_thread.py`, SQLite) or by the fetch processes (`direct_writes.py`,
PostgreSQL); a re-import drops stored messages first (`stored_filter.py`)."""
