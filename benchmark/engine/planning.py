"""Planning: which (method variant x dataset x seed) units a command must run, which are done,
which are blocked, and how long the missing ones should take. Planning decides what runs, never
what a run computes, so this module is not part of any record's code hash (``benchmark.store.code_hash``):
changing a planning rule does not mark rows stale.

The wall-clock cap is a safety net, not a setting that defines a run: it is left out of the
profile digest (so out of every unit's config hash) and kept in each record's ``budget``. A record
that converged is valid under any cap; a record that hit a cap is done only while the profile's
cap is not larger, so raising the cap re-runs exactly the runs that hit the old one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from llmrec_benchmark.data.cards import DatasetCard
from llmrec_benchmark.data.catalog import load_card
from llmrec_benchmark.engine.registry import Registry, ResolvedMethod
from llmrec_benchmark.engine.tuning import load_tuned
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.evaluation.protocols import protocol_name
from llmrec_benchmark.method import parse_variant
from llmrec_benchmark.profiles import Profile
from llmrec_benchmark.store.code_hash import method_code_hash
from llmrec_benchmark.store.results import ResultStore
from llmrec_benchmark.store.run_status import CAPPED


@dataclass(frozen=True)
class RunUnit:
    method: ResolvedMethod
    card: DatasetCard
    seed: int
    config_hash: str
    protocols: tuple[str, ...]
    done: bool
    skipped: tuple[tuple[str, str], ...] = ()  # (protocol, why it is not run) for the leaderboard
    tuning: dict[str, Any] | None = None  # the stored tuning outcome whose parameters the config holds
    code_hash: str = ""  # benchmark.store.code_hash of the method's code when planned
    blocked: str | None = None  # why this unit is not run although it has no record (see ``plan``)

    @property
    def label(self) -> str:
        return f"{self.method.name} on {self.card.name} (seed {self.seed})"

    @property
    def is_variant(self) -> bool:
        return self.method.variant.is_variant

    @property
    def pending(self) -> bool:
        return not self.done and self.blocked is None


def pilots(units: list[RunUnit]) -> list[RunUnit]:
    """The first seed of each (full model, dataset): the run that must converge before the other
    seeds and the variants of that method are worth their time (see ``plan``)."""
    first: dict[tuple[str, str], RunUnit] = {}
    for unit in units:
        key = (unit.method.name, unit.card.name)
        if not unit.is_variant and (key not in first or unit.seed < first[key].seed):
            first[key] = unit
    return [u for u in first.values() if u.pending]


def settles(record: dict[str, Any], cap: float) -> bool:
    """Whether ``record`` answers its unit under a profile whose safety cap is ``cap``: a converged
    run always does; a run that hit the cap only when that cap was at least as large as ``cap``
    (a larger cap now might let it converge)."""
    if record["training"]["stopped_by"] != CAPPED:
        return True
    return float((record.get("budget") or {}).get("wall_clock_s", 0.0)) >= cap


def unconverged_pilot(store: ResultStore, config_hash: str, code_hash: str, cap: float) -> dict[str, Any] | None:
    """The current-code record of a pilot unit (its config hash) if it hit a safety cap at least
    as large as ``cap``, i.e. the method did not converge under this profile; else None."""
    for record in store.latest():
        if (record["config_hash"] == config_hash and record.get("code_hash") == code_hash
                and record["training"]["stopped_by"] == CAPPED and settles(record, cap)):
            return record
    return None


def out_of_scope(profile: Profile, method: ResolvedMethod, seed: int) -> str | None:
    """Why ``profile.scope`` leaves this (variant, seed) out, or None when it runs."""
    entry = profile.scope.get(method.variant.base)
    if entry is None:
        return None
    is_variant = method.variant.is_variant
    variants = entry["variants"]
    allowed = variants if isinstance(variants, bool) else method.name[method.name.find("[") + 1:-1] in variants
    if (is_variant and not allowed) or (not is_variant and seed not in entry["seeds"]):
        return f"not run in profile '{profile.name}': {entry['why']}"
    return None


# The suite's packages were imported as ``benchmark``/``methods`` until 2026-11-30; a config hash
# names a built-in class by those names, so renaming the packages kept every config hash (and every
# committed record current). A plugin's class path is used as it is.
LEGACY_PACKAGE_NAMES = {"llmrec_methods": "methods", "llmrec_benchmark": "benchmark"}


def canonical_module(module: str) -> str:
    top, dot, rest = module.partition(".")
    return LEGACY_PACKAGE_NAMES.get(top, top) + dot + rest


def published_configurations(profile: Profile, registry: Registry) -> dict[str, set[str]]:
    """Specs that only the profile's reproduction targets name, each with the datasets of its
    targets: a published configuration (e.g. S3-Rec's BCE SASRec on Beauty) that is neither one of
    the profile's methods nor a variant its card declares. Such a spec runs on its targets'
    datasets only, since a paper's per-dataset settings say nothing about the other datasets."""
    if not profile.reproduction:
        return {}
    declared = {spec for name in profile.methods for spec in registry.ablation_variants(name)}
    only: dict[str, set[str]] = {}
    for target in profile.reproduction:
        name = parse_variant(target["method"]).name
        if name not in declared:
            only.setdefault(name, set()).add(target["dataset"])
    return only


def unit_hash(profile: Profile, method: ResolvedMethod, card: DatasetCard, seed: int) -> str:
    """Everything that determines a unit's numbers: method, config, data card, profile, seed."""
    payload = {
        "method": method.name,
        "class": f"{canonical_module(method.cls.__module__)}.{method.cls.__qualname__}",
        "config": method.config,
        "dataset": card.digest(),
        "profile": profile.digest(),
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plan(
    profile: Profile, registry: Registry, methods: list[str], datasets: list[str], seeds: list[int],
    store: ResultStore, force: bool, seeds_given: bool = False, tuned_from: Path | None = None,
    keep_stale: bool = False,
) -> list[RunUnit]:
    """Units for every (method spec, dataset, seed), except that a spec only a reproduction target
    names runs on its targets' datasets only (``published_configurations``). Variants (components
    off or config overrides) use the profile's ``ablation_seeds`` unless seeds were given explicitly. A method config's
    ``max_candidates`` drops the larger candidate boards (a budget decision the board then states).
    Tuned parameters stored under ``tuned_from`` (default: the store's root) enter the config of
    every spec of that method on that dataset.

    A unit is done when the store holds its config hash computed by the current code (the
    method's ``code_hash``) and that record settles it under the profile's cap (``settles``); a
    record from older code is stale and its unit runs again, unless ``keep_stale``.

    The stopping rule is patience on valid NDCG@10 (or a declared epoch count); the wall clock is a
    safety cap. When the store holds a current-code record of a method's full model on its first
    seed that hit the cap, the method's other seeds and variants on that dataset are ``blocked``:
    they would not converge either, and the board lists the method as not converged, with the
    measured shortfall, instead of spending the profile's time on more capped runs.
    """
    cap = profile.budget.wall_clock_s
    completed = {} if force else store.completed_code(lambda record: settles(record, cap))
    cards = [load_card(d) for d in datasets]
    tuned_root = store.root if tuned_from is None else tuned_from
    units = []
    published_only = published_configurations(profile, registry)
    for spec, card in ((s, c) for s in methods for c in cards):
        variant = parse_variant(spec)
        if card.name not in published_only.get(variant.name, {card.name}):
            continue
        tuning = load_tuned(tuned_root, variant.base, card.name)
        resolved = registry.resolve(spec, profile.method_config, tuning["params"] if tuning else None)
        limit = resolved.config.get("max_candidates")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise BenchmarkError(f"method '{spec}': 'max_candidates' must be an integer or null, found {limit!r}")
        boards = [n for n in profile.candidates if limit is None or n <= limit]
        protocols = (("full",) if resolved.cls.card.full_ranking else ()) + tuple(protocol_name(n) for n in boards)
        skipped = tuple(
            (protocol_name(n), f"not run: over this profile's budget (max_candidates {limit})")
            for n in profile.candidates if n not in boards
        )
        unit_seeds = seeds
        if resolved.variant.is_variant and profile.ablation_seeds is not None and not seeds_given:
            unit_seeds = [s for s in seeds if s in profile.ablation_seeds]
        code = method_code_hash(resolved.cls.__module__)
        for seed in unit_seeds:
            h = unit_hash(profile, resolved, card, seed)
            done = h in completed and (keep_stale or code in completed[h])
            units.append(RunUnit(resolved, card, seed, h, protocols, done, skipped, tuning, code,
                                 None if done else out_of_scope(profile, resolved, seed)))
    first_seed: dict[tuple[str, str], int] = {}
    for unit in units:
        if not unit.is_variant:
            key = (unit.method.variant.base, unit.card.name)
            first_seed[key] = min(unit.seed, first_seed.get(key, unit.seed))
    for index, unit in enumerate(units):
        key = (unit.method.variant.base, unit.card.name)
        if unit.done or unit.blocked or key not in first_seed or (not unit.is_variant and unit.seed == first_seed[key]):
            continue
        tuning = load_tuned(tuned_root, unit.method.variant.base, unit.card.name)
        full = registry.resolve(unit.method.variant.base, profile.method_config, tuning["params"] if tuning else None)
        record = unconverged_pilot(store, unit_hash(profile, full, unit.card, first_seed[key]), unit.code_hash, cap)
        if record is not None:
            units[index] = replace(unit, blocked=f"not run: {unit.method.variant.base} seed {first_seed[key]} hit the "
                                                 f"{record['budget']['wall_clock_s']:g} s safety cap without converging")
    return units


def measured_records(unit: RunUnit, records: list[dict[str, Any]], profile: Profile) -> list[dict[str, Any]]:
    """The earlier records that measured ``unit``, from the nearest measurement on the same
    dataset, in this order: the same run (its config hash, as under ``--force``); the same variant
    under this profile's current settings; its full model under them (a variant trains under the
    same stopping rule); the same variant or full model under older settings. Older settings come
    last because they can time a different rule (a patience-5 run stops sooner than a patience-10
    one), and mixing them in skewed estimates. Empty when nothing measured it. ``records``: the
    store's ``latest()``, read once by the caller for all its units."""
    records = [r for r in records if r["dataset"] == unit.card.name]
    digest = profile.digest()
    name, base = unit.method.name, unit.method.variant.base
    for keep in (lambda r: r["config_hash"] == unit.config_hash,
                 lambda r: r["method"] == name and r.get("profile_digest") == digest,
                 lambda r: r["method"] == base and r.get("profile_digest") == digest,
                 lambda r: r["method"] == name,
                 lambda r: r["method"] == base):
        found = [r for r in records if keep(r)]
        if found:
            return found
    return []


def estimate_seconds(unit: RunUnit, records: list[dict[str, Any]], profile: Profile) -> tuple[float, bool]:
    """(seconds, measured?) for one unit: training plus every protocol's evaluation, the mean over
    the runs of ``measured_records``; failing those, the wall-clock cap, which bounds training
    only. One-off artifact builds are not included: ``benchmark.engine.estimates`` counts them
    once per dataset."""
    per_run: dict[str, float] = {}
    for r in measured_records(unit, records, profile):
        per_run.setdefault(r["config_hash"], r["timing"]["train_s"])
        per_run[r["config_hash"]] += r["timing"]["eval_s"]
    if per_run:
        return float(np.mean(list(per_run.values()))), True
    return profile.budget.wall_clock_s, False
