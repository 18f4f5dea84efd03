"""What several commands share: the built-in method table, the selection of methods, datasets and
seeds, the results store, the runner specification and the executor."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from llmrec_benchmark.commands.options import Options
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.paths import default_mirror
from llmrec_benchmark.profiles import load_profile

if TYPE_CHECKING:
    from llmrec_benchmark.engine.registry import Registry

log = logging.getLogger("llmrec_benchmark")


def builtin_registry() -> Registry:
    """The built-in methods (``llmrec_methods.BUILTIN_METHODS``) plus installed plugins; imported
    lazily, since the method packages pull in torch and the LLM stack, which ``--help`` does not need."""
    from llmrec_benchmark.engine.registry import Registry
    from llmrec_methods import BUILTIN_METHODS

    return Registry(BUILTIN_METHODS)


def _top_level_commas(text: str) -> list[str]:
    """Split at the commas outside brackets, so a variant with several overrides stays one spec:
    ``sasrec-ce,sasrec-sampled[loss=bce,negatives=1]`` is two specs, not three."""
    parts, depth, start = [], 0, 0
    for at, char in enumerate(text):
        depth += (char == "[") - (char == "]")
        if char == "," and depth == 0:
            parts.append(text[start:at])
            start = at + 1
    return parts + [text[start:]]


def parse_csv(text: str | None, option: str | None = None) -> list[str] | None:
    """Comma-separated values, or None when the option was not given. ``option`` names it for the
    error when it was given but lists nothing (``--methods ""`` must not mean "all")."""
    if text is None:
        return None
    values = [p.strip() for p in _top_level_commas(text) if p.strip()]
    if not values and option:
        raise BenchmarkError(f"{option} is empty; expected comma-separated names, e.g. {option} pop,sasrec-ce")
    return values or None


def parse_seeds(text: str | None) -> list[int] | None:
    values = parse_csv(text, "--seeds")
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


def duration(seconds: float) -> str:
    """Seconds under 90 s, minutes under 90 min, else hours and minutes ("3 h 05 min")."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def store_for(args, profile, datasets: Sequence[str]):
    """The command's results store for these datasets (``benchmark.store.location`` decides; says
    so when it is not the committed board)."""
    from llmrec_benchmark.data.catalog import available_datasets
    from llmrec_benchmark.profiles import profile_file
    from llmrec_benchmark.store.location import store_root
    from llmrec_benchmark.store.results import ResultStore

    root, why = store_root(args.results, profile.name, profile_file(args.profile), datasets, available_datasets())
    if why:
        log.info("results go to %s, not a committed board: %s (pass --results to choose the folder)", root, why)
    return ResultStore(root)


def method_specs(args: Options, profile, registry) -> list[str]:
    """The specs to run: ``--methods`` or the profile's; a bare method name brings its ablation and
    config variants, and the published configurations its reproduction targets name, unless
    ``--no-variants``; a spec with ``[...]`` is taken as is."""
    from llmrec_benchmark.engine.planning import published_configurations
    from llmrec_benchmark.method import parse_variant

    names = parse_csv(args.methods, "--methods") or list(profile.methods)
    if args.no_variants:
        return names
    published = list(published_configurations(profile, registry))
    methods = [v for name in names for v in (
        registry.ablation_variants(name) + [p for p in published if parse_variant(p).base == name]
        if "[" not in name else [name])]
    return list(dict.fromkeys(methods))


def selection(args: Options):
    """(profile, registry, method specs, datasets, seeds) that ``run`` and ``check`` act on."""
    profile = load_profile(args.profile)
    registry = builtin_registry()
    methods = method_specs(args, profile, registry)
    datasets = parse_csv(args.datasets, "--datasets") or list(profile.datasets)
    if len(set(datasets)) != len(datasets):
        raise BenchmarkError(f"--datasets lists a dataset more than once: '{args.datasets}'")
    return profile, registry, methods, datasets, parse_seeds(args.seeds) or list(profile.seeds)


def runner_spec(args: Options, profile, store):
    """Device (``--device`` or the profile's), mirror and torch threads for runners of this command."""
    import torch

    from llmrec_benchmark.engine.executors import RunnerSpec
    from llmrec_benchmark.engine.runner import resolve_device

    device = resolve_device(args.device or profile.device)
    return RunnerSpec(profile, store.root, str(device), Path(args.mirror) if args.mirror else default_mirror(),
                      torch.get_num_threads())


def make_runner(args: Options, profile, store):
    return runner_spec(args, profile, store).runner()


def execute(args: Options, profile, store, units):
    """Run the pending units with the chosen executor; failures are printed (and returned)."""
    from llmrec_benchmark.engine.executors import make_executor

    spec = runner_spec(args, profile, store)
    execution = make_executor(args.executor, spec, args.jobs, args.address, args.retries,
                              isolate=args.isolate).execute(
        units, progress=not args.no_progress)
    if execution.failures:
        print(f"FAILED: {len(execution.failures)} runs failed after retries (their records are missing; "
              f"a re-run runs only them):\n{execution.failure_table()}")
    return execution


def method_cards(registry) -> dict[str, dict]:
    """Every registered method's card fields, for the HTML board."""
    from dataclasses import asdict

    return {name: asdict(registry.get(name).card) for name in registry.loadable()[0]}


def code_hashes(registry, store) -> dict[str, str]:
    """Current code hash of every method the store has records of (for the board's stale marks);
    a method no longer registered gets none, so its rows show as stale."""
    from llmrec_benchmark.store.code_hash import method_code_hash

    hashes = {}
    for name in {r["base_method"] for r in store.latest()}:
        try:
            hashes[name] = method_code_hash(registry.get(name).__module__)
        except BenchmarkError:
            continue
    return hashes
