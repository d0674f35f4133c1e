"""The agent loop: bursts of bubbles -> one agent job (`debouncer.py`) -> the agent called and
its reply stored and sent through WAHA (`delivery.py`), both woken by `waking_loop.py`."""
