"""Submission layer, for paper authors: the ``new-method`` scaffold, ``validate`` checks and
hashed submission bundles."""
