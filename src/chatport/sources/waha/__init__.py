"""WAHA: its HTTP API client (`client.py`) with a circuit breaker (`circuit.py`), its messages
mapped to IncomingMessage (`messages.py`), its webhooks (`webhooks.py`)."""
