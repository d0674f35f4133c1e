"""The in-process engine: import jobs run in threads of this process (`runner.py`)."""
