"""The one-off artifact part of a run's time estimate (``run --dry-run`` and the plan it prints).

``planning.estimate_seconds`` estimates each run from earlier records (training plus evaluation).
One-off artifacts (LLM summaries, teachers, architecture searches, DELRec's stage 1) are built
once per dataset and then reused from ``datasets/cache``; a record keeps what building them cost
inside its run (``timing.artifact_s``). Their sum over the store's current records is the
artifact time a run from an empty cache spends; it is printed apart from the runs' time because
a warm cache skips it.
"""

from __future__ import annotations

from llmrec_benchmark.store.results import ResultStore


def artifact_seconds(store: ResultStore, methods: set[str], datasets: set[str]) -> float:
    """Seconds the store's records spent building artifacts for these base methods and datasets
    (each run counted once, not once per protocol)."""
    per_run: dict[str, float] = {}
    for record in store.latest():
        if record["base_method"] in methods and record["dataset"] in datasets:
            per_run[record["config_hash"]] = float(record["timing"].get("artifact_s") or 0.0)
    return sum(per_run.values())
