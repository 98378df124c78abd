"""The code-execution sandbox: a persistent Python worker inside bubblewrap."""
