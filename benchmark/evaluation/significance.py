"""Paired significance over users: a two-sided Wilcoxon signed-rank test of per-user
differences, each user's value averaged over seeds first, and the Holm correction for a family of
such tests. Users, not user-seed pairs, are the independent units of every paired test in the
suite (board marks, ablation p-values and slice marks alike)."""

from __future__ import annotations

import numpy as np
from scipy import stats

ALPHA = 0.05  # family-wise level of every mark the boards print


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (monotone, capped at 1), in the input order."""
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = np.empty(m)
    running = 0.0
    for step, index in enumerate(order):
        running = max(running, min(1.0, (m - step) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def seed_average(per_seed: list[dict[int, float]]) -> dict[int, float]:
    """Each user's value averaged over the seeds, for the users every seed evaluated: users, not
    user-seed pairs, are the independent units of every paired test in the suite (board marks,
    ablation p-values and slice marks alike)."""
    users = set.intersection(*(set(p) for p in per_seed))
    return {u: float(np.mean([p[u] for p in per_seed])) for u in users}


def wilcoxon_over_users(a: dict[int, float], b: dict[int, float],
                        users: set[int] | None = None) -> tuple[float | None, float]:
    """Two-sided Wilcoxon signed-rank p over the users both hold (restricted to ``users`` when
    given) of ``a - b``, and the mean difference; p is None when nothing differs."""
    shared = a.keys() & b.keys() if users is None else a.keys() & b.keys() & users
    differences = np.asarray([a[u] - b[u] for u in sorted(shared)])
    if differences.size == 0 or not np.any(differences):
        return None, 0.0
    return float(stats.wilcoxon(differences).pvalue), float(differences.mean())
