"""``check``: re-run a profile (or a submission bundle) into a scratch store and compare every
metric with the committed records."""

from __future__ import annotations

from pathlib import Path

from llmrec_benchmark.commands.common import builtin_registry, execute, selection, store_for
from llmrec_benchmark.commands.options import Options
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.profiles import load_profile


def rerun_and_compare(args: Options, profile, committed: list[dict], where: str, make_units) -> int:
    """Run ``make_units(store)`` into a scratch store (or ``--keep``) and compare with ``committed``."""
    import tempfile

    from llmrec_benchmark.engine.regression import compare, drift_table
    from llmrec_benchmark.store.results import ResultStore, current_records

    with tempfile.TemporaryDirectory(prefix="benchmark-check-") as scratch:
        store = ResultStore(Path(args.keep or scratch) / profile.name)
        units = make_units(store)
        print(f"Check: re-running {len(units)} runs of profile '{profile.name}' into {store.root}; "
              f"tolerance {profile.regression_tolerance} per metric")
        execute(args, profile, store, units)
        drifts = compare(committed, store.latest(), profile.regression_tolerance)
    if drifts:
        print(f"DRIFT: {len(drifts)} values differ from {where}:")
        print(drift_table(drifts))
        return 1
    current = len(current_records(committed))  # superseded configs stay in records.jsonl as history only
    print(f"OK: {current} committed records reproduced within {profile.regression_tolerance}.")
    return 0


def check_bundle(args: Options) -> int:
    from llmrec_benchmark.engine.planning import plan
    from llmrec_benchmark.submission.bundle import bundle_units, verify_bundle

    folder = Path(args.bundle)
    manifest = verify_bundle(folder)
    print(f"Bundle {folder}: {len(manifest['files'])} files match {folder / 'MANIFEST.json'}")
    records, seeds, datasets = bundle_units(folder)
    profile, registry = load_profile(str(folder / "profile.yaml")), builtin_registry()

    def units(store):
        return [u for spec, spec_seeds in seeds.items()
                for u in plan(profile, registry, [spec], datasets, spec_seeds, store, force=True, seeds_given=True,
                              tuned_from=folder)]

    return rerun_and_compare(args, profile, records, str(folder / "records.jsonl"), units)


def cmd_check(args: Options) -> int:
    """Re-run the profile (or a submission bundle) into a scratch store and compare every metric
    with the committed records."""
    from llmrec_benchmark.engine.planning import plan

    if args.bundle:
        return check_bundle(args)
    profile, registry, methods, datasets, seeds = selection(args)
    committed_store = store_for(args, profile, datasets)
    wanted = set(methods)
    committed = [r for r in committed_store.latest()
                 if r["method"] in wanted and r["dataset"] in datasets and (r["seed"] in seeds)]
    if not committed:
        raise BenchmarkError(f"no committed records for these methods in {committed_store.root}; nothing to check against")
    return rerun_and_compare(
        args, profile, committed, str(committed_store.records_path),
        lambda store: plan(profile, registry, methods, datasets, seeds, store, force=True, seeds_given=bool(args.seeds),
                           tuned_from=committed_store.root),
    )
