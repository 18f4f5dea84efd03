"""The one-off artifact part of a run's time estimate, and which CPUs measured the estimate
(``run --dry-run`` and the plan it prints).

``planning.estimate_seconds`` estimates each run from earlier records (training plus evaluation).
One-off artifacts (LLM summaries, teachers, architecture searches, DELRec's stage 1) are built
once per dataset and then reused from ``datasets/cache``. A record's notes name each artifact its
run used, with what building it cost (``build_seconds``, or a teacher's ``train_seconds``) and,
where it has one, its cache key. The estimate from an empty cache is the sum over the distinct
artifacts of the planned runs' own records, each counted once however many runs share it.

Decided here: only the records the runs' time estimate rests on count
(``planning.measured_records``), and of those only the newest configuration per planned run.
Summing every record of the store, as this module did before 2026-12-01, also counted artifacts
of superseded configurations (the quick board's dry-run said 31.5 min of artifacts for 23.7 min
measured). The CPU note names the CPUs of the same records.
"""

from __future__ import annotations

from typing import Any, Iterable

from llmrec_benchmark.engine.planning import RunUnit, measured_records
from llmrec_benchmark.profiles import Profile
from llmrec_benchmark.store.provenance import cpu_identity, cpu_label


def planned_records(units: Iterable[RunUnit], latest: list[dict[str, Any]], profile: Profile) -> list[dict[str, Any]]:
    """The records the planned ``units``' estimates rest on, the newest configuration of each
    (``latest``: the store's ``latest()``); read once, then passed to the functions below."""
    chosen: dict[str, dict[str, Any]] = {}
    for unit in units:
        found = measured_records(unit, latest, profile)
        if found:
            newest = max(found, key=lambda r: r["created_at"])["config_hash"]
            chosen.update((r["record_id"], r) for r in found if r["config_hash"] == newest)
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


def artifact_seconds(records: Iterable[dict[str, Any]]) -> float:
    """Seconds the planned runs spend building one-off artifacts from an empty cache, as their
    ``planned_records`` measured them."""
    return sum(artifact_builds(records).values())


def measuring_cpus(records: Iterable[dict[str, Any]]) -> list[str]:
    """The CPU labels of the records an estimate rests on (see ``store.provenance.cpu_label``)."""
    return sorted({cpu_label(r.get("hardware", {})) for r in records})


def cpu_warning(records: Iterable[dict[str, Any]]) -> str | None:
    """A line for the plan when the estimate was measured on another CPU (or one not recorded)
    than this machine's, since the same core count ran 1.5-1.8x apart between two CPUs here."""
    here = cpu_label(cpu_identity())
    measured = measuring_cpus(records)
    if not measured or measured == [here]:
        return None
    return (f"Note: these estimates were measured on {'; '.join(measured)}; this machine is {here}. Times on "
            "another CPU can differ by 1.5x or more at the same core count.")
