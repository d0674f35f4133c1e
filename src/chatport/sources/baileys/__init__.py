"""Baileys history-sync JSON (`history.py`)."""
