"""The one-off artifact part of a run's time estimate, and which CPUs measured the estimate
(``run --dry-run`` and the plan it prints).

``planning.estimate_seconds`` estimates each run from earlier records (training plus evaluation).
One-off artifacts (LLM summaries, teachers, architecture searches, DELRec's stage 1) are built
once per dataset and then reused from ``datasets/cache``. A record's notes name each artifact its
run used, with what building it cost (``build_seconds``, or a teacher's ``train_seconds``) and,
where it has one, its cache key. The estimate from an empty cache is the sum over the distinct
artifacts of the planned runs' own records, each counted once however many runs share it.

Decided here: only the planned runs' records count (by config hash, else the latest records of
the same variant, else of its full model, as ``planning.estimate_seconds`` chooses). Summing every
record of the store, as this module did before 2026-12-01, also counted artifacts of superseded
configurations (the quick board's dry-run said 31.5 min of artifacts for 23.7 min measured).
"""

from __future__ import annotations

from typing import Any, Iterable

from llmrec_benchmark.store.provenance import cpu_identity, cpu_label


def _planned_records(units: Iterable[Any], latest: list[dict[str, Any]]) -> list[dict[str, Any]]:
    chosen: dict[str, dict[str, Any]] = {}
    for unit in units:
        same_data = [r for r in latest if r["dataset"] == unit.card.name]
        for key, value in (("config_hash", unit.config_hash), ("method", unit.method.name),
                           ("method", unit.method.variant.base)):
            found = [r for r in same_data if r[key] == value]
            if found:
                newest = max(found, key=lambda r: r["created_at"])["config_hash"]
                chosen.update((r["record_id"], r) for r in found if r["config_hash"] == newest)
                break
    return list(chosen.values())


def artifact_builds(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], float]:
    """Seconds each distinct artifact cost to build, keyed by (dataset, artifact, cache key or base
    method), from the records' notes; a record whose notes name no artifact but whose timing says
    one was built counts under its base method."""
    builds: dict[tuple[str, str, str], float] = {}
    for record in records:
        named = False
        for name, note in (record.get("training", {}).get("notes") or {}).items():
            if not isinstance(note, dict):
                continue
            seconds = note.get("build_seconds")
            if seconds is None and "cache_key" in note:
                seconds = note.get("train_seconds")
            if seconds is None:
                continue
            named = True
            key = (record["dataset"], name, str(note.get("cache_key") or record["base_method"]))
            builds[key] = max(builds.get(key, 0.0), float(seconds))
        built = float(record["timing"].get("artifact_build_s") or 0.0)
        if not named and built > 0:
            key = (record["dataset"], "artifact", record["base_method"])
            builds[key] = max(builds.get(key, 0.0), built)
    return builds


def artifact_seconds(units: Iterable[Any], latest: list[dict[str, Any]]) -> float:
    """Seconds the planned ``units`` spend building one-off artifacts from an empty cache, as
    their records measured them (``latest``: the store's ``latest()``)."""
    return sum(artifact_builds(_planned_records(units, latest)).values())


def measuring_cpus(units: Iterable[Any], latest: list[dict[str, Any]]) -> list[str]:
    """The CPU labels of the records the estimate rests on (see ``store.provenance.cpu_label``)."""
    return sorted({cpu_label(r.get("hardware", {})) for r in _planned_records(units, latest)})


def cpu_warning(units: Iterable[Any], latest: list[dict[str, Any]]) -> str | None:
    """A line for the plan when the estimate was measured on another CPU (or one not recorded)
    than this machine's, since the same core count ran 1.5-1.8x apart between two CPUs here."""
    here = cpu_label(cpu_identity())
    measured = measuring_cpus(units, latest)
    if not measured or measured == [here]:
        return None
    return (f"Note: these estimates were measured on {'; '.join(measured)}; this machine is {here}. Times on "
            "another CPU can differ by 1.5x or more at the same core count.")
