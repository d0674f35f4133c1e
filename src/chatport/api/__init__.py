"""The HTTP API (`chatport serve`): WAHA webhooks, health and metrics."""
