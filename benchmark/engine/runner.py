"""Executing runs: (method variant x dataset x seed) units planned by ``benchmark.engine.planning``, each
fitted once and evaluated on every protocol it supports, with budgets from the profile. ``benchmark.engine.executors``
decides where units run and writes each unit's records atomically once it has finished (an
interrupted unit leaves nothing behind)."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from llmrec_benchmark.data.candidates import CandidateSet, candidate_set
from llmrec_benchmark.data.cards import DatasetCard
from llmrec_benchmark.data.split import SplitData
from llmrec_benchmark.engine.planning import RunUnit
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.evaluation.metrics import PRIMARY_METRIC, summarize
from llmrec_benchmark.evaluation.protocols import EvalTask, evaluate, evaluate_protocols
from llmrec_benchmark.method import FitReport, Method, RunContext, ScoreFn
from llmrec_benchmark.paths import cache_dir
from llmrec_benchmark.profiles import Profile
from llmrec_benchmark.store.code_hash import method_code_hash
from llmrec_benchmark.store.provenance import PeakMemory, environment
from llmrec_benchmark.store.results import ResultStore

log = logging.getLogger(__name__)
EVAL_USER_SEED = 0
VALID_SUBSET_SEED = 1  # which users a method-requested validation subset holds (fixed for every run)
RECORD_SCHEMA = 1


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
            from llmrec_benchmark.data.loading import load_split

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
