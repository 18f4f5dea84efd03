"""``python -m benchmark``: the command-line entry point."""

from benchmark.cli import main

raise SystemExit(main())
