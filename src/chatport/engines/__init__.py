"""Where an import job runs (`domain.model.Engine`): `inprocess/` runs it in a thread of this
process (the default); `temporal/` as a workflow on Temporal workers (the `chatport[temporal]`
extra). Both drive the same chunk step, `ingest.waha.import_step.WahaImport.write_chats`."""
