"""Commands: what ``run``, ``check``, ``submit``, ``tune``, ``validate``, ``list``, ``datasets``,
``leaderboard``, ``weights`` and ``new-method`` do, given typed ``Options``. The CLI only parses
arguments into ``Options`` and calls these; the Python API (``llmrec_benchmark.api``) calls them
too. This is the one layer that ties the harness to the built-in method table
(``llmrec_methods``); the layers below know no method."""
