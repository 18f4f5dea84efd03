"""Evaluation layer: the metrics, the evaluation protocols (full ranking, 1+N candidates),
paired significance tests and confidence intervals. Imports only the foundation, ``data`` and
``method``."""
