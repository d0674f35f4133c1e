"""The back ends: engines and connection settings (`engine.py`), the bulk seam every write goes
through (`bulk.py`: `BulkOps`), and its SQLite and PostgreSQL halves."""
