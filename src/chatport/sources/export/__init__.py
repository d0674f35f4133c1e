"""WhatsApp "Export chat" files: the format (`format.py`), the parser (`parser.py`), the
mapping to IncomingMessage (`messages.py`)."""
