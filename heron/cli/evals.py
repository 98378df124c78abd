"""`heron eval`: filled by the evals issue."""
