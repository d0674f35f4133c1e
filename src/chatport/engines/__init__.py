"""How an import runs: in this process (`ingest.waha_import`, the default) or on Temporal
(`engines.temporal`, the `chatport[temporal]` extra). Both run the same chunk step."""
