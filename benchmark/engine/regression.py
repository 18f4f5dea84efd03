"""Regression check: compare a fresh re-run of a profile with its committed records.

Records are matched by (method, dataset, protocol, seed). Every metric of a matched pair must
agree within the profile's ``regression_tolerance`` (0 = exactly, the expectation on the same
machine for runs bounded by epochs or patience rather than the wall clock). A committed record
with no fresh counterpart, or a fresh record that was never committed, is a drift too: the board
would no longer describe what the code produces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from llmrec_benchmark.evaluation.metrics import METRICS
from llmrec_benchmark.store.results import current_records

Key = tuple[str, str, str, int]


@dataclass(frozen=True)
class Drift:
    key: Key
    metric: str
    committed: float | None
    now: float | None

    @property
    def delta(self) -> float | None:
        return None if self.committed is None or self.now is None else self.now - self.committed

    def cells(self) -> list[str]:
        def show(value: float | None) -> str:
            return "missing" if value is None else f"{value:.6f}"

        method, dataset, protocol, seed = self.key
        delta = "–" if self.delta is None else f"{self.delta:+.6f}"
        return [method, dataset, protocol, str(seed), self.metric, show(self.committed), show(self.now), delta]


def _by_key(records: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    return {(r["method"], r["dataset"], r["protocol"], r["seed"]): r for r in current_records(records)}


def compare(committed: list[dict[str, Any]], now: list[dict[str, Any]], tolerance: float) -> list[Drift]:
    """Every metric that moved by more than ``tolerance``, and every unmatched record."""
    old, new = _by_key(committed), _by_key(now)
    drifts: list[Drift] = []
    for key in sorted(old.keys() | new.keys(), key=str):
        if key not in new:
            drifts.append(Drift(key, "(record)", old[key]["metrics"]["NDCG@10"], None))
        elif key not in old:
            drifts.append(Drift(key, "(record)", None, new[key]["metrics"]["NDCG@10"]))
        else:
            for metric in METRICS:
                a, b = old[key]["metrics"][metric], new[key]["metrics"][metric]
                same_nan = math.isnan(a) and math.isnan(b)
                if not same_nan and not abs(b - a) <= tolerance:
                    drifts.append(Drift(key, metric, a, b))
    return drifts


def drift_table(drifts: list[Drift]) -> str:
    header = ["method", "dataset", "protocol", "seed", "metric", "committed", "now", "delta"]
    rows = [header] + [d.cells() for d in drifts]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
