"""An open benchmark harness for LLM-based and classic sequential recommenders.

Imported as ``llmrec_benchmark`` (this folder is ``benchmark/`` in the repository; pyproject.toml
maps it), so that a user's own ``benchmark/`` folder cannot shadow it. The harness owns data,
protocols, evaluation, training budgets and results; it knows nothing about any particular
method. Methods live in ``llmrec_methods`` (the repository's ``methods/`` folder) or in plugins
registered under the ``llmrec_benchmark.methods`` entry-point group.
"""

__version__ = "0.1.0"
