"""Process plumbing: child processes and the frames they exchange, heap tuning, the event
loop choice."""
