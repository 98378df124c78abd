"""``python -m heron ...``: the same as the ``heron`` command (for scripts that start heron with the
interpreter they run on)."""

from heron.cli import main

raise SystemExit(main())
