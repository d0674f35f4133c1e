"""What the API (`api.py`) and the console (`console.py`) read."""
