"""``python -m benchmark``: the command-line entry point."""

from llmrec_benchmark.cli import main

raise SystemExit(main())
