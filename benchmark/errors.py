"""User-facing errors.

A ``BenchmarkError`` is bad input or an unmet precondition that the user can fix. The CLI prints
its message as one line and exits with status 2, without a traceback; everything else is a bug.
"""


class BenchmarkError(Exception):
    """A problem with the user's input or environment, stated so that it names the culprit."""
