"""Bayesian optimisation (optuna TPE) of adapter architectures under the run's budget.

Each trial trains a fresh model for a few proxy steps and returns valid NDCG@10 on a fixed user
subset. Trials come from the profile (``budget.tuning_trials``); the search runs once per dataset
as a cached artifact (``FitSession.searched_arch``), so it has no wall-clock share to fit into. The
sampler is seeded, so a fixed seed gives the same sequence of proposals. The first half of the
trials (at most 4) are random start-up trials, the rest follow TPE.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from llmrec_benchmark.errors import BenchmarkError
from llmrec_methods.llm.adapters import LayerAdapter, LoraArch, MoeArch

LORA_RANKS = (0, 4, 8, 16)
LORA_TARGETS = ("qv", "attn_mlp")
EXPERT_COUNTS = (2, 3, 4)
EXPERT_RANKS = (4, 8, 16)


def propose_lora(trial: Any, n_layers: int) -> LoraArch:
    """DARec's space: per layer, a rank in {0, 4, 8, 16} and q/v or all projections."""
    return LoraArch(tuple(
        LayerAdapter(trial.suggest_categorical(f"rank_{i}", LORA_RANKS), trial.suggest_categorical(f"targets_{i}", LORA_TARGETS))
        for i in range(n_layers)
    ))


def propose_moe(trial: Any) -> MoeArch:
    """MixRec's space: the expert count in {2, 3, 4} and each expert's rank in {4, 8, 16}."""
    experts = trial.suggest_categorical("experts", EXPERT_COUNTS)
    return MoeArch(tuple(trial.suggest_categorical(f"rank_{e}", EXPERT_RANKS) for e in range(experts)))


def tpe_search(
    propose: Callable[[Any], Any], objective: Callable[[Any], float], trials: int, seed: int, method: str,
) -> tuple[Any, dict[str, Any]]:
    """Run ``trials`` TPE trials; returns the best arch and a report.

    At least one trial always runs (a search with zero trials has no answer); a profile with
    ``tuning_trials: 0`` is an error for a method whose component needs the search.
    """
    import optuna

    if trials < 1:
        raise BenchmarkError(
            f"{method}: the profile's budget.tuning_trials is {trials}; the architecture search needs at "
            "least 1 (or switch the search off with its ablation variant)"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials(trials)))
    archs: dict[int, Any] = {}
    history = []
    for _ in range(trials):
        trial = study.ask()
        arch = propose(trial)
        started = time.monotonic()
        value = objective(arch)
        study.tell(trial, value)
        archs[trial.number] = arch
        history.append({"arch": arch.as_dict(), "valid_ndcg10": round(value, 6),
                        "seconds": round(time.monotonic() - started, 3)})
    best = study.best_trial.number
    return archs[best], {"kind": "optuna-tpe", "trials_budget": trials, "trials_run": len(history),
                         "startup_trials": startup_trials(trials), "best_trial": best, "trials": history}


def startup_trials(trials: int) -> int:
    """Random trials before TPE proposes: half the budget, at most 4 (at least 1)."""
    return max(1, min(4, trials // 2))
