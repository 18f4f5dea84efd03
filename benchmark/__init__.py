"""An open benchmark harness for LLM-based and classic sequential recommenders.

The harness (this package) owns data, protocols, evaluation, training budgets and results; it
knows nothing about any particular method. Methods live in the top-level ``methods`` package or in
plugins registered under the ``benchmark.methods`` entry-point group.
"""

__version__ = "0.1.0"
