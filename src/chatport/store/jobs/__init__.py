"""Work queues in the database: import jobs and checkpoints (`import_jobs.py`) and their leases
(`leases.py`), bursts (`bursts.py`), agent jobs (`agent_jobs.py`), wake-ups between processes
(`wakeups.py`)."""
