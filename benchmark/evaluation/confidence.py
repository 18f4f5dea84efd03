"""Confidence intervals over seeds, shared by the main boards and the ablation tables."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_ci(values: list[float]) -> tuple[float, float | None]:
    """Mean and the half-width of its 95% t-interval (``None`` for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size < 2:
        return float(array.mean()), None
    sem = array.std(ddof=1) / math.sqrt(array.size)
    return float(array.mean()), float(stats.t.ppf(0.975, array.size - 1) * sem)
