"""Live ingest: WAHA webhooks -> the one write path (`writer.py`), in writer processes of their
own (`writer_process.py`); `@lid` chats resolved to phones (`lid_lookups.py`)."""
