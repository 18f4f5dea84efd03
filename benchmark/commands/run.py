"""``run``: plan, print the plan and estimate, run pilots then the rest, render the board."""

from __future__ import annotations

import time
from pathlib import Path

from llmrec_benchmark.commands.common import code_hashes, duration, execute, method_cards, selection, store_for
from llmrec_benchmark.commands.options import Options
from llmrec_benchmark.errors import BenchmarkError


def cmd_run(args: Options) -> int:
    from dataclasses import replace

    from llmrec_benchmark.boards.leaderboard import render
    from llmrec_benchmark.engine.estimates import artifact_seconds, cpu_warning, planned_records
    from llmrec_benchmark.engine.planning import estimate_seconds, pilots, plan
    from llmrec_benchmark.paths import cache_dir

    if args.all and args.methods:
        raise BenchmarkError("use either --all or --methods, not both")
    profile, registry, methods, datasets, seeds = selection(args)
    store = store_for(args, profile, datasets)

    def make_plan():
        return plan(profile, registry, methods, datasets, seeds, store, args.force, seeds_given=bool(args.seeds),
                    keep_stale=args.keep_stale)

    units = make_plan()
    pending = [u for u in units if u.pending]
    latest = store.latest()
    estimates = [estimate_seconds(u, latest, profile) for u in pending]
    measured = sum(1 for _, m in estimates if m)
    done = sum(u.done for u in units)
    print(f"Records: {store.records_path}")
    print(f"Plan: profile '{profile.name}', {len(units)} runs ({done} already done with the current code, skipped), "
          f"{len(methods)} methods x {len(datasets)} datasets x {len(seeds)} seeds")
    for unit, (seconds, was_measured) in zip(pending, estimates):
        kind = "measured before" if was_measured else "upper bound: the safety cap"
        print(f"  - {unit.label}: protocols {', '.join(unit.protocols)}; ~{duration(seconds)} ({kind})")
    for unit in units:
        if unit.blocked:
            print(f"  - {unit.label}: {unit.blocked}")
    total = sum(s for s, _ in estimates)
    basis = planned_records(pending, latest, profile)
    artifacts = artifact_seconds(basis)
    print(f"Estimated time: {duration(total)} for the runs ({measured}/{len(pending)} estimates from earlier runs on this "
          "store; the rest are bounded by the profile's per-run safety cap), plus one-off artifacts (summaries, "
          f"teachers, searches, stage 1) when the cache is empty: {duration(artifacts)} as measured by this store's records")
    warning = cpu_warning(basis)
    if warning:
        print(warning)
    if args.dry_run:
        return 0
    with store.exclusive("run"):
        started = time.perf_counter()
        cache_was_empty = not any(cache_dir().glob("*/*")) if cache_dir().exists() else True
        records_before = len(store.read_all())

        def log_invocation(interrupted: bool, failures: int) -> float:
            """One ``run-log.jsonl`` line, also for an interrupted invocation: a board built over
            several invocations is timed end to end by the sum of their lines."""
            elapsed = time.perf_counter() - started
            store.log_invocation({
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(elapsed, 1),
                # runs that landed records in this invocation (a re-run of a capped or stale run counts too)
                "ran": len({r["config_hash"] for r in store.read_all()[records_before:]}), "failures": failures,
                "interrupted": interrupted,
                "force": bool(args.force), "profile": profile.name, "methods": methods, "datasets": datasets,
                "seeds": list(seeds), "cache_empty_at_start": cache_was_empty,
            })
            return elapsed

        try:
            # The first seed of every full model runs first: a method whose first seed hits the safety cap
            # gets no further seeds or variants (``plan`` blocks them once that record exists).
            first = pilots(units)
            execution = execute(args, profile, store, first)
            ran_first = {u.config_hash for u in first}
            rest = [replace(u, done=True) if u.config_hash in ran_first else u for u in make_plan()]
            announced = {u.config_hash for u in units if u.blocked}
            for unit in rest:
                if unit.blocked and unit.config_hash not in announced:
                    print(f"  - {unit.label}: {unit.blocked}")
            second = execute(args, profile, store, rest)
            execution.ran += second.ran
            execution.failures += second.failures
            path = render(store, profile.name, method_cards(registry), code_hashes(registry, store))
        except KeyboardInterrupt:
            log_invocation(True, 0)
            raise
        elapsed = log_invocation(False, len(execution.failures))
        print(f"Ran {execution.ran} runs in {duration(elapsed)}.")
        print(f"Leaderboard: {path}")
        if not pending:
            explain_nothing_ran(profile, store, units, registry, methods, datasets, seeds, path)
        return 1 if execution.failures else 0


def explain_nothing_ran(profile, store, units, registry, methods, datasets, seeds, board: Path) -> None:
    """What a run that had nothing to do did, and how to reproduce the board (a fresh clone's first
    ``run`` finds every committed record already there)."""
    from llmrec_benchmark.engine.estimates import artifact_seconds, measuring_cpus, planned_records
    from llmrec_benchmark.engine.planning import estimate_seconds, plan

    everything = [u for u in plan(profile, registry, methods, datasets, seeds, store, True) if u.blocked is None]
    latest = store.latest()
    runs = sum(estimate_seconds(u, latest, profile)[0] for u in everything)
    basis = planned_records(everything, latest, profile)
    artifacts, measured_on = artifact_seconds(basis), measuring_cpus(basis)
    hardware = sorted({str(r.get("hardware", {}).get("cpu_count", "?")) for r in latest})
    print(f"Nothing to run: all {sum(u.done for u in units)} runs of profile '{profile.name}' are already in "
          f"{store.records_path} with the current code, so the board was only re-rendered from those records: {board}.")
    print(f"To reproduce it: `python -m benchmark run --all --force --profile {profile.name}` re-runs every run "
          f"(measured: {duration(runs)} of runs plus {duration(artifacts)} of one-off artifacts from an empty cache, on "
          f"{'/'.join(hardware)} CPU cores of {'; '.join(measured_on) or 'unknown CPUs'}; see the board's cost table), "
          f"or `python -m benchmark check --profile "
          f"{profile.name}` re-runs them into a scratch store and compares every metric with these records.")
