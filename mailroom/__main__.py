"""`python -m mailroom`: the command line."""

from __future__ import annotations

from mailroom.cli import main

main()
