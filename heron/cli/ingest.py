"""`heron ingest`: filled by the memory issue."""
