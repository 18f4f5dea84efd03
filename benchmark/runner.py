"""Planning and executing runs: (method variant x dataset x seed) units, each fitted once and
evaluated on every protocol it supports, with budgets from the profile. ``benchmark.executors``
decides where units run and writes each unit's records atomically once it has finished (an
interrupted unit leaves nothing behind)."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from benchmark.candidates import CandidateSet, candidate_set
from benchmark.cards import DatasetCard, load_card
from benchmark.code_hash import method_code_hash
from benchmark.errors import BenchmarkError
from benchmark.evaluation import EvalTask, evaluate, evaluate_protocols, protocol_name
from benchmark.method import FitReport, Method, RunContext, ScoreFn, parse_variant
from benchmark.metrics import PRIMARY_METRIC, summarize
from benchmark.paths import cache_dir
from benchmark.profiles import Profile
from benchmark.provenance import PeakMemory, environment
from benchmark.registry import Registry, ResolvedMethod
from benchmark.results import ResultStore
from benchmark.split import SplitData
from benchmark.tuning import load_tuned

log = logging.getLogger(__name__)
EVAL_USER_SEED = 0
VALID_SUBSET_SEED = 1  # which users a method-requested validation subset holds (fixed for every run)
RECORD_SCHEMA = 1


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
    code_hash: str = ""  # benchmark.code_hash of the method's code when planned
    blocked: str | None = None  # why this unit is not run although it has no record (see ``plan``)

    @property
    def label(self) -> str:
        return f"{self.method.name} on {self.card.name} (seed {self.seed})"

    @property
    def is_variant(self) -> bool:
        return bool(self.method.variant.disabled or self.method.variant.overrides)

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


def unconverged_pilot(store: ResultStore, config_hash: str, code_hash: str) -> dict[str, Any] | None:
    """The current-code record of a pilot unit (its config hash) if it hit the wall-clock safety
    cap, i.e. the method did not converge under this profile; else None."""
    for record in store.latest():
        if (record["config_hash"] == config_hash and record.get("code_hash") == code_hash
                and record["training"]["stopped_by"] == "wall_clock"):
            return record
    return None


def unit_hash(profile: Profile, method: ResolvedMethod, card: DatasetCard, seed: int) -> str:
    """Everything that determines a unit's numbers: method, config, data card, profile, seed."""
    payload = {
        "method": method.name,
        "class": f"{method.cls.__module__}.{method.cls.__qualname__}",
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
    """Units for every (method spec, dataset, seed). Variants (components off or config overrides)
    use the profile's ``ablation_seeds`` unless seeds were given explicitly. A method config's
    ``max_candidates`` drops the larger candidate boards (a budget decision the board then states).
    Tuned parameters stored under ``tuned_from`` (default: the store's root) enter the config of
    every spec of that method on that dataset.

    A unit is done when the store holds its config hash computed by the current code (the
    method's ``code_hash``); a record from older code is stale and its unit runs again, unless
    ``keep_stale``.

    The stopping rule is patience on valid NDCG@10 (or a declared epoch count); the wall clock is a
    safety cap. When the store holds a current-code record of a method's full model on its first
    seed that hit the cap, the method's other seeds and variants on that dataset are ``blocked``:
    they would not converge either, and the board lists the method as not converged, with the
    measured shortfall, instead of spending the profile's time on more capped runs.
    """
    completed = {} if force else store.completed_code()
    cards = [load_card(d) for d in datasets]
    tuned_root = store.root if tuned_from is None else tuned_from
    units = []
    for spec, card in ((s, c) for s in methods for c in cards):
        tuning = load_tuned(tuned_root, parse_variant(spec).base, card.name)
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
        is_variant = bool(resolved.variant.disabled or resolved.variant.overrides)
        if is_variant and profile.ablation_seeds is not None and not seeds_given:
            unit_seeds = [s for s in seeds if s in profile.ablation_seeds]
        code = method_code_hash(resolved.cls.__module__)
        for seed in unit_seeds:
            h = unit_hash(profile, resolved, card, seed)
            done = h in completed and (keep_stale or code in completed[h])
            units.append(RunUnit(resolved, card, seed, h, protocols, done, skipped, tuning, code))
    first_seed: dict[tuple[str, str], int] = {}
    for unit in units:
        if not unit.is_variant:
            key = (unit.method.variant.base, unit.card.name)
            first_seed[key] = min(unit.seed, first_seed.get(key, unit.seed))
    for index, unit in enumerate(units):
        key = (unit.method.variant.base, unit.card.name)
        if unit.done or key not in first_seed or (not unit.is_variant and unit.seed == first_seed[key]):
            continue
        tuning = load_tuned(tuned_root, unit.method.variant.base, unit.card.name)
        full = registry.resolve(unit.method.variant.base, profile.method_config, tuning["params"] if tuning else None)
        record = unconverged_pilot(store, unit_hash(profile, full, unit.card, first_seed[key]), unit.code_hash)
        if record is not None:
            units[index] = replace(unit, blocked=f"not run: {unit.method.variant.base} seed {first_seed[key]} hit the "
                                                 f"{record['budget']['wall_clock_s']:g} s safety cap without converging")
    return units


def estimate_seconds(unit: RunUnit, store: ResultStore, profile: Profile) -> tuple[float, bool]:
    """(seconds, measured?) from earlier runs of the same variant on the same dataset (training
    plus every protocol's evaluation); otherwise the wall-clock cap, which bounds training only."""
    per_run: dict[str, float] = {}
    for r in store.latest():
        if r["method"] == unit.method.name and r["dataset"] == unit.card.name:
            per_run.setdefault(r["config_hash"], r["timing"]["train_s"])
            per_run[r["config_hash"]] += r["timing"]["eval_s"]
    if per_run:
        return float(np.mean(list(per_run.values()))), True
    return profile.budget.wall_clock_s, False


def fixed_subset(rows: torch.Tensor, count: int | None, seed: int) -> torch.Tensor:
    """``count`` of ``rows`` drawn by a seeded permutation, in ascending order; all when ``count``
    is None or not smaller. The same call always gives the same users, whatever method runs."""
    if count is None or count >= rows.numel():
        return rows
    order = torch.randperm(rows.numel(), generator=torch.Generator().manual_seed(seed))
    return torch.sort(rows[order[:count]]).values


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchmarkError("device 'cuda' requested but torch sees no CUDA device")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Runner:
    """Executes planned units; keeps loaded datasets and candidate sets in memory across units."""

    def __init__(self, profile: Profile, store: ResultStore, device: torch.device, mirror: Path | None = None):
        self.profile, self.store, self.device, self.mirror = profile, store, device, mirror
        self._data: dict[str, SplitData] = {}
        self._provenance = environment(device)

    def data(self, card: DatasetCard) -> SplitData:
        if card.name not in self._data:
            from benchmark.loading import load_split

            self._data[card.name] = load_split(card, self.profile.user_cap, self.mirror)
        return self._data[card.name]

    def forget(self, card: DatasetCard) -> None:
        """Drop a loaded dataset from memory (``validate`` keeps a single copy alive at a time)."""
        self._data.pop(card.name, None)

    def eval_rows(self, data: SplitData) -> torch.Tensor:
        """A fixed user subset (same for every method and seed) when the profile caps eval users."""
        return fixed_subset(torch.arange(len(data.sequences)), self.profile.budget.eval_user_cap, EVAL_USER_SEED)

    def test_task(self, data: SplitData, rows: torch.Tensor) -> EvalTask:
        """The test target of each of ``rows``, conditioned on train plus valid history."""
        return EvalTask(users=data.users, history=data.test_history(), targets=data.test_targets, rows=rows)

    def candidates(self, data: SplitData, split: str, n: int, seed: int) -> CandidateSet:
        targets = data.valid_targets if split == "valid" else data.test_targets
        return candidate_set(
            data.fingerprint, split, data.sequences, targets, data.n_items, n, seed, cache_dir() / data.dataset
        )

    def _validator(self, unit: RunUnit, data: SplitData, rows: torch.Tensor) -> Callable[[ScoreFn], float]:
        view_history = data.train
        task = EvalTask(users=data.users, history=view_history, targets=data.valid_targets, rows=rows)
        valid_candidates = None
        if not unit.method.cls.card.full_ranking:
            valid_candidates = self.candidates(data, "valid", self.profile.candidates[0], unit.seed)

        subsets: dict[int, EvalTask] = {}

        def validate(score: ScoreFn, max_users: int | None = None) -> float:
            """Valid NDCG@10; ``max_users`` restricts it to a fixed seeded subset of the users (the
            same for every seed and epoch), for methods whose one validation pass would use up
            the wall clock. Test evaluation always covers every user."""
            chosen = task
            if max_users is not None and max_users < rows.numel():
                if max_users not in subsets:
                    subsets[max_users] = replace(task, rows=fixed_subset(rows, max_users, VALID_SUBSET_SEED))
                chosen = subsets[max_users]
            ranks = evaluate(score, chosen, data.n_items, self.profile.max_history, valid_candidates)
            return summarize(ranks)[PRIMARY_METRIC]

        return validate

    def fit(self, unit: RunUnit, data: SplitData, rows: torch.Tensor) -> tuple[Method, FitReport, float]:
        """A freshly seeded instance of the unit's method fitted on ``data`` under the profile's
        budget: (method, its report, seconds). ``validate`` (submission checks) calls this directly
        on altered copies of a dataset."""
        seed_everything(unit.seed)
        method = unit.method.instantiate()
        ctx = RunContext(
            seed=unit.seed,
            budget=self.profile.budget,
            max_history=self.profile.max_history,
            device=self.device,
            cache_dir=cache_dir(),
            validate=self._validator(unit, data, rows),
            deadline=time.monotonic() + self.profile.budget.wall_clock_s,
            validation_users=int(rows.numel()),
        )
        started = time.perf_counter()
        report = method.fit(data.train_view(), ctx)
        if not isinstance(report, FitReport):
            raise BenchmarkError(f"{unit.label}: fit() must return a benchmark.method.FitReport, found {type(report).__name__}")
        return method, report, time.perf_counter() - started

    def valid_score(self, unit: RunUnit, data: SplitData, rows: torch.Tensor, method: Method) -> float:
        """Valid NDCG@10 of a fitted method (for fits that report no ``best_valid``)."""
        return self._validator(unit, data, rows)(method.score)

    def execute_unit(self, unit: RunUnit) -> tuple[list[dict[str, Any]], dict[str, dict[str, np.ndarray]]]:
        """Fit and evaluate one unit: (records, per-user arrays). The executor writes them to the
        store in one atomic append (a remote worker returns them to the driver, which owns the
        store), so an interrupted unit leaves nothing behind."""
        data = self.data(unit.card)
        rows = self.eval_rows(data)
        with PeakMemory(self.device) as memory:
            method, report, train_s = self.fit(unit, data, rows)
            test = self.test_task(data, rows)
            protocols = {
                p: None if p == "full" else self.candidates(data, "test", int(p.split("-")[1]), unit.seed)
                for p in unit.protocols
            }
            ranks, seconds = evaluate_protocols(
                method.score, test, data.n_items, self.profile.max_history, protocols, unit.method.cls.card.full_ranking
            )
            evaluations = [(p, protocols[p], ranks[p], seconds[p]) for p in unit.protocols]
        trainable, total = method.parameter_counts()
        records, per_user = [], {}
        for protocol, candidates, ranks, eval_s in evaluations:
            record_id = f"{unit.config_hash}-{protocol}"
            per_user[record_id] = {"users": data.users[rows].numpy(), "ranks": ranks.numpy().astype(np.int32)}
            records.append(
                self._record(unit, data, protocol, candidates, ranks, record_id, report, train_s, eval_s,
                             memory.as_dict(), trainable, total, method.tokens_processed())
            )
        return records, per_user

    def _record(self, unit, data, protocol, candidates, ranks, record_id, report, train_s, eval_s, memory,
                trainable, total, tokens) -> dict[str, Any]:
        card = unit.method.cls.card
        return {
            "schema": RECORD_SCHEMA,
            "record_id": record_id,
            "config_hash": unit.config_hash,
            "code_hash": unit.code_hash or method_code_hash(unit.method.cls.__module__),
            "profile": self.profile.name,
            "profile_digest": self.profile.digest(),
            "method": unit.method.name,
            "base_method": unit.method.variant.base,
            "disabled_components": sorted(unit.method.variant.disabled),
            "method_card": {
                "title": card.title, "fidelity": card.fidelity, "paper": card.paper, "arxiv": card.arxiv,
                "full_ranking": card.full_ranking, "components": list(card.components),
            },
            "skipped_protocols": dict(unit.skipped),
            "config": unit.method.config,
            "dataset": data.dataset,
            "dataset_card_digest": unit.card.digest(),
            "dataset_fingerprint": data.fingerprint,
            "dataset_stats": {"users": len(data.sequences), "items": data.n_items - 1, "interactions": data.n_interactions},
            "protocol": protocol,
            "split": "leave-one-out",
            "candidates": None if candidates is None else {
                "n_negatives": candidates.n_negatives, "sha256": candidates.sha256, "file": candidates.path.name,
            },
            "seed": unit.seed,
            "max_history": self.profile.max_history,
            "budget": vars(self.profile.budget),
            "metrics": summarize(ranks),
            "n_eval_users": int(ranks.numel()),
            "per_user_file": f"per_user/{record_id}.npz",
            "training": vars(report),
            "timing": {"train_s": round(train_s - report.artifact_seconds, 3), "eval_s": round(eval_s, 3),
                       "artifact_s": round(report.artifact_seconds, 3),
                       "artifact_build_s": round(max(report.artifact_build_seconds, report.artifact_seconds), 3)},
            "memory": memory,
            "parameters": {"trainable": trainable, "total": total},
            "tokens_processed": tokens,
            "tuning": None if unit.tuning is None else {
                k: unit.tuning[k] for k in ("params", "trials", "best_valid", "sampler", "study")},
            **self._provenance,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
